//! Where signed checkpoints live: a table in the event store's own database, so a backup of
//! the store carries its checkpoints and a tamperer with database access is the threat the
//! signatures answer. The Merkle tree's tables ([`crate::tree`]) are created beside it, the
//! same way.

use std::sync::Arc;

use fundtrail_store::{Database, EventStore, StoreError, StoreOptions};
use sqlx::{PgPool, Row, SqlitePool};

use fundtrail_verifier::SignedCheckpoint;

/// Why checkpoints could not be stored or read.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("checkpoint table: {0}")]
    Database(String),
    #[error("checkpoint table: a stored row is corrupt: {0}")]
    Corrupt(String),
}

pub(crate) fn db(what: &str) -> impl Fn(sqlx::Error) -> StorageError + '_ {
    move |e| StorageError::Database(format!("{what}: {e}"))
}

const PG_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit_checkpoints (
    position   BIGINT NOT NULL CHECK (position > 0),
    public_key BYTEA NOT NULL,
    hash       BYTEA NOT NULL,
    signature  BYTEA NOT NULL,
    signed_at  TEXT NOT NULL,
    PRIMARY KEY (position, public_key)
)";

const SQLITE_TABLE: &str = "CREATE TABLE IF NOT EXISTS audit_checkpoints (
    position   INTEGER NOT NULL CHECK (position > 0),
    public_key BLOB NOT NULL,
    hash       BLOB NOT NULL,
    signature  BLOB NOT NULL,
    signed_at  TEXT NOT NULL,
    PRIMARY KEY (position, public_key)
) WITHOUT ROWID";

const COLUMNS: &str = "position, public_key, hash, signature, signed_at";

/// The checkpoint table of one store.
#[derive(Debug, Clone)]
pub enum CheckpointStore {
    Postgres(PgPool),
    Sqlite(SqlitePool),
}

/// A store opened by URL, with its checkpoint table.
#[derive(Debug, Clone)]
pub struct OpenedStore {
    pub store: fundtrail_store::OpenedStore,
    pub events: Arc<dyn EventStore>,
    pub checkpoints: CheckpointStore,
}

/// Opens the store a URL names (as [`fundtrail_store::open`]) and its checkpoint table.
pub async fn open(url: &str, options: StoreOptions) -> Result<OpenedStore, StorageError> {
    let store = fundtrail_store::OpenedStore::open(url, options).await?;
    let checkpoints = CheckpointStore::create(store.database()).await?;
    Ok(OpenedStore {
        events: store.events(),
        store,
        checkpoints,
    })
}

impl CheckpointStore {
    /// The checkpoint table in a store's database, created when missing.
    pub async fn create(database: Database) -> Result<Self, StorageError> {
        match database {
            Database::Postgres(pool) => Self::postgres(pool).await,
            Database::Sqlite(pool) => Self::sqlite(pool).await,
        }
    }

    pub async fn postgres(pool: PgPool) -> Result<Self, StorageError> {
        // Servers starting together on a new database race to create the table, and
        // PostgreSQL's IF NOT EXISTS does not settle that race; the lock makes the second
        // creator find the first one's table.
        let mut tx = pool.begin().await.map_err(db("creating"))?;
        sqlx::query(
            "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.audit_checkpoints'))",
        )
        .execute(&mut *tx)
        .await
        .map_err(db("creating"))?;
        for table in std::iter::once(PG_TABLE).chain(crate::tree::PG_TABLES.iter().copied()) {
            sqlx::query(table)
                .execute(&mut *tx)
                .await
                .map_err(db("creating"))?;
        }
        tx.commit().await.map_err(db("creating"))?;
        Ok(Self::Postgres(pool))
    }

    pub async fn sqlite(pool: SqlitePool) -> Result<Self, StorageError> {
        for table in std::iter::once(SQLITE_TABLE).chain(crate::tree::SQLITE_TABLES.iter().copied())
        {
            sqlx::query(table)
                .execute(&pool)
                .await
                .map_err(db("creating"))?;
        }
        Ok(Self::Sqlite(pool))
    }

    /// Stores a checkpoint; one already stored for the same position and key is kept.
    pub async fn save(&self, cp: &SignedCheckpoint) -> Result<(), StorageError> {
        let position = i64::try_from(cp.position)
            .map_err(|_| StorageError::Database(format!("position {} too large", cp.position)))?;
        match self {
            Self::Postgres(pool) => sqlx::query(
                "INSERT INTO audit_checkpoints (position, public_key, hash, signature, signed_at) \
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
            )
            .bind(position)
            .bind(cp.public_key.as_slice())
            .bind(cp.hash.as_slice())
            .bind(cp.signature.as_slice())
            .bind(&cp.signed_at)
            .execute(pool)
            .await
            .map(drop),
            Self::Sqlite(pool) => sqlx::query(
                "INSERT INTO audit_checkpoints (position, public_key, hash, signature, signed_at) \
                 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            )
            .bind(position)
            .bind(cp.public_key.as_slice())
            .bind(cp.hash.as_slice())
            .bind(cp.signature.as_slice())
            .bind(&cp.signed_at)
            .execute(pool)
            .await
            .map(drop),
        }
        .map_err(db("saving"))
    }

    /// The checkpoint with the highest position (the last signed at it, if several keys
    /// signed it).
    pub async fn latest(&self) -> Result<Option<SignedCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_checkpoints ORDER BY position DESC, signed_at DESC LIMIT 1"
        );
        Ok(self.select(&sql, Bind::None).await?.into_iter().next())
    }

    /// The checkpoint with the highest position signed by `key`.
    pub async fn latest_by(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<SignedCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_checkpoints WHERE public_key = {} \
             ORDER BY position DESC LIMIT 1",
            self.placeholder()
        );
        Ok(self.select(&sql, Bind::Key(key)).await?.into_iter().next())
    }

    /// The checkpoint at exactly this position, if one was signed there.
    pub async fn at(&self, position: u64) -> Result<Option<SignedCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_checkpoints WHERE position = {} \
             ORDER BY signed_at DESC LIMIT 1",
            self.placeholder()
        );
        let position = i64::try_from(position).unwrap_or(i64::MAX);
        Ok(self
            .select(&sql, Bind::Position(position))
            .await?
            .into_iter()
            .next())
    }

    /// Every checkpoint, by position.
    pub async fn list(&self) -> Result<Vec<SignedCheckpoint>, StorageError> {
        let sql = format!("SELECT {COLUMNS} FROM audit_checkpoints ORDER BY position, signed_at");
        self.select(&sql, Bind::None).await
    }

    fn placeholder(&self) -> &'static str {
        match self {
            Self::Postgres(_) => "$1",
            Self::Sqlite(_) => "?",
        }
    }

    async fn select(
        &self,
        sql: &str,
        bind: Bind<'_>,
    ) -> Result<Vec<SignedCheckpoint>, StorageError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        macro_rules! run {
            ($pool:expr) => {{
                let query = sqlx::query(sql);
                let query = match bind {
                    Bind::None => query,
                    Bind::Position(position) => query.bind(position),
                    Bind::Key(key) => query.bind(key.as_slice()),
                };
                let rows = query.fetch_all($pool).await.map_err(db("reading"))?;
                rows.iter()
                    .map(|row| {
                        decode(
                            row.try_get(0),
                            row.try_get(1),
                            row.try_get(2),
                            row.try_get(3),
                            row.try_get(4),
                        )
                    })
                    .collect()
            }};
        }
        // The two drivers' query types differ, so the same steps are spelled out for each.
        match self {
            Self::Postgres(pool) => run!(pool),
            Self::Sqlite(pool) => run!(pool),
        }
    }
}

/// The one parameter a checkpoint query takes, if any.
#[derive(Debug, Clone, Copy)]
enum Bind<'a> {
    None,
    Position(i64),
    Key(&'a [u8; 32]),
}

type Column<T> = Result<T, sqlx::Error>;

fn decode(
    position: Column<i64>,
    public_key: Column<Vec<u8>>,
    hash: Column<Vec<u8>>,
    signature: Column<Vec<u8>>,
    signed_at: Column<String>,
) -> Result<SignedCheckpoint, StorageError> {
    let read = db("decoding");
    let position = position.map_err(&read)?;
    let position = u64::try_from(position)
        .map_err(|_| StorageError::Corrupt(format!("negative position {position}")))?;
    Ok(SignedCheckpoint {
        position,
        public_key: fixed("public key", position, public_key.map_err(&read)?)?,
        hash: fixed("hash", position, hash.map_err(&read)?)?,
        signature: fixed("signature", position, signature.map_err(&read)?)?,
        signed_at: signed_at.map_err(&read)?,
    })
}

fn fixed<const N: usize>(
    what: &str,
    position: u64,
    bytes: Vec<u8>,
) -> Result<[u8; N], StorageError> {
    let len = bytes.len();
    bytes.try_into().map_err(|_| {
        StorageError::Corrupt(format!(
            "{what} of the checkpoint at {position} is {len} bytes, expected {N}"
        ))
    })
}
