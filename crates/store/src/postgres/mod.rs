//! The PostgreSQL backend.

mod append;
mod listen;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow};
use sqlx::{AssertSqlSafe, Connection, Executor, PgConnection, Row};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::decode::{self, clamp};
use crate::error::{InvalidInput, StoreError, db_error};
use crate::store::EventStore;
use crate::types::{
    AppendRequest, AppendResult, Head, RecordedEvent, RequestRecord, StoreOptions, StoreStats,
    StreamInfo, VerifyReport,
};
use crate::writer::Writer;
use crate::{subscribe, validate, verify};

/// The name of the table recording applied migrations. Not sqlx's default, so that other
/// crates can run their own migrations in the same database and schema.
pub(crate) const MIGRATIONS_TABLE: &str = "fundtrail_store_migrations";

/// An event store in a PostgreSQL database (in one schema of it). Several processes may share
/// the same database and schema: they agree on order through the advisory lock.
#[derive(Debug, Clone)]
pub struct PgStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: PgPool,
    connect: PgConnectOptions,
    options: StoreOptions,
    writer: Writer,
    head_position: Arc<watch::Sender<u64>>,
    channel: String,
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let handle = match self.listener.get_mut() {
            Ok(handle) => handle.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(handle) = handle {
            handle.abort();
        }
    }
}

impl PgStore {
    /// Connects, creates the schema if `options.schema` names one, and runs the migrations.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        validate::options(&options)?;
        let mut connect: PgConnectOptions = url
            .parse()
            .map_err(|err| InvalidInput::Url(format!("{}: {err}", redact(url))))?;
        if let Some(schema) = &options.schema {
            validate::schema(schema)?;
            let mut conn = PgConnection::connect_with(&connect)
                .await
                .map_err(|e| db_error("connecting", &e))?;
            let created = conn
                .execute(AssertSqlSafe(format!(
                    "CREATE SCHEMA IF NOT EXISTS {schema}"
                )))
                .await;
            match created {
                Ok(_) => {}
                // Another process created it at the same moment: `IF NOT EXISTS` does not
                // cover that race, but the outcome is the one wanted.
                Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23505") => {}
                Err(e) => return Err(db_error("creating the schema", &e)),
            }
            // Closing politely is a courtesy; the schema exists either way.
            let _ = conn.close().await;
            connect = connect.options([("search_path", schema.as_str())]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(2))
            .acquire_timeout(options.acquire_timeout)
            .connect_with(connect.clone())
            .await
            .map_err(|e| db_error("connecting", &e))?;
        let mut migrator = sqlx::migrate!("./migrations/postgres");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating the event store: {e}")))?;

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

        let head = read_head(&pool).await?;
        let head_position = Arc::new(watch::Sender::new(head.position));
        let writer = Writer::spawn(
            append::PgCommitter::new(connect.clone(), lock_key, channel.clone()),
            &options,
            head_position.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                connect,
                options,
                writer,
                head_position,
                channel,
                listener: Mutex::new(None),
            }),
        })
    }

    /// The store's connection pool, for read models kept in the same database.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    fn ensure_listener(&self) {
        let mut slot = match self.inner.listener.lock() {
            Ok(slot) => slot,
            Err(poisoned) => poisoned.into_inner(),
        };
        if slot.is_none() {
            *slot = Some(tokio::spawn(listen::run(
                self.inner.connect.clone(),
                self.inner.channel.clone(),
                Arc::downgrade(&self.inner.head_position),
            )));
        }
    }
}

/// Hides a password in a connection URL before it goes into an error message.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{}{user}:***{}", &url[..scheme + 3], &url[at..])
        }
        _ => url.to_owned(),
    }
}

/// Saves a consumer's checkpoint (only forward) inside the caller's own transaction, so a
/// projection commits its view rows and its checkpoint together. Pass `&mut *tx`.
pub async fn save_checkpoint_in(
    conn: &mut PgConnection,
    consumer: &str,
    position: u64,
) -> Result<(), StoreError> {
    validate::consumer(consumer)?;
    let position = validate::in_db_range("checkpoint position", position)?;
    sqlx::query(
        "INSERT INTO consumer_checkpoints (consumer, position) VALUES ($1, $2) \
         ON CONFLICT (consumer) DO UPDATE \
         SET position = GREATEST(consumer_checkpoints.position, EXCLUDED.position)",
    )
    .bind(consumer)
    .bind(position)
    .execute(conn)
    .await
    .map_err(|e| db_error("saving a checkpoint", &e))?;
    Ok(())
}

/// Loads a consumer's checkpoint inside the caller's own transaction; 0 when none.
pub async fn load_checkpoint_in(
    conn: &mut PgConnection,
    consumer: &str,
) -> Result<u64, StoreError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM consumer_checkpoints WHERE consumer = $1")
            .bind(consumer)
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("loading a checkpoint", &e))?;
    position.map_or(Ok(0), |p| decode::unsigned("checkpoint", p))
}

const EVENT_COLUMNS: &str = "position, event_id, stream, version, event_type, payload, metadata, \
                             recorded_at, prev_hash, hash";

fn event_from_row(row: &PgRow) -> Result<RecordedEvent, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding an event", &e);
    let position = decode::unsigned("position", row.try_get(0).map_err(err)?)?;
    let at = |what: &str| format!("{what} of position {position}");
    Ok(RecordedEvent {
        position,
        event_id: row.try_get(1).map_err(err)?,
        stream: row.try_get(2).map_err(err)?,
        version: decode::unsigned(&at("version"), row.try_get(3).map_err(err)?)?,
        event_type: row.try_get(4).map_err(err)?,
        payload: row.try_get(5).map_err(err)?,
        metadata: row.try_get(6).map_err(err)?,
        recorded_at: row.try_get(7).map_err(err)?,
        prev_hash: decode::hash(&at("prev_hash"), row.try_get(8).map_err(err)?)?,
        hash: decode::hash(&at("hash"), row.try_get(9).map_err(err)?)?,
    })
}

async fn read_head(pool: &PgPool) -> Result<Head, StoreError> {
    let row = sqlx::query(
        "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("reading the head", &e))?;
    row.map_or(Ok(Head::EMPTY), |row| head_from_row(&row))
}

pub(crate) fn head_from_row(row: &PgRow) -> Result<Head, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding the head", &e);
    Ok(Head {
        position: decode::unsigned("head position", row.try_get(0).map_err(err)?)?,
        hash: decode::hash("head hash", row.try_get(1).map_err(err)?)?,
        recorded_at: row.try_get(2).map_err(err)?,
    })
}

pub(crate) fn request_from_row(row: &PgRow) -> Result<RequestRecord, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding a request", &e);
    let number = |i: usize, what: &str| -> Result<u64, StoreError> {
        decode::unsigned(what, row.try_get(i).map_err(err)?)
    };
    Ok(RequestRecord {
        request_id: row.try_get(0).map_err(err)?,
        fingerprint: decode::hash("request fingerprint", row.try_get(1).map_err(err)?)?,
        result: AppendResult {
            stream: row.try_get(2).map_err(err)?,
            first_version: number(3, "first_version")?,
            last_version: number(4, "last_version")?,
            first_position: number(5, "first_position")?,
            last_position: number(6, "last_position")?,
            recorded_at: row.try_get(7).map_err(err)?,
            replayed: true,
        },
    })
}

pub(crate) const REQUEST_COLUMNS: &str = "request_id, fingerprint, stream, first_version, \
    last_version, first_position, last_position, recorded_at";

#[async_trait]
impl EventStore for PgStore {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        validate::append(&request, &self.inner.options)?;
        self.inner.writer.append(request).await
    }

    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        validate::stream_name(stream)?;
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream = $1 AND version >= $2 ORDER BY version"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(stream)
            .bind(clamp(from_version))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| db_error("reading a stream", &e))?;
        rows.iter().map(event_from_row).collect()
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position >= $1 ORDER BY position LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(clamp(from_position))
            .bind(decode::limit(limit))
            .fetch_all(&self.inner.pool)
            .await
            .map_err(|e| db_error("reading events", &e))?;
        rows.iter().map(event_from_row).collect()
    }

    fn subscribe(
        &self,
        from_position: u64,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.ensure_listener();
        subscribe::subscription(
            self.clone(),
            self.inner.head_position.subscribe(),
            from_position,
            self.inner.options.read_batch,
            self.inner.options.poll_interval,
        )
    }

    async fn head(&self) -> Result<Head, StoreError> {
        read_head(&self.inner.pool).await
    }

    async fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError> {
        verify::verify(self, from, to, self.inner.options.read_batch).await
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(&self.inner.pool)
            .await
            .map_err(|e| db_error("finding a request", &e))?;
        row.as_ref().map(request_from_row).transpose()
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        validate::stream_name(stream)?;
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM event_streams WHERE stream = $1")
                .bind(stream)
                .fetch_optional(&self.inner.pool)
                .await
                .map_err(|e| db_error("reading a stream version", &e))?;
        version
            .map(|v| decode::unsigned("stream version", v))
            .transpose()
    }

    async fn list_streams(&self, category: &str) -> Result<Vec<StreamInfo>, StoreError> {
        validate::category(category)?;
        // '.' is the byte after '-': the range is exactly the names starting with `<category>-`.
        let rows = sqlx::query(
            "SELECT stream, version FROM event_streams WHERE stream >= $1 AND stream < $2 ORDER BY stream",
        )
        .bind(format!("{category}-"))
        .bind(format!("{category}."))
        .fetch_all(&self.inner.pool)
        .await
        .map_err(|e| db_error("listing streams", &e))?;
        rows.iter()
            .map(|row| {
                let err = |e: sqlx::Error| db_error("decoding a stream", &e);
                Ok(StreamInfo {
                    stream: row.try_get(0).map_err(err)?,
                    version: decode::unsigned("stream version", row.try_get(1).map_err(err)?)?,
                })
            })
            .collect()
    }

    async fn load_checkpoint(&self, consumer: &str) -> Result<u64, StoreError> {
        let mut conn = self
            .inner
            .pool
            .acquire()
            .await
            .map_err(|e| db_error("loading a checkpoint", &e))?;
        load_checkpoint_in(&mut conn, consumer).await
    }

    async fn save_checkpoint(&self, consumer: &str, position: u64) -> Result<(), StoreError> {
        let mut conn = self
            .inner
            .pool
            .acquire()
            .await
            .map_err(|e| db_error("saving a checkpoint", &e))?;
        save_checkpoint_in(&mut conn, consumer, position).await
    }

    fn stats(&self) -> StoreStats {
        self.inner.writer.stats()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn passwords_stay_out_of_messages() {
        assert_eq!(
            super::redact("postgres://app:s3cret@db:5432/x"),
            "postgres://app:***@db:5432/x"
        );
        assert_eq!(super::redact("postgres://db/x"), "postgres://db/x");
    }
}
