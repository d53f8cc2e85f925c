//! Events a consumer moved past without their effect: the "needs attention" queue.
//!
//! A consumer of the log that cannot take an event into effect — its payload does not decode,
//! handling it kept failing after its retries, or a business rule refused the command it
//! called for — does not stop there, because one event would then hold up every later one
//! (every credit, every tranche of the fund). It *parks* the event: a row here, written in
//! the same transaction as the cursor moving past it, so the consumer never moves on without
//! the record, nor records without moving on. An operator looks at the queue and asks for a
//! re-drive; the consumer, wherever it runs, finds the request here between events, handles
//! the event again and settles the item. The table is the meeting point, so the request
//! reaches the consumer's process through the database they share, whichever process took
//! the request.
//!
//! Parking the same event again (a consumer re-reading it after a crash before its cursor was
//! saved) counts one more attempt on the same row, keyed by consumer and position.

use std::fmt;
use std::future::Future;
use std::time::{SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use sqlx::{AssertSqlSafe, ColumnIndex, Decode, Encode, Executor, IntoArguments, Row, Type};
use uuid::Uuid;

use crate::decode::{self, clamp};
use crate::error::{InvalidInput, StoreError, corrupt, db_error};
use crate::statements::Sql;
use crate::types::Cursor;
use crate::validate;

/// The longest cause kept, in bytes; longer ones are cut at a character boundary.
pub const MAX_CAUSE: usize = 2000;
/// The longest reason code kept, in bytes.
pub const MAX_REASON: usize = 200;

/// Why a consumer moved past an event without its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttentionKind {
    /// The payload of a type the consumer knows does not decode.
    Undecodable,
    /// Handling it failed, and kept failing through the consumer's retries.
    Failed,
    /// A business rule refused the command it called for.
    Refused,
}

impl AttentionKind {
    pub const ALL: [Self; 3] = [Self::Undecodable, Self::Failed, Self::Refused];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Undecodable => "undecodable",
            Self::Failed => "failed",
            Self::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|kind| kind.as_str() == text)
            .ok_or_else(|| corrupt(format!("attention kind {text:?} is not known")))
    }
}

impl fmt::Display for AttentionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where an item stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AttentionState {
    /// Waiting for someone.
    Open,
    /// An operator asked for a re-drive; the consumer has not handled it yet.
    RedriveRequested,
    /// A re-drive took the event into effect (or found it no longer calls for one).
    Resolved,
}

impl AttentionState {
    pub const ALL: [Self; 3] = [Self::Open, Self::RedriveRequested, Self::Resolved];
    /// What still needs someone: open items and those waiting for their re-drive.
    pub const PENDING: [Self; 2] = [Self::Open, Self::RedriveRequested];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Open => "open",
            Self::RedriveRequested => "redrive_requested",
            Self::Resolved => "resolved",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        Self::ALL
            .into_iter()
            .find(|state| state.as_str() == text)
            .ok_or_else(|| corrupt(format!("attention state {text:?} is not known")))
    }
}

impl fmt::Display for AttentionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An event a consumer moves past without its effect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parked {
    /// The consumer's name (a process manager's, or `projector`), not a lane's cursor name.
    pub consumer: String,
    pub position: u64,
    pub event_id: Uuid,
    pub stream: String,
    pub event_type: String,
    pub kind: AttentionKind,
    /// The refusing rule's reason code (`MATCHING_CAP_EXCEEDED`); empty when there is none.
    pub reason: String,
    /// What went wrong, in words; cut to [`MAX_CAUSE`] bytes.
    pub cause: String,
    /// How often the consumer tried before parking it.
    pub attempts: u32,
}

/// An item of the queue as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionItem {
    pub id: u64,
    pub consumer: String,
    pub position: u64,
    pub event_id: Uuid,
    pub stream: String,
    pub event_type: String,
    pub kind: AttentionKind,
    pub reason: String,
    pub cause: String,
    /// Every attempt to handle it: before it was parked and in each re-drive.
    pub attempts: u32,
    /// Microseconds since the Unix epoch (UTC), by the clock of the process that parked it.
    pub first_seen: i64,
    pub last_seen: i64,
    pub state: AttentionState,
}

/// Which items to list: all of them when every field is left empty.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttentionQuery {
    pub consumer: Option<String>,
    pub kind: Option<AttentionKind>,
    /// Empty for every state.
    pub states: Vec<AttentionState>,
    /// Only items with a greater id: the last id of the previous page.
    pub after_id: u64,
    /// At most this many (0: 100).
    pub limit: usize,
}

impl AttentionQuery {
    /// The items `consumer` has been asked to re-drive.
    pub fn redrives(consumer: &str) -> Self {
        Self {
            consumer: Some(consumer.to_owned()),
            states: vec![AttentionState::RedriveRequested],
            ..Self::default()
        }
    }
}

/// How a re-drive ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Redriven {
    Resolved,
    /// Still not in effect: the item is open again, with what went wrong this time.
    StillFailing {
        kind: AttentionKind,
        reason: String,
        cause: String,
    },
}

/// How many items one consumer has of one kind in one state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionCount {
    pub consumer: String,
    pub kind: AttentionKind,
    pub state: AttentionState,
    pub count: u64,
}

/// The queue, kept in the store's database beside the cursors it moves with.
#[async_trait]
pub trait AttentionStore: Send + Sync + fmt::Debug {
    /// Records `parked` (or one more attempt on the same consumer and position, which opens it
    /// again) and saves `cursor` (only forward) in the same transaction.
    async fn park(
        &self,
        parked: Parked,
        cursor: Option<Cursor>,
    ) -> Result<AttentionItem, StoreError>;

    /// Items by id.
    async fn attention_items(
        &self,
        query: &AttentionQuery,
    ) -> Result<Vec<AttentionItem>, StoreError>;

    async fn attention_item(&self, id: u64) -> Result<Option<AttentionItem>, StoreError>;

    /// Marks an item for re-drive, whatever its state (re-driving a resolved item is safe:
    /// its effect replays); `None` when there is no such item.
    async fn request_redrive(&self, id: u64) -> Result<Option<AttentionItem>, StoreError>;

    /// Records the outcome of a re-drive, counting it as an attempt. Only an item still
    /// waiting for its re-drive changes, so of two processes re-driving it the first to
    /// finish settles it; `None` when it was not waiting.
    async fn settle_redrive(
        &self,
        id: u64,
        outcome: Redriven,
    ) -> Result<Option<AttentionItem>, StoreError>;

    /// Items per consumer, kind and state.
    async fn attention_counts(&self) -> Result<Vec<AttentionCount>, StoreError>;
}

const ITEM_COLUMNS: &str = "id, consumer, position, event_id, stream, event_type, kind, reason, \
                            cause, attempts, first_seen, last_seen, state";

/// `text` cut to at most `max` bytes at a character boundary, marked when cut.
pub fn bounded(text: &str, max: usize) -> String {
    const MARK: &str = "…";
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max.saturating_sub(MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}{MARK}", &text[..end])
}

pub(crate) fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_micros()).ok())
        .unwrap_or_default()
}

fn id_in_range(id: u64) -> i64 {
    clamp(id)
}

/// The queue's statements on one kind of database, written once for both.
pub(crate) trait AttentionSql: Sql {
    fn item(row: &Self::Row) -> Result<AttentionItem, StoreError>;

    fn upsert(
        conn: &mut Self::Connection,
        parked: &Parked,
        now: i64,
    ) -> impl Future<Output = Result<AttentionItem, StoreError>> + Send;

    fn select(
        conn: &mut Self::Connection,
        query: &AttentionQuery,
    ) -> impl Future<Output = Result<Vec<AttentionItem>, StoreError>> + Send;

    fn select_one(
        conn: &mut Self::Connection,
        id: u64,
    ) -> impl Future<Output = Result<Option<AttentionItem>, StoreError>> + Send;

    fn mark_redrive(
        conn: &mut Self::Connection,
        id: u64,
    ) -> impl Future<Output = Result<Option<AttentionItem>, StoreError>> + Send;

    fn settle(
        conn: &mut Self::Connection,
        id: u64,
        outcome: &Redriven,
        now: i64,
    ) -> impl Future<Output = Result<Option<AttentionItem>, StoreError>> + Send;

    fn counts(
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Vec<AttentionCount>, StoreError>> + Send;
}

impl<DB> AttentionSql for DB
where
    DB: Sql,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'v> i64: Type<DB> + Encode<'v, DB> + Decode<'v, DB>,
    for<'v> &'v str: Type<DB> + Encode<'v, DB>,
    for<'v> String: Type<DB> + Decode<'v, DB>,
    for<'v> Uuid: Type<DB> + Encode<'v, DB> + Decode<'v, DB>,
{
    fn item(row: &DB::Row) -> Result<AttentionItem, StoreError> {
        let err = |e: sqlx::Error| db_error("decoding an attention item", &e);
        let number = |i: usize, what: &str| -> Result<u64, StoreError> {
            decode::unsigned(what, row.try_get(i).map_err(err)?)
        };
        let kind: String = row.try_get(6).map_err(err)?;
        let state: String = row.try_get(12).map_err(err)?;
        Ok(AttentionItem {
            id: number(0, "attention id")?,
            consumer: row.try_get(1).map_err(err)?,
            position: number(2, "attention position")?,
            event_id: row.try_get(3).map_err(err)?,
            stream: row.try_get(4).map_err(err)?,
            event_type: row.try_get(5).map_err(err)?,
            kind: AttentionKind::parse(&kind)?,
            reason: row.try_get(7).map_err(err)?,
            cause: row.try_get(8).map_err(err)?,
            attempts: u32::try_from(number(9, "attention attempts")?).unwrap_or(u32::MAX),
            first_seen: row.try_get(10).map_err(err)?,
            last_seen: row.try_get(11).map_err(err)?,
            state: AttentionState::parse(&state)?,
        })
    }

    async fn upsert(
        conn: &mut DB::Connection,
        parked: &Parked,
        now: i64,
    ) -> Result<AttentionItem, StoreError> {
        let sql = format!(
            "INSERT INTO consumer_attention (consumer, position, event_id, stream, event_type, \
                 kind, reason, cause, attempts, first_seen, last_seen, state) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10, 'open') \
             ON CONFLICT (consumer, position) DO UPDATE SET kind = excluded.kind, \
                 reason = excluded.reason, cause = excluded.cause, \
                 attempts = consumer_attention.attempts + excluded.attempts, \
                 last_seen = excluded.last_seen, state = 'open' \
             RETURNING {ITEM_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(parked.consumer.as_str())
            .bind(validate::in_db_range(
                "attention position",
                parked.position,
            )?)
            .bind(parked.event_id)
            .bind(parked.stream.as_str())
            .bind(parked.event_type.as_str())
            .bind(parked.kind.as_str())
            .bind(bounded(&parked.reason, MAX_REASON).as_str())
            .bind(bounded(&parked.cause, MAX_CAUSE).as_str())
            .bind(i64::from(parked.attempts))
            .bind(now)
            .fetch_one(conn)
            .await
            .map_err(|e| db_error("parking an event", &e))?;
        Self::item(&row)
    }

    async fn select(
        conn: &mut DB::Connection,
        query: &AttentionQuery,
    ) -> Result<Vec<AttentionItem>, StoreError> {
        // Three state slots, filled by repeating the last state asked for: one statement for
        // any filter.
        let states: Vec<&str> = if query.states.is_empty() {
            AttentionState::ALL.iter().map(|s| s.as_str()).collect()
        } else {
            query.states.iter().map(|s| s.as_str()).collect()
        };
        let state = |i: usize| states.get(i).or(states.last()).copied().unwrap_or("open");
        let sql = format!(
            "SELECT {ITEM_COLUMNS} FROM consumer_attention \
             WHERE ($1 = '' OR consumer = $1) AND ($2 = '' OR kind = $2) \
               AND state IN ($3, $4, $5) AND id > $6 \
             ORDER BY id LIMIT $7"
        );
        let limit = if query.limit == 0 { 100 } else { query.limit };
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(query.consumer.as_deref().unwrap_or_default())
            .bind(query.kind.map(AttentionKind::as_str).unwrap_or_default())
            .bind(state(0))
            .bind(state(1))
            .bind(state(2))
            .bind(id_in_range(query.after_id))
            .bind(decode::limit(limit))
            .fetch_all(conn)
            .await
            .map_err(|e| db_error("listing attention items", &e))?;
        rows.iter().map(Self::item).collect()
    }

    async fn select_one(
        conn: &mut DB::Connection,
        id: u64,
    ) -> Result<Option<AttentionItem>, StoreError> {
        let sql = format!("SELECT {ITEM_COLUMNS} FROM consumer_attention WHERE id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_in_range(id))
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("reading an attention item", &e))?;
        row.as_ref().map(Self::item).transpose()
    }

    async fn mark_redrive(
        conn: &mut DB::Connection,
        id: u64,
    ) -> Result<Option<AttentionItem>, StoreError> {
        let sql = format!(
            "UPDATE consumer_attention SET state = 'redrive_requested' WHERE id = $1 \
             RETURNING {ITEM_COLUMNS}"
        );
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(id_in_range(id))
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("requesting a re-drive", &e))?;
        row.as_ref().map(Self::item).transpose()
    }

    async fn settle(
        conn: &mut DB::Connection,
        id: u64,
        outcome: &Redriven,
        now: i64,
    ) -> Result<Option<AttentionItem>, StoreError> {
        let (state, kind, reason, cause) = match outcome {
            Redriven::Resolved => ("resolved", "", String::new(), String::new()),
            Redriven::StillFailing {
                kind,
                reason,
                cause,
            } => (
                "open",
                kind.as_str(),
                bounded(reason, MAX_REASON),
                bounded(cause, MAX_CAUSE),
            ),
        };
        // A resolved item keeps what went wrong before, for the record.
        let sql = format!(
            "UPDATE consumer_attention SET state = $3, attempts = attempts + 1, \
                 last_seen = $2, kind = CASE WHEN $3 = 'resolved' THEN kind ELSE $4 END, \
                 reason = CASE WHEN $3 = 'resolved' THEN reason ELSE $5 END, \
                 cause = CASE WHEN $3 = 'resolved' THEN cause ELSE $6 END \
             WHERE id = $1 AND state = 'redrive_requested' RETURNING {ITEM_COLUMNS}"
        );
        let query = sqlx::query(AssertSqlSafe(sql))
            .bind(id_in_range(id))
            .bind(now)
            .bind(state)
            .bind(kind)
            .bind(reason.as_str())
            .bind(cause.as_str());
        let row = query
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("settling a re-drive", &e))?;
        row.as_ref().map(Self::item).transpose()
    }

    async fn counts(conn: &mut DB::Connection) -> Result<Vec<AttentionCount>, StoreError> {
        let rows = sqlx::query(
            "SELECT consumer, kind, state, COUNT(*) FROM consumer_attention \
             GROUP BY consumer, kind, state ORDER BY consumer, kind, state",
        )
        .fetch_all(conn)
        .await
        .map_err(|e| db_error("counting attention items", &e))?;
        let err = |e: sqlx::Error| db_error("decoding attention counts", &e);
        rows.iter()
            .map(|row| {
                let kind: String = row.try_get(1).map_err(err)?;
                let state: String = row.try_get(2).map_err(err)?;
                Ok(AttentionCount {
                    consumer: row.try_get(0).map_err(err)?,
                    kind: AttentionKind::parse(&kind)?,
                    state: AttentionState::parse(&state)?,
                    count: decode::unsigned("attention count", row.try_get(3).map_err(err)?)?,
                })
            })
            .collect()
    }
}

/// Checks a parked event before it reaches the database.
pub(crate) fn validate(parked: &Parked, cursor: Option<&Cursor>) -> Result<(), StoreError> {
    validate::consumer(&parked.consumer)?;
    validate::in_db_range("attention position", parked.position)?;
    if parked.position == 0 {
        return Err(InvalidInput::OutOfRange {
            what: "attention position",
            value: 0,
        }
        .into());
    }
    if let Some(cursor) = cursor {
        validate::consumer(&cursor.consumer)?;
        validate::in_db_range("cursor position", cursor.position)?;
    }
    Ok(())
}

/// What a parking transaction does: the row, then the cursor.
pub(crate) async fn park_in<DB: AttentionSql>(
    conn: &mut DB::Connection,
    parked: &Parked,
    cursor: Option<&Cursor>,
) -> Result<AttentionItem, StoreError> {
    let item = DB::upsert(conn, parked, now_micros()).await?;
    if let Some(cursor) = cursor {
        DB::save_cursor(conn, &cursor.consumer, cursor.position).await?;
    }
    Ok(item)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_are_cut_at_a_character_boundary() {
        assert_eq!(bounded("short", 10), "short");
        let long = "é".repeat(20);
        let cut = bounded(&long, 11);
        assert!(cut.len() <= 11, "{cut}");
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with("éé"));
    }

    #[test]
    fn kinds_and_states_read_back_as_written() {
        for kind in AttentionKind::ALL {
            assert_eq!(AttentionKind::parse(kind.as_str()).unwrap(), kind);
        }
        for state in AttentionState::ALL {
            assert_eq!(AttentionState::parse(state.as_str()).unwrap(), state);
        }
        assert!(AttentionKind::parse("lost").is_err());
    }
}
