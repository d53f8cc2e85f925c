//! Views on PostgreSQL: documents as `jsonb`, upserts of whole arrays through `UNNEST`.

use fundtrail_store::StoreError;
use fundtrail_store::postgres::save_cursor_in;
use sqlx::{AssertSqlSafe, PgConnection, Postgres};

use super::sql::Dialect;
use super::{PersistError, db_error};
use crate::doc::Doc;

/// Rows per upsert statement, to keep each statement's arrays to a few megabytes.
const CHUNK: usize = 5000;

impl Dialect for Postgres {
    const CREATE_VIEWS_TABLE: &'static str = "CREATE TABLE IF NOT EXISTS projection_views (\
        view text PRIMARY KEY, generation bigint NOT NULL, position bigint NOT NULL, \
        recorded_at bigint NOT NULL, reporting_currency text NOT NULL)";

    const BEGIN_CREATING: &'static str = "BEGIN";
    const AFTER_BEGIN_CREATING: &'static str =
        "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.projection_views'))";

    const BEGIN_SNAPSHOT: &'static str = "BEGIN";
    const AFTER_BEGIN_SNAPSHOT: &'static str =
        "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY";

    const DOC_AS_TEXT: &'static str = "doc::text";

    fn create_table(name: &str) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {name} (\
                 kind text NOT NULL, key text NOT NULL, doc jsonb NOT NULL, \
                 CONSTRAINT {name}_pkey PRIMARY KEY (kind, key))"
        )
    }

    /// The primary key is renamed too, so the next rebuild's table can take the `_next` name.
    fn rename(live: &str, next: &str) -> Vec<String> {
        vec![
            format!("ALTER TABLE {next} RENAME TO {live}"),
            format!("ALTER TABLE {live} RENAME CONSTRAINT {next}_pkey TO {live}_pkey"),
        ]
    }

    async fn upsert(
        conn: &mut PgConnection,
        table: &str,
        docs: &[Doc],
    ) -> Result<(), PersistError> {
        let sql = format!(
            "INSERT INTO {table} (kind, key, doc) \
             SELECT kind, key, doc::jsonb FROM UNNEST($1::text[], $2::text[], $3::text[]) \
                 AS d(kind, key, doc) \
             ON CONFLICT (kind, key) DO UPDATE SET doc = EXCLUDED.doc"
        );
        for chunk in docs.chunks(CHUNK) {
            let kinds: Vec<&str> = chunk.iter().map(|d| d.kind).collect();
            let keys: Vec<&str> = chunk.iter().map(|d| d.key.as_str()).collect();
            let jsons: Vec<&str> = chunk.iter().map(|d| d.json.as_str()).collect();
            sqlx::query(AssertSqlSafe(sql.clone()))
                .bind(kinds)
                .bind(keys)
                .bind(jsons)
                .execute(&mut *conn)
                .await
                .map_err(|e| db_error("writing view documents", &e))?;
        }
        Ok(())
    }

    async fn save_cursor(
        conn: &mut PgConnection,
        consumer: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        save_cursor_in(conn, consumer, position).await
    }
}
