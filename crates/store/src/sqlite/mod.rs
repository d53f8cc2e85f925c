//! The SQLite backend: a file (WAL mode) or memory.

mod append;

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{AssertSqlSafe, Row, SqliteConnection};
use tokio::sync::watch;
use uuid::Uuid;

use crate::decode::{self, clamp};
use crate::error::{InvalidInput, StoreError, db_error};
use crate::postgres::MIGRATIONS_TABLE;
use crate::store::EventStore;
use crate::types::{
    AppendRequest, AppendResult, Head, RecordedEvent, RequestRecord, StoreOptions, StoreStats,
    StreamInfo, VerifyReport,
};
use crate::writer::Writer;
use crate::{subscribe, validate, verify};

/// An event store in a SQLite database. Several processes may share a database file: they
/// agree on order through SQLite's write lock, and see each other's events by polling.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    pool: SqlitePool,
    options: StoreOptions,
    writer: Writer,
    head_position: Arc<watch::Sender<u64>>,
}

impl SqliteStore {
    /// Opens (creating if missing) the database and runs the migrations. Accepts
    /// `sqlite://path`, `sqlite:path` and `sqlite::memory:`.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        validate::options(&options)?;
        let connect: SqliteConnectOptions = url
            .parse()
            .map_err(|err| InvalidInput::Url(format!("{url}: {err}")))?;
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let connect = connect
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // A ledger: a commit the caller was told about survives a power cut.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(options.busy_timeout);
        let pool = if in_memory {
            // An in-memory database lives as long as its connections; one connection that is
            // never recycled keeps it for the life of the store.
            SqlitePoolOptions::new()
                .max_connections(1)
                .min_connections(1)
                .idle_timeout(None)
                .max_lifetime(None)
        } else {
            SqlitePoolOptions::new().max_connections(options.max_connections.max(2))
        }
        .acquire_timeout(options.acquire_timeout)
        .connect_with(connect)
        .await
        .map_err(|e| db_error("opening the database", &e))?;
        Self::from_pool(pool, options).await
    }

    /// Runs the migrations on an existing pool and starts the store on it.
    pub async fn from_pool(pool: SqlitePool, options: StoreOptions) -> Result<Self, StoreError> {
        let mut migrator = sqlx::migrate!("./migrations/sqlite");
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating the event store: {e}")))?;
        let head = read_head(&pool).await?;
        let head_position = Arc::new(watch::Sender::new(head.position));
        let writer = Writer::spawn(
            append::SqliteCommitter { pool: pool.clone() },
            &options,
            head_position.clone(),
        );
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                options,
                writer,
                head_position,
            }),
        })
    }

    /// The store's connection pool, for read models kept in the same database.
    ///
    /// An in-memory store has a single connection: a caller holding a transaction from this
    /// pool must not wait on the store (append, read) until it has finished with it.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }
}

/// Saves a consumer's checkpoint (only forward) inside the caller's own transaction, so a
/// projection commits its view rows and its checkpoint together. Pass `&mut *tx`.
pub async fn save_checkpoint_in(
    conn: &mut SqliteConnection,
    consumer: &str,
    position: u64,
) -> Result<(), StoreError> {
    validate::consumer(consumer)?;
    let position = validate::in_db_range("checkpoint position", position)?;
    sqlx::query(
        "INSERT INTO consumer_checkpoints (consumer, position) VALUES (?, ?) \
         ON CONFLICT (consumer) DO UPDATE SET position = max(position, excluded.position)",
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
    conn: &mut SqliteConnection,
    consumer: &str,
) -> Result<u64, StoreError> {
    let position: Option<i64> =
        sqlx::query_scalar("SELECT position FROM consumer_checkpoints WHERE consumer = ?")
            .bind(consumer)
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("loading a checkpoint", &e))?;
    position.map_or(Ok(0), |p| decode::unsigned("checkpoint", p))
}

const EVENT_COLUMNS: &str = "position, event_id, stream, version, event_type, payload, metadata, \
                             recorded_at, prev_hash, hash";

pub(crate) const REQUEST_COLUMNS: &str = "request_id, fingerprint, stream, first_version, \
    last_version, first_position, last_position, recorded_at";

fn event_from_row(row: &SqliteRow) -> Result<RecordedEvent, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding an event", &e);
    let position = decode::unsigned("position", row.try_get(0).map_err(err)?)?;
    let at = |what: &str| format!("{what} of position {position}");
    let id: Vec<u8> = row.try_get(1).map_err(err)?;
    Ok(RecordedEvent {
        position,
        event_id: Uuid::from_slice(&id)
            .map_err(|e| StoreError::Corrupt(format!("{}: {e}", at("event_id"))))?,
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

async fn read_head(pool: &SqlitePool) -> Result<Head, StoreError> {
    let row = sqlx::query(
        "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await
    .map_err(|e| db_error("reading the head", &e))?;
    row.map_or(Ok(Head::EMPTY), |row| head_from_row(&row))
}

pub(crate) fn head_from_row(row: &SqliteRow) -> Result<Head, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding the head", &e);
    let hash: Vec<u8> = row.try_get(1).map_err(err)?;
    Ok(Head {
        position: decode::unsigned("head position", row.try_get(0).map_err(err)?)?,
        hash: decode::hash("head hash", &hash)?,
        recorded_at: row.try_get(2).map_err(err)?,
    })
}

pub(crate) fn request_from_row(row: &SqliteRow) -> Result<RequestRecord, StoreError> {
    let err = |e: sqlx::Error| db_error("decoding a request", &e);
    let number = |i: usize, what: &str| -> Result<u64, StoreError> {
        decode::unsigned(what, row.try_get(i).map_err(err)?)
    };
    let fingerprint: Vec<u8> = row.try_get(1).map_err(err)?;
    Ok(RequestRecord {
        request_id: row.try_get(0).map_err(err)?,
        fingerprint: decode::hash("request fingerprint", &fingerprint)?,
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

#[async_trait]
impl EventStore for SqliteStore {
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
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream = ? AND version >= ? ORDER BY version"
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
            "SELECT {EVENT_COLUMNS} FROM events WHERE position >= ? ORDER BY position LIMIT ?"
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
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id = ?");
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
            sqlx::query_scalar("SELECT version FROM event_streams WHERE stream = ?")
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
            "SELECT stream, version FROM event_streams WHERE stream >= ? AND stream < ? ORDER BY stream",
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
