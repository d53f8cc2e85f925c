//! One fresh, isolated store per test, on each backend.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use fundtrail_store::{EventStore, PgStore, SqliteStore, StoreOptions, postgres, sqlite};
use sqlx::migrate::Migrator;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{AssertSqlSafe, Connection, Executor};

pub trait Harness: Sized {
    /// A new empty store with these options.
    async fn with_options(options: StoreOptions) -> Self;

    async fn new() -> Self {
        Self::with_options(StoreOptions::default()).await
    }

    fn store(&self) -> Arc<dyn EventStore>;

    /// Another store instance on the same database, as a second process would open it.
    async fn reopen(&self, options: StoreOptions) -> Arc<dyn EventStore>;

    /// Runs SQL behind the store's back.
    async fn exec(&self, sql: &str);

    /// A blob literal in this backend's SQL.
    fn blob(bytes: &[u8]) -> String;

    /// Saves a cursor inside a transaction of the caller's, then commits or rolls back.
    async fn cursor_in_transaction(&self, consumer: &str, position: u64, commit: bool);

    /// Makes the database refuse any cursor saved at `position` or beyond, as a failure in the
    /// middle of a transaction that saves one.
    async fn refuse_cursors_from(&self, position: u64);

    /// A store opened on a database that a release before migration `version` created and
    /// then wrote `sql` into, as an upgrade finds it.
    async fn upgraded_from(version: i64, sql: &str) -> Self;

    /// The migration that renamed the consumers' progress table to `consumer_cursors`.
    const CURSORS_MIGRATION: i64;

    /// Whether another instance's commits reach subscribers without polling.
    const NOTIFIES_ACROSS_INSTANCES: bool;
}

/// The migrations an older release ran, recorded where the store looks for them.
fn migrations_before(mut migrator: Migrator, version: i64) -> Migrator {
    migrator.migrations = migrator
        .migrations
        .iter()
        .filter(|m| m.version < version)
        .cloned()
        .collect::<Vec<_>>()
        .into();
    migrator.dangerous_set_table_name("fundtrail_store_migrations");
    migrator
}

pub fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Each PostgreSQL test gets a schema of its own (which also keys the store's advisory lock
/// and notification channel, so parallel tests do not serialize each other); it is dropped
/// when the harness is, even if the test failed.
#[derive(Debug)]
pub struct Pg {
    store: PgStore,
    schema: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_schema() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!(
        "store_test_{}_{}_{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

impl Pg {
    fn options(&self, mut options: StoreOptions) -> StoreOptions {
        options.schema = Some(self.schema.clone());
        options
    }
}

impl Harness for Pg {
    async fn with_options(mut options: StoreOptions) -> Self {
        let schema = unique_schema();
        options.schema = Some(schema.clone());
        let store = PgStore::connect(&database_url(), options)
            .await
            .expect("PostgreSQL must be reachable at FUNDTRAIL_TEST_DATABASE_URL");
        Self { store, schema }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    async fn reopen(&self, options: StoreOptions) -> Arc<dyn EventStore> {
        Arc::new(
            PgStore::connect(&database_url(), self.options(options))
                .await
                .unwrap(),
        )
    }

    async fn exec(&self, sql: &str) {
        self.store
            .pool()
            .execute(AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap();
    }

    fn blob(bytes: &[u8]) -> String {
        format!("'\\x{}'::bytea", hex::encode(bytes))
    }

    async fn cursor_in_transaction(&self, consumer: &str, position: u64, commit: bool) {
        let mut tx = self.store.pool().begin().await.unwrap();
        postgres::save_cursor_in(&mut tx, consumer, position)
            .await
            .unwrap();
        assert!(postgres::load_cursor_in(&mut tx, consumer).await.unwrap() >= position);
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }

    async fn refuse_cursors_from(&self, position: u64) {
        self.exec(&format!(
            "CREATE FUNCTION refuse_cursor() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'cursor refused'; END $$; \
             CREATE TRIGGER refuse_cursor BEFORE INSERT OR UPDATE ON consumer_cursors \
             FOR EACH ROW WHEN (NEW.position >= {position}) EXECUTE FUNCTION refuse_cursor()"
        ))
        .await;
    }

    async fn upgraded_from(version: i64, sql: &str) -> Self {
        let schema = unique_schema();
        let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
        conn.execute(AssertSqlSafe(format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}"
        )))
        .await
        .unwrap();
        migrations_before(sqlx::migrate!("./migrations/postgres"), version)
            .run(&mut conn)
            .await
            .unwrap();
        conn.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
        conn.close().await.unwrap();
        let options = StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::default()
        };
        let store = PgStore::connect(&database_url(), options).await.unwrap();
        Self { store, schema }
    }

    const CURSORS_MIGRATION: i64 = 3;
    const NOTIFIES_ACROSS_INSTANCES: bool = true;
}

impl Drop for Pg {
    fn drop(&mut self) {
        let schema = self.schema.clone();
        // Drop runs outside any async context we could await in, so a short-lived thread
        // with its own runtime does the cleanup.
        let cleanup = std::thread::spawn(move || {
            let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            else {
                return;
            };
            runtime.block_on(async move {
                if let Ok(mut conn) = sqlx::PgConnection::connect(&database_url()).await {
                    let _ = conn.execute("SET lock_timeout = '10s'").await;
                    let _ = conn
                        .execute(AssertSqlSafe(format!(
                            "DROP SCHEMA IF EXISTS {schema} CASCADE"
                        )))
                        .await;
                    let _ = conn.close().await;
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Each SQLite test gets a database file in a temporary directory of its own.
#[derive(Debug)]
pub struct Sqlite {
    store: SqliteStore,
    url: String,
    _dir: tempfile::TempDir,
}

impl Harness for Sqlite {
    async fn with_options(options: StoreOptions) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let store = SqliteStore::connect(&url, options).await.unwrap();
        Self {
            store,
            url,
            _dir: dir,
        }
    }

    fn store(&self) -> Arc<dyn EventStore> {
        Arc::new(self.store.clone())
    }

    async fn reopen(&self, options: StoreOptions) -> Arc<dyn EventStore> {
        Arc::new(SqliteStore::connect(&self.url, options).await.unwrap())
    }

    async fn exec(&self, sql: &str) {
        self.store
            .pool()
            .execute(AssertSqlSafe(sql.to_owned()))
            .await
            .unwrap();
    }

    fn blob(bytes: &[u8]) -> String {
        format!("x'{}'", hex::encode(bytes))
    }

    async fn cursor_in_transaction(&self, consumer: &str, position: u64, commit: bool) {
        let mut tx = self.store.pool().begin().await.unwrap();
        sqlite::save_cursor_in(&mut tx, consumer, position)
            .await
            .unwrap();
        assert!(sqlite::load_cursor_in(&mut tx, consumer).await.unwrap() >= position);
        if commit {
            tx.commit().await.unwrap();
        } else {
            tx.rollback().await.unwrap();
        }
    }

    async fn refuse_cursors_from(&self, position: u64) {
        for event in ["INSERT", "UPDATE"] {
            self.exec(&format!(
                "CREATE TRIGGER refuse_cursor_{event} BEFORE {event} ON consumer_cursors \
                 WHEN NEW.position >= {position} BEGIN SELECT RAISE(ABORT, 'cursor refused'); END"
            ))
            .await;
        }
    }

    async fn upgraded_from(version: i64, sql: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("store.db").display());
        let connect = url
            .parse::<SqliteConnectOptions>()
            .unwrap()
            .create_if_missing(true);
        let mut conn = sqlx::SqliteConnection::connect_with(&connect)
            .await
            .unwrap();
        migrations_before(sqlx::migrate!("./migrations/sqlite"), version)
            .run(&mut conn)
            .await
            .unwrap();
        conn.execute(AssertSqlSafe(sql.to_owned())).await.unwrap();
        conn.close().await.unwrap();
        let store = SqliteStore::connect(&url, StoreOptions::default())
            .await
            .unwrap();
        Self {
            store,
            url,
            _dir: dir,
        }
    }

    const CURSORS_MIGRATION: i64 = 2;
    const NOTIFIES_ACROSS_INSTANCES: bool = false;
}
