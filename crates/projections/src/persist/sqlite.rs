//! Views on SQLite: documents as text, multi-row upserts in chunks.

use fundtrail_store::StoreError;
use fundtrail_store::sqlite::save_cursor_in;
use sqlx::{AssertSqlSafe, Sqlite, SqliteConnection};

use super::sql::Dialect;
use super::{PersistError, db_error};
use crate::doc::Doc;

/// Rows per upsert statement: 3 parameters each, well under SQLite's limit of 32766, and a
/// fixed size so the statement is prepared once per connection.
const CHUNK: usize = 500;

impl Dialect for Sqlite {
    const CREATE_VIEWS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS projection_views (\
        view TEXT PRIMARY KEY, generation INTEGER NOT NULL, position INTEGER NOT NULL, \
        recorded_at INTEGER NOT NULL, reporting_currency TEXT NOT NULL) WITHOUT ROWID";

    /// The database's write lock, taken at once rather than when the first table is created:
    /// a transaction that read first could not take it later if another one wrote meanwhile.
    const BEGIN_CREATING: &'static str = "BEGIN IMMEDIATE";

    /// A SQLite transaction reads from one snapshot from its first read on.
    const BEGIN_SNAPSHOT: &'static str = "BEGIN";

    const AFTER_BEGIN_CREATING: &'static str = "";
    const AFTER_BEGIN_SNAPSHOT: &'static str = "";

    const DOC_AS_TEXT: &'static str = "doc";

    fn create_table(name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (\
                 kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, \
                 PRIMARY KEY (kind, key)) WITHOUT ROWID"
        )
    }

    fn rename(live: &str, next: &str) -> Vec<String> {
        vec![format!("ALTER TABLE {next} RENAME TO {live}")]
    }

    async fn upsert(
        conn: &mut SqliteConnection,
        table: &str,
        docs: &[Doc],
    ) -> Result<(), PersistError> {
        for chunk in docs.chunks(CHUNK) {
            let mut sql = format!("INSERT INTO {table} (kind, key, doc) VALUES ");
            for i in 0..chunk.len() {
                sql.push_str(if i == 0 { "(?, ?, ?)" } else { ", (?, ?, ?)" });
            }
            sql.push_str(" ON CONFLICT (kind, key) DO UPDATE SET doc = excluded.doc");
            let mut query = sqlx::query(AssertSqlSafe(sql));
            for doc in chunk {
                query = query.bind(doc.kind).bind(&doc.key).bind(&doc.json);
            }
            query
                .execute(&mut *conn)
                .await
                .map_err(|e| db_error("writing view documents", &e))?;
        }
        Ok(())
    }

    async fn save_cursor(
        conn: &mut SqliteConnection,
        consumer: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        save_cursor_in(conn, consumer, position).await
    }
}
