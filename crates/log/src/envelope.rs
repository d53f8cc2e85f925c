//! What goes on the log for one stored event: the `EventEnvelope` value, the country key, the
//! NATS subject and the headers (docs/log-format.md).

use fundtrail_proto::v1::{EventEnvelope, EventMetadata};
use fundtrail_store::RecordedEvent;
use fundtrail_telemetry::W3c;
use prost::Message;
use uuid::Uuid;

use crate::error::LogError;

/// The key of events that concern no country (donors, matching pools).
pub const NO_COUNTRY: &str = "XX";

pub const HEADER_EVENT_ID: &str = "event_id";
pub const HEADER_EVENT_TYPE: &str = "event_type";
pub const HEADER_POSITION: &str = "position";
pub const HEADER_STREAM: &str = "stream";
pub const HEADER_TRACEPARENT: &str = "traceparent";
pub const HEADER_TRACESTATE: &str = "tracestate";
/// The lease generation of the relay that published the message (see `crate::lease`).
pub const HEADER_RELAY_GENERATION: &str = "relay_generation";

/// One event, ready for any broker.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub position: u64,
    pub event_id: Uuid,
    pub country: String,
    /// `(name, value)` in the order of the log format.
    pub headers: Vec<(&'static str, String)>,
    /// `<category>.<short event name>`, the tail of a NATS subject.
    pub subject_tail: String,
    /// The protobuf `EventEnvelope`.
    pub value: Vec<u8>,
}

impl Outgoing {
    pub fn of(event: &RecordedEvent) -> Self {
        let country = match fundtrail_proto::decode(&event.event_type, &event.payload) {
            Ok(decoded) => decoded
                .country()
                .map_or_else(|| NO_COUNTRY.to_owned(), |c| c.to_string()),
            Err(error) => {
                // A type this build does not know (written by a newer service) still goes
                // out, in order; only its partition is the no-country one.
                tracing::warn!(position = event.position, %error, "event not understood; keyed as {NO_COUNTRY}");
                NO_COUNTRY.to_owned()
            }
        };
        let mut headers = vec![
            (HEADER_EVENT_ID, event.event_id.to_string()),
            (HEADER_EVENT_TYPE, event.event_type.clone()),
            (HEADER_POSITION, event.position.to_string()),
            (HEADER_STREAM, event.stream.clone()),
        ];
        if let Some(trace) = trace_context(&event.metadata) {
            headers.push((HEADER_TRACEPARENT, trace.traceparent));
            if !trace.tracestate.is_empty() {
                headers.push((HEADER_TRACESTATE, trace.tracestate));
            }
        }
        let category = event.stream.split('-').next().unwrap_or_default();
        let short = event.event_type.rsplit('.').next().unwrap_or_default();
        Self {
            position: event.position,
            event_id: event.event_id,
            country,
            headers,
            subject_tail: format!("{}.{}", token(category), token(short)),
            value: envelope(event).encode_to_vec(),
        }
    }

    /// The same, as published by the relay holding lease `generation`.
    #[must_use]
    pub fn published_under(mut self, generation: u64) -> Self {
        self.headers
            .push((HEADER_RELAY_GENERATION, generation.to_string()));
        self
    }

    /// The NATS subject under `prefix`.
    pub fn subject(&self, prefix: &str) -> String {
        format!("{prefix}.{}.{}", token(&self.country), self.subject_tail)
    }
}

/// A subject token: NATS gives `.`, `*`, `>` and whitespace a meaning.
fn token(text: &str) -> String {
    let cleaned: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    if cleaned.is_empty() {
        "_".to_owned()
    } else {
        cleaned
    }
}

/// The trace context of the command that recorded an event, from its metadata: what
/// consumers continue the trace from.
pub fn trace_context(metadata: &[u8]) -> Option<W3c> {
    EventMetadata::decode(metadata)
        .ok()
        .and_then(|m| W3c::new(m.traceparent, m.tracestate))
}

pub fn envelope(event: &RecordedEvent) -> EventEnvelope {
    EventEnvelope {
        position: event.position,
        event_id: event.event_id.as_bytes().to_vec(),
        stream: event.stream.clone(),
        version: event.version,
        event_type: event.event_type.clone(),
        payload: event.payload.clone(),
        metadata: event.metadata.clone(),
        recorded_at: event.recorded_at,
        prev_hash: event.prev_hash.to_vec(),
        hash: event.hash.to_vec(),
    }
}

/// Reads an `EventEnvelope` value back into the stored event it was made from.
pub fn recorded(value: &[u8]) -> Result<RecordedEvent, LogError> {
    let envelope = EventEnvelope::decode(value)
        .map_err(|e| LogError::Malformed(format!("not an EventEnvelope: {e}")))?;
    let hash = |what: &str, bytes: &[u8]| -> Result<[u8; 32], LogError> {
        bytes
            .try_into()
            .map_err(|_| LogError::Malformed(format!("{what} is {} bytes, not 32", bytes.len())))
    };
    if envelope.position == 0 {
        return Err(LogError::Malformed("position 0".into()));
    }
    Ok(RecordedEvent {
        position: envelope.position,
        event_id: Uuid::from_slice(&envelope.event_id)
            .map_err(|e| LogError::Malformed(format!("event_id: {e}")))?,
        stream: envelope.stream,
        version: envelope.version,
        event_type: envelope.event_type,
        payload: envelope.payload,
        metadata: envelope.metadata,
        recorded_at: envelope.recorded_at,
        prev_hash: hash("prev_hash", &envelope.prev_hash)?,
        hash: hash("hash", &envelope.hash)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(stream: &str, event_type: &str, metadata: Vec<u8>) -> RecordedEvent {
        RecordedEvent {
            position: 7,
            event_id: Uuid::now_v7(),
            stream: stream.into(),
            version: 2,
            event_type: event_type.into(),
            payload: vec![],
            metadata,
            recorded_at: 1_700_000_000_000_000,
            prev_hash: [1; 32],
            hash: [2; 32],
        }
    }

    #[test]
    fn an_event_round_trips_through_its_envelope() {
        let meta = EventMetadata {
            traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".into(),
            ..EventMetadata::default()
        };
        let original = event("pledge-1", "fundtrail.v1.Unknown", meta.encode_to_vec());
        let out = Outgoing::of(&original);
        assert_eq!(out.country, NO_COUNTRY);
        assert_eq!(
            out.subject("fundtrail.v1"),
            "fundtrail.v1.XX.pledge.Unknown"
        );
        assert_eq!(out.headers.len(), 5);
        assert_eq!(out.headers[2], (HEADER_POSITION, "7".to_owned()));
        assert_eq!(recorded(&out.value).unwrap(), original);
        let bare = Outgoing::of(&event("donor-x", "a.b.c*d", vec![]));
        assert_eq!(bare.headers.len(), 4, "no traceparent header without one");
        let with_state = EventMetadata {
            tracestate: "vendor=1".into(),
            ..meta
        };
        let out = Outgoing::of(&event("pledge-1", "x.Y", with_state.encode_to_vec()));
        assert_eq!(out.headers[5], (HEADER_TRACESTATE, "vendor=1".to_owned()));
        assert_eq!(bare.subject_tail, "donor.c_d");
        assert!(matches!(recorded(b"\x0a\x02"), Err(LogError::Malformed(_))));
    }
}
