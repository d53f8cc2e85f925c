//! A simulated fund whose histories the tests and the benchmark fold.

// Amounts are written as `major_minor` (`1_000_00` is 1,000.00); each test uses a part.
#![allow(
    dead_code,
    unused_imports,
    clippy::pedantic,
    clippy::inconsistent_digit_grouping
)]

pub mod flows;
pub mod ops;
pub mod store;
pub mod story;
pub mod world;

pub use ops::Op;
pub use world::{EarmarkChoice, Log, Recorded, World};

/// The event as the store would return it: encoded as its protobuf payload.
pub fn stored(r: &Recorded) -> fundtrail_store::RecordedEvent {
    let encoded = fundtrail_proto::encode(&r.event);
    fundtrail_store::RecordedEvent {
        position: r.position,
        event_id: r.event_id,
        stream: r.stream.clone(),
        version: r.version,
        event_type: encoded.event_type.to_owned(),
        payload: encoded.payload,
        metadata: Vec::new(),
        recorded_at: r.recorded_at,
        prev_hash: [0; 32],
        hash: [0; 32],
    }
}
