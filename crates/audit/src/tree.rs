//! Where the Merkle tree lives: three tables beside `audit_checkpoints` in the store's own
//! database, created with it (`CREATE TABLE IF NOT EXISTS`, on both backends).
//!
//! - `audit_tree_nodes (level, idx, hash)`: every complete subtree of the tree (docs/audit.md
//!   §1), leaves at level 0. A proof of a tree of `n` leaves needs `O(log n)` of them, read in
//!   one query. The rows follow from the events alone ([`crate::follower::rebuild`]) and are
//!   never updated, only added; the tree's size is the number of leaves.
//! - `audit_tree_checkpoints (tree_size, public_key, root, note, signed_at)`: the signed
//!   notes, as signed.
//! - `audit_cosignatures (tree_size, public_key, witness_name, witness_key, cosigned_at,
//!   line, received_at)`: witnesses' cosignature lines of those notes, checked before kept.
//!
//! Like the checkpoints, whoever can alter the database can alter these; what defends the
//! tree is the signature on its root, which every proof is checked against.

use std::collections::HashMap;

use fundtrail_verifier::merkle::{Hash, NodeId};
use sqlx::Row;

use crate::storage::{CheckpointStore, StorageError, db};

pub(crate) const PG_TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS audit_tree_nodes (
        level SMALLINT NOT NULL CHECK (level >= 0 AND level < 64),
        idx   BIGINT NOT NULL CHECK (idx >= 0),
        hash  BYTEA NOT NULL,
        PRIMARY KEY (level, idx)
    )",
    "CREATE TABLE IF NOT EXISTS audit_tree_checkpoints (
        tree_size  BIGINT NOT NULL CHECK (tree_size > 0),
        public_key BYTEA NOT NULL,
        root       BYTEA NOT NULL,
        note       TEXT NOT NULL,
        signed_at  TEXT NOT NULL,
        PRIMARY KEY (tree_size, public_key)
    )",
    "CREATE TABLE IF NOT EXISTS audit_cosignatures (
        tree_size    BIGINT NOT NULL,
        public_key   BYTEA NOT NULL,
        witness_name TEXT NOT NULL,
        witness_key  BYTEA NOT NULL,
        cosigned_at  BIGINT NOT NULL,
        line         TEXT NOT NULL,
        received_at  TEXT NOT NULL,
        PRIMARY KEY (tree_size, public_key, witness_name, witness_key)
    )",
];

pub(crate) const SQLITE_TABLES: [&str; 3] = [
    "CREATE TABLE IF NOT EXISTS audit_tree_nodes (
        level INTEGER NOT NULL CHECK (level >= 0 AND level < 64),
        idx   INTEGER NOT NULL CHECK (idx >= 0),
        hash  BLOB NOT NULL,
        PRIMARY KEY (level, idx)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS audit_tree_checkpoints (
        tree_size  INTEGER NOT NULL CHECK (tree_size > 0),
        public_key BLOB NOT NULL,
        root       BLOB NOT NULL,
        note       TEXT NOT NULL,
        signed_at  TEXT NOT NULL,
        PRIMARY KEY (tree_size, public_key)
    ) WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS audit_cosignatures (
        tree_size    INTEGER NOT NULL,
        public_key   BLOB NOT NULL,
        witness_name TEXT NOT NULL,
        witness_key  BLOB NOT NULL,
        cosigned_at  INTEGER NOT NULL,
        line         TEXT NOT NULL,
        received_at  TEXT NOT NULL,
        PRIMARY KEY (tree_size, public_key, witness_name, witness_key)
    ) WITHOUT ROWID",
];

/// Rows written per statement on SQLite (three parameters each, under its limit).
const SQLITE_ROWS: usize = 300;

/// A tree checkpoint as stored: the fund's signed note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeCheckpoint {
    pub tree_size: u64,
    pub public_key: [u8; 32],
    pub root: Hash,
    /// The signed note, with the fund's signature only.
    pub note: String,
    pub signed_at: String,
}

/// A witness's cosignature as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredCosignature {
    pub tree_size: u64,
    /// The fund key whose checkpoint it cosigns.
    pub public_key: [u8; 32],
    pub witness_name: String,
    pub witness_key: [u8; 32],
    pub cosigned_at: u64,
    /// The signature line, with its newline.
    pub line: String,
    pub received_at: String,
}

fn int(what: &str, value: u64) -> Result<i64, StorageError> {
    i64::try_from(value).map_err(|_| StorageError::Database(format!("{what} {value} too large")))
}

fn uint(what: &str, value: i64) -> Result<u64, StorageError> {
    u64::try_from(value).map_err(|_| StorageError::Corrupt(format!("negative {what} {value}")))
}

fn fixed<const N: usize>(what: &str, bytes: &[u8]) -> Result<[u8; N], StorageError> {
    bytes.try_into().map_err(|_| {
        StorageError::Corrupt(format!("{what} is {} bytes, expected {N}", bytes.len()))
    })
}

const TREE_COLUMNS: &str = "tree_size, public_key, root, note, signed_at";

impl CheckpointStore {
    fn placeholders(&self, count: usize) -> Vec<String> {
        (1..=count)
            .map(|n| match self {
                Self::Postgres(_) => format!("${n}"),
                Self::Sqlite(_) => "?".to_owned(),
            })
            .collect()
    }

    /// How many leaves the stored tree has.
    pub async fn tree_size(&self) -> Result<u64, StorageError> {
        let sql = "SELECT COALESCE(MAX(idx) + 1, 0) FROM audit_tree_nodes WHERE level = 0";
        let size: i64 = match self {
            Self::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
            Self::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await,
        }
        .map_err(db("reading the tree size"))?;
        uint("tree size", size)
    }

    /// The stored hashes of these subtrees, in one query; those not stored are absent.
    pub async fn tree_nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StorageError> {
        let mut out = HashMap::with_capacity(ids.len());
        if ids.is_empty() {
            return Ok(out);
        }
        let rows = match self {
            Self::Postgres(pool) => {
                let levels: Vec<i16> = ids.iter().map(|id| i16::from(id.level)).collect();
                let indexes: Vec<i64> = ids
                    .iter()
                    .map(|id| int("node index", id.index))
                    .collect::<Result<_, _>>()?;
                sqlx::query(
                    "SELECT n.level::BIGINT, n.idx, n.hash \
                     FROM UNNEST($1::SMALLINT[], $2::BIGINT[]) AS w(level, idx) \
                     JOIN audit_tree_nodes n ON n.level = w.level AND n.idx = w.idx",
                )
                .bind(levels)
                .bind(indexes)
                .fetch_all(pool)
                .await
                .map_err(db("reading tree nodes"))?
                .iter()
                .map(|row| Ok((row.try_get(0)?, row.try_get(1)?, row.try_get(2)?)))
                .collect::<Result<Vec<(i64, i64, Vec<u8>)>, sqlx::Error>>()
            }
            Self::Sqlite(pool) => {
                let mut all = Vec::with_capacity(ids.len());
                for chunk in ids.chunks(SQLITE_ROWS) {
                    let pairs = vec!["(?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "SELECT level, idx, hash FROM audit_tree_nodes \
                         WHERE (level, idx) IN (VALUES {pairs})"
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for id in chunk {
                        query = query
                            .bind(i64::from(id.level))
                            .bind(int("node index", id.index)?);
                    }
                    let rows = query
                        .fetch_all(pool)
                        .await
                        .map_err(db("reading tree nodes"))?;
                    for row in &rows {
                        all.push((
                            row.try_get(0).map_err(db("decoding"))?,
                            row.try_get(1).map_err(db("decoding"))?,
                            row.try_get(2).map_err(db("decoding"))?,
                        ));
                    }
                }
                Ok(all)
            }
        }
        .map_err(db("decoding tree nodes"))?;
        for (level, index, hash) in rows {
            let level = u8::try_from(level)
                .map_err(|_| StorageError::Corrupt(format!("tree node level {level}")))?;
            let index = uint("tree node index", index)?;
            out.insert(
                NodeId::new(level, index),
                fixed("a tree node's hash", &hash)?,
            );
        }
        Ok(out)
    }

    /// Adds subtrees in one transaction; a subtree already stored is kept as it is (the same
    /// leaves always give the same hash, so two writers racing write the same rows).
    pub async fn save_tree_nodes(&self, nodes: &[(NodeId, Hash)]) -> Result<(), StorageError> {
        if nodes.is_empty() {
            return Ok(());
        }
        let save = db("saving tree nodes");
        match self {
            Self::Postgres(pool) => {
                let levels: Vec<i16> = nodes.iter().map(|(id, _)| i16::from(id.level)).collect();
                let indexes: Vec<i64> = nodes
                    .iter()
                    .map(|(id, _)| int("node index", id.index))
                    .collect::<Result<_, _>>()?;
                let hashes: Vec<Vec<u8>> = nodes.iter().map(|(_, h)| h.to_vec()).collect();
                sqlx::query(
                    "INSERT INTO audit_tree_nodes (level, idx, hash) \
                     SELECT * FROM UNNEST($1::SMALLINT[], $2::BIGINT[], $3::BYTEA[]) \
                     ON CONFLICT DO NOTHING",
                )
                .bind(levels)
                .bind(indexes)
                .bind(hashes)
                .execute(pool)
                .await
                .map_err(save)?;
            }
            Self::Sqlite(pool) => {
                let mut tx = pool.begin().await.map_err(&save)?;
                for chunk in nodes.chunks(SQLITE_ROWS) {
                    let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
                    let sql = format!(
                        "INSERT INTO audit_tree_nodes (level, idx, hash) VALUES {rows} \
                         ON CONFLICT DO NOTHING"
                    );
                    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
                    for (id, hash) in chunk {
                        query = query
                            .bind(i64::from(id.level))
                            .bind(int("node index", id.index)?)
                            .bind(hash.as_slice());
                    }
                    query.execute(&mut *tx).await.map_err(&save)?;
                }
                tx.commit().await.map_err(&save)?;
            }
        }
        Ok(())
    }

    /// Removes every stored subtree, for a rebuild from the events.
    pub async fn clear_tree_nodes(&self) -> Result<(), StorageError> {
        let sql = "DELETE FROM audit_tree_nodes";
        match self {
            Self::Postgres(pool) => sqlx::query(sql).execute(pool).await.map(drop),
            Self::Sqlite(pool) => sqlx::query(sql).execute(pool).await.map(drop),
        }
        .map_err(db("clearing the tree"))
    }

    /// Keeps a signed tree checkpoint; one already stored for the size and key is kept.
    pub async fn save_tree_checkpoint(&self, cp: &TreeCheckpoint) -> Result<(), StorageError> {
        let p = self.placeholders(5).join(", ");
        let sql = format!(
            "INSERT INTO audit_tree_checkpoints ({TREE_COLUMNS}) VALUES ({p}) \
             ON CONFLICT DO NOTHING"
        );
        let size = int("tree size", cp.tree_size)?;
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(size)
                    .bind(cp.public_key.as_slice())
                    .bind(cp.root.as_slice())
                    .bind(&cp.note)
                    .bind(&cp.signed_at)
                    .execute($pool)
                    .await
                    .map(drop)
            };
        }
        match self {
            Self::Postgres(pool) => run!(pool),
            Self::Sqlite(pool) => run!(pool),
        }
        .map_err(db("saving a tree checkpoint"))
    }

    /// The tree checkpoint of this size (the last signed, if several keys signed it), or the
    /// latest for `None`.
    pub async fn tree_checkpoint(
        &self,
        size: Option<u64>,
    ) -> Result<Option<TreeCheckpoint>, StorageError> {
        let (filter, bind) = match size {
            Some(size) => (
                format!("WHERE tree_size = {}", self.placeholders(1)[0]),
                Some(TreeBind::Size(int("tree size", size)?)),
            ),
            None => (String::new(), None),
        };
        let sql = format!(
            "SELECT {TREE_COLUMNS} FROM audit_tree_checkpoints {filter} \
             ORDER BY tree_size DESC, signed_at DESC LIMIT 1"
        );
        Ok(self.select_trees(&sql, bind).await?.into_iter().next())
    }

    /// The latest tree checkpoint signed by `key`.
    pub async fn latest_tree_checkpoint_by(
        &self,
        key: &[u8; 32],
    ) -> Result<Option<TreeCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {TREE_COLUMNS} FROM audit_tree_checkpoints WHERE public_key = {} \
             ORDER BY tree_size DESC LIMIT 1",
            self.placeholders(1)[0]
        );
        Ok(self
            .select_trees(&sql, Some(TreeBind::Key(key)))
            .await?
            .into_iter()
            .next())
    }

    /// The tree checkpoints of trees larger than `size`, smallest first, at most `limit`
    /// (what the log's checkpoint relay publishes next).
    pub async fn tree_checkpoints_after(
        &self,
        size: u64,
        limit: usize,
    ) -> Result<Vec<TreeCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {TREE_COLUMNS} FROM audit_tree_checkpoints WHERE tree_size > {} \
             ORDER BY tree_size, signed_at LIMIT {}",
            self.placeholders(1)[0],
            limit.clamp(1, 10_000)
        );
        self.select_trees(&sql, Some(TreeBind::Size(int("tree size", size)?)))
            .await
    }

    /// Every tree checkpoint, by size.
    pub async fn tree_checkpoints(&self) -> Result<Vec<TreeCheckpoint>, StorageError> {
        let sql = format!(
            "SELECT {TREE_COLUMNS} FROM audit_tree_checkpoints ORDER BY tree_size, signed_at"
        );
        self.select_trees(&sql, None).await
    }

    async fn select_trees(
        &self,
        sql: &str,
        bind: Option<TreeBind<'_>>,
    ) -> Result<Vec<TreeCheckpoint>, StorageError> {
        let sql = sqlx::AssertSqlSafe(sql.to_owned());
        macro_rules! run {
            ($pool:expr) => {{
                let query = sqlx::query(sql);
                let query = match bind {
                    None => query,
                    Some(TreeBind::Size(size)) => query.bind(size),
                    Some(TreeBind::Key(key)) => query.bind(key.as_slice()),
                };
                let rows = query.fetch_all($pool).await.map_err(db("reading"))?;
                rows.iter()
                    .map(|row| {
                        let read = db("decoding a tree checkpoint");
                        let size: i64 = row.try_get(0).map_err(&read)?;
                        let key: Vec<u8> = row.try_get(1).map_err(&read)?;
                        let root: Vec<u8> = row.try_get(2).map_err(&read)?;
                        Ok(TreeCheckpoint {
                            tree_size: uint("tree size", size)?,
                            public_key: fixed("a tree checkpoint's key", &key)?,
                            root: fixed("a tree checkpoint's root", &root)?,
                            note: row.try_get(3).map_err(&read)?,
                            signed_at: row.try_get(4).map_err(&read)?,
                        })
                    })
                    .collect()
            }};
        }
        match self {
            Self::Postgres(pool) => run!(pool),
            Self::Sqlite(pool) => run!(pool),
        }
    }

    /// Keeps a witness's cosignature; of two by the same witness of the same checkpoint, the
    /// later one is kept.
    pub async fn save_cosignature(&self, c: &StoredCosignature) -> Result<(), StorageError> {
        let p = self.placeholders(7).join(", ");
        let later = match self {
            Self::Postgres(_) => "audit_cosignatures.cosigned_at < EXCLUDED.cosigned_at",
            Self::Sqlite(_) => "audit_cosignatures.cosigned_at < excluded.cosigned_at",
        };
        let sql = format!(
            "INSERT INTO audit_cosignatures (tree_size, public_key, witness_name, witness_key, \
             cosigned_at, line, received_at) VALUES ({p}) \
             ON CONFLICT (tree_size, public_key, witness_name, witness_key) DO UPDATE \
             SET cosigned_at = EXCLUDED.cosigned_at, line = EXCLUDED.line, \
             received_at = EXCLUDED.received_at WHERE {later}"
        );
        let size = int("tree size", c.tree_size)?;
        let at = int("cosignature time", c.cosigned_at)?;
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query(sqlx::AssertSqlSafe(sql))
                    .bind(size)
                    .bind(c.public_key.as_slice())
                    .bind(&c.witness_name)
                    .bind(c.witness_key.as_slice())
                    .bind(at)
                    .bind(&c.line)
                    .bind(&c.received_at)
                    .execute($pool)
                    .await
                    .map(drop)
            };
        }
        match self {
            Self::Postgres(pool) => run!(pool),
            Self::Sqlite(pool) => run!(pool),
        }
        .map_err(db("saving a cosignature"))
    }

    /// The cosignature lines of the checkpoint of `size` signed by `key`, by witness name.
    pub async fn cosignatures(
        &self,
        size: u64,
        key: &[u8; 32],
    ) -> Result<Vec<String>, StorageError> {
        let p = self.placeholders(2);
        let sql = format!(
            "SELECT line FROM audit_cosignatures WHERE tree_size = {} AND public_key = {} \
             ORDER BY witness_name, witness_key",
            p[0], p[1]
        );
        let size = int("tree size", size)?;
        macro_rules! run {
            ($pool:expr) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                    .bind(size)
                    .bind(key.as_slice())
                    .fetch_all($pool)
                    .await
            };
        }
        match self {
            Self::Postgres(pool) => run!(pool),
            Self::Sqlite(pool) => run!(pool),
        }
        .map_err(db("reading cosignatures"))
    }
}

#[derive(Debug, Clone, Copy)]
enum TreeBind<'a> {
    Size(i64),
    Key(&'a [u8; 32]),
}

impl TreeCheckpoint {
    /// The note as served: the fund's signature, then the witnesses' lines.
    pub fn with_cosignatures(&self, lines: &[String]) -> String {
        let mut note = self.note.clone();
        for line in lines {
            note.push_str(line);
            if !line.ends_with('\n') {
                note.push('\n');
            }
        }
        note
    }
}
