//! Matching pools: open, reserve, fund, confirm first-reserved-first, void.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

mod common;

use chrono::NaiveDate;
use common::{
    Ledger, country, day, eur, netherlands, pledge_id, pool_id, private_donor, receipt_id,
    united_states, usd,
};
use fundtrail_domain::matching::MatchStatus;
use fundtrail_domain::{
    CountryCode, DonorProfile, MatchRatio, MatchingCommand, MatchingEvent, MatchingPool, Money,
    Reason,
};

/// 1 000.00 USD.
const CAP: i64 = 100_000;

fn expiry() -> NaiveDate {
    day(2025, 12, 31)
}

fn open_with(cap: Money, ratio: MatchRatio, countries: &[&str]) -> MatchingCommand {
    MatchingCommand::Open {
        pool_id: pool_id(1),
        matching_donor: united_states(),
        cap,
        ratio,
        eligible_countries: countries.iter().map(|c| country(c)).collect(),
        expires_on: expiry(),
        starts_on: None,
    }
}

/// The United States match 1:1 up to 1 000.00 USD for Bosnia and Ukraine until 2025.
fn pool_with(ratio: MatchRatio) -> Ledger<MatchingPool> {
    let mut pool = Ledger::new();
    pool.run(open_with(usd(CAP), ratio, &["UA", "BA"]));
    pool
}

fn pool() -> Ledger<MatchingPool> {
    pool_with(MatchRatio::ONE_TO_ONE)
}

fn reserve_full(
    n: u128,
    donor: DonorProfile,
    country: Option<CountryCode>,
    contribution: Money,
    value_date: NaiveDate,
    amount: Option<Money>,
) -> MatchingCommand {
    MatchingCommand::Reserve {
        receipt_id: receipt_id(n),
        contributing_donor: donor,
        pledge_id: pledge_id(n),
        country,
        contribution,
        value_date,
        amount,
    }
}

/// The Netherlands contribute `contribution` for Bosnia; the full match is asked for.
fn reserve(n: u128, contribution: Money) -> MatchingCommand {
    reserve_full(
        n,
        netherlands(),
        Some(country("BA")),
        contribution,
        day(2024, 6, 1),
        None,
    )
}

fn reserve_exactly(n: u128, contribution: Money, amount: Money) -> MatchingCommand {
    reserve_full(
        n,
        netherlands(),
        Some(country("BA")),
        contribution,
        day(2024, 6, 1),
        Some(amount),
    )
}

fn fund(n: u128, amount: Money) -> MatchingCommand {
    MatchingCommand::RecordFunds {
        matching_pledge_id: pledge_id(1000),
        matching_receipt_id: receipt_id(1000 + n),
        amount,
        value_date: day(2024, 6, 1),
        country: None,
    }
}

fn void(n: u128) -> MatchingCommand {
    MatchingCommand::Void {
        receipt_id: receipt_id(n),
        reason: "the contribution was returned to the donor".into(),
    }
}

/// The receipts whose matches the events confirm, in order.
fn confirmed(events: &[MatchingEvent]) -> Vec<u128> {
    events
        .iter()
        .filter_map(|e| match e {
            MatchingEvent::MatchConfirmed { receipt_id: id, .. } => {
                (0..100).find(|n| receipt_id(*n) == *id)
            }
            _ => None,
        })
        .collect()
}

fn status(pool: &Ledger<MatchingPool>, n: u128) -> MatchStatus {
    pool.state.matches()[&receipt_id(n)].status
}

// --- open ------------------------------------------------------------------------------------

#[test]
fn open_records_the_terms_with_countries_sorted_once() {
    let mut pool = Ledger::<MatchingPool>::new();
    let events = pool.run(open_with(
        usd(CAP),
        MatchRatio::ONE_TO_ONE,
        &["UA", "BA", "UA"],
    ));
    assert_eq!(
        events,
        vec![MatchingEvent::Opened {
            pool_id: pool_id(1),
            matching_donor_id: united_states().donor_id,
            cap: usd(CAP),
            ratio: MatchRatio::ONE_TO_ONE,
            eligible_countries: vec![country("BA"), country("UA")],
            expires_on: expiry(),
            starts_on: None,
        }]
    );
    assert_eq!(pool.state.remaining(), Some(usd(CAP)));
    assert_eq!(pool.state.reserved(), Some(usd(0)));
    assert_eq!(pool.state.confirmed(), Some(usd(0)));
    assert_eq!(pool.state.funds(), Some(usd(0)));
}

#[test]
fn open_needs_an_eligible_country_and_a_positive_cap() {
    let pool = Ledger::<MatchingPool>::new();
    assert_eq!(
        pool.invalid(open_with(usd(CAP), MatchRatio::ONE_TO_ONE, &[])),
        "eligible_countries"
    );
    assert_eq!(
        pool.invalid(open_with(usd(0), MatchRatio::ONE_TO_ONE, &["BA"])),
        "cap"
    );
}

#[test]
fn open_twice_is_refused() {
    let pool = pool();
    assert_eq!(
        pool.refusal(open_with(usd(CAP), MatchRatio::ONE_TO_ONE, &["BA"])),
        Reason::MatchingPoolAlreadyOpened
    );
}

#[test]
fn ratios_are_whole_numbers_from_one_to_a_hundred() {
    assert!(MatchRatio::new(1, 1).is_ok());
    assert!(MatchRatio::new(100, 1).is_ok());
    for (n, d) in [(0, 1), (1, 0), (101, 1), (1, 101)] {
        assert_eq!(
            MatchRatio::new(n, d).unwrap_err().reason_code(),
            "INVALID_ARGUMENT"
        );
    }
}

#[test]
fn commands_on_an_unopened_pool_are_not_found() {
    let pool = Ledger::<MatchingPool>::new();
    for command in [reserve(1, usd(100)), fund(1, usd(100)), void(1)] {
        assert_eq!(pool.refusal(command), Reason::MatchingPoolNotFound);
    }
}

// --- reserve ---------------------------------------------------------------------------------

#[test]
fn the_matching_donor_is_not_matched() {
    let pool = pool();
    let own = reserve_full(
        1,
        united_states(),
        Some(country("BA")),
        usd(100),
        day(2024, 6, 1),
        None,
    );
    assert_eq!(pool.refusal(own), Reason::SelfMatch);
}

#[test]
fn a_donor_that_is_not_matching_eligible_is_not_matched() {
    let pool = pool();
    let command = reserve_full(
        1,
        private_donor(),
        Some(country("BA")),
        usd(100),
        day(2024, 6, 1),
        None,
    );
    assert_eq!(pool.refusal(command), Reason::DonorNotMatchingEligible);
}

#[test]
fn contributions_for_other_countries_or_none_are_not_matched() {
    let pool = pool();
    let croatia = reserve_full(
        1,
        netherlands(),
        Some(country("HR")),
        usd(100),
        day(2024, 6, 1),
        None,
    );
    assert_eq!(pool.refusal(croatia), Reason::CountryNotEligible);
    let nowhere = reserve_full(1, netherlands(), None, usd(100), day(2024, 6, 1), None);
    assert_eq!(pool.refusal(nowhere), Reason::CountryNotEligible);
}

#[test]
fn contributions_after_the_expiry_are_not_matched() {
    let mut pool = pool();
    let late = reserve_full(
        1,
        netherlands(),
        Some(country("UA")),
        usd(100),
        day(2026, 1, 1),
        None,
    );
    assert_eq!(pool.refusal(late), Reason::MatchingPoolExpired);
    // The expiry day itself is still matched.
    pool.run(reserve_full(
        1,
        netherlands(),
        Some(country("UA")),
        usd(100),
        expiry(),
        None,
    ));
}

#[test]
fn contributions_in_another_currency_are_refused() {
    let pool = pool();
    assert_eq!(pool.refusal(reserve(1, eur(100))), Reason::CurrencyMismatch);
    assert_eq!(pool.invalid(reserve(1, usd(0))), "contribution");
}

#[test]
fn a_full_match_is_reserved_at_the_ratio() {
    let mut pool = pool();
    let events = pool.run(reserve(1, usd(30_000)));
    assert_eq!(
        events,
        vec![MatchingEvent::MatchReserved {
            pool_id: pool_id(1),
            matching_donor_id: united_states().donor_id,
            receipt_id: receipt_id(1),
            contributing_donor_id: netherlands().donor_id,
            pledge_id: pledge_id(1),
            country: country("BA"),
            contribution: usd(30_000),
            amount: usd(30_000),
            partial: false,
        }]
    );
    assert_eq!(pool.state.reserved(), Some(usd(30_000)));
    assert_eq!(pool.state.remaining(), Some(usd(70_000)));

    let mut half = pool_with(MatchRatio::new(1, 2).unwrap());
    let events = half.run(reserve(1, usd(30_001)));
    // 300.01 × 1/2 = 150.005 → 150.00 (half to even).
    assert!(matches!(
        events.as_slice(),
        [MatchingEvent::MatchReserved { amount, partial: false, .. }] if *amount == usd(15_000)
    ));
}

#[test]
fn a_match_beyond_the_cap_is_cut_to_what_is_left() {
    let mut pool = pool();
    pool.run(reserve(1, usd(80_000)));
    let events = pool.run(reserve(2, usd(30_000)));
    assert!(matches!(
        events.as_slice(),
        [MatchingEvent::MatchReserved { amount, contribution, partial: true, .. }]
            if *amount == usd(20_000) && *contribution == usd(30_000)
    ));
    assert_eq!(pool.state.remaining(), Some(usd(0)));
}

#[test]
fn an_exhausted_cap_matches_nothing_more() {
    let mut pool = pool();
    pool.run(reserve(1, usd(CAP)));
    assert_eq!(
        pool.refusal(reserve(2, usd(1))),
        Reason::MatchingCapExceeded
    );
    assert_eq!(
        pool.refusal(reserve_exactly(2, usd(100), usd(1))),
        Reason::MatchingCapExceeded
    );
}

#[test]
fn an_explicit_amount_is_refused_rather_than_cut() {
    let mut pool = pool();
    pool.run(reserve(1, usd(80_000)));
    assert_eq!(
        pool.refusal(reserve_exactly(2, usd(30_000), usd(20_001))),
        Reason::MatchingCapExceeded
    );
    // More than the full match is malformed; less is a partial match.
    assert_eq!(
        pool.invalid(reserve_exactly(2, usd(10_000), usd(10_001))),
        "amount"
    );
    assert_eq!(
        pool.invalid(reserve_exactly(2, usd(10_000), usd(0))),
        "amount"
    );
    let events = pool.run(reserve_exactly(2, usd(30_000), usd(20_000)));
    assert!(matches!(
        events.as_slice(),
        [MatchingEvent::MatchReserved { amount, partial: true, .. }] if *amount == usd(20_000)
    ));
}

#[test]
fn an_explicit_full_amount_is_not_partial() {
    let mut pool = pool();
    let events = pool.run(reserve_exactly(1, usd(10_000), usd(10_000)));
    assert!(matches!(
        events.as_slice(),
        [MatchingEvent::MatchReserved { partial: false, .. }]
    ));
}

#[test]
fn a_receipt_is_matched_once() {
    let mut pool = pool();
    pool.run(reserve(1, usd(100)));
    assert_eq!(
        pool.refusal(reserve(1, usd(100))),
        Reason::MatchAlreadyReserved
    );
}

// --- funds and confirmations -----------------------------------------------------------------

#[test]
fn funds_confirm_reserved_matches_first_reserved_first_and_whole() {
    let mut pool = pool();
    let first_version = pool.next_version();
    pool.run(reserve(1, usd(30_000)));
    pool.run(reserve(2, usd(20_000)));

    // 250.00 covers only part of the first match (300.00): nothing is confirmed, even though
    // it would cover the second one.
    let events = pool.run(fund(1, usd(25_000)));
    assert_eq!(events.len(), 1);
    assert!(matches!(events[0], MatchingEvent::FundsReceived { .. }));
    assert_eq!(status(&pool, 1), MatchStatus::Reserved);
    assert_eq!(status(&pool, 2), MatchStatus::Reserved);

    // 350.00 now: the first match is confirmed whole, 50.00 is left for the second (200.00).
    let events = pool.run(fund(2, usd(10_000)));
    assert_eq!(confirmed(&events), vec![1]);
    assert!(matches!(
        &events[1],
        MatchingEvent::MatchConfirmed { amount, corrects_version, country: c, .. }
            if *amount == usd(30_000) && *corrects_version == first_version && *c == country("BA")
    ));
    assert_eq!(status(&pool, 2), MatchStatus::Reserved);
    assert_eq!(pool.state.confirmed(), Some(usd(30_000)));
    assert_eq!(pool.state.reserved(), Some(usd(20_000)));

    let events = pool.run(fund(3, usd(15_000)));
    assert_eq!(confirmed(&events), vec![2]);
    assert_eq!(pool.state.confirmed(), Some(usd(50_000)));
    assert_eq!(pool.state.reserved(), Some(usd(0)));
    assert_eq!(pool.state.funds(), Some(usd(50_000)));
}

#[test]
fn one_funding_confirms_as_many_matches_as_it_covers() {
    let mut pool = pool();
    pool.run(reserve(1, usd(10_000)));
    pool.run(reserve(2, usd(20_000)));
    pool.run(reserve(3, usd(30_000)));
    let events = pool.run(fund(1, usd(35_000)));
    assert_eq!(confirmed(&events), vec![1, 2]);
    assert_eq!(status(&pool, 3), MatchStatus::Reserved);
}

#[test]
fn a_reservation_is_confirmed_at_once_when_unapplied_funds_cover_it() {
    let mut pool = pool();
    pool.run(fund(1, usd(50_000)));
    let events = pool.run(reserve(1, usd(30_000)));
    assert!(matches!(events[0], MatchingEvent::MatchReserved { .. }));
    assert_eq!(confirmed(&events), vec![1]);
    assert_eq!(pool.state.confirmed(), Some(usd(30_000)));
    // 200.00 unapplied: a 300.00 match waits.
    let events = pool.run(reserve(2, usd(30_000)));
    assert_eq!(confirmed(&events), Vec::<u128>::new());
    // And a later, smaller match does not jump the queue.
    let events = pool.run(reserve(3, usd(5_000)));
    assert_eq!(confirmed(&events), Vec::<u128>::new());
}

#[test]
fn a_funding_receipt_is_recorded_once() {
    let mut pool = pool();
    pool.run(fund(1, usd(50_000)));
    assert_eq!(pool.run(fund(1, usd(50_000))), vec![]);
    assert_eq!(pool.state.funds(), Some(usd(50_000)));
}

#[test]
fn funds_are_in_the_pool_currency_and_positive() {
    let pool = pool();
    assert_eq!(pool.refusal(fund(1, eur(100))), Reason::CurrencyMismatch);
    assert_eq!(pool.invalid(fund(1, usd(0))), "amount");
}

// --- void ------------------------------------------------------------------------------------

#[test]
fn voiding_a_reserved_match_frees_its_room_under_the_cap() {
    let mut pool = pool();
    let reserved_at = pool.next_version();
    pool.run(reserve(1, usd(CAP)));
    assert_eq!(pool.state.remaining(), Some(usd(0)));
    let events = pool.run(void(1));
    assert_eq!(
        events,
        vec![MatchingEvent::MatchVoided {
            pool_id: pool_id(1),
            matching_donor_id: united_states().donor_id,
            receipt_id: receipt_id(1),
            contributing_donor_id: netherlands().donor_id,
            country: country("BA"),
            amount: usd(CAP),
            reason: "the contribution was returned to the donor".into(),
            corrects_version: reserved_at,
        }]
    );
    assert_eq!(pool.state.remaining(), Some(usd(CAP)));
    assert_eq!(status(&pool, 1), MatchStatus::Voided);
    pool.run(reserve(2, usd(CAP)));
}

#[test]
fn a_confirmed_or_voided_match_cannot_be_voided() {
    let mut pool = pool();
    pool.run(fund(1, usd(10_000)));
    pool.run(reserve(1, usd(10_000)));
    assert_eq!(status(&pool, 1), MatchStatus::Confirmed);
    assert_eq!(pool.refusal(void(1)), Reason::MatchNotReserved);
    pool.run(reserve(2, usd(10_000)));
    pool.run(void(2));
    assert_eq!(pool.refusal(void(2)), Reason::MatchNotReserved);
    assert_eq!(pool.refusal(void(3)), Reason::MatchNotFound);
}

#[test]
fn voiding_the_first_pending_match_lets_the_next_be_confirmed() {
    let mut pool = pool();
    pool.run(reserve(1, usd(30_000)));
    pool.run(reserve(2, usd(20_000)));
    pool.run(fund(1, usd(25_000)));
    let events = pool.run(void(1));
    assert!(matches!(events[0], MatchingEvent::MatchVoided { .. }));
    assert_eq!(confirmed(&events), vec![2]);
    assert_eq!(pool.state.confirmed(), Some(usd(20_000)));
    assert_eq!(pool.state.reserved(), Some(usd(0)));
}

#[test]
fn a_void_needs_a_reason() {
    let mut pool = pool();
    pool.run(reserve(1, usd(100)));
    assert_eq!(
        pool.invalid(MatchingCommand::Void {
            receipt_id: receipt_id(1),
            reason: String::new(),
        }),
        "reason"
    );
}

#[test]
fn the_history_refolds_to_the_same_pool() {
    let mut pool = pool();
    pool.run(reserve(1, usd(30_000)));
    pool.run(reserve(2, usd(20_000)));
    pool.run(fund(1, usd(25_000)));
    pool.run(void(1));
    pool.run(reserve(3, usd(90_000)));
    pool.run(fund(2, usd(100_000)));
    pool.assert_refolds();
    assert_eq!(
        MatchingPool::stream(&pool_id(1)),
        format!("matching-{}", pool_id(1))
    );
}

// --- periods, funding receipts, matches by decision ------------------------------------------

/// A pool of the United States for Bosnia and Ukraine over 2026 alone.
fn pool_2026() -> Ledger<MatchingPool> {
    let mut pool = Ledger::new();
    pool.run(MatchingCommand::Open {
        pool_id: pool_id(2),
        matching_donor: united_states(),
        cap: usd(CAP),
        ratio: MatchRatio::ONE_TO_ONE,
        eligible_countries: vec![country("BA"), country("UA")],
        expires_on: day(2026, 12, 31),
        starts_on: Some(day(2026, 1, 1)),
    });
    pool
}

fn fund_on(
    n: u128,
    amount: Money,
    value_date: NaiveDate,
    country: Option<CountryCode>,
) -> MatchingCommand {
    MatchingCommand::RecordFunds {
        matching_pledge_id: pledge_id(2000),
        matching_receipt_id: receipt_id(1000 + n),
        amount,
        value_date,
        country,
    }
}

fn match_unearmarked(
    n: u128,
    country: Option<CountryCode>,
    contribution: Money,
    value_date: NaiveDate,
) -> MatchingCommand {
    MatchingCommand::MatchContribution {
        receipt_id: receipt_id(n),
        contributing_donor: netherlands(),
        pledge_id: pledge_id(n),
        country,
        contribution,
        value_date,
    }
}

#[test]
fn a_period_starts_on_or_before_it_expires() {
    let mut pool = Ledger::<MatchingPool>::new();
    let field = pool.invalid(MatchingCommand::Open {
        pool_id: pool_id(2),
        matching_donor: united_states(),
        cap: usd(CAP),
        ratio: MatchRatio::ONE_TO_ONE,
        eligible_countries: vec![country("BA")],
        expires_on: day(2026, 1, 1),
        starts_on: Some(day(2026, 1, 2)),
    });
    assert_eq!(field, "starts_on");
    let events = pool.run(MatchingCommand::Open {
        pool_id: pool_id(2),
        matching_donor: united_states(),
        cap: usd(CAP),
        ratio: MatchRatio::ONE_TO_ONE,
        eligible_countries: vec![country("BA")],
        expires_on: day(2026, 1, 1),
        starts_on: Some(day(2026, 1, 1)),
    });
    assert!(matches!(
        &events[..],
        [MatchingEvent::Opened { starts_on: Some(d), .. }] if *d == day(2026, 1, 1)
    ));
    assert_eq!(pool.state.starts_on(), Some(day(2026, 1, 1)));
}

#[test]
fn a_contribution_before_the_period_is_not_matched() {
    let pool = pool_2026();
    let before = reserve_full(
        1,
        netherlands(),
        Some(country("BA")),
        usd(100),
        day(2025, 12, 31),
        None,
    );
    assert_eq!(pool.refusal(before), Reason::MatchingPoolNotStarted);
    let after = reserve_full(
        1,
        netherlands(),
        Some(country("BA")),
        usd(100),
        day(2027, 1, 1),
        None,
    );
    assert_eq!(pool.refusal(after), Reason::MatchingPoolExpired);
}

#[test]
fn funds_outside_the_period_or_countries_are_not_the_pools() {
    let mut pool = pool_2026();
    assert_eq!(
        pool.refusal(fund_on(1, usd(100), day(2025, 6, 1), None)),
        Reason::MatchingPoolNotStarted
    );
    assert_eq!(
        pool.refusal(fund_on(1, usd(100), day(2027, 1, 1), None)),
        Reason::MatchingPoolExpired
    );
    assert_eq!(
        pool.refusal(fund_on(1, usd(100), day(2026, 6, 1), Some(country("HR")))),
        Reason::CountryNotEligible
    );
    // Unearmarked, or earmarked for a country the pool matches: the pool's funds.
    pool.run(fund_on(1, usd(100), day(2026, 6, 1), None));
    pool.run(fund_on(2, usd(100), day(2026, 6, 1), Some(country("UA"))));
    assert_eq!(pool.state.funds(), Some(usd(200)));
    assert!(pool.state.takes_funds(day(2026, 1, 1), None).is_ok());
    assert!(pool.state.takes_funds(day(2026, 12, 31), None).is_ok());
}

#[test]
fn a_confirmation_names_the_funding_receipt_that_completed_it() {
    let mut pool = pool();
    pool.run(reserve(1, usd(30_000)));
    pool.run(reserve(2, usd(10_000)));
    // 200.00 then 200.00: the first match (300.00) is completed by the second receipt, the
    // second match (100.00) by the second receipt too.
    assert!(confirmed(&pool.run(fund(1, usd(20_000)))).is_empty());
    let events = pool.run(fund(2, usd(20_000)));
    let named: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            MatchingEvent::MatchConfirmed {
                funding_pledge_id,
                funding_receipt_id,
                ..
            } => Some((*funding_pledge_id, *funding_receipt_id)),
            _ => None,
        })
        .collect();
    assert_eq!(
        named,
        vec![
            (Some(pledge_id(1000)), Some(receipt_id(1002))),
            (Some(pledge_id(1000)), Some(receipt_id(1002)))
        ]
    );
    let m = &pool.state.matches()[&receipt_id(1)];
    assert_eq!(m.funding_receipt_id, Some(receipt_id(1002)));
    // A reservation confirmed at once by funds already there names the receipt they came from.
    pool.run(fund(3, usd(5_000)));
    let events = pool.run(reserve(3, usd(5_000)));
    assert!(events.iter().any(|e| matches!(
        e,
        MatchingEvent::MatchConfirmed { funding_receipt_id: Some(id), .. } if *id == receipt_id(1003)
    )));
    let funding = pool.state.funding();
    let applied: Vec<_> = funding.iter().map(|f| f.applied).collect();
    assert_eq!(applied, vec![usd(20_000), usd(20_000), usd(5_000)]);
    pool.assert_refolds();
}

#[test]
fn funds_apply_first_received_first() {
    let mut pool = pool();
    pool.run(fund(1, usd(10_000)));
    pool.run(fund(2, usd(10_000)));
    pool.run(reserve(1, usd(5_000)));
    pool.run(reserve(2, usd(10_000)));
    let funding = pool.state.funding();
    assert_eq!(funding[0].applied, usd(10_000));
    assert_eq!(funding[1].applied, usd(5_000));
    assert_eq!(
        pool.state.matches()[&receipt_id(1)].funding_receipt_id,
        Some(receipt_id(1001))
    );
    assert_eq!(
        pool.state.matches()[&receipt_id(2)].funding_receipt_id,
        Some(receipt_id(1002))
    );
}

#[test]
fn an_unearmarked_contribution_is_matched_by_decision_for_a_named_country() {
    let mut pool = pool();
    // The pool matches two countries: the decision names one.
    assert_eq!(
        pool.invalid(match_unearmarked(1, None, usd(100), day(2024, 6, 1))),
        "country"
    );
    assert_eq!(
        pool.refusal(match_unearmarked(
            1,
            Some(country("HR")),
            usd(100),
            day(2024, 6, 1)
        )),
        Reason::CountryNotEligible
    );
    let events = pool.run(match_unearmarked(
        1,
        Some(country("UA")),
        usd(100),
        day(2024, 6, 1),
    ));
    assert!(matches!(
        &events[..],
        [MatchingEvent::MatchReserved { country: c, amount, .. }]
            if *c == country("UA") && *amount == usd(100)
    ));
    assert_eq!(
        pool.refusal(match_unearmarked(
            1,
            Some(country("UA")),
            usd(100),
            day(2024, 6, 1)
        )),
        Reason::MatchAlreadyReserved
    );
}

#[test]
fn a_pool_of_one_country_matches_an_unearmarked_contribution_for_it() {
    let mut pool = Ledger::<MatchingPool>::new();
    pool.run(open_with(usd(CAP), MatchRatio::ONE_TO_ONE, &["BA"]));
    let events = pool.run(match_unearmarked(1, None, usd(100), day(2024, 6, 1)));
    assert!(matches!(
        &events[..],
        [MatchingEvent::MatchReserved { country: c, .. }] if *c == country("BA")
    ));
}

#[test]
fn a_match_by_decision_keeps_to_the_period_and_the_cap() {
    let mut pool = pool_2026();
    assert_eq!(
        pool.refusal(match_unearmarked(
            1,
            Some(country("BA")),
            usd(100),
            day(2025, 6, 1)
        )),
        Reason::MatchingPoolNotStarted
    );
    // Cut to what is left under the cap, then refused once none is left.
    let events = pool.run(match_unearmarked(
        1,
        Some(country("BA")),
        usd(CAP + 1),
        day(2026, 6, 1),
    ));
    assert!(matches!(
        &events[..],
        [MatchingEvent::MatchReserved { amount, partial: true, .. }] if *amount == usd(CAP)
    ));
    assert_eq!(
        pool.refusal(match_unearmarked(
            2,
            Some(country("BA")),
            usd(100),
            day(2026, 6, 1)
        )),
        Reason::MatchingCapExceeded
    );
    // The matching donor's own money is never matched.
    let own = MatchingCommand::MatchContribution {
        receipt_id: receipt_id(3),
        contributing_donor: united_states(),
        pledge_id: pledge_id(3),
        country: Some(country("BA")),
        contribution: usd(100),
        value_date: day(2026, 6, 1),
    };
    assert_eq!(pool.refusal(own), Reason::SelfMatch);
}
