//! Process managers: reactions to events that write effects elsewhere.
//!
//! A reaction consumes the log — whichever one configuration chose — through
//! [`fundtrail_log::Consumer`]: at least once, in order within each lane, with repeats
//! dropped by position. When it has an effect, the effect's events and the cursor it is
//! handed commit in one transaction, so a restart neither loses nor repeats an effect; its
//! request id is derived from the event, so even a reaction re-run from an older cursor
//! replays instead of writing twice. Events without an effect only move the cursor, which
//! is saved lazily: re-reading them after a crash changes nothing.
//!
//! The reaction never sees which log it runs on: the cursor it is handed is its own name
//! on an ordered log, and `<name>/p<partition>` on Kafka.
//!
//! Its handling of an event is a span, child of the span that recorded the event, so what it
//! writes stays in the trace of the command that caused it (docs/observability.md).
//!
//! A process manager states only its [`Policy`] — which command an event calls for, and for
//! which stream; [`ProcessManager`] makes it a reaction.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::{Aggregate, Event};
use fundtrail_log::{Consumer, ConsumerOptions, LogError};
use fundtrail_proto::{DecodeError, decode};
use fundtrail_store::{Cursor, EventStore, RecordedEvent};
use fundtrail_telemetry::TRACE_TARGET;
use fundtrail_telemetry::metrics::attr;
use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;

pub use fundtrail_log::{EventSource, StoreSource};

use crate::context::CommandContext;
use crate::error::ServiceError;
use crate::ledger::Ledger;
use crate::stored::Stored;

/// What a reaction did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It wrote an effect, cursor included.
    Written,
    /// Nothing to do (or the effect was refused by a rule and logged).
    Skipped,
}

#[async_trait]
pub trait Reaction: Send + Sync + 'static {
    /// The consumer name the cursor is kept under.
    fn name(&self) -> &'static str;

    /// Whether the reaction must see events in global position order on every log. Kafka
    /// orders events only within a country's partition; a reaction whose effects commute
    /// (crediting an account once per allocation) does not care, one whose decisions depend
    /// on what came first (a matching pool's cap and its first-reserved-first confirmations)
    /// does, or its outcome would depend on which log carried the events.
    fn in_position_order(&self) -> bool {
        false
    }

    /// Reacts to one event. An effect must be written with `cursor` in its append.
    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        cursor: Cursor,
    ) -> Result<Handled, ServiceError>;
}

/// What a process manager does with an event: the command, if any, it sends to one aggregate.
#[async_trait]
pub trait Policy: Send + Sync + 'static {
    /// The consumer name the cursor is kept under, and the actor of what it writes.
    const NAME: &'static str;

    /// See [`Reaction::in_position_order`].
    const IN_POSITION_ORDER: bool = false;

    /// The aggregate its commands go to.
    type Target: Stored<Event: Send + Sync + Clone, Command: Send + Sync + Clone>;

    /// The command `event` calls for, and the stream it goes to; `None` when it calls for none.
    async fn effect(
        &self,
        ledger: &Ledger,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Option<Effect<Self::Target>>, ServiceError>;
}

/// A command for the aggregate whose stream is `stream`.
pub struct Effect<A: Aggregate> {
    pub stream: String,
    pub command: A::Command,
}

impl<A: Aggregate> std::fmt::Debug for Effect<A> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Effect")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

/// A [`Policy`] and the ledger it writes through: the reaction a server runs. Its request id
/// is derived from the event and its cursor commits with the command's events.
#[derive(Debug, Clone)]
pub struct ProcessManager<P> {
    ledger: Ledger,
    policy: P,
}

impl<P: Policy> ProcessManager<P> {
    pub const NAME: &'static str = P::NAME;

    pub fn new(ledger: Ledger) -> Self
    where
        P: Default,
    {
        Self {
            ledger,
            policy: P::default(),
        }
    }
}

#[async_trait]
impl<P: Policy> Reaction for ProcessManager<P> {
    fn name(&self) -> &'static str {
        P::NAME
    }

    fn in_position_order(&self) -> bool {
        P::IN_POSITION_ORDER
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        cursor: Cursor,
    ) -> Result<Handled, ServiceError> {
        let Some(Effect { stream, command }) =
            self.policy.effect(&self.ledger, event, decoded).await?
        else {
            return Ok(Handled::Skipped);
        };
        let ctx = CommandContext::for_reaction(P::NAME, event)?;
        let result = self
            .ledger
            .react::<P::Target, _>(
                &ctx,
                &stream,
                |target| target.decide(command.clone()),
                cursor,
            )
            .await?;
        // A decision without events (the aggregate knew the event already) wrote nothing; the
        // ledger saved the cursor on its own.
        Ok(if result.event_count == 0 {
            Handled::Skipped
        } else {
            Handled::Written
        })
    }
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
    let source: Arc<dyn EventSource> = if reaction.in_position_order() {
        Arc::new(fundtrail_log::InPositionOrder(source))
    } else {
        source
    };
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_cancelled() {
        match consume(&*reaction, &store, &*source, &shutdown).await {
            Ok(()) => break,
            Err(error) => {
                fundtrail_telemetry::metrics()
                    .consumer_errors
                    .add(1, &[KeyValue::new(attr::CONSUMER, name)]);
                tracing::warn!(reaction = name, %error, ?backoff, "reaction failed; resuming from its cursor");
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
        let span = process_span(name, &next.event);
        let (written, outcome) = match reaction
            .handle(&next.event, &decoded, next.cursor.clone())
            .instrument(span.clone())
            .await
        {
            Ok(Handled::Written) => (true, "written"),
            Ok(Handled::Skipped) => (false, "skipped"),
            Err(ServiceError::Domain(refusal)) => {
                tracing::info!(parent: &span, reaction = name, position = next.event.position, %refusal, "no effect: refused by a rule");
                (false, "refused")
            }
            Err(error) => {
                span.record("otel.status_code", "ERROR");
                return Err(error.into());
            }
        };
        span.record("fundtrail.outcome", outcome);
        fundtrail_telemetry::metrics().consumer_events.add(
            1,
            &[
                KeyValue::new(attr::CONSUMER, name),
                KeyValue::new(attr::OUTCOME, outcome),
            ],
        );
        consumer.done(next, written).await?;
    }
    consumer.flush().await?;
    Ok(())
}

/// The span of a reaction to one event: a child of the span that recorded the event, so the
/// reaction and the effects it writes belong to the trace of the command that caused them.
/// Events recorded outside any trace get none, and their effects start traces of their own.
fn process_span(name: &'static str, event: &RecordedEvent) -> tracing::Span {
    if !fundtrail_telemetry::enabled() {
        return tracing::Span::none();
    }
    let Some(trace) = fundtrail_log::envelope::trace_context(&event.metadata) else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        parent: None,
        "process",
        otel.name = %format!("process {name}"),
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.consumer.group.name = name,
        fundtrail.position = event.position,
        fundtrail.event_type = %event.event_type,
        fundtrail.outcome = Empty,
    );
    trace.parent(&span);
    span
}
