//! The statements both backends run outside the writer's transactions, written once.
//!
//! PostgreSQL and SQLite accept the same text for them — `$n` parameters (SQLite reads `$1`
//! as the first parameter), `ON CONFLICT … DO UPDATE … WHERE` — and hand back columns that
//! decode to the same Rust types, so the only difference left is the sqlx database type.

use std::future::Future;

use sqlx::{
    AssertSqlSafe, ColumnIndex, Database, Decode, Encode, Executor, IntoArguments, Row, Type,
};
use uuid::Uuid;

use crate::decode::{self, clamp};
use crate::error::{StoreError, db_error};
use crate::types::{AppendResult, Head, RecordedEvent, RequestRecord, StreamInfo};
use crate::validate;

pub(crate) const EVENT_COLUMNS: &str = "position, event_id, stream, version, event_type, payload, \
                                        metadata, recorded_at, prev_hash, hash";

pub(crate) const REQUEST_COLUMNS: &str = "request_id, fingerprint, stream, first_version, \
    last_version, first_position, last_position, recorded_at";

/// The conflict clause of every cursor insert: a cursor only moves forward.
pub(crate) const CURSOR_FORWARD: &str = "ON CONFLICT (consumer) DO UPDATE \
    SET position = excluded.position WHERE excluded.position > consumer_cursors.position";

/// Reading the store's tables on one kind of database. Implemented once, for every sqlx
/// database that can bind and decode the store's column types.
pub(crate) trait Sql: Database {
    /// An event from a row of [`EVENT_COLUMNS`].
    fn event(row: &Self::Row) -> Result<RecordedEvent, StoreError>;

    /// The head from a row starting `position, hash, recorded_at`.
    fn head(row: &Self::Row) -> Result<Head, StoreError>;

    /// A stored request from a row of [`REQUEST_COLUMNS`].
    fn request(row: &Self::Row) -> Result<RequestRecord, StoreError>;

    fn read_head(
        conn: &mut Self::Connection,
    ) -> impl Future<Output = Result<Head, StoreError>> + Send;

    fn read_stream(
        conn: &mut Self::Connection,
        stream: &str,
        from_version: u64,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    fn read_all(
        conn: &mut Self::Connection,
        from_position: u64,
        limit: usize,
    ) -> impl Future<Output = Result<Vec<RecordedEvent>, StoreError>> + Send;

    fn find_request(
        conn: &mut Self::Connection,
        request_id: &str,
    ) -> impl Future<Output = Result<Option<RequestRecord>, StoreError>> + Send;

    fn stream_version(
        conn: &mut Self::Connection,
        stream: &str,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    fn list_streams(
        conn: &mut Self::Connection,
        category: &str,
    ) -> impl Future<Output = Result<Vec<StreamInfo>, StoreError>> + Send;

    /// A consumer's cursor; 0 when it has none.
    fn load_cursor(
        conn: &mut Self::Connection,
        consumer: &str,
    ) -> impl Future<Output = Result<u64, StoreError>> + Send;

    /// Saves a consumer's cursor, keeping the stored one if it is further along.
    fn save_cursor(
        conn: &mut Self::Connection,
        consumer: &str,
        position: u64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

impl<DB> Sql for DB
where
    DB: Database,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    usize: ColumnIndex<DB::Row>,
    for<'v> i64: Type<DB> + Encode<'v, DB> + Decode<'v, DB>,
    for<'v> &'v str: Type<DB> + Encode<'v, DB>,
    for<'v> String: Type<DB> + Decode<'v, DB>,
    for<'v> &'v [u8]: Type<DB> + Decode<'v, DB>,
    for<'v> Vec<u8>: Type<DB> + Decode<'v, DB>,
    for<'v> Uuid: Type<DB> + Decode<'v, DB>,
{
    fn event(row: &DB::Row) -> Result<RecordedEvent, StoreError> {
        let err = |e: sqlx::Error| db_error("decoding an event", &e);
        let position = decode::unsigned("position", row.try_get(0).map_err(err)?)?;
        let at = |what: &str| format!("{what} of position {position}");
        Ok(RecordedEvent {
            position,
            event_id: row.try_get(1).map_err(err)?,
            stream: row.try_get(2).map_err(err)?,
            version: decode::unsigned(&at("version"), row.try_get(3).map_err(err)?)?,
            event_type: row.try_get(4).map_err(err)?,
            payload: row.try_get(5).map_err(err)?,
            metadata: row.try_get(6).map_err(err)?,
            recorded_at: row.try_get(7).map_err(err)?,
            prev_hash: decode::hash(&at("prev_hash"), row.try_get(8).map_err(err)?)?,
            hash: decode::hash(&at("hash"), row.try_get(9).map_err(err)?)?,
        })
    }

    fn head(row: &DB::Row) -> Result<Head, StoreError> {
        let err = |e: sqlx::Error| db_error("decoding the head", &e);
        Ok(Head {
            position: decode::unsigned("head position", row.try_get(0).map_err(err)?)?,
            hash: decode::hash("head hash", row.try_get(1).map_err(err)?)?,
            recorded_at: row.try_get(2).map_err(err)?,
        })
    }

    fn request(row: &DB::Row) -> Result<RequestRecord, StoreError> {
        let err = |e: sqlx::Error| db_error("decoding a request", &e);
        let number = |i: usize, what: &str| -> Result<u64, StoreError> {
            decode::unsigned(what, row.try_get(i).map_err(err)?)
        };
        Ok(RequestRecord {
            request_id: row.try_get(0).map_err(err)?,
            fingerprint: decode::hash("request fingerprint", row.try_get(1).map_err(err)?)?,
            result: AppendResult {
                stream: row.try_get(2).map_err(err)?,
                first_version: number(3, "first_version")?,
                last_version: number(4, "last_version")?,
                first_position: number(5, "first_position")?,
                last_position: number(6, "last_position")?,
                recorded_at: row.try_get(7).map_err(err)?,
                replayed: true,
            },
        })
    }

    async fn read_head(conn: &mut DB::Connection) -> Result<Head, StoreError> {
        let row = sqlx::query(
            "SELECT position, hash, recorded_at FROM events ORDER BY position DESC LIMIT 1",
        )
        .fetch_optional(conn)
        .await
        .map_err(|e| db_error("reading the head", &e))?;
        row.map_or(Ok(Head::EMPTY), |row| Self::head(&row))
    }

    async fn read_stream(
        conn: &mut DB::Connection,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE stream = $1 AND version >= $2 ORDER BY version"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(stream)
            .bind(clamp(from_version))
            .fetch_all(conn)
            .await
            .map_err(|e| db_error("reading a stream", &e))?;
        rows.iter().map(Self::event).collect()
    }

    async fn read_all(
        conn: &mut DB::Connection,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError> {
        let sql = format!(
            "SELECT {EVENT_COLUMNS} FROM events WHERE position >= $1 ORDER BY position LIMIT $2"
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(clamp(from_position))
            .bind(decode::limit(limit))
            .fetch_all(conn)
            .await
            .map_err(|e| db_error("reading events", &e))?;
        rows.iter().map(Self::event).collect()
    }

    async fn find_request(
        conn: &mut DB::Connection,
        request_id: &str,
    ) -> Result<Option<RequestRecord>, StoreError> {
        let sql = format!("SELECT {REQUEST_COLUMNS} FROM event_requests WHERE request_id = $1");
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(request_id)
            .fetch_optional(conn)
            .await
            .map_err(|e| db_error("finding a request", &e))?;
        row.as_ref().map(Self::request).transpose()
    }

    async fn stream_version(
        conn: &mut DB::Connection,
        stream: &str,
    ) -> Result<Option<u64>, StoreError> {
        let version: Option<i64> =
            sqlx::query_scalar("SELECT version FROM event_streams WHERE stream = $1")
                .bind(stream)
                .fetch_optional(conn)
                .await
                .map_err(|e| db_error("reading a stream version", &e))?;
        version
            .map(|v| decode::unsigned("stream version", v))
            .transpose()
    }

    async fn list_streams(
        conn: &mut DB::Connection,
        category: &str,
    ) -> Result<Vec<StreamInfo>, StoreError> {
        // '.' is the byte after '-': the range is exactly the names starting with `<category>-`.
        let (from, to) = (format!("{category}-"), format!("{category}."));
        let rows = sqlx::query(
            "SELECT stream, version FROM event_streams WHERE stream >= $1 AND stream < $2 \
             ORDER BY stream",
        )
        .bind(from.as_str())
        .bind(to.as_str())
        .fetch_all(conn)
        .await
        .map_err(|e| db_error("listing streams", &e))?;
        let err = |e: sqlx::Error| db_error("decoding a stream", &e);
        rows.iter()
            .map(|row| {
                Ok(StreamInfo {
                    stream: row.try_get(0).map_err(err)?,
                    version: decode::unsigned("stream version", row.try_get(1).map_err(err)?)?,
                })
            })
            .collect()
    }

    async fn load_cursor(conn: &mut DB::Connection, consumer: &str) -> Result<u64, StoreError> {
        let position: Option<i64> =
            sqlx::query_scalar("SELECT position FROM consumer_cursors WHERE consumer = $1")
                .bind(consumer)
                .fetch_optional(conn)
                .await
                .map_err(|e| db_error("loading a cursor", &e))?;
        position.map_or(Ok(0), |p| decode::unsigned("cursor", p))
    }

    async fn save_cursor(
        conn: &mut DB::Connection,
        consumer: &str,
        position: u64,
    ) -> Result<(), StoreError> {
        validate::consumer(consumer)?;
        let position = validate::in_db_range("cursor position", position)?;
        let sql = format!(
            "INSERT INTO consumer_cursors (consumer, position) VALUES ($1, $2) \
             {CURSOR_FORWARD}"
        );
        sqlx::query(AssertSqlSafe(sql))
            .bind(consumer)
            .bind(position)
            .execute(conn)
            .await
            .map_err(|e| db_error("saving a cursor", &e))?;
        Ok(())
    }
}
