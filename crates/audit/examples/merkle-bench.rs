//! The Merkle tree's throughput on this machine:
//!
//! ```text
//! cargo run --release -p fundtrail-audit --example merkle-bench [-- --events 100000 --seconds 5]
//! ```
//!
//! On SQLite (a file in a temporary directory) and on the PostgreSQL at
//! `FUNDTRAIL_TEST_DATABASE_URL` (a scratch schema, dropped afterwards): writes `--events`
//! events (200-byte payloads), then measures
//!
//! - the follower's rate: leaves appended per second by `follower::catch_up` from an empty
//!   tree (reading the events, checking the chain, hashing, writing every complete subtree);
//! - inclusion proofs built per second by 32 concurrent tasks for random positions under the
//!   full tree: as the server builds them (`TreeReader`, subtrees kept in memory once read,
//!   after a one-second warm-up), and with every subtree read from the table; each with the
//!   envelope read from the store (what `ProveTreeInclusion` does besides gRPC) and the path
//!   alone (what a donor holding its event needs);
//! - one proof verified by the client, to show the sizes.

// Counts become rates; they are far below 2^52.
#![allow(clippy::cast_precision_loss)]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fundtrail_audit::storage::{self, OpenedStore};
use fundtrail_audit::tree_proof::TreeReader;
use fundtrail_audit::{follower, tree_proof};
use fundtrail_store::{AppendRequest, ExpectedVersion, NewEvent, StoreOptions};
use fundtrail_verifier::merkle;
use sqlx::{AssertSqlSafe, Connection, Executor};

const TASKS: u64 = 32;
const PER_APPEND: u64 = 1000;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

#[tokio::main]
async fn main() -> BenchResult<()> {
    let events = arg("--events", 100_000)?;
    let seconds = arg("--seconds", 5)?;
    let url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!(
        "{events} events, {seconds} s per measure, load average {}",
        load.split_whitespace().next().unwrap_or("?")
    );

    let dir = tempfile::tempdir()?;
    let sqlite = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", &sqlite, StoreOptions::default(), events, seconds).await?;

    let schema = format!("merkle_bench_{}", std::process::id());
    let options = StoreOptions {
        schema: Some(schema.clone()),
        ..StoreOptions::default()
    };
    let result = run("PostgreSQL", &url, options, events, seconds).await;
    let mut conn = sqlx::PgConnection::connect(&url).await?;
    conn.execute(AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .await?;
    result
}

async fn run(
    label: &str,
    url: &str,
    options: StoreOptions,
    events: u64,
    seconds: u64,
) -> BenchResult<()> {
    let opened = storage::open(url, options).await?;
    fill(&opened, events).await?;

    let started = Instant::now();
    let size = follower::catch_up(opened.events.as_ref(), &opened.checkpoints, None).await?;
    let took = started.elapsed();
    println!(
        "{label}: follower appended {size} leaves in {:.2} s: {:.0} leaves/s",
        took.as_secs_f64(),
        size as f64 / took.as_secs_f64()
    );

    for (what, way) in [
        (
            "inclusion proofs/s with the envelope, as served",
            Way::Served,
        ),
        (
            "inclusion paths/s without the envelope, as served",
            Way::ServedPath,
        ),
        (
            "inclusion proofs/s with the envelope, every subtree read",
            Way::Read,
        ),
        (
            "inclusion paths/s without the envelope, every subtree read",
            Way::ReadPath,
        ),
    ] {
        let rate = measure(&opened, size, seconds, way).await?;
        println!("{label}: {rate:.0} {what} ({TASKS} tasks)");
    }

    let proof =
        tree_proof::event_inclusion(opened.events.as_ref(), &opened.checkpoints, size / 3, size)
            .await?;
    let root = tree_proof::root(&opened.checkpoints, size).await?;
    merkle::verify_inclusion(
        proof.leaf_index,
        size,
        &merkle::event_leaf(&proof.envelope.hash),
        &proof.hashes,
        &root,
    )?;
    println!(
        "{label}: a proof in a tree of {size} holds {} hashes",
        proof.hashes.len()
    );
    Ok(())
}

async fn fill(opened: &OpenedStore, events: u64) -> BenchResult<()> {
    let mut written = 0;
    while written < events {
        let batch: Vec<NewEvent> = (0..PER_APPEND.min(events - written))
            .map(|i| {
                NewEvent::new(
                    uuid::Uuid::now_v7(),
                    "fundtrail.v1.Example",
                    vec![u8::try_from(i % 251).unwrap_or(0); 200],
                    vec![1; 64],
                )
            })
            .collect();
        written += batch.len() as u64;
        opened
            .events
            .append(AppendRequest::new(
                format!("pledge-{written}"),
                ExpectedVersion::Any,
                batch,
            ))
            .await?;
    }
    Ok(())
}

/// How a proof is built: by the server's reader (subtrees kept in memory once read) or from
/// the table each time; with the envelope (`ProveTreeInclusion`) or the path alone.
#[derive(Debug, Clone, Copy)]
enum Way {
    Served,
    ServedPath,
    Read,
    ReadPath,
}

async fn measure(opened: &OpenedStore, size: u64, seconds: u64, way: Way) -> BenchResult<f64> {
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let reader = TreeReader::new(opened.checkpoints.clone());
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let (stop, count, opened, reader) =
            (stop.clone(), count.clone(), opened.clone(), reader.clone());
        tasks.push(tokio::spawn(async move {
            let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ (task + 1);
            while !stop.load(Ordering::Relaxed) {
                // xorshift: positions spread over the whole tree.
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let position = 1 + x % size;
                let events = opened.events.as_ref();
                let built = match way {
                    Way::Served => reader
                        .event_inclusion(events, position, size)
                        .await
                        .map(drop),
                    Way::ServedPath => reader.path(position - 1, size).await.map(drop),
                    Way::Read => {
                        tree_proof::event_inclusion(events, &opened.checkpoints, position, size)
                            .await
                            .map(drop)
                    }
                    Way::ReadPath => tree_proof::path(&opened.checkpoints, position - 1, size)
                        .await
                        .map(drop),
                };
                built?;
                count.fetch_add(1, Ordering::Relaxed);
            }
            Ok::<(), tree_proof::TreeProveError>(())
        }));
    }
    // Warm-up, then the measure.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = count.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    let done = count.load(Ordering::Relaxed) - before;
    let rate = done as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    for task in tasks {
        task.await??;
    }
    Ok(rate)
}

fn arg(name: &str, default: u64) -> BenchResult<u64> {
    let args: Vec<String> = std::env::args().collect();
    match args.iter().position(|a| a == name) {
        Some(i) => Ok(args
            .get(i + 1)
            .ok_or_else(|| format!("{name} needs a value"))?
            .parse()?),
        None => Ok(default),
    }
}
