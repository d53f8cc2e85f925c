//! What the log tests share: stores, events, a counting consumer and checks.
#![allow(dead_code, clippy::missing_panics_doc)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use fundtrail_domain::{
    CountryCode, Currency, DonorEvent, DonorId, DonorKind, Earmark, Event, Money, PledgeEvent,
    PledgeId,
};
use fundtrail_log::cursor::advance_sqlite;
use fundtrail_log::{Consumer, ConsumerOptions, EventSource};
use fundtrail_store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, PgStore, SqliteStore, StoreOptions,
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

/// A consumer whose effect is one row per event, committed with its cursor (moved only
/// forward, or the effect is rolled back). Restarts itself after errors, like a service.
pub fn counter(
    store: &SqliteStore,
    source: Arc<dyn EventSource>,
    name: &str,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    counter_as(store, source, name, "", shutdown)
}

/// As [`counter`], as one of several members of a consumer group.
pub fn counter_as(
    store: &SqliteStore,
    source: Arc<dyn EventSource>,
    name: &str,
    member: &str,
    shutdown: &CancellationToken,
) -> JoinHandle<()> {
    let member = member.to_owned();
    let store = store.clone();
    let name = name.to_owned();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        sqlx::query(
            "CREATE TABLE IF NOT EXISTS effects (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             consumer TEXT NOT NULL, position INTEGER NOT NULL, country TEXT NOT NULL, \
             lane TEXT NOT NULL, member TEXT NOT NULL)",
        )
        .execute(store.pool())
        .await
        .unwrap();
        let shared: Arc<dyn EventStore> = Arc::new(store.clone());
        while !shutdown.is_cancelled() {
            let result = async {
                let options = ConsumerOptions {
                    idle_save: Duration::from_millis(100),
                    ..ConsumerOptions::default()
                };
                let mut consumer = Consumer::open(&name, shared.clone(), &*source, options).await?;
                loop {
                    let next = tokio::select! {
                        () = shutdown.cancelled() => return Ok(()),
                        next = consumer.next() => next,
                    };
                    let Some(next) = next else { return Ok(()) };
                    let next = next?;
                    let country =
                        fundtrail_proto::decode(&next.event.event_type, &next.event.payload)
                            .ok()
                            .and_then(|e| e.country())
                            .map_or_else(|| "XX".to_owned(), |c| c.to_string());
                    let mut tx = store.pool().begin().await.unwrap();
                    let fresh =
                        advance_sqlite(&mut tx, &next.cursor.consumer, next.cursor.position)
                            .await?;
                    if fresh {
                        sqlx::query(
                            "INSERT INTO effects (consumer, position, country, lane, member) \
                             VALUES (?, ?, ?, ?, ?)",
                        )
                        .bind(&name)
                        .bind(next.event.position as i64)
                        .bind(&country)
                        .bind(&next.cursor.consumer)
                        .bind(&member)
                        .execute(&mut *tx)
                        .await
                        .unwrap();
                        tx.commit().await.unwrap();
                    } else {
                        tx.rollback().await.unwrap();
                    }
                    consumer.done(next, fresh).await?;
                }
            }
            .await;
            if let Err::<(), fundtrail_log::LogError>(error) = result {
                eprintln!("counter {name}: {error}; reopening");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    })
}

/// The counter's effects in the order they were committed: `(position, country, lane)`.
pub async fn effects(store: &SqliteStore, name: &str) -> Vec<(u64, String, String)> {
    let rows: Vec<(i64, String, String)> = sqlx::query_as(
        "SELECT position, country, lane FROM effects WHERE consumer = ? ORDER BY id",
    )
    .bind(name)
    .fetch_all(store.pool())
    .await
    .unwrap_or_default();
    rows.into_iter().map(|(p, c, l)| (p as u64, c, l)).collect()
}

/// How many effects each member of a group committed.
pub async fn by_member(store: &SqliteStore, name: &str) -> HashMap<String, u64> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT member, count(*) FROM effects WHERE consumer = ? GROUP BY member")
            .bind(name)
            .fetch_all(store.pool())
            .await
            .unwrap();
    rows.into_iter().map(|(m, c)| (m, c as u64)).collect()
}

/// Waits until the counter has `expected` effects (or fails after `limit`).
pub async fn wait_for(store: &SqliteStore, name: &str, expected: usize, limit: Duration) {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let seen = effects(store, name).await.len();
        if seen >= expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{name}: {seen} of {expected} effects after {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
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
pub mod raw;
