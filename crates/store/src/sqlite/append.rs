//! One group-commit transaction on SQLite: `BEGIN IMMEDIATE` takes the database's write lock
//! (the sequencer, shared with any other process using the file), then lookups and multi-row
//! inserts, then `COMMIT`.

use std::collections::{HashMap, HashSet};
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::query::Query;
use sqlx::sqlite::{SqliteArguments, SqlitePool, SqliteRow};
use sqlx::{AssertSqlSafe, Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::batch::{self, BatchState, Plan};
use crate::decode;
use crate::error::{StoreError, db_error};
use crate::statements::{CURSOR_FORWARD, REQUEST_COLUMNS, Sql};
use crate::types::{AppendRequest, RequestRecord};
use crate::writer::{BatchOutcome, Committer};

#[derive(Debug)]
pub(super) struct SqliteCommitter {
    pub pool: SqlitePool,
}

#[async_trait]
impl Committer for SqliteCommitter {
    async fn commit(&self, batch: &[AppendRequest]) -> Result<BatchOutcome, StoreError> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(|e| db_error("starting an append", &e))?;
        let state = read_state(&mut tx, batch).await?;
        let plan = batch::plan(state, batch);
        if !plan.writes_anything() {
            tx.rollback()
                .await
                .map_err(|e| db_error("ending an append", &e))?;
            return Ok(BatchOutcome {
                outcomes: plan.outcomes,
                head: None,
            });
        }
        write(&mut tx, &plan).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing an append", &e))?;
        let head = (!plan.rows.is_empty()).then_some(plan.head);
        Ok(BatchOutcome {
            outcomes: plan.outcomes,
            head,
        })
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}

async fn read_state(
    conn: &mut SqliteConnection,
    batch: &[AppendRequest],
) -> Result<BatchState, StoreError> {
    let head = Sqlite::read_head(conn).await?;

    let streams: Vec<&str> = unique(batch.iter().flat_map(AppendRequest::streams_read));
    let mut versions = HashMap::new();
    for row in lookup(
        conn,
        "SELECT stream, version FROM event_streams WHERE stream IN",
        &streams,
    )
    .await?
    {
        let err = |e: sqlx::Error| db_error("decoding a stream", &e);
        let version = decode::unsigned("stream version", row.try_get(1).map_err(err)?)?;
        versions.insert(row.try_get(0).map_err(err)?, version);
    }

    let request_ids: Vec<&str> = unique(
        batch
            .iter()
            .filter_map(|r| r.idempotency.as_ref().map(|i| i.request_id.as_str())),
    );
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id IN");
    let mut requests = HashMap::new();
    for row in lookup(conn, &sql, &request_ids).await? {
        let record = Sqlite::request(&row)?;
        requests.insert(record.request_id.clone(), record);
    }

    let ids: Vec<&[u8]> = batch
        .iter()
        .flat_map(|r| r.events.iter().map(|e| e.event_id.as_bytes().as_slice()))
        .collect();
    let mut event_ids = HashSet::new();
    for row in lookup(conn, "SELECT event_id FROM events WHERE event_id IN", &ids).await? {
        let bytes: Vec<u8> = row
            .try_get(0)
            .map_err(|e| db_error("decoding an event id", &e))?;
        let id =
            Uuid::from_slice(&bytes).map_err(|e| StoreError::Corrupt(format!("event id: {e}")))?;
        event_ids.insert(id);
    }

    let touched: Vec<&str> = unique(batch.iter().flat_map(AppendRequest::claims_touched));
    let mut claims = HashMap::new();
    for row in lookup(
        conn,
        "SELECT claim, stream FROM event_claims WHERE claim IN",
        &touched,
    )
    .await?
    {
        let err = |e: sqlx::Error| db_error("decoding a claim", &e);
        claims.insert(row.try_get(0).map_err(err)?, row.try_get(1).map_err(err)?);
    }

    Ok(BatchState {
        head,
        now_micros: now_micros(),
        streams: versions,
        requests,
        event_ids,
        claims,
    })
}

fn unique<'a>(items: impl Iterator<Item = &'a str>) -> Vec<&'a str> {
    let mut seen = HashSet::new();
    items.filter(|item| seen.insert(*item)).collect()
}

/// Sizes of `IN (…)` lists; a chunk is padded to the next size by repeating its last key, so
/// only a handful of distinct statements are ever prepared.
const LOOKUP_SIZES: [usize; 5] = [1, 4, 16, 64, 256];

async fn lookup<'k, K>(
    conn: &mut SqliteConnection,
    select: &str,
    keys: &[K],
) -> Result<Vec<SqliteRow>, StoreError>
where
    K: sqlx::Encode<'k, Sqlite> + sqlx::Type<Sqlite> + Copy + 'k,
{
    let mut rows = Vec::new();
    for chunk in keys.chunks(LOOKUP_SIZES[LOOKUP_SIZES.len() - 1]) {
        let Some(&last) = chunk.last() else { continue };
        let size = LOOKUP_SIZES
            .iter()
            .copied()
            .find(|&size| size >= chunk.len())
            .unwrap_or(chunk.len());
        let sql = format!("{select} ({})", placeholders(size, 1));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for &key in chunk
            .iter()
            .chain(std::iter::repeat_n(&last, size - chunk.len()))
        {
            query = query.bind(key);
        }
        rows.extend(
            query
                .fetch_all(&mut *conn)
                .await
                .map_err(|e| db_error("reading the store's state", &e))?,
        );
    }
    Ok(rows)
}

/// `?, ?, …` for `rows` rows of `columns` columns: `(?, ?), (?, ?)` when `columns > 1`.
fn placeholders(rows: usize, columns: usize) -> String {
    let one = if columns == 1 {
        "?".to_owned()
    } else {
        format!("({})", vec!["?"; columns].join(", "))
    };
    vec![one; rows].join(", ")
}

/// Rows per multi-row `INSERT`, largest first: a batch is written with at most a few
/// statements of a few distinct shapes.
const INSERT_SIZES: [usize; 4] = [64, 16, 4, 1];

type SqliteQuery<'q> = Query<'q, Sqlite, SqliteArguments>;

async fn insert_rows<T>(
    conn: &mut SqliteConnection,
    head: &str,
    columns: usize,
    tail: &str,
    rows: &[T],
    bind: impl for<'q> Fn(SqliteQuery<'q>, &T) -> SqliteQuery<'q>,
) -> Result<(), StoreError> {
    let mut rest = rows;
    while !rest.is_empty() {
        let size = INSERT_SIZES
            .iter()
            .copied()
            .find(|&size| size <= rest.len())
            .unwrap_or(1);
        let (chunk, remaining) = rest.split_at(size);
        let sql = format!("{head} VALUES {} {tail}", placeholders(size, columns));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for row in chunk {
            query = bind(query, row);
        }
        query
            .execute(&mut *conn)
            .await
            .map_err(|e| db_error("writing events", &e))?;
        rest = remaining;
    }
    Ok(())
}

async fn write(conn: &mut SqliteConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
    insert_rows(
        conn,
        "INSERT INTO events (position, event_id, stream, version, event_type, payload, metadata, \
         recorded_at, prev_hash, hash)",
        10,
        "",
        &plan.rows,
        |q, row| {
            q.bind(row.position as i64)
                .bind(row.event.event_id.as_bytes().as_slice())
                .bind(row.stream)
                .bind(row.version as i64)
                .bind(row.event.event_type.as_str())
                .bind(row.event.payload.as_slice())
                .bind(row.event.metadata.as_slice())
                .bind(row.recorded_at)
                .bind(row.prev_hash.as_slice())
                .bind(row.hash.as_slice())
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT INTO event_streams (stream, version)",
        2,
        "ON CONFLICT (stream) DO UPDATE SET version = excluded.version",
        &plan.streams,
        |q, &(stream, version)| q.bind(stream).bind(version as i64),
    )
    .await?;
    insert_rows(
        conn,
        &format!("INSERT INTO event_requests ({REQUEST_COLUMNS})"),
        8,
        "",
        &plan.requests,
        |q, record: &RequestRecord| {
            let r = &record.result;
            q.bind(record.request_id.as_str())
                .bind(record.fingerprint.as_slice())
                .bind(r.stream.as_str())
                .bind(r.first_version as i64)
                .bind(r.last_version as i64)
                .bind(r.first_position as i64)
                .bind(r.last_position as i64)
                .bind(r.recorded_at)
        },
    )
    .await?;
    insert_rows(
        conn,
        "INSERT INTO consumer_cursors (consumer, position)",
        2,
        CURSOR_FORWARD,
        &plan.cursors,
        |q, &(consumer, position)| q.bind(consumer).bind(position as i64),
    )
    .await?;
    write_claims(conn, &plan.claims).await
}

async fn write_claims(
    conn: &mut SqliteConnection,
    changes: &[(&str, Option<(&str, u64)>)],
) -> Result<(), StoreError> {
    let mut taken = Vec::new();
    for &(claim, holder) in changes {
        match holder {
            // Given back rarely (a reversal), so one statement each.
            None => {
                sqlx::query("DELETE FROM event_claims WHERE claim = ?")
                    .bind(claim)
                    .execute(&mut *conn)
                    .await
                    .map_err(|e| db_error("writing claims", &e))?;
            }
            Some((stream, position)) => taken.push((claim, stream, position)),
        }
    }
    insert_rows(
        conn,
        "INSERT INTO event_claims (claim, stream, position)",
        3,
        "ON CONFLICT (claim) DO UPDATE SET stream = excluded.stream, position = excluded.position",
        &taken,
        |q, &(claim, stream, position)| q.bind(claim).bind(stream).bind(position as i64),
    )
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn placeholder_lists() {
        assert_eq!(super::placeholders(3, 1), "?, ?, ?");
        assert_eq!(super::placeholders(2, 2), "(?, ?), (?, ?)");
    }
}
