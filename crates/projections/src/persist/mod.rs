//! Persisting views: one table of JSON documents per view, a row per view in
//! `projection_views`, and the view's consumer cursor, all written in one transaction.
//!
//! # Layout
//!
//! - `projection_views (view, generation, position, recorded_at, reporting_currency)`: where
//!   each view stands. `generation` changes when a rebuild swaps the view's table; a projector
//!   that commits with the generation it loaded finds out it was superseded and reloads.
//! - `projection_<view> (kind, key, doc)`, primary key `(kind, key)`: the view's documents as
//!   JSON (`jsonb` on PostgreSQL, text on SQLite), e.g. `('country', 'BA', {...})` in
//!   `projection_country_funding`. The documents are the fold's whole state, so a projector
//!   resumes by loading them; see each view's module for what a kind holds.
//! - `projection_<view>_next`: the table a rebuild fills before it is swapped in.
//! - The store's `consumer_cursors` row `projection.<view>`, saved with
//!   `save_cursor_in` in the same transaction, so the store's tooling sees the view's
//!   progress like any consumer's.
//!
//! Every transaction that writes a view first updates its `projection_views` row, which locks
//! it: a projector's batch and a rebuild's swap of the same view never interleave.

mod postgres;
mod sql;
mod sqlite;

use fundtrail_domain::Currency;
use fundtrail_store::{Database, EventStore, OpenedStore, StoreError, StoreOptions};
use sqlx::{PgPool, Postgres, Sqlite, SqlitePool};
use std::sync::Arc;

use sql::Views;

use crate::doc::{Doc, Mark, RestoreError, StoredDoc, View};
use crate::figure::Reporting;

/// Why a view could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    #[error("view database unavailable: {0}")]
    Unavailable(String),
    #[error("stored view data is corrupt: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("view {0} was rebuilt and swapped in by someone else; reload it")]
    Superseded(&'static str),
    #[error("documents could not be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("interrupted before commit: {0}")]
    Interrupted(String),
}

pub(crate) fn db_error(context: &str, err: &sqlx::Error) -> PersistError {
    match err {
        sqlx::Error::ColumnDecode { .. } | sqlx::Error::Decode(_) => {
            PersistError::Corrupt(format!("{context}: {err}"))
        }
        _ => PersistError::Unavailable(format!("{context}: {err}")),
    }
}

/// What a fold needs of a stored event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub mark: Mark,
    pub event_type: String,
    pub payload: Vec<u8>,
}

/// The changes of one view in a batch.
#[derive(Debug, Clone)]
pub struct ViewChanges {
    pub view: &'static str,
    /// The generation the writer loaded; a different stored one means it was superseded.
    pub generation: i64,
    pub mark: Mark,
    pub docs: Vec<Doc>,
}

/// A view loaded from the database, with the generation it was loaded at.
#[derive(Debug)]
pub struct Loaded<V> {
    pub view: V,
    pub generation: i64,
}

/// Where a view stands in the database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Meta {
    pub generation: i64,
    pub mark: Mark,
    pub reporting_currency: String,
}

/// What a rebuild's swap found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The rebuilt table is the view now, at this generation.
    Swapped { generation: i64 },
    /// The live view is further along than the rebuild: catch up to `position` and try again.
    Behind { position: u64 },
}

/// The database the views live in: the event store's own.
#[derive(Debug, Clone)]
pub enum ViewDb {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A failpoint: runs inside the transaction after the documents are written and before the
/// commit; an error aborts the transaction as a crash there would.
pub type BeforeCommit<'a> = &'a (dyn Fn() -> Result<(), PersistError> + Send + Sync);

pub(crate) fn table(view: &str) -> String {
    format!("projection_{view}")
}

pub(crate) fn next_table(view: &str) -> String {
    format!("projection_{view}_next")
}

pub(crate) fn consumer(view: &str) -> String {
    format!("projection.{view}")
}

pub(crate) fn to_db(what: &'static str, value: u64) -> Result<i64, PersistError> {
    i64::try_from(value)
        .map_err(|_| PersistError::Corrupt(format!("{what} {value} is out of range")))
}

pub(crate) fn from_db(what: &'static str, value: i64) -> Result<u64, PersistError> {
    u64::try_from(value).map_err(|_| PersistError::Corrupt(format!("{what} {value} is negative")))
}

/// Opens the event store a URL names, with the database its views live in.
pub async fn open(
    url: &str,
    options: StoreOptions,
) -> Result<(Arc<dyn EventStore>, ViewDb), PersistError> {
    let store = OpenedStore::open(url, options).await?;
    Ok((store.events(), store.database().into()))
}

impl From<Database> for ViewDb {
    fn from(database: Database) -> Self {
        match database {
            Database::Postgres(pool) => Self::Postgres(pool),
            Database::Sqlite(pool) => Self::Sqlite(pool),
        }
    }
}

/// Runs one of [`Views`]' functions on whichever database the views live in.
macro_rules! on_db {
    ($db:expr, $function:ident($($arg:expr),* $(,)?)) => {
        match $db {
            ViewDb::Postgres(pool) => Postgres::$function(pool, $($arg),*).await,
            ViewDb::Sqlite(pool) => Sqlite::$function(pool, $($arg),*).await,
        }
    };
}

impl ViewDb {
    /// Creates the tables of the named views and the views' row table, if missing.
    pub async fn prepare(&self, views: &[&'static str]) -> Result<(), PersistError> {
        on_db!(self, prepare(views))
    }

    async fn meta(&self, view: &'static str, currency: Currency) -> Result<Meta, PersistError> {
        on_db!(self, meta(view, currency))
    }

    async fn read(&self, view: &'static str) -> Result<(Meta, Vec<StoredDoc>), PersistError> {
        on_db!(self, read(view))
    }

    /// Empties a view built in another reporting currency, so it is built again from the
    /// start in the configured one.
    async fn reset(&self, view: &'static str, currency: Currency) -> Result<(), PersistError> {
        on_db!(self, reset(view, currency))
    }

    /// Loads a view with its position and generation.
    pub async fn load<V: View>(&self, reporting: Reporting) -> Result<Loaded<V>, PersistError> {
        self.prepare(&[V::NAME]).await?;
        let meta = self.meta(V::NAME, reporting.currency()).await?;
        if meta.reporting_currency != reporting.currency().code() {
            tracing::warn!(
                view = V::NAME,
                stored = %meta.reporting_currency,
                configured = %reporting.currency(),
                "the view was built in another reporting currency; building it again"
            );
            self.reset(V::NAME, reporting.currency()).await?;
        }
        let (meta, docs) = self.read(V::NAME).await?;
        let view = V::restore(reporting, meta.mark, docs)?;
        Ok(Loaded {
            view,
            generation: meta.generation,
        })
    }

    /// Writes a batch of changes and the views' cursors in one transaction.
    pub async fn commit(
        &self,
        changes: &[ViewChanges],
        before_commit: Option<BeforeCommit<'_>>,
    ) -> Result<(), PersistError> {
        on_db!(self, commit(changes, before_commit))
    }

    /// Starts a rebuild of a view: an empty `projection_<view>_next`.
    pub async fn create_next(&self, view: &'static str) -> Result<(), PersistError> {
        on_db!(self, create_next(view))
    }

    /// Writes documents into the rebuild's table.
    pub async fn write_next(&self, view: &'static str, docs: &[Doc]) -> Result<(), PersistError> {
        on_db!(self, write_next(view, docs))
    }

    /// Swaps the rebuilt table in, unless the live view is further along.
    pub async fn swap(
        &self,
        view: &'static str,
        mark: Mark,
        currency: Currency,
    ) -> Result<Swap, PersistError> {
        on_db!(self, swap(view, mark, currency))
    }

    /// At most `limit` events from `from` on, in position order, read from the store's
    /// `events` table with only the columns the folds use.
    pub async fn read_events(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<StoredEvent>, PersistError> {
        let from = to_db("position", from)?;
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        on_db!(self, read_events(from, limit))
    }

    /// Drops an abandoned rebuild's table.
    pub async fn drop_next(&self, view: &'static str) -> Result<(), PersistError> {
        on_db!(self, drop_next(view))
    }
}
