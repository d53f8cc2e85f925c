//! Where the projector's events come from.
//!
//! Any log can feed the projector: the store's own subscription (embedded), or a broker whose
//! deliveries are put back into position order. Delivery may be at least once and may start
//! before the position asked for; the projector drops what its views already hold, and fills
//! a hole in the positions from the store.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use fundtrail_store::{EventStore, RecordedEvent};
use fundtrail_telemetry::metrics::attr;
use futures::stream::{BoxStream, SelectAll};
use futures::{Stream, StreamExt};
use opentelemetry::KeyValue;

/// Why a source could not deliver.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// A log of the fund's events, in position order.
pub trait EventSource: Send + Sync + 'static {
    /// Every event from position `from` on, in position order. The stream ends after yielding
    /// an error; the projector opens it again from its checkpoint.
    fn events_from(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent, SourceError>>;

    /// Every event up to `position` is durably in the views: a broker may stop redelivering it.
    fn acknowledge(&self, _position: u64) {}
}

/// The embedded log: the store's catch-up-then-live subscription.
///
/// The subscription runs in a task of its own and hands events over through a channel: the
/// projector stops polling while it commits, and a read left halfway would hold a connection
/// that the commit waits for (on an in-memory SQLite store, the pool's only one).
#[derive(Debug, Clone)]
pub struct StoreSource(pub Arc<dyn EventStore>);

impl EventSource for StoreSource {
    fn events_from(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent, SourceError>> {
        let (sender, mut receiver) = tokio::sync::mpsc::channel(4096);
        let mut events = self.0.subscribe(from);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = sender.closed() => return,
                    event = events.next() => event,
                };
                let Some(event) = event else { return };
                let last = event.is_err();
                let item = event.map_err(|e| Box::new(e) as SourceError);
                if sender.send(item).await.is_err() || last {
                    return;
                }
            }
        });
        futures::stream::poll_fn(move |cx| receiver.poll_recv(cx)).boxed()
    }
}

/// A log of `fundtrail_log` (Kafka, NATS `JetStream` or the store) as the projector's source.
///
/// Kafka delivers in order only within a partition, so the deliveries are put back into
/// position order ([`merge_lanes`]); the broker is told a delivery need not come again once
/// the views have committed it. The views need every event, so a projector consumes every
/// partition: give each projector a consumer name of its own rather than sharing a group.
pub struct LogSource {
    log: Arc<dyn fundtrail_log::EventSource>,
    consumer: String,
    pending: Arc<Mutex<BTreeMap<u64, fundtrail_log::Ack>>>,
}

impl std::fmt::Debug for LogSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSource")
            .field("consumer", &self.consumer)
            .finish_non_exhaustive()
    }
}

impl LogSource {
    pub fn new(log: Arc<dyn fundtrail_log::EventSource>, consumer: impl Into<String>) -> Self {
        Self {
            log,
            consumer: consumer.into(),
            pending: Arc::new(Mutex::new(BTreeMap::new())),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, fundtrail_log::Ack>> {
        self.pending.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl EventSource for LogSource {
    fn events_from(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent, SourceError>> {
        self.pending().clear();
        let pending = self.pending.clone();
        let deliveries = self
            .log
            .deliveries(&self.consumer, from)
            .map(move |delivery| match delivery {
                Ok(delivery) => {
                    pending
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .insert(delivery.event.position, delivery.ack);
                    Ok(delivery.event)
                }
                Err(error) => Err(Box::new(error) as SourceError),
            })
            .boxed();
        let consumer = self.consumer.clone();
        merge_lanes_with(vec![deliveries], from, move |_| {
            fundtrail_telemetry::metrics()
                .consumer_duplicates
                .add(1, &[KeyValue::new(attr::CONSUMER, consumer.clone())]);
        })
        .boxed()
    }

    fn acknowledge(&self, position: u64) {
        let acks: Vec<fundtrail_log::Ack> = {
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

/// Events held back waiting for an earlier position before the merge gives up on it.
const MAX_HELD: usize = 10_000;

/// Merges lanes that are each in position order (Kafka partitions) into one stream in global
/// position order, starting at `from`.
///
/// Positions are dense across all lanes together, so the next position is always at the head
/// of some lane: the merge holds the heads it has seen and releases them in order as soon as
/// the next one turns up, without waiting on idle lanes. Repeats (at-least-once delivery) are
/// dropped. A position no lane produces (a lane set that does not cover every partition) is
/// skipped after [`MAX_HELD`] later events, and the projector fills it from the store.
pub fn merge_lanes(
    lanes: Vec<BoxStream<'static, Result<RecordedEvent, SourceError>>>,
    from: u64,
) -> impl Stream<Item = Result<RecordedEvent, SourceError>> + Send + 'static {
    merge_lanes_with(lanes, from, |_| {})
}

/// [`merge_lanes`], telling `on_repeat` the position of every repeat it drops.
pub fn merge_lanes_with(
    lanes: Vec<BoxStream<'static, Result<RecordedEvent, SourceError>>>,
    from: u64,
    on_repeat: impl Fn(u64) + Send + Sync + 'static,
) -> impl Stream<Item = Result<RecordedEvent, SourceError>> + Send + 'static {
    let merged: SelectAll<_> = futures::stream::select_all(lanes);
    let on_repeat = Arc::new(on_repeat);
    futures::stream::unfold(
        (merged, BTreeMap::<u64, RecordedEvent>::new(), from),
        move |(mut merged, mut held, mut next)| {
            let on_repeat = on_repeat.clone();
            async move {
                loop {
                    if let Some(event) = held.remove(&next) {
                        next += 1;
                        return Some((Ok(event), (merged, held, next)));
                    }
                    match merged.next().await {
                        None => {
                            // The lanes ended: release what is held, in order, holes and all.
                            let (_, event) = held.pop_first()?;
                            next = event.position + 1;
                            return Some((Ok(event), (merged, held, next)));
                        }
                        Some(Err(error)) => return Some((Err(error), (merged, held, next))),
                        Some(Ok(event))
                            if event.position < next || held.contains_key(&event.position) =>
                        {
                            on_repeat(event.position);
                        }
                        Some(Ok(event)) => {
                            held.insert(event.position, event);
                            if held.len() > MAX_HELD {
                                // The next position is not coming from these lanes: let it be a
                                // hole for the projector to fill rather than hold everything.
                                let (_, event) = held.pop_first()?;
                                next = event.position + 1;
                                return Some((Ok(event), (merged, held, next)));
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

    fn lane(positions: &[u64]) -> BoxStream<'static, Result<RecordedEvent, SourceError>> {
        let events: Vec<_> = positions.iter().map(|p| Ok(event(*p))).collect();
        futures::stream::iter(events).boxed()
    }

    #[tokio::test]
    async fn lanes_merge_into_position_order_without_repeats() {
        let merged = merge_lanes(
            vec![lane(&[1, 4, 5, 9]), lane(&[2, 3, 3, 7, 10]), lane(&[6, 8])],
            2,
        );
        let positions: Vec<u64> = merged.map(|e| e.unwrap().position).collect().await;
        assert_eq!(positions, vec![2, 3, 4, 5, 6, 7, 8, 9, 10]);
    }

    #[tokio::test]
    async fn a_position_no_lane_has_is_left_as_a_hole_at_the_end() {
        let merged = merge_lanes(vec![lane(&[1, 3]), lane(&[4])], 1);
        let positions: Vec<u64> = merged.map(|e| e.unwrap().position).collect().await;
        assert_eq!(positions, vec![1, 3, 4]);
    }
}
