//! Projection throughput on this machine:
//!
//! ```text
//! cargo run --release -p fundtrail-projections --example projections-bench [-- --events 1000000]
//! ```
//!
//! Generates a history of about `--events` events with the simulated fund of the tests (every
//! command decided by the domain), then measures: the in-memory fold of the three views over
//! decoded events, and over stored events (protobuf decoding included); and a persisted
//! rebuild (read from the store, decode, fold, write the documents, swap) on a SQLite file and
//! on the PostgreSQL at `FUNDTRAIL_TEST_DATABASE_URL` (a scratch schema, dropped afterwards).
//!
//! Diagnostics on a store filled by an earlier run (`--sqlite sqlite:///path` keeps it):
//! `--rebuild-only URL` (the persisted rebuild alone, e.g. under a profiler), `--read-only URL`
//! (the history read through the store's `read_all` and decoded, no fold), `--read-narrow URL`
//! (SQLite: the four columns the folds use, read straight from the table, not decoded), and
//! `--memory-only` (the in-memory folds; `--repeat N` folds N more times).

// Random bits are cut to size on purpose, and rates are printed as whole numbers.
#![allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use fundtrail_domain::Currency;
use fundtrail_projections::persist::open;
use fundtrail_projections::{
    CountryFunding, Decoded, DonorStatements, Fold, FundOverview, RebuildOptions, Reporting, View,
    Views, decode, rebuild,
};
use fundtrail_store::{EventStore, RecordedEvent, StoreOptions};
use support::{Op, World, stored};

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn rate(events: usize, elapsed: Duration) -> u64 {
    (events as f64 / elapsed.as_secs_f64()) as u64
}

/// World operation kinds and how often the benchmark picks them, per 100: a fund where most
/// of the traffic is money moving (receipts, allocations, disbursements), projects are rarer
/// than pledges, and a command mostly concerns something recent.
const MIX: [(u8, u32); 16] = [
    (0, 1),
    (1, 8),
    (3, 1),
    (4, 1),
    (5, 5),
    (6, 16),
    (9, 16),
    (11, 3),
    (12, 4),
    (13, 4),
    (14, 14),
    (15, 14),
    (16, 2),
    (17, 1),
    (18, 2),
    (19, 8),
];

/// An index among the `window` most recent of `len`, as `World::apply` picks it (`a % len`).
fn recent(len: usize, window: usize, r: u64) -> u32 {
    if len == 0 {
        return 0;
    }
    let back = (r as usize) % window.min(len);
    u32::try_from(len - 1 - back).unwrap_or(0)
}

/// A history of at least `events` events from a fixed seed.
fn generate(events: usize) -> World {
    let mut world = World::seeded(Currency::USD);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let total: u32 = MIX.iter().map(|(_, w)| w).sum();
    while world.log.events.len() < events {
        let r = next();
        let mut roll = (r % u64::from(total)) as u32;
        let kind = MIX
            .iter()
            .find(|(_, w)| {
                let hit = roll < *w;
                roll = roll.saturating_sub(*w);
                hit
            })
            .map_or(19, |(k, _)| *k);
        let (pledges, projects, disbursements) = (
            world.pledges.len(),
            world.projects.len(),
            world.disbursements.len(),
        );
        let a = match kind {
            3..=10 => recent(pledges, 2_000, next()),
            11..=14 | 17 => recent(projects, 300, next()),
            15 | 16 => recent(disbursements, 40, next()),
            _ => next() as u32,
        };
        let b = match kind {
            9 | 10 => recent(projects, 300, next()),
            _ => next() as u32,
        };
        world.apply(Op {
            kind,
            a,
            b,
            c: next() as u32,
        });
    }
    world
}

fn fold_decoded(events: &[Decoded]) -> (Views, Duration) {
    let started = Instant::now();
    let mut views = Views::new(Reporting(Currency::USD));
    for event in events {
        views.apply(event);
    }
    (views, started.elapsed())
}

fn fold_one<V: View>(events: &[Decoded]) -> Duration {
    let started = Instant::now();
    let mut view = V::new(Reporting(Currency::USD));
    for event in events {
        view.fold(event);
    }
    started.elapsed()
}

fn fold_stored(events: &[RecordedEvent]) -> BenchResult<Duration> {
    let started = Instant::now();
    let mut views = Views::new(Reporting(Currency::USD));
    for event in events {
        views.apply_recorded(event)?;
    }
    Ok(started.elapsed())
}

async fn persisted(
    name: &str,
    store: std::sync::Arc<dyn EventStore>,
    db: &fundtrail_projections::ViewDb,
    world: &World,
) -> BenchResult<(u64, Duration, u64)> {
    let head = store.head().await?.position;
    if head < world.log.events.len() as u64 {
        let started = Instant::now();
        support::store::append_fast(&*store, &world.log, 0, 512).await;
        println!(
            "{name}: {} events appended in {:.1} s",
            world.log.events.len(),
            started.elapsed().as_secs_f64()
        );
    }
    let mut last = Instant::now();
    let report = rebuild(
        store.clone(),
        db,
        Reporting(Currency::USD),
        &[],
        RebuildOptions::default(),
        |p| {
            if last.elapsed() > Duration::from_secs(5) {
                last = Instant::now();
                println!(
                    "{name}: rebuild at {}/{}, {} events/s",
                    p.position, p.target, p.events_per_second
                );
            }
        },
    )
    .await?;
    Ok((report.events, report.elapsed, report.documents))
}

#[tokio::main]
async fn main() -> BenchResult<()> {
    let events: usize = arg("--events").map_or(Ok(1_000_000), |v| v.parse())?;
    if let Some(url) = arg("--read-narrow") {
        let (_, db) = open(&url, StoreOptions::default()).await?;
        let fundtrail_projections::ViewDb::Sqlite(pool) = db else {
            return Ok(());
        };
        let started = Instant::now();
        let mut n = 0_usize;
        let mut from = 1_i64;
        loop {
            let rows: Vec<(i64, String, Vec<u8>, i64)> = sqlx::query_as(
                "SELECT position, event_type, payload, recorded_at FROM events \
                 WHERE position >= ? ORDER BY position LIMIT 4096",
            )
            .bind(from)
            .fetch_all(&pool)
            .await?;
            if rows.is_empty() {
                break;
            }
            n += rows.len();
            from = rows.last().map_or(from, |r| r.0 + 1);
        }
        println!(
            "narrow read, one reader, no decoding: {} events/s",
            rate(n, started.elapsed())
        );
        return Ok(());
    }
    if let Some(url) = arg("--read-only") {
        // How fast the store's history can be read and decoded, without folding.
        let (store, _) = open(&url, StoreOptions::default()).await?;
        let started = Instant::now();
        let mut rx = fundtrail_projections::replay::pages(
            &fundtrail_projections::History::Store(store),
            1,
            fundtrail_projections::Until::Head,
            fundtrail_projections::replay::PAGE,
        );
        let mut n = 0;
        while let Some(page) = rx.recv().await {
            n += page?.len();
        }
        println!("read and decoded: {} events/s", rate(n, started.elapsed()));
        return Ok(());
    }
    if let Some(url) = arg("--rebuild-only") {
        // A store filled by an earlier run: only the persisted rebuild, e.g. for a profiler.
        let (store, db) = open(&url, StoreOptions::default()).await?;
        let report = rebuild(
            store,
            &db,
            Reporting(Currency::USD),
            &[],
            RebuildOptions::default(),
            |_| {},
        )
        .await?;
        println!(
            "rebuild: {} events/s ({} events, {} documents, {:.1} s)",
            rate(usize::try_from(report.events)?, report.elapsed),
            report.events,
            report.documents,
            report.elapsed.as_secs_f64()
        );
        return Ok(());
    }
    let started = Instant::now();
    let world = generate(events);
    let n = world.log.events.len();
    println!(
        "history: {n} events, {} donors, {} pledges, {} projects, {} disbursements, generated in {:.1} s",
        world.donors.len(),
        world.pledges.len(),
        world.projects.len(),
        world.disbursements.len(),
        started.elapsed().as_secs_f64()
    );
    let stored_events: Vec<RecordedEvent> = world.log.events.iter().map(stored).collect();
    let decoded: Vec<Decoded> = stored_events.iter().map(decode).collect::<Result<_, _>>()?;

    // The first fold pays for fresh memory; the best of three is the steady rate.
    let (views, mut all) = fold_decoded(&decoded);
    let repeat: usize = arg("--repeat").map_or(Ok(2), |v| v.parse())?;
    for _ in 0..repeat {
        all = all.min(fold_decoded(&decoded).1);
    }
    let documents: usize = [&views.country as &dyn Fold, &views.donors, &views.overview]
        .iter()
        .map(|f| f.all_docs().map_or(0, |d| d.len()))
        .sum();
    let country = fold_one::<CountryFunding>(&decoded);
    let donors = fold_one::<DonorStatements>(&decoded);
    let overview = fold_one::<FundOverview>(&decoded);
    let with_decoding = fold_stored(&stored_events)?;
    if std::env::args().any(|a| a == "--memory-only") {
        println!(
            "in memory: {} events/s all views ({} / {} / {} one at a time), {} with decoding",
            rate(n, all),
            rate(n, country),
            rate(n, donors),
            rate(n, overview),
            rate(n, with_decoding)
        );
        return Ok(());
    }

    let dir = tempfile::tempdir()?;
    let sqlite_url = arg("--sqlite")
        .unwrap_or_else(|| format!("sqlite://{}", dir.path().join("bench.db").display()));
    let (store, db) = open(&sqlite_url, StoreOptions::default()).await?;
    let sqlite = persisted("SQLite", store, &db, &world).await?;

    let pg_url = std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let schema = format!("projections_bench_{}", std::process::id());
    let options = StoreOptions {
        schema: Some(schema.clone()),
        ..StoreOptions::default()
    };
    let skip = std::env::args().any(|a| a == "--skip-postgres");
    let opened = if skip {
        Err("--skip-postgres".into())
    } else {
        open(&pg_url, options).await.map_err(|e| e.to_string())
    };
    let postgres = match opened {
        Ok((store, db)) => {
            let outcome = persisted("PostgreSQL", store, &db, &world).await;
            drop(db);
            drop_schema(&pg_url, &schema).await?;
            Some(outcome?)
        }
        Err(error) => {
            println!("PostgreSQL skipped: {error}");
            None
        }
    };

    println!();
    println!("| measure | result |");
    println!("|---|---|");
    println!(
        "| in-memory fold, all three views, decoded events | {} events/s ({n} events in {:.2} s; {documents} documents) |",
        rate(n, all),
        all.as_secs_f64()
    );
    println!(
        "| in-memory fold, one view at a time (country / donor / overview) | {} / {} / {} events/s |",
        rate(n, country),
        rate(n, donors),
        rate(n, overview)
    );
    println!(
        "| in-memory fold, all three views, with protobuf decoding | {} events/s |",
        rate(n, with_decoding)
    );
    let row = |name: &str, (events, elapsed, docs): (u64, Duration, u64)| {
        println!(
            "| persisted rebuild, {name} (read, decode, fold, write {docs} documents, swap) | {} events/s ({events} events in {:.1} s) |",
            rate(usize::try_from(events).unwrap_or(usize::MAX), elapsed),
            elapsed.as_secs_f64()
        );
    };
    row("SQLite file", sqlite);
    if let Some(postgres) = postgres {
        row("PostgreSQL", postgres);
    }
    Ok(())
}

async fn drop_schema(url: &str, schema: &str) -> BenchResult<()> {
    use sqlx::{Connection, Executor};
    let mut conn = sqlx::PgConnection::connect(url).await?;
    conn.execute(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE"
    )))
    .await?;
    Ok(())
}
