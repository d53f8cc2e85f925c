//! Views on PostgreSQL: documents as `jsonb`, upserts of whole arrays through `UNNEST`.

use fundtrail_domain::Currency;
use fundtrail_store::postgres::save_checkpoint_in;
use sqlx::{AssertSqlSafe, PgConnection, PgPool, Row};

use super::StoredEvent;
use super::{
    BeforeCommit, Meta, PersistError, Swap, ViewChanges, consumer, db_error, from_db, next_table,
    table, to_db,
};
use crate::doc::{Doc, Mark, StoredDoc};

/// Rows per upsert statement, to keep each statement's arrays to a few megabytes.
const CHUNK: usize = 5000;

fn create_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (\
             kind text NOT NULL, key text NOT NULL, doc jsonb NOT NULL, \
             CONSTRAINT {name}_pkey PRIMARY KEY (kind, key))"
    )
}

pub(super) async fn prepare(pool: &PgPool, views: &[&'static str]) -> Result<(), PersistError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| db_error("preparing views", &e))?;
    // Concurrent first starts (a server and a rebuild) may race to create the same tables;
    // the lock makes the second one find them.
    let mut tx = sqlx::Connection::begin(&mut *conn)
        .await
        .map_err(|e| db_error("preparing views", &e))?;
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext(current_schema() || '.projection_views'))")
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("preparing views", &e))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_views (\
             view text PRIMARY KEY, generation bigint NOT NULL, position bigint NOT NULL, \
             recorded_at bigint NOT NULL, reporting_currency text NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(|e| db_error("creating projection_views", &e))?;
    for view in views {
        sqlx::query(AssertSqlSafe(create_table(&table(view))))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("creating a view table", &e))?;
    }
    tx.commit()
        .await
        .map_err(|e| db_error("preparing views", &e))
}

pub(super) async fn meta(
    pool: &PgPool,
    view: &'static str,
    currency: Currency,
) -> Result<Meta, PersistError> {
    sqlx::query(
        "INSERT INTO projection_views (view, generation, position, recorded_at, reporting_currency) \
         VALUES ($1, 0, 0, 0, $2) ON CONFLICT (view) DO NOTHING",
    )
    .bind(view)
    .bind(currency.code())
    .execute(pool)
    .await
    .map_err(|e| db_error("registering a view", &e))?;
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| db_error("reading a view", &e))?;
    read_meta(&mut conn, view, false).await
}

async fn read_meta(conn: &mut PgConnection, view: &str, lock: bool) -> Result<Meta, PersistError> {
    let sql = if lock {
        "SELECT generation, position, recorded_at, reporting_currency \
         FROM projection_views WHERE view = $1 FOR UPDATE"
    } else {
        "SELECT generation, position, recorded_at, reporting_currency \
         FROM projection_views WHERE view = $1"
    };
    let row = sqlx::query(sql)
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

pub(super) async fn read(
    pool: &PgPool,
    view: &'static str,
) -> Result<(Meta, Vec<StoredDoc>), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("reading a view", &e))?;
    // One snapshot for the position and the documents.
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("reading a view", &e))?;
    let meta = read_meta(&mut tx, view, false).await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT kind, key, doc::text FROM {}",
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

pub(super) async fn reset(
    pool: &PgPool,
    view: &'static str,
    currency: Currency,
) -> Result<(), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("resetting a view", &e))?;
    sqlx::query(
        "UPDATE projection_views SET generation = generation + 1, position = 0, recorded_at = 0, \
         reporting_currency = $1 WHERE view = $2",
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

async fn upsert(conn: &mut PgConnection, table: &str, docs: &[Doc]) -> Result<(), PersistError> {
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

pub(super) async fn commit(
    pool: &PgPool,
    changes: &[ViewChanges],
    before_commit: Option<BeforeCommit<'_>>,
) -> Result<(), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("writing views", &e))?;
    for change in changes {
        // First: it locks the view's row, and a rebuild's swap shows up here.
        let updated = sqlx::query(
            "UPDATE projection_views SET position = $1, recorded_at = $2 \
             WHERE view = $3 AND generation = $4",
        )
        .bind(to_db("position", change.mark.position)?)
        .bind(change.mark.recorded_at)
        .bind(change.view)
        .bind(change.generation)
        .execute(&mut *tx)
        .await
        .map_err(|e| db_error("writing a view's position", &e))?;
        if updated.rows_affected() != 1 {
            return Err(PersistError::Superseded(change.view));
        }
        upsert(&mut tx, &table(change.view), &change.docs).await?;
        save_checkpoint_in(&mut tx, &consumer(change.view), change.mark.position).await?;
    }
    if let Some(failpoint) = before_commit {
        failpoint()?;
    }
    tx.commit()
        .await
        .map_err(|e| db_error("committing views", &e))
}

pub(super) async fn create_next(pool: &PgPool, view: &'static str) -> Result<(), PersistError> {
    let name = next_table(view);
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| db_error("starting a rebuild", &e))?;
    for sql in [format!("DROP TABLE IF EXISTS {name}"), create_table(&name)] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error("starting a rebuild", &e))?;
    }
    Ok(())
}

pub(super) async fn write_next(
    pool: &PgPool,
    view: &'static str,
    docs: &[Doc],
) -> Result<(), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("writing a rebuild", &e))?;
    upsert(&mut tx, &next_table(view), docs).await?;
    tx.commit()
        .await
        .map_err(|e| db_error("writing a rebuild", &e))
}

pub(super) async fn swap(
    pool: &PgPool,
    view: &'static str,
    mark: Mark,
    currency: Currency,
) -> Result<Swap, PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("swapping a rebuild in", &e))?;
    sqlx::query(
        "INSERT INTO projection_views (view, generation, position, recorded_at, reporting_currency) \
         VALUES ($1, 0, 0, 0, $2) ON CONFLICT (view) DO NOTHING",
    )
    .bind(view)
    .bind(currency.code())
    .execute(&mut *tx)
    .await
    .map_err(|e| db_error("swapping a rebuild in", &e))?;
    let live = read_meta(&mut tx, view, true).await?;
    if live.mark.position > mark.position {
        return Ok(Swap::Behind {
            position: live.mark.position,
        });
    }
    let (live_table, next) = (table(view), next_table(view));
    for sql in [
        format!("DROP TABLE IF EXISTS {live_table}"),
        format!("ALTER TABLE {next} RENAME TO {live_table}"),
        format!("ALTER TABLE {live_table} RENAME CONSTRAINT {next}_pkey TO {live_table}_pkey"),
    ] {
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
    save_checkpoint_in(&mut tx, &consumer(view), mark.position).await?;
    tx.commit()
        .await
        .map_err(|e| db_error("swapping a rebuild in", &e))?;
    Ok(Swap::Swapped { generation })
}

pub(super) async fn drop_next(pool: &PgPool, view: &'static str) -> Result<(), PersistError> {
    sqlx::query(AssertSqlSafe(format!(
        "DROP TABLE IF EXISTS {}",
        next_table(view)
    )))
    .execute(pool)
    .await
    .map_err(|e| db_error("dropping a rebuild", &e))?;
    Ok(())
}

pub(super) async fn read_events(
    pool: &PgPool,
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
