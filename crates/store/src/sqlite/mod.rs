//! The SQLite backend: a file (WAL mode) or memory.

mod append;

use fundtrail_telemetry::redact_url;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Sqlite, SqliteConnection};

use crate::backend::SqlStore;
use crate::error::{InvalidInput, StoreError, db_error};
use crate::statements::Sql;
use crate::types::StoreOptions;
use crate::validate;

/// An event store in a SQLite database. Several processes may share a database file: they
/// agree on order through SQLite's write lock, and see each other's events by polling.
pub type SqliteStore = SqlStore<Sqlite>;

impl SqliteStore {
    /// Opens (creating if missing) the database and runs the migrations. Accepts
    /// `sqlite://path`, `sqlite:path` and `sqlite::memory:`.
    pub async fn connect(url: &str, options: StoreOptions) -> Result<Self, StoreError> {
        validate::options(&options)?;
        let connect: SqliteConnectOptions = url
            .parse()
            .map_err(|err| InvalidInput::Url(format!("{}: {err}", redact_url(url))))?;
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
        let committer = append::SqliteCommitter { pool: pool.clone() };
        let migrator = sqlx::migrate!("./migrations/sqlite");
        Self::start(pool, options, migrator, committer, None).await
    }
}

/// Saves a consumer's cursor (only forward) inside the caller's own transaction, so a
/// projection commits its view rows and its cursor together. Pass `&mut *tx`.
pub async fn save_cursor_in(
    conn: &mut SqliteConnection,
    consumer: &str,
    position: u64,
) -> Result<(), StoreError> {
    Sqlite::save_cursor(conn, consumer, position).await
}

/// Loads a consumer's cursor inside the caller's own transaction; 0 when none.
pub async fn load_cursor_in(
    conn: &mut SqliteConnection,
    consumer: &str,
) -> Result<u64, StoreError> {
    Sqlite::load_cursor(conn, consumer).await
}
