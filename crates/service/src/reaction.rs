//! Process managers: reactions to events that write effects elsewhere.
//!
//! A reaction consumes the log — whichever one configuration chose — through
//! [`fundtrail_log::Consumer`]: at least once, in order within each lane, with repeats
//! dropped by position. When it has an effect, the effect's events and the checkpoint it is
//! handed commit in one transaction, so a restart neither loses nor repeats an effect; its
//! request id is derived from the event, so even a reaction re-run from an older checkpoint
//! replays instead of writing twice. Events without an effect only move the checkpoint, which
//! is saved lazily: re-reading them after a crash changes nothing.
//!
//! The reaction never sees which log it runs on: the checkpoint it is handed is its own name
//! on an ordered log, and `<name>/p<partition>` on Kafka.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::Event;
use fundtrail_log::{Consumer, ConsumerOptions, LogError};
use fundtrail_proto::{DecodeError, decode};
use fundtrail_store::{Checkpoint, EventStore, RecordedEvent};
use tokio_util::sync::CancellationToken;

pub use fundtrail_log::{EventSource, StoreSource};

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

#[derive(Debug, thiserror::Error)]
enum RunError {
    #[error(transparent)]
    Log(#[from] LogError),
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("position {position}: {error}")]
    Decode { position: u64, error: DecodeError },
}

/// Runs a reaction until `shutdown`, reopening the source after failures.
pub async fn run(
    reaction: Arc<dyn Reaction>,
    store: Arc<dyn EventStore>,
    source: Arc<dyn EventSource>,
    shutdown: CancellationToken,
) {
    let name = reaction.name();
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match consume(&*reaction, &store, &*source, &shutdown).await {
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
    store: &Arc<dyn EventStore>,
    source: &dyn EventSource,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let name = reaction.name();
    let mut consumer =
        Consumer::open(name, store.clone(), source, ConsumerOptions::default()).await?;
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            next = consumer.next() => next,
        };
        let Some(next) = next else { break };
        let next = next?;
        let decoded = decode(&next.event.event_type, &next.event.payload).map_err(|error| {
            RunError::Decode {
                position: next.event.position,
                error,
            }
        })?;
        let written = match reaction
            .handle(&next.event, &decoded, next.checkpoint.clone())
            .await
        {
            Ok(Handled::Written) => true,
            Ok(Handled::Skipped) => false,
            Err(ServiceError::Domain(refusal)) => {
                tracing::info!(reaction = name, position = next.event.position, %refusal, "no effect: refused by a rule");
                false
            }
            Err(error) => return Err(error.into()),
        };
        consumer.done(next, written).await?;
    }
    consumer.flush().await?;
    Ok(())
}
