//! The process managers: allocations credit accounts, verified milestones unlock tranches,
//! each once however often the event arrives.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{fund, usd};
use fundtrail_disbursements::{CreditReaction, TrancheReaction};
use fundtrail_service::Handled;
use fundtrail_service::reaction::{self, EventSource, Reaction, StoreSource};
use tokio_util::sync::CancellationToken;

#[tokio::test]
async fn reactions_are_named_for_their_cursors() {
    let f = fund().await;
    assert_eq!(f.credits.name(), "disbursements.credits");
    assert_eq!(CreditReaction::NAME, "disbursements.credits");
    assert_eq!(f.tranches.name(), "disbursements.tranches");
    assert_eq!(TrancheReaction::NAME, "disbursements.tranches");
}

#[tokio::test]
async fn running_on_the_embedded_log_credits_each_allocation_and_cursors() {
    let f = fund().await;
    let project_id = f.project().await;
    let first = f.allocate(&project_id, 30_000_000).await;
    let second = f.allocate(&project_id, 20_000_000).await;

    let shutdown = CancellationToken::new();
    let source: Arc<dyn EventSource> = Arc::new(StoreSource(f.store.clone()));
    let running = tokio::spawn(reaction::run(
        Arc::new(f.credits.clone()),
        f.store.clone(),
        source,
        shutdown.clone(),
    ));
    let credited = async {
        loop {
            let account = f.account(&project_id).await.unwrap();
            if account.credits.len() == 2 {
                return account;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    let account = tokio::time::timeout(Duration::from_secs(10), credited)
        .await
        .expect("both allocations credited");
    // Live: an allocation made while the reaction runs is credited too.
    let third = f.allocate(&project_id, 5_000_000).await;
    let live = async {
        while f.account(&project_id).await.unwrap().credits.len() < 3 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), live)
        .await
        .expect("the live allocation credited");
    shutdown.cancel();
    running.await.unwrap();

    assert_eq!(account.credited, Some(usd(50_000_000)));
    let mut allocations: Vec<_> = account
        .credits
        .iter()
        .map(|c| c.allocation_id.clone())
        .collect();
    allocations.sort();
    let mut expected = vec![first.clone(), second];
    expected.sort();
    assert_eq!(allocations, expected);
    let credit = account
        .credits
        .iter()
        .find(|c| c.allocation_id == first)
        .unwrap();
    assert_eq!(credit.donor_id, common::DONOR);
    assert_eq!(credit.amount, Some(usd(30_000_000)));
    assert!(!credit.returned);

    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.credited, Some(usd(55_000_000)));
    assert!(account.credits.iter().any(|c| c.allocation_id == third));
    assert_eq!(f.account_events(&project_id).await.len(), 3);
    assert_eq!(
        f.store.load_cursor(CreditReaction::NAME).await.unwrap(),
        f.head().await,
        "the reaction saved how far it read"
    );

    // Started again from its cursor, it finds nothing more to do.
    let shutdown = CancellationToken::new();
    let again = tokio::spawn(reaction::run(
        Arc::new(f.credits.clone()),
        f.store.clone(),
        Arc::new(StoreSource(f.store.clone())),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_millis(100)).await;
    shutdown.cancel();
    again.await.unwrap();
    assert_eq!(f.account_events(&project_id).await.len(), 3);
}

#[tokio::test]
async fn an_allocation_delivered_twice_is_credited_once() {
    let f = fund().await;
    let project_id = f.project().await;
    let allocation_id = f.allocate(&project_id, 25_000_000).await;

    let first = f.deliver(&f.credits).await;
    let written: Vec<_> = first
        .iter()
        .filter(|(_, h)| *h == Handled::Written)
        .collect();
    assert_eq!(written.len(), 1, "only the allocation has an effect");
    let (allocated, _) = written[0];
    assert_eq!(allocated.event_type, "fundtrail.v1.ContributionAllocated");
    assert_eq!(
        f.store.load_cursor(CreditReaction::NAME).await.unwrap(),
        allocated.position,
        "the cursor committed with the credit"
    );
    let head = f.head().await;

    // At-least-once delivery: the same event again is a replay of the same request.
    assert_eq!(f.deliver_one(&f.credits, allocated).await, Handled::Written);
    assert_eq!(f.head().await, head, "nothing new was written");

    // A copy of the event under another id (a republished message) is known to the account
    // by its allocation: no effect, so nothing to commit the cursor with.
    let mut copy = allocated.clone();
    copy.event_id = uuid::Uuid::now_v7();
    assert_eq!(f.deliver_one(&f.credits, &copy).await, Handled::Skipped);
    assert_eq!(f.head().await, head);

    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.credited, Some(usd(25_000_000)));
    assert_eq!(account.available, Some(usd(25_000_000)));
    assert_eq!(account.credits.len(), 1);
    assert_eq!(account.credits[0].allocation_id, allocation_id);
    let events = f.account_events(&project_id).await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event_type, "fundtrail.v1.ProjectAccountCredited");
}

#[tokio::test]
async fn a_verified_milestone_unlocks_its_tranche_once() {
    let f = fund().await;
    let project_id = f.funded_project(50_000_000).await;
    let milestone = f.verified_milestone(&project_id, 40_000_000).await;

    let handled = f.deliver(&f.tranches).await;
    let written: Vec<_> = handled
        .iter()
        .filter(|(_, h)| *h == Handled::Written)
        .collect();
    assert_eq!(written.len(), 1, "only the verification has an effect");
    let (verified, _) = written[0];
    assert_eq!(verified.event_type, "fundtrail.v1.MilestoneVerified");
    let head = f.head().await;

    // Delivered again, by the log or by a restart behind the cursor.
    f.deliver(&f.tranches).await;
    let mut copy = verified.clone();
    copy.event_id = uuid::Uuid::now_v7();
    assert_eq!(f.deliver_one(&f.tranches, &copy).await, Handled::Skipped);
    assert_eq!(f.head().await, head, "nothing new was written");

    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.unlocked_tranches.len(), 1);
    assert_eq!(
        account.unlocked_tranches.get(&milestone).cloned(),
        Some(usd(40_000_000))
    );
    let unlocks = f
        .account_events(&project_id)
        .await
        .into_iter()
        .filter(|e| e.event_type == "fundtrail.v1.TrancheUnlocked")
        .count();
    assert_eq!(unlocks, 1);
}

#[tokio::test]
async fn a_milestone_verified_short_of_its_target_unlocks_only_its_release() {
    let f = fund().await;
    let project_id = f.funded_project(50_000_000).await;
    // 12 500 of 50 000 m²: a quarter of the 400 000.00 USD tranche.
    let milestone = f
        .verified_milestone_at(&project_id, 40_000_000, 12_500)
        .await;
    f.deliver(&f.tranches).await;
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.unlocked_tranches.get(&milestone).cloned(),
        Some(usd(40_000_000))
    );
    assert_eq!(
        account.released_tranches.get(&milestone).cloned(),
        Some(usd(10_000_000))
    );
}

#[tokio::test]
async fn reactions_ignore_events_they_have_no_part_in() {
    let f = fund().await;
    let project_id = f.project().await;
    f.allocate(&project_id, 1_000).await;
    let tranches = f.deliver(&f.tranches).await;
    assert!(tranches.iter().all(|(_, h)| *h == Handled::Skipped));
    f.verified_milestone(&project_id, 1_000).await;
    let credits = f.deliver(&f.credits).await;
    assert_eq!(
        credits
            .iter()
            .filter(|(_, h)| *h == Handled::Written)
            .count(),
        1
    );
}
