//! The runner's policy for events a reaction cannot take into effect, on a real store (a
//! SQLite file and a PostgreSQL schema): unknown types are skipped, undecodable payloads and
//! refusals are parked at once, other failures after the bounded retries, outages are waited
//! out, and re-drives requested through the table are handled again and settled.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::{DomainError, Event, Reason};
use fundtrail_proto::v1;
use fundtrail_service::reaction::{self, Reaction, StoreSource};
use fundtrail_service::{Handled, RetryPolicy, ServiceError};
use fundtrail_store::{
    AppendRequest, AttentionItem, AttentionKind, AttentionQuery, AttentionState, Cursor,
    EventStore, ExpectedVersion, NewEvent, RecordedEvent, StoreError, StoreOptions,
};
use prost::Message;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

const PATIENCE: Duration = Duration::from_secs(30);

/// Retries without the production waits.
const QUICK: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_backoff: Duration::from_millis(1),
    max_backoff: Duration::from_millis(4),
    redrive_poll: Duration::from_millis(20),
};

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Db {
    store: Arc<dyn EventStore>,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

impl Db {
    async fn open(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("store.db").display()),
                None,
            ),
            Backend::Postgres => (
                database_url(),
                Some(format!("svc_{}", Uuid::new_v4().simple())),
            ),
        };
        let options = StoreOptions {
            schema: schema.clone(),
            ..StoreOptions::default()
        };
        let store = fundtrail_store::open(&url, options).await.unwrap();
        Self {
            store,
            schema,
            _dir: dir,
        }
    }

    async fn close(self) {
        if let Some(schema) = &self.schema {
            use sqlx::Connection;
            let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }

    async fn append(&self, event_type: &str, payload: Vec<u8>) -> u64 {
        self.store
            .append(AppendRequest::new(
                format!("donor-{}", Uuid::now_v7().simple()),
                ExpectedVersion::Any,
                vec![NewEvent::new(
                    Uuid::now_v7(),
                    event_type,
                    payload,
                    Vec::new(),
                )],
            ))
            .await
            .unwrap()
            .last_position
    }

    /// A donor's registration: an event every version decodes.
    async fn registered(&self, donor_id: &str) -> u64 {
        let payload = v1::DonorRegistered {
            donor_id: donor_id.to_owned(),
            name: "Netherlands".to_owned(),
            kind: v1::DonorKind::Government.into(),
            matching_eligible: true,
        }
        .encode_to_vec();
        self.append("fundtrail.v1.DonorRegistered", payload).await
    }

    async fn items(&self) -> Vec<AttentionItem> {
        self.store
            .attention()
            .attention_items(&AttentionQuery::default())
            .await
            .unwrap()
    }
}

async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// What the scripted reaction answers for a donor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Script {
    /// Fails this many times, then is fine.
    FailsTimes(u32),
    AlwaysFails,
    Refused,
    /// The store is out of reach until the switch is flipped.
    OutOfReach,
}

/// A reaction that answers by the donor an event registers, and counts its calls.
struct Scripted {
    scripts: HashMap<String, Script>,
    calls: Mutex<HashMap<u64, u32>>,
    redriven: Mutex<Vec<u64>>,
    /// A fix deployed: nothing fails any more.
    fixed: AtomicBool,
}

impl Scripted {
    fn new(scripts: &[(&str, Script)]) -> Arc<Self> {
        Arc::new(Self {
            scripts: scripts.iter().map(|(d, s)| ((*d).to_owned(), *s)).collect(),
            calls: Mutex::new(HashMap::new()),
            redriven: Mutex::new(Vec::new()),
            fixed: AtomicBool::new(false),
        })
    }

    fn calls(&self, position: u64) -> u32 {
        self.calls
            .lock()
            .unwrap()
            .get(&position)
            .copied()
            .unwrap_or(0)
    }

    fn answer(&self, event: &RecordedEvent, decoded: &Event) -> Result<Handled, ServiceError> {
        let calls = {
            let mut calls = self.calls.lock().unwrap();
            let count = calls.entry(event.position).or_default();
            *count += 1;
            *count
        };
        let Event::Donor(fundtrail_domain::DonorEvent::Registered { donor_id, .. }) = decoded
        else {
            return Ok(Handled::Skipped);
        };
        if self.fixed.load(Ordering::SeqCst) {
            return Ok(Handled::Skipped);
        }
        match self.scripts.get(donor_id.as_str()).copied() {
            None => Ok(Handled::Skipped),
            Some(Script::FailsTimes(n)) if calls > n => Ok(Handled::Skipped),
            Some(Script::FailsTimes(_) | Script::AlwaysFails) => Err(ServiceError::Contended {
                stream: event.stream.clone(),
            }),
            Some(Script::Refused) => Err(DomainError::refused(
                Reason::MatchingCapExceeded,
                "the pool's cap is 100.00 USD; only 0.00 USD is left to match",
            )
            .into()),
            Some(Script::OutOfReach) => {
                Err(StoreError::Unavailable("connection refused".into()).into())
            }
        }
    }
}

#[async_trait]
impl Reaction for Scripted {
    fn name(&self) -> &'static str {
        "test.scripted"
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        _cursor: Cursor,
    ) -> Result<Handled, ServiceError> {
        self.answer(event, decoded)
    }

    async fn redrive(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Handled, ServiceError> {
        self.redriven.lock().unwrap().push(event.position);
        self.answer(event, decoded)
    }
}

struct Running {
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

fn start(db: &Db, reaction: Arc<Scripted>) -> Running {
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(reaction::run_with(
        reaction,
        db.store.clone(),
        Arc::new(StoreSource(db.store.clone())),
        QUICK,
        shutdown.clone(),
    ));
    Running { shutdown, task }
}

impl Running {
    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

async fn handled(db: &Db, reaction: &Scripted, position: u64) {
    eventually(&format!("position {position} to be handled"), || async {
        (reaction.calls(position) > 0).then_some(())
    })
    .await;
    let _ = db;
}

async fn unknown_types_are_skipped_and_later_events_handled(backend: Backend) {
    let db = Db::open(backend).await;
    let unknown = db
        .append("fundtrail.v1.SomethingANewerVersionRecords", vec![8, 1])
        .await;
    let later = db.registered("XM-DAC-7").await;
    let reaction = Scripted::new(&[]);
    let running = start(&db, reaction.clone());
    handled(&db, &reaction, later).await;
    assert_eq!(
        reaction.calls(unknown),
        0,
        "an unknown type reaches no rule"
    );
    eventually("the cursor to pass both", || async {
        (db.store.load_cursor("test.scripted").await.unwrap() >= later).then_some(())
    })
    .await;
    assert!(db.items().await.is_empty(), "nothing needs attention");
    running.stop().await;
    db.close().await;
}

async fn undecodable_payloads_are_parked_with_the_cursor(backend: Backend) {
    let db = Db::open(backend).await;
    let broken = db
        .append("fundtrail.v1.DonorRegistered", vec![0xff, 0xff, 0xff])
        .await;
    let later = db.registered("XM-DAC-7").await;
    let reaction = Scripted::new(&[]);
    let running = start(&db, reaction.clone());
    handled(&db, &reaction, later).await;
    let items = db.items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    let item = &items[0];
    assert_eq!(
        (
            item.consumer.as_str(),
            item.position,
            item.kind,
            item.attempts
        ),
        ("test.scripted", broken, AttentionKind::Undecodable, 1)
    );
    assert_eq!(item.event_type, "fundtrail.v1.DonorRegistered");
    assert!(item.cause.contains("not valid protobuf"), "{}", item.cause);
    assert_eq!(item.state, AttentionState::Open);
    assert!(db.store.load_cursor("test.scripted").await.unwrap() >= broken);
    running.stop().await;
    db.close().await;
}

async fn failures_are_retried_then_parked(backend: Backend) {
    let db = Db::open(backend).await;
    let stubborn = db.registered("US-GOV-1").await;
    let flaky = db.registered("GB-GOV-1").await;
    let later = db.registered("XM-DAC-7").await;
    let reaction = Scripted::new(&[
        ("US-GOV-1", Script::AlwaysFails),
        ("GB-GOV-1", Script::FailsTimes(2)),
    ]);
    let running = start(&db, reaction.clone());
    handled(&db, &reaction, later).await;
    assert_eq!(reaction.calls(stubborn), QUICK.attempts, "bounded attempts");
    assert_eq!(reaction.calls(flaky), 3, "a passing failure is retried");
    let items = db.items().await;
    assert_eq!(
        items.len(),
        1,
        "only the stubborn failure is parked: {items:?}"
    );
    assert_eq!(
        (items[0].position, items[0].kind, items[0].attempts),
        (stubborn, AttentionKind::Failed, QUICK.attempts)
    );
    assert!(
        items[0].cause.contains("kept changing"),
        "{}",
        items[0].cause
    );
    running.stop().await;
    db.close().await;
}

async fn refusals_are_parked_at_once_with_their_reason(backend: Backend) {
    let db = Db::open(backend).await;
    let refused = db.registered("US-GOV-1").await;
    let later = db.registered("XM-DAC-7").await;
    let reaction = Scripted::new(&[("US-GOV-1", Script::Refused)]);
    let running = start(&db, reaction.clone());
    handled(&db, &reaction, later).await;
    assert_eq!(
        reaction.calls(refused),
        1,
        "a rule's refusal is not retried"
    );
    let items = db.items().await;
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(
        (
            items[0].position,
            items[0].kind,
            items[0].reason.as_str(),
            items[0].attempts
        ),
        (refused, AttentionKind::Refused, "MATCHING_CAP_EXCEEDED", 1)
    );
    running.stop().await;
    db.close().await;
}

async fn outages_are_waited_out_not_parked(backend: Backend) {
    let db = Db::open(backend).await;
    let first = db.registered("US-GOV-1").await;
    let reaction = Scripted::new(&[("US-GOV-1", Script::OutOfReach)]);
    let running = start(&db, reaction.clone());
    eventually("the outage to outlast the attempts", || async {
        (reaction.calls(first) > QUICK.attempts).then_some(())
    })
    .await;
    assert!(
        db.items().await.is_empty(),
        "an outage is not the event's fault"
    );
    reaction.fixed.store(true, Ordering::SeqCst);
    let later = db.registered("XM-DAC-7").await;
    handled(&db, &reaction, later).await;
    assert!(db.items().await.is_empty());
    running.stop().await;
    db.close().await;
}

async fn redrives_are_handled_again_and_settled(backend: Backend) {
    let db = Db::open(backend).await;
    let refused = db.registered("US-GOV-1").await;
    let later = db.registered("XM-DAC-7").await;
    let reaction = Scripted::new(&[("US-GOV-1", Script::Refused)]);
    let running = start(&db, reaction.clone());
    handled(&db, &reaction, later).await;
    let item = eventually("the refusal to be parked", || async {
        db.items().await.into_iter().next()
    })
    .await;

    // Still refused: open again, with one attempt more.
    db.store.attention().request_redrive(item.id).await.unwrap();
    let again = eventually("the re-drive to be settled", || async {
        let item = db
            .store
            .attention()
            .attention_item(item.id)
            .await
            .unwrap()?;
        (item.state == AttentionState::Open).then_some(item)
    })
    .await;
    assert_eq!(again.attempts, 2);
    assert_eq!(*reaction.redriven.lock().unwrap(), [refused]);

    // The cause is gone: the re-drive resolves it.
    reaction.fixed.store(true, Ordering::SeqCst);
    db.store.attention().request_redrive(item.id).await.unwrap();
    let resolved = eventually("the re-drive to resolve the item", || async {
        let item = db
            .store
            .attention()
            .attention_item(item.id)
            .await
            .unwrap()?;
        (item.state == AttentionState::Resolved).then_some(item)
    })
    .await;
    assert_eq!(resolved.attempts, 3);
    assert_eq!(*reaction.redriven.lock().unwrap(), [refused, refused]);
    assert_eq!(reaction.calls(refused), 3);
    running.stop().await;

    // A re-drive asked for while the reaction is down is handled when it starts.
    let fresh = Scripted::new(&[]);
    db.store.attention().request_redrive(item.id).await.unwrap();
    let running = start(&db, fresh.clone());
    eventually("the waiting re-drive to be handled", || async {
        let item = db
            .store
            .attention()
            .attention_item(item.id)
            .await
            .unwrap()?;
        (item.state == AttentionState::Resolved && item.attempts == 4).then_some(())
    })
    .await;
    assert_eq!(*fresh.redriven.lock().unwrap(), [refused]);
    running.stop().await;
    db.close().await;
}

macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    unknown_types_are_skipped_and_later_events_handled,
    undecodable_payloads_are_parked_with_the_cursor,
    failures_are_retried_then_parked,
    refusals_are_parked_at_once_with_their_reason,
    outages_are_waited_out_not_parked,
    redrives_are_handled_again_and_settled,
);
