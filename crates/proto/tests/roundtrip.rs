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
            booked_by: Some(Actor::parse("finance@fund.example").unwrap()),
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
        Event::Pledge(PledgeEvent::ReceiptRerated {
            pledge_id,
            donor_id: nl.clone(),
            receipt_id,
            amount: eur(500_000),
            previous_rate: Some(rate()),
            rate: ExchangeRate::parse(Currency::EUR, Currency::USD, "1.0850", "ECB", day(3))
                .unwrap(),
            previous_reporting_amount: usd(542_100),
            reporting_amount: usd(542_500),
            unallocated_reporting_change: usd(399),
            earmark: Earmark::Country(ba),
            reason: "booked at the wrong day's rate".into(),
            rerated_by: actor("checker@fund.example"),
            corrects_version: 3,
        }),
        Event::Pledge(PledgeEvent::ContributionRefunded {
            pledge_id,
            donor_id: nl.clone(),
            amount: eur(100),
            reporting_amount: usd(108),
            payment_reference: "PAY-NL-1".into(),
            value_date: day(20),
            earmark: Earmark::Country(ba),
            reason: "unspent".into(),
            refunded_by: actor("finance@fund.example"),
        }),
        Event::Pledge(PledgeEvent::ReceiptReversed {
            pledge_id,
            donor_id: nl.clone(),
            receipt_id,
            amount: eur(500_000),
            reporting_amount: usd(542_500),
            unallocated_reporting: usd(542_392),
            bank_reference: "NL-001".into(),
            earmark: Earmark::Country(ba),
            reason: "returned unpaid".into(),
            reversed_by: actor("checker@fund.example"),
            corrects_version: 3,
        }),
        Event::Matching(MatchingEvent::Opened {
            pool_id,
            matching_donor_id: us.clone(),
            cap: usd(10_000_000),
            ratio: MatchRatio::new(1, 2).unwrap(),
            eligible_countries: vec![ba, cc("HR")],
            expires_on: day(30),
            starts_on: Some(day(1)),
        }),
        // A pool opened before periods had a start.
        Event::Matching(MatchingEvent::Opened {
            pool_id,
            matching_donor_id: us.clone(),
            cap: usd(10_000_000),
            ratio: MatchRatio::ONE_TO_ONE,
            eligible_countries: vec![ba],
            expires_on: day(30),
            starts_on: None,
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
            matching_pledge_id: Some(pledge_id),
        }),
        Event::Matching(MatchingEvent::FundsReceived {
            pool_id,
            matching_donor_id: us.clone(),
            matching_receipt_id: ReceiptId::from_uuid(id()),
            amount: usd(1),
            matching_pledge_id: None,
        }),
        Event::Matching(MatchingEvent::MatchConfirmed {
            pool_id,
            matching_donor_id: us.clone(),
            receipt_id,
            contributing_donor_id: nl.clone(),
            country: ba,
            amount: usd(271_050),
            corrects_version: 1,
            funding_pledge_id: Some(pledge_id),
            funding_receipt_id: Some(receipt_id),
        }),
        // A confirmation recorded before confirmations named their funding receipt.
        Event::Matching(MatchingEvent::MatchConfirmed {
            pool_id,
            matching_donor_id: us.clone(),
            receipt_id,
            contributing_donor_id: nl.clone(),
            country: ba,
            amount: usd(271_050),
            corrects_version: 1,
            funding_pledge_id: None,
            funding_receipt_id: None,
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
            funding: FundingModality::ResultsBased,
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
            release_rule: ReleaseRule::Proportional,
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
            released: Some(eur(500)),
            release_rule: ReleaseRule::AllOrNothing,
        }),
        // A release of nothing is a present amount, not an absent one.
        Event::Project(ProjectEvent::MilestoneVerified {
            project_id,
            country: ba,
            milestone: 2,
            indicator: Indicator::DevicesDestroyed,
            target: 40,
            actual: 39,
            tranche: eur(500),
            verified_by: actor("qa@itf.si"),
            released: Some(eur(0)),
            release_rule: ReleaseRule::AllOrNothing,
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
            donor_id: nl.clone(),
            amount: eur(40),
            reporting_amount: usd(43),
            reason: "unused".into(),
            corrects_version: 0,
            remaining: Some(eur(60)),
        }),
        // Recorded before partial returns: the whole allocation, nothing remaining.
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
            remaining: None,
        }),
        Event::Account(AccountEvent::Closed {
            project_id,
            country: ba,
            returned: eur(60),
            reason: "project completed".into(),
            closed_by: actor("finance@fund.example"),
        }),
        Event::Account(AccountEvent::TrancheUnlocked {
            project_id,
            country: ba,
            milestone: 1,
            tranche: eur(500),
            source_event_id: id(),
            released: Some(eur(250)),
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
        Event::Calendar(CalendarEvent::PeriodClosed {
            through: NaiveDate::from_ymd_opt(2025, 2, 28).unwrap(),
            reason: "February close".into(),
            closed_by: actor("controller@fund.example"),
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
fn receipts_recorded_before_their_booker_was_recorded_decode_without_one() {
    // A payload as the store holds it from before `booked_by` (field 12) existed.
    let payload = v1::ContributionReceived {
        pledge_id: Uuid::nil().to_string(),
        donor_id: "XM-DAC-7".into(),
        receipt_id: Uuid::from_u128(1).to_string(),
        amount: Some(v1::Money {
            currency: "EUR".into(),
            minor_units: 100,
        }),
        value_date: "2025-03-01".into(),
        rate: Some((&rate()).into()),
        reporting_amount: Some(v1::Money {
            currency: "USD".into(),
            minor_units: 108,
        }),
        bank_reference: "NL-1".into(),
        earmark: Some((&Earmark::None).into()),
        ..Default::default()
    }
    .encode_to_vec();
    let Ok(Event::Pledge(PledgeEvent::ContributionReceived {
        booked_by, amount, ..
    })) = decode("fundtrail.v1.ContributionReceived", &payload)
    else {
        panic!("an old receipt must decode");
    };
    assert_eq!(booked_by, None);
    assert_eq!(amount, eur(100));
    // A re-rating always carries its corrected rate.
    let rerated = v1::ReceiptRerated {
        rate: None,
        ..Default::default()
    }
    .encode_to_vec();
    assert!(decode("fundtrail.v1.ReceiptRerated", &rerated).is_err());
}

#[test]
fn matching_events_recorded_before_periods_and_funding_receipts_keep_their_meaning() {
    // Payloads as the store holds them from before `starts_on` (7), `matching_pledge_id` (5)
    // and `funding_pledge_id`/`funding_receipt_id` (8, 9) existed.
    let usd_money = Some(v1::Money {
        currency: "USD".into(),
        minor_units: 100,
    });
    let opened = v1::MatchingPoolOpened {
        pool_id: Uuid::from_u128(1).to_string(),
        matching_donor_id: "US-GOV-1".into(),
        cap: usd_money.clone(),
        ratio: Some(MatchRatio::ONE_TO_ONE.into()),
        eligible_countries: vec!["BA".into()],
        expires_on: "2025-12-31".into(),
        ..Default::default()
    }
    .encode_to_vec();
    let Ok(Event::Matching(MatchingEvent::Opened { starts_on, .. })) =
        decode("fundtrail.v1.MatchingPoolOpened", &opened)
    else {
        panic!("an old pool must decode");
    };
    assert_eq!(starts_on, None);
    let funds = v1::MatchingFundsReceived {
        pool_id: Uuid::from_u128(1).to_string(),
        matching_donor_id: "US-GOV-1".into(),
        matching_receipt_id: Uuid::from_u128(2).to_string(),
        amount: usd_money.clone(),
        ..Default::default()
    }
    .encode_to_vec();
    let Ok(Event::Matching(MatchingEvent::FundsReceived {
        matching_pledge_id, ..
    })) = decode("fundtrail.v1.MatchingFundsReceived", &funds)
    else {
        panic!("old funds must decode");
    };
    assert_eq!(matching_pledge_id, None);
    let confirmed = v1::MatchConfirmed {
        pool_id: Uuid::from_u128(1).to_string(),
        matching_donor_id: "US-GOV-1".into(),
        receipt_id: Uuid::from_u128(3).to_string(),
        contributing_donor_id: "XM-DAC-7".into(),
        country: "BA".into(),
        amount: usd_money,
        corrects_version: 1,
        ..Default::default()
    }
    .encode_to_vec();
    let Ok(Event::Matching(MatchingEvent::MatchConfirmed {
        funding_pledge_id,
        funding_receipt_id,
        ..
    })) = decode("fundtrail.v1.MatchConfirmed", &confirmed)
    else {
        panic!("an old confirmation must decode");
    };
    assert_eq!((funding_pledge_id, funding_receipt_id), (None, None));
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

#[test]
fn project_events_recorded_before_payment_by_results_keep_their_meaning() {
    // Payloads as the store holds them from before funding modalities and release rules:
    // none of the new fields is present.
    let project_id = Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0002).to_string();
    let money = |minor| {
        Some(v1::Money {
            currency: "EUR".into(),
            minor_units: minor,
        })
    };
    let registered = v1::ProjectRegistered {
        project_id: project_id.clone(),
        country: "BA".into(),
        partner: Some(v1::ImplementingPartner {
            name: "NPA".into(),
            iati_id: String::new(),
        }),
        title: "Clearance in Doboj".into(),
        sector_code: 15250,
        budget: money(2_000_000),
        starts_on: "2025-03-01".into(),
        ends_on: "2025-03-31".into(),
        ..Default::default()
    };
    let Ok(Event::Project(ProjectEvent::Registered { funding, .. })) = decode(
        "fundtrail.v1.ProjectRegistered",
        &registered.encode_to_vec(),
    ) else {
        panic!("an old registration decodes");
    };
    assert_eq!(funding, FundingModality::AdvanceFunded);

    let planned = v1::MilestonePlanned {
        project_id: project_id.clone(),
        country: "BA".into(),
        milestone: 1,
        title: "Area A".into(),
        indicator: Some(v1::Indicator {
            kind: v1::IndicatorKind::SquareMetresCleared.into(),
            ..Default::default()
        }),
        target: 120_000,
        tranche: money(20_000_000),
        due_on: "2025-03-20".into(),
        ..Default::default()
    };
    let Ok(Event::Project(ProjectEvent::MilestonePlanned { release_rule, .. })) =
        decode("fundtrail.v1.MilestonePlanned", &planned.encode_to_vec())
    else {
        panic!("an old plan decodes");
    };
    assert_eq!(release_rule, ReleaseRule::WholeOnVerification);

    // Verified at 10 m² of 120 000: it released the whole tranche then, and still reads so.
    let verified = v1::MilestoneVerified {
        project_id: project_id.clone(),
        country: "BA".into(),
        milestone: 1,
        indicator: planned.indicator.clone(),
        target: 120_000,
        actual: 10,
        tranche: money(20_000_000),
        verified_by: "qa@itf.si".into(),
        ..Default::default()
    };
    let decoded = decode("fundtrail.v1.MilestoneVerified", &verified.encode_to_vec());
    let Ok(Event::Project(
        event @ ProjectEvent::MilestoneVerified {
            released,
            release_rule,
            ..
        },
    )) = &decoded
    else {
        panic!("an old verification decodes: {decoded:?}");
    };
    assert_eq!(*released, None);
    assert_eq!(*release_rule, ReleaseRule::WholeOnVerification);
    assert_eq!(event.released(), Some(eur(20_000_000)));

    let unlocked = v1::TrancheUnlocked {
        project_id,
        country: "BA".into(),
        milestone: 1,
        tranche: money(20_000_000),
        source_event_id: Uuid::nil().to_string(),
        ..Default::default()
    };
    let Ok(Event::Account(AccountEvent::TrancheUnlocked { released, .. })) =
        decode("fundtrail.v1.TrancheUnlocked", &unlocked.encode_to_vec())
    else {
        panic!("an old unlocked tranche decodes");
    };
    assert_eq!(released, None);
    let account = ProjectAccount::fold(&[AccountEvent::TrancheUnlocked {
        project_id: ProjectId::parse(&unlocked.project_id).unwrap(),
        country: cc("BA"),
        milestone: 1,
        tranche: eur(20_000_000),
        source_event_id: Uuid::nil(),
        released,
    }]);
    assert_eq!(account.released_tranches()[&1], eur(20_000_000));
}

#[test]
fn an_unknown_release_rule_or_modality_is_reported_not_guessed() {
    let planned = v1::MilestonePlanned {
        release_rule: 9,
        ..Default::default()
    };
    assert!(matches!(
        decode("fundtrail.v1.MilestonePlanned", &planned.encode_to_vec()),
        Err(DecodeError::Invalid { .. })
    ));
    let registered = v1::ProjectRegistered {
        funding: 9,
        ..Default::default()
    };
    assert!(matches!(
        decode(
            "fundtrail.v1.ProjectRegistered",
            &registered.encode_to_vec()
        ),
        Err(DecodeError::Invalid { .. })
    ));
}
