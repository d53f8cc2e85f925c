//! The projector's memory is bounded by what events weigh, not only by how many there are: a
//! history of large events is folded in many small transactions, whether the source delivers
//! them or the projector reads a gap from the store. On SQLite and PostgreSQL.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{Db, all_events, fold, seen, start_with, stored};
use fundtrail_log::{Delivery, EventSource, LogError, StoreSource};
use fundtrail_projector::{Failpoint, ProjectorOptions};
use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, NewEvent, RecordedEvent};
use futures::StreamExt;
use futures::stream::BoxStream;

const LARGE: usize = 200 << 10;
const LARGE_EVENTS: u64 = 30;
const BATCH_BYTES: usize = 1 << 20;

/// A story the views fold, then events of a type this version does not know, each of
/// `LARGE` bytes.
async fn history(db: &Db) -> Vec<RecordedEvent> {
    common::story(db).await;
    for i in 0..LARGE_EVENTS {
        let payload = vec![u8::try_from(i % 251).unwrap_or_default(); LARGE];
        db.store
            .append(AppendRequest::new(
                format!("future-{i}"),
                ExpectedVersion::NoStream,
                vec![NewEvent::new(
                    uuid::Uuid::new_v4(),
                    "fundtrail.v9.FromALaterVersion",
                    payload,
                    Vec::new(),
                )],
            ))
            .await
            .unwrap();
    }
    all_events(&*db.store).await
}

/// Every commit's last position, in order.
fn recorder() -> (Failpoint, Arc<Mutex<Vec<u64>>>) {
    let commits = Arc::new(Mutex::new(Vec::new()));
    let failpoint: Failpoint = {
        let commits = commits.clone();
        Arc::new(move |position| {
            commits.lock().unwrap().push(position);
            Ok(())
        })
    };
    (failpoint, commits)
}

fn options(failpoint: Failpoint) -> ProjectorOptions {
    ProjectorOptions {
        batch: 2000,
        batch_bytes: BATCH_BYTES,
        retry: Duration::from_millis(10),
        before_commit: Some(failpoint),
    }
}

/// No transaction held more of the large events than fit in `BATCH_BYTES` and the one that
/// crossed it, and the views equal the fold of the whole history.
async fn check(db: &Db, events: &[RecordedEvent], source: Arc<dyn EventSource>) {
    let (failpoint, commits) = recorder();
    let running = start_with(db, source, options(failpoint));
    running.reach(events.len() as u64).await;
    let expected = seen(&fold(events, events.len()));
    assert_eq!(seen(&running.shared.read()), expected);
    running.stop().await;
    assert_eq!(seen(&stored(db).await), expected);

    let commits = commits.lock().unwrap().clone();
    let first_large = events.len() as u64 - LARGE_EVENTS + 1;
    let per_commit = (BATCH_BYTES / LARGE + 1) as u64;
    let mut previous = 0;
    for &last in &commits {
        let large_in_commit = last.saturating_sub(previous.max(first_large - 1));
        assert!(
            large_in_commit <= per_commit,
            "a commit up to {last} held {large_in_commit} large events (commits at {commits:?})"
        );
        previous = last;
    }
    assert!(
        commits.len() as u64 >= LARGE_EVENTS / per_commit,
        "commits at {commits:?}"
    );
    assert_eq!(commits.last().copied(), Some(events.len() as u64));
}

async fn delivered_by_the_source(db: Db) {
    let events = history(&db).await;
    check(&db, &events, Arc::new(StoreSource(db.store.clone()))).await;
    db.cleanup().await;
}

/// A source that delivers only the last event and ends: the merge lets the positions before
/// it go as a hole, and the projector reads the whole gap from the store.
struct OnlyTheLast(Arc<dyn EventStore>);

impl EventSource for OnlyTheLast {
    fn deliveries(
        &self,
        _consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let store = self.0.clone();
        futures::stream::once(async move {
            let head = store.head().await?.position;
            Ok(store.read_all(head, 1).await?)
        })
        .flat_map(|page: Result<Vec<RecordedEvent>, LogError>| match page {
            Ok(page) => {
                futures::stream::iter(page.into_iter().map(|e| Ok(Delivery::global(e)))).boxed()
            }
            Err(error) => futures::stream::once(async { Err(error) }).boxed(),
        })
        .boxed()
    }
}

async fn read_through_a_gap(db: Db) {
    let events = history(&db).await;
    check(&db, &events, Arc::new(OnlyTheLast(db.store.clone()))).await;
    db.cleanup().await;
}

#[tokio::test]
async fn sqlite_large_events_delivered_by_the_source() {
    delivered_by_the_source(Db::sqlite().await).await;
}

#[tokio::test]
async fn sqlite_large_events_read_through_a_gap() {
    read_through_a_gap(Db::sqlite().await).await;
}

#[tokio::test]
async fn postgres_large_events_delivered_by_the_source() {
    delivered_by_the_source(Db::postgres("bounds_source").await).await;
}

#[tokio::test]
async fn postgres_large_events_read_through_a_gap() {
    read_through_a_gap(Db::postgres("bounds_gap").await).await;
}
