//! A store opened by URL, keeping its backend: read models, the relay's lease and audit
//! checkpoints live in the store's own database and need to reach it.

use std::sync::Arc;

use fundtrail_telemetry::redact_url;
use sqlx::{PgPool, SqlitePool};

use crate::error::{InvalidInput, StoreError};
use crate::postgres::PgStore;
use crate::sqlite::SqliteStore;
use crate::store::EventStore;
use crate::types::StoreOptions;

/// One of the two backends, chosen by URL.
#[derive(Debug, Clone)]
pub enum OpenedStore {
    Postgres(PgStore),
    Sqlite(SqliteStore),
}

/// The database a store lives in, for tables that sit beside the events.
#[derive(Debug, Clone)]
pub enum Database {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

impl OpenedStore {
    /// Opens the store a URL names: `postgres://…` or `postgresql://…` for PostgreSQL,
    /// `sqlite://path` (created if missing) or `sqlite::memory:` for SQLite.
    pub async fn open(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Self::Postgres(PgStore::connect(url, options).await?))
        } else if url.starts_with("sqlite:") {
            Ok(Self::Sqlite(SqliteStore::connect(url, options).await?))
        } else {
            Err(InvalidInput::Url(redact_url(url)).into())
        }
    }

    /// The store as the one interface both backends implement.
    pub fn events(&self) -> Arc<dyn EventStore> {
        match self {
            Self::Postgres(store) => Arc::new(store.clone()),
            Self::Sqlite(store) => Arc::new(store.clone()),
        }
    }

    pub fn database(&self) -> Database {
        match self {
            Self::Postgres(store) => Database::Postgres(store.pool().clone()),
            Self::Sqlite(store) => Database::Sqlite(store.pool().clone()),
        }
    }
}

impl From<PgStore> for OpenedStore {
    fn from(store: PgStore) -> Self {
        Self::Postgres(store)
    }
}

impl From<SqliteStore> for OpenedStore {
    fn from(store: SqliteStore) -> Self {
        Self::Sqlite(store)
    }
}
