//! Views on SQLite: documents as text, multi-row upserts in chunks.

use fundtrail_domain::Currency;
use fundtrail_store::sqlite::save_checkpoint_in;
use sqlx::{AssertSqlSafe, Row, SqliteConnection, SqlitePool};

use super::StoredEvent;
use super::{
    BeforeCommit, Meta, PersistError, Swap, ViewChanges, consumer, db_error, from_db, next_table,
    table, to_db,
};
use crate::doc::{Doc, Mark, StoredDoc};

/// Rows per upsert statement: 3 parameters each, well under SQLite's limit of 32766, and a
/// fixed size so the statement is prepared once per connection.
const CHUNK: usize = 500;

fn create_table(name: &str) -> String {
    format!(
        "CREATE TABLE IF NOT EXISTS {name} (\
             kind TEXT NOT NULL, key TEXT NOT NULL, doc TEXT NOT NULL, \
             PRIMARY KEY (kind, key)) WITHOUT ROWID"
    )
}

pub(super) async fn prepare(pool: &SqlitePool, views: &[&'static str]) -> Result<(), PersistError> {
    let mut conn = pool
        .acquire()
        .await
        .map_err(|e| db_error("preparing views", &e))?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS projection_views (\
             view TEXT PRIMARY KEY, generation INTEGER NOT NULL, position INTEGER NOT NULL, \
             recorded_at INTEGER NOT NULL, reporting_currency TEXT NOT NULL) WITHOUT ROWID",
    )
    .execute(&mut *conn)
    .await
    .map_err(|e| db_error("creating projection_views", &e))?;
    for view in views {
        sqlx::query(AssertSqlSafe(create_table(&table(view))))
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error("creating a view table", &e))?;
    }
    Ok(())
}

pub(super) async fn meta(
    pool: &SqlitePool,
    view: &'static str,
    currency: Currency,
) -> Result<Meta, PersistError> {
    sqlx::query(
        "INSERT INTO projection_views (view, generation, position, recorded_at, reporting_currency) \
         VALUES (?, 0, 0, 0, ?) ON CONFLICT (view) DO NOTHING",
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
    read_meta(&mut conn, view).await
}

async fn read_meta(conn: &mut SqliteConnection, view: &str) -> Result<Meta, PersistError> {
    let row = sqlx::query(
        "SELECT generation, position, recorded_at, reporting_currency \
         FROM projection_views WHERE view = ?",
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

pub(super) async fn read(
    pool: &SqlitePool,
    view: &'static str,
) -> Result<(Meta, Vec<StoredDoc>), PersistError> {
    // One read transaction: the position and the documents come from the same snapshot.
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("reading a view", &e))?;
    let meta = read_meta(&mut tx, view).await?;
    let rows = sqlx::query(AssertSqlSafe(format!(
        "SELECT kind, key, doc FROM {}",
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
    pool: &SqlitePool,
    view: &'static str,
    currency: Currency,
) -> Result<(), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("resetting a view", &e))?;
    sqlx::query(
        "UPDATE projection_views SET generation = generation + 1, position = 0, recorded_at = 0, \
         reporting_currency = ? WHERE view = ?",
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

pub(super) async fn commit(
    pool: &SqlitePool,
    changes: &[ViewChanges],
    before_commit: Option<BeforeCommit<'_>>,
) -> Result<(), PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("writing views", &e))?;
    for change in changes {
        // Written first: it takes the write lock, and a rebuild's swap shows up here.
        let updated = sqlx::query(
            "UPDATE projection_views SET position = ?, recorded_at = ? \
             WHERE view = ? AND generation = ?",
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

pub(super) async fn create_next(pool: &SqlitePool, view: &'static str) -> Result<(), PersistError> {
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
    pool: &SqlitePool,
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
    pool: &SqlitePool,
    view: &'static str,
    mark: Mark,
    currency: Currency,
) -> Result<Swap, PersistError> {
    let mut tx = pool
        .begin()
        .await
        .map_err(|e| db_error("swapping a rebuild in", &e))?;
    // A write first, so the transaction holds the write lock before it reads the position.
    sqlx::query(
        "INSERT INTO projection_views (view, generation, position, recorded_at, reporting_currency) \
         VALUES (?, 0, 0, 0, ?) ON CONFLICT (view) DO UPDATE SET generation = generation",
    )
    .bind(view)
    .bind(currency.code())
    .execute(&mut *tx)
    .await
    .map_err(|e| db_error("swapping a rebuild in", &e))?;
    let live = read_meta(&mut tx, view).await?;
    if live.mark.position > mark.position {
        return Ok(Swap::Behind {
            position: live.mark.position,
        });
    }
    for sql in [
        format!("DROP TABLE IF EXISTS {}", table(view)),
        format!("ALTER TABLE {} RENAME TO {}", next_table(view), table(view)),
    ] {
        sqlx::query(AssertSqlSafe(sql))
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("swapping a rebuild in", &e))?;
    }
    let generation = live.generation.saturating_add(1);
    sqlx::query(
        "UPDATE projection_views SET generation = ?, position = ?, recorded_at = ?, \
         reporting_currency = ? WHERE view = ?",
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

pub(super) async fn drop_next(pool: &SqlitePool, view: &'static str) -> Result<(), PersistError> {
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
    pool: &SqlitePool,
    from: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, PersistError> {
    let rows: Vec<(i64, i64, String, Vec<u8>)> = sqlx::query_as(
        "SELECT position, recorded_at, event_type, payload FROM events \
         WHERE position >= ? ORDER BY position LIMIT ?",
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
