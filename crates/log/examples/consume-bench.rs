//! What confirming deliveries against the store costs a consumer, on this machine:
//!
//! ```text
//! cargo run --release -p fundtrail-log --example consume-bench [-- --events 20000 --rounds 3]
//! ```
//!
//! Appends `--events` events (200 B payload, 120 B metadata) to a store, relays them to a
//! fresh stream on the NATS server at `FUNDTRAIL_TEST_NATS_URL` (default
//! `nats://127.0.0.1:4222`), then drains the stream through a `Consumer` (next, done, with no
//! effect), from a new durable consumer each time: once through `NatsSource`, which confirms
//! every delivery against the store, and once through the same pull consumer decoding the
//! envelopes and trusting them (what the source did before it confirmed), taking turns for
//! `--rounds` rounds. Stores: SQLite (a file in a temporary directory) and PostgreSQL at
//! `FUNDTRAIL_TEST_DATABASE_URL` (a scratch schema, dropped afterwards). The stream is deleted
//! afterwards.

// Counts become rates; they are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use fundtrail_log::config::NatsConfig;
use fundtrail_log::{
    Ack, Consumer, ConsumerOptions, Delivery, EventSource, Lane, LogConfig, LogError, NatsSource,
    Relay, RelayOptions,
};
use fundtrail_store::{
    AppendRequest, EventStore, ExpectedVersion, NewEvent, OpenedStore, PgStore, SqliteStore,
    StoreOptions,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use sqlx::AssertSqlSafe;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BenchResult<()> {
    let events = arg("--events", 20_000)?;
    let rounds = arg("--rounds", 3)?.max(1);
    let nats = std::env::var("FUNDTRAIL_TEST_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let database = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    println!(
        "{events} events, {rounds} rounds, load average {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );

    let dir = tempfile::tempdir()?;
    let sqlite = SqliteStore::connect(
        &format!("sqlite://{}", dir.path().join("bench.db").display()),
        StoreOptions::default(),
    )
    .await?;
    run("SQLite", sqlite.into(), &nats, events, rounds).await?;

    let schema = format!("consume_bench_{}", std::process::id());
    let postgres = PgStore::connect(
        &database,
        StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::default()
        },
    )
    .await?;
    let pool = postgres.pool().clone();
    let outcome = run("PostgreSQL", postgres.into(), &nats, events, rounds).await;
    sqlx::query(AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(&pool)
        .await?;
    outcome
}

async fn run(
    backend: &str,
    store: OpenedStore,
    nats: &str,
    events: usize,
    rounds: usize,
) -> BenchResult<()> {
    let shared = store.events();
    fill(&*shared, events).await?;
    let stream = format!("BENCH{}", &Uuid::now_v7().simple().to_string()[20..]);
    let url = format!(
        "{nats}?stream={stream}&prefix=bench.{}",
        stream.to_lowercase()
    );
    let LogConfig::Nats(config) = url.parse()? else {
        return Err("not a NATS url".into());
    };
    relay(&url, store, &*shared, events as u64).await?;

    let (mut confirmed, mut trusted) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let with = NatsSource::new(config.clone(), shared.clone());
        confirmed.push(drain(&shared, &with, &format!("confirmed{round}"), events).await?);
        let without = Trusting(config.clone());
        trusted.push(drain(&shared, &without, &format!("trusted{round}"), events).await?);
    }
    let client = async_nats::connect(nats).await?;
    let _ = async_nats::jetstream::new(client)
        .delete_stream(&stream)
        .await;
    println!(
        "{backend}: confirmed {} events/s (rounds {}), trusted {} events/s (rounds {}), \
         confirmed at {:.0} % of trusted",
        median(&confirmed),
        list(&confirmed),
        median(&trusted),
        list(&trusted),
        100.0 * median(&confirmed) / median(&trusted)
    );
    Ok(())
}

/// `count` events in appends of 100, to streams of 100 events each.
async fn fill(store: &dyn EventStore, count: usize) -> BenchResult<()> {
    let mut left = count;
    while left > 0 {
        let n = left.min(100);
        let batch = (0..n)
            .map(|_| {
                NewEvent::new(
                    Uuid::now_v7(),
                    "fundtrail.bench.Recorded",
                    vec![7; 200],
                    vec![9; 120],
                )
            })
            .collect();
        store
            .append(AppendRequest::new(
                format!("bench-{}", Uuid::now_v7()),
                ExpectedVersion::NoStream,
                batch,
            ))
            .await?;
        left -= n;
    }
    Ok(())
}

async fn relay(
    url: &str,
    store: OpenedStore,
    events: &dyn EventStore,
    head: u64,
) -> BenchResult<()> {
    let relay = Relay::new(url, store)?.with_options(RelayOptions::default())?;
    let stats = relay.stats();
    let stop = CancellationToken::new();
    let task = tokio::spawn(relay.run(stop.clone()));
    let deadline = Instant::now() + Duration::from_mins(5);
    while events.load_cursor("relay.nats").await? < head {
        if Instant::now() > deadline {
            return Err(format!("relayed only {} of {head} in 5 min", stats.cursor()).into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.cancel();
    task.await?;
    Ok(())
}

/// Events per second a consumer takes from `source` until it has `count`.
async fn drain(
    store: &Arc<dyn EventStore>,
    source: &dyn EventSource,
    name: &str,
    count: usize,
) -> BenchResult<f64> {
    let started = Instant::now();
    let mut consumer =
        Consumer::open(name, store.clone(), source, ConsumerOptions::default()).await?;
    let mut handled = 0;
    while handled < count {
        let next = tokio::time::timeout(Duration::from_secs(30), consumer.next())
            .await
            .map_err(|_| format!("{name}: {handled} of {count} after 30 s without a delivery"))?
            .ok_or("the source ended")??;
        consumer.done(next, false).await?;
        handled += 1;
    }
    consumer.flush().await?;
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// The stream read the way the source did before it confirmed: decode and hand out.
struct Trusting(NatsConfig);

impl EventSource for Trusting {
    fn deliveries(
        &self,
        consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let config = self.0.clone();
        let durable = consumer.to_owned();
        let messages = async move {
            let client = async_nats::connect(&config.url)
                .await
                .map_err(|e| LogError::Nats(e.to_string()))?;
            let js = async_nats::jetstream::new(client);
            let stream = js
                .get_stream(&config.stream)
                .await
                .map_err(|e| LogError::Nats(e.to_string()))?;
            let pull = stream
                .get_or_create_consumer(
                    &durable,
                    pull::Config {
                        durable_name: Some(durable.clone()),
                        deliver_policy: DeliverPolicy::All,
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(30),
                        max_ack_pending: 10_000,
                        ..pull::Config::default()
                    },
                )
                .await
                .map_err(|e| LogError::Nats(e.to_string()))?;
            pull.messages()
                .await
                .map_err(|e| LogError::Nats(e.to_string()))
        };
        futures::stream::once(messages)
            .flat_map(|messages| match messages {
                Ok(messages) => messages
                    .map(|message| {
                        let message = message.map_err(|e| LogError::Nats(e.to_string()))?;
                        let event = fundtrail_log::envelope::recorded(&message.payload)?;
                        Ok(Delivery {
                            event,
                            lane: Lane::Global,
                            generation: 0,
                            ack: Ack::new(move || {
                                Box::pin(async move {
                                    message
                                        .ack()
                                        .await
                                        .map_err(|e| LogError::Nats(e.to_string()))
                                })
                            }),
                        })
                    })
                    .boxed(),
                Err(error) => futures::stream::once(async { Err(error) }).boxed(),
            })
            .boxed()
    }
}

fn median(rates: &[f64]) -> f64 {
    let mut sorted = rates.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2].round()
}

fn list(rates: &[f64]) -> String {
    rates
        .iter()
        .map(|r| format!("{r:.0}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn arg(name: &str, default: usize) -> BenchResult<usize> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        None => Ok(default),
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()?),
    }
}
