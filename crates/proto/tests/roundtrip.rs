//! Every domain event survives the trip through its stored protobuf payload unchanged.

use chrono::NaiveDate;
use fundtrail_domain::*;
use fundtrail_proto::events::EVENT_TYPES;
use fundtrail_proto::{DecodeError, decode, encode, v1};
use prost::Message;
use uuid::Uuid;

fn day(d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, d).unwrap()
}

fn usd(minor: i64) -> Money {
    Money::new(Currency::USD, minor)
}

fn eur(minor: i64) -> Money {
    Money::new(Currency::EUR, minor)
}

fn id() -> Uuid {
    Uuid::now_v7()
}

fn cc(code: &str) -> CountryCode {
    CountryCode::new(code).unwrap()
}

fn donor(code: &str) -> DonorId {
    DonorId::parse(code).unwrap()
}

fn actor(name: &str) -> Actor {
    Actor::parse(name).unwrap()
}

fn rate() -> ExchangeRate {
    ExchangeRate::parse(
        Currency::EUR,
        Currency::USD,
        "1.0842",
        "ECB reference rate",
        day(5),
    )
    .unwrap()
}

#[allow(clippy::too_many_lines)]
fn samples() -> Vec<Event> {
    let pledge_id = PledgeId::from_uuid(id());
    let project_id = ProjectId::from_uuid(id());
    let pool_id = MatchingPoolId::from_uuid(id());
    let receipt_id = ReceiptId::from_uuid(id());
    let allocation_id = AllocationId::from_uuid(id());
    let disbursement_id = DisbursementId::from_uuid(id());
    let nl = donor("XM-DAC-7");
    let us = donor("US-GOV-1");
    let ba = cc("BA");
    vec![
        Event::Donor(DonorEvent::Registered {
            donor_id: nl.clone(),
            name: "Netherlands".into(),
            kind: DonorKind::Government,
            matching_eligible: true,
        }),
        Event::Donor(DonorEvent::MatchingEligibilityChanged {
            donor_id: nl.clone(),
            matching_eligible: false,
            reason: "board".into(),
        }),
        Event::Pledge(PledgeEvent::Recorded {
            pledge_id,
            donor_id: nl.clone(),
            amount: eur(1_000_000),
            earmark: Earmark::Country(ba),
            pledged_on: day(1),
        }),
        Event::Pledge(PledgeEvent::Recorded {
            pledge_id,
            donor_id: nl.clone(),
            amount: eur(1_000_000),
            earmark: Earmark::Project {
                project_id,
                country: cc("XK"),
            },
            pledged_on: day(1),
        }),
        Event::Pledge(PledgeEvent::Recorded {
            pledge_id,
            donor_id: nl.clone(),
            amount: eur(1),
            earmark: Earmark::None,
            pledged_on: day(1),
        }),
        Event::Pledge(PledgeEvent::Amended {
            pledge_id,
            donor_id: nl.clone(),
            previous_amount: eur(1_000_000),
            amount: eur(1_200_000),
            earmark: Earmark::Country(ba),
            reason: "top-up".into(),
            corrects_version: 0,
        }),
        Event::Pledge(PledgeEvent::Withdrawn {
            pledge_id,
            donor_id: nl.clone(),
            cancelled: eur(5),
            earmark: Earmark::None,
            reason: "budget cut".into(),
        }),
        Event::Pledge(PledgeEvent::AgreementSigned {
            pledge_id,
            donor_id: nl.clone(),
            agreement_reference: "CA-2025-7".into(),
            signed_on: day(2),
            amount: eur(900),
            earmark: Earmark::Country(ba),
        }),
        Event::Pledge(PledgeEvent::ContributionReceived {
            pledge_id,
            donor_id: nl.clone(),
            receipt_id,
            amount: eur(500_000),
            value_date: day(3),
            rate: Some(rate()),
            reporting_amount: usd(542_100),
            bank_reference: "NL-001".into(),
            over_payment: false,
            earmark: Earmark::Country(ba),
            donor_matching_eligible: true,
        }),
        Event::Pledge(PledgeEvent::ContributionAllocated {
            pledge_id,
            donor_id: nl.clone(),
            allocation_id,
            project_id,
            country: ba,
            amount: eur(100),
            rate: None,
            project_amount: eur(100),
            reporting_amount: usd(108),
        }),
        Event::Pledge(PledgeEvent::AllocationReleased {
            pledge_id,
            donor_id: nl.clone(),
            allocation_id,
            project_id,
            country: ba,
            amount: eur(100),
            reporting_amount: usd(108),
            reason: "project ended".into(),
            corrects_version: 4,
        }),
        Event::Matching(MatchingEvent::Opened {
            pool_id,
            matching_donor_id: us.clone(),
            cap: usd(10_000_000),
            ratio: MatchRatio::new(1, 2).unwrap(),
            eligible_countries: vec![ba, cc("HR")],
            expires_on: day(30),
        }),
        Event::Matching(MatchingEvent::MatchReserved {
            pool_id,
            matching_donor_id: us.clone(),
            receipt_id,
            contributing_donor_id: nl.clone(),
            pledge_id,
            country: ba,
            contribution: usd(542_100),
            amount: usd(271_050),
            partial: true,
        }),
        Event::Matching(MatchingEvent::FundsReceived {
            pool_id,
            matching_donor_id: us.clone(),
            matching_receipt_id: ReceiptId::from_uuid(id()),
            amount: usd(1),
        }),
        Event::Matching(MatchingEvent::MatchConfirmed {
            pool_id,
            matching_donor_id: us.clone(),
            receipt_id,
            contributing_donor_id: nl.clone(),
            country: ba,
            amount: usd(271_050),
            corrects_version: 1,
        }),
        Event::Matching(MatchingEvent::MatchVoided {
            pool_id,
            matching_donor_id: us,
            receipt_id,
            contributing_donor_id: nl.clone(),
            country: ba,
            amount: usd(271_050),
            reason: "receipt reversed".into(),
            corrects_version: 1,
        }),
        Event::Project(ProjectEvent::Registered {
            project_id,
            country: ba,
            partner: Partner {
                name: "NPA".into(),
                iati_id: Some("NO-BRC-971277882".into()),
            },
            title: "Clearance in Doboj".into(),
            sector_code: 15250,
            budget: eur(2_000_000),
            starts_on: day(1),
            ends_on: day(31),
        }),
        Event::Project(ProjectEvent::MilestonePlanned {
            project_id,
            country: ba,
            milestone: 1,
            title: "Area A".into(),
            indicator: Indicator::Other {
                name: "risk education sessions".into(),
                unit: "sessions".into(),
            },
            target: 40,
            tranche: eur(500),
            due_on: day(20),
        }),
        Event::Project(ProjectEvent::ProgressReported {
            project_id,
            country: ba,
            milestone: 1,
            actual: 41,
            evidence_reference: "report-7".into(),
            reported_by: actor("partner@npa.no"),
        }),
        Event::Project(ProjectEvent::MilestoneVerified {
            project_id,
            country: ba,
            milestone: 1,
            indicator: Indicator::SquareMetresCleared,
            target: 40,
            actual: 41,
            tranche: eur(500),
            verified_by: actor("qa@itf.si"),
        }),
        Event::Project(ProjectEvent::MilestoneRejected {
            project_id,
            country: ba,
            milestone: 1,
            reason: "no photos".into(),
            rejected_by: actor("qa@itf.si"),
        }),
        Event::Project(ProjectEvent::Closed {
            project_id,
            country: ba,
            reason: "done".into(),
        }),
        Event::Project(ProjectEvent::PartnerChanged {
            project_id,
            country: ba,
            partner: fundtrail_domain::Partner {
                name: "The HALO Trust".into(),
                iati_id: Some("GB-CHC-1001813".into()),
            },
            reason: "contract novated".into(),
            changed_by: actor("programme@itf.si"),
        }),
        Event::Account(AccountEvent::Credited {
            project_id,
            country: ba,
            allocation_id,
            source_event_id: id(),
            pledge_id,
            donor_id: nl.clone(),
            amount: eur(100),
            reporting_amount: usd(108),
        }),
        Event::Account(AccountEvent::AllocationReturned {
            project_id,
            country: ba,
            allocation_id,
            pledge_id,
            donor_id: nl,
            amount: eur(100),
            reporting_amount: usd(108),
            reason: "unused".into(),
            corrects_version: 0,
        }),
        Event::Account(AccountEvent::TrancheUnlocked {
            project_id,
            country: ba,
            milestone: 1,
            tranche: eur(500),
            source_event_id: id(),
        }),
        Event::Account(AccountEvent::DisbursementRequested {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            partner: "NPA".into(),
            milestone: Some(1),
            purpose: "tranche 1".into(),
            requested_by: actor("finance@itf.si"),
        }),
        Event::Account(AccountEvent::DisbursementRequested {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            partner: "NPA".into(),
            milestone: None,
            purpose: String::new(),
            requested_by: actor("finance@itf.si"),
        }),
        Event::Account(AccountEvent::DisbursementApproved {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            approved_by: actor("director@itf.si"),
        }),
        Event::Account(AccountEvent::DisbursementRejected {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            reason: "duplicate".into(),
            rejected_by: actor("director@itf.si"),
        }),
        Event::Account(AccountEvent::DisbursementPaid {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            reporting_amount: usd(54),
            payment: usd(54),
            rate: Some(rate()),
            paid_on: day(9),
            bank_reference: "PAY-1".into(),
        }),
        Event::Account(AccountEvent::DisbursementReversed {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(50),
            reporting_amount: usd(54),
            reason: "returned by bank".into(),
            corrects_version: 7,
        }),
        Event::Account(AccountEvent::DisbursementRefunded {
            project_id,
            country: ba,
            disbursement_id,
            amount: eur(10),
            reporting_amount: usd(11),
            refunded_on: day(12),
            reason: "unspent".into(),
            corrects_version: 7,
        }),
    ]
}

#[test]
fn every_event_round_trips_through_its_payload() {
    for event in samples() {
        let encoded = encode(&event);
        assert!(
            EVENT_TYPES.contains(&encoded.event_type),
            "{}",
            encoded.event_type
        );
        let decoded = decode(encoded.event_type, &encoded.payload);
        assert_eq!(decoded.as_ref(), Ok(&event), "{}", encoded.event_type);
    }
}

#[test]
fn every_event_type_is_produced_by_some_event() {
    let produced: std::collections::BTreeSet<_> =
        samples().iter().map(|e| encode(e).event_type).collect();
    let all: std::collections::BTreeSet<_> = EVENT_TYPES.iter().copied().collect();
    assert_eq!(produced, all);
}

#[test]
fn refuses_unknown_types_garbage_and_nonsense() {
    assert_eq!(
        decode("fundtrail.v1.Nope", &[]),
        Err(DecodeError::UnknownType("fundtrail.v1.Nope".into()))
    );
    assert!(matches!(
        decode("other.Thing", &[]),
        Err(DecodeError::UnknownType(_))
    ));
    assert!(matches!(
        decode("fundtrail.v1.PledgeRecorded", &[0xff, 0xff, 0xff]),
        Err(DecodeError::Protobuf { .. })
    ));
    // A well-formed message whose values make no sense: an empty payload has no pledge id.
    assert!(matches!(
        decode("fundtrail.v1.PledgeRecorded", &[]),
        Err(DecodeError::Invalid { .. })
    ));
}

#[test]
fn payload_bytes_do_not_drift() {
    // The store keeps payloads for good, so today's encoding must be the one it already holds.
    let event = Event::Pledge(PledgeEvent::Recorded {
        pledge_id: PledgeId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0001)),
        donor_id: donor("XM-DAC-7"),
        amount: eur(1_000_000),
        earmark: Earmark::Country(cc("BA")),
        pledged_on: day(1),
    });
    let encoded = encode(&event);
    assert_eq!(encoded.event_type, "fundtrail.v1.PledgeRecorded");
    assert_eq!(
        encoded.payload,
        b"\x0a\x2401900000-0000-7000-8000-000000000001\x12\x08XM-DAC-7\
          \x1a\x09\x0a\x03EUR\x10\xc0\x84\x3d\x22\x04\x0a\x02BA\x2a\x0a2025-03-01"
    );
}

#[test]
fn the_first_bad_value_in_the_events_field_order_is_reported() {
    let payload = v1::PledgeAmended {
        pledge_id: Uuid::nil().to_string(),
        donor_id: "XM-DAC-7".into(),
        previous_amount: None,
        amount: None,
        earmark: Some(v1::Earmark {
            target: Some(v1::earmark::Target::Country("zz".into())),
        }),
        ..Default::default()
    }
    .encode_to_vec();
    assert_eq!(
        decode("fundtrail.v1.PledgeAmended", &payload),
        Err(DecodeError::Invalid {
            event_type: "fundtrail.v1.PledgeAmended".into(),
            reason: "previous_amount: an amount is required".into(),
        })
    );
}
