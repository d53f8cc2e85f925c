//! The pledges service's process managers: receipts reserve and fund matches in the pools
//! that cover them, returned allocations go back to their pledges, each effect once however
//! often the event arrives.

mod common;

use common::{DONOR, Fund, INELIGIBLE, MATCHER, Receipt, country, eventually, fund, usd};
use fundtrail_domain::Reason;
use fundtrail_pledges::{MatchingReaction, ReleaseReaction};
use fundtrail_proto::v1;
use fundtrail_service::reaction::Reaction;
use fundtrail_service::{Handled, ServiceError};

const MATCHING: &str = "pledges.matching";
const RELEASES: &str = "pledges.releases";

fn status(s: v1::MatchStatus) -> i32 {
    s.into()
}

/// The pool's match for a receipt, if it reserved one.
fn match_of<'a>(pool: &'a v1::MatchingPoolView, receipt: &Receipt) -> Option<&'a v1::MatchView> {
    pool.matches.iter().find(|m| m.receipt_id == receipt.id)
}

impl Fund {
    /// Waits until the pool holds `count` matches, and returns it.
    async fn pool_with_matches(&self, pool_id: &str, count: usize) -> v1::MatchingPoolView {
        eventually(&format!("{count} matches in pool {pool_id}"), || async {
            let pool = self.pool(pool_id).await;
            (pool.matches.len() >= count).then_some(pool)
        })
        .await
    }

    /// Waits until the pool holds USD `funds` of its matching donor's money, and returns it.
    async fn pool_with_funds(&self, pool_id: &str, funds: i64) -> v1::MatchingPoolView {
        eventually(
            &format!("USD {funds} of funds in pool {pool_id}"),
            || async {
                let pool = self.pool(pool_id).await;
                (pool.funds == Some(usd(funds))).then_some(pool)
            },
        )
        .await
    }
}

#[tokio::test]
async fn reactions_are_named_for_their_cursors_and_only_matching_needs_position_order() {
    let f = fund().await;
    assert_eq!(f.matching.name(), MATCHING);
    assert_eq!(MatchingReaction::NAME, MATCHING);
    assert_eq!(f.releases.name(), RELEASES);
    assert_eq!(ReleaseReaction::NAME, RELEASES);
    assert!(
        f.matching.in_position_order(),
        "a pool's cap goes to the receipts that came first"
    );
    assert!(
        !f.releases.in_position_order(),
        "releases commute: they need no global order"
    );
}

#[tokio::test]
async fn an_eligible_receipt_reserves_a_match_in_the_pool_that_covers_it() {
    let f = fund().await;
    let pool_id = f.open_pool(100_000_000, &["AF", "BA"], "2025-12-31").await;
    let running = f.run(f.matching.clone());
    let receipt = f
        .receipt(DONOR, Some(country("AF")), 25_000_000, "2025-03-01")
        .await;

    let pool = f.pool_with_matches(&pool_id, 1).await;
    running.stop().await;

    assert_eq!(pool.reserved, Some(usd(25_000_000)));
    assert_eq!(pool.remaining, Some(usd(75_000_000)));
    assert_eq!(pool.confirmed, Some(usd(0)));
    assert_eq!(pool.funds, Some(usd(0)));
    let reserved = match_of(&pool, &receipt).expect("the receipt's match");
    assert_eq!(reserved.contributing_donor_id, DONOR);
    assert_eq!(reserved.country, "AF");
    assert_eq!(reserved.amount, Some(usd(25_000_000)));
    assert_eq!(reserved.status, status(v1::MatchStatus::Reserved));
    assert_eq!(
        f.stream_types(&format!("matching-{pool_id}")).await,
        [
            "fundtrail.v1.MatchingPoolOpened",
            "fundtrail.v1.MatchReserved"
        ]
    );
    assert_eq!(
        f.store.load_cursor(MATCHING).await.unwrap(),
        f.head().await,
        "the cursor committed with the reservation"
    );
}

#[tokio::test]
async fn receipts_the_pool_does_not_cover_reserve_nothing() {
    let f = fund().await;
    let pool_id = f.open_pool(100_000_000, &["AF"], "2025-06-30").await;
    let running = f.run(f.matching.clone());
    let uncovered = [
        f.receipt(INELIGIBLE, Some(country("AF")), 1_000_000, "2025-03-01")
            .await,
        f.receipt(DONOR, None, 2_000_000, "2025-03-01").await,
        f.receipt(DONOR, Some(country("CO")), 3_000_000, "2025-03-01")
            .await,
        f.receipt(DONOR, Some(country("AF")), 4_000_000, "2025-07-01")
            .await,
    ];
    let last = uncovered.iter().map(|r| r.position).max().unwrap();
    f.cursor_reaches(MATCHING, last).await;

    let pool = f.pool(&pool_id).await;
    assert!(pool.matches.is_empty(), "{:?}", pool.matches);
    assert_eq!(pool.reserved, Some(usd(0)));
    assert_eq!(pool.remaining, Some(usd(100_000_000)));
    assert_eq!(
        f.stream_types(&format!("matching-{pool_id}")).await,
        ["fundtrail.v1.MatchingPoolOpened"]
    );

    // On the expiry day itself a receipt is still matched: the reaction is alive and the
    // pool's last day counts.
    let on_expiry = f
        .receipt(DONOR, Some(country("AF")), 5_000_000, "2025-06-30")
        .await;
    let pool = f.pool_with_matches(&pool_id, 1).await;
    running.stop().await;
    assert!(match_of(&pool, &on_expiry).is_some(), "{:?}", pool.matches);
    assert_eq!(pool.reserved, Some(usd(5_000_000)));

    // Each was passed over by the policy, not refused by the pool: handled again, each is
    // skipped without an error, and nothing is written.
    let head = f.head().await;
    for receipt in &uncovered {
        let event = f.event_at(receipt.position).await;
        assert_eq!(
            f.deliver_one(&f.matching, &event).await.unwrap(),
            Handled::Skipped,
            "{receipt:?}"
        );
    }
    assert_eq!(f.head().await, head);
}

#[tokio::test]
async fn the_matching_donors_receipts_fund_its_pool_and_confirm_matches_first_reserved_first() {
    let f = fund().await;
    let pool_id = f.open_pool(100_000_000, &["AF", "BA"], "2025-12-31").await;
    let running = f.run(f.matching.clone());
    let first = f
        .receipt(DONOR, Some(country("AF")), 30_000_000, "2025-03-01")
        .await;
    let second = f
        .receipt(DONOR, Some(country("BA")), 20_000_000, "2025-03-02")
        .await;
    f.pool_with_matches(&pool_id, 2).await;

    // Enough for the first match whole, not for both: the second waits whole, never in part.
    let matcher_pledge = f.pledge(MATCHER, 50_000_000, None).await;
    f.receive(&matcher_pledge, 35_000_000, "2025-04-01").await;
    let pool = f.pool_with_funds(&pool_id, 35_000_000).await;
    assert_eq!(
        pool.matches.len(),
        2,
        "the matching donor's money is not matched"
    );
    assert_eq!(
        match_of(&pool, &first).unwrap().status,
        status(v1::MatchStatus::Confirmed)
    );
    assert_eq!(
        match_of(&pool, &second).unwrap().status,
        status(v1::MatchStatus::Reserved)
    );
    assert_eq!(pool.confirmed, Some(usd(30_000_000)));
    assert_eq!(pool.reserved, Some(usd(20_000_000)));

    f.receive(&matcher_pledge, 15_000_000, "2025-05-01").await;
    let pool = f.pool_with_funds(&pool_id, 50_000_000).await;
    running.stop().await;
    assert_eq!(
        match_of(&pool, &second).unwrap().status,
        status(v1::MatchStatus::Confirmed)
    );
    assert_eq!(pool.confirmed, Some(usd(50_000_000)));
    assert_eq!(pool.reserved, Some(usd(0)));
    assert_eq!(pool.remaining, Some(usd(50_000_000)));
    assert_eq!(
        f.stream_types(&format!("matching-{pool_id}")).await,
        [
            "fundtrail.v1.MatchingPoolOpened",
            "fundtrail.v1.MatchReserved",
            "fundtrail.v1.MatchReserved",
            "fundtrail.v1.MatchingFundsReceived",
            "fundtrail.v1.MatchConfirmed",
            "fundtrail.v1.MatchingFundsReceived",
            "fundtrail.v1.MatchConfirmed",
        ]
    );
}

#[tokio::test]
async fn contributions_beyond_the_cap_are_not_over_reserved() {
    let f = fund().await;
    let pool_id = f.open_pool(50_000_000, &["AF"], "2025-12-31").await;
    let running = f.run(f.matching.clone());
    let whole = f
        .receipt(DONOR, Some(country("AF")), 30_000_000, "2025-03-01")
        .await;
    let cut = f
        .receipt(DONOR, Some(country("AF")), 30_000_000, "2025-03-02")
        .await;
    let beyond = f
        .receipt(DONOR, Some(country("AF")), 10_000_000, "2025-03-03")
        .await;
    f.cursor_reaches(MATCHING, beyond.position).await;
    running.stop().await;

    let pool = f.pool(&pool_id).await;
    assert_eq!(
        pool.reserved,
        Some(usd(50_000_000)),
        "reserved up to the cap"
    );
    assert_eq!(pool.remaining, Some(usd(0)));
    assert_eq!(pool.matches.len(), 2, "{:?}", pool.matches);
    assert_eq!(
        match_of(&pool, &whole).unwrap().amount,
        Some(usd(30_000_000))
    );
    assert_eq!(
        match_of(&pool, &cut).unwrap().amount,
        Some(usd(20_000_000)),
        "cut to what was left under the cap"
    );
    assert!(match_of(&pool, &beyond).is_none());

    // Handled again, the receipt beyond the cap is refused by the pool, and writes nothing.
    let head = f.head().await;
    let event = f.event_at(beyond.position).await;
    match f.deliver_one(&f.matching, &event).await {
        Err(ServiceError::Domain(refusal)) => {
            assert_eq!(refusal.reason(), Some(Reason::MatchingCapExceeded));
        }
        other => panic!("expected the cap to refuse the match, got {other:?}"),
    }
    assert_eq!(f.head().await, head);
}

#[tokio::test]
async fn a_receipt_handled_again_reserves_and_funds_once() {
    let f = fund().await;
    let pool_id = f.open_pool(100_000_000, &["AF"], "2025-12-31").await;
    let contribution = f
        .receipt(DONOR, Some(country("AF")), 40_000_000, "2025-03-01")
        .await;
    let matcher_pledge = f.pledge(MATCHER, 10_000_000, None).await;
    let funds = f.receive(&matcher_pledge, 10_000_000, "2025-04-01").await;
    let running = f.run(f.matching.clone());
    f.pool_with_funds(&pool_id, 10_000_000).await;
    running.stop().await;
    let pool_stream = format!("matching-{pool_id}");
    let written = f.stream_events(&pool_stream).await.len();
    let head = f.head().await;

    // At-least-once delivery, or a restart behind the cursor: the same event again is a
    // replay of the request it caused, and writes nothing.
    for receipt in [&contribution, &funds] {
        let event = f.event_at(receipt.position).await;
        for _ in 0..2 {
            assert_eq!(
                f.deliver_one(&f.matching, &event).await.unwrap(),
                Handled::Written,
                "answered with the original effect"
            );
        }
    }
    // A fresh instance resumes from the saved cursor and finds nothing to do.
    let again = f.run(MatchingReaction::new(fundtrail_service::Ledger::new(
        f.store.clone(),
        "pledges",
        fundtrail_domain::Currency::USD,
    )));
    f.cursor_reaches(MATCHING, head).await;
    again.stop().await;

    assert_eq!(f.head().await, head, "nothing new was written");
    assert_eq!(f.stream_events(&pool_stream).await.len(), written);
    let pool = f.pool(&pool_id).await;
    assert_eq!(pool.matches.len(), 1);
    assert_eq!(pool.reserved, Some(usd(40_000_000)));
    assert_eq!(
        pool.funds,
        Some(usd(10_000_000)),
        "the funds are counted once"
    );
    assert_eq!(pool.confirmed, Some(usd(0)));
}

#[tokio::test]
async fn competing_receipts_are_served_first_come() {
    // Two countries, so on Kafka two partitions: only position order decides which came first.
    let f = fund().await;
    let pool_id = f.open_pool(30_000_000, &["AF", "BA"], "2025-12-31").await;
    let earlier = f
        .receipt(DONOR, Some(country("BA")), 30_000_000, "2025-03-02")
        .await;
    let later = f
        .receipt(DONOR, Some(country("AF")), 30_000_000, "2025-03-01")
        .await;
    assert!(earlier.position < later.position);
    let running = f.run(f.matching.clone());
    f.cursor_reaches(MATCHING, later.position).await;
    running.stop().await;

    let pool = f.pool(&pool_id).await;
    assert_eq!(pool.matches.len(), 1, "{:?}", pool.matches);
    let served = match_of(&pool, &earlier).expect("the earlier receipt is matched");
    assert_eq!(served.amount, Some(usd(30_000_000)));
    assert!(match_of(&pool, &later).is_none());

    // The outcome does depend on the order: handed the later receipt first, the pool gives it
    // the cap — which is why the reaction reads in position order.
    let out_of_order = fund().await;
    let pool_id = out_of_order
        .open_pool(30_000_000, &["AF", "BA"], "2025-12-31")
        .await;
    let earlier = out_of_order
        .receipt(DONOR, Some(country("BA")), 30_000_000, "2025-03-02")
        .await;
    let later = out_of_order
        .receipt(DONOR, Some(country("AF")), 30_000_000, "2025-03-01")
        .await;
    let event = out_of_order.event_at(later.position).await;
    assert_eq!(
        out_of_order
            .deliver_one(&out_of_order.matching, &event)
            .await
            .unwrap(),
        Handled::Written
    );
    let event = out_of_order.event_at(earlier.position).await;
    assert!(
        out_of_order
            .deliver_one(&out_of_order.matching, &event)
            .await
            .is_err()
    );
    let pool = out_of_order.pool(&pool_id).await;
    assert!(match_of(&pool, &later).is_some());
    assert!(match_of(&pool, &earlier).is_none());
}

#[tokio::test]
async fn a_returned_allocation_goes_back_to_its_pledge_once() {
    let f = fund().await;
    let project_id = f.project().await;
    let pledge_id = f.pledge(DONOR, 50_000_000, None).await;
    f.receive(&pledge_id, 50_000_000, "2025-03-01").await;
    let returned = f.allocate(&pledge_id, &project_id, 20_000_000).await;
    let kept = f.allocate(&pledge_id, &project_id, 10_000_000).await;
    assert_eq!(
        f.pledge_view(&pledge_id).await.unallocated,
        Some(usd(20_000_000))
    );

    let credits = f.run(f.credits.clone());
    eventually("both allocations credited to the account", || async {
        (f.account(&project_id).await.credits.len() == 2).then_some(())
    })
    .await;
    credits.stop().await;
    let back = f.return_allocation(&project_id, &returned).await;

    let releases = f.run(f.releases.clone());
    let pledge = eventually("the returned allocation released on the pledge", || async {
        let pledge = f.pledge_view(&pledge_id).await;
        pledge
            .allocations
            .iter()
            .any(|a| a.allocation_id == returned && a.released)
            .then_some(pledge)
    })
    .await;
    releases.stop().await;

    assert_eq!(
        pledge.unallocated,
        Some(usd(40_000_000)),
        "the returned amount is unallocated again"
    );
    let kept = pledge
        .allocations
        .iter()
        .find(|a| a.allocation_id == kept)
        .unwrap();
    assert!(!kept.released, "only the returned allocation is released");

    // Delivered again: a replay, nothing new.
    let head = f.head().await;
    let event = f.event_at(back.position).await;
    assert_eq!(event.event_type, "fundtrail.v1.AllocationReturned");
    assert_eq!(
        f.deliver_one(&f.releases, &event).await.unwrap(),
        Handled::Written
    );
    assert_eq!(f.head().await, head, "nothing new was written");
    let releases = f
        .stream_types(&format!("pledge-{pledge_id}"))
        .await
        .into_iter()
        .filter(|t| t == "fundtrail.v1.AllocationReleased")
        .count();
    assert_eq!(releases, 1);
    assert_eq!(
        f.pledge_view(&pledge_id).await.unallocated,
        Some(usd(40_000_000))
    );
}

#[tokio::test]
async fn a_pool_matches_only_receipts_recorded_after_it_opened_however_late_the_reaction_runs() {
    let f = fund().await;
    // Handled while it was current: no pool covered it.
    let running = f.run(f.matching.clone());
    let handled_live = f
        .receipt(DONOR, Some(country("AF")), 10_000_000, "2025-03-01")
        .await;
    f.cursor_reaches(MATCHING, handled_live.position).await;
    running.stop().await;
    // The same kind of receipt, handled only after the pool opened (a reaction behind, a
    // server restarted): the history is the same, so must be the outcome.
    let handled_late = f
        .receipt(DONOR, Some(country("AF")), 10_000_000, "2025-03-01")
        .await;
    let pool_id = f.open_pool(100_000_000, &["AF"], "2025-12-31").await;
    let after = f
        .receipt(DONOR, Some(country("AF")), 10_000_000, "2025-03-01")
        .await;
    let running = f.run(f.matching.clone());
    f.cursor_reaches(MATCHING, after.position).await;
    running.stop().await;

    let pool = f.pool(&pool_id).await;
    assert!(match_of(&pool, &after).is_some(), "{:?}", pool.matches);
    assert!(match_of(&pool, &handled_live).is_none());
    assert!(
        match_of(&pool, &handled_late).is_none(),
        "a receipt from before the pool opened is not matched because its reaction ran late"
    );
    assert_eq!(pool.matches.len(), 1);
}

#[tokio::test]
async fn a_donors_eligibility_is_the_one_it_had_when_the_money_arrived() {
    let f = fund().await;
    let pool_id = f.open_pool(100_000_000, &["AF"], "2025-12-31").await;
    let receipt = f
        .receipt(DONOR, Some(country("AF")), 10_000_000, "2025-03-01")
        .await;
    // Eligibility withdrawn after the receipt, before the reaction handled it.
    f.change_eligibility(DONOR, false).await;
    let later = f
        .receipt(DONOR, Some(country("AF")), 20_000_000, "2025-03-02")
        .await;
    let running = f.run(f.matching.clone());
    f.cursor_reaches(MATCHING, later.position).await;
    running.stop().await;

    let pool = f.pool(&pool_id).await;
    assert!(
        match_of(&pool, &receipt).is_some(),
        "received while eligible, it is matched: {:?}",
        pool.matches
    );
    assert!(
        match_of(&pool, &later).is_none(),
        "received after eligibility was withdrawn"
    );
    assert_eq!(pool.reserved, Some(usd(10_000_000)));
}
