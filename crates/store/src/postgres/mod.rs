//! The PostgreSQL backend.

mod append;
mod listen;

pub(crate) use listen::Listener;

use fundtrail_telemetry::redact_url;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Postgres};

use crate::backend::SqlStore;
use crate::error::{InvalidInput, StoreError, db_error};
use crate::statements::Sql;
use crate::types::StoreOptions;
use crate::validate;

/// An event store in a PostgreSQL database (in one schema of it). Several processes may share
/// the same database and schema: they agree on order through the advisory lock.
pub type PgStore = SqlStore<Postgres>;

impl PgStore {
    /// Connects, creates the schema if `options.schema` names one, and runs the migrations.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        validate::options(&options)?;
        let mut connect: PgConnectOptions = url
            .parse()
            .map_err(|err| InvalidInput::Url(format!("{}: {err}", redact_url(url))))?;
        if let Some(schema) = &options.schema {
            validate::schema(schema)?;
            create_schema(&connect, schema).await?;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| db_error("connecting", &e))?;
        let schema: Option<String> = sqlx::query_scalar("SELECT current_schema()::text")
            .fetch_one(&pool)
            .await
            .map_err(|e| db_error("reading the schema", &e))?;
        // The sequencer lock and the notification channel are per schema, so independent
        // stores in one database (tests, tenants) do not wait on each other.
        let digest = Sha256::digest(format!("fundtrail-store:{}", schema.unwrap_or_default()));
        let mut key = [0u8; 8];
        key.copy_from_slice(&digest[..8]);
        let lock_key = i64::from_be_bytes(key);
        let channel = format!("fundtrail_store_{}", hex::encode(key));
        let committer = append::PgCommitter::new(connect.clone(), lock_key, channel.clone());
        Self::start(
            pool,
            options,
            sqlx::migrate!("./migrations/postgres"),
            committer,
            Some(Listener::new(connect, channel)),
        )
        .await
    }
}

async fn create_schema(connect: &PgConnectOptions, schema: &str) -> Result<(), StoreError> {
    let mut conn = PgConnection::connect_with(connect)
        .await
        .map_err(|e| db_error("connecting", &e))?;
    let created = conn
        .execute(AssertSqlSafe(format!(
            "CREATE SCHEMA IF NOT EXISTS {schema}"
        )))
        .await;
    match created {
        Ok(_) => {}
        // Another process created it at the same moment: `IF NOT EXISTS` does not cover that
        // race, but the outcome is the one wanted.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
        Err(e) => return Err(db_error("creating the schema", &e)),
    }
    // Closing politely is a courtesy; the schema exists either way.
    let _ = conn.close().await;
    Ok(())
}

/// Saves a consumer's cursor (only forward) inside the caller's own transaction, so a
/// projection commits its view rows and its cursor together. Pass `&mut *tx`.
pub async fn save_cursor_in(
    conn: &mut PgConnection,
    consumer: &str,
    position: u64,
) -> Result<(), StoreError> {
    Postgres::save_cursor(conn, consumer, position).await
}

/// Loads a consumer's cursor inside the caller's own transaction; 0 when none.
pub async fn load_cursor_in(conn: &mut PgConnection, consumer: &str) -> Result<u64, StoreError> {
    Postgres::load_cursor(conn, consumer).await
}
