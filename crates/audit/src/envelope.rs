//! One stored event with every field the hash chain covers, as auditors handle it: from the
//! store, from the Audit API and from export files alike.

use fundtrail_proto::v1;
use fundtrail_store::RecordedEvent;
use uuid::Uuid;

/// An event envelope (ARCHITECTURE.md §3): the fields the chain covers, plus the stored
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

/// A wire envelope whose byte fields have the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("envelope at position {position}: {field} is {len} bytes, expected {expected}")]
pub struct MalformedEnvelope {
    pub position: u64,
    pub field: &'static str,
    pub len: usize,
    pub expected: usize,
}

impl From<&RecordedEvent> for Envelope {
    fn from(event: &RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id,
            stream: event.stream.clone(),
            version: event.version,
            event_type: event.event_type.clone(),
            payload: event.payload.clone(),
            metadata: event.metadata.clone(),
            recorded_at: event.recorded_at,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

impl From<RecordedEvent> for Envelope {
    fn from(event: RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: event.event_id,
            stream: event.stream,
            version: event.version,
            event_type: event.event_type,
            payload: event.payload,
            metadata: event.metadata,
            recorded_at: event.recorded_at,
            prev_hash: event.prev_hash,
            hash: event.hash,
        }
    }
}

impl From<&Envelope> for v1::EventEnvelope {
    fn from(e: &Envelope) -> Self {
        Self {
            position: e.position,
            event_id: e.event_id.as_bytes().to_vec(),
            stream: e.stream.clone(),
            version: e.version,
            event_type: e.event_type.clone(),
            payload: e.payload.clone(),
            metadata: e.metadata.clone(),
            recorded_at: e.recorded_at,
            prev_hash: e.prev_hash.to_vec(),
            hash: e.hash.to_vec(),
        }
    }
}

impl TryFrom<v1::EventEnvelope> for Envelope {
    type Error = MalformedEnvelope;

    fn try_from(e: v1::EventEnvelope) -> Result<Self, Self::Error> {
        let position = e.position;
        let bad = |field, len, expected| MalformedEnvelope {
            position,
            field,
            len,
            expected,
        };
        let event_id: [u8; 16] = e
            .event_id
            .as_slice()
            .try_into()
            .map_err(|_| bad("event_id", e.event_id.len(), 16))?;
        let prev_hash = e
            .prev_hash
            .as_slice()
            .try_into()
            .map_err(|_| bad("prev_hash", e.prev_hash.len(), 32))?;
        let hash = e
            .hash
            .as_slice()
            .try_into()
            .map_err(|_| bad("hash", e.hash.len(), 32))?;
        Ok(Self {
            position,
            event_id: Uuid::from_bytes(event_id),
            stream: e.stream,
            version: e.version,
            event_type: e.event_type,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
            prev_hash,
            hash,
        })
    }
}

impl Envelope {
    /// The stream's category: the part of its name before the first `-`.
    pub fn category(&self) -> &str {
        self.stream.split('-').next().unwrap_or_default()
    }
}
