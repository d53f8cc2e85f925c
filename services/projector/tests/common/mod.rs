//! What the projector's tests share: stores on SQLite and PostgreSQL, histories, a projector
//! running in a task, and the views of a history folded from scratch.

#![allow(dead_code, clippy::pedantic)]

#[path = "../../../../crates/projections/tests/support/mod.rs"]
pub mod support;

use std::sync::Arc;
use std::time::Duration;

use fundtrail_domain::Currency;
use fundtrail_log::{Delivery, EventSource, LogError, StoreSource};
use fundtrail_projections::persist::{ViewDb, open};
use fundtrail_projections::{Decoded, Reporting, View, Views, decode};
use fundtrail_projector::{FundingService, Projector, ProjectorOptions, Shared};
use fundtrail_store::{EventStore, RecordedEvent, StoreOptions};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub fn reporting() -> Reporting {
    Reporting(Currency::USD)
}

/// A store and its views' database, removed when dropped.
pub struct Db {
    pub store: Arc<dyn EventStore>,
    pub views: ViewDb,
    pub url: String,
    pub options: StoreOptions,
    _dir: Option<tempfile::TempDir>,
    schema: Option<String>,
}

impl Db {
    pub async fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fund.db").display());
        let options = StoreOptions {
            poll_interval: Duration::from_millis(50),
            ..StoreOptions::default()
        };
        let (store, views) = open(&url, options.clone()).await.unwrap();
        Self {
            store,
            views,
            url,
            options,
            _dir: Some(dir),
            schema: None,
        }
    }

    /// An in-memory SQLite store: one connection for the store, the views and the reads.
    pub async fn memory() -> Self {
        let url = "sqlite::memory:".to_owned();
        let options = StoreOptions {
            poll_interval: Duration::from_millis(50),
            ..StoreOptions::default()
        };
        let (store, views) = open(&url, options.clone()).await.unwrap();
        Self {
            store,
            views,
            url,
            options,
            _dir: None,
            schema: None,
        }
    }

    /// A fresh schema of the test database, or `None` (the test is skipped) when there is no
    /// PostgreSQL to use.
    pub async fn postgres(name: &str) -> Self {
        let url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let schema = format!("projector_{name}_{}", std::process::id());
        drop_schema(&url, &schema).await;
        let options = StoreOptions {
            schema: Some(schema.clone()),
            poll_interval: Duration::from_millis(50),
            ..StoreOptions::default()
        };
        let (store, views) = open(&url, options.clone()).await.unwrap();
        Self {
            store,
            views,
            url,
            options,
            _dir: None,
            schema: Some(schema),
        }
    }

    /// What a restarted process has: new connections. A task killed mid-query can leave its
    /// pooled connection inside a transaction the pool does not know of (the abort fell between
    /// `BEGIN` going out and its answer coming back); the process it stands for would have died
    /// with its connections, so a test that kills the projector reads and restarts through new
    /// ones.
    pub async fn reopen(&mut self) {
        let (store, views) = open(&self.url, self.options.clone()).await.unwrap();
        self.store = store;
        self.views = views;
    }

    pub async fn cleanup(self) {
        if let Some(schema) = &self.schema {
            drop_schema(&self.url, schema).await;
        }
    }
}

async fn drop_schema(url: &str, schema: &str) {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url).await.unwrap();
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await
    .unwrap();
}

/// The story of the snapshot tests, appended to the store.
pub async fn story(db: &Db) -> support::World {
    let world = support::story::story();
    support::store::append_all(&*db.store, &world.log).await;
    world
}

/// A random history of about `ops` operations, appended to the store.
pub async fn random(db: &Db, ops: u32, seed: u32) -> support::World {
    let mut world = support::World::seeded(Currency::USD);
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    let mut next = || {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        x
    };
    for _ in 0..ops {
        let op = support::Op {
            kind: u8::try_from(next() % 256).unwrap(),
            a: next(),
            b: next(),
            c: next(),
        };
        world.apply(op);
    }
    support::store::append_all(&*db.store, &world.log).await;
    world
}

pub async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut events = Vec::new();
    loop {
        let page = store.read_all(events.len() as u64 + 1, 1000).await.unwrap();
        if page.is_empty() {
            return events;
        }
        events.extend(page);
    }
}

/// The views of the first `upto` stored events, folded from scratch.
pub fn fold(events: &[RecordedEvent], upto: impl TryInto<usize>) -> Views {
    let upto = upto.try_into().unwrap_or(usize::MAX).min(events.len());
    let mut views = Views::new(reporting());
    for event in &events[..upto] {
        views.apply(&decode(event).unwrap());
    }
    views.clear_changes();
    views
}

/// Everything a reader can see of the views, for comparisons.
#[derive(Debug, PartialEq, Eq)]
pub struct Seen {
    pub countries: Vec<fundtrail_projections::country::CountryReport>,
    pub donors: Vec<fundtrail_projections::donor::DonorReport>,
    pub overview: fundtrail_projections::overview::OverviewReport,
}

pub fn seen(views: &Views) -> Seen {
    Seen {
        countries: views.country.reports(),
        donors: views
            .donors
            .donors()
            .filter_map(|id| views.donors.report(id))
            .collect(),
        overview: views.overview.report(),
    }
}

/// A projector running in a task.
pub struct Running {
    pub shared: Arc<Shared>,
    pub funding: FundingService,
    pub shutdown: CancellationToken,
    pub task: JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = self.task.await;
    }

    /// Waits until every view has reached `position`.
    pub async fn reach(&self, position: u64) {
        let mut positions = self.shared.positions();
        tokio::time::timeout(
            Duration::from_secs(30),
            positions.wait_for(|p| p.least() >= position),
        )
        .await
        .expect("the projector did not catch up in time")
        .unwrap();
    }
}

pub fn start_with(db: &Db, source: Arc<dyn EventSource>, options: ProjectorOptions) -> Running {
    let projector = Projector::new(
        reporting(),
        db.views.clone(),
        db.store.clone(),
        source,
        options,
    );
    let shared = projector.shared();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(projector.run(shutdown.clone()));
    Running {
        funding: FundingService::new(shared.clone(), db.store.clone())
            .with_history(fundtrail_projections::History::Table(db.views.clone())),
        shared,
        shutdown,
        task,
    }
}

pub fn start(db: &Db) -> Running {
    start_with(
        db,
        Arc::new(StoreSource(db.store.clone())),
        ProjectorOptions {
            retry: Duration::from_millis(20),
            ..ProjectorOptions::default()
        },
    )
}

/// The views as stored in the database.
pub async fn stored(db: &Db) -> Views {
    let country = db.views.load(reporting()).await.unwrap().view;
    let donors = db.views.load(reporting()).await.unwrap().view;
    let overview = db.views.load(reporting()).await.unwrap().view;
    Views {
        country,
        donors,
        overview,
    }
}

pub fn least(views: &Views) -> u64 {
    View::mark(&views.country)
        .position
        .min(View::mark(&views.donors).position)
        .min(View::mark(&views.overview).position)
}

/// A source fed by hand, one event at a time, for tests that look at every position.
pub struct Stepper {
    sender: tokio::sync::mpsc::UnboundedSender<RecordedEvent>,
    receiver: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<RecordedEvent>>>,
}

impl Stepper {
    pub fn new() -> Arc<Self> {
        let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
        Arc::new(Self {
            sender,
            receiver: std::sync::Mutex::new(Some(receiver)),
        })
    }

    pub fn send(&self, event: RecordedEvent) {
        self.sender.send(event).unwrap();
    }
}

impl EventSource for Stepper {
    fn deliveries(
        &self,
        _consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        match self.receiver.lock().unwrap().take() {
            Some(receiver) => tokio_stream_from(receiver),
            None => futures::stream::pending().boxed(),
        }
    }
}

fn tokio_stream_from(
    mut receiver: tokio::sync::mpsc::UnboundedReceiver<RecordedEvent>,
) -> BoxStream<'static, Result<Delivery, LogError>> {
    futures::stream::poll_fn(move |cx| {
        receiver
            .poll_recv(cx)
            .map(|e| e.map(|e| Ok(Delivery::global(e))))
    })
    .boxed()
}

pub fn decoded(events: &[RecordedEvent]) -> Vec<Decoded> {
    events.iter().map(|e| decode(e).unwrap()).collect()
}
