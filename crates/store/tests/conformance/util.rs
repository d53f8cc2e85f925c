use std::time::Duration;

use fundtrail_store::NewEvent;
use uuid::Uuid;

pub fn event(payload: &[u8]) -> NewEvent {
    NewEvent::new(
        Uuid::now_v7(),
        "fundtrail.v1.TestEvent",
        payload.to_vec(),
        b"meta".to_vec(),
    )
}

pub fn events(count: usize) -> Vec<NewEvent> {
    (0..count)
        .map(|i| event(format!("payload {i}").as_bytes()))
        .collect()
}

/// Long enough for a loaded CI machine, short enough to fail a hung test.
pub const PATIENCE: Duration = Duration::from_mins(2);
