//! One group-commit transaction on PostgreSQL, in three round trips on the writer's own
//! connection (not borrowed from the pool, which would cost a health-check round trip per
//! batch):
//!
//! 1. `BEGIN; SELECT pg_advisory_xact_lock(key); EXECUTE fundtrail_store_state(…)` in one
//!    simple-protocol message: the sequencer, then the head, the batch's stream versions,
//!    known request ids and known event ids, read after the lock is held (each statement of
//!    the message takes its own snapshot);
//! 2. one statement inserting every row (events, streams, requests, checkpoints) from `UNNEST`
//!    arrays and queueing the NOTIFY;
//! 3. `COMMIT`, which also releases the lock.
//!
//! The state query is a server-side prepared statement so that it keeps a cached plan even
//! though its arguments travel as literals; every literal is either validated (stream names,
//! UUIDs, integers) or hex-encoded (request ids), so nothing a caller sends is spliced as SQL.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, Connection, Row};
use tokio::sync::Mutex;
use uuid::Uuid;

use super::{REQUEST_COLUMNS, request_from_row};
use crate::batch::{self, BatchState, Plan};
use crate::error::{StoreError, db_error};
use crate::types::{AppendRequest, Head, RequestRecord};
use crate::writer::{BatchOutcome, Committer};

#[derive(Debug)]
pub(super) struct PgCommitter {
    connect: PgConnectOptions,
    /// Only the writer task uses it; `None` until the first batch and after any database
    /// error, so a connection in an unknown state is never reused.
    conn: Mutex<Option<PgConnection>>,
    begin: String,
    channel: String,
}

impl PgCommitter {
    pub fn new(connect: PgConnectOptions, lock_key: i64, channel: String) -> Self {
        Self {
            connect,
            conn: Mutex::new(None),
            // The lock key is our own integer, so splicing it is safe. Sequential scans are
            // ruled out because PostgreSQL caches a generic plan of a prepared statement after
            // a few runs: planned while the tables were small, a seq-scan plan would stay in
            // use long after they have grown (re-planning every time instead costs more than
            // the lookups themselves). A writer that stalls inside its transaction (a paused
            // process) is cut off so it cannot hold every other writer behind the lock.
            begin: format!(
                "BEGIN; SET LOCAL enable_seqscan = off; \
                 SET LOCAL idle_in_transaction_session_timeout = '30s'; \
                 SELECT pg_advisory_xact_lock({lock_key}); "
            ),
            channel,
        }
    }
}

/// Prepared once per writer connection. One text value, `|`-separated: the head
/// (`position,hash-hex,recorded_at`, empty when there is none), the clock in microseconds,
/// `stream=version` pairs, hex-encoded known request ids, known event ids. None of the
/// separators can occur in stream names, hex or UUIDs.
const PREPARE_STATE: &str = "\
PREPARE fundtrail_store_state(text[], text[], uuid[]) AS
SELECT concat_ws('|',
    coalesce((SELECT position::text || ',' || encode(hash, 'hex') || ',' || recorded_at::text
              FROM events ORDER BY position DESC LIMIT 1), ''),
    ((EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8)::text,
    coalesce((SELECT string_agg(stream || '=' || version::text, ',')
              FROM event_streams WHERE stream = ANY($1)), ''),
    coalesce((SELECT string_agg(encode(convert_to(request_id, 'UTF8'), 'hex'), ',')
              FROM event_requests WHERE request_id = ANY($2)), ''),
    coalesce((SELECT string_agg(event_id::text, ',')
              FROM events WHERE event_id = ANY($3)), ''))";

const WRITE_SQL: &str = "\
WITH ev AS (
    INSERT INTO events (position, event_id, stream, version, event_type, payload, metadata,
                        recorded_at, prev_hash, hash)
    SELECT * FROM UNNEST($1::int8[], $2::uuid[], $3::text[], $4::int8[], $5::text[],
                         $6::bytea[], $7::bytea[], $8::int8[], $9::bytea[], $10::bytea[])
), st AS (
    INSERT INTO event_streams (stream, version)
    SELECT * FROM UNNEST($11::text[], $12::int8[])
    ON CONFLICT (stream) DO UPDATE SET version = EXCLUDED.version
), rq AS (
    INSERT INTO event_requests (request_id, fingerprint, stream, first_version, last_version,
                                first_position, last_position, recorded_at)
    SELECT * FROM UNNEST($13::text[], $14::bytea[], $15::text[], $16::int8[], $17::int8[],
                         $18::int8[], $19::int8[], $20::int8[])
), cp AS (
    INSERT INTO consumer_checkpoints (consumer, position)
    SELECT * FROM UNNEST($21::text[], $22::int8[])
    ON CONFLICT (consumer) DO UPDATE
    SET position = GREATEST(consumer_checkpoints.position, EXCLUDED.position)
)
SELECT pg_notify($23, $24) WHERE cardinality($1::int8[]) > 0";

#[async_trait]
impl Committer for PgCommitter {
    async fn commit(&self, batch: &[AppendRequest]) -> Result<BatchOutcome, StoreError> {
        let mut slot = self.conn.lock().await;
        if slot.is_none() {
            let mut conn = PgConnection::connect_with(&self.connect)
                .await
                .map_err(|e| db_error("connecting the writer", &e))?;
            sqlx::raw_sql(PREPARE_STATE)
                .execute(&mut conn)
                .await
                .map_err(|e| db_error("preparing the writer", &e))?;
            *slot = Some(conn);
        }
        let Some(conn) = slot.as_mut() else {
            return Err(StoreError::Unavailable(
                "the writer has no connection".into(),
            ));
        };
        let outcome = self.run(conn, batch).await;
        if outcome.is_err() {
            // Dropping the connection rolls back whatever it was doing.
            *slot = None;
        }
        outcome
    }
}

impl PgCommitter {
    /// Runs the transaction with plain statements rather than sqlx's transaction guard: the
    /// first message must carry `BEGIN` and the state query together. On any error the
    /// caller drops the connection, which rolls the transaction back.
    async fn run(
        &self,
        conn: &mut PgConnection,
        batch: &[AppendRequest],
    ) -> Result<BatchOutcome, StoreError> {
        let state = self.begin_and_read_state(conn, batch).await?;
        let plan = batch::plan(state, batch);
        if !plan.writes_anything() {
            end(conn, "ROLLBACK").await?;
            return Ok(BatchOutcome {
                outcomes: plan.outcomes,
                head: None,
            });
        }
        self.write(conn, &plan).await?;
        end(conn, "COMMIT").await?;
        let head = (!plan.rows.is_empty()).then_some(plan.head);
        Ok(BatchOutcome {
            outcomes: plan.outcomes,
            head,
        })
    }

    async fn begin_and_read_state(
        &self,
        conn: &mut PgConnection,
        batch: &[AppendRequest],
    ) -> Result<BatchState, StoreError> {
        let mut sql = self.begin.clone();
        sql.push_str("EXECUTE fundtrail_store_state(");
        // Stream names were validated before they reached the writer: `[a-z]+-[A-Za-z0-9._:-]+`.
        let streams: HashSet<&str> = batch.iter().map(|r| r.stream.as_str()).collect();
        literal_array(&mut sql, streams, "text", |sql, stream| {
            let _ = write!(sql, "'{stream}'");
        });
        sql.push_str(", ");
        let request_ids: HashSet<&str> = batch
            .iter()
            .filter_map(|r| r.idempotency.as_ref().map(|i| i.request_id.as_str()))
            .collect();
        literal_array(&mut sql, request_ids, "text", |sql, id| {
            let _ = write!(
                sql,
                "convert_from(decode('{}', 'hex'), 'UTF8')",
                hex::encode(id)
            );
        });
        sql.push_str(", ");
        let event_ids = batch
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.event_id));
        literal_array(&mut sql, event_ids, "uuid", |sql, id| {
            let _ = write!(sql, "'{id}'");
        });
        sql.push(')');

        let rows = sqlx::raw_sql(AssertSqlSafe(sql))
            .fetch_all(&mut *conn)
            .await
            .map_err(|e| db_error("reading the store's state", &e))?;
        let text: String = rows
            .last()
            .ok_or_else(|| StoreError::Corrupt("the state query returned nothing".into()))?
            .try_get(0)
            .map_err(decode_err)?;
        let (mut state, known_requests) = parse_state(&text)?;
        if !known_requests.is_empty() {
            state.requests = load_requests(conn, &known_requests).await?;
        }
        Ok(state)
    }

    async fn write(&self, tx: &mut PgConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
        let n = plan.rows.len();
        let mut positions = Vec::with_capacity(n);
        let mut ids = Vec::with_capacity(n);
        let mut streams = Vec::with_capacity(n);
        let mut versions = Vec::with_capacity(n);
        let mut types = Vec::with_capacity(n);
        let mut payloads = Vec::with_capacity(n);
        let mut metadata = Vec::with_capacity(n);
        let mut recorded = Vec::with_capacity(n);
        let mut prev_hashes = Vec::with_capacity(n);
        let mut hashes = Vec::with_capacity(n);
        for row in &plan.rows {
            positions.push(row.position as i64);
            ids.push(row.event.event_id);
            streams.push(row.stream);
            versions.push(row.version as i64);
            types.push(row.event.event_type.as_str());
            payloads.push(row.event.payload.as_slice());
            metadata.push(row.event.metadata.as_slice());
            recorded.push(row.recorded_at);
            prev_hashes.push(&row.prev_hash[..]);
            hashes.push(&row.hash[..]);
        }
        let (stream_names, stream_versions): (Vec<&str>, Vec<i64>) =
            plan.streams.iter().map(|&(s, v)| (s, v as i64)).unzip();
        let requests = RequestColumns::from(&plan.requests[..]);
        let (consumers, checkpoints): (Vec<&str>, Vec<i64>) =
            plan.checkpoints.iter().map(|&(c, p)| (c, p as i64)).unzip();

        sqlx::query(WRITE_SQL)
            .bind(positions)
            .bind(ids)
            .bind(streams)
            .bind(versions)
            .bind(types)
            .bind(payloads)
            .bind(metadata)
            .bind(recorded)
            .bind(prev_hashes)
            .bind(hashes)
            .bind(stream_names)
            .bind(stream_versions)
            .bind(requests.ids)
            .bind(requests.fingerprints)
            .bind(requests.streams)
            .bind(requests.first_versions)
            .bind(requests.last_versions)
            .bind(requests.first_positions)
            .bind(requests.last_positions)
            .bind(requests.recorded_at)
            .bind(consumers)
            .bind(checkpoints)
            .bind(&self.channel)
            .bind(plan.head.position.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("writing events", &e))?;
        Ok(())
    }
}

#[derive(Default)]
struct RequestColumns<'a> {
    ids: Vec<&'a str>,
    fingerprints: Vec<&'a [u8]>,
    streams: Vec<&'a str>,
    first_versions: Vec<i64>,
    last_versions: Vec<i64>,
    first_positions: Vec<i64>,
    last_positions: Vec<i64>,
    recorded_at: Vec<i64>,
}

impl<'a> From<&'a [RequestRecord]> for RequestColumns<'a> {
    fn from(records: &'a [RequestRecord]) -> Self {
        let mut columns = Self::default();
        for record in records {
            let result = &record.result;
            columns.ids.push(&record.request_id);
            columns.fingerprints.push(&record.fingerprint);
            columns.streams.push(&result.stream);
            columns.first_versions.push(result.first_version as i64);
            columns.last_versions.push(result.last_version as i64);
            columns.first_positions.push(result.first_position as i64);
            columns.last_positions.push(result.last_position as i64);
            columns.recorded_at.push(result.recorded_at);
        }
        columns
    }
}

#[allow(clippy::needless_pass_by_value)] // used as a `map_err` argument
fn decode_err(e: sqlx::Error) -> StoreError {
    db_error("decoding the store's state", &e)
}

/// Known request ids are rare (retries), so their full rows are fetched only when present.
async fn load_requests(
    tx: &mut PgConnection,
    ids: &[String],
) -> Result<HashMap<String, RequestRecord>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id = ANY($1)");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(tx)
        .await
        .map_err(|e| db_error("reading stored requests", &e))?;
    rows.iter()
        .map(|row| request_from_row(row).map(|r| (r.request_id.clone(), r)))
        .collect()
}

async fn end(conn: &mut PgConnection, statement: &'static str) -> Result<(), StoreError> {
    sqlx::raw_sql(statement)
        .execute(conn)
        .await
        .map_err(|e| db_error("ending an append", &e))?;
    Ok(())
}

/// `ARRAY[…]::type[]` from items rendered by `render`.
fn literal_array<T>(
    sql: &mut String,
    items: impl IntoIterator<Item = T>,
    element_type: &str,
    render: impl Fn(&mut String, T),
) {
    sql.push_str("ARRAY[");
    for (i, item) in items.into_iter().enumerate() {
        if i > 0 {
            sql.push(',');
        }
        render(sql, item);
    }
    let _ = write!(sql, "]::{element_type}[]");
}

/// The state, and the request ids already stored (their rows are loaded separately, since
/// retries are rare).
fn parse_state(text: &str) -> Result<(BatchState, Vec<String>), StoreError> {
    let bad = |what: &str| StoreError::Corrupt(format!("unreadable store state ({what}): {text}"));
    let fields: Vec<&str> = text.split('|').collect();
    let [head, now, streams, requests, event_ids] = fields[..] else {
        return Err(bad("field count"));
    };
    let head = if head.is_empty() {
        Head::EMPTY
    } else {
        let mut parts = head.split(',');
        let (Some(position), Some(hash), Some(recorded_at), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("head"));
        };
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hash, &mut bytes).map_err(|_| bad("head hash"))?;
        Head {
            position: position.parse().map_err(|_| bad("head position"))?,
            hash: bytes,
            recorded_at: recorded_at.parse().map_err(|_| bad("head time"))?,
        }
    };
    let streams = items(streams)
        .map(|pair| {
            let (name, version) = pair.split_once('=').ok_or_else(|| bad("stream"))?;
            let version = version.parse().map_err(|_| bad("stream version"))?;
            Ok((name.to_owned(), version))
        })
        .collect::<Result<_, StoreError>>()?;
    let known_requests = items(requests)
        .map(|id| {
            let bytes = hex::decode(id).map_err(|_| bad("request id"))?;
            String::from_utf8(bytes).map_err(|_| bad("request id"))
        })
        .collect::<Result<_, StoreError>>()?;
    let event_ids = items(event_ids)
        .map(|id| Uuid::parse_str(id).map_err(|_| bad("event id")))
        .collect::<Result<_, StoreError>>()?;
    let state = BatchState {
        head,
        now_micros: now.parse().map_err(|_| bad("clock"))?,
        streams,
        requests: HashMap::new(),
        event_ids,
    };
    Ok((state, known_requests))
}

fn items(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').filter(|item| !item.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_text_round_trip() {
        let hash = [0xab; 32];
        let text = format!(
            "7,{},123|456|a-1=3,b-x.y=0|{}|{}",
            hex::encode(hash),
            hex::encode("req-é"),
            Uuid::nil()
        );
        let (state, known) = parse_state(&text).unwrap();
        assert_eq!(known, vec!["req-é".to_owned()]);
        assert_eq!(state.head.position, 7);
        assert_eq!(state.head.hash, hash);
        assert_eq!(state.head.recorded_at, 123);
        assert_eq!(state.now_micros, 456);
        assert_eq!(state.streams.get("b-x.y"), Some(&0));
        assert!(state.event_ids.contains(&Uuid::nil()));

        let (empty, known) = parse_state("|9|||").unwrap();
        assert_eq!(empty.head, Head::EMPTY);
        assert!(empty.streams.is_empty() && known.is_empty());
        assert!(parse_state("1|2").is_err());
    }

    #[test]
    fn literals_quote_nothing_a_caller_controls() {
        let mut sql = String::new();
        literal_array(
            &mut sql,
            ["x'); DROP TABLE events; --"],
            "text",
            |sql, id| {
                let _ = write!(
                    sql,
                    "convert_from(decode('{}', 'hex'), 'UTF8')",
                    hex::encode(id)
                );
            },
        );
        assert!(!sql.contains("DROP"));
        assert!(sql.starts_with("ARRAY[convert_from(decode('78"));
    }
}
