//! The values that go in and out of the store.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::InvalidInput;

/// What the appender believes about the stream's current version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExpectedVersion {
    /// No check.
    Any,
    /// The stream must not exist yet.
    NoStream,
    /// The stream must have at least one event.
    Exists,
    /// The stream's last event must have this version (versions start at 0).
    Exact(u64),
}

impl ExpectedVersion {
    /// Whether a stream currently at `actual` (`None`: no stream) satisfies this expectation.
    #[must_use]
    pub fn accepts(self, actual: Option<u64>) -> bool {
        match self {
            Self::Any => true,
            Self::NoStream => actual.is_none(),
            Self::Exists => actual.is_some(),
            Self::Exact(version) => actual == Some(version),
        }
    }
}

impl fmt::Display for ExpectedVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Any => f.write_str("any"),
            Self::NoStream => f.write_str("no-stream"),
            Self::Exists => f.write_str("exists"),
            Self::Exact(version) => write!(f, "{version}"),
        }
    }
}

impl FromStr for ExpectedVersion {
    type Err = InvalidInput;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "any" => Ok(Self::Any),
            "no-stream" => Ok(Self::NoStream),
            "exists" => Ok(Self::Exists),
            // Only plain digits: `u64::from_str` would also take a leading `+`.
            digits if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) => digits
                .parse()
                .ok()
                .filter(|version| i64::try_from(*version).is_ok())
                .map(Self::Exact)
                .ok_or_else(|| InvalidInput::ExpectedVersion(text.to_owned())),
            _ => Err(InvalidInput::ExpectedVersion(text.to_owned())),
        }
    }
}

/// An event to append. Payload and metadata are opaque bytes to the store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub event_id: Uuid,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub metadata: Vec<u8>,
}

impl NewEvent {
    pub fn new(
        event_id: Uuid,
        event_type: impl Into<String>,
        payload: Vec<u8>,
        metadata: Vec<u8>,
    ) -> Self {
        Self {
            event_id,
            event_type: event_type.into(),
            payload,
            metadata,
        }
    }
}

/// An event as stored, with its place in the global order and in the hash chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedEvent {
    pub position: u64,
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub payload: Vec<u8>,
    pub metadata: Vec<u8>,
    /// Commit time, microseconds since the Unix epoch (UTC).
    pub recorded_at: i64,
    pub prev_hash: [u8; 32],
    pub hash: [u8; 32],
}

/// The idempotency key of a command: its request id and a digest of the request itself, so
/// that a retry can be told apart from a different request reusing the id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Idempotency {
    pub request_id: String,
    pub fingerprint: [u8; 32],
}

impl Idempotency {
    pub fn new(request_id: impl Into<String>, fingerprint: [u8; 32]) -> Self {
        Self {
            request_id: request_id.into(),
            fingerprint,
        }
    }

    /// A fingerprint for callers that have the request as canonical bytes (SHA-256 of them).
    #[must_use]
    pub fn fingerprint_of(request_bytes: &[u8]) -> [u8; 32] {
        Sha256::digest(request_bytes).into()
    }
}

/// A consumer's position, written in the same transaction as an append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    pub consumer: String,
    pub position: u64,
}

/// One atomic append to one stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendRequest {
    pub stream: String,
    pub expected: ExpectedVersion,
    pub events: Vec<NewEvent>,
    pub idempotency: Option<Idempotency>,
    /// Saved (only forward) in the same transaction as the events; process managers use this
    /// so that their effects and their progress commit together.
    pub cursor: Option<Cursor>,
    /// Other streams that must still be at these versions when the events are appended: a
    /// decision that read another aggregate (is the project still open?) is then never
    /// appended on facts that changed in between. A mismatch is `WrongExpectedVersion` naming
    /// that stream.
    pub unchanged: Vec<(String, ExpectedVersion)>,
    /// Values unique across the whole store that this append takes (a bank reference booked
    /// once in the fund): refused with `Claimed` while any stream holds one, so two appends
    /// racing for the same value never both succeed, whatever their streams.
    pub claims: Vec<String>,
    /// Claims this append gives back (a reversed receipt frees its bank reference for the
    /// right booking). Only the stream holding a claim frees it; any other release is a no-op.
    pub releases: Vec<String>,
}

impl AppendRequest {
    pub fn new(
        stream: impl Into<String>,
        expected: ExpectedVersion,
        events: Vec<NewEvent>,
    ) -> Self {
        Self {
            stream: stream.into(),
            expected,
            events,
            idempotency: None,
            cursor: None,
            unchanged: Vec::new(),
            claims: Vec::new(),
            releases: Vec::new(),
        }
    }

    /// Appends only if `stream` is still at `expected` (see [`AppendRequest::unchanged`]).
    #[must_use]
    pub fn with_unchanged(mut self, stream: impl Into<String>, expected: ExpectedVersion) -> Self {
        self.unchanged.push((stream.into(), expected));
        self
    }

    /// Takes `claim` for this stream (see [`AppendRequest::claims`]).
    #[must_use]
    pub fn with_claim(mut self, claim: impl Into<String>) -> Self {
        self.claims.push(claim.into());
        self
    }

    /// Gives `claim` back (see [`AppendRequest::releases`]).
    #[must_use]
    pub fn with_release(mut self, claim: impl Into<String>) -> Self {
        self.releases.push(claim.into());
        self
    }

    /// Every claim the append takes or gives back.
    pub(crate) fn claims_touched(&self) -> impl Iterator<Item = &str> {
        self.claims.iter().chain(&self.releases).map(String::as_str)
    }

    /// Every stream whose version the append depends on: its own and the unchanged ones.
    pub(crate) fn streams_read(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.stream.as_str()).chain(self.unchanged.iter().map(|(s, _)| s.as_str()))
    }

    #[must_use]
    pub fn with_idempotency(
        mut self,
        request_id: impl Into<String>,
        fingerprint: [u8; 32],
    ) -> Self {
        self.idempotency = Some(Idempotency::new(request_id, fingerprint));
        self
    }

    #[must_use]
    pub fn with_cursor(mut self, consumer: impl Into<String>, position: u64) -> Self {
        self.cursor = Some(Cursor {
            consumer: consumer.into(),
            position,
        });
        self
    }
}

/// What an append produced. A replay of an earlier request carries the original figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppendResult {
    pub stream: String,
    pub first_version: u64,
    pub last_version: u64,
    pub first_position: u64,
    pub last_position: u64,
    pub recorded_at: i64,
    /// True when the request id had already been applied and nothing new was written.
    pub replayed: bool,
}

/// A stored request id with the result it produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestRecord {
    pub request_id: String,
    pub fingerprint: [u8; 32],
    /// The original result, flagged as a replay.
    pub result: AppendResult,
}

/// The last event of the store; position 0 and the zero hash when it is empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    pub position: u64,
    pub hash: [u8; 32],
    pub recorded_at: i64,
}

impl Head {
    pub const EMPTY: Self = Self {
        position: 0,
        hash: [0; 32],
        recorded_at: 0,
    };
}

/// A stream and its current (last) version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamInfo {
    pub stream: String,
    pub version: u64,
}

/// The outcome of re-computing the hash chain over a range of positions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    pub from: u64,
    /// The last position that was meant to be checked.
    pub to: u64,
    /// How many events were recomputed.
    pub checked: u64,
    /// The last position whose hash was verified, and that hash (an auditor compares it with a
    /// head they held earlier).
    pub last_position: u64,
    pub last_hash: [u8; 32],
    /// The first break in the chain, if any.
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    #[must_use]
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Where the chain breaks and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainProblem {
    pub position: u64,
    /// The stream of the event at that position; unknown when the row is missing.
    pub stream: Option<String>,
    pub kind: ProblemKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProblemKind {
    /// The stored hash does not match the event's fields: the row was altered.
    HashMismatch {
        stored: [u8; 32],
        computed: [u8; 32],
    },
    /// The stored previous hash is not the hash of the event before.
    PrevHashMismatch {
        stored: [u8; 32],
        expected: [u8; 32],
    },
    /// No event has this position although later (or expected) positions exist: a deleted row.
    MissingPosition,
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {}", self.position)?;
        if let Some(stream) = &self.stream {
            write!(f, " (stream {stream})")?;
        }
        match &self.kind {
            ProblemKind::HashMismatch { stored, computed } => write!(
                f,
                ": stored hash {} but the event's fields hash to {}",
                hex::encode(stored),
                hex::encode(computed)
            ),
            ProblemKind::PrevHashMismatch { stored, expected } => write!(
                f,
                ": stored prev_hash {} but the previous event's hash is {}",
                hex::encode(stored),
                hex::encode(expected)
            ),
            ProblemKind::MissingPosition => {
                f.write_str(": no event at this position (deleted row)")
            }
        }
    }
}

/// Counters of one store instance's writer; `transactions < appends` shows group commit at work.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Append requests that reached the writer (including refused ones and replays).
    pub appends: u64,
    /// Events written.
    pub events: u64,
    /// Appends answered from the request table.
    pub replays: u64,
    /// Transactions committed by the writer.
    pub transactions: u64,
    /// Batch transactions that failed and were retried append by append.
    pub failed_batches: u64,
}

/// Tuning and limits of a store instance.
#[derive(Debug, Clone)]
pub struct StoreOptions {
    /// Largest payload, and separately largest metadata, of one event in bytes.
    pub max_payload_bytes: usize,
    /// Most appends committed in one transaction.
    pub max_batch_appends: usize,
    /// Most events committed in one transaction (a single larger append still goes alone).
    pub max_batch_events: usize,
    /// Appends waiting for the writer before `append` callers wait for room.
    pub queue_capacity: usize,
    /// Connections of the pool (readers and the writer).
    pub max_connections: u32,
    pub acquire_timeout: Duration,
    /// How often subscriptions look for new events when no notification came.
    pub poll_interval: Duration,
    /// Events read per query when a subscription catches up.
    pub read_batch: usize,
    /// PostgreSQL only: the schema holding the store's tables (created if missing). It also
    /// keys the sequencer lock and the notification channel, so stores in different schemas of
    /// one database are independent.
    pub schema: Option<String>,
    /// SQLite only: how long to wait for another connection's write lock.
    pub busy_timeout: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        Self {
            max_payload_bytes: 1024 * 1024,
            max_batch_appends: 512,
            max_batch_events: 4096,
            queue_capacity: 8192,
            max_connections: 8,
            acquire_timeout: Duration::from_secs(30),
            poll_interval: Duration::from_secs(1),
            read_batch: 1000,
            schema: None,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expected_version_parses_each_form_and_refuses_others() {
        assert_eq!("any".parse::<ExpectedVersion>(), Ok(ExpectedVersion::Any));
        assert_eq!(
            "no-stream".parse::<ExpectedVersion>(),
            Ok(ExpectedVersion::NoStream)
        );
        assert_eq!(
            "exists".parse::<ExpectedVersion>(),
            Ok(ExpectedVersion::Exists)
        );
        assert_eq!(
            "42".parse::<ExpectedVersion>(),
            Ok(ExpectedVersion::Exact(42))
        );
        for bad in [
            "",
            "Any",
            "+1",
            "-1",
            "1.0",
            "latest",
            "99999999999999999999",
            "18446744073709551615",
        ] {
            assert_eq!(
                bad.parse::<ExpectedVersion>(),
                Err(InvalidInput::ExpectedVersion(bad.to_owned())),
                "{bad:?}"
            );
        }
        for form in [
            ExpectedVersion::Any,
            ExpectedVersion::NoStream,
            ExpectedVersion::Exists,
            ExpectedVersion::Exact(7),
        ] {
            assert_eq!(form.to_string().parse::<ExpectedVersion>(), Ok(form));
        }
    }
}
