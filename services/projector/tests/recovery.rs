//! The projector stopped at the worst moments — inside a batch's transaction, between its
//! commit and its acknowledgement, or at random — and a rebuild swapped in underneath it: after
//! a restart the views always equal the fold of the history. On SQLite and PostgreSQL.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use common::{Db, all_events, fold, seen, start, start_with, stored};
use fundtrail_log::{Ack, Delivery, EventSource, LogError, StoreSource};
use fundtrail_projections::{PersistError, RebuildOptions, ViewName, rebuild};
use fundtrail_projector::ProjectorOptions;
use fundtrail_store::{EventStore, RecordedEvent};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::sync::Notify;

fn small_batches(failpoint: Option<fundtrail_projector::Failpoint>) -> ProjectorOptions {
    ProjectorOptions {
        batch: 7,
        retry: Duration::from_millis(10),
        before_commit: failpoint,
        ..ProjectorOptions::default()
    }
}

async fn check(db: &Db, events: &[RecordedEvent]) {
    let running = start(db);
    running.reach(events.len() as u64).await;
    let expected = seen(&fold(events, events.len()));
    assert_eq!(seen(&running.shared.read()), expected);
    running.stop().await;
    assert_eq!(seen(&stored(db).await), expected);
}

/// Dies inside the transaction of its `kill_at`-th batch, after writing the documents.
async fn killed_before_commit(mut db: Db) {
    common::random(&db, 600, 7).await;
    let events = all_events(&*db.store).await;
    let calls = Arc::new(AtomicU64::new(0));
    let died = Arc::new(Notify::new());
    let failpoint: fundtrail_projector::Failpoint = {
        let (calls, died) = (calls.clone(), died.clone());
        Arc::new(move |_position| {
            if calls.fetch_add(1, Ordering::SeqCst) == 11 {
                died.notify_one();
                // Keep the transaction open until the task is killed.
                std::thread::sleep(Duration::from_millis(50));
                return Err(PersistError::Interrupted("killed".into()));
            }
            Ok(())
        })
    };
    let source = Arc::new(StoreSource(db.store.clone()));
    let running = start_with(&db, source, small_batches(Some(failpoint)));
    died.notified().await;
    running.task.abort();
    let _ = running.task.await;
    db.reopen().await;
    let persisted = stored(&db).await;
    let at = common::least(&persisted);
    assert!(
        at < events.len() as u64,
        "the kill came too late to test anything"
    );
    assert_eq!(seen(&persisted), seen(&fold(&events, at)));
    check(&db, &events).await;
    db.cleanup().await;
}

/// Fails some commits and carries on in the same process: each failure reloads the views from
/// the database and folds them back up to where the served ones were.
async fn failing_commits(db: Db) {
    common::random(&db, 600, 13).await;
    let events = all_events(&*db.store).await;
    let calls = Arc::new(AtomicU64::new(0));
    let failpoint: fundtrail_projector::Failpoint = {
        let calls = calls.clone();
        Arc::new(
            move |_position| match calls.fetch_add(1, Ordering::SeqCst) {
                3 | 4 | 9 | 20 => Err(PersistError::Interrupted("failpoint".into())),
                _ => Ok(()),
            },
        )
    };
    let source = Arc::new(StoreSource(db.store.clone()));
    let running = start_with(&db, source, small_batches(Some(failpoint)));
    running.reach(events.len() as u64).await;
    // The served views may be ahead of the database; wait for the last commit too.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while common::least(&stored(&db).await) < events.len() as u64 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the last batch never committed"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let expected = seen(&fold(&events, events.len()));
    assert_eq!(seen(&running.shared.read()), expected);
    assert!(
        running.shared.loads() >= 4,
        "{} loads",
        running.shared.loads()
    );
    running.stop().await;
    assert_eq!(seen(&stored(&db).await), expected);
    db.cleanup().await;
}

/// A broker-like source: it resumes from the last position acknowledged to it, so whatever
/// the projector committed but did not acknowledge comes again. It kills the projector as it
/// acknowledges its `kill_at`-th event. A killed projector's connection is dead: it delivers
/// nothing more, so the projector commits what it holds and waits, and the acknowledgements
/// still on their way are lost.
struct Redelivering {
    store: Arc<dyn EventStore>,
    broker: Arc<Broker>,
}

struct Broker {
    acked: AtomicU64,
    acks: AtomicU64,
    kill_at: u64,
    /// Bumped when the projector is killed: acknowledgements over an older one are lost.
    connection: AtomicU64,
    died: Notify,
}

impl Broker {
    fn acknowledge(&self, connection: u64, position: u64) {
        if self.connection.load(Ordering::SeqCst) != connection {
            return;
        }
        if self.acks.fetch_add(1, Ordering::SeqCst) == self.kill_at {
            self.connection.fetch_add(1, Ordering::SeqCst);
            self.died.notify_one();
            return;
        }
        self.acked.fetch_max(position, Ordering::SeqCst);
    }
}

impl EventSource for Redelivering {
    fn deliveries(
        &self,
        _consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let from = self.broker.acked.load(Ordering::SeqCst) + 1;
        let connection = self.broker.connection.load(Ordering::SeqCst);
        let (broker, alive) = (self.broker.clone(), self.broker.clone());
        self.store
            .subscribe(from)
            .take_while(move |_| {
                futures::future::ready(alive.connection.load(Ordering::SeqCst) == connection)
            })
            .map(move |event| {
                let event = event?;
                let (broker, position) = (broker.clone(), event.position);
                let ack = Ack::new(move || {
                    Box::pin(async move {
                        broker.acknowledge(connection, position);
                        Ok(())
                    })
                });
                Ok(Delivery {
                    ack,
                    ..Delivery::global(event)
                })
            })
            .chain(futures::stream::pending())
            .boxed()
    }
}

async fn killed_between_commit_and_acknowledgement(mut db: Db) {
    common::random(&db, 600, 11).await;
    let events = all_events(&*db.store).await;
    let broker = Arc::new(Broker {
        acked: AtomicU64::new(0),
        acks: AtomicU64::new(0),
        kill_at: 60,
        connection: AtomicU64::new(0),
        died: Notify::new(),
    });
    let source = Arc::new(Redelivering {
        store: db.store.clone(),
        broker: broker.clone(),
    });
    let running = start_with(&db, source.clone(), small_batches(None));
    broker.died.notified().await;
    // The batch in flight commits; the kill lands while the projector waits for more.
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.task.abort();
    let _ = running.task.await;
    db.reopen().await;
    let committed = common::least(&stored(&db).await);
    assert!(
        committed > broker.acked.load(Ordering::SeqCst),
        "nothing to redeliver"
    );
    // The same source again: it redelivers what was committed and not acknowledged.
    let running = start_with(&db, source.clone(), small_batches(None));
    running.reach(events.len() as u64).await;
    let expected = seen(&fold(&events, events.len()));
    assert_eq!(seen(&running.shared.read()), expected);
    running.stop().await;
    assert_eq!(seen(&stored(&db).await), expected);
    db.cleanup().await;
}

async fn killed_at_random(mut db: Db) {
    common::random(&db, 800, 3).await;
    let events = all_events(&*db.store).await;
    for delay in [3_u64, 17, 5, 29, 11, 2] {
        let source = Arc::new(StoreSource(db.store.clone()));
        let running = start_with(&db, source, small_batches(None));
        tokio::time::sleep(Duration::from_millis(delay)).await;
        running.task.abort();
        let _ = running.task.await;
        db.reopen().await;
        let persisted = stored(&db).await;
        let at = common::least(&persisted);
        assert_eq!(seen(&persisted), seen(&fold(&events, at)));
    }
    check(&db, &events).await;
    db.cleanup().await;
}

/// A rebuild runs while the projector serves and new events arrive; the projector notices the
/// swapped-in tables, reloads them and carries on.
async fn rebuilt_while_serving(db: Db) {
    let mut world = common::random(&db, 500, 5).await;
    let running = start(&db);
    running.reach(world.log.events.len() as u64).await;
    let appended = world.log.appends.len();
    for i in 0..300_u32 {
        world.apply(common::support::Op {
            kind: u8::try_from(i * 7 % 256).unwrap(),
            a: i.wrapping_mul(31),
            b: i.wrapping_mul(17),
            c: i.wrapping_mul(13),
        });
    }
    let store = db.store.clone();
    let writer = tokio::spawn(async move {
        common::support::store::append_from(&*store, &world.log, appended).await;
        world
    });
    let report = rebuild(
        db.store.clone(),
        &db.views,
        common::reporting(),
        &[],
        RebuildOptions { write_every: 100 },
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.views.len(), 3);
    assert!(report.views.iter().all(|(_, generation)| *generation >= 1));
    let mut world_after = writer.await.unwrap();
    // Events after the swap: the projector's next commit finds the new generation.
    let appended = world_after.log.appends.len();
    for i in 0..50_u32 {
        world_after.apply(common::support::Op {
            kind: u8::try_from(i * 11 % 256).unwrap(),
            a: i,
            b: i.wrapping_mul(3),
            c: i.wrapping_mul(5),
        });
    }
    common::support::store::append_from(&*db.store, &world_after.log, appended).await;
    let events = all_events(&*db.store).await;
    running.reach(events.len() as u64).await;
    let expected = seen(&fold(&events, events.len()));
    assert_eq!(seen(&running.shared.read()), expected);
    assert!(
        running.shared.loads() >= 2,
        "the projector never reloaded the rebuilt views"
    );
    running.stop().await;
    assert_eq!(seen(&stored(&db).await), expected);
    // One view alone, with the projector stopped.
    let report = rebuild(
        db.store.clone(),
        &db.views,
        common::reporting(),
        &[ViewName::DonorStatements],
        RebuildOptions::default(),
        |_| {},
    )
    .await
    .unwrap();
    assert_eq!(report.views.len(), 1);
    assert_eq!(seen(&stored(&db).await), expected);
    db.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_before_commit() {
    killed_before_commit(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_between_commit_and_acknowledgement() {
    killed_between_commit_and_acknowledgement(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_failing_commits() {
    failing_commits(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_failing_commits() {
    failing_commits(Db::postgres("failing").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_killed_at_random() {
    killed_at_random(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_rebuilt_while_serving() {
    rebuilt_while_serving(Db::sqlite().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_before_commit() {
    killed_before_commit(Db::postgres("kill_commit").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_between_commit_and_acknowledgement() {
    killed_between_commit_and_acknowledgement(Db::postgres("kill_ack").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_killed_at_random() {
    killed_at_random(Db::postgres("kill_random").await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_rebuilt_while_serving() {
    rebuilt_while_serving(Db::postgres("rebuild").await).await;
}
