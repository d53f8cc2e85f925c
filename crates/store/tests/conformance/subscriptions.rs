use std::time::Duration;

use fundtrail_store::{AppendRequest, ExpectedVersion, StoreOptions};
use futures::StreamExt;

use crate::harness::Harness;
use crate::util::events;

/// With polling set to a minute, events can only arrive this fast if the commit itself
/// wakes the subscription.
const NO_POLLING: Duration = Duration::from_mins(1);
const LIVE: Duration = Duration::from_secs(10);

pub async fn live_subscription<H: Harness>() {
    let h = H::with_options(StoreOptions {
        poll_interval: NO_POLLING,
        read_batch: 3,
        ..StoreOptions::default()
    })
    .await;
    let store = h.store();
    store
        .append(AppendRequest::new(
            "live-1",
            ExpectedVersion::Any,
            events(4),
        ))
        .await
        .unwrap();
    // Starts mid-way: catches up from position 3 in batches of 3, then goes live.
    let mut subscription = store.subscribe(3);
    for position in 3..=4 {
        let event = tokio::time::timeout(LIVE, subscription.next())
            .await
            .unwrap();
        assert_eq!(event.unwrap().unwrap().position, position);
    }
    for round in 0..5u64 {
        let pending = tokio::spawn({
            let store = store.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                store
                    .append(AppendRequest::new(
                        "live-2",
                        ExpectedVersion::Any,
                        events(2),
                    ))
                    .await
                    .unwrap()
            }
        });
        for offset in 0..2 {
            let event = tokio::time::timeout(LIVE, subscription.next())
                .await
                .expect("a live event must arrive without polling")
                .unwrap()
                .unwrap();
            assert_eq!(event.position, 5 + round * 2 + offset);
        }
        pending.await.unwrap();
    }
}

pub async fn other_instance_commits_reach_subscribers<H: Harness>() {
    // SQLite cannot hear another process, so it relies on polling; PostgreSQL on NOTIFY.
    let poll_interval = if H::NOTIFIES_ACROSS_INSTANCES {
        NO_POLLING
    } else {
        Duration::from_millis(200)
    };
    let options = StoreOptions {
        poll_interval,
        ..StoreOptions::default()
    };
    let h = H::with_options(options.clone()).await;
    let listening = h.store();
    let writing = h.reopen(options).await;
    let mut subscription = listening.subscribe(1);
    // Give the listener a moment to LISTEN before the first commit.
    tokio::time::sleep(Duration::from_millis(300)).await;
    for expected in 1..=3u64 {
        writing
            .append(AppendRequest::new(
                "remote-1",
                ExpectedVersion::Any,
                events(1),
            ))
            .await
            .unwrap();
        let event = tokio::time::timeout(LIVE, subscription.next())
            .await
            .expect("another instance's commit must reach the subscriber")
            .unwrap()
            .unwrap();
        assert_eq!(event.position, expected);
    }
}
