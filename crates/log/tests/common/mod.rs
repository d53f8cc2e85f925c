//! What the log tests share: stores, events, a counting process manager and checks.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::NaiveDate;
use fundtrail_domain::{
    CountryCode, Currency, DonorEvent, DonorId, DonorKind, Earmark, Event, Money, PledgeEvent,
    PledgeId,
};
use fundtrail_log::{Consumer, ConsumerOptions, EventSource};
use fundtrail_store::{
    AppendRequest, EventStore, ExpectedVersion, Idempotency, NewEvent, PgStore, RecordedEvent,
    SqliteStore, StoreOptions,
};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

pub const COUNTRIES: &[&str] = &["BA", "UA", "XX", "AF", "KH", "CO"];

pub fn unique(prefix: &str) -> String {
    format!("{prefix}{}", &Uuid::now_v7().simple().to_string()[20..])
}

pub fn nats_url() -> String {
    std::env::var("FUNDTRAIL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The Kafka broker for tests, or `None` (with a message) when none is configured or running.
pub fn kafka() -> Option<String> {
    if let Ok(brokers) = std::env::var("FUNDTRAIL_TEST_KAFKA") {
        return Some(brokers);
    }
    if std::net::TcpStream::connect("127.0.0.1:9092").is_ok() {
        return Some("127.0.0.1:9092".into());
    }
    eprintln!(
        "SKIPPED: no Kafka broker (set FUNDTRAIL_TEST_KAFKA or start tansu on 127.0.0.1:9092; \
         scripts/test does both)"
    );
    None
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A store in a fresh file (kept: the test ends before anyone could miss it).
pub async fn sqlite() -> SqliteStore {
    let dir = tempfile::tempdir().unwrap().keep();
    let url = format!("sqlite://{}", dir.join("store.db").display());
    SqliteStore::connect(&url, quick()).await.unwrap()
}

pub async fn postgres() -> PgStore {
    let url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let options = StoreOptions {
        schema: Some(unique("log_")),
        ..quick()
    };
    PgStore::connect(&url, options).await.unwrap()
}

fn quick() -> StoreOptions {
    StoreOptions {
        poll_interval: Duration::from_millis(50),
        ..StoreOptions::default()
    }
}

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()
}

/// Appends one event concerning `country` (`XX`: a donor registration, which concerns none).
pub async fn append(store: &dyn EventStore, country: &str) -> u64 {
    let donor_id = DonorId::parse("XM-DAC-7").unwrap();
    let (stream, event) = if country == "XX" {
        (
            format!("donor-{}", Uuid::now_v7()),
            Event::Donor(DonorEvent::Registered {
                donor_id,
                name: "Netherlands".into(),
                kind: DonorKind::Government,
                matching_eligible: true,
            }),
        )
    } else {
        let pledge_id = PledgeId::from_uuid(Uuid::now_v7());
        (
            format!("pledge-{pledge_id}"),
            Event::Pledge(PledgeEvent::Recorded {
                pledge_id,
                donor_id,
                amount: Money::new(Currency::EUR, 1_000_000),
                earmark: Earmark::Country(CountryCode::new(country).unwrap()),
                pledged_on: day(),
            }),
        )
    };
    let encoded = fundtrail_proto::encode(&event);
    let metadata = prost::Message::encode_to_vec(&fundtrail_proto::v1::EventMetadata {
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
        ..Default::default()
    });
    let new = NewEvent::new(
        Uuid::now_v7(),
        encoded.event_type,
        encoded.payload,
        metadata,
    );
    store
        .append(AppendRequest::new(stream, ExpectedVersion::Any, vec![new]))
        .await
        .unwrap()
        .last_position
}

/// Appends `count` events cycling through [`COUNTRIES`]; returns `(position, country)`.
pub async fn append_many(store: &dyn EventStore, count: usize) -> Vec<(u64, String)> {
    append_across(store, count, COUNTRIES).await
}

/// Appends `count` events cycling through `countries`.
pub async fn append_across(
    store: &dyn EventStore,
    count: usize,
    countries: &[&str],
) -> Vec<(u64, String)> {
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let country = countries[i % countries.len()];
        out.push((append(store, country).await, country.to_owned()));
    }
    out
}

/// The event type of a counter's effects.
pub const COUNTED: &str = "fundtrail.test.Counted";

/// A process manager as production runs one: for each event the test appended (a pledge or
/// a donor), it appends one effect event to its own stream, with a request id derived from its
/// name and the event's id and the cursor it was handed, in one atomic append (what
/// `Ledger::react` does). Its own effects arrive through the log too, and take no effect.
/// Restarts itself after errors, like a service.
pub struct Counter {
    pub task: JoinHandle<()>,
    /// Effects the store answered as replays: the counter handled an event again although
    /// its cursor had been committed with the effect.
    pub replays: Arc<AtomicU64>,
}

impl Counter {
    pub fn replays(&self) -> u64 {
        self.replays.load(Ordering::SeqCst)
    }

    pub async fn stop(self) {
        self.task.await.unwrap();
    }
}

pub fn counter(
    store: &SqliteStore,
    source: Arc<dyn EventSource>,
    name: &str,
    shutdown: &CancellationToken,
) -> Counter {
    counter_as(store, source, name, "", shutdown)
}

/// The stream a counter's effects go to.
pub fn effect_stream(name: &str) -> String {
    format!("counted-{name}")
}

/// As [`counter`], as one of several members of a consumer group.
pub fn counter_as(
    store: &SqliteStore,
    source: Arc<dyn EventSource>,
    name: &str,
    member: &str,
    shutdown: &CancellationToken,
) -> Counter {
    let member = member.to_owned();
    let store: Arc<dyn EventStore> = Arc::new(store.clone());
    let name = name.to_owned();
    let shutdown = shutdown.clone();
    let replays = Arc::new(AtomicU64::new(0));
    let counted = replays.clone();
    let task = tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            let result = async {
                let options = ConsumerOptions {
                    idle_save: Duration::from_millis(100),
                    ..ConsumerOptions::default()
                };
                let mut consumer = Consumer::open(&name, store.clone(), &*source, options).await?;
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        next = consumer.next() => next,
                    };
                    let Some(next) = next else { return Ok(()) };
                    let next = next?;
                    if next.event.event_type == COUNTED {
                        consumer.done(next, false).await?;
                        continue;
                    }
                    let country =
                        fundtrail_proto::decode(&next.event.event_type, &next.event.payload)
                            .ok()
                            .and_then(|e| e.country())
                            .map_or_else(|| "XX".to_owned(), |c| c.to_string());
                    let effect = format!(
                        "{} {country} {} {member}",
                        next.event.position, next.cursor.consumer
                    );
                    let event_id = next.event.event_id;
                    let request = AppendRequest::new(
                        effect_stream(&name),
                        ExpectedVersion::Any,
                        vec![NewEvent::new(
                            Uuid::now_v7(),
                            COUNTED,
                            effect.into_bytes(),
                            Vec::new(),
                        )],
                    )
                    .with_idempotency(
                        format!("{name}:{event_id}"),
                        Idempotency::fingerprint_of(event_id.as_bytes()),
                    )
                    .with_cursor(next.cursor.consumer.clone(), next.cursor.position);
                    let result = store.append(request).await?;
                    if result.replayed {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    consumer.done(next, !result.replayed).await?;
                }
            }
            .await;
            if let Err::<(), fundtrail_log::LogError>(error) = result {
                eprintln!("counter {name}: {error}; reopening");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    Counter { task, replays }
}

/// The counter's effects in the order they were committed: `(position, country, lane)`.
pub async fn effects(store: &dyn EventStore, name: &str) -> Vec<(u64, String, String)> {
    effect_rows(store, name)
        .await
        .into_iter()
        .map(|(position, country, lane, _)| (position, country, lane))
        .collect()
}

/// `(position, country, lane, member)` of each effect.
async fn effect_rows(store: &dyn EventStore, name: &str) -> Vec<(u64, String, String, String)> {
    store
        .read_stream(&effect_stream(name), 0)
        .await
        .unwrap()
        .into_iter()
        .map(|event| {
            let text = String::from_utf8(event.payload).unwrap();
            let mut parts = text.split(' ');
            let mut part = || parts.next().unwrap_or_default().to_owned();
            (part().parse().unwrap(), part(), part(), part())
        })
        .collect()
}

/// How many effects each member of a group committed.
pub async fn by_member(store: &dyn EventStore, name: &str) -> HashMap<String, u64> {
    let mut members = HashMap::new();
    for (_, _, _, member) in effect_rows(store, name).await {
        *members.entry(member).or_insert(0) += 1;
    }
    members
}

/// Waits until the counter has `expected` effects (or fails after `limit`).
pub async fn wait_for(store: &dyn EventStore, name: &str, expected: usize, limit: Duration) {
    eventually(limit, &format!("{name}: {expected} effects"), || async {
        effects(store, name).await.len() >= expected
    })
    .await;
}

/// Waits until `done` holds, checking every 20 ms; fails naming `what` after `limit`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut done: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + limit;
    while !done().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The store's last position.
pub async fn head(store: &dyn EventStore) -> u64 {
    store.head().await.unwrap().position
}

/// Every appended event took effect exactly once, and each country's in position order.
pub fn check_exactly_once_in_country_order(
    effects: &[(u64, String, String)],
    appended: &[(u64, String)],
) {
    let mut positions: Vec<u64> = effects.iter().map(|e| e.0).collect();
    positions.sort_unstable();
    let expected: Vec<u64> = appended.iter().map(|a| a.0).collect();
    assert_eq!(positions, expected, "each event exactly once");
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (position, country, _) in effects {
        let before = last.insert(country, *position).unwrap_or(0);
        assert!(before < *position, "{country}: {position} after {before}");
    }
    let countries: HashMap<u64, &String> = appended.iter().map(|(p, c)| (*p, c)).collect();
    for (position, country, _) in effects {
        assert_eq!(
            countries[position], country,
            "the key is the event's country"
        );
    }
}
pub mod kafka_cases;
pub mod raw;

/// What a consumer handed out, in order, with the lane cursor it was handed for each.
pub type Handed = Arc<std::sync::Mutex<Vec<(RecordedEvent, String)>>>;

/// A consumer that records everything it is handed and has no effect (its cursors move in
/// memory and are saved when idle). Restarts itself after errors.
pub fn recorder(
    store: &SqliteStore,
    source: Arc<dyn EventSource>,
    name: &str,
    shutdown: &CancellationToken,
) -> (JoinHandle<()>, Handed) {
    let store: Arc<dyn EventStore> = Arc::new(store.clone());
    let name = name.to_owned();
    let shutdown = shutdown.clone();
    let handed: Handed = Arc::default();
    let record = handed.clone();
    let task = tokio::spawn(async move {
        while !shutdown.is_cancelled() {
            let result = async {
                let options = ConsumerOptions {
                    idle_save: Duration::from_millis(50),
                    ..ConsumerOptions::default()
                };
                let mut consumer = Consumer::open(&name, store.clone(), &*source, options).await?;
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => break,
                        next = consumer.next() => next,
                    };
                    let Some(next) = next else { break };
                    let next = next?;
                    record
                        .lock()
                        .unwrap()
                        .push((next.event.clone(), next.cursor.consumer.clone()));
                    consumer.done(next, false).await?;
                }
                consumer.flush().await
            }
            .await;
            if let Err::<(), fundtrail_log::LogError>(error) = result {
                eprintln!("recorder {name}: {error}; reopening");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    });
    (task, handed)
}

/// Every event of the store, in position order.
pub async fn all_events(store: &dyn EventStore) -> Vec<RecordedEvent> {
    store.read_all(1, 100_000).await.unwrap()
}

/// `event` as a forger would make it: the same envelope with `change` applied, its hash kept.
pub fn forged(event: &RecordedEvent, change: impl FnOnce(&mut RecordedEvent)) -> Vec<u8> {
    let mut event = event.clone();
    change(&mut event);
    prost::Message::encode_to_vec(&fundtrail_log::envelope::envelope(&event))
}

/// The relay's headers for `event`, as a forger copies them.
pub fn headers_of(event: &RecordedEvent) -> Vec<(&'static str, String)> {
    fundtrail_log::envelope::Outgoing::of(event).headers
}
