//! Event store throughput on this machine:
//!
//! ```text
//! cargo run --release -p fundtrail-store --example store-bench [-- --seconds 10]
//! ```
//!
//! Measures, on the PostgreSQL at `FUNDTRAIL_TEST_DATABASE_URL` (in a scratch schema that is
//! dropped afterwards): appends/s of single-event commands from 64 concurrent tasks with the
//! hash chain, expected versions and idempotency on; the ceiling of the same event rows
//! written by plain batched `INSERT`s with no checks; `read_all` replay rate; and the append
//! figure on SQLite (a file in a temporary directory).

// Counts become rates; they are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fundtrail_store::{
    AppendRequest, EventStore, ExpectedVersion, Idempotency, NewEvent, PgStore, SqliteStore,
    StoreOptions,
};
use sqlx::{AssertSqlSafe, Connection, Executor};
use uuid::Uuid;

const TASKS: usize = 64;
const PAYLOAD: usize = 200;
const METADATA: usize = 120;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BenchResult<()> {
    let seconds = arg("--seconds", 5)?;
    let rounds = arg("--rounds", 3)?;
    let url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("store_bench_{}", std::process::id());
    println!(
        "{TASKS} tasks, single-event appends ({PAYLOAD} B payload, {METADATA} B metadata); \
         {rounds} rounds of {seconds} s per measure, store and plain INSERT taking one-second turns"
    );
    println!("load average at start: {}", load_average());

    let outcome = run_postgres(&url, &schema, seconds, rounds).await;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    conn.execute(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await?;
    let pg = outcome?;

    let dir = tempfile::tempdir()?;
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let sqlite = SqliteStore::connect(&sqlite_url, StoreOptions::default()).await?;
    let mut sqlite_runs = Vec::new();
    for _ in 0..rounds {
        sqlite_runs.push(append_load(Arc::new(sqlite.clone()), seconds).await?);
    }
    let sqlite_rate = median(sqlite_runs.iter().map(|r| r.0).collect());
    let sqlite_batch = median(sqlite_runs.iter().map(|r| r.1).collect());

    println!();
    println!("| measure (median of {rounds} rounds) | result |");
    println!("|---|---|");
    println!(
        "| PostgreSQL appends, 64 writers, hash chain + expected version + idempotency | {:.0} events/s (mean {:.1} appends per transaction) |",
        pg.store, pg.batch
    );
    println!(
        "| PostgreSQL plain batched INSERT of the same event rows (64 per transaction, no checks) | {:.0} rows/s |",
        pg.plain
    );
    println!(
        "| ratio store / plain INSERT (per round, then median) | {:.0} % |",
        100.0 * pg.ratio
    );
    println!(
        "| PostgreSQL plain INSERT of all rows an append writes (event + request + stream upsert) | {:.0} events/s |",
        pg.plain_all
    );
    println!(
        "| PostgreSQL read_all replay (batches of 1000) | {:.0} events/s |",
        pg.replay
    );
    println!(
        "| SQLite appends (file, WAL, synchronous=FULL), 64 writers | {sqlite_rate:.0} events/s (mean {sqlite_batch:.1} appends per transaction) |"
    );
    println!("load average at end: {}", load_average());
    Ok(())
}

struct PgFigures {
    store: f64,
    batch: f64,
    plain: f64,
    ratio: f64,
    plain_all: f64,
    replay: f64,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").map_or_else(
        |_| "unknown".to_owned(),
        |text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        },
    )
}

fn arg(name: &str, default: u64) -> BenchResult<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or("a value must follow the flag")?
            .parse()?),
        None => Ok(default),
    }
}

async fn run_postgres(
    url: &str,
    schema: &str,
    seconds: u64,
    rounds: u64,
) -> BenchResult<PgFigures> {
    let options = StoreOptions {
        schema: Some(schema.to_owned()),
        ..StoreOptions::default()
    };
    let store = PgStore::connect(url, options).await?;
    store
        .pool()
        .execute(
            "CREATE TABLE plain_events (LIKE events INCLUDING ALL); \
             CREATE TABLE plain_requests (LIKE event_requests INCLUDING ALL); \
             CREATE TABLE plain_streams (LIKE event_streams INCLUDING ALL)",
        )
        .await?;
    let (mut stores, mut batches, mut plains, mut ratios, mut alls) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut position = 0;
    let load = Load::start(Arc::new(store.clone()));
    load.run_for(Duration::from_secs(1)).await; // warm-up
    for _ in 0..rounds {
        // One-second turns: store, plain INSERT, plain INSERT of all rows, and again.
        let (mut events, mut appends, mut transactions) = (0, 0, 0);
        let (mut plain, mut all) = (0.0, 0.0);
        for _ in 0..seconds {
            let (e, a, t) = load.run_for(Duration::from_secs(1)).await;
            (events, appends, transactions) = (events + e, appends + a, transactions + t);
            plain += plain_insert(&store, 1, false, &mut position).await?;
            all += plain_insert(&store, 1, true, &mut position).await?;
        }
        let rate = events as f64 / seconds as f64;
        let (plain, all) = (plain / seconds as f64, all / seconds as f64);
        println!("round: store {rate:.0}/s, plain {plain:.0}/s, plain all rows {all:.0}/s");
        stores.push(rate);
        batches.push(appends as f64 / transactions.max(1) as f64);
        plains.push(plain);
        ratios.push(rate / plain);
        alls.push(all);
    }
    load.finish().await?;
    let replay = replay(&store).await?;
    Ok(PgFigures {
        store: median(stores),
        batch: median(batches),
        plain: median(plains),
        ratio: median(ratios),
        plain_all: median(alls),
        replay,
    })
}

fn new_event(task: usize, n: u64) -> NewEvent {
    let mut payload = vec![0u8; PAYLOAD];
    payload[..16].copy_from_slice(&(task as u128 * 1_000_000 + u128::from(n)).to_be_bytes());
    NewEvent::new(
        Uuid::now_v7(),
        "fundtrail.v1.ContributionReceived",
        payload,
        vec![7u8; METADATA],
    )
}

/// 64 tasks, each a client sending commands to its own aggregate with the version it knows
/// and a fresh request id. They run only while the load is switched on, so that the store
/// and the plain INSERTs can take turns second by second on a machine whose speed drifts.
struct Load {
    store: Arc<dyn EventStore>,
    running: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
    tasks: Vec<tokio::task::JoinHandle<Result<(), fundtrail_store::StoreError>>>,
}

impl Load {
    fn start(store: Arc<dyn EventStore>) -> Self {
        let running = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicU64::new(0));
        let tasks = (0..TASKS)
            .map(|task| {
                let (store, running, stop, done) =
                    (store.clone(), running.clone(), stop.clone(), done.clone());
                tokio::spawn(async move {
                    let stream = format!("bench-{}-{task}", Uuid::now_v7().simple());
                    let mut version = None;
                    let mut n = 0u64;
                    while !stop.load(Ordering::Relaxed) {
                        if !running.load(Ordering::Relaxed) {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        let expected =
                            version.map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
                        let request_id = format!("{stream}-{n}");
                        let fingerprint = Idempotency::fingerprint_of(request_id.as_bytes());
                        let request =
                            AppendRequest::new(stream.as_str(), expected, vec![new_event(task, n)])
                                .with_idempotency(request_id, fingerprint);
                        let result = store.append(request).await?;
                        version = Some(result.last_version);
                        n += 1;
                        done.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(())
                })
            })
            .collect();
        Self {
            store,
            running,
            stop,
            done,
            tasks,
        }
    }

    /// Runs the load for `duration`; returns the events committed and the appends and
    /// transactions it took.
    async fn run_for(&self, duration: Duration) -> (u64, u64, u64) {
        let (before, stats) = (self.done.load(Ordering::Relaxed), self.store.stats());
        self.running.store(true, Ordering::Relaxed);
        tokio::time::sleep(duration).await;
        self.running.store(false, Ordering::Relaxed);
        // Let the appends in flight finish before the next measure starts.
        tokio::time::sleep(Duration::from_millis(50)).await;
        let after = self.store.stats();
        (
            self.done.load(Ordering::Relaxed) - before,
            after.appends - stats.appends,
            after.transactions - stats.transactions,
        )
    }

    async fn finish(self) -> BenchResult<()> {
        self.stop.store(true, Ordering::Relaxed);
        for task in self.tasks {
            task.await??;
        }
        Ok(())
    }
}

/// Rate over a run of `seconds` one-second turns, and appends per transaction.
async fn append_load(store: Arc<dyn EventStore>, seconds: u64) -> BenchResult<(f64, f64)> {
    let load = Load::start(store);
    load.run_for(Duration::from_secs(1)).await; // warm-up
    let (mut events, mut appends, mut transactions) = (0, 0, 0);
    for _ in 0..seconds {
        let (e, a, t) = load.run_for(Duration::from_secs(1)).await;
        (events, appends, transactions) = (events + e, appends + a, transactions + t);
    }
    load.finish().await?;
    Ok((
        events as f64 / seconds as f64,
        appends as f64 / transactions.max(1) as f64,
    ))
}

/// The same event rows (same sizes, same indexes) written by plain multi-row INSERTs of 64
/// rows, one transaction each, with no lock, no lookups and no hashing: what the database
/// itself absorbs at the batch size that 64 single-command writers allow. With `all_rows`,
/// each event also gets its request row and its stream upsert, as an append does.
async fn plain_insert(
    store: &PgStore,
    seconds: u64,
    all_rows: bool,
    position: &mut i64,
) -> BenchResult<f64> {
    let pool = store.pool();
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let start = Instant::now();
    let mut rows = 0u64;
    let hash = vec![1u8; 32];
    while Instant::now() < deadline {
        let mut positions = Vec::with_capacity(TASKS);
        let mut ids = Vec::with_capacity(TASKS);
        let mut streams = Vec::with_capacity(TASKS);
        let mut payloads = Vec::with_capacity(TASKS);
        let mut request_ids = Vec::with_capacity(TASKS);
        for task in 0..TASKS {
            *position += 1;
            let event = new_event(task, rows);
            positions.push(*position);
            ids.push(event.event_id);
            streams.push(format!("plain-{task}"));
            payloads.push(event.payload);
            request_ids.push(format!("plain-{}-{task}", *position));
        }
        let sql = if all_rows {
            "WITH ev AS (INSERT INTO plain_events (position, event_id, stream, version, event_type, \
             payload, metadata, recorded_at, prev_hash, hash) \
             SELECT p, i, s, p, 'fundtrail.v1.ContributionReceived', pl, $6, 0, $7, $7 \
             FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::bytea[]) AS t(p, i, s, pl)), \
             rq AS (INSERT INTO plain_requests SELECT r, $7, s, p, p, p, p, 0 \
             FROM UNNEST($5::text[], $3::text[], $1::int8[]) AS t(r, s, p)) \
             INSERT INTO plain_streams SELECT s, p FROM UNNEST($3::text[], $1::int8[]) AS t(s, p) \
             ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version"
        } else {
            "INSERT INTO plain_events (position, event_id, stream, version, event_type, payload, \
             metadata, recorded_at, prev_hash, hash) \
             SELECT p, i, s, p, 'fundtrail.v1.ContributionReceived', pl, $6, 0, $7, $7 \
             FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::bytea[]) AS t(p, i, s, pl) \
             WHERE cardinality($5::text[]) >= 0"
        };
        sqlx::query(sql)
            .bind(positions)
            .bind(ids)
            .bind(streams)
            .bind(payloads)
            .bind(request_ids)
            .bind(vec![7u8; METADATA])
            .bind(&hash)
            .execute(pool)
            .await?;
        rows += TASKS as u64;
    }
    Ok(rows as f64 / start.elapsed().as_secs_f64())
}

async fn replay(store: &PgStore) -> BenchResult<f64> {
    let head = store.head().await?.position;
    let start = Instant::now();
    let mut next = 1;
    let mut read = 0u64;
    while next <= head {
        let events = store.read_all(next, 1000).await?;
        let Some(last) = events.last() else { break };
        next = last.position + 1;
        read += events.len() as u64;
    }
    Ok(read as f64 / start.elapsed().as_secs_f64())
}
