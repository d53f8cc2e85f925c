//! Where consumers get events from, whichever log carries them.

use std::fmt;
use std::sync::Arc;

use fundtrail_store::{EventStore, RecordedEvent};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::BoxStream;

use crate::error::LogError;

/// The unit of order a cursor covers.
///
/// The store and a NATS stream deliver everything in global position order, so one
/// cursor covers all events. Kafka keeps order only within a partition, so each partition
/// is a lane of its own with its own cursor: a lane's positions rise, but one lane can be
/// far ahead of another.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Lane {
    Global,
    Partition(i32),
}

impl Lane {
    /// The name the lane's cursor is stored under: the consumer's own name for the global
    /// lane, `<consumer>/p<partition>` for a Kafka partition.
    pub fn cursor_name(self, consumer: &str) -> String {
        match self {
            Self::Global => consumer.to_owned(),
            Self::Partition(partition) => format!("{consumer}/p{partition}"),
        }
    }

    /// Whether the lane holds every position (so a jump forward is a gap to fill).
    pub fn is_dense(self) -> bool {
        matches!(self, Self::Global)
    }
}

type AckFn = Box<dyn FnOnce() -> BoxFuture<'static, Result<(), LogError>> + Send>;

/// Tells the broker a delivery need not come again. Call it only once the consumer's effect
/// of the event (if any) is committed.
pub struct Ack(Option<AckFn>);

impl Ack {
    /// For sources without acknowledgements (the store).
    pub fn none() -> Self {
        Self(None)
    }

    pub fn new<F>(ack: F) -> Self
    where
        F: FnOnce() -> BoxFuture<'static, Result<(), LogError>> + Send + 'static,
    {
        Self(Some(Box::new(ack)))
    }

    pub async fn ack(self) -> Result<(), LogError> {
        match self.0 {
            Some(ack) => ack().await,
            None => Ok(()),
        }
    }
}

impl fmt::Debug for Ack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_some() {
            "Ack(pending)"
        } else {
            "Ack(none)"
        })
    }
}

/// One event as a log delivered it: at least once, in order within its lane.
#[derive(Debug)]
pub struct Delivery {
    pub event: RecordedEvent,
    pub lane: Lane,
    /// Bumped when the source's lanes were reassigned (a Kafka rebalance): another member may
    /// have moved a lane's cursor meanwhile, so what a consumer cached for it is stale.
    pub generation: u64,
    pub ack: Ack,
}

impl Delivery {
    pub fn global(event: RecordedEvent) -> Self {
        Self {
            event,
            lane: Lane::Global,
            generation: 0,
            ack: Ack::none(),
        }
    }
}

/// A log to consume: every event, at least once, in order within each lane.
///
/// One source serves any number of consumers; each call opens a delivery stream for one.
/// Brokers keep their own per-consumer progress (a Kafka group's offsets, a NATS durable
/// consumer); `from` — the consumer's global cursor + 1 — is where a source without such
/// progress (the store) starts. The stream ends after yielding an error; open it again.
pub trait EventSource: Send + Sync + 'static {
    fn deliveries(
        &self,
        consumer: &str,
        from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>>;
}

/// Any log read in global position order, for consumers whose decisions depend on the order
/// of events across countries (which match a pool reserves first, which its funds confirm).
///
/// Every delivery counts as the global lane: when a partition runs ahead, the consumer reads
/// the positions it skipped from the store, and drops them as repeats when their own
/// partitions deliver them later. On the store and NATS, which deliver in order already, it
/// changes nothing.
#[derive(Clone)]
pub struct InPositionOrder(pub Arc<dyn EventSource>);

impl fmt::Debug for InPositionOrder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("InPositionOrder")
    }
}

impl EventSource for InPositionOrder {
    fn deliveries(
        &self,
        consumer: &str,
        from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        self.0
            .deliveries(consumer, from)
            .map(|delivery| {
                delivery.map(|mut delivery| {
                    delivery.lane = Lane::Global;
                    delivery
                })
            })
            .boxed()
    }
}

/// Events the embedded log reads ahead of its consumer. Enough for one that takes whatever
/// has arrived as a batch (the projector folds up to thousands of events per transaction),
/// so catching up does not shrink its batches to the channel's size.
const READ_AHEAD: usize = 4096;

/// The embedded log: the store's own catch-up-then-live subscription.
///
/// The subscription runs in a task of its own and hands events over through a channel, so a
/// consumer that stops polling (idle, or saving its cursor or its views) never leaves a
/// read halfway with a connection held — on a pool of one (an in-memory `SQLite` store) that
/// connection is the one the consumer's next query waits for. Needs a Tokio runtime.
#[derive(Debug, Clone)]
pub struct StoreSource(pub Arc<dyn EventStore>);

impl EventSource for StoreSource {
    fn deliveries(
        &self,
        _consumer: &str,
        from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let (sender, receiver) = tokio::sync::mpsc::channel(READ_AHEAD);
        let mut events = self.0.subscribe(from);
        tokio::spawn(async move {
            loop {
                let event = tokio::select! {
                    () = sender.closed() => return,
                    event = events.next() => event,
                };
                let Some(event) = event else { return };
                let last = event.is_err();
                let delivery = event.map(Delivery::global).map_err(LogError::from);
                if sender.send(delivery).await.is_err() || last {
                    return;
                }
            }
        });
        futures::stream::unfold(receiver, |mut receiver| async move {
            receiver.recv().await.map(|delivery| (delivery, receiver))
        })
        .boxed()
    }
}
