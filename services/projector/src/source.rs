//! Where the projector's events come from: any log of `fundtrail_log` (Kafka, NATS
//! `JetStream` or the store), put back into position order.
//!
//! Kafka delivers in order only within a partition, so the deliveries are merged back into
//! position order ([`merge_lanes`]); the broker is told a delivery need not come again once
//! the views have committed it. Delivery may be at least once and may start before the
//! position asked for; the projector drops what its views already hold, and fills a hole in
//! the positions from the store. The views need every event, so a projector consumes every
//! partition under a consumer name of its own rather than sharing a group.

use crate::run::weight;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use fundtrail_log::{Ack, EventSource, LogError};
use fundtrail_store::RecordedEvent;
use fundtrail_telemetry::metrics::attr;
use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use opentelemetry::KeyValue;

/// A log read in position order, with the acknowledgements of what it delivered held until
/// the views commit it.
pub(crate) struct Ordered {
    log: Arc<dyn EventSource>,
    consumer: &'static str,
    pending: Arc<Mutex<BTreeMap<u64, Ack>>>,
}

impl std::fmt::Debug for Ordered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ordered")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl Ordered {
    pub(crate) fn new(log: Arc<dyn EventSource>, consumer: &'static str) -> Self {
        Self {
            log,
            consumer,
            pending: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Ack>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every event from position `from` on, in position order. The stream ends after yielding
    /// an error; the projector opens it again from its cursor.
    pub(crate) fn events_from(
        &self,
        from: u64,
    ) -> BoxStream<'static, Result<RecordedEvent, LogError>> {
        self.pending().clear();
        let pending = self.pending.clone();
        let deliveries = self
            .log
            .deliveries(self.consumer, from)
            .map(move |delivery| {
                delivery.map(|delivery| {
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(delivery.event.position, delivery.ack);
                    delivery.event
                })
            })
            .boxed();
        let consumer = self.consumer;
        merge_lanes(vec![deliveries], from, move |_| {
            fundtrail_telemetry::metrics()
                .consumer_duplicates
                .add(1, &[KeyValue::new(attr::CONSUMER, consumer)]);
        })
        .boxed()
    }

    /// Every event up to `position` is durably in the views: the broker may stop redelivering
    /// it.
    pub(crate) fn acknowledge(&self, position: u64) {
        let acks: Vec<Ack> = {
            let mut pending = self.pending();
            let later = pending.split_off(&position.saturating_add(1));
            std::mem::replace(&mut *pending, later)
                .into_values()
                .collect()
        };
        if acks.is_empty() {
            return;
        }
        tokio::spawn(async move {
            for ack in acks {
                if let Err(error) = ack.ack().await {
                    // The broker delivers it again; the projector drops it then.
                    tracing::debug!(%error, "acknowledgement failed");
                }
            }
        });
    }
}

/// Events held back waiting for an earlier position before the merge gives up on it…
const MAX_HELD: usize = 10_000;
/// …or bytes of them, whichever comes first: what bounds the merge's memory at large
/// payloads.
const MAX_HELD_BYTES: usize = 64 << 20;

/// Merges lanes that are each in position order (Kafka partitions) into one stream in global
/// position order, starting at `from`.
///
/// Positions are dense across all lanes together, so the next position is always at the head
/// of some lane: the merge holds the heads it has seen and releases them in order as soon as
/// the next one turns up, without waiting on idle lanes. Repeats (at-least-once delivery) are
/// dropped, each telling `on_repeat` its position. A position no lane produces (a lane set
/// that does not cover every partition) is skipped after [`MAX_HELD`] later events (or
/// [`MAX_HELD_BYTES`] of them), and the
/// projector fills it from the store.
fn merge_lanes(
    lanes: Vec<BoxStream<'static, Result<RecordedEvent, LogError>>>,
    from: u64,
    on_repeat: impl Fn(u64) + Send + Sync + 'static,
) -> impl Stream<Item = Result<RecordedEvent, LogError>> + Send + 'static {
    let merged: SelectAll<_> = futures::stream::select_all(lanes);
    let on_repeat = Arc::new(on_repeat);
    futures::stream::unfold(
        (merged, BTreeMap::<u64, RecordedEvent>::new(), from, 0_usize),
        move |(mut merged, mut held, mut next, mut held_bytes)| {
            let on_repeat = on_repeat.clone();
            async move {
                loop {
                    if let Some(event) = held.remove(&next) {
                        next += 1;
                        held_bytes -= weight(&event);
                        return Some((Ok(event), (merged, held, next, held_bytes)));
                    }
                    match merged.next().await {
                        None => {
                            // The lanes ended: release what is held, in order, holes and all.
                            let (_, event) = held.pop_first()?;
                            next = event.position + 1;
                            held_bytes -= weight(&event);
                            return Some((Ok(event), (merged, held, next, held_bytes)));
                        }
                        Some(Err(error)) => {
                            return Some((Err(error), (merged, held, next, held_bytes)));
                        }
                        Some(Ok(event))
                            if event.position < next || held.contains_key(&event.position) =>
                        {
                            on_repeat(event.position);
                        }
                        Some(Ok(event)) => {
                            held_bytes += weight(&event);
                            held.insert(event.position, event);
                            if held.len() > MAX_HELD || held_bytes > MAX_HELD_BYTES {
                                // The next position is not coming from these lanes: let it be a
                                // hole for the projector to fill rather than hold everything.
                                let (_, event) = held.pop_first()?;
                                next = event.position + 1;
                                held_bytes -= weight(&event);
                                return Some((Ok(event), (merged, held, next, held_bytes)));
                            }
                        }
                    }
                }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(position: u64) -> RecordedEvent {
        RecordedEvent {
            position,
            event_id: uuid::Uuid::from_u128(u128::from(position)),
            stream: "pledge-1".into(),
            version: 0,
            event_type: String::new(),
            payload: Vec::new(),
            metadata: Vec::new(),
            recorded_at: 0,
            prev_hash: [0; 32],
            hash: [0; 32],
        }
    }

    fn lane(positions: &[u64]) -> BoxStream<'static, Result<RecordedEvent, LogError>> {
        let events: Vec<_> = positions.iter().map(|p| Ok(event(*p))).collect();
        futures::stream::iter(events).boxed()
    }

    #[tokio::test]
    async fn lanes_merge_into_position_order_without_repeats() {
        let merged = merge_lanes(
            vec![lane(&[1, 4, 5, 9]), lane(&[2, 3, 3, 7, 10]), lane(&[6, 8])],
            2,
            |_| {},
        );
        let positions: Vec<u64> = merged.map(|e| e.unwrap().position).collect().await;
        assert_eq!(positions, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[tokio::test]
    async fn a_position_no_lane_has_is_left_as_a_hole_at_the_end() {
        let merged = merge_lanes(vec![lane(&[1, 3]), lane(&[4])], 1, |_| {});
        let positions: Vec<u64> = merged.map(|e| e.unwrap().position).collect().await;
        assert_eq!(positions, vec![1, 3, 4]);
    }
}
