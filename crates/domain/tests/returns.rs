//! Unspent balances going back to the fund: partial returns of an allocation, closing a project
//! account, and the pledge taking back exactly what the account returned.

mod common;

use std::collections::BTreeMap;

use common::{
    Ledger, actor, allocation_id, booker, country, day, disbursement_id, eur, eur_usd, event_id,
    netherlands, pledge_id, project_id, project_summary, receipt_id, usd,
};
use fundtrail_domain::{
    AccountCommand, AccountEvent, Aggregate, AllocationId, Currency, Earmark, Money, Pledge,
    PledgeCommand, PledgeEvent, ProjectAccount, Reason,
};
use proptest::prelude::*;

fn credit(n: u128, amount: Money, reporting: Money) -> AccountCommand {
    AccountCommand::Credit {
        source_event_id: event_id(n),
        project_id: project_id(1),
        country: country("BA"),
        allocation_id: allocation_id(n),
        pledge_id: pledge_id(n),
        donor_id: netherlands().donor_id,
        amount,
        reporting_amount: reporting,
    }
}

fn give_back(n: u128, amount: Option<Money>) -> AccountCommand {
    AccountCommand::ReturnAllocation {
        allocation_id: allocation_id(n),
        amount,
        reason: "unspent balance".into(),
    }
}

fn close() -> AccountCommand {
    AccountCommand::Close {
        reason: "project completed".into(),
        closed_by: actor("finance@itf.si"),
    }
}

fn request(n: u128, amount: Money) -> AccountCommand {
    AccountCommand::Request {
        disbursement_id: disbursement_id(n),
        amount,
        partner: String::new(),
        milestone: None,
        purpose: "clearance".into(),
        requested_by: actor("alice@itf.si"),
        project: common::project_paying("Norwegian People's Aid"),
    }
}

fn approve(n: u128) -> AccountCommand {
    AccountCommand::Approve {
        disbursement_id: disbursement_id(n),
        approved_by: actor("bob@itf.si"),
    }
}

fn pay(n: u128) -> AccountCommand {
    AccountCommand::Pay {
        disbursement_id: disbursement_id(n),
        paid_on: day(2024, 7, 1),
        bank_reference: format!("PAY-{n}"),
        payment_currency: Currency::EUR,
        rate: None,
    }
}

/// An account credited with allocation 1: 1 000.00 EUR booked at 1 085.01 USD (an odd value,
/// so that proportional parts round).
fn funded() -> Ledger<ProjectAccount> {
    let mut account = Ledger::new();
    account.run(credit(1, eur(100_000), usd(108_501)));
    account
}

fn returned(events: &[AccountEvent]) -> Vec<(Money, Money, Option<Money>)> {
    events
        .iter()
        .filter_map(|e| match e {
            AccountEvent::AllocationReturned {
                amount,
                reporting_amount,
                remaining,
                ..
            } => Some((*amount, *reporting_amount, *remaining)),
            _ => None,
        })
        .collect()
}

#[test]
fn an_allocation_is_returned_in_parts_never_beyond_its_amount() {
    let mut account = funded();
    let first = account.run(give_back(1, Some(eur(30_000))));
    // 30% of the value it was credited at, rounded half-even.
    assert_eq!(
        returned(&first),
        vec![(eur(30_000), usd(32_550), Some(eur(70_000)))]
    );
    assert!(!account.state.credits()[&allocation_id(1)].returned);
    assert_eq!(account.state.available(), Some(eur(70_000)));
    assert_eq!(
        account.refusal(give_back(1, Some(eur(70_001)))),
        Reason::ReturnExceedsAllocation
    );
    // The rest, asked for by leaving the amount out, takes the value not yet returned.
    let rest = account.run(give_back(1, None));
    assert_eq!(
        returned(&rest),
        vec![(eur(70_000), usd(75_951), Some(eur(0)))]
    );
    assert!(account.state.credits()[&allocation_id(1)].returned);
    assert_eq!(
        account.refusal(give_back(1, Some(eur(1)))),
        Reason::AllocationAlreadyReleased
    );
    assert_eq!(account.state.returned(), Some(eur(100_000)));
    account.assert_refolds();
}

#[test]
fn a_part_is_returned_only_from_available_money() {
    let mut account = funded();
    account.run(request(1, eur(80_000)));
    assert_eq!(
        account.refusal(give_back(1, Some(eur(20_001)))),
        Reason::ReturnExceedsAvailable
    );
    assert_eq!(
        account.refusal(give_back(1, None)),
        Reason::ReturnExceedsAvailable
    );
    account.run(give_back(1, Some(eur(20_000))));
    assert_eq!(account.state.available(), Some(eur(0)));
    assert_eq!(
        account.refusal(give_back(1, Some(usd(1)))),
        Reason::CurrencyMismatch
    );
    // Zero is how an old client leaves the amount out: the whole remainder, here too much.
    assert_eq!(
        account.refusal(give_back(1, Some(eur(0)))),
        Reason::ReturnExceedsAvailable
    );
    assert!(
        account
            .invalid(give_back(1, Some(eur(-5))))
            .contains("amount")
    );
}

#[test]
fn closing_is_refused_while_a_disbursement_is_pending_or_approved_unpaid() {
    let mut account = funded();
    account.run(request(1, eur(10_000)));
    assert_eq!(account.refusal(close()), Reason::DisbursementsPending);
    account.run(approve(1));
    assert_eq!(account.refusal(close()), Reason::DisbursementsPending);
    account.run(pay(1));
    account.run(close());
    assert!(account.state.is_closed());
    assert_eq!(account.refusal(close()), Reason::AccountClosed);
}

#[test]
fn closing_returns_what_is_available_shared_over_the_allocations() {
    let mut account = funded();
    account.run(credit(2, eur(50_000), usd(54_250)));
    account.run(give_back(2, Some(eur(10_000))));
    // 1 400.00 EUR left on the account, 500.00 EUR paid.
    account.run(request(1, eur(50_000)));
    account.run(approve(1));
    account.run(pay(1));
    let events = account.run(close());
    // 900.00 EUR available, over remainders of 1 000.00 and 400.00: 642.85 and 257.15.
    assert_eq!(
        returned(&events),
        vec![
            (eur(64_285), usd(69_750), Some(eur(35_715))),
            (eur(25_715), usd(27_901), Some(eur(14_285))),
        ]
    );
    assert!(matches!(
        events.last(),
        Some(AccountEvent::Closed { returned, .. }) if *returned == eur(90_000)
    ));
    assert_eq!(account.state.available(), Some(eur(0)));
    assert_eq!(account.refusal(request(2, eur(1))), Reason::AccountClosed);
    account.assert_refolds();
}

#[test]
fn an_allocation_arriving_after_the_close_goes_straight_back() {
    let mut account = funded();
    account.run(close());
    let events = account.run(credit(3, eur(25_000), usd(27_125)));
    assert!(matches!(events[0], AccountEvent::Credited { .. }));
    let credited_at = account.next_version() - 2;
    assert!(matches!(
        &events[1],
        AccountEvent::AllocationReturned { amount, remaining, corrects_version, .. }
            if *amount == eur(25_000) && *remaining == Some(eur(0)) && *corrects_version == credited_at
    ));
    assert_eq!(account.state.available(), Some(eur(0)));
    // Delivered again, it changes nothing.
    assert_eq!(account.run(credit(3, eur(25_000), usd(27_125))), vec![]);
}

#[test]
fn a_return_recorded_before_partial_returns_means_the_whole_allocation() {
    let mut account = funded();
    account.apply(&[AccountEvent::AllocationReturned {
        project_id: project_id(1),
        country: country("BA"),
        allocation_id: allocation_id(1),
        pledge_id: pledge_id(1),
        donor_id: netherlands().donor_id,
        amount: eur(100_000),
        reporting_amount: usd(108_501),
        reason: "redirected".into(),
        corrects_version: 0,
        remaining: None,
    }]);
    assert!(account.state.credits()[&allocation_id(1)].returned);
    assert_eq!(
        account.refusal(give_back(1, None)),
        Reason::AllocationAlreadyReleased
    );
}

// --- the pledge's side -----------------------------------------------------------------------

/// A pledge with 10 000.00 EUR received at 1.0850 and 1 000.00 EUR allocated to a project in
/// `currency` (at 1.0925 USD per EUR when that is USD).
fn allocated(currency: Currency) -> Ledger<Pledge> {
    let mut pledge = Ledger::new();
    pledge.run(PledgeCommand::Record {
        pledge_id: pledge_id(1),
        donor: netherlands(),
        amount: eur(1_000_000),
        earmark: Earmark::None,
        pledged_on: day(2024, 1, 15),
    });
    pledge.run(PledgeCommand::RecordReceipt {
        receipt_id: receipt_id(1),
        amount: eur(1_000_000),
        value_date: day(2024, 3, 5),
        rate: Some(eur_usd("1.0850")),
        reporting_currency: Currency::USD,
        bank_reference: "BANK-1".into(),
        over_payment: false,
        donor_matching_eligible: true,
        booked_by: booker(),
    });
    pledge.run(PledgeCommand::Allocate {
        allocation_id: allocation_id(1),
        project: project_summary(1, "BA", currency),
        amount: eur(100_000),
        rate: (currency == Currency::USD).then(|| eur_usd("1.0925")),
    });
    pledge
}

fn release(remaining: Option<Money>) -> PledgeCommand {
    PledgeCommand::ReleaseAllocation {
        allocation_id: allocation_id(1),
        reason: "unspent balance".into(),
        remaining,
    }
}

fn released(events: &[PledgeEvent]) -> Vec<(Money, Money)> {
    events
        .iter()
        .filter_map(|e| match e {
            PledgeEvent::AllocationReleased {
                amount,
                reporting_amount,
                ..
            } => Some((*amount, *reporting_amount)),
            _ => None,
        })
        .collect()
}

#[test]
fn the_pledge_takes_back_each_part_at_the_allocations_booked_value() {
    let mut pledge = allocated(Currency::EUR);
    let before = pledge.state.unallocated().unwrap();
    let first = pledge.run(release(Some(eur(70_000))));
    assert_eq!(released(&first), vec![(eur(30_000), usd(32_550))]);
    assert_eq!(
        pledge.state.unallocated().unwrap(),
        before.checked_add(eur(30_000)).unwrap()
    );
    // The same return delivered again takes nothing more.
    assert_eq!(pledge.run(release(Some(eur(70_000)))), vec![]);
    let rest = pledge.run(release(Some(eur(0))));
    assert_eq!(released(&rest), vec![(eur(70_000), usd(75_950))]);
    assert!(pledge.state.allocations()[&allocation_id(1)].released);
    assert_eq!(pledge.state.unallocated().unwrap(), eur(1_000_000));
    // All of the receipt's value is back on the unallocated money.
    assert_eq!(pledge.state.unallocated_reporting(), Some(usd(1_085_000)));
    let receipt = &pledge.state.receipts()[&receipt_id(1)];
    assert_eq!(receipt.unallocated, eur(1_000_000));
    assert_eq!(receipt.unallocated_reporting, usd(1_085_000));
    // Nothing is left to take back; an old-style whole release is refused as before.
    assert_eq!(pledge.run(release(Some(eur(0)))), vec![]);
    assert_eq!(
        pledge.refusal(release(None)),
        Reason::AllocationAlreadyReleased
    );
    pledge.assert_refolds();
}

#[test]
fn a_part_returned_in_the_projects_currency_is_taken_back_in_proportion() {
    // 1 000.00 EUR became 1 092.50 USD on the project.
    let mut pledge = allocated(Currency::USD);
    let first = pledge.run(release(Some(usd(72_833))));
    // A third of 1 092.50 USD: a third of the allocation and of its booked value.
    assert_eq!(released(&first), vec![(eur(33_334), usd(36_167))]);
    let rest = pledge.run(release(None));
    assert_eq!(released(&rest), vec![(eur(66_666), usd(72_333))]);
    assert_eq!(pledge.state.unallocated().unwrap(), eur(1_000_000));
    assert_eq!(pledge.state.unallocated_reporting(), Some(usd(1_085_000)));
}

#[test]
fn the_account_cannot_keep_more_than_the_allocation() {
    let pledge = allocated(Currency::USD);
    assert!(
        pledge
            .invalid(release(Some(usd(109_251))))
            .contains("remaining")
    );
    assert!(pledge.invalid(release(Some(eur(1)))).contains("remaining"));
}

// --- money is conserved on the account ---------------------------------------------------

#[derive(Debug, Clone)]
enum Op {
    Credit { n: u8, amount: i64 },
    Request { n: u8, amount: i64 },
    Approve { n: u8 },
    Reject { n: u8 },
    Pay { n: u8 },
    Reverse { n: u8 },
    Refund { n: u8, amount: i64 },
    Return { n: u8, amount: Option<i64> },
    Close,
}

fn op() -> impl Strategy<Value = Op> {
    let amount = prop_oneof![8 => 1_i64..60_000, 1 => -2_i64..=0];
    prop_oneof![
        3 => (0_u8..4, amount.clone()).prop_map(|(n, amount)| Op::Credit { n, amount }),
        3 => (0_u8..4, amount.clone()).prop_map(|(n, amount)| Op::Request { n, amount }),
        3 => (0_u8..4).prop_map(|n| Op::Approve { n }),
        1 => (0_u8..4).prop_map(|n| Op::Reject { n }),
        3 => (0_u8..4).prop_map(|n| Op::Pay { n }),
        1 => (0_u8..4).prop_map(|n| Op::Reverse { n }),
        2 => (0_u8..4, amount.clone()).prop_map(|(n, amount)| Op::Refund { n, amount }),
        4 => (0_u8..4, proptest::option::weighted(0.7, amount))
            .prop_map(|(n, amount)| Op::Return { n, amount }),
        1 => Just(Op::Close),
    ]
}

fn command(op: &Op) -> AccountCommand {
    match *op {
        Op::Credit { n, amount } => credit(
            u128::from(n),
            eur(amount),
            usd(amount.saturating_mul(1_085) / 1_000),
        ),
        Op::Request { n, amount } => request(u128::from(n), eur(amount)),
        Op::Approve { n } => approve(u128::from(n)),
        Op::Reject { n } => AccountCommand::Reject {
            disbursement_id: disbursement_id(u128::from(n)),
            reason: "no".into(),
            rejected_by: actor("bob@itf.si"),
        },
        Op::Pay { n } => pay(u128::from(n)),
        Op::Reverse { n } => AccountCommand::Reverse {
            disbursement_id: disbursement_id(u128::from(n)),
            reason: "bank returned it".into(),
        },
        Op::Refund { n, amount } => AccountCommand::Refund {
            disbursement_id: disbursement_id(u128::from(n)),
            amount: eur(amount),
            refunded_on: day(2024, 8, 1),
            reason: "unspent".into(),
        },
        Op::Return { n, amount } => give_back(u128::from(n), amount.map(eur)),
        Op::Close => close(),
    }
}

/// The account's money, kept from its events alone.
#[derive(Debug, Default)]
struct Book {
    credited: i64,
    returned: i64,
    paid: i64,
    refunded: i64,
    reversed: i64,
    /// Pending and approved requests: what they hold.
    held: BTreeMap<String, i64>,
    credits: BTreeMap<AllocationId, (i64, i64, i64, i64)>,
    closed: bool,
}

impl Book {
    fn record(&mut self, event: &AccountEvent) -> Result<(), TestCaseError> {
        match event {
            AccountEvent::Credited {
                allocation_id,
                amount,
                reporting_amount,
                ..
            } => {
                self.credited += amount.minor_units();
                self.credits.insert(
                    *allocation_id,
                    (amount.minor_units(), reporting_amount.minor_units(), 0, 0),
                );
            }
            AccountEvent::AllocationReturned {
                allocation_id,
                amount,
                reporting_amount,
                remaining,
                ..
            } => {
                prop_assert!(amount.is_positive(), "returned {amount}");
                self.returned += amount.minor_units();
                let credit = self.credits.get_mut(allocation_id);
                prop_assert!(credit.is_some(), "returned an allocation never credited");
                let Some((whole, value, back, value_back)) = credit else {
                    return Ok(());
                };
                *back += amount.minor_units();
                *value_back += reporting_amount.minor_units();
                prop_assert!(
                    *back <= *whole,
                    "returned {back} of an allocation of {whole}"
                );
                prop_assert!(
                    *value_back <= *value,
                    "returned more value than was credited"
                );
                prop_assert_eq!(remaining.map(|r| r.minor_units()), Some(*whole - *back));
                if *back == *whole {
                    prop_assert_eq!(*value_back, *value, "the parts add up to the value");
                }
            }
            AccountEvent::Closed { .. } => self.closed = true,
            AccountEvent::DisbursementRequested {
                disbursement_id,
                amount,
                ..
            } => {
                prop_assert!(!self.closed, "a request on a closed account");
                self.held
                    .insert(disbursement_id.to_string(), amount.minor_units());
            }
            AccountEvent::DisbursementRejected {
                disbursement_id, ..
            } => {
                self.held.remove(&disbursement_id.to_string());
            }
            AccountEvent::DisbursementPaid {
                disbursement_id,
                amount,
                ..
            } => {
                self.held.remove(&disbursement_id.to_string());
                self.paid += amount.minor_units();
            }
            AccountEvent::DisbursementReversed { amount, .. } => {
                self.reversed += amount.minor_units();
            }
            AccountEvent::DisbursementRefunded { amount, .. } => {
                self.refunded += amount.minor_units();
            }
            AccountEvent::TrancheUnlocked { .. } | AccountEvent::DisbursementApproved { .. } => {}
        }
        Ok(())
    }

    fn check(&self, account: &ProjectAccount) -> Result<(), TestCaseError> {
        let available = account.available().map_or(0, |a| a.minor_units());
        let held: i64 = self.held.values().sum();
        prop_assert!(available >= 0, "overdrawn: {available}");
        // Credited = available + held + paid − refunded + returned (reversed payments count
        // as not paid).
        prop_assert_eq!(
            self.credited,
            available + held + (self.paid - self.reversed) - self.refunded + self.returned
        );
        prop_assert_eq!(
            account.returned().map_or(0, |r| r.minor_units()),
            self.returned
        );
        if self.closed {
            prop_assert!(held == 0, "a closed account holds requests");
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn money_is_conserved_and_no_allocation_is_returned_beyond_its_amount(
        ops in proptest::collection::vec(op(), 1..80)
    ) {
        let mut account = ProjectAccount::default();
        let mut history = Vec::new();
        let mut book = Book::default();
        for op in &ops {
            let closing = matches!(op, Op::Close) && !account.is_closed();
            let available = account.available();
            if let Ok(events) = account.decide(command(op)) {
                for event in &events {
                    account.evolve(event);
                    book.record(event)?;
                }
                if closing {
                    // The close gave back everything that was available.
                    let total: i64 = returned(&events).iter().map(|r| r.0.minor_units()).sum();
                    prop_assert_eq!(Some(total), available.map(|a| a.minor_units()));
                    prop_assert_eq!(account.available().map(|a| a.minor_units()), Some(0).filter(|_| available.is_some()));
                }
                history.extend(events);
            }
            book.check(&account)?;
        }
        prop_assert_eq!(ProjectAccount::fold(&history), account);
    }
}
