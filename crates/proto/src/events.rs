//! Domain events to stored payloads and back.
//!
//! The stored `event_type` is the full protobuf name of the payload message; the payload is
//! its protobuf encoding (events.proto). Decoding checks every value again: a stored event that
//! does not make sense is reported, never guessed at.

use fundtrail_domain::{
    AccountEvent, AllocationId, DisbursementId, DomainError, DonorEvent, DonorId, Event,
    MatchingEvent, MatchingPoolId, PledgeEvent, PledgeId, ProjectEvent, ProjectId, ReceiptId,
};
use prost::Message;
use uuid::Uuid;

use crate::v1;
use crate::wire::{self, date_text};

/// An event payload that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("{event_type}: payload is not valid protobuf: {reason}")]
    Protobuf { event_type: String, reason: String },
    #[error("{event_type}: {reason}")]
    Invalid { event_type: String, reason: String },
}

/// An event ready for the store: its type name and payload bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedEvent {
    pub event_type: &'static str,
    pub payload: Vec<u8>,
}

macro_rules! type_name {
    ($name:ident) => {
        concat!("fundtrail.v1.", stringify!($name))
    };
}

/// The full names of every event message, in events.proto order.
pub const EVENT_TYPES: &[&str] = &[
    type_name!(DonorRegistered),
    type_name!(DonorMatchingEligibilityChanged),
    type_name!(PledgeRecorded),
    type_name!(PledgeAmended),
    type_name!(PledgeWithdrawn),
    type_name!(ContributionAgreementSigned),
    type_name!(ContributionReceived),
    type_name!(ContributionAllocated),
    type_name!(AllocationReleased),
    type_name!(MatchingPoolOpened),
    type_name!(MatchReserved),
    type_name!(MatchingFundsReceived),
    type_name!(MatchConfirmed),
    type_name!(MatchVoided),
    type_name!(ProjectRegistered),
    type_name!(MilestonePlanned),
    type_name!(MilestoneProgressReported),
    type_name!(MilestoneVerified),
    type_name!(MilestoneRejected),
    type_name!(ProjectClosed),
    type_name!(ProjectAccountCredited),
    type_name!(AllocationReturned),
    type_name!(TrancheUnlocked),
    type_name!(DisbursementRequested),
    type_name!(DisbursementApproved),
    type_name!(DisbursementRejected),
    type_name!(DisbursementPaid),
    type_name!(DisbursementReversed),
    type_name!(DisbursementRefunded),
];

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn m(money: fundtrail_domain::Money) -> Option<v1::Money> {
    Some(money.into())
}

fn encoded<M: Message>(event_type: &'static str, message: &M) -> EncodedEvent {
    EncodedEvent {
        event_type,
        payload: message.encode_to_vec(),
    }
}

macro_rules! enc {
    ($name:ident { $($field:ident : $value:expr),* $(,)? }) => {
        encoded(type_name!($name), &v1::$name { $($field: $value),* })
    };
}

/// Encodes a domain event as its protobuf payload.
pub fn encode(event: &Event) -> EncodedEvent {
    match event {
        Event::Donor(e) => encode_donor(e),
        Event::Pledge(e) => encode_pledge(e),
        Event::Matching(e) => encode_matching(e),
        Event::Project(e) => encode_project(e),
        Event::Account(e) => encode_account(e),
    }
}

fn encode_donor(event: &DonorEvent) -> EncodedEvent {
    match event {
        DonorEvent::Registered {
            donor_id,
            name,
            kind,
            matching_eligible,
        } => enc!(DonorRegistered {
            donor_id: donor_id.to_string(),
            name: name.clone(),
            kind: v1::DonorKind::from(*kind).into(),
            matching_eligible: *matching_eligible,
        }),
        DonorEvent::MatchingEligibilityChanged {
            donor_id,
            matching_eligible,
            reason,
        } => enc!(DonorMatchingEligibilityChanged {
            donor_id: donor_id.to_string(),
            matching_eligible: *matching_eligible,
            reason: reason.clone(),
        }),
    }
}

fn encode_pledge(event: &PledgeEvent) -> EncodedEvent {
    match event {
        PledgeEvent::Recorded {
            pledge_id,
            donor_id,
            amount,
            earmark,
            pledged_on,
        } => enc!(PledgeRecorded {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            amount: m(*amount),
            earmark: Some(earmark.into()),
            pledged_on: date_text(*pledged_on),
        }),
        PledgeEvent::Amended {
            pledge_id,
            donor_id,
            previous_amount,
            amount,
            earmark,
            reason,
            corrects_version,
        } => enc!(PledgeAmended {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            previous_amount: m(*previous_amount),
            amount: m(*amount),
            reason: reason.clone(),
            corrects_version: *corrects_version,
            earmark: Some(earmark.into()),
        }),
        PledgeEvent::Withdrawn {
            pledge_id,
            donor_id,
            cancelled,
            earmark,
            reason,
        } => enc!(PledgeWithdrawn {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            cancelled: m(*cancelled),
            reason: reason.clone(),
            earmark: Some(earmark.into()),
        }),
        PledgeEvent::AgreementSigned {
            pledge_id,
            donor_id,
            agreement_reference,
            signed_on,
            amount,
            earmark,
        } => enc!(ContributionAgreementSigned {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            agreement_reference: agreement_reference.clone(),
            signed_on: date_text(*signed_on),
            amount: m(*amount),
            earmark: Some(earmark.into()),
        }),
        PledgeEvent::ContributionReceived {
            pledge_id,
            donor_id,
            receipt_id,
            amount,
            value_date,
            rate,
            reporting_amount,
            bank_reference,
            over_payment,
            earmark,
            donor_matching_eligible,
        } => enc!(ContributionReceived {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            receipt_id: receipt_id.to_string(),
            amount: m(*amount),
            value_date: date_text(*value_date),
            rate: rate.as_ref().map(Into::into),
            reporting_amount: m(*reporting_amount),
            bank_reference: bank_reference.clone(),
            over_payment: *over_payment,
            earmark: Some(earmark.into()),
            donor_matching_eligible: *donor_matching_eligible,
        }),
        PledgeEvent::ContributionAllocated {
            pledge_id,
            donor_id,
            allocation_id,
            project_id,
            country,
            amount,
            rate,
            project_amount,
            reporting_amount,
        } => enc!(ContributionAllocated {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            allocation_id: allocation_id.to_string(),
            project_id: project_id.to_string(),
            country: country.to_string(),
            amount: m(*amount),
            rate: rate.as_ref().map(Into::into),
            project_amount: m(*project_amount),
            reporting_amount: m(*reporting_amount),
        }),
        PledgeEvent::AllocationReleased {
            pledge_id,
            donor_id,
            allocation_id,
            project_id,
            country,
            amount,
            reporting_amount,
            reason,
            corrects_version,
        } => enc!(AllocationReleased {
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            allocation_id: allocation_id.to_string(),
            project_id: project_id.to_string(),
            country: country.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
            reason: reason.clone(),
            corrects_version: *corrects_version,
        }),
    }
}

fn encode_matching(event: &MatchingEvent) -> EncodedEvent {
    match event {
        MatchingEvent::Opened {
            pool_id,
            matching_donor_id,
            cap,
            ratio,
            eligible_countries,
            expires_on,
        } => enc!(MatchingPoolOpened {
            pool_id: pool_id.to_string(),
            matching_donor_id: matching_donor_id.to_string(),
            cap: m(*cap),
            ratio: Some((*ratio).into()),
            eligible_countries: eligible_countries.iter().map(ToString::to_string).collect(),
            expires_on: date_text(*expires_on),
        }),
        MatchingEvent::MatchReserved {
            pool_id,
            matching_donor_id,
            receipt_id,
            contributing_donor_id,
            pledge_id,
            country,
            contribution,
            amount,
            partial,
        } => enc!(MatchReserved {
            pool_id: pool_id.to_string(),
            matching_donor_id: matching_donor_id.to_string(),
            receipt_id: receipt_id.to_string(),
            contributing_donor_id: contributing_donor_id.to_string(),
            pledge_id: pledge_id.to_string(),
            country: country.to_string(),
            contribution: m(*contribution),
            amount: m(*amount),
            partial: *partial,
        }),
        MatchingEvent::FundsReceived {
            pool_id,
            matching_donor_id,
            matching_receipt_id,
            amount,
        } => enc!(MatchingFundsReceived {
            pool_id: pool_id.to_string(),
            matching_donor_id: matching_donor_id.to_string(),
            matching_receipt_id: matching_receipt_id.to_string(),
            amount: m(*amount),
        }),
        MatchingEvent::MatchConfirmed {
            pool_id,
            matching_donor_id,
            receipt_id,
            contributing_donor_id,
            country,
            amount,
            corrects_version,
        } => enc!(MatchConfirmed {
            pool_id: pool_id.to_string(),
            matching_donor_id: matching_donor_id.to_string(),
            receipt_id: receipt_id.to_string(),
            contributing_donor_id: contributing_donor_id.to_string(),
            country: country.to_string(),
            amount: m(*amount),
            corrects_version: *corrects_version,
        }),
        MatchingEvent::MatchVoided {
            pool_id,
            matching_donor_id,
            receipt_id,
            contributing_donor_id,
            country,
            amount,
            reason,
            corrects_version,
        } => enc!(MatchVoided {
            pool_id: pool_id.to_string(),
            matching_donor_id: matching_donor_id.to_string(),
            receipt_id: receipt_id.to_string(),
            contributing_donor_id: contributing_donor_id.to_string(),
            country: country.to_string(),
            amount: m(*amount),
            reason: reason.clone(),
            corrects_version: *corrects_version,
        }),
    }
}

fn encode_project(event: &ProjectEvent) -> EncodedEvent {
    match event {
        ProjectEvent::Registered {
            project_id,
            country,
            partner,
            title,
            sector_code,
            budget,
            starts_on,
            ends_on,
        } => enc!(ProjectRegistered {
            project_id: project_id.to_string(),
            country: country.to_string(),
            partner: Some(partner.into()),
            title: title.clone(),
            sector_code: *sector_code,
            budget: m(*budget),
            starts_on: date_text(*starts_on),
            ends_on: date_text(*ends_on),
        }),
        ProjectEvent::MilestonePlanned {
            project_id,
            country,
            milestone,
            title,
            indicator,
            target,
            tranche,
            due_on,
        } => enc!(MilestonePlanned {
            project_id: project_id.to_string(),
            country: country.to_string(),
            milestone: *milestone,
            title: title.clone(),
            indicator: Some(indicator.into()),
            target: *target,
            tranche: m(*tranche),
            due_on: date_text(*due_on),
        }),
        ProjectEvent::ProgressReported {
            project_id,
            country,
            milestone,
            actual,
            evidence_reference,
            reported_by,
        } => enc!(MilestoneProgressReported {
            project_id: project_id.to_string(),
            country: country.to_string(),
            milestone: *milestone,
            actual: *actual,
            evidence_reference: evidence_reference.clone(),
            reported_by: reported_by.to_string(),
        }),
        ProjectEvent::MilestoneVerified {
            project_id,
            country,
            milestone,
            indicator,
            target,
            actual,
            tranche,
            verified_by,
        } => enc!(MilestoneVerified {
            project_id: project_id.to_string(),
            country: country.to_string(),
            milestone: *milestone,
            indicator: Some(indicator.into()),
            target: *target,
            actual: *actual,
            tranche: m(*tranche),
            verified_by: verified_by.to_string(),
        }),
        ProjectEvent::MilestoneRejected {
            project_id,
            country,
            milestone,
            reason,
            rejected_by,
        } => enc!(MilestoneRejected {
            project_id: project_id.to_string(),
            country: country.to_string(),
            milestone: *milestone,
            reason: reason.clone(),
            rejected_by: rejected_by.to_string(),
        }),
        ProjectEvent::Closed {
            project_id,
            country,
            reason,
        } => enc!(ProjectClosed {
            project_id: project_id.to_string(),
            country: country.to_string(),
            reason: reason.clone(),
        }),
    }
}

fn encode_account(event: &AccountEvent) -> EncodedEvent {
    match event {
        AccountEvent::Credited {
            project_id,
            country,
            allocation_id,
            source_event_id,
            pledge_id,
            donor_id,
            amount,
            reporting_amount,
        } => enc!(ProjectAccountCredited {
            project_id: project_id.to_string(),
            country: country.to_string(),
            allocation_id: allocation_id.to_string(),
            source_event_id: source_event_id.to_string(),
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
        }),
        AccountEvent::AllocationReturned {
            project_id,
            country,
            allocation_id,
            pledge_id,
            donor_id,
            amount,
            reporting_amount,
            reason,
            corrects_version,
        } => enc!(AllocationReturned {
            project_id: project_id.to_string(),
            country: country.to_string(),
            allocation_id: allocation_id.to_string(),
            pledge_id: pledge_id.to_string(),
            donor_id: donor_id.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
            reason: reason.clone(),
            corrects_version: *corrects_version,
        }),
        AccountEvent::TrancheUnlocked {
            project_id,
            country,
            milestone,
            tranche,
            source_event_id,
        } => enc!(TrancheUnlocked {
            project_id: project_id.to_string(),
            country: country.to_string(),
            milestone: *milestone,
            tranche: m(*tranche),
            source_event_id: source_event_id.to_string(),
        }),
        AccountEvent::DisbursementRequested {
            project_id,
            country,
            disbursement_id,
            amount,
            partner,
            milestone,
            purpose,
            requested_by,
        } => enc!(DisbursementRequested {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            partner: partner.clone(),
            milestone: milestone.unwrap_or(0),
            purpose: purpose.clone(),
            requested_by: requested_by.to_string(),
        }),
        AccountEvent::DisbursementApproved {
            project_id,
            country,
            disbursement_id,
            amount,
            approved_by,
        } => enc!(DisbursementApproved {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            approved_by: approved_by.to_string(),
        }),
        AccountEvent::DisbursementRejected {
            project_id,
            country,
            disbursement_id,
            amount,
            reason,
            rejected_by,
        } => enc!(DisbursementRejected {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            reason: reason.clone(),
            rejected_by: rejected_by.to_string(),
        }),
        AccountEvent::DisbursementPaid {
            project_id,
            country,
            disbursement_id,
            amount,
            reporting_amount,
            payment,
            rate,
            paid_on,
            bank_reference,
        } => enc!(DisbursementPaid {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
            payment: m(*payment),
            rate: rate.as_ref().map(Into::into),
            paid_on: date_text(*paid_on),
            bank_reference: bank_reference.clone(),
        }),
        AccountEvent::DisbursementReversed {
            project_id,
            country,
            disbursement_id,
            amount,
            reporting_amount,
            reason,
            corrects_version,
        } => enc!(DisbursementReversed {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
            reason: reason.clone(),
            corrects_version: *corrects_version,
        }),
        AccountEvent::DisbursementRefunded {
            project_id,
            country,
            disbursement_id,
            amount,
            reporting_amount,
            refunded_on,
            reason,
            corrects_version,
        } => enc!(DisbursementRefunded {
            project_id: project_id.to_string(),
            country: country.to_string(),
            disbursement_id: disbursement_id.to_string(),
            amount: m(*amount),
            reporting_amount: m(*reporting_amount),
            refunded_on: date_text(*refunded_on),
            reason: reason.clone(),
            corrects_version: *corrects_version,
        }),
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

fn uuid(field: &str, text: &str) -> Result<Uuid, DomainError> {
    Uuid::parse_str(text)
        .map_err(|_| DomainError::invalid(field, format!("{text:?} is not a UUID")))
}

fn actor(field: &str, text: &str) -> Result<fundtrail_domain::Actor, DomainError> {
    wire::actor(field, text)
}

/// Decodes a stored payload into the domain event it records.
pub fn decode(event_type: &str, payload: &[u8]) -> Result<Event, DecodeError> {
    let invalid = |e: DomainError| DecodeError::Invalid {
        event_type: event_type.to_owned(),
        reason: e.to_string(),
    };
    let name = event_type
        .strip_prefix("fundtrail.v1.")
        .ok_or_else(|| DecodeError::UnknownType(event_type.to_owned()))?;
    macro_rules! parse {
        ($message:ident) => {
            v1::$message::decode(payload).map_err(|e| DecodeError::Protobuf {
                event_type: event_type.to_owned(),
                reason: e.to_string(),
            })?
        };
    }
    let event = match name {
        "DonorRegistered" | "DonorMatchingEligibilityChanged" => {
            decode_donor(name, payload, event_type)?
        }
        "PledgeRecorded" => pledge_recorded(&parse!(PledgeRecorded)),
        "PledgeAmended" => pledge_amended(&parse!(PledgeAmended)),
        "PledgeWithdrawn" => pledge_withdrawn(&parse!(PledgeWithdrawn)),
        "ContributionAgreementSigned" => agreement_signed(&parse!(ContributionAgreementSigned)),
        "ContributionReceived" => contribution_received(&parse!(ContributionReceived)),
        "ContributionAllocated" => contribution_allocated(&parse!(ContributionAllocated)),
        "AllocationReleased" => allocation_released(&parse!(AllocationReleased)),
        "MatchingPoolOpened" => pool_opened(&parse!(MatchingPoolOpened)),
        "MatchReserved" => match_reserved(&parse!(MatchReserved)),
        "MatchingFundsReceived" => funds_received(&parse!(MatchingFundsReceived)),
        "MatchConfirmed" => match_confirmed(&parse!(MatchConfirmed)),
        "MatchVoided" => match_voided(&parse!(MatchVoided)),
        "ProjectRegistered" => project_registered(&parse!(ProjectRegistered)),
        "MilestonePlanned" => milestone_planned(&parse!(MilestonePlanned)),
        "MilestoneProgressReported" => progress_reported(&parse!(MilestoneProgressReported)),
        "MilestoneVerified" => milestone_verified(&parse!(MilestoneVerified)),
        "MilestoneRejected" => milestone_rejected(&parse!(MilestoneRejected)),
        "ProjectClosed" => project_closed(&parse!(ProjectClosed)),
        "ProjectAccountCredited" => account_credited(&parse!(ProjectAccountCredited)),
        "AllocationReturned" => allocation_returned(&parse!(AllocationReturned)),
        "TrancheUnlocked" => tranche_unlocked(&parse!(TrancheUnlocked)),
        "DisbursementRequested" => disbursement_requested(&parse!(DisbursementRequested)),
        "DisbursementApproved" => disbursement_approved(&parse!(DisbursementApproved)),
        "DisbursementRejected" => disbursement_rejected(&parse!(DisbursementRejected)),
        "DisbursementPaid" => disbursement_paid(&parse!(DisbursementPaid)),
        "DisbursementReversed" => disbursement_reversed(&parse!(DisbursementReversed)),
        "DisbursementRefunded" => disbursement_refunded(&parse!(DisbursementRefunded)),
        _ => return Err(DecodeError::UnknownType(event_type.to_owned())),
    };
    event.map_err(invalid)
}

fn decode_donor(
    name: &str,
    payload: &[u8],
    event_type: &str,
) -> Result<Result<Event, DomainError>, DecodeError> {
    let protobuf = |e: prost::DecodeError| DecodeError::Protobuf {
        event_type: event_type.to_owned(),
        reason: e.to_string(),
    };
    Ok(if name == "DonorRegistered" {
        let e = v1::DonorRegistered::decode(payload).map_err(protobuf)?;
        (|| {
            Ok(Event::Donor(DonorEvent::Registered {
                donor_id: DonorId::parse(&e.donor_id)?,
                name: e.name.clone(),
                kind: wire::donor_kind("kind", e.kind)?,
                matching_eligible: e.matching_eligible,
            }))
        })()
    } else {
        let e = v1::DonorMatchingEligibilityChanged::decode(payload).map_err(protobuf)?;
        (|| {
            Ok(Event::Donor(DonorEvent::MatchingEligibilityChanged {
                donor_id: DonorId::parse(&e.donor_id)?,
                matching_eligible: e.matching_eligible,
                reason: e.reason.clone(),
            }))
        })()
    })
}

type Decoded = Result<Event, DomainError>;

fn pledge_recorded(e: &v1::PledgeRecorded) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::Recorded {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        earmark: wire::earmark("earmark", e.earmark.as_ref())?,
        pledged_on: wire::date("pledged_on", &e.pledged_on)?,
    }))
}

fn pledge_amended(e: &v1::PledgeAmended) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::Amended {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        previous_amount: wire::money("previous_amount", e.previous_amount.as_ref())?,
        amount: wire::money("amount", e.amount.as_ref())?,
        earmark: wire::earmark("earmark", e.earmark.as_ref())?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}

fn pledge_withdrawn(e: &v1::PledgeWithdrawn) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::Withdrawn {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        cancelled: wire::money("cancelled", e.cancelled.as_ref())?,
        earmark: wire::earmark("earmark", e.earmark.as_ref())?,
        reason: e.reason.clone(),
    }))
}

fn agreement_signed(e: &v1::ContributionAgreementSigned) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::AgreementSigned {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        agreement_reference: e.agreement_reference.clone(),
        signed_on: wire::date("signed_on", &e.signed_on)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        earmark: wire::earmark("earmark", e.earmark.as_ref())?,
    }))
}

fn contribution_received(e: &v1::ContributionReceived) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::ContributionReceived {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        receipt_id: ReceiptId::parse(&e.receipt_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        value_date: wire::date("value_date", &e.value_date)?,
        rate: wire::rate("rate", e.rate.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        bank_reference: e.bank_reference.clone(),
        over_payment: e.over_payment,
        earmark: wire::earmark("earmark", e.earmark.as_ref())?,
        donor_matching_eligible: e.donor_matching_eligible,
    }))
}

fn contribution_allocated(e: &v1::ContributionAllocated) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::ContributionAllocated {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        allocation_id: AllocationId::parse(&e.allocation_id)?,
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        rate: wire::rate("rate", e.rate.as_ref())?,
        project_amount: wire::money("project_amount", e.project_amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
    }))
}

fn allocation_released(e: &v1::AllocationReleased) -> Decoded {
    Ok(Event::Pledge(PledgeEvent::AllocationReleased {
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        allocation_id: AllocationId::parse(&e.allocation_id)?,
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}

fn pool_opened(e: &v1::MatchingPoolOpened) -> Decoded {
    Ok(Event::Matching(MatchingEvent::Opened {
        pool_id: MatchingPoolId::parse(&e.pool_id)?,
        matching_donor_id: DonorId::parse(&e.matching_donor_id)?,
        cap: wire::money("cap", e.cap.as_ref())?,
        ratio: wire::ratio("ratio", e.ratio.as_ref())?,
        eligible_countries: wire::countries("eligible_countries", &e.eligible_countries)?,
        expires_on: wire::date("expires_on", &e.expires_on)?,
    }))
}

fn match_reserved(e: &v1::MatchReserved) -> Decoded {
    Ok(Event::Matching(MatchingEvent::MatchReserved {
        pool_id: MatchingPoolId::parse(&e.pool_id)?,
        matching_donor_id: DonorId::parse(&e.matching_donor_id)?,
        receipt_id: ReceiptId::parse(&e.receipt_id)?,
        contributing_donor_id: DonorId::parse(&e.contributing_donor_id)?,
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        country: wire::country("country", &e.country)?,
        contribution: wire::money("contribution", e.contribution.as_ref())?,
        amount: wire::money("amount", e.amount.as_ref())?,
        partial: e.partial,
    }))
}

fn funds_received(e: &v1::MatchingFundsReceived) -> Decoded {
    Ok(Event::Matching(MatchingEvent::FundsReceived {
        pool_id: MatchingPoolId::parse(&e.pool_id)?,
        matching_donor_id: DonorId::parse(&e.matching_donor_id)?,
        matching_receipt_id: ReceiptId::parse(&e.matching_receipt_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
    }))
}

fn match_confirmed(e: &v1::MatchConfirmed) -> Decoded {
    Ok(Event::Matching(MatchingEvent::MatchConfirmed {
        pool_id: MatchingPoolId::parse(&e.pool_id)?,
        matching_donor_id: DonorId::parse(&e.matching_donor_id)?,
        receipt_id: ReceiptId::parse(&e.receipt_id)?,
        contributing_donor_id: DonorId::parse(&e.contributing_donor_id)?,
        country: wire::country("country", &e.country)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        corrects_version: e.corrects_version,
    }))
}

fn match_voided(e: &v1::MatchVoided) -> Decoded {
    Ok(Event::Matching(MatchingEvent::MatchVoided {
        pool_id: MatchingPoolId::parse(&e.pool_id)?,
        matching_donor_id: DonorId::parse(&e.matching_donor_id)?,
        receipt_id: ReceiptId::parse(&e.receipt_id)?,
        contributing_donor_id: DonorId::parse(&e.contributing_donor_id)?,
        country: wire::country("country", &e.country)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}

fn project_registered(e: &v1::ProjectRegistered) -> Decoded {
    Ok(Event::Project(ProjectEvent::Registered {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        partner: wire::partner("partner", e.partner.as_ref())?,
        title: e.title.clone(),
        sector_code: e.sector_code,
        budget: wire::money("budget", e.budget.as_ref())?,
        starts_on: wire::date("starts_on", &e.starts_on)?,
        ends_on: wire::date("ends_on", &e.ends_on)?,
    }))
}

fn milestone_planned(e: &v1::MilestonePlanned) -> Decoded {
    Ok(Event::Project(ProjectEvent::MilestonePlanned {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        milestone: e.milestone,
        title: e.title.clone(),
        indicator: wire::indicator("indicator", e.indicator.as_ref())?,
        target: e.target,
        tranche: wire::money("tranche", e.tranche.as_ref())?,
        due_on: wire::date("due_on", &e.due_on)?,
    }))
}

fn progress_reported(e: &v1::MilestoneProgressReported) -> Decoded {
    Ok(Event::Project(ProjectEvent::ProgressReported {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        milestone: e.milestone,
        actual: e.actual,
        evidence_reference: e.evidence_reference.clone(),
        reported_by: actor("reported_by", &e.reported_by)?,
    }))
}

fn milestone_verified(e: &v1::MilestoneVerified) -> Decoded {
    Ok(Event::Project(ProjectEvent::MilestoneVerified {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        milestone: e.milestone,
        indicator: wire::indicator("indicator", e.indicator.as_ref())?,
        target: e.target,
        actual: e.actual,
        tranche: wire::money("tranche", e.tranche.as_ref())?,
        verified_by: actor("verified_by", &e.verified_by)?,
    }))
}

fn milestone_rejected(e: &v1::MilestoneRejected) -> Decoded {
    Ok(Event::Project(ProjectEvent::MilestoneRejected {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        milestone: e.milestone,
        reason: e.reason.clone(),
        rejected_by: actor("rejected_by", &e.rejected_by)?,
    }))
}

fn project_closed(e: &v1::ProjectClosed) -> Decoded {
    Ok(Event::Project(ProjectEvent::Closed {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        reason: e.reason.clone(),
    }))
}

fn account_credited(e: &v1::ProjectAccountCredited) -> Decoded {
    Ok(Event::Account(AccountEvent::Credited {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        allocation_id: AllocationId::parse(&e.allocation_id)?,
        source_event_id: uuid("source_event_id", &e.source_event_id)?,
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
    }))
}

fn allocation_returned(e: &v1::AllocationReturned) -> Decoded {
    Ok(Event::Account(AccountEvent::AllocationReturned {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        allocation_id: AllocationId::parse(&e.allocation_id)?,
        pledge_id: PledgeId::parse(&e.pledge_id)?,
        donor_id: DonorId::parse(&e.donor_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}

fn tranche_unlocked(e: &v1::TrancheUnlocked) -> Decoded {
    Ok(Event::Account(AccountEvent::TrancheUnlocked {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        milestone: e.milestone,
        tranche: wire::money("tranche", e.tranche.as_ref())?,
        source_event_id: uuid("source_event_id", &e.source_event_id)?,
    }))
}

fn disbursement_requested(e: &v1::DisbursementRequested) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementRequested {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        partner: e.partner.clone(),
        milestone: wire::milestone(e.milestone),
        purpose: e.purpose.clone(),
        requested_by: actor("requested_by", &e.requested_by)?,
    }))
}

fn disbursement_approved(e: &v1::DisbursementApproved) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementApproved {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        approved_by: actor("approved_by", &e.approved_by)?,
    }))
}

fn disbursement_rejected(e: &v1::DisbursementRejected) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementRejected {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reason: e.reason.clone(),
        rejected_by: actor("rejected_by", &e.rejected_by)?,
    }))
}

fn disbursement_paid(e: &v1::DisbursementPaid) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementPaid {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        payment: wire::money("payment", e.payment.as_ref())?,
        rate: wire::rate("rate", e.rate.as_ref())?,
        paid_on: wire::date("paid_on", &e.paid_on)?,
        bank_reference: e.bank_reference.clone(),
    }))
}

fn disbursement_reversed(e: &v1::DisbursementReversed) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementReversed {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}

fn disbursement_refunded(e: &v1::DisbursementRefunded) -> Decoded {
    Ok(Event::Account(AccountEvent::DisbursementRefunded {
        project_id: ProjectId::parse(&e.project_id)?,
        country: wire::country("country", &e.country)?,
        disbursement_id: DisbursementId::parse(&e.disbursement_id)?,
        amount: wire::money("amount", e.amount.as_ref())?,
        reporting_amount: wire::money("reporting_amount", e.reporting_amount.as_ref())?,
        refunded_on: wire::date("refunded_on", &e.refunded_on)?,
        reason: e.reason.clone(),
        corrects_version: e.corrects_version,
    }))
}
