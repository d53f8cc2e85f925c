//! One stored event with every field the hash chain covers, as auditors handle it: from the
//! store, from the Audit API and from export files alike.

use uuid::Uuid;

/// An event envelope (docs/architecture.md §3): the fields the chain covers, plus the stored
/// `prev_hash` and `hash` that the chain must reproduce.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
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

/// An envelope from the wire whose byte fields have the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("envelope at position {position}: {field} is {len} bytes, expected {expected}")]
pub struct MalformedEnvelope {
    pub position: u64,
    pub field: &'static str,
    pub len: usize,
    pub expected: usize,
}
