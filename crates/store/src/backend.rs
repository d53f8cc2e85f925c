//! One event store over either database: what PostgreSQL and SQLite do the same way, from
//! opening (migrations, head, writer) to every read.

use std::sync::Arc;

use async_trait::async_trait;
use futures::stream::BoxStream;
use sqlx::migrate::{Migrate, Migrator};
use sqlx::pool::PoolConnection;
use sqlx::{Database, Pool};
use tokio::sync::watch;

use crate::attention::{
    self, AttentionCount, AttentionItem, AttentionQuery, AttentionSql, AttentionStore, Parked,
    Redriven,
};
use crate::error::{StoreError, db_error};
use crate::postgres::Listener;
use crate::statements::Sql;
use crate::store::EventStore;
use crate::types::{
    AppendRequest, AppendResult, Cursor, Head, RecordedEvent, RequestRecord, StoreOptions,
    StoreStats, StreamInfo, VerifyReport,
};
use crate::writer::{Committer, Writer};
use crate::{subscribe, validate, verify};

/// The name of the table recording applied migrations. Not sqlx's default, so that other
/// crates can run their own migrations in the same database and schema.
const MIGRATIONS_TABLE: &str = "fundtrail_store_migrations";

/// An event store in a SQL database: [`crate::PgStore`] or [`crate::SqliteStore`].
#[derive(Debug)]
pub struct SqlStore<DB: Database> {
    inner: Arc<Inner<DB>>,
}

impl<DB: Database> Clone for SqlStore<DB> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

#[derive(Debug)]
struct Inner<DB: Database> {
    pool: Pool<DB>,
    options: StoreOptions,
    writer: Writer,
    head_position: Arc<watch::Sender<u64>>,
    /// Feeds the head watch with other processes' commits: PostgreSQL's LISTEN. SQLite has no
    /// such channel and relies on the poll.
    listener: Option<Listener>,
}

impl<DB: Database> SqlStore<DB> {
    /// The store's connection pool, for read models kept in the same database.
    ///
    /// An in-memory SQLite store has a single connection: a caller holding a transaction from
    /// this pool must not wait on the store (append, read) until it has finished with it.
    #[must_use]
    pub fn pool(&self) -> &Pool<DB> {
        &self.inner.pool
    }

    /// Runs the migrations, reads the head and starts the writer: what opening a store is on
    /// either database once the pool is there.
    pub(crate) async fn start(
        pool: Pool<DB>,
        options: StoreOptions,
        mut migrator: Migrator,
        committer: impl Committer,
        listener: Option<Listener>,
    ) -> Result<Self, StoreError>
    where
        DB: Sql,
        DB::Connection: Migrate,
    {
        migrator.dangerous_set_table_name(MIGRATIONS_TABLE);
        migrator
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(format!("migrating the event store: {e}")))?;
        let head = DB::read_head(&mut *connection(&pool, "reading the head").await?).await?;
        let head_position = Arc::new(watch::Sender::new(head.position));
        let writer = Writer::spawn(committer, &options, head_position.clone());
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                options,
                writer,
                head_position,
                listener,
            }),
        })
    }

    async fn connection(&self, doing: &str) -> Result<PoolConnection<DB>, StoreError> {
        connection(&self.inner.pool, doing).await
    }
}

async fn connection<DB: Database>(
    pool: &Pool<DB>,
    doing: &str,
) -> Result<PoolConnection<DB>, StoreError> {
    pool.acquire().await.map_err(|e| db_error(doing, &e))
}

#[async_trait]
impl<DB: AttentionSql> EventStore for SqlStore<DB> {
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
        let mut conn = self.connection("reading a stream").await?;
        DB::read_stream(&mut conn, stream, from_version).await
    }

    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let mut conn = self.connection("reading events").await?;
        DB::read_all(&mut conn, from_position, limit).await
    }

    fn subscribe(
        &self,
        from_position: u64,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        if let Some(listener) = &self.inner.listener {
            listener.start(&self.inner.head_position);
        }
        subscribe::subscription(
            self.clone(),
            self.inner.head_position.subscribe(),
            from_position,
            self.inner.options.read_batch,
            self.inner.options.poll_interval,
        )
    }

    async fn head(&self) -> Result<Head, StoreError> {
        DB::read_head(&mut *self.connection("reading the head").await?).await
    }

    async fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError> {
        verify::verify(self, from, to, self.inner.options.read_batch).await
    }

    async fn find_request(&self, request_id: &str) -> Result<Option<RequestRecord>, StoreError> {
        let mut conn = self.connection("finding a request").await?;
        DB::find_request(&mut conn, request_id).await
    }

    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        validate::stream_name(stream)?;
        let mut conn = self.connection("reading a stream version").await?;
        DB::stream_version(&mut conn, stream).await
    }

    async fn list_streams(&self, category: &str) -> Result<Vec<StreamInfo>, StoreError> {
        validate::category(category)?;
        let mut conn = self.connection("listing streams").await?;
        DB::list_streams(&mut conn, category).await
    }

    async fn load_cursor(&self, consumer: &str) -> Result<u64, StoreError> {
        let mut conn = self.connection("loading a cursor").await?;
        DB::load_cursor(&mut conn, consumer).await
    }

    async fn save_cursor(&self, consumer: &str, position: u64) -> Result<(), StoreError> {
        let mut conn = self.connection("saving a cursor").await?;
        DB::save_cursor(&mut conn, consumer, position).await
    }

    fn stats(&self) -> StoreStats {
        self.inner.writer.stats()
    }

    fn attention(&self) -> &dyn AttentionStore {
        self
    }
}

#[async_trait]
impl<DB: AttentionSql> AttentionStore for SqlStore<DB> {
    async fn park(
        &self,
        parked: Parked,
        cursor: Option<Cursor>,
    ) -> Result<AttentionItem, StoreError> {
        attention::validate(&parked, cursor.as_ref())?;
        // Outside the writer: no position is assigned, so the sequencer is not needed, and the
        // row and the cursor commit together or not at all.
        let mut tx = self
            .inner
            .pool
            .begin()
            .await
            .map_err(|e| db_error("parking an event", &e))?;
        let item = attention::park_in::<DB>(&mut tx, &parked, cursor.as_ref()).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("parking an event", &e))?;
        Ok(item)
    }

    async fn attention_items(
        &self,
        query: &AttentionQuery,
    ) -> Result<Vec<AttentionItem>, StoreError> {
        let mut conn = self.connection("listing attention items").await?;
        DB::select(&mut conn, query).await
    }

    async fn attention_item(&self, id: u64) -> Result<Option<AttentionItem>, StoreError> {
        let mut conn = self.connection("reading an attention item").await?;
        DB::select_one(&mut conn, id).await
    }

    async fn request_redrive(&self, id: u64) -> Result<Option<AttentionItem>, StoreError> {
        let mut conn = self.connection("requesting a re-drive").await?;
        DB::mark_redrive(&mut conn, id).await
    }

    async fn settle_redrive(
        &self,
        id: u64,
        outcome: Redriven,
    ) -> Result<Option<AttentionItem>, StoreError> {
        let mut conn = self.connection("settling a re-drive").await?;
        DB::settle(&mut conn, id, &outcome, attention::now_micros()).await
    }

    async fn attention_counts(&self) -> Result<Vec<AttentionCount>, StoreError> {
        let mut conn = self.connection("counting attention items").await?;
        DB::counts(&mut conn).await
    }
}
