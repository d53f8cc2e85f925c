//! The store's errors.

use uuid::Uuid;

use crate::types::ExpectedVersion;

/// Everything the event store can fail with.
///
/// Callers map these to their own protocol: `WrongExpectedVersion` is a retryable conflict,
/// `RequestConflict` a reused request id, `InvalidInput` a caller's mistake to fix, and
/// `Unavailable` a database that cannot be reached (the append may or may not have committed;
/// retrying with the same request id is always safe).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The stream is not at the version the append expected; nothing was written.
    #[error("stream {stream}: expected version {expected}, actual {}", display_actual(*.actual))]
    WrongExpectedVersion {
        stream: String,
        expected: ExpectedVersion,
        /// The stream's current version, `None` when the stream does not exist.
        actual: Option<u64>,
    },

    /// The request id was already used for a different request; nothing was written.
    #[error("request id {request_id:?} was already used for a different request")]
    RequestConflict { request_id: String },

    /// Another stream holds a value this append claims as unique; nothing was written.
    #[error("{claim:?} is already held by stream {holder}")]
    Claimed { claim: String, holder: String },

    /// The request is malformed; nothing was written.
    #[error("invalid input: {0}")]
    InvalidInput(#[from] InvalidInput),

    /// The database could not be reached or refused the operation.
    #[error("event store unavailable: {0}")]
    Unavailable(String),

    /// A stored row could not be decoded.
    #[error("corrupt event store data: {0}")]
    Corrupt(String),
}

fn display_actual(actual: Option<u64>) -> String {
    match actual {
        Some(version) => version.to_string(),
        None => "no stream".to_owned(),
    }
}

/// What was wrong with a request the store refused before touching the database.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInput {
    #[error("an append needs at least one event")]
    NoEvents,

    #[error(
        "stream name {name:?} is invalid: it must be `<category>-<id>` with a lowercase ascii \
         category, an id of [A-Za-z0-9._:-] and at most {max} bytes in total"
    )]
    StreamName { name: String, max: usize },

    #[error(
        "category {0:?} is invalid: it must be lowercase ascii letters (streams are `<category>-<id>`)"
    )]
    Category(String),

    #[error("event {event_id}: {field} is {size} bytes, over the limit of {limit} bytes")]
    TooLarge {
        event_id: Uuid,
        field: &'static str,
        size: usize,
        limit: usize,
    },

    #[error("event type must be non-empty and at most {max} bytes, got {len} bytes")]
    EventType { len: usize, max: usize },

    #[error("event id {0} appears twice in the request or is already stored")]
    DuplicateEventId(Uuid),

    #[error(
        "expected version {0:?} is not understood: use \"any\", \"no-stream\", \"exists\" or a version number"
    )]
    ExpectedVersion(String),

    #[error(
        "request id must be 1 to {max} printable ASCII characters without spaces, got {len} bytes"
    )]
    RequestId { len: usize, max: usize },

    #[error("idempotency key must be 1 to {max} bytes without control characters, got {len} bytes")]
    IdempotencyKey { len: usize, max: usize },

    #[error("a claim must be 1 to {max} bytes without control characters, got {len} bytes")]
    Claim { len: usize, max: usize },

    #[error("consumer name must be non-empty and at most {max} bytes, got {len} bytes")]
    Consumer { len: usize, max: usize },

    #[error("{what} {value} is out of the supported range")]
    OutOfRange { what: &'static str, value: u64 },

    #[error(
        "unsupported store url {0:?}: use postgres://, postgresql://, sqlite://path or sqlite::memory:"
    )]
    Url(String),

    #[error("schema name {0:?} is invalid: use lowercase ascii letters, digits and _ (at most 40)")]
    Schema(String),
}

impl StoreError {
    /// Whether retrying the same call later may succeed.
    #[must_use]
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Maps a database error to the store's vocabulary; the backends refine unique violations
/// themselves where they know what the constraint means.
pub(crate) fn db_error(context: &str, err: &sqlx::Error) -> StoreError {
    match err {
        sqlx::Error::ColumnDecode { .. }
        | sqlx::Error::Decode(_)
        | sqlx::Error::ColumnNotFound(_) => StoreError::Corrupt(format!("{context}: {err}")),
        _ => StoreError::Unavailable(format!("{context}: {err}")),
    }
}

pub(crate) fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(what.to_string())
}
