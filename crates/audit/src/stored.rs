//! The store's events as the verifier's envelopes: the same fields, read by code that does
//! not depend on the store.

use fundtrail_store::RecordedEvent;
use fundtrail_verifier::Envelope;

pub fn envelope(event: RecordedEvent) -> Envelope {
    Envelope {
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
