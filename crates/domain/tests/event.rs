//! `Event::country`: the country the log keys an event by.

mod common;

use common::{
    Ledger, actor, allocation_id, country, day, disbursement_id, eur, eur_usd, event_id,
    netherlands, pledge_id, pool_id, project_id, project_summary, receipt_id, united_states, usd,
};
use fundtrail_domain::{
    AccountCommand, CountryCode, Currency, Donor, DonorCommand, DonorKind, Earmark, Event,
    MatchRatio, MatchingCommand, MatchingPool, Pledge, PledgeCommand, Project, ProjectAccount,
    ProjectCommand,
};

fn countries(events: impl IntoIterator<Item = Event>) -> Vec<Option<CountryCode>> {
    events.into_iter().map(|e| e.country()).collect()
}

fn pledge_history(earmark: Earmark) -> Vec<Event> {
    let mut pledge = Ledger::<Pledge>::new();
    pledge.run(PledgeCommand::Record {
        pledge_id: pledge_id(1),
        donor: netherlands(),
        amount: eur(100_000),
        earmark,
        pledged_on: day(2024, 1, 15),
    });
    pledge.run(PledgeCommand::Amend {
        amount: eur(90_000),
        reason: "revised".into(),
    });
    pledge.run(PledgeCommand::SignAgreement {
        agreement_reference: "CA-1".into(),
        signed_on: day(2024, 2, 1),
        amount: eur(90_000),
    });
    pledge.run(PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(1),
        amount: eur(50_000),
        value_date: day(2024, 3, 5),
        rate: Some(eur_usd("1.08")),
        reporting_currency: Currency::USD,
        bank_reference: "B-1".into(),
        over_payment: false,
        donor_matching_eligible: true,
        booked_by: fundtrail_domain::Actor::parse("finance@fund.example").unwrap(),
    });
    pledge.run(PledgeCommand::Allocate {
        allocation_id: allocation_id(1),
        project: project_summary(1, "BA", Currency::EUR),
        amount: eur(10_000),
        rate: None,
    });
    pledge.run(PledgeCommand::ReleaseAllocation {
        allocation_id: allocation_id(1),
        reason: "returned".into(),
        remaining: None,
    });
    pledge.run(PledgeCommand::Withdraw {
        reason: "cut".into(),
    });
    pledge.history.into_iter().map(Event::Pledge).collect()
}

#[test]
fn donor_events_concern_no_country() {
    let mut donor = Ledger::<Donor>::new();
    donor.run(DonorCommand::Register {
        donor_id: netherlands().donor_id,
        name: "Netherlands".into(),
        kind: DonorKind::Government,
        matching_eligible: false,
    });
    donor.run(DonorCommand::ChangeMatchingEligibility {
        matching_eligible: true,
        reason: "board".into(),
    });
    assert_eq!(
        countries(donor.history.into_iter().map(Event::Donor)),
        vec![None, None]
    );
}

#[test]
fn pledge_events_concern_their_earmark_or_the_allocated_project() {
    let ba = Some(country("BA"));
    // Recorded, Amended, AgreementSigned, ContributionReceived, ContributionAllocated,
    // AllocationReleased, Withdrawn.
    assert_eq!(
        countries(pledge_history(Earmark::Country(country("BA")))),
        vec![ba, ba, ba, ba, ba, ba, ba]
    );
    assert_eq!(
        countries(pledge_history(Earmark::None)),
        vec![None, None, None, None, ba, ba, None]
    );
    let project_earmark = Earmark::Project {
        project_id: project_id(1),
        country: country("BA"),
    };
    assert_eq!(
        countries(pledge_history(project_earmark)),
        vec![ba, ba, ba, ba, ba, ba, ba]
    );
}

#[test]
fn matching_events_concern_the_matched_contribution_country() {
    let mut pool = Ledger::<MatchingPool>::new();
    pool.run(MatchingCommand::Open {
        pool_id: pool_id(1),
        matching_donor: united_states(),
        cap: usd(100_000),
        ratio: MatchRatio::ONE_TO_ONE,
        eligible_countries: vec![country("UA")],
        expires_on: day(2025, 12, 31),
        starts_on: None,
    });
    for n in 1..=2 {
        pool.run(MatchingCommand::Reserve {
            receipt_id: receipt_id(n),
            contributing_donor: netherlands(),
            pledge_id: pledge_id(n),
            country: Some(country("UA")),
            contribution: usd(10_000),
            value_date: day(2024, 6, 1),
            amount: None,
        });
    }
    pool.run(MatchingCommand::Void {
        receipt_id: receipt_id(2),
        reason: "returned".into(),
    });
    pool.run(MatchingCommand::RecordFunds {
        matching_pledge_id: pledge_id(9),
        matching_receipt_id: receipt_id(9),
        amount: usd(10_000),
        value_date: day(2024, 6, 1),
        country: None,
    });
    let ua = Some(country("UA"));
    // Opened, Reserved, Reserved, Voided, FundsReceived, Confirmed.
    assert_eq!(
        countries(pool.history.into_iter().map(Event::Matching)),
        vec![None, ua, ua, ua, None, ua]
    );
}

#[test]
fn project_and_account_events_concern_the_project_country() {
    let verifier = actor("verifier@itf.si");
    let officer = actor("officer@partner.org");
    let mut project = Ledger::<Project>::new();
    project.run(ProjectCommand::Register {
        project_id: project_id(1),
        country: country("XK"),
        partner: fundtrail_domain::Partner {
            name: "HALO Trust".into(),
            iati_id: None,
        },
        title: "Kosovo clearance".into(),
        sector_code: None,
        budget: eur(1_000_000),
        starts_on: day(2024, 1, 1),
        ends_on: day(2024, 12, 31),
        funding: fundtrail_domain::FundingModality::AdvanceFunded,
    });
    project.run(ProjectCommand::PlanMilestone {
        title: "m1".into(),
        indicator: fundtrail_domain::Indicator::DevicesDestroyed,
        target: 10,
        tranche: eur(100_000),
        due_on: day(2024, 6, 30),
        release_rule: fundtrail_domain::ReleaseRule::Proportional,
    });
    for verdict in [false, true] {
        project.run(ProjectCommand::ReportProgress {
            milestone: 1,
            actual: 10,
            evidence_reference: "E-1".into(),
            reported_by: officer.clone(),
        });
        if verdict {
            project.run(ProjectCommand::Verify {
                milestone: 1,
                verified_by: verifier.clone(),
            });
        } else {
            project.run(ProjectCommand::Reject {
                milestone: 1,
                reason: "photos missing".into(),
                rejected_by: verifier.clone(),
            });
        }
    }
    project.run(ProjectCommand::Close {
        reason: "done".into(),
    });
    let history = project.history.len();
    assert!(
        countries(project.history.into_iter().map(Event::Project))
            .iter()
            .all(|c| *c == Some(country("XK")))
    );
    assert_eq!(history, 7);

    let mut account = Ledger::<ProjectAccount>::new();
    account.run(AccountCommand::Credit {
        source_event_id: event_id(1),
        project_id: project_id(1),
        country: country("XK"),
        allocation_id: allocation_id(1),
        pledge_id: pledge_id(1),
        donor_id: netherlands().donor_id,
        amount: eur(200_000),
        reporting_amount: usd(216_000),
    });
    account.run(AccountCommand::UnlockTranche {
        source_event_id: event_id(2),
        project_id: project_id(1),
        country: country("XK"),
        milestone: 1,
        tranche: eur(100_000),
        released: eur(100_000),
    });
    account.run(AccountCommand::Request {
        disbursement_id: disbursement_id(1),
        amount: eur(100_000),
        partner: "HALO Trust".into(),
        milestone: Some(1),
        purpose: String::new(),
        requested_by: officer.clone(),
        project: common::project_paying("HALO Trust"),
    });
    account.run(AccountCommand::Approve {
        disbursement_id: disbursement_id(1),
        approved_by: verifier.clone(),
    });
    account.run(AccountCommand::Pay {
        disbursement_id: disbursement_id(1),
        paid_on: day(2024, 7, 1),
        bank_reference: "P-1".into(),
        payment_currency: Currency::EUR,
        rate: None,
    });
    account.run(AccountCommand::Refund {
        disbursement_id: disbursement_id(1),
        amount: eur(1_000),
        refunded_on: day(2024, 8, 1),
        reason: "unspent".into(),
    });
    account.run(AccountCommand::Reverse {
        disbursement_id: disbursement_id(1),
        reason: "bank returned it".into(),
    });
    account.run(AccountCommand::Request {
        disbursement_id: disbursement_id(2),
        amount: eur(1_000),
        partner: "HALO Trust".into(),
        milestone: None,
        purpose: String::new(),
        requested_by: officer,
        project: common::project_paying("HALO Trust"),
    });
    account.run(AccountCommand::Reject {
        disbursement_id: disbursement_id(2),
        reason: "duplicate".into(),
        rejected_by: verifier,
    });
    account.run(AccountCommand::ReturnAllocation {
        allocation_id: allocation_id(1),
        amount: None,
        reason: "redirected".into(),
    });
    let history = account.history.len();
    assert!(
        countries(account.history.into_iter().map(Event::Account))
            .iter()
            .all(|c| *c == Some(country("XK")))
    );
    // Every kind of account event: credited, unlocked, requested, approved, paid, refunded,
    // reversed, requested, rejected, returned.
    assert_eq!(history, 10);
}
