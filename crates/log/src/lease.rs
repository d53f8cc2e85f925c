//! One relay per store and log: the lease a relay holds while it publishes.
//!
//! Two relays publishing at once would interleave old and new events on the log, and a
//! consumer that drops everything at or below its cursor would then skip the old ones.
//! So a relay publishes only while it holds a lease, and checks it before every batch.
//!
//! - `PostgreSQL`: a session advisory lock (`pg_try_advisory_lock`) keyed by the schema and the
//!   relay's name, held on a connection taken out of the pool for the purpose. It is released
//!   when that session ends for any reason, so a crashed relay never blocks its successor;
//!   a relay whose connection broke cannot confirm the lease and stops publishing.
//! - `SQLite` has no session locks that outlive a transaction, so a row in `log_relay_leases`
//!   (created by this crate) names the holder and an expiry. The holder renews it; a
//!   successor takes it over only after it expired, so a crashed relay delays publishing by at
//!   most one time-to-live.
//!
//! A lease is not enough on its own: a relay that confirmed it and then stalled (a long pause,
//! a publish slower than the time-to-live) can wake up after a successor took over. So every
//! takeover increments the lease's generation, a fencing token kept as the cursor
//! `<relay>.generation` in the store's `consumer_cursors` (so consumers, which see the store
//! only through [`EventStore`](fundtrail_store::EventStore), can read the current one), and
//! every message the holder publishes carries it (docs/log-format.md). On NATS the server
//! refuses a stale relay's publish by its expected last sequence; on Kafka, which has no such
//! check, consumers drop a lower generation after a higher one (`crate::kafka`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fundtrail_store::OpenedStore;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres, SqliteConnection, SqlitePool};
use uuid::Uuid;

use crate::error::LogError;

/// The cursor name the lease generation of relay `name` is kept under.
pub(crate) fn generation_cursor(name: &str) -> String {
    format!("{name}.generation")
}

/// A held lease.
#[derive(Debug)]
pub(crate) enum Lease {
    Postgres {
        conn: PgConnection,
        key: i64,
        generation: u64,
    },
    Sqlite(SqliteLease),
}

#[derive(Debug)]
pub(crate) struct SqliteLease {
    pool: SqlitePool,
    name: String,
    holder: String,
    ttl: Duration,
    renewed: SystemTime,
    generation: u64,
}

impl Lease {
    /// Takes the lease `name` if nobody holds it; `None` when another relay does.
    pub(crate) async fn try_acquire(
        store: &OpenedStore,
        name: &str,
        ttl: Duration,
    ) -> Result<Option<Self>, LogError> {
        match store {
            OpenedStore::Postgres(store) => {
                let conn: PoolConnection<Postgres> = store
                    .pool()
                    .acquire()
                    .await
                    .map_err(|e| LogError::database("taking a connection for the lease", &e))?;
                // Out of the pool: the lock lives as long as this session, and must not be
                // handed to another user of the pool.
                let mut conn = conn.detach();
                let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| LogError::database("reading the schema", &e))?;
                let key = key_of(&format!(
                    "fundtrail-log:{}:{name}",
                    schema.unwrap_or_default()
                ));
                let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                    .bind(key)
                    .fetch_one(&mut conn)
                    .await
                    .map_err(|e| LogError::database("taking the relay lock", &e))?;
                if got {
                    // Only the lock's holder gets here, so the increment cannot race.
                    let cursor = generation_cursor(name);
                    let generation =
                        fundtrail_store::postgres::load_cursor_in(&mut conn, &cursor).await? + 1;
                    fundtrail_store::postgres::save_cursor_in(&mut conn, &cursor, generation)
                        .await?;
                    Ok(Some(Self::Postgres {
                        conn,
                        key,
                        generation,
                    }))
                } else {
                    // Closing is a courtesy: the session ends when the socket drops anyway.
                    let _ = conn.close().await;
                    Ok(None)
                }
            }
            OpenedStore::Sqlite(store) => {
                let pool = store.pool().clone();
                sqlx::query(
                    "CREATE TABLE IF NOT EXISTS log_relay_leases (\
                     name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_at INTEGER NOT NULL)",
                )
                .execute(&pool)
                .await
                .map_err(|e| LogError::database("creating the lease table", &e))?;
                let mut lease = SqliteLease {
                    pool,
                    name: name.to_owned(),
                    holder: Uuid::now_v7().to_string(),
                    ttl,
                    renewed: UNIX_EPOCH,
                    generation: 0,
                };
                Ok(lease.take_over().await?.then_some(Self::Sqlite(lease)))
            }
        }
    }

    /// The lease's generation: higher than that of every earlier holder.
    pub(crate) fn generation(&self) -> u64 {
        match self {
            Self::Postgres { generation, .. } => *generation,
            Self::Sqlite(lease) => lease.generation,
        }
    }

    /// Confirms the lease is still held (renewing it on `SQLite` when due); an error when lost.
    pub(crate) async fn confirm(&mut self) -> Result<(), LogError> {
        match self {
            Self::Postgres { conn, .. } => conn
                .ping()
                .await
                .map_err(|e| LogError::Lease(format!("the session holding the lock broke: {e}"))),
            Self::Sqlite(lease) => {
                let age = SystemTime::now()
                    .duration_since(lease.renewed)
                    .unwrap_or(Duration::MAX);
                if age < lease.ttl / 3 {
                    return Ok(());
                }
                if lease.renew().await? {
                    Ok(())
                } else {
                    Err(LogError::Lease(format!(
                        "{} was taken over by another relay",
                        lease.name
                    )))
                }
            }
        }
    }

    /// Gives the lease up so a successor need not wait for it to expire.
    pub(crate) async fn release(self) {
        match self {
            Self::Postgres { mut conn, key, .. } => {
                let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                    .bind(key)
                    .execute(&mut conn)
                    .await;
                let _ = conn.close().await;
            }
            Self::Sqlite(lease) => {
                let _ = sqlx::query("DELETE FROM log_relay_leases WHERE name = ? AND holder = ?")
                    .bind(&lease.name)
                    .bind(&lease.holder)
                    .execute(&lease.pool)
                    .await;
            }
        }
    }
}

impl SqliteLease {
    /// Takes the lease for a new holder and moves it to the next generation, in one
    /// transaction; `false` when another holder's lease has not expired.
    async fn take_over(&mut self) -> Result<bool, LogError> {
        let mut tx = self
            .pool
            .begin()
            .await
            .map_err(|e| LogError::database("taking the relay lease", &e))?;
        let now = SystemTime::now();
        // The upsert is the transaction's first statement, so it takes the write lock at once.
        if !self.upsert(&mut tx, now).await? {
            let _ = tx.rollback().await;
            return Ok(false);
        }
        let cursor = generation_cursor(&self.name);
        let generation = fundtrail_store::sqlite::load_cursor_in(&mut tx, &cursor).await? + 1;
        fundtrail_store::sqlite::save_cursor_in(&mut tx, &cursor, generation).await?;
        tx.commit()
            .await
            .map_err(|e| LogError::database("taking the relay lease", &e))?;
        self.renewed = now;
        self.generation = generation;
        Ok(true)
    }

    /// Extends the lease; `false` when another holder took it over.
    async fn renew(&mut self) -> Result<bool, LogError> {
        let now = SystemTime::now();
        let mut conn = self
            .pool
            .acquire()
            .await
            .map_err(|e| LogError::database("renewing the relay lease", &e))?;
        let renewed = self.upsert(&mut conn, now).await?;
        if renewed {
            self.renewed = now;
        }
        Ok(renewed)
    }

    /// Writes this holder's expiry if the lease is this holder's or has expired.
    async fn upsert(&self, conn: &mut SqliteConnection, now: SystemTime) -> Result<bool, LogError> {
        let millis = |t: SystemTime| {
            t.duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        };
        let done = sqlx::query(
            "INSERT INTO log_relay_leases (name, holder, expires_at) VALUES (?, ?, ?) \
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
             expires_at = excluded.expires_at \
             WHERE log_relay_leases.holder = excluded.holder OR log_relay_leases.expires_at < ?",
        )
        .bind(&self.name)
        .bind(&self.holder)
        .bind(millis(now + self.ttl))
        .bind(millis(now))
        .execute(conn)
        .await
        .map_err(|e| LogError::database("renewing the relay lease", &e))?;
        Ok(done.rows_affected() == 1)
    }
}

/// A stable 64-bit key (FNV-1a): advisory lock keys must agree across processes and builds,
/// which `std`'s hasher does not promise.
fn key_of(text: &str) -> i64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    i64::from_be_bytes(hash.to_be_bytes())
}
