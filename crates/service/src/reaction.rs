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
//!
//! What the runner does with an event it cannot take into effect is the policy every consumer
//! follows ([`crate::attention`]): an unknown type is skipped and counted; an undecodable
//! payload, a failure that outlasts its retries and a refusal by a rule are parked in the
//! "needs attention" queue with the cursor moving past them, and the reaction goes on. Between
//! events it looks for items an operator asked it to re-drive, and handles those again.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::{Aggregate, Event};
use fundtrail_log::{Consumer, ConsumerOptions, LogError};
use fundtrail_proto::{DecodeError, decode};
use fundtrail_store::{
    AttentionItem, AttentionKind, AttentionQuery, Cursor, EventStore, RecordedEvent, Redriven,
};
use fundtrail_telemetry::TRACE_TARGET;
use fundtrail_telemetry::metrics::attr;
use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;

pub use fundtrail_log::{EventSource, StoreSource};

use crate::attention::{self, RetryPolicy, Trouble};
use crate::context::CommandContext;
use crate::error::ServiceError;
use crate::ledger::Ledger;
use crate::stored::Stored;

/// What a reaction did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It wrote an effect, cursor included.
    Written,
    /// Nothing to do.
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

    /// Reacts again to an event it parked, on an operator's request, long after its cursor
    /// moved past it: like [`Reaction::handle`], but no cursor of the reaction's lanes may
    /// move (on Kafka the reaction's own name is the floor of every partition's cursor). By
    /// default the effect carries a cursor of its own that nothing resumes from.
    async fn redrive(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Handled, ServiceError> {
        let cursor = Cursor {
            consumer: format!("{}.redrive", self.name()),
            position: event.position,
        };
        self.handle(event, decoded, cursor).await
    }
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
        self.act(event, decoded, Some(cursor)).await
    }

    async fn redrive(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Handled, ServiceError> {
        self.act(event, decoded, None).await
    }
}

impl<P: Policy> ProcessManager<P> {
    /// Sends the command the event calls for, committing `cursor` with it when given.
    async fn act(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        cursor: Option<Cursor>,
    ) -> Result<Handled, ServiceError> {
        let Some(Effect { stream, command }) =
            self.policy.effect(&self.ledger, event, decoded).await?
        else {
            return Ok(Handled::Skipped);
        };
        let ctx = CommandContext::for_reaction(P::NAME, event)?;
        let decide = |target: &P::Target| target.decide(command.clone());
        let result = match cursor {
            Some(cursor) => {
                self.ledger
                    .react::<P::Target, _>(&ctx, &stream, decide, cursor)
                    .await?
            }
            None => {
                self.ledger
                    .execute::<P::Target, _>(&ctx, &stream, decide)
                    .await?
            }
        };
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
    #[error(transparent)]
    Store(#[from] fundtrail_store::StoreError),
}

/// Runs a reaction until `shutdown`, reopening the source after failures, with the default
/// [`RetryPolicy`].
pub async fn run(
    reaction: Arc<dyn Reaction>,
    store: Arc<dyn EventStore>,
    source: Arc<dyn EventSource>,
    shutdown: CancellationToken,
) {
    run_with(reaction, store, source, RetryPolicy::default(), shutdown).await;
}

/// Runs a reaction until `shutdown` with `policy`, reopening the source after failures.
pub async fn run_with(
    reaction: Arc<dyn Reaction>,
    store: Arc<dyn EventStore>,
    source: Arc<dyn EventSource>,
    policy: RetryPolicy,
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
        match consume(&*reaction, &store, &*source, &policy, &shutdown).await {
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

/// What came of one event.
enum Taken {
    Handled(Handled),
    /// Parked in the "needs attention" queue, with the cursor.
    Parked(AttentionKind),
    /// The server is stopping: the event is left for the next start.
    Stopped,
}

impl Taken {
    fn outcome(&self) -> &'static str {
        match self {
            Self::Handled(Handled::Written) => "written",
            Self::Handled(Handled::Skipped) => "skipped",
            Self::Parked(kind) => kind.as_str(),
            Self::Stopped => "stopped",
        }
    }
}

async fn consume(
    reaction: &dyn Reaction,
    store: &Arc<dyn EventStore>,
    source: &dyn EventSource,
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
) -> Result<(), RunError> {
    let name = reaction.name();
    let mut consumer =
        Consumer::open(name, store.clone(), source, ConsumerOptions::default()).await?;
    // Re-drives asked for while the reaction was down are waiting already.
    redrive_requested(reaction, &**store).await?;
    let mut poll = tokio::time::interval(policy.redrive_poll);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.reset();
    loop {
        let next = tokio::select! {
            () = shutdown.cancelled() => break,
            _ = poll.tick() => {
                // The tick interrupts the consumer's own idle wait, so it saves moved cursors
                // in its stead.
                consumer.flush().await?;
                redrive_requested(reaction, &**store).await?;
                continue;
            }
            next = consumer.next() => next,
        };
        let Some(next) = next else { break };
        let next = next?;
        let taken = match decode(&next.event.event_type, &next.event.payload) {
            Ok(decoded) => {
                let cursor = next.cursor.clone();
                take(
                    reaction,
                    &**store,
                    &next.event,
                    &decoded,
                    cursor,
                    policy,
                    shutdown,
                )
                .await?
            }
            Err(DecodeError::UnknownType(_)) => {
                attention::skip_unknown(name, &next.event);
                fundtrail_telemetry::metrics().consumer_events.add(
                    1,
                    &[
                        KeyValue::new(attr::CONSUMER, name),
                        KeyValue::new(attr::OUTCOME, "unknown"),
                    ],
                );
                consumer.done(next, false).await?;
                continue;
            }
            Err(error) => {
                attention::park(
                    &**store,
                    name,
                    &next.event,
                    Trouble::undecodable(&error),
                    1,
                    Some(next.cursor.clone()),
                )
                .await?;
                Taken::Parked(AttentionKind::Undecodable)
            }
        };
        if matches!(taken, Taken::Stopped) {
            break;
        }
        fundtrail_telemetry::metrics().consumer_events.add(
            1,
            &[
                KeyValue::new(attr::CONSUMER, name),
                KeyValue::new(attr::OUTCOME, taken.outcome()),
            ],
        );
        let wrote_cursor = matches!(taken, Taken::Handled(Handled::Written) | Taken::Parked(_));
        consumer.done(next, wrote_cursor).await?;
    }
    consumer.flush().await?;
    Ok(())
}

/// Handles one decoded event, retrying failures with backoff, and parks it when a rule
/// refuses its command or the failures outlast the attempts.
async fn take(
    reaction: &dyn Reaction,
    store: &dyn EventStore,
    event: &RecordedEvent,
    decoded: &Event,
    cursor: Cursor,
    policy: &RetryPolicy,
    shutdown: &CancellationToken,
) -> Result<Taken, RunError> {
    let name = reaction.name();
    let span = process_span(name, event);
    let mut attempt = 1;
    let trouble = loop {
        let error = match reaction
            .handle(event, decoded, cursor.clone())
            .instrument(span.clone())
            .await
        {
            Ok(handled) => {
                span.record("fundtrail.outcome", Taken::Handled(handled).outcome());
                return Ok(Taken::Handled(handled));
            }
            Err(error) => error,
        };
        if attention::is_outage(&error) {
            span.record("otel.status_code", "ERROR");
            return Err(error.into());
        }
        if matches!(error, ServiceError::Domain(_)) {
            break Trouble::of(&error);
        }
        if attempt >= policy.attempts.max(1) {
            span.record("otel.status_code", "ERROR");
            break Trouble::of(&error);
        }
        let wait = policy.backoff(attempt);
        tracing::info!(parent: &span, reaction = name, position = event.position, attempt, %error, ?wait, "reaction failed; trying again");
        tokio::select! {
            () = shutdown.cancelled() => return Ok(Taken::Stopped),
            () = tokio::time::sleep(wait) => {}
        }
        attempt += 1;
    };
    let kind = trouble.kind;
    span.record("fundtrail.outcome", kind.as_str());
    attention::park(store, name, event, trouble, attempt, Some(cursor)).await?;
    Ok(Taken::Parked(kind))
}

/// Handles again every item an operator asked this reaction to re-drive, and settles each:
/// resolved when it took effect (or no longer calls for any), open again otherwise.
async fn redrive_requested(
    reaction: &dyn Reaction,
    store: &dyn EventStore,
) -> Result<(), RunError> {
    let items = store
        .attention()
        .attention_items(&AttentionQuery::redrives(reaction.name()))
        .await?;
    for item in items {
        redrive(reaction, store, &item).await?;
    }
    Ok(())
}

async fn redrive(
    reaction: &dyn Reaction,
    store: &dyn EventStore,
    item: &AttentionItem,
) -> Result<(), RunError> {
    let name = reaction.name();
    let event = store
        .read_all(item.position, 1)
        .await?
        .into_iter()
        .next()
        .filter(|event| event.event_id == item.event_id);
    let outcome = match event {
        None => Redriven::StillFailing {
            kind: item.kind,
            reason: item.reason.clone(),
            cause: format!(
                "the store holds no event {} at position {}",
                item.event_id, item.position
            ),
        },
        Some(event) => match decode(&event.event_type, &event.payload) {
            Err(error) => still(Trouble::undecodable(&error)),
            Ok(decoded) => {
                let span = process_span(name, &event);
                match reaction.redrive(&event, &decoded).instrument(span).await {
                    Ok(_) => Redriven::Resolved,
                    Err(error) if attention::is_outage(&error) => return Err(error.into()),
                    Err(error) => still(Trouble::of(&error)),
                }
            }
        },
    };
    let settled = store.attention().settle_redrive(item.id, outcome).await?;
    if let Some(settled) = settled {
        tracing::info!(
            reaction = name,
            item = settled.id,
            position = settled.position,
            state = %settled.state,
            attempts = settled.attempts,
            cause = %settled.cause,
            "re-drove an event that needed attention"
        );
    }
    Ok(())
}

fn still(trouble: Trouble) -> Redriven {
    Redriven::StillFailing {
        kind: trouble.kind,
        reason: trouble.reason,
        cause: trouble.cause,
    }
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
