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

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fundtrail_store::OpenedStore;
use sqlx::pool::PoolConnection;
use sqlx::{Connection, PgConnection, Postgres, SqlitePool};
use uuid::Uuid;

use crate::error::LogError;

/// A held lease.
#[derive(Debug)]
pub(crate) enum Lease {
    Postgres { conn: PgConnection, key: i64 },
    Sqlite(SqliteLease),
}

#[derive(Debug)]
pub(crate) struct SqliteLease {
    pool: SqlitePool,
    name: String,
    holder: String,
    ttl: Duration,
    renewed: SystemTime,
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
                    Ok(Some(Self::Postgres { conn, key }))
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
                };
                Ok(lease.renew().await?.then_some(Self::Sqlite(lease)))
            }
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
            Self::Postgres { mut conn, key } => {
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
    /// Takes or extends the lease; `false` when another holder's lease has not expired.
    async fn renew(&mut self) -> Result<bool, LogError> {
        let now = SystemTime::now();
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
        .execute(&self.pool)
        .await
        .map_err(|e| LogError::database("renewing the relay lease", &e))?;
        if done.rows_affected() == 1 {
            self.renewed = now;
            Ok(true)
        } else {
            Ok(false)
        }
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
