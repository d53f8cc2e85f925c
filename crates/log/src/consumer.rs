//! Consuming any log with cursors in the database: dedup by position, per lane.
//!
//! Delivery is at least once. A consumer commits, with each effect, the cursor of the
//! event's lane ([`Next::cursor`]); an event whose position is not above its lane's
//! cursor was already handled and is dropped here. Events without an effect only move the
//! cursor in memory, saved every so often: handling them again after a crash changes
//! nothing.
//!
//! A dense lane (the store, a NATS stream) holds every position, so a jump forward means the
//! broker delivered out of order — a redelivery overtaken by newer messages after a restart,
//! or a hole left by a publish that failed while later ones succeeded. The missing events are
//! read from the store, whose database the cursors live in anyway, so nothing is skipped.
//! Kafka lanes are not dense (a partition holds some countries); the broker's per-partition
//! order and the relay's idempotent producer keep them gap-free.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_store::{Cursor, EventStore, RecordedEvent};
use fundtrail_telemetry::metrics::attr;
use futures::StreamExt;
use futures::stream::BoxStream;
use opentelemetry::KeyValue;

use crate::error::LogError;
use crate::source::{Ack, Delivery, EventSource, Lane};

#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Cursors moved only in memory are saved after this many events…
    pub save_every: u64,
    /// …or when nothing arrived for this long.
    pub idle_save: Duration,
    /// Most events read from the store at once to fill a gap.
    pub fill_batch: usize,
}

impl Default for ConsumerOptions {
    fn default() -> Self {
        Self {
            save_every: 512,
            idle_save: Duration::from_millis(250),
            fill_batch: 500,
        }
    }
}

/// An event to handle and the cursor to commit with its effect.
#[derive(Debug)]
pub struct Next {
    pub event: RecordedEvent,
    pub cursor: Cursor,
    lane: Lane,
    ack: Ack,
}

#[derive(Debug, Clone, Copy)]
struct LaneState {
    generation: u64,
    /// Stored in the database.
    saved: u64,
    /// Handled (effect committed, or none needed).
    seen: u64,
    /// Handed out by `next`.
    handed: u64,
}

/// One consumer's view of a log. Use it sequentially: `next`, handle, `done`, `next`…
pub struct Consumer {
    name: String,
    store: Arc<dyn EventStore>,
    deliveries: BoxStream<'static, Result<Delivery, LogError>>,
    lanes: HashMap<Lane, LaneState>,
    /// The global cursor at open: a floor for every lane, so a consumer moved from an
    /// ordered log to Kafka does not handle again what it handled before.
    floor: u64,
    filling: VecDeque<RecordedEvent>,
    /// A delivery taken from the stream and not yet decided on; kept here across awaits so
    /// that dropping `next` loses nothing.
    pending: Option<Delivery>,
    /// The source ended; it may not be polled again.
    ended: bool,
    options: ConsumerOptions,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Consumer")
            .field("name", &self.name)
            .field("lanes", &self.lanes)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    pub async fn open(
        name: &str,
        store: Arc<dyn EventStore>,
        source: &dyn EventSource,
        options: ConsumerOptions,
    ) -> Result<Self, LogError> {
        let floor = store.load_cursor(name).await?;
        let lanes = HashMap::from([(Lane::Global, LaneState::at(0, floor))]);
        Ok(Self {
            name: name.to_owned(),
            deliveries: source.deliveries(name, floor + 1),
            store,
            lanes,
            floor,
            filling: VecDeque::new(),
            pending: None,
            ended: false,
            options,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The next event not handled yet; `None` when the source ended. Saves moved cursors
    /// while idle. Dropping the future (to stop) loses nothing.
    pub async fn next(&mut self) -> Option<Result<Next, LogError>> {
        loop {
            if let Some(event) = self.filling.pop_front() {
                return Some(Ok(self.hand_out(event, Lane::Global, Ack::none())));
            }
            if self.pending.is_none() {
                if self.ended {
                    return None;
                }
                match tokio::time::timeout(self.options.idle_save, self.deliveries.next()).await {
                    Err(_idle) => {
                        if let Err(error) = self.flush().await {
                            return Some(Err(error));
                        }
                        continue;
                    }
                    Ok(None) => {
                        self.ended = true;
                        return None;
                    }
                    Ok(Some(Err(error))) => return Some(Err(error)),
                    Ok(Some(Ok(delivery))) => self.pending = Some(delivery),
                }
            }
            match self.admit().await {
                Ok(Some(next)) => return Some(Ok(next)),
                Ok(None) => {}
                Err(error) => return Some(Err(error)),
            }
        }
    }

    /// Records that `next` was handled — with its cursor committed (`wrote_cursor`) or
    /// with no effect — and acknowledges it to the broker.
    pub async fn done(&mut self, next: Next, wrote_cursor: bool) -> Result<(), LogError> {
        let position = next.event.position;
        let state = self
            .lanes
            .entry(next.lane)
            .or_insert_with(|| LaneState::at(0, 0));
        state.seen = state.seen.max(position);
        if wrote_cursor {
            state.saved = state.saved.max(position);
        }
        let behind = state.seen - state.saved;
        if let Err(error) = next.ack.ack().await {
            // The broker will deliver it again; the cursor drops it then.
            tracing::debug!(consumer = %self.name, position, %error, "acknowledgement failed");
        }
        if behind >= self.options.save_every {
            self.save(&[next.lane]).await?;
        }
        Ok(())
    }

    /// Saves every cursor moved only in memory.
    pub async fn flush(&mut self) -> Result<(), LogError> {
        let lanes: Vec<Lane> = self
            .lanes
            .iter()
            .filter(|(_, s)| s.seen > s.saved)
            .map(|(lane, _)| *lane)
            .collect();
        self.save(&lanes).await
    }

    async fn save(&mut self, which: &[Lane]) -> Result<(), LogError> {
        save_lanes(&*self.store, &self.name, &mut self.lanes, which).await
    }

    fn hand_out(&mut self, event: RecordedEvent, lane: Lane, ack: Ack) -> Next {
        if let Some(state) = self.lanes.get_mut(&lane) {
            state.handed = state.handed.max(event.position);
        }
        Next {
            cursor: Cursor {
                consumer: lane.cursor_name(&self.name),
                position: event.position,
            },
            event,
            lane,
            ack,
        }
    }

    /// Decides on the pending delivery: hand it out, drop it as a duplicate, or first fill
    /// the gap before it.
    async fn admit(&mut self) -> Result<Option<Next>, LogError> {
        let Some((lane, generation, position)) = self
            .pending
            .as_ref()
            .map(|d| (d.lane, d.generation, d.event.position))
        else {
            return Ok(None);
        };
        let state = self.lane(lane, generation).await?;
        if position <= state.handed {
            fundtrail_telemetry::metrics()
                .consumer_duplicates
                .add(1, &[KeyValue::new(attr::CONSUMER, self.name.clone())]);
            if let Some(duplicate) = self.pending.take() {
                // Already handled here: only the broker needs telling.
                if let Err(error) = duplicate.ack.ack().await {
                    tracing::debug!(consumer = %self.name, position, %error, "acknowledgement failed");
                }
            }
            return Ok(None);
        }
        if lane.is_dense() && position > state.handed + 1 {
            let missing = usize::try_from(position - state.handed - 1)
                .unwrap_or(usize::MAX)
                .min(self.options.fill_batch.max(1));
            let events = self.store.read_all(state.handed + 1, missing).await?;
            if events.first().map(|e| e.position) != Some(state.handed + 1) {
                return Err(LogError::Malformed(format!(
                    "the log delivered position {position} but the store has no position {}; \
                     is the log fed from another store?",
                    state.handed + 1
                )));
            }
            tracing::debug!(consumer = %self.name, from = state.handed + 1, count = events.len(), "filling a gap from the store");
            self.filling
                .extend(events.into_iter().filter(|e| e.position < position));
            return Ok(None);
        }
        Ok(self
            .pending
            .take()
            .map(|delivery| self.hand_out(delivery.event, delivery.lane, delivery.ack)))
    }

    /// The lane's state, loaded from the database when first seen or after a reassignment.
    async fn lane(&mut self, lane: Lane, generation: u64) -> Result<LaneState, LogError> {
        if let Some(state) = self.lanes.get(&lane).copied() {
            if state.generation == generation {
                return Ok(state);
            }
            // What was handled here stays handled, whoever owns the lane now.
            if state.seen > state.saved {
                self.save(&[lane]).await?;
            }
        }
        let stored = match lane {
            Lane::Global => self.store.load_cursor(&self.name).await?,
            Lane::Partition(_) => self
                .store
                .load_cursor(&lane.cursor_name(&self.name))
                .await?
                .max(self.floor),
        };
        let state = LaneState::at(generation, stored);
        self.lanes.insert(lane, state);
        Ok(state)
    }
}

impl LaneState {
    fn at(generation: u64, position: u64) -> Self {
        Self {
            generation,
            saved: position,
            seen: position,
            handed: position,
        }
    }
}

async fn save_lanes(
    store: &dyn EventStore,
    name: &str,
    lanes: &mut HashMap<Lane, LaneState>,
    which: &[Lane],
) -> Result<(), LogError> {
    for lane in which {
        let Some(state) = lanes.get_mut(lane) else {
            continue;
        };
        if state.seen > state.saved {
            store
                .save_cursor(&lane.cursor_name(name), state.seen)
                .await?;
            state.saved = state.seen;
        }
    }
    Ok(())
}
