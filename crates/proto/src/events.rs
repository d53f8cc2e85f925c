//! Domain events to stored payloads and back.
//!
//! The stored `event_type` is the full protobuf name of the payload message; the payload is
//! its protobuf encoding (events.proto). Decoding checks every value again: a stored event that
//! does not make sense is reported, never guessed at.

mod field;

use fundtrail_domain::{
    AccountEvent, CalendarEvent, DomainError, DonorEvent, Event, MatchingEvent, PledgeEvent,
    ProjectEvent,
};
use prost::Message;

use crate::v1;
use field::Field;

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
    ($message:ident) => {
        concat!("fundtrail.v1.", stringify!($message))
    };
}

/// States each event once: its domain variant, its message, and its fields, which carry the
/// same name on both sides. Fields are listed in the domain's order, which is the order
/// decoding checks them in, so a payload with several bad values reports the same one first.
/// The patterns and struct literals are exhaustive, so a field added on either side without
/// the other fails to compile.
macro_rules! events {
    ($(
        $aggregate:ident($domain:ident) {
            $($variant:ident => $message:ident { $($field:ident),* $(,)? })*
        }
    )*) => {
        /// The full names of every event message, in events.proto order.
        pub const EVENT_TYPES: &[&str] = &[$($(type_name!($message)),*),*];

        /// Encodes a domain event as its protobuf payload.
        pub fn encode(event: &Event) -> EncodedEvent {
            match event {
                $($(Event::$aggregate($domain::$variant { $($field),* }) => EncodedEvent {
                    event_type: type_name!($message),
                    payload: v1::$message { $($field: $field.to_wire()),* }.encode_to_vec(),
                },)*)*
            }
        }

        /// Decodes a stored payload into the domain event it records.
        pub fn decode(event_type: &str, payload: &[u8]) -> Result<Event, DecodeError> {
            match event_type {
                $($(type_name!($message) => decode_as(event_type, payload, |e: v1::$message| {
                    Ok(Event::$aggregate($domain::$variant {
                        $($field: Field::from_wire(stringify!($field), &e.$field)?),*
                    }))
                }),)*)*
                _ => Err(DecodeError::UnknownType(event_type.to_owned())),
            }
        }
    };
}

fn decode_as<M: Message + Default>(
    event_type: &str,
    payload: &[u8],
    event: impl FnOnce(M) -> Result<Event, DomainError>,
) -> Result<Event, DecodeError> {
    let message = M::decode(payload).map_err(|e| DecodeError::Protobuf {
        event_type: event_type.to_owned(),
        reason: e.to_string(),
    })?;
    event(message).map_err(|e| DecodeError::Invalid {
        event_type: event_type.to_owned(),
        reason: e.to_string(),
    })
}

events! {
    Donor(DonorEvent) {
        Registered => DonorRegistered { donor_id, name, kind, matching_eligible }
        MatchingEligibilityChanged => DonorMatchingEligibilityChanged {
            donor_id, matching_eligible, reason,
        }
    }
    Pledge(PledgeEvent) {
        Recorded => PledgeRecorded { pledge_id, donor_id, amount, earmark, pledged_on }
        Amended => PledgeAmended {
            pledge_id, donor_id, previous_amount, amount, earmark, reason, corrects_version,
        }
        Withdrawn => PledgeWithdrawn { pledge_id, donor_id, cancelled, earmark, reason }
        AgreementSigned => ContributionAgreementSigned {
            pledge_id, donor_id, agreement_reference, signed_on, amount, earmark,
        }
        ContributionReceived => ContributionReceived {
            pledge_id, donor_id, receipt_id, amount, value_date, rate, reporting_amount,
            bank_reference, over_payment, earmark, donor_matching_eligible, booked_by,
        }
        ContributionAllocated => ContributionAllocated {
            pledge_id, donor_id, allocation_id, project_id, country, amount, rate,
            project_amount, reporting_amount,
        }
        AllocationReleased => AllocationReleased {
            pledge_id, donor_id, allocation_id, project_id, country, amount, reporting_amount,
            reason, corrects_version,
        }
        ReceiptReversed => ReceiptReversed {
            pledge_id, donor_id, receipt_id, amount, reporting_amount, unallocated_reporting,
            bank_reference, earmark, reason, reversed_by, corrects_version,
        }
        ReceiptRerated => ReceiptRerated {
            pledge_id, donor_id, receipt_id, amount, previous_rate, rate,
            previous_reporting_amount, reporting_amount, unallocated_reporting_change, earmark,
            reason, rerated_by, corrects_version,
        }
        ContributionRefunded => ContributionRefunded {
            pledge_id, donor_id, amount, reporting_amount, payment_reference, value_date, earmark,
            reason, refunded_by,
        }
    }
    Matching(MatchingEvent) {
        Opened => MatchingPoolOpened {
            pool_id, matching_donor_id, cap, ratio, eligible_countries, expires_on, starts_on,
        }
        MatchReserved => MatchReserved {
            pool_id, matching_donor_id, receipt_id, contributing_donor_id, pledge_id, country,
            contribution, amount, partial,
        }
        FundsReceived => MatchingFundsReceived {
            pool_id, matching_donor_id, matching_receipt_id, amount, matching_pledge_id,
        }
        MatchConfirmed => MatchConfirmed {
            pool_id, matching_donor_id, receipt_id, contributing_donor_id, country, amount,
            corrects_version, funding_pledge_id, funding_receipt_id,
        }
        MatchVoided => MatchVoided {
            pool_id, matching_donor_id, receipt_id, contributing_donor_id, country, amount,
            reason, corrects_version,
        }
    }
    Project(ProjectEvent) {
        Registered => ProjectRegistered {
            project_id, country, partner, title, sector_code, budget, starts_on, ends_on, funding,
        }
        MilestonePlanned => MilestonePlanned {
            project_id, country, milestone, title, indicator, target, tranche, due_on,
            release_rule,
        }
        ProgressReported => MilestoneProgressReported {
            project_id, country, milestone, actual, evidence_reference, reported_by,
        }
        MilestoneVerified => MilestoneVerified {
            project_id, country, milestone, indicator, target, actual, tranche, verified_by,
            released, release_rule,
        }
        MilestoneRejected => MilestoneRejected {
            project_id, country, milestone, reason, rejected_by,
        }
        Closed => ProjectClosed { project_id, country, reason }
        PartnerChanged => ProjectPartnerChanged { project_id, country, partner, reason, changed_by }
    }
    Account(AccountEvent) {
        Credited => ProjectAccountCredited {
            project_id, country, allocation_id, source_event_id, pledge_id, donor_id, amount,
            reporting_amount,
        }
        AllocationReturned => AllocationReturned {
            project_id, country, allocation_id, pledge_id, donor_id, amount, reporting_amount,
            reason, corrects_version, remaining,
        }
        Closed => ProjectAccountClosed { project_id, country, returned, reason, closed_by }
        TrancheUnlocked => TrancheUnlocked {
            project_id, country, milestone, tranche, source_event_id, released,
        }
        DisbursementRequested => DisbursementRequested {
            project_id, country, disbursement_id, amount, partner, milestone, purpose,
            requested_by,
        }
        DisbursementApproved => DisbursementApproved {
            project_id, country, disbursement_id, amount, approved_by,
        }
        DisbursementRejected => DisbursementRejected {
            project_id, country, disbursement_id, amount, reason, rejected_by,
        }
        DisbursementPaid => DisbursementPaid {
            project_id, country, disbursement_id, amount, reporting_amount, payment, rate,
            paid_on, bank_reference,
        }
        DisbursementReversed => DisbursementReversed {
            project_id, country, disbursement_id, amount, reporting_amount, reason,
            corrects_version,
        }
        DisbursementRefunded => DisbursementRefunded {
            project_id, country, disbursement_id, amount, reporting_amount, refunded_on, reason,
            corrects_version,
        }
    }
    Calendar(CalendarEvent) {
        PeriodClosed => PeriodClosed { through, reason, closed_by }
    }
}
