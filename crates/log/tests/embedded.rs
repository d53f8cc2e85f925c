//! The consumer over any source, with scripted deliveries: repeats dropped by position per
//! lane, gaps in an ordered log filled from the store, lanes reloaded after a rebalance.

mod common;

use std::sync::{Arc, Mutex};

use common::*;
use fundtrail_log::{
    Consumer, ConsumerOptions, Delivery, EventSource, InPositionOrder, Lane, LogError, StoreSource,
};
use fundtrail_store::{EventStore, SqliteStore, StoreOptions};
use futures::StreamExt;
use futures::stream::BoxStream;

/// Delivers `(position, lane, generation)` in the order given, then ends.
struct Script {
    store: Arc<dyn EventStore>,
    plan: Mutex<Vec<(u64, Lane, u64)>>,
}

impl EventSource for Script {
    fn deliveries(
        &self,
        _consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let plan = std::mem::take(&mut *self.plan.lock().unwrap());
        let store = self.store.clone();
        futures::stream::iter(plan)
            .then(move |(position, lane, generation)| {
                let store = store.clone();
                async move {
                    let event = store.read_all(position, 1).await?.remove(0);
                    Ok(Delivery {
                        generation,
                        lane,
                        ..Delivery::global(event)
                    })
                }
            })
            .boxed()
    }
}

async fn store_with(events: usize) -> (SqliteStore, Arc<dyn EventStore>) {
    let store = SqliteStore::connect("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    append_many(&store, events).await;
    let shared: Arc<dyn EventStore> = Arc::new(store.clone());
    (store, shared)
}

/// Handles everything the source delivers, each effect "committed" with its cursor;
/// returns `(position, cursor name)` in the order handled.
async fn drain(store: &Arc<dyn EventStore>, source: &dyn EventSource) -> Vec<(u64, String)> {
    let mut consumer = Consumer::open(
        "views.test",
        store.clone(),
        source,
        ConsumerOptions::default(),
    )
    .await
    .unwrap();
    let mut handled = Vec::new();
    while let Some(next) = consumer.next().await {
        let next = next.unwrap();
        handled.push((next.event.position, next.cursor.consumer.clone()));
        store
            .save_cursor(&next.cursor.consumer, next.cursor.position)
            .await
            .unwrap();
        consumer.done(next, true).await.unwrap();
    }
    consumer.flush().await.unwrap();
    handled
}

fn script(store: &Arc<dyn EventStore>, plan: &[(u64, Lane, u64)]) -> Script {
    Script {
        store: store.clone(),
        plan: Mutex::new(plan.to_vec()),
    }
}

#[tokio::test]
async fn the_store_source_delivers_everything_once_in_order() {
    let (_, store) = store_with(12).await;
    append_many(&*store, 3).await;
    let mut consumer = Consumer::open(
        "views.test",
        store.clone(),
        &StoreSource(store.clone()),
        ConsumerOptions::default(),
    )
    .await
    .unwrap();
    for position in 1..=15 {
        let next = consumer.next().await.unwrap().unwrap();
        assert_eq!(next.event.position, position);
        assert_eq!(next.cursor.consumer, "views.test");
        consumer.done(next, false).await.unwrap();
    }
    consumer.flush().await.unwrap();
    assert_eq!(store.load_cursor("views.test").await.unwrap(), 15);
}

#[tokio::test]
async fn an_ordered_log_out_of_order_is_put_back_in_order_from_the_store() {
    let (_, store) = store_with(8).await;
    let g = Lane::Global;
    // A redelivery overtaken by newer messages, a repeat, and a hole.
    let plan = [
        (1, g, 0),
        (2, g, 0),
        (5, g, 0),
        (3, g, 0),
        (2, g, 0),
        (4, g, 0),
        (8, g, 0),
    ];
    let handled = drain(&store, &script(&store, &plan)).await;
    let positions: Vec<u64> = handled.iter().map(|h| h.0).collect();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
    assert_eq!(store.load_cursor("views.test").await.unwrap(), 8);
}

#[tokio::test]
async fn kafka_lanes_keep_their_own_cursors_and_reload_them_after_a_rebalance() {
    let (_, store) = store_with(10).await;
    let (p0, p1) = (Lane::Partition(0), Lane::Partition(1));
    // Partition 1 runs ahead of partition 0: neither may drop the other's events.
    let plan = [
        (1, p0, 0),
        (4, p1, 0),
        (6, p1, 0),
        (2, p0, 0),
        (2, p0, 0),
        (3, p0, 0),
    ];
    let handled = drain(&store, &script(&store, &plan)).await;
    assert_eq!(
        handled,
        vec![
            (1, "views.test/p0".to_owned()),
            (4, "views.test/p1".to_owned()),
            (6, "views.test/p1".to_owned()),
            (2, "views.test/p0".to_owned()),
            (3, "views.test/p0".to_owned()),
        ]
    );
    // Meanwhile another member of the group handled partition 0 up to 7; after the rebalance
    // this member gets it back from an older offset and must not handle 5 or 7 again.
    store.save_cursor("views.test/p0", 7).await.unwrap();
    let plan = [(5, p0, 1), (7, p0, 1), (9, p0, 1), (8, p1, 1)];
    let handled = drain(&store, &script(&store, &plan)).await;
    assert_eq!(
        handled,
        vec![
            (9, "views.test/p0".to_owned()),
            (8, "views.test/p1".to_owned())
        ]
    );
}

#[tokio::test]
async fn a_consumer_moved_from_an_ordered_log_to_kafka_does_not_start_over() {
    let (_, store) = store_with(6).await;
    store.save_cursor("views.test", 4).await.unwrap();
    let plan = [(2, Lane::Partition(3), 0), (5, Lane::Partition(3), 0)];
    let handled = drain(&store, &script(&store, &plan)).await;
    assert_eq!(handled, vec![(5, "views.test/p3".to_owned())]);
}

#[tokio::test]
async fn kafka_lanes_read_in_position_order_come_out_in_global_order() {
    let (_, store) = store_with(8).await;
    let (p0, p1) = (Lane::Partition(0), Lane::Partition(1));
    // The same interleaving as above: partition 1 runs ahead of partition 0.
    let plan = [
        (1, p0, 0),
        (4, p1, 0),
        (6, p1, 0),
        (2, p0, 0),
        (3, p0, 0),
        (5, p0, 0),
        (7, p0, 0),
        (8, p1, 0),
    ];
    let ordered = InPositionOrder(Arc::new(script(&store, &plan)));
    let handled = drain(&store, &ordered).await;
    let positions: Vec<u64> = handled.iter().map(|h| h.0).collect();
    assert_eq!(positions, (1..=8).collect::<Vec<_>>());
    assert!(handled.iter().all(|(_, cursor)| cursor == "views.test"));
    assert_eq!(store.load_cursor("views.test").await.unwrap(), 8);
}
