//! Project accounts: credits, tranches, disbursement requests, approvals, payments, reversals,
//! refunds, rejections and returned allocations.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

mod common;

use common::{
    Ledger, actor, allocation_id, country, day, disbursement_id, eur, eur_usd, event_id,
    netherlands, pledge_id, project_id, rate, usd,
};
use fundtrail_domain::account::DisbursementStatus;
use fundtrail_domain::{
    AccountCommand, AccountEvent, Actor, Currency, Money, ProjectAccount, Reason,
};

fn credit_from(source: u128, allocation: u128, amount: Money, reporting: Money) -> AccountCommand {
    AccountCommand::Credit {
        source_event_id: event_id(source),
        project_id: project_id(1),
        country: country("BA"),
        allocation_id: allocation_id(allocation),
        pledge_id: pledge_id(1),
        donor_id: netherlands().donor_id,
        amount,
        reporting_amount: reporting,
    }
}

/// Allocation `n`, delivered by event `n`, booked at 1.0850 USD per EUR.
fn credit(n: u128, amount: Money) -> AccountCommand {
    let reporting = eur_usd("1.0850").convert(amount).unwrap();
    credit_from(n, n, amount, reporting)
}

/// The verification of `milestone`, delivered by event `source`, released the whole tranche.
fn unlock(source: u128, milestone: u32, tranche: Money) -> AccountCommand {
    unlock_part(source, milestone, tranche, tranche)
}

/// The verification released `released` of the tranche.
fn unlock_part(source: u128, milestone: u32, tranche: Money, released: Money) -> AccountCommand {
    AccountCommand::UnlockTranche {
        source_event_id: event_id(source),
        project_id: project_id(1),
        country: country("BA"),
        milestone,
        tranche,
        released,
    }
}

fn requester() -> Actor {
    actor("alice@itf.si")
}

fn approver() -> Actor {
    actor("bob@itf.si")
}

fn request_for(n: u128, amount: Money, milestone: Option<u32>) -> AccountCommand {
    AccountCommand::Request {
        disbursement_id: disbursement_id(n),
        amount,
        partner: "Norwegian People's Aid".into(),
        milestone,
        purpose: "second clearance phase".into(),
        requested_by: requester(),
        project: common::project_paying("Norwegian People's Aid"),
    }
}

fn request(n: u128, amount: Money) -> AccountCommand {
    request_for(n, amount, None)
}

fn approve_by(n: u128, by: Actor) -> AccountCommand {
    AccountCommand::Approve {
        disbursement_id: disbursement_id(n),
        approved_by: by,
    }
}

fn approve(n: u128) -> AccountCommand {
    approve_by(n, approver())
}

fn reject(n: u128) -> AccountCommand {
    AccountCommand::Reject {
        disbursement_id: disbursement_id(n),
        reason: "wrong partner bank account".into(),
        rejected_by: approver(),
    }
}

fn pay_in(
    n: u128,
    payment_currency: Currency,
    rate: Option<fundtrail_domain::ExchangeRate>,
) -> AccountCommand {
    AccountCommand::Pay {
        disbursement_id: disbursement_id(n),
        paid_on: day(2024, 7, 1),
        bank_reference: format!("PAY-{n}"),
        payment_currency,
        rate,
    }
}

fn pay(n: u128) -> AccountCommand {
    pay_in(n, Currency::EUR, None)
}

fn reverse(n: u128) -> AccountCommand {
    AccountCommand::Reverse {
        disbursement_id: disbursement_id(n),
        reason: "returned by the beneficiary bank".into(),
    }
}

fn refund(n: u128, amount: Money) -> AccountCommand {
    AccountCommand::Refund {
        disbursement_id: disbursement_id(n),
        amount,
        refunded_on: day(2024, 12, 1),
        reason: "unspent balance".into(),
    }
}

fn return_allocation(n: u128) -> AccountCommand {
    AccountCommand::ReturnAllocation {
        allocation_id: allocation_id(n),
        amount: None,
        reason: "the donor redirected the money".into(),
    }
}

/// An account credited with 1 000.00 EUR.
fn funded() -> Ledger<ProjectAccount> {
    let mut account = Ledger::new();
    account.run(credit(1, eur(100_000)));
    account
}

fn available(account: &Ledger<ProjectAccount>) -> Money {
    account.state.available().unwrap()
}

fn status(account: &Ledger<ProjectAccount>, n: u128) -> DisbursementStatus {
    account.state.disbursements()[&disbursement_id(n)].status
}

/// An account with 1 000.00 EUR and a paid disbursement of 600.00 EUR.
fn paid() -> Ledger<ProjectAccount> {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    account.run(approve(1));
    account.run(pay(1));
    account
}

// --- credits ---------------------------------------------------------------------------------

#[test]
fn a_credit_makes_money_available() {
    let mut account = Ledger::<ProjectAccount>::new();
    assert_eq!(account.state.available(), None);
    let events = account.run(credit(1, eur(100_000)));
    assert_eq!(
        events,
        vec![AccountEvent::Credited {
            project_id: project_id(1),
            country: country("BA"),
            allocation_id: allocation_id(1),
            source_event_id: event_id(1),
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            amount: eur(100_000),
            reporting_amount: usd(108_500),
        }]
    );
    assert_eq!(account.state.currency(), Some(Currency::EUR));
    assert_eq!(account.state.credited(), Some(eur(100_000)));
    assert_eq!(available(&account), eur(100_000));
}

#[test]
fn a_credit_is_taken_once_per_source_event() {
    let mut account = funded();
    // The same event delivered again.
    assert_eq!(account.run(credit(1, eur(100_000))), vec![]);
    // The same source event id, whatever else it says.
    assert_eq!(
        account.run(credit_from(1, 2, eur(5_000), usd(5_400))),
        vec![]
    );
    assert_eq!(account.state.credited(), Some(eur(100_000)));
}

#[test]
fn a_credit_is_taken_once_per_allocation() {
    let mut account = funded();
    // The same allocation, from another event id (a replayed copy).
    assert_eq!(
        account.run(credit_from(9, 1, eur(100_000), usd(108_500))),
        vec![]
    );
    assert_eq!(account.state.credited(), Some(eur(100_000)));
}

#[test]
fn credits_are_in_the_account_currency_and_positive() {
    let account = funded();
    assert_eq!(
        account.refusal(credit_from(2, 2, usd(100), usd(100))),
        Reason::CurrencyMismatch
    );
    assert_eq!(account.invalid(credit(2, eur(0))), "amount");
}

#[test]
fn a_credit_is_valued_in_one_reporting_currency() {
    let account = funded();
    assert_eq!(
        account.refusal(credit_from(2, 2, eur(100), Money::new(Currency::CHF, 95))),
        Reason::CurrencyMismatch
    );
    assert_eq!(
        account.invalid(credit_from(2, 2, eur(100), usd(-1))),
        "reporting_amount"
    );
}

#[test]
fn a_tranche_is_positive_and_in_the_account_currency() {
    let account = funded();
    assert_eq!(account.invalid(unlock(10, 1, eur(0))), "tranche");
    assert_eq!(account.invalid(unlock(10, 1, eur(-100))), "tranche");
    assert_eq!(
        account.refusal(unlock(10, 1, usd(100))),
        Reason::CurrencyMismatch
    );
}

// --- requests --------------------------------------------------------------------------------

#[test]
fn nothing_is_requested_from_an_empty_account() {
    let account = Ledger::<ProjectAccount>::new();
    assert_eq!(
        account.refusal(request(1, eur(1))),
        Reason::DisbursementExceedsAvailable
    );
}

#[test]
fn unknown_disbursements_and_allocations_are_not_found_even_on_an_empty_account() {
    let account = Ledger::<ProjectAccount>::new();
    for command in [approve(1), reject(1), pay(1), reverse(1), refund(1, eur(1))] {
        assert_eq!(account.refusal(command), Reason::DisbursementNotFound);
    }
    assert_eq!(
        account.refusal(return_allocation(1)),
        Reason::AllocationNotFound
    );
}

#[test]
fn a_closed_project_takes_no_new_requests_but_honours_earlier_ones() {
    let mut account = funded();
    account.run(request(1, eur(10_000)));
    let closed = AccountCommand::Request {
        disbursement_id: disbursement_id(2),
        amount: eur(10_000),
        partner: "Norwegian People's Aid".into(),
        milestone: None,
        purpose: "after closure".into(),
        requested_by: requester(),
        project: fundtrail_domain::ProjectSummary {
            closed: true,
            ..common::project_paying("Norwegian People's Aid")
        },
    };
    assert_eq!(account.refusal(closed), Reason::ProjectClosed);
    // Obligations made before the closure are still approved and paid.
    account.run(approve(1));
    account.run(pay(1));
    assert_eq!(status(&account, 1), DisbursementStatus::Paid);
}

#[test]
fn a_request_never_exceeds_what_is_available() {
    let mut account = funded();
    assert_eq!(
        account.refusal(request(1, eur(100_001))),
        Reason::DisbursementExceedsAvailable
    );
    let events = account.run(request(1, eur(100_000)));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementRequested {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(100_000),
            partner: "Norwegian People's Aid".into(),
            milestone: None,
            purpose: "second clearance phase".into(),
            requested_by: requester(),
        }]
    );
}

#[test]
fn pending_requests_hold_their_money() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    assert_eq!(available(&account), eur(40_000));
    assert_eq!(
        account.refusal(request(2, eur(50_000))),
        Reason::DisbursementExceedsAvailable
    );
    account.run(request(2, eur(40_000)));
    assert_eq!(available(&account), eur(0));
}

#[test]
fn a_request_is_in_the_account_currency_with_a_fresh_id() {
    let mut account = funded();
    assert_eq!(
        account.refusal(request(1, usd(100))),
        Reason::CurrencyMismatch
    );
    assert_eq!(account.invalid(request(1, eur(0))), "amount");
    account.run(request(1, eur(100)));
    assert_eq!(
        account.refusal(request(1, eur(100))),
        Reason::DisbursementAlreadyRequested
    );
}

// --- approvals -------------------------------------------------------------------------------

#[test]
fn the_requester_cannot_approve_under_another_spelling_of_their_name() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    for spelling in ["Alice@ITF.si", " ALICE@itf.si", "alice@itf.si "] {
        assert_eq!(
            account.refusal(approve_by(1, actor(spelling))),
            Reason::ApproverIsRequester,
            "{spelling:?}"
        );
    }
    account.run(approve(1));
}

#[test]
fn the_requester_cannot_approve_their_own_request() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    assert_eq!(
        account.refusal(approve_by(1, requester())),
        Reason::ApproverIsRequester
    );
    let events = account.run(approve(1));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementApproved {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(60_000),
            approved_by: approver(),
        }]
    );
    assert_eq!(status(&account, 1), DisbursementStatus::Approved);
    // Approved money is still held.
    assert_eq!(available(&account), eur(40_000));
    assert_eq!(account.refusal(approve(1)), Reason::DisbursementNotPending);
    assert_eq!(account.refusal(approve(9)), Reason::DisbursementNotFound);
}

#[test]
fn a_tranche_is_approved_only_after_its_milestone_is_verified() {
    let mut account = funded();
    // Requested before the verification is known: allowed, but not approvable yet.
    account.run(request_for(1, eur(50_000), Some(1)));
    assert_eq!(account.refusal(approve(1)), Reason::MilestoneNotVerified);
    let events = account.run(unlock(10, 1, eur(50_000)));
    assert_eq!(
        events,
        vec![AccountEvent::TrancheUnlocked {
            project_id: project_id(1),
            country: country("BA"),
            milestone: 1,
            tranche: eur(50_000),
            source_event_id: event_id(10),
            released: Some(eur(50_000)),
        }]
    );
    // The verification delivered again, or from another event, unlocks nothing more.
    assert_eq!(account.run(unlock(10, 1, eur(50_000))), vec![]);
    assert_eq!(account.run(unlock(11, 1, eur(90_000))), vec![]);
    assert_eq!(account.state.unlocked_tranches()[&1], eur(50_000));
    account.run(approve(1));
}

#[test]
fn a_tranche_never_pays_more_than_its_milestone_releases() {
    let mut account = funded();
    account.run(unlock(10, 1, eur(50_000)));
    assert_eq!(
        account.refusal(request_for(1, eur(50_001), Some(1))),
        Reason::TrancheExceedsMilestone
    );
    account.run(request_for(1, eur(30_000), Some(1)));
    assert_eq!(
        account.refusal(request_for(2, eur(20_001), Some(1))),
        Reason::TrancheExceedsMilestone
    );
    account.run(request_for(2, eur(20_000), Some(1)));
    account.run(approve(1));
    account.run(approve(2));
}

#[test]
fn requests_made_before_the_tranche_was_known_are_capped_at_approval() {
    let mut account = funded();
    account.run(request_for(1, eur(40_000), Some(1)));
    account.run(request_for(2, eur(40_000), Some(1)));
    account.run(unlock(10, 1, eur(50_000)));
    assert_eq!(account.refusal(approve(1)), Reason::TrancheExceedsMilestone);
    account.run(reject(2));
    account.run(approve(1));
}

// --- payments --------------------------------------------------------------------------------

#[test]
fn only_an_approved_disbursement_is_paid() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    assert_eq!(account.refusal(pay(1)), Reason::DisbursementNotApproved);
    account.run(approve(1));
    let events = account.run(pay(1));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementPaid {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(60_000),
            // 600.00 EUR at the credits' 1.0850.
            reporting_amount: usd(65_100),
            payment: eur(60_000),
            rate: None,
            paid_on: day(2024, 7, 1),
            bank_reference: "PAY-1".into(),
        }]
    );
    assert_eq!(status(&account, 1), DisbursementStatus::Paid);
    assert_eq!(available(&account), eur(40_000));
    assert_eq!(account.refusal(pay(1)), Reason::DisbursementNotApproved);
    assert_eq!(account.refusal(pay(9)), Reason::DisbursementNotFound);
}

#[test]
fn a_payment_in_another_currency_records_its_rate() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    account.run(approve(1));
    assert_eq!(
        account.refusal(pay_in(1, Currency::USD, None)),
        Reason::ExchangeRateRequired
    );
    let usd_eur = rate(Currency::USD, Currency::EUR, "0.92");
    assert_eq!(
        account.refusal(pay_in(1, Currency::USD, Some(usd_eur))),
        Reason::ExchangeRateMismatch
    );
    assert_eq!(
        account.refusal(pay_in(1, Currency::EUR, Some(eur_usd("1.09")))),
        Reason::ExchangeRateMismatch
    );
    let bam = Currency::new("BAM").unwrap();
    let eur_bam = rate(Currency::EUR, bam, "1.95583");
    let events = account.run(pay_in(1, bam, Some(eur_bam.clone())));
    assert!(matches!(
        events.as_slice(),
        [AccountEvent::DisbursementPaid { amount, payment, rate: Some(r), .. }]
            // 600.00 EUR × 1.95583 = 1 173.498 BAM → 1 173.50.
            if *amount == eur(60_000) && *payment == Money::new(bam, 117_350) && *r == eur_bam
    ));
}

#[test]
fn a_payment_needs_a_bank_reference() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    account.run(approve(1));
    let command = AccountCommand::Pay {
        disbursement_id: disbursement_id(1),
        paid_on: day(2024, 7, 1),
        bank_reference: " ".into(),
        payment_currency: Currency::EUR,
        rate: None,
    };
    assert_eq!(account.invalid(command), "bank_reference");
}

// --- reversals and refunds -------------------------------------------------------------------

#[test]
fn only_a_paid_disbursement_is_reversed_and_the_money_comes_back() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    assert_eq!(account.refusal(reverse(1)), Reason::DisbursementNotPaid);
    account.run(approve(1));
    assert_eq!(account.refusal(reverse(1)), Reason::DisbursementNotPaid);
    let paid_at = account.next_version();
    account.run(pay(1));
    assert_eq!(available(&account), eur(40_000));
    let events = account.run(reverse(1));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementReversed {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(60_000),
            reporting_amount: usd(65_100),
            reason: "returned by the beneficiary bank".into(),
            corrects_version: paid_at,
        }]
    );
    assert_eq!(status(&account, 1), DisbursementStatus::Reversed);
    assert_eq!(available(&account), eur(100_000));
    assert_eq!(account.refusal(reverse(1)), Reason::DisbursementNotPaid);
    assert_eq!(account.refusal(reverse(9)), Reason::DisbursementNotFound);
}

#[test]
fn a_refund_is_at_most_what_was_paid_and_comes_back() {
    let mut account = paid();
    let paid_at = account.next_version() - 1;
    assert_eq!(
        account.refusal(refund(1, eur(60_001))),
        Reason::RefundExceedsPaid
    );
    assert_eq!(account.invalid(refund(1, eur(0))), "amount");
    let events = account.run(refund(1, eur(10_000)));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementRefunded {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(10_000),
            // A sixth of the 651.00 USD the payment was booked at.
            reporting_amount: usd(10_850),
            refunded_on: day(2024, 12, 1),
            reason: "unspent balance".into(),
            corrects_version: paid_at,
        }]
    );
    assert_eq!(available(&account), eur(50_000));
    // Refunds add up to the payment at most.
    assert_eq!(
        account.refusal(refund(1, eur(50_001))),
        Reason::RefundExceedsPaid
    );
    account.run(refund(1, eur(50_000)));
    assert_eq!(available(&account), eur(100_000));
    assert_eq!(
        account.refusal(refund(1, eur(1))),
        Reason::RefundExceedsPaid
    );
}

#[test]
fn only_a_paid_disbursement_is_refunded() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    assert_eq!(
        account.refusal(refund(1, eur(100))),
        Reason::DisbursementNotPaid
    );
    account.run(approve(1));
    account.run(pay(1));
    account.run(reverse(1));
    assert_eq!(
        account.refusal(refund(1, eur(100))),
        Reason::DisbursementNotPaid
    );
}

#[test]
fn a_reversal_after_a_refund_reverses_what_is_still_paid() {
    let mut account = paid();
    account.run(refund(1, eur(10_000)));
    let events = account.run(reverse(1));
    assert!(matches!(
        events.as_slice(),
        [AccountEvent::DisbursementReversed { amount, reporting_amount, .. }]
            if *amount == eur(50_000) && *reporting_amount == usd(54_250)
    ));
    assert_eq!(available(&account), eur(100_000));
}

// --- rejections ------------------------------------------------------------------------------

#[test]
fn a_rejected_request_releases_its_money() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    let events = account.run(reject(1));
    assert_eq!(
        events,
        vec![AccountEvent::DisbursementRejected {
            project_id: project_id(1),
            country: country("BA"),
            disbursement_id: disbursement_id(1),
            amount: eur(60_000),
            reason: "wrong partner bank account".into(),
            rejected_by: approver(),
        }]
    );
    assert_eq!(available(&account), eur(100_000));
    assert_eq!(account.refusal(reject(1)), Reason::DisbursementNotPending);
    assert_eq!(account.refusal(approve(1)), Reason::DisbursementNotPending);
    assert_eq!(account.refusal(pay(1)), Reason::DisbursementNotApproved);
}

#[test]
fn an_approved_disbursement_can_still_be_rejected_but_a_paid_one_cannot() {
    let mut account = funded();
    account.run(request(1, eur(60_000)));
    account.run(approve(1));
    account.run(reject(1));
    assert_eq!(available(&account), eur(100_000));
    let mut account = paid();
    assert_eq!(account.refusal(reject(1)), Reason::DisbursementNotPending);
    account.run(reverse(1));
    assert_eq!(account.refusal(reject(1)), Reason::DisbursementNotPending);
}

// --- returned allocations --------------------------------------------------------------------

#[test]
fn an_allocation_is_returned_only_from_available_money() {
    let mut account = funded();
    account.run(credit(2, eur(50_000)));
    account.run(request(1, eur(120_000)));
    assert_eq!(available(&account), eur(30_000));
    assert_eq!(
        account.refusal(return_allocation(2)),
        Reason::ReturnExceedsAvailable
    );
    account.run(reject(1));
    let credited_at = 1;
    let events = account.run(return_allocation(2));
    assert_eq!(
        events,
        vec![AccountEvent::AllocationReturned {
            project_id: project_id(1),
            country: country("BA"),
            allocation_id: allocation_id(2),
            pledge_id: pledge_id(1),
            donor_id: netherlands().donor_id,
            amount: eur(50_000),
            reporting_amount: usd(54_250),
            reason: "the donor redirected the money".into(),
            corrects_version: credited_at,
            remaining: Some(eur(0)),
        }]
    );
    assert_eq!(account.state.credited(), Some(eur(100_000)));
    assert_eq!(available(&account), eur(100_000));
    assert!(account.state.credits()[&allocation_id(2)].returned);
}

#[test]
fn an_allocation_is_returned_once() {
    let mut account = funded();
    account.run(return_allocation(1));
    assert_eq!(
        account.refusal(return_allocation(1)),
        Reason::AllocationAlreadyReleased
    );
    assert_eq!(
        account.refusal(return_allocation(7)),
        Reason::AllocationNotFound
    );
    // The returned allocation's event delivered again credits nothing.
    assert_eq!(account.run(credit(1, eur(100_000))), vec![]);
    assert_eq!(available(&account), eur(0));
}

#[test]
fn the_history_refolds_to_the_same_account() {
    let mut account = paid();
    account.run(credit(2, eur(50_000)));
    account.run(unlock(10, 1, eur(40_000)));
    account.run(request_for(2, eur(40_000), Some(1)));
    account.run(approve(2));
    account.run(refund(1, eur(5_000)));
    account.run(request(3, eur(1_000)));
    account.run(reject(3));
    account.run(return_allocation(2));
    account.assert_refolds();
    assert_eq!(
        ProjectAccount::stream(&project_id(1)),
        format!("account-{}", project_id(1))
    );
}

#[test]
fn money_goes_only_to_the_implementing_partner_of_record() {
    let mut account = funded();
    let to = |partner: &str| AccountCommand::Request {
        disbursement_id: disbursement_id(7),
        amount: eur(1_000),
        partner: partner.into(),
        milestone: None,
        purpose: "clearance".into(),
        requested_by: requester(),
        project: common::project_paying("Norwegian People's Aid"),
    };
    assert_eq!(
        account.refusal(to("Someone Else Ltd")),
        Reason::PayeeNotImplementingPartner
    );
    // Unnamed, the payee is the partner of record, and that is what the event records.
    let events = account.run(to(""));
    assert!(
        matches!(&events[..], [AccountEvent::DisbursementRequested { partner, .. }] if partner == "Norwegian People's Aid"),
        "{events:?}"
    );
}

// --- payment by results ----------------------------------------------------------------------

fn results_request(n: u128, amount: Money, milestone: Option<u32>) -> AccountCommand {
    AccountCommand::Request {
        disbursement_id: disbursement_id(n),
        amount,
        partner: String::new(),
        milestone,
        purpose: "clearance paid by results".into(),
        requested_by: requester(),
        project: common::results_based_project(),
    }
}

#[test]
fn a_partial_release_caps_what_the_milestone_pays() {
    let mut account = funded();
    // 200.00 EUR tranche, verified at a quarter of its target: 50.00 EUR released.
    let events = account.run(unlock_part(10, 1, eur(20_000), eur(5_000)));
    assert!(matches!(
        events.as_slice(),
        [AccountEvent::TrancheUnlocked { released: Some(r), tranche, .. }]
            if *r == eur(5_000) && *tranche == eur(20_000)
    ));
    assert_eq!(account.state.unlocked_tranches()[&1], eur(20_000));
    assert_eq!(account.state.released_tranches()[&1], eur(5_000));
    assert_eq!(
        account.refusal(request_for(1, eur(5_001), Some(1))),
        Reason::TrancheExceedsMilestone
    );
    account.run(request_for(1, eur(5_000), Some(1)));
    account.run(approve(1));
    assert_eq!(
        account.refusal(request_for(2, eur(1), Some(1))),
        Reason::TrancheExceedsMilestone
    );
}

#[test]
fn requests_made_before_a_partial_release_are_capped_at_approval() {
    let mut account = funded();
    account.run(request_for(1, eur(20_000), Some(1)));
    account.run(unlock_part(10, 1, eur(20_000), eur(5_000)));
    assert_eq!(account.refusal(approve(1)), Reason::TrancheExceedsMilestone);
}

#[test]
fn a_release_of_nothing_is_recorded_and_pays_nothing() {
    let mut account = funded();
    // All-or-nothing, target missed: the account knows the milestone was verified.
    account.run(unlock_part(10, 1, eur(20_000), eur(0)));
    assert_eq!(account.state.released_tranches()[&1], eur(0));
    assert_eq!(
        account.refusal(results_request(1, eur(1), Some(1))),
        Reason::TrancheExceedsMilestone
    );
}

#[test]
fn a_release_is_between_nothing_and_the_tranche() {
    let account = funded();
    assert_eq!(
        account.invalid(unlock_part(10, 1, eur(20_000), eur(20_001))),
        "released"
    );
    assert_eq!(
        account.invalid(unlock_part(10, 1, eur(20_000), eur(-1))),
        "released"
    );
    assert_eq!(
        account.refusal(unlock_part(10, 1, eur(20_000), usd(1))),
        Reason::CurrencyMismatch
    );
}

#[test]
fn a_results_based_project_pays_only_against_a_verified_milestone() {
    let mut account = funded();
    // Leaving the milestone off does not skip the gate.
    assert_eq!(
        account.refusal(results_request(1, eur(1_000), None)),
        Reason::MilestoneRequired
    );
    // Naming one not yet verified is refused at once: nothing is promised ahead of results.
    assert_eq!(
        account.refusal(results_request(1, eur(1_000), Some(1))),
        Reason::MilestoneNotVerified
    );
    account.run(unlock_part(10, 1, eur(20_000), eur(12_000)));
    assert_eq!(
        account.refusal(results_request(1, eur(12_001), Some(1))),
        Reason::TrancheExceedsMilestone
    );
    account.run(results_request(1, eur(12_000), Some(1)));
    account.run(approve(1));
    account.run(pay(1));
    assert_eq!(status(&account, 1), DisbursementStatus::Paid);
    // Still no payment without a milestone once one is verified.
    assert_eq!(
        account.refusal(results_request(2, eur(1), None)),
        Reason::MilestoneRequired
    );
    account.assert_refolds();
}

#[test]
fn an_advance_funded_project_may_still_pay_without_a_milestone() {
    let mut account = funded();
    account.run(request(1, eur(10_000)));
    account.run(approve(1));
    assert_eq!(status(&account, 1), DisbursementStatus::Approved);
}

#[test]
fn a_tranche_unlocked_before_releases_were_recorded_releases_it_whole() {
    let mut account = funded();
    account.apply(&[AccountEvent::TrancheUnlocked {
        project_id: project_id(1),
        country: country("BA"),
        milestone: 1,
        tranche: eur(20_000),
        source_event_id: event_id(10),
        released: None,
    }]);
    assert_eq!(account.state.released_tranches()[&1], eur(20_000));
    account.run(request_for(1, eur(20_000), Some(1)));
    account.run(approve(1));
}
