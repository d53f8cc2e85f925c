//! The projector on the logs it may be given: the store's subscription on an in-memory SQLite
//! store (one connection shared with the commits), and a broker whose partitions deliver out
//! of position order.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::{Db, all_events, fold, seen, start_with};
use fundtrail_log::{Ack, Delivery, EventSource, Lane, LogError, StoreSource};
use fundtrail_projector::ProjectorOptions;
use fundtrail_store::RecordedEvent;
use futures::StreamExt;
use futures::stream::BoxStream;

fn options() -> ProjectorOptions {
    ProjectorOptions {
        batch: 5,
        retry: Duration::from_millis(10),
        before_commit: None,
        ..ProjectorOptions::default()
    }
}

async fn projects_everything(db: &Db, source: Arc<dyn EventSource>) {
    let events = all_events(&*db.store).await;
    let running = start_with(db, source, options());
    running.reach(events.len() as u64).await;
    assert_eq!(
        seen(&running.shared.read()),
        seen(&fold(&events, events.len()))
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_memory_store_shares_its_one_connection() {
    let db = Db::memory().await;
    common::story(&db).await;
    projects_everything(&db, Arc::new(StoreSource(db.store.clone()))).await;
}

/// Two partitions as Kafka delivers them: each in position order, the second one's events
/// all after the first one's.
struct Partitions(Vec<RecordedEvent>);

impl EventSource for Partitions {
    fn deliveries(
        &self,
        _consumer: &str,
        from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let (even, odd): (Vec<_>, Vec<_>) = self
            .0
            .iter()
            .filter(|e| e.position >= from)
            .cloned()
            .partition(|e| e.position % 2 == 0);
        let deliveries = even.into_iter().chain(odd).map(|event| {
            Ok(Delivery {
                lane: Lane::Partition(i32::from(event.position % 2 == 1)),
                event,
                generation: 0,
                ack: Ack::none(),
            })
        });
        futures::stream::iter(deliveries)
            .chain(futures::stream::pending())
            .boxed()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partitions_are_folded_in_position_order() {
    let db = Db::sqlite().await;
    common::story(&db).await;
    let events = all_events(&*db.store).await;
    projects_everything(&db, Arc::new(Partitions(events))).await;
}
