//! Pledges: record, amend, withdraw, agreement, receipts, allocations and releases.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

mod common;

use common::{
    Ledger, allocation_id, booker, chf, corrector, country, day, eur, eur_usd, netherlands,
    pledge_id, project_summary, rate, receipt_id, usd,
};
use fundtrail_domain::{
    Aggregate, Currency, Earmark, ExchangeRate, Money, Pledge, PledgeCommand, PledgeEvent,
    ProjectSummary, Reason,
};

/// 100 000.00 EUR.
const PLEDGED: i64 = 10_000_000;

fn record(amount: Money, earmark: Earmark) -> PledgeCommand {
    PledgeCommand::Record {
        pledge_id: pledge_id(1),
        donor: netherlands(),
        amount,
        earmark,
        pledged_on: day(2024, 1, 15),
    }
}

fn recorded(amount: Money, earmark: Earmark) -> Ledger<Pledge> {
    let mut pledge = Ledger::new();
    pledge.run(record(amount, earmark));
    pledge
}

/// 100 000.00 EUR from the Netherlands, earmarked for Bosnia and Herzegovina.
fn bosnia_pledge() -> Ledger<Pledge> {
    recorded(eur(PLEDGED), Earmark::Country(country("BA")))
}

fn unearmarked_pledge() -> Ledger<Pledge> {
    recorded(eur(PLEDGED), Earmark::None)
}

/// A receipt in EUR booked into the USD reporting currency at `rate`.
fn receive_at(n: u128, amount: Money, rate: Option<ExchangeRate>) -> PledgeCommand {
    PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(n),
        amount,
        value_date: day(2024, 3, 5),
        rate,
        reporting_currency: Currency::USD,
        bank_reference: format!("BANK-{n}"),
        over_payment: false,
        donor_matching_eligible: true,
        booked_by: booker(),
    }
}

fn receive(n: u128, amount: Money) -> PledgeCommand {
    receive_at(n, amount, Some(eur_usd("1.0850")))
}

fn over_payment(command: PledgeCommand) -> PledgeCommand {
    match command {
        PledgeCommand::RecordReceipt {
            receipt_id,
            amount,
            value_date,
            rate,
            reporting_currency,
            bank_reference,
            donor_matching_eligible,
            booked_by,
            ..
        } => PledgeCommand::RecordReceipt {
            receipt_id,
            amount,
            value_date,
            rate,
            reporting_currency,
            bank_reference,
            over_payment: true,
            donor_matching_eligible,
            booked_by,
        },
        other => other,
    }
}

fn bosnia_project() -> ProjectSummary {
    project_summary(1, "BA", Currency::EUR)
}

fn allocate(n: u128, project: ProjectSummary, amount: Money) -> PledgeCommand {
    PledgeCommand::Allocate {
        allocation_id: allocation_id(n),
        project,
        amount,
        rate: None,
    }
}

fn release(n: u128) -> PledgeCommand {
    PledgeCommand::ReleaseAllocation {
        allocation_id: allocation_id(n),
        reason: "returned by the project account".into(),
        remaining: None,
    }
}

fn amend(amount: Money) -> PledgeCommand {
    PledgeCommand::Amend {
        amount,
        reason: "parliament approved the budget".into(),
    }
}

fn withdraw() -> PledgeCommand {
    PledgeCommand::Withdraw {
        reason: "budget cut".into(),
    }
}

fn sign(amount: Money) -> PledgeCommand {
    PledgeCommand::SignAgreement {
        agreement_reference: "CA-2024-017".into(),
        signed_on: day(2024, 2, 1),
        amount,
    }
}

fn unallocated(pledge: &Ledger<Pledge>) -> Money {
    pledge.state.unallocated().unwrap()
}

// --- record ----------------------------------------------------------------------------------

#[test]
fn record_accepts_a_positive_amount_and_keeps_the_terms() {
    let mut pledge = Ledger::<Pledge>::new();
    let events = pledge.run(record(eur(PLEDGED), Earmark::Country(country("BA"))));
    assert_eq!(
        events,
        vec![PledgeEvent::Recorded {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            amount: eur(PLEDGED),
            earmark: Earmark::Country(country("BA")),
            pledged_on: day(2024, 1, 15),
        }]
    );
    let terms = pledge.state.terms().unwrap();
    assert_eq!(terms.amount, eur(PLEDGED));
    assert_eq!(pledge.state.received(), Some(eur(0)));
    assert_eq!(unallocated(&pledge), eur(0));
    assert_eq!(
        Pledge::stream(&pledge_id(1)),
        format!("pledge-{}", pledge_id(1))
    );
}

#[test]
fn record_refuses_a_zero_or_negative_amount() {
    let pledge = Ledger::<Pledge>::new();
    assert_eq!(pledge.invalid(record(eur(0), Earmark::None)), "amount");
    assert_eq!(pledge.invalid(record(eur(-1), Earmark::None)), "amount");
}

#[test]
fn record_twice_is_refused() {
    let pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(record(eur(PLEDGED), Earmark::None)),
        Reason::PledgeAlreadyRecorded
    );
}

#[test]
fn commands_on_an_unrecorded_pledge_are_not_found() {
    let pledge = Ledger::<Pledge>::new();
    for command in [
        amend(eur(1)),
        withdraw(),
        sign(eur(1)),
        receive(1, eur(1)),
        allocate(1, bosnia_project(), eur(1)),
        release(1),
    ] {
        assert_eq!(pledge.refusal(command), Reason::PledgeNotFound);
    }
}

// --- amend -----------------------------------------------------------------------------------

#[test]
fn amend_changes_the_amount_and_corrects_the_recorded_terms() {
    let mut pledge = bosnia_pledge();
    let events = pledge.run(amend(eur(12_000_000)));
    assert_eq!(
        events,
        vec![PledgeEvent::Amended {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            previous_amount: eur(PLEDGED),
            amount: eur(12_000_000),
            earmark: Earmark::Country(country("BA")),
            reason: "parliament approved the budget".into(),
            corrects_version: 0,
        }]
    );
    assert_eq!(pledge.state.terms().unwrap().amount, eur(12_000_000));
}

#[test]
fn a_second_amendment_corrects_the_first_not_the_events_between() {
    let mut pledge = bosnia_pledge(); // v0
    pledge.run(receive(1, eur(1_000_000))); // v1
    let first = pledge.next_version();
    pledge.run(amend(eur(12_000_000))); // v2, corrects v0
    pledge.run(receive(2, eur(1_000_000))); // v3
    let events = pledge.run(amend(eur(11_000_000))); // v4, corrects v2
    assert_eq!(first, 2);
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::Amended {
            previous_amount,
            corrects_version: 2,
            ..
        }] if *previous_amount == eur(12_000_000)
    ));
}

#[test]
fn amend_refuses_another_currency() {
    let pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(amend(usd(PLEDGED))),
        Reason::CurrencyMismatch
    );
}

#[test]
fn amend_to_the_same_amount_has_nothing_to_change() {
    let pledge = bosnia_pledge();
    assert_eq!(pledge.refusal(amend(eur(PLEDGED))), Reason::NothingToChange);
}

#[test]
fn amend_never_goes_below_what_was_received() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    assert_eq!(
        pledge.refusal(amend(eur(3_999_999))),
        Reason::PledgeBelowReceived
    );
    // Down to exactly what was received is fine.
    pledge.run(amend(eur(4_000_000)));
    assert_eq!(pledge.state.terms().unwrap().amount, eur(4_000_000));
}

#[test]
fn amend_refuses_a_non_positive_amount_and_an_empty_reason() {
    let pledge = bosnia_pledge();
    assert_eq!(pledge.invalid(amend(eur(0))), "amount");
    assert_eq!(
        pledge.invalid(PledgeCommand::Amend {
            amount: eur(1),
            reason: " ".into()
        }),
        "reason"
    );
}

#[test]
fn amend_never_goes_below_the_signed_agreement() {
    let mut pledge = bosnia_pledge();
    pledge.run(sign(eur(8_000_000)));
    assert_eq!(
        pledge.refusal(amend(eur(7_999_999))),
        Reason::AgreementExceedsPledge
    );
    pledge.run(amend(eur(8_000_000)));
}

// --- withdraw --------------------------------------------------------------------------------

#[test]
fn withdraw_cancels_the_part_not_received() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let events = pledge.run(withdraw());
    assert_eq!(
        events,
        vec![PledgeEvent::Withdrawn {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            cancelled: eur(6_000_000),
            earmark: Earmark::Country(country("BA")),
            reason: "budget cut".into(),
        }]
    );
    assert!(pledge.state.is_withdrawn());
    // Money already received stays with the fund.
    assert_eq!(pledge.state.received(), Some(eur(4_000_000)));
}

#[test]
fn withdrawing_an_overpaid_pledge_cancels_nothing() {
    let mut pledge = bosnia_pledge();
    pledge.run(over_payment(receive(1, eur(PLEDGED + 100))));
    let events = pledge.run(withdraw());
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::Withdrawn { cancelled, .. }] if *cancelled == eur(0)
    ));
}

#[test]
fn withdraw_twice_is_refused() {
    let mut pledge = bosnia_pledge();
    pledge.run(withdraw());
    assert_eq!(pledge.refusal(withdraw()), Reason::PledgeWithdrawn);
}

#[test]
fn a_withdrawn_pledge_takes_no_receipt_amendment_or_agreement() {
    let mut pledge = bosnia_pledge();
    pledge.run(withdraw());
    assert_eq!(
        pledge.refusal(receive(1, eur(100))),
        Reason::PledgeWithdrawn
    );
    assert_eq!(pledge.refusal(amend(eur(200))), Reason::PledgeWithdrawn);
    assert_eq!(pledge.refusal(sign(eur(100))), Reason::PledgeWithdrawn);
}

#[test]
fn money_received_before_withdrawal_can_still_be_allocated_and_released() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(withdraw());
    pledge.run(allocate(1, bosnia_project(), eur(3_000_000)));
    assert_eq!(unallocated(&pledge), eur(1_000_000));
    assert_eq!(
        pledge.refusal(allocate(2, bosnia_project(), eur(1_000_001))),
        Reason::AllocationExceedsUnallocated
    );
    pledge.run(release(1));
    assert_eq!(unallocated(&pledge), eur(4_000_000));
}

// --- agreement -------------------------------------------------------------------------------

#[test]
fn agreement_is_signed_once_for_at_most_the_pledge() {
    let mut pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(sign(eur(PLEDGED + 1))),
        Reason::AgreementExceedsPledge
    );
    assert_eq!(pledge.invalid(sign(eur(0))), "amount");
    let events = pledge.run(sign(eur(PLEDGED)));
    assert_eq!(
        events,
        vec![PledgeEvent::AgreementSigned {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            agreement_reference: "CA-2024-017".into(),
            signed_on: day(2024, 2, 1),
            amount: eur(PLEDGED),
            earmark: Earmark::Country(country("BA")),
        }]
    );
    assert_eq!(
        pledge.state.agreement(),
        Some(&("CA-2024-017".to_owned(), eur(PLEDGED)))
    );
    assert_eq!(
        pledge.refusal(sign(eur(100))),
        Reason::AgreementAlreadySigned
    );
}

#[test]
fn agreement_in_another_currency_is_refused() {
    let pledge = bosnia_pledge();
    assert_eq!(pledge.refusal(sign(usd(100))), Reason::CurrencyMismatch);
}

// --- receipts --------------------------------------------------------------------------------

#[test]
fn receipt_is_booked_with_its_rate_and_reporting_amount() {
    let mut pledge = bosnia_pledge();
    let events = pledge.run(receive(1, eur(4_000_000)));
    assert_eq!(
        events,
        vec![PledgeEvent::ContributionReceived {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            receipt_id: receipt_id(1),
            amount: eur(4_000_000),
            value_date: day(2024, 3, 5),
            rate: Some(eur_usd("1.0850")),
            // 40 000.00 EUR × 1.0850 = 43 400.00 USD.
            reporting_amount: usd(4_340_000),
            bank_reference: "BANK-1".into(),
            over_payment: false,
            earmark: Earmark::Country(country("BA")),
            donor_matching_eligible: true,
            booked_by: Some(booker()),
        }]
    );
    assert_eq!(pledge.state.received(), Some(eur(4_000_000)));
    assert_eq!(pledge.state.received_reporting(), Some(usd(4_340_000)));
    assert_eq!(unallocated(&pledge), eur(4_000_000));
}

#[test]
fn receipt_reporting_amount_rounds_half_to_even() {
    let mut pledge = bosnia_pledge();
    // 1.00 EUR × 1.085 = 1.085 USD, a tie: half-even gives 1.08, not 1.09.
    let events = pledge.run(receive(1, eur(100)));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionReceived { reporting_amount, .. }] if *reporting_amount == usd(108)
    ));
    // 3.00 EUR × 1.085 = 3.255 USD: half-even gives 3.26.
    let events = pledge.run(receive(2, eur(300)));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionReceived { reporting_amount, .. }] if *reporting_amount == usd(326)
    ));
    // 1 234.57 EUR × 1.085 = 1 339.50845 USD: 1 339.51.
    let events = pledge.run(receive(3, eur(123_457)));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionReceived { reporting_amount, .. }] if *reporting_amount == usd(133_951)
    ));
}

#[test]
fn receipt_in_another_currency_than_the_pledge_is_refused() {
    let pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(receive_at(1, usd(100), None)),
        Reason::CurrencyMismatch
    );
}

#[test]
fn receipt_needs_a_rate_to_the_reporting_currency() {
    let pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(receive_at(1, eur(100), None)),
        Reason::ExchangeRateRequired
    );
}

#[test]
fn receipt_refuses_a_rate_between_other_currencies() {
    let pledge = bosnia_pledge();
    let chf_usd = rate(Currency::CHF, Currency::USD, "1.13");
    assert_eq!(
        pledge.refusal(receive_at(1, eur(100), Some(chf_usd))),
        Reason::ExchangeRateMismatch
    );
    let eur_chf = rate(Currency::EUR, Currency::CHF, "0.95");
    assert_eq!(
        pledge.refusal(receive_at(1, eur(100), Some(eur_chf))),
        Reason::ExchangeRateMismatch
    );
    let usd_eur = rate(Currency::USD, Currency::EUR, "0.92");
    assert_eq!(
        pledge.refusal(receive_at(1, eur(100), Some(usd_eur))),
        Reason::ExchangeRateMismatch
    );
}

#[test]
fn receipt_in_the_reporting_currency_takes_no_rate() {
    let mut pledge = recorded(usd(PLEDGED), Earmark::None);
    let usd_eur = rate(Currency::USD, Currency::EUR, "0.92");
    assert_eq!(
        pledge.refusal(receive_at(1, usd(100), Some(usd_eur))),
        Reason::ExchangeRateMismatch
    );
    let events = pledge.run(receive_at(1, usd(100), None));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionReceived { reporting_amount, rate: None, .. }]
            if *reporting_amount == usd(100)
    ));
}

#[test]
fn receipts_beyond_the_pledge_need_to_be_an_over_payment() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(PLEDGED - 100)));
    assert_eq!(
        pledge.refusal(receive(2, eur(101))),
        Reason::ReceiptExceedsPledge
    );
    // Reaching the pledge exactly is not an over-payment.
    pledge.run(receive(2, eur(100)));
    assert_eq!(
        pledge.refusal(receive(3, eur(1))),
        Reason::ReceiptExceedsPledge
    );
    let events = pledge.run(over_payment(receive(3, eur(1))));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionReceived {
            over_payment: true,
            ..
        }]
    ));
    assert_eq!(pledge.state.received(), Some(eur(PLEDGED + 1)));
}

#[test]
fn a_bank_reference_is_booked_once_per_pledge() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(100)));
    let again = PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(2),
        amount: eur(200),
        value_date: day(2024, 3, 6),
        rate: Some(eur_usd("1.09")),
        reporting_currency: Currency::USD,
        bank_reference: "  BANK-1 ".into(),
        over_payment: false,
        donor_matching_eligible: true,
        booked_by: booker(),
    };
    assert_eq!(pledge.refusal(again), Reason::DuplicateBankReference);
}

#[test]
fn receipts_of_a_pledge_are_reported_in_one_currency() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(100)));
    let in_chf = PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(2),
        amount: eur(100),
        value_date: day(2024, 3, 6),
        rate: Some(rate(Currency::EUR, Currency::CHF, "0.95")),
        reporting_currency: Currency::CHF,
        bank_reference: "BANK-2".into(),
        over_payment: false,
        donor_matching_eligible: true,
        booked_by: booker(),
    };
    assert_eq!(pledge.refusal(in_chf), Reason::CurrencyMismatch);
}

#[test]
fn receipt_refuses_a_non_positive_amount_and_a_missing_bank_reference() {
    let pledge = bosnia_pledge();
    assert_eq!(pledge.invalid(receive(1, eur(0))), "amount");
    let no_reference = PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(1),
        amount: eur(100),
        value_date: day(2024, 3, 5),
        rate: Some(eur_usd("1.09")),
        reporting_currency: Currency::USD,
        bank_reference: String::new(),
        over_payment: false,
        donor_matching_eligible: false,
        booked_by: booker(),
    };
    assert_eq!(pledge.invalid(no_reference), "bank_reference");
}

// --- allocations -----------------------------------------------------------------------------

#[test]
fn allocation_within_the_country_earmark_is_accepted() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let events = pledge.run(allocate(7, bosnia_project(), eur(1_000_000)));
    assert_eq!(
        events,
        vec![PledgeEvent::ContributionAllocated {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            allocation_id: allocation_id(7),
            project_id: bosnia_project().project_id,
            country: country("BA"),
            amount: eur(1_000_000),
            rate: None,
            project_amount: eur(1_000_000),
            // 10 000.00 EUR at the booked 1.0850.
            reporting_amount: usd(1_085_000),
        }]
    );
    assert_eq!(unallocated(&pledge), eur(3_000_000));
    assert_eq!(pledge.state.allocations().len(), 1);
}

#[test]
fn country_earmarked_money_funds_only_that_country() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let ukraine = project_summary(2, "UA", Currency::EUR);
    assert_eq!(
        pledge.refusal(allocate(1, ukraine, eur(100))),
        Reason::EarmarkMismatch
    );
}

#[test]
fn project_earmarked_money_funds_only_that_project() {
    let project = bosnia_project();
    let mut pledge = recorded(
        eur(PLEDGED),
        Earmark::Project {
            project_id: project.project_id,
            country: project.country,
        },
    );
    pledge.run(receive(1, eur(4_000_000)));
    // Another project in the same country is not the earmarked project.
    let neighbour = project_summary(2, "BA", Currency::EUR);
    assert_eq!(
        pledge.refusal(allocate(1, neighbour, eur(100))),
        Reason::EarmarkMismatch
    );
    pledge.run(allocate(1, project, eur(100)));
}

#[test]
fn unearmarked_money_funds_any_country() {
    let mut pledge = unearmarked_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(allocate(
        1,
        project_summary(2, "UA", Currency::EUR),
        eur(100),
    ));
    pledge.run(allocate(
        2,
        project_summary(3, "AF", Currency::EUR),
        eur(100),
    ));
}

#[test]
fn allocation_to_a_closed_project_is_refused() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let closed = ProjectSummary {
        closed: true,
        ..bosnia_project()
    };
    assert_eq!(
        pledge.refusal(allocate(1, closed, eur(100))),
        Reason::ProjectClosed
    );
}

#[test]
fn allocation_never_exceeds_the_unallocated_receipts() {
    let mut pledge = bosnia_pledge();
    assert_eq!(
        pledge.refusal(allocate(1, bosnia_project(), eur(1))),
        Reason::AllocationExceedsUnallocated
    );
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(allocate(1, bosnia_project(), eur(3_000_000)));
    assert_eq!(
        pledge.refusal(allocate(2, bosnia_project(), eur(1_000_001))),
        Reason::AllocationExceedsUnallocated
    );
    pledge.run(allocate(2, bosnia_project(), eur(1_000_000)));
    assert_eq!(unallocated(&pledge), eur(0));
}

#[test]
fn allocation_is_in_the_pledge_currency_with_a_fresh_id() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    assert_eq!(
        pledge.refusal(allocate(1, bosnia_project(), chf(100))),
        Reason::CurrencyMismatch
    );
    assert_eq!(
        pledge.invalid(allocate(1, bosnia_project(), eur(0))),
        "amount"
    );
    pledge.run(allocate(1, bosnia_project(), eur(100)));
    assert_eq!(
        pledge.invalid(allocate(1, bosnia_project(), eur(100))),
        "allocation_id"
    );
}

#[test]
fn allocation_to_a_project_in_another_currency_needs_the_rate() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let usd_project = project_summary(1, "BA", Currency::USD);
    assert_eq!(
        pledge.refusal(allocate(1, usd_project.clone(), eur(100_000))),
        Reason::ExchangeRateRequired
    );
    let wrong = PledgeCommand::Allocate {
        allocation_id: allocation_id(1),
        project: usd_project.clone(),
        amount: eur(100_000),
        rate: Some(rate(Currency::EUR, Currency::CHF, "0.95")),
    };
    assert_eq!(pledge.refusal(wrong), Reason::ExchangeRateMismatch);
    // A rate where none is needed is a mistake too.
    let needless = PledgeCommand::Allocate {
        allocation_id: allocation_id(1),
        project: bosnia_project(),
        amount: eur(100_000),
        rate: Some(eur_usd("1.09")),
    };
    assert_eq!(pledge.refusal(needless), Reason::ExchangeRateMismatch);
    let events = pledge.run(PledgeCommand::Allocate {
        allocation_id: allocation_id(1),
        project: usd_project,
        amount: eur(100_000),
        rate: Some(eur_usd("1.0925")),
    });
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionAllocated { project_amount, reporting_amount, .. }]
            // 1 000.00 EUR at today's 1.0925 for the project, at the booked 1.0850 for reports.
            if *project_amount == usd(109_250) && *reporting_amount == usd(108_500)
    ));
}

#[test]
fn allocation_reporting_value_is_the_average_booked_rate() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1.10"))));
    pledge.run(receive_at(2, eur(10_000), Some(eur_usd("1.20"))));
    assert_eq!(pledge.state.received_reporting(), Some(usd(23_000)));
    let events = pledge.run(allocate(1, bosnia_project(), eur(5_000)));
    // 50.00 EUR at the average 1.15.
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionAllocated { reporting_amount, .. }] if *reporting_amount == usd(5_750)
    ));
}

#[test]
fn allocation_reporting_value_keeps_the_rate_of_the_money_still_unallocated() {
    // 100 EUR booked at 1.00, allocated in full; then 100 EUR booked at 1.20 and allocated.
    // The second allocation is the second receipt's money: 120 USD, not an average of 110.
    let mut pledge = bosnia_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1.00"))));
    pledge.run(allocate(1, bosnia_project(), eur(10_000)));
    pledge.run(receive_at(2, eur(10_000), Some(eur_usd("1.20"))));
    let events = pledge.run(allocate(2, bosnia_project(), eur(10_000)));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ContributionAllocated { reporting_amount, .. }] if *reporting_amount == usd(12_000)
    ));
}

#[test]
fn allocations_never_report_more_than_was_received() {
    // 0.03 EUR × 0.70 = 0.021 → 0.02 USD; three allocations of 0.01 EUR must share 0.02 USD.
    let mut pledge = bosnia_pledge();
    pledge.run(receive_at(1, eur(3), Some(eur_usd("0.70"))));
    let mut reported = 0;
    for n in 1..=3 {
        let events = pledge.run(allocate(n, bosnia_project(), eur(1)));
        if let [
            PledgeEvent::ContributionAllocated {
                reporting_amount, ..
            },
        ] = events.as_slice()
        {
            reported += reporting_amount.minor_units();
        }
    }
    assert_eq!(reported, 2);
}

// --- releases --------------------------------------------------------------------------------

#[test]
fn release_restores_the_unallocated_money_and_corrects_the_allocation() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    let allocated_at = pledge.next_version();
    pledge.run(allocate(1, bosnia_project(), eur(1_000_000)));
    assert_eq!(unallocated(&pledge), eur(3_000_000));
    let events = pledge.run(release(1));
    assert_eq!(
        events,
        vec![PledgeEvent::AllocationReleased {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            allocation_id: allocation_id(1),
            project_id: bosnia_project().project_id,
            country: country("BA"),
            amount: eur(1_000_000),
            reporting_amount: usd(1_085_000),
            reason: "returned by the project account".into(),
            corrects_version: allocated_at,
        }]
    );
    assert_eq!(unallocated(&pledge), eur(4_000_000));
    assert!(pledge.state.allocations()[&allocation_id(1)].released);
    // The released money can be allocated again, in full.
    pledge.run(allocate(2, bosnia_project(), eur(4_000_000)));
}

#[test]
fn release_of_an_unknown_allocation_is_not_found() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    assert_eq!(pledge.refusal(release(9)), Reason::AllocationNotFound);
}

#[test]
fn release_twice_is_refused() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(allocate(1, bosnia_project(), eur(1_000_000)));
    pledge.run(release(1));
    assert_eq!(
        pledge.refusal(release(1)),
        Reason::AllocationAlreadyReleased
    );
}

#[test]
fn the_history_refolds_to_the_same_pledge() {
    let mut pledge = bosnia_pledge();
    pledge.run(sign(eur(9_000_000)));
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(amend(eur(9_500_000)));
    pledge.run(allocate(1, bosnia_project(), eur(1_000_000)));
    pledge.run(release(1));
    pledge.run(withdraw());
    pledge.assert_refolds();
    assert_eq!(Pledge::fold(&pledge.history), pledge.state);
}

// --- corrections: reversals, re-ratings, refunds ---------------------------------------------

fn reverse(n: u128) -> PledgeCommand {
    reverse_by(n, corrector())
}

fn reverse_by(n: u128, by: fundtrail_domain::Actor) -> PledgeCommand {
    PledgeCommand::ReverseReceipt {
        receipt_id: receipt_id(n),
        reason: "returned unpaid by the bank".into(),
        reversed_by: by,
    }
}

fn rerate(n: u128, rate: &str) -> PledgeCommand {
    PledgeCommand::RerateReceipt {
        receipt_id: receipt_id(n),
        rate: eur_usd(rate),
        reason: "booked at a mistyped rate".into(),
        rerated_by: corrector(),
    }
}

fn refund(reference: &str, amount: Money) -> PledgeCommand {
    PledgeCommand::RefundToDonor {
        amount,
        payment_reference: reference.into(),
        value_date: day(2024, 12, 20),
        reason: "unspent at the end of the programme".into(),
        refunded_by: corrector(),
    }
}

fn unallocated_reporting(pledge: &Ledger<Pledge>) -> Money {
    pledge.state.unallocated_reporting().unwrap()
}

#[test]
fn a_reversed_receipt_no_longer_counts_as_received() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(receive(2, eur(1_000_000)));
    let events = pledge.run(reverse(2));
    assert_eq!(
        events,
        vec![PledgeEvent::ReceiptReversed {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            receipt_id: receipt_id(2),
            amount: eur(1_000_000),
            reporting_amount: usd(1_085_000),
            unallocated_reporting: usd(1_085_000),
            bank_reference: "BANK-2".into(),
            earmark: Earmark::Country(country("BA")),
            reason: "returned unpaid by the bank".into(),
            reversed_by: corrector(),
            // Recorded at 0, receipts at 1 and 2.
            corrects_version: 2,
        }]
    );
    assert_eq!(pledge.state.received(), Some(eur(4_000_000)));
    assert_eq!(pledge.state.received_reporting(), Some(usd(4_340_000)));
    assert_eq!(unallocated(&pledge), eur(4_000_000));
    assert_eq!(unallocated_reporting(&pledge), usd(4_340_000));
    assert!(pledge.state.receipts()[&receipt_id(2)].reversed);
    pledge.assert_refolds();
}

#[test]
fn a_reversed_receipts_bank_reference_may_be_booked_again() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    assert_eq!(
        pledge.refusal(receive(1, eur(400_000))),
        Reason::DuplicateBankReference
    );
    pledge.run(reverse(1));
    // The mistyped amount is booked anew under the credit's own reference.
    let mut rebooked = receive(1, eur(400_000));
    if let PledgeCommand::RecordReceipt { receipt_id: id, .. } = &mut rebooked {
        *id = receipt_id(3);
    }
    pledge.run(rebooked);
    assert_eq!(pledge.state.received(), Some(eur(400_000)));
}

#[test]
fn a_receipt_whose_money_is_allocated_cannot_be_reversed() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    pledge.run(allocate(1, bosnia_project(), eur(3_000_000)));
    let refusal = pledge.state.decide(reverse(1)).unwrap_err();
    assert_eq!(refusal.reason(), Some(Reason::ReversalExceedsUnallocated));
    assert!(
        refusal.to_string().contains("only 10000.00 EUR"),
        "the refusal says what is left: {refusal}"
    );
    // Once the project account has returned the allocation, it can.
    pledge.run(release(1));
    pledge.run(reverse(1));
    assert_eq!(pledge.state.received(), Some(eur(0)));
    assert_eq!(unallocated_reporting(&pledge), usd(0));
}

#[test]
fn the_booker_of_a_receipt_does_not_correct_it() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(4_000_000)));
    // The same person whatever the case of the subject.
    let same = fundtrail_domain::Actor::parse("Booker@Fund.Example").unwrap();
    assert_eq!(
        pledge.refusal(reverse_by(1, same.clone())),
        Reason::CorrectorIsBooker
    );
    assert_eq!(
        pledge.refusal(PledgeCommand::RerateReceipt {
            receipt_id: receipt_id(1),
            rate: eur_usd("1.09"),
            reason: "typo".into(),
            rerated_by: same,
        }),
        Reason::CorrectorIsBooker
    );
    pledge.run(reverse_by(1, corrector()));
}

#[test]
fn a_receipt_booked_before_its_booker_was_recorded_is_corrected_by_anyone() {
    let mut pledge = bosnia_pledge();
    let mut events = pledge.state.decide(receive(1, eur(100))).unwrap();
    if let Some(PledgeEvent::ContributionReceived { booked_by, .. }) = events.first_mut() {
        *booked_by = None;
    }
    pledge.apply(&events);
    pledge.run(reverse_by(1, booker()));
}

#[test]
fn unknown_and_reversed_receipts_are_not_corrected() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(100)));
    assert_eq!(pledge.refusal(reverse(9)), Reason::ReceiptNotFound);
    assert_eq!(pledge.refusal(rerate(9, "1.09")), Reason::ReceiptNotFound);
    assert_eq!(
        pledge.invalid(PledgeCommand::ReverseReceipt {
            receipt_id: receipt_id(1),
            reason: " ".into(),
            reversed_by: corrector(),
        }),
        "reason"
    );
    pledge.run(reverse(1));
    assert_eq!(pledge.refusal(reverse(1)), Reason::ReceiptAlreadyReversed);
    assert_eq!(
        pledge.refusal(rerate(1, "1.09")),
        Reason::ReceiptAlreadyReversed
    );
}

#[test]
fn a_reversal_keeps_the_allocations_values_and_leaves_the_others_at_their_rate() {
    let mut pledge = unearmarked_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1.0"))));
    pledge.run(receive_at(2, eur(10_000), Some(eur_usd("2.0"))));
    // 50.00 EUR at the average 1.5: 75.00 USD, a quarter from each receipt.
    pledge.run(allocate(1, bosnia_project(), eur(5_000)));
    assert_eq!(
        pledge.state.allocations()[&allocation_id(1)].reporting_amount,
        usd(7_500)
    );
    let events = pledge.run(reverse(2));
    let [
        PledgeEvent::ReceiptReversed {
            unallocated_reporting: out,
            ..
        },
    ] = events.as_slice()
    else {
        panic!("{events:?}");
    };
    // 75.00 EUR of its own at 2.0, and the 25.00 EUR it had allocated replaced by the first
    // receipt's money at 1.0.
    assert_eq!(*out, usd(17_500));
    assert_eq!(unallocated(&pledge), eur(5_000));
    // What is left is the first receipt's money at its own rate.
    assert_eq!(unallocated_reporting(&pledge), usd(5_000));
    assert_eq!(
        pledge.state.allocations()[&allocation_id(1)].reporting_amount,
        usd(7_500)
    );
    assert_eq!(pledge.state.received_reporting(), Some(usd(10_000)));
    pledge.assert_refolds();
}

#[test]
fn a_receipt_booked_at_a_mistyped_rate_is_rerated() {
    let mut pledge = unearmarked_pledge();
    // 100.00 EUR at 1084.2 instead of 1.0842: 108 420.00 USD.
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1084.2"))));
    pledge.run(allocate(1, bosnia_project(), eur(5_000)));
    assert_eq!(
        pledge.state.allocations()[&allocation_id(1)].reporting_amount,
        usd(5_421_000)
    );
    let events = pledge.run(rerate(1, "1.0842"));
    assert_eq!(
        events,
        vec![PledgeEvent::ReceiptRerated {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            receipt_id: receipt_id(1),
            amount: eur(10_000),
            previous_rate: Some(eur_usd("1084.2")),
            rate: eur_usd("1.0842"),
            previous_reporting_amount: usd(10_842_000),
            reporting_amount: usd(10_842),
            // Half the receipt is still unallocated: half the difference.
            unallocated_reporting_change: usd(-5_415_579),
            earmark: Earmark::None,
            reason: "booked at a mistyped rate".into(),
            rerated_by: corrector(),
            corrects_version: 1,
        }]
    );
    assert_eq!(pledge.state.received_reporting(), Some(usd(10_842)));
    // The unallocated 50.00 EUR are now worth 50.00 × 1.0842.
    assert_eq!(unallocated_reporting(&pledge), usd(5_421));
    // The allocation keeps its historical value; the next one is at the corrected rate.
    assert_eq!(
        pledge.state.allocations()[&allocation_id(1)].reporting_amount,
        usd(5_421_000)
    );
    pledge.run(allocate(2, bosnia_project(), eur(5_000)));
    assert_eq!(
        pledge.state.allocations()[&allocation_id(2)].reporting_amount,
        usd(5_421)
    );
    pledge.assert_refolds();
}

#[test]
fn a_rerating_moves_only_the_receipts_own_unallocated_part() {
    let mut pledge = unearmarked_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1.0"))));
    pledge.run(allocate(1, bosnia_project(), eur(10_000)));
    // A later receipt, mistyped, with nothing of it allocated yet.
    pledge.run(receive_at(2, eur(10_000), Some(eur_usd("1084.2"))));
    pledge.run(rerate(2, "1.0842"));
    assert_eq!(unallocated_reporting(&pledge), usd(10_842));
    assert_eq!(pledge.state.received_reporting(), Some(usd(20_842)));
}

#[test]
fn a_second_rerating_corrects_the_first() {
    let mut pledge = unearmarked_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1084.2"))));
    pledge.run(rerate(1, "1.842"));
    let events = pledge.run(rerate(1, "1.0842"));
    assert!(matches!(
        events.as_slice(),
        [PledgeEvent::ReceiptRerated { corrects_version: 2, previous_reporting_amount, .. }]
            if *previous_reporting_amount == usd(18_420)
    ));
    assert_eq!(unallocated_reporting(&pledge), usd(10_842));
}

#[test]
fn a_rerating_needs_a_different_rate_into_the_reporting_currency() {
    let mut pledge = unearmarked_pledge();
    pledge.run(receive(1, eur(10_000)));
    assert_eq!(pledge.refusal(rerate(1, "1.0850")), Reason::NothingToChange);
    assert_eq!(
        pledge.refusal(PledgeCommand::RerateReceipt {
            receipt_id: receipt_id(1),
            rate: rate(Currency::EUR, Currency::CHF, "0.95"),
            reason: "wrong".into(),
            rerated_by: corrector(),
        }),
        Reason::ExchangeRateMismatch
    );
    // A receipt in the reporting currency has no rate to correct.
    let mut in_usd = recorded(usd(PLEDGED), Earmark::None);
    in_usd.run(receive_at(1, usd(100), None));
    assert_eq!(
        in_usd.refusal(PledgeCommand::RerateReceipt {
            receipt_id: receipt_id(1),
            rate: rate(Currency::USD, Currency::EUR, "0.9"),
            reason: "wrong".into(),
            rerated_by: corrector(),
        }),
        Reason::ExchangeRateMismatch
    );
}

#[test]
fn unallocated_money_is_refunded_to_the_donor_at_its_average_value() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive_at(1, eur(10_000), Some(eur_usd("1.0"))));
    pledge.run(receive_at(2, eur(10_000), Some(eur_usd("2.0"))));
    pledge.run(allocate(1, bosnia_project(), eur(5_000)));
    let events = pledge.run(refund("PAY-1", eur(5_000)));
    assert_eq!(
        events,
        vec![PledgeEvent::ContributionRefunded {
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            amount: eur(5_000),
            reporting_amount: usd(7_500),
            payment_reference: "PAY-1".into(),
            value_date: day(2024, 12, 20),
            earmark: Earmark::Country(country("BA")),
            reason: "unspent at the end of the programme".into(),
            refunded_by: corrector(),
        }]
    );
    assert_eq!(pledge.state.refunded(), Some(eur(5_000)));
    // received = allocated + unallocated + refunded
    assert_eq!(unallocated(&pledge), eur(10_000));
    assert_eq!(
        pledge.refusal(allocate(2, bosnia_project(), eur(10_001))),
        Reason::AllocationExceedsUnallocated
    );
    assert_eq!(
        pledge.refusal(refund("PAY-2", eur(10_001))),
        Reason::RefundExceedsUnallocated
    );
    assert_eq!(
        pledge.refusal(refund("PAY-1", eur(1))),
        Reason::DuplicatePaymentReference
    );
    assert_eq!(
        pledge.refusal(refund("PAY-2", usd(1))),
        Reason::CurrencyMismatch
    );
    assert_eq!(pledge.invalid(refund(" ", eur(1))), "payment_reference");
    // The last of the money takes the last of its value.
    pledge.run(refund("PAY-2", eur(10_000)));
    assert_eq!(unallocated_reporting(&pledge), usd(0));
    assert_eq!(
        pledge.refusal(reverse(1)),
        Reason::ReversalExceedsUnallocated
    );
    pledge.assert_refolds();
}

#[test]
fn a_withdrawn_pledge_still_refunds_and_reverses() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(1_000)));
    pledge.run(receive(2, eur(1_000)));
    pledge.run(withdraw());
    pledge.run(reverse(1));
    pledge.run(refund("PAY-1", eur(1_000)));
    assert_eq!(unallocated(&pledge), eur(0));
}

#[test]
fn after_a_reversal_the_pledge_may_be_amended_below_the_reversed_receipt() {
    let mut pledge = bosnia_pledge();
    pledge.run(receive(1, eur(6_000_000)));
    assert_eq!(
        pledge.refusal(amend(eur(5_000_000))),
        Reason::PledgeBelowReceived
    );
    pledge.run(reverse(1));
    pledge.run(amend(eur(5_000_000)));
}
