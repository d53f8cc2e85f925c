//! One group-commit transaction on PostgreSQL, in four round trips on the writer's own
//! connection (not borrowed from the pool, which would cost a health-check round trip per
//! batch):
//!
//! 1. `BEGIN; SELECT pg_advisory_xact_lock(key)` (one simple-protocol message) — the sequencer;
//! 2. one query reading the head, the batch's stream versions, request ids and event ids;
//! 3. one statement inserting every row (events, streams, requests, cursors) from `UNNEST`
//!    arrays and queueing the NOTIFY;
//! 4. `COMMIT`, which also releases the lock.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgRow};
use sqlx::{AssertSqlSafe, Connection, Postgres, Row};
use tokio::sync::Mutex;
use uuid::Uuid;

use crate::batch::{self, BatchState, Plan};
use crate::decode;
use crate::error::{StoreError, db_error};
use crate::statements::{CURSOR_FORWARD, REQUEST_COLUMNS, Sql};
use crate::types::{AppendRequest, Head, RequestRecord};
use crate::writer::{BatchOutcome, Committer};

#[derive(Debug)]
pub(super) struct PgCommitter {
    connect: PgConnectOptions,
    /// Only the writer task uses it; `None` until the first batch and after any database
    /// error, so a connection in an unknown state is never reused.
    conn: Mutex<Option<PgConnection>>,
    begin: String,
    state_sql: String,
    write_sql: String,
    channel: String,
}

impl PgCommitter {
    pub fn new(connect: PgConnectOptions, lock_key: i64, channel: String) -> Self {
        let state_sql = String::from(
            "SELECT h.position, h.hash, h.recorded_at, \
                    (EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::int8, \
                    s.names, s.versions, r.requests, e.ids \
             FROM (SELECT 1) AS one \
             LEFT JOIN LATERAL (SELECT position, hash, recorded_at FROM events \
                                ORDER BY position DESC LIMIT 1) AS h ON true \
             CROSS JOIN LATERAL (SELECT array_agg(stream) AS names, array_agg(version) AS versions \
                                 FROM event_streams WHERE stream = ANY($1)) AS s \
             CROSS JOIN LATERAL (SELECT array_agg(request_id) AS requests \
                                 FROM event_requests WHERE request_id = ANY($2)) AS r \
             CROSS JOIN LATERAL (SELECT array_agg(event_id) AS ids \
                                 FROM events WHERE event_id = ANY($3)) AS e",
        );
        Self {
            connect,
            conn: Mutex::new(None),
            // The lock key is our own integer, so splicing it is safe; it lets BEGIN and the
            // lock share one round trip. Sequential scans are ruled out because the writer's
            // statements are prepared once per connection and PostgreSQL caches a generic plan
            // after a few runs: planned while the tables were small, a seq-scan plan would
            // stay in use long after they have grown. Re-planning every time instead costs
            // more than the lookups themselves.
            // A writer that stalls inside its transaction (a paused process) is cut off so it
            // cannot hold every other writer of the database behind the lock.
            begin: format!(
                "BEGIN; SET LOCAL enable_seqscan = off; \
                 SET LOCAL idle_in_transaction_session_timeout = '30s'; \
                 SELECT pg_advisory_xact_lock({lock_key})"
            ),
            state_sql,
            write_sql: write_sql(),
            channel,
        }
    }
}

fn write_sql() -> String {
    format!(
        "\
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
    INSERT INTO consumer_cursors (consumer, position)
    SELECT * FROM UNNEST($21::text[], $22::int8[])
    {CURSOR_FORWARD}
)
SELECT pg_notify($23, $24) WHERE cardinality($1::int8[]) > 0"
    )
}

#[async_trait]
impl Committer for PgCommitter {
    async fn commit(&self, batch: &[AppendRequest]) -> Result<BatchOutcome, StoreError> {
        let mut slot = self.conn.lock().await;
        let conn = match slot.as_mut() {
            Some(conn) => conn,
            None => slot.insert(
                PgConnection::connect_with(&self.connect)
                    .await
                    .map_err(|e| db_error("connecting the writer", &e))?,
            ),
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
    async fn run(
        &self,
        conn: &mut PgConnection,
        batch: &[AppendRequest],
    ) -> Result<BatchOutcome, StoreError> {
        let mut tx = conn
            .begin_with(AssertSqlSafe(self.begin.clone()))
            .await
            .map_err(|e| db_error("starting an append", &e))?;
        let state = self.read_state(&mut tx, batch).await?;
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
        self.write(&mut tx, &plan).await?;
        tx.commit()
            .await
            .map_err(|e| db_error("committing an append", &e))?;
        let head = (!plan.rows.is_empty()).then_some(plan.head);
        Ok(BatchOutcome {
            outcomes: plan.outcomes,
            head,
        })
    }

    async fn read_state(
        &self,
        tx: &mut sqlx::PgConnection,
        batch: &[AppendRequest],
    ) -> Result<BatchState, StoreError> {
        let streams: HashSet<&str> = batch.iter().flat_map(AppendRequest::streams_read).collect();
        let request_ids: HashSet<&str> = batch
            .iter()
            .filter_map(|r| r.idempotency.as_ref().map(|i| i.request_id.as_str()))
            .collect();
        let event_ids: Vec<Uuid> = batch
            .iter()
            .flat_map(|r| r.events.iter().map(|e| e.event_id))
            .collect();
        let row = sqlx::query(AssertSqlSafe(self.state_sql.clone()))
            .bind(streams.into_iter().collect::<Vec<_>>())
            .bind(request_ids.iter().copied().collect::<Vec<_>>())
            .bind(event_ids)
            .fetch_one(&mut *tx)
            .await
            .map_err(|e| db_error("reading the store's state", &e))?;
        let known_requests: Option<Vec<String>> = row.try_get(6).map_err(decode_err)?;
        let requests = match known_requests {
            Some(ids) if !ids.is_empty() => load_requests(tx, &ids).await?,
            _ => HashMap::new(),
        };
        let claims: HashSet<&str> = batch
            .iter()
            .flat_map(AppendRequest::claims_touched)
            .collect();
        let claims = if claims.is_empty() {
            HashMap::new()
        } else {
            load_claims(tx, &claims.into_iter().collect::<Vec<_>>()).await?
        };
        state_from_row(&row, requests, claims)
    }

    async fn write(&self, tx: &mut sqlx::PgConnection, plan: &Plan<'_>) -> Result<(), StoreError> {
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
        let (consumers, cursors): (Vec<&str>, Vec<i64>) =
            plan.cursors.iter().map(|&(c, p)| (c, p as i64)).unzip();

        sqlx::query(AssertSqlSafe(self.write_sql.clone()))
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
            .bind(cursors)
            .bind(&self.channel)
            .bind(plan.head.position.to_string())
            .execute(&mut *tx)
            .await
            .map_err(|e| db_error("writing events", &e))?;
        if !plan.claims.is_empty() {
            write_claims(tx, &plan.claims).await?;
        }
        Ok(())
    }
}

/// Claims are rare (receipts and payments, not every event), so they cost a statement of
/// their own only in batches that take or give one back.
async fn load_claims(
    tx: &mut sqlx::PgConnection,
    claims: &[&str],
) -> Result<HashMap<String, String>, StoreError> {
    let rows = sqlx::query("SELECT claim, stream FROM event_claims WHERE claim = ANY($1)")
        .bind(claims)
        .fetch_all(tx)
        .await
        .map_err(|e| db_error("reading claims", &e))?;
    rows.iter()
        .map(|row| {
            Ok((
                row.try_get(0).map_err(decode_err)?,
                row.try_get(1).map_err(decode_err)?,
            ))
        })
        .collect()
}

async fn write_claims(
    tx: &mut sqlx::PgConnection,
    changes: &[(&str, Option<(&str, u64)>)],
) -> Result<(), StoreError> {
    let mut freed = Vec::new();
    let (mut claims, mut streams, mut positions) = (Vec::new(), Vec::new(), Vec::new());
    for &(claim, holder) in changes {
        match holder {
            None => freed.push(claim),
            Some((stream, position)) => {
                claims.push(claim);
                streams.push(stream);
                positions.push(position as i64);
            }
        }
    }
    sqlx::query(
        "WITH freed AS (DELETE FROM event_claims WHERE claim = ANY($1)) \
         INSERT INTO event_claims (claim, stream, position) \
         SELECT * FROM UNNEST($2::text[], $3::text[], $4::int8[]) \
         ON CONFLICT (claim) DO UPDATE SET stream = EXCLUDED.stream, position = EXCLUDED.position",
    )
    .bind(freed)
    .bind(claims)
    .bind(streams)
    .bind(positions)
    .execute(tx)
    .await
    .map_err(|e| db_error("writing claims", &e))?;
    Ok(())
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
    tx: &mut sqlx::PgConnection,
    ids: &[String],
) -> Result<HashMap<String, RequestRecord>, StoreError> {
    let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id = ANY($1)");
    let rows = sqlx::query(AssertSqlSafe(sql))
        .bind(ids)
        .fetch_all(tx)
        .await
        .map_err(|e| db_error("reading stored requests", &e))?;
    rows.iter()
        .map(|row| Postgres::request(row).map(|r| (r.request_id.clone(), r)))
        .collect()
}

fn state_from_row(
    row: &PgRow,
    requests: HashMap<String, RequestRecord>,
    claims: HashMap<String, String>,
) -> Result<BatchState, StoreError> {
    let head_position: Option<i64> = row.try_get(0).map_err(decode_err)?;
    let head = if head_position.is_some() {
        Postgres::head(row)?
    } else {
        Head::EMPTY
    };
    let names: Option<Vec<String>> = row.try_get(4).map_err(decode_err)?;
    let versions: Option<Vec<i64>> = row.try_get(5).map_err(decode_err)?;
    let streams = names
        .unwrap_or_default()
        .into_iter()
        .zip(versions.unwrap_or_default())
        .map(|(name, v)| Ok((name, decode::unsigned("stream version", v)?)))
        .collect::<Result<_, StoreError>>()?;
    let event_ids: Option<Vec<Uuid>> = row.try_get(7).map_err(decode_err)?;
    Ok(BatchState {
        head,
        now_micros: row.try_get(3).map_err(decode_err)?,
        streams,
        requests,
        event_ids: event_ids.unwrap_or_default().into_iter().collect(),
        claims,
    })
}
