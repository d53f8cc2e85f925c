//! Reading and writing views the same way on both databases. The statements are one text for
//! PostgreSQL and SQLite (`$n` parameters, `ON CONFLICT`, `RETURNING`); what differs — column
//! types, how a transaction takes its lock or snapshot, bulk upserts, renaming tables — is a
//! [`Dialect`].

use std::future::Future;

use fundtrail_domain::Currency;
use fundtrail_store::StoreError;
use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Pool, Row, Type,
};

use super::{
    BeforeCommit, Meta, PersistError, StoredEvent, Swap, ViewChanges, consumer, db_error, from_db,
    next_table, table, to_db,
};
use crate::doc::{Doc, Mark, StoredDoc};

/// What one database does its own way.
pub(super) trait Dialect: Database {
    /// Creates `projection_views` if missing.
    const CREATE_VIEWS_TABLE: &'static str;

    /// Begins the transaction that creates tables, holding a lock so that concurrent first
    /// starts (a server and a rebuild) do not race to create the same ones.
    const BEGIN_CREATING: &'static str;

    /// Begins a transaction that reads from one snapshot.
    const BEGIN_SNAPSHOT: &'static str;

    /// Run as the first statement of the creating and the snapshot transactions, after a plain
    /// `BEGIN`: a multi-statement or read-only `BEGIN` cancelled half-way leaves the pooled
    /// connection inside a transaction sqlx does not know about, and the next user of that
    /// connection fails (for example with "cannot execute CREATE TABLE in a read-only
    /// transaction").
    const AFTER_BEGIN_CREATING: &'static str;
    const AFTER_BEGIN_SNAPSHOT: &'static str;

    /// The `doc` column as text.
    const DOC_AS_TEXT: &'static str;

    /// Creates a documents table named `name` if missing.
    fn create_table(name: &str) -> String;

    /// Puts the table `next` in the place of `live`, which is already dropped.
    fn rename(live: &str, next: &str) -> Vec<String>;

    /// Inserts or replaces documents in `table`.
    fn upsert(
        conn: &mut Self::Connection,
        table: &str,
        docs: &[Doc],
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    /// The store's cursor, saved in the caller's transaction.
    fn save_cursor(
        conn: &mut Self::Connection,
        consumer: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// Registers a view at position 0 unless it is there.
const REGISTER: &str = "INSERT INTO projection_views \
    (view, generation, position, recorded_at, reporting_currency) VALUES ($1, 0, 0, 0, $2) \
    ON CONFLICT (view) DO NOTHING";

/// [`REGISTER`] that writes the row in either case, so the transaction holds it (the row lock
/// on PostgreSQL, the write lock on SQLite) before it reads the view's position.
const REGISTER_AND_LOCK: &str = "INSERT INTO projection_views \
    (view, generation, position, recorded_at, reporting_currency) VALUES ($1, 0, 0, 0, $2) \
    ON CONFLICT (view) DO UPDATE SET generation = projection_views.generation";

/// Everything views do with their database, for any database with a [`Dialect`].
pub(super) trait Views: Dialect {
    fn prepare(
        pool: &Pool<Self>,
        views: &[&'static str],
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn meta(
        pool: &Pool<Self>,
        view: &'static str,
        currency: Currency,
    ) -> impl Future<Output = Result<Meta, PersistError>> + Send;

    fn read(
        pool: &Pool<Self>,
        view: &'static str,
    ) -> impl Future<Output = Result<(Meta, Vec<StoredDoc>), PersistError>> + Send;

    fn reset(
        pool: &Pool<Self>,
        view: &'static str,
        currency: Currency,
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn commit(
        pool: &Pool<Self>,
        changes: &[ViewChanges],
        before_commit: Option<BeforeCommit<'_>>,
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn create_next(
        pool: &Pool<Self>,
        view: &'static str,
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn write_next(
        pool: &Pool<Self>,
        view: &'static str,
        docs: &[Doc],
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn swap(
        pool: &Pool<Self>,
        view: &'static str,
        mark: Mark,
        currency: Currency,
    ) -> impl Future<Output = Result<Swap, PersistError>> + Send;

    fn drop_next(
        pool: &Pool<Self>,
        view: &'static str,
    ) -> impl Future<Output = Result<(), PersistError>> + Send;

    fn read_events(
        pool: &Pool<Self>,
        from: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<StoredEvent>, PersistError>> + Send;

    /// Where a view stands.
    fn read_meta(
        conn: &mut Self::Connection,
        view: &str,
    ) -> impl Future<Output = Result<Meta, PersistError>> + Send;
}

impl<DB> Views for DB
where
    DB: Dialect,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'v> i64: Type<DB> + Encode<'v, DB> + Decode<'v, DB>,
    for<'v> &'v str: Type<DB> + Encode<'v, DB>,
    for<'v> String: Type<DB> + Decode<'v, DB>,
    for<'v> Vec<u8>: Type<DB> + Decode<'v, DB>,
{
    async fn prepare(pool: &Pool<DB>, views: &[&'static str]) -> Result<(), PersistError> {
        let mut tx = pool
            .begin_with(DB::BEGIN_CREATING)
            .await
            .map_err(|e| db_error("preparing views", &e))?;
        if !DB::AFTER_BEGIN_CREATING.is_empty() {
            sqlx::query(DB::AFTER_BEGIN_CREATING)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("preparing views", &e))?;
        }
        sqlx::query(DB::CREATE_VIEWS_TABLE)
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("creating projection_views", &e))?;
        for view in views {
            sqlx::query(AssertSqlSafe(DB::create_table(&table(view))))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("creating a view table", &e))?;
        }
        tx.commit()
            .await
            .map_err(|e| db_error("preparing views", &e))
    }

    async fn meta(
        pool: &Pool<DB>,
        view: &'static str,
        currency: Currency,
    ) -> Result<Meta, PersistError> {
        sqlx::query(REGISTER)
            .bind(view)
            .bind(currency.code())
            .execute(pool)
            .await
            .map_err(|e| db_error("registering a view", &e))?;
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| db_error("reading a view", &e))?;
        DB::read_meta(&mut conn, view).await
    }

    async fn read(
        pool: &Pool<DB>,
        view: &'static str,
    ) -> Result<(Meta, Vec<StoredDoc>), PersistError> {
        let mut tx = pool
            .begin_with(DB::BEGIN_SNAPSHOT)
            .await
            .map_err(|e| db_error("reading a view", &e))?;
        if !DB::AFTER_BEGIN_SNAPSHOT.is_empty() {
            sqlx::query(DB::AFTER_BEGIN_SNAPSHOT)
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("reading a view", &e))?;
        }
        let meta = DB::read_meta(&mut tx, view).await?;
        let rows = sqlx::query(AssertSqlSafe(format!(
            "SELECT kind, key, {} FROM {}",
            DB::DOC_AS_TEXT,
            table(view)
        )))
        .fetch_all(&mut *tx)
        .await
        .map_err(|e| db_error("reading a view's documents", &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("reading a view", &e))?;
        let err = |e: sqlx::Error| db_error("decoding a view document", &e);
        let docs = rows
            .iter()
            .map(|row| {
                Ok(StoredDoc {
                    kind: row.try_get(0).map_err(err)?,
                    key: row.try_get(1).map_err(err)?,
                    json: row.try_get(2).map_err(err)?,
                })
            })
            .collect::<Result<Vec<_>, PersistError>>()?;
        Ok((meta, docs))
    }

    async fn reset(
        pool: &Pool<DB>,
        view: &'static str,
        currency: Currency,
    ) -> Result<(), PersistError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| db_error("resetting a view", &e))?;
        sqlx::query(
            "UPDATE projection_views SET generation = generation + 1, position = 0, \
             recorded_at = 0, reporting_currency = $1 WHERE view = $2",
        )
        .bind(currency.code())
        .bind(view)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("resetting a view", &e))?;
        sqlx::query(AssertSqlSafe(format!("DELETE FROM {}", table(view))))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("resetting a view", &e))?;
        tx.commit()
            .await
            .map_err(|e| db_error("resetting a view", &e))
    }

    async fn commit(
        pool: &Pool<DB>,
        changes: &[ViewChanges],
        before_commit: Option<BeforeCommit<'_>>,
    ) -> Result<(), PersistError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| db_error("writing views", &e))?;
        for change in changes {
            // First: it locks the view's row (on SQLite, takes the write lock), and a
            // rebuild's swap shows up here.
            let updated: Option<i64> = sqlx::query_scalar(
                "UPDATE projection_views SET position = $1, recorded_at = $2 \
                 WHERE view = $3 AND generation = $4 RETURNING generation",
            )
            .bind(to_db("position", change.mark.position)?)
            .bind(change.mark.recorded_at)
            .bind(change.view)
            .bind(change.generation)
            .fetch_optional(&mut *tx)
            .await
            .map_err(|e| db_error("writing a view's position", &e))?;
            if updated.is_none() {
                return Err(PersistError::Superseded(change.view));
            }
            DB::upsert(&mut tx, &table(change.view), &change.docs).await?;
            DB::save_cursor(&mut tx, &consumer(change.view), change.mark.position).await?;
        }
        if let Some(failpoint) = before_commit {
            failpoint()?;
        }
        tx.commit()
            .await
            .map_err(|e| db_error("committing views", &e))
    }

    async fn create_next(pool: &Pool<DB>, view: &'static str) -> Result<(), PersistError> {
        let name = next_table(view);
        let mut conn = pool
            .acquire()
            .await
            .map_err(|e| db_error("starting a rebuild", &e))?;
        for sql in [
            format!("DROP TABLE IF EXISTS {name}"),
            DB::create_table(&name),
        ] {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .map_err(|e| db_error("starting a rebuild", &e))?;
        }
        Ok(())
    }

    async fn write_next(
        pool: &Pool<DB>,
        view: &'static str,
        docs: &[Doc],
    ) -> Result<(), PersistError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| db_error("writing a rebuild", &e))?;
        DB::upsert(&mut tx, &next_table(view), docs).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("writing a rebuild", &e))
    }

    async fn swap(
        pool: &Pool<DB>,
        view: &'static str,
        mark: Mark,
        currency: Currency,
    ) -> Result<Swap, PersistError> {
        let mut tx = pool
            .begin()
            .await
            .map_err(|e| db_error("swapping a rebuild in", &e))?;
        sqlx::query(REGISTER_AND_LOCK)
            .bind(view)
            .bind(currency.code())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("swapping a rebuild in", &e))?;
        let live = DB::read_meta(&mut tx, view).await?;
        if live.mark.position > mark.position {
            return Ok(Swap::Behind {
                position: live.mark.position,
            });
        }
        let (live_table, next) = (table(view), next_table(view));
        let drop_live = format!("DROP TABLE IF EXISTS {live_table}");
        for sql in std::iter::once(drop_live).chain(DB::rename(&live_table, &next)) {
            sqlx::query(AssertSqlSafe(sql))
                .execute(&mut *tx)
                .await
                .map_err(|e| db_error("swapping a rebuild in", &e))?;
        }
        let generation = live.generation.saturating_add(1);
        sqlx::query(
            "UPDATE projection_views SET generation = $1, position = $2, recorded_at = $3, \
             reporting_currency = $4 WHERE view = $5",
        )
        .bind(generation)
        .bind(to_db("position", mark.position)?)
        .bind(mark.recorded_at)
        .bind(currency.code())
        .bind(view)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("swapping a rebuild in", &e))?;
        DB::save_cursor(&mut tx, &consumer(view), mark.position).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("swapping a rebuild in", &e))?;
        Ok(Swap::Swapped { generation })
    }

    async fn drop_next(pool: &Pool<DB>, view: &'static str) -> Result<(), PersistError> {
        sqlx::query(AssertSqlSafe(format!(
            "DROP TABLE IF EXISTS {}",
            next_table(view)
        )))
        .execute(pool)
        .await
        .map_err(|e| db_error("dropping a rebuild", &e))?;
        Ok(())
    }

    async fn read_events(
        pool: &Pool<DB>,
        from: i64,
        limit: i64,
    ) -> Result<Vec<StoredEvent>, PersistError> {
        let rows: Vec<(i64, i64, String, Vec<u8>)> = sqlx::query_as(
            "SELECT position, recorded_at, event_type, payload FROM events \
             WHERE position >= $1 ORDER BY position LIMIT $2",
        )
        .bind(from)
        .bind(limit)
        .fetch_all(pool)
        .await
        .map_err(|e| db_error("reading events", &e))?;
        rows.into_iter()
            .map(|(position, recorded_at, event_type, payload)| {
                Ok(StoredEvent {
                    mark: Mark {
                        position: from_db("position", position)?,
                        recorded_at,
                    },
                    event_type,
                    payload,
                })
            })
            .collect()
    }

    async fn read_meta(conn: &mut DB::Connection, view: &str) -> Result<Meta, PersistError> {
        let row = sqlx::query(
            "SELECT generation, position, recorded_at, reporting_currency \
             FROM projection_views WHERE view = $1",
        )
        .bind(view)
        .fetch_one(conn)
        .await
        .map_err(|e| db_error("reading a view's position", &e))?;
        let err = |e: sqlx::Error| db_error("decoding a view's position", &e);
        Ok(Meta {
            generation: row.try_get(0).map_err(err)?,
            mark: Mark {
                position: from_db("position", row.try_get(1).map_err(err)?)?,
                recorded_at: row.try_get(2).map_err(err)?,
            },
            reporting_currency: row.try_get(3).map_err(err)?,
        })
    }
}
