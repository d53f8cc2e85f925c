//! Process managers: reactions to events that write effects elsewhere.
//!
//! A reaction consumes the event history in position order from its checkpoint. When it has
//! an effect, the effect's events and the reaction's checkpoint commit in one transaction, so
//! a restart neither loses nor repeats an effect; its request id is derived from the event, so
//! even a reaction re-run from an older checkpoint replays instead of writing twice. Events
//! without an effect only move the checkpoint, which is saved lazily: re-reading them after a
//! crash changes nothing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::Event;
use fundtrail_proto::decode;
use fundtrail_store::{Checkpoint, EventStore, RecordedEvent, StoreError};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;

/// What a reaction did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It wrote an effect, checkpoint included.
    Written,
    /// Nothing to do (or the effect was refused by a rule and logged).
    Skipped,
}

#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// The consumer name the checkpoint is kept under.
    fn name(&self) -> &'static str;

    /// Reacts to one event. An effect must be written with `checkpoint` in its append.
    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        checkpoint: Checkpoint,
    ) -> Result<Handled, ServiceError>;
}

/// Where a reaction's events come from: every event from a position on, in position order.
pub trait EventSource: Send + Sync + 'static {
    fn events_from(&self, position: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;
}

/// The embedded log: the store's own subscription.
#[derive(Debug, Clone)]
pub struct StoreSource(pub Arc<dyn EventStore>);

impl EventSource for StoreSource {
    fn events_from(&self, position: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.0.subscribe(position)
    }
}

/// Skipped positions are saved after this many events or this much idle time.
const SAVE_EVERY: u64 = 512;
const IDLE_SAVE: Duration = Duration::from_millis(250);

/// Runs a reaction until `shutdown`, resubscribing after failures.
pub async fn run(
    reaction: Arc<dyn Reaction>,
    store: Arc<dyn EventStore>,
    source: Arc<dyn EventSource>,
    shutdown: CancellationToken,
) {
    let name = reaction.name();
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match consume(&*reaction, &*store, &*source, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                tracing::warn!(reaction = name, %error, ?backoff, "reaction failed; resuming from its checkpoint");
                tokio::select! {
                    () = shutdown.cancelled() => break,
                    () = tokio::time::sleep(backoff) => {}
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
    tracing::debug!(reaction = name, "reaction stopped");
}

async fn consume(
    reaction: &dyn Reaction,
    store: &dyn EventStore,
    source: &dyn EventSource,
    shutdown: &CancellationToken,
) -> Result<(), ServiceError> {
    let name = reaction.name();
    let mut saved = store.load_checkpoint(name).await?;
    let mut seen = saved;
    let mut events = source.events_from(saved + 1);
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => {
                if seen > saved {
                    store.save_checkpoint(name, seen).await?;
                }
                return Ok(());
            }
            next = tokio::time::timeout(IDLE_SAVE, events.next()) => next,
        };
        let event = match next {
            Err(_idle) => {
                if seen > saved {
                    store.save_checkpoint(name, seen).await?;
                    saved = seen;
                }
                continue;
            }
            Ok(None) => return Ok(()),
            Ok(Some(event)) => event?,
        };
        if event.position <= seen {
            continue; // delivered again by an at-least-once source
        }
        let decoded = decode(&event.event_type, &event.payload)?;
        let checkpoint = Checkpoint {
            consumer: name.to_owned(),
            position: event.position,
        };
        match reaction.handle(&event, &decoded, checkpoint).await {
            Ok(Handled::Written) => saved = event.position,
            Ok(Handled::Skipped) => {}
            Err(ServiceError::Domain(refusal)) => {
                tracing::info!(reaction = name, position = event.position, %refusal, "no effect: refused by a rule");
            }
            Err(error) => return Err(error),
        }
        seen = event.position;
        if seen - saved >= SAVE_EVERY {
            store.save_checkpoint(name, seen).await?;
            saved = seen;
        }
    }
}
