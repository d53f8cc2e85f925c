//! The one policy of every consumer of the log for events it cannot take into effect.
//!
//! - An event of a type this version does not know (written by a newer version during a
//!   rolling upgrade) concerns none of its rules: it is skipped, counted
//!   (`fundtrail.consumer.unknown_events`) and logged with the consumer and the position.
//! - An event of a known type whose payload does not decode, a handling failure that outlasts
//!   the consumer's retries ([`RetryPolicy`]), and a command of a process manager refused by a
//!   business rule are **parked**: recorded in the store's "needs attention" queue
//!   (`fundtrail_store::attention`) in the same transaction as the cursor moving past the
//!   event, and the consumer goes on with the next one. Refused items are the trust fund's
//!   queue of what needs a person: a receipt a pool could not match, a release a pledge refused.
//! - An operator asks for a re-drive (the Attention API); the consumer that parked the item
//!   finds the request between events ([`RetryPolicy::redrive_poll`]), handles the event again
//!   and settles the item. Its effects' request ids are derived from the event, so a re-drive
//!   never writes an effect twice.
//!
//! A database that cannot be reached is not the event's fault: the consumer resumes from its
//! cursor once it is back rather than parking everything that arrives meanwhile.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_domain::DomainError;
use fundtrail_store::{
    AttentionItem, AttentionKind, AttentionState, Cursor, EventStore, Parked, RecordedEvent,
    StoreError,
};
use fundtrail_telemetry::metrics::attr;
use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;

use crate::error::ServiceError;

/// How a consumer retries an event before parking it, and how often it looks for re-drives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts at handling one event, the first included, before it is parked as failed.
    pub attempts: u32,
    /// The wait after the first failed attempt; it doubles after each one…
    pub first_backoff: Duration,
    /// …up to this.
    pub max_backoff: Duration,
    /// How often the consumer looks for items an operator asked it to re-drive.
    pub redrive_poll: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(2),
            redrive_poll: Duration::from_secs(1),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `attempt` (from 1).
    pub fn backoff(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(20);
        self.first_backoff
            .saturating_mul(1 << doublings)
            .min(self.max_backoff)
    }
}

/// Whether a failure is the consumer's surroundings rather than the event: the store out of
/// reach, the server stopping. Those are waited out, never parked.
pub fn is_outage(error: &ServiceError) -> bool {
    matches!(
        error,
        ServiceError::Store(StoreError::Unavailable(_)) | ServiceError::Stopping(_)
    )
}

/// The reason code a refusal is recorded with: the rule's code, or `INVALID_ARGUMENT` for a
/// command the event made malformed.
pub fn reason_of(refusal: &DomainError) -> &'static str {
    match refusal {
        DomainError::Refused { reason, .. } => reason.code(),
        DomainError::Invalid { .. } => "INVALID_ARGUMENT",
    }
}

/// What went wrong with one event, as it is parked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trouble {
    pub kind: AttentionKind,
    pub reason: String,
    pub cause: String,
}

impl Trouble {
    pub fn undecodable(error: &impl std::fmt::Display) -> Self {
        Self {
            kind: AttentionKind::Undecodable,
            reason: String::new(),
            cause: error.to_string(),
        }
    }

    /// A failure of handling: a refusal by a rule, or anything else.
    pub fn of(error: &ServiceError) -> Self {
        match error {
            ServiceError::Domain(refusal) => Self {
                kind: AttentionKind::Refused,
                reason: reason_of(refusal).to_owned(),
                cause: refusal.to_string(),
            },
            other => Self {
                kind: AttentionKind::Failed,
                reason: String::new(),
                cause: other.to_string(),
            },
        }
    }
}

/// Skips an event of a type this version does not know: counted and logged.
pub fn skip_unknown(consumer: &str, event: &RecordedEvent) {
    fundtrail_telemetry::metrics()
        .consumer_unknown_events
        .add(1, &[KeyValue::new(attr::CONSUMER, consumer.to_owned())]);
    tracing::warn!(
        consumer,
        position = event.position,
        event_type = %event.event_type,
        "skipped an event of a type this version does not know"
    );
}

/// Parks `event` for `consumer` and moves `cursor` past it in the same transaction.
pub async fn park(
    store: &dyn EventStore,
    consumer: &str,
    event: &RecordedEvent,
    trouble: Trouble,
    attempts: u32,
    cursor: Option<Cursor>,
) -> Result<AttentionItem, StoreError> {
    let item = store
        .attention()
        .park(
            Parked {
                consumer: consumer.to_owned(),
                position: event.position,
                event_id: event.event_id,
                stream: event.stream.clone(),
                event_type: event.event_type.clone(),
                kind: trouble.kind,
                reason: trouble.reason,
                cause: trouble.cause,
                attempts,
            },
            cursor,
        )
        .await?;
    tracing::warn!(
        consumer,
        position = event.position,
        event_type = %event.event_type,
        item = item.id,
        kind = %item.kind,
        reason = %item.reason,
        cause = %item.cause,
        "parked an event that needs attention; going on with the next"
    );
    Ok(item)
}

/// How often the open items are counted for the gauge.
pub const COUNT_INTERVAL: Duration = Duration::from_secs(15);

/// Records, every `interval` until `shutdown`, how many items need attention per consumer,
/// kind and state (`fundtrail.attention.items`), from the table every consumer writes to, so
/// one process reports for all of them.
pub async fn watch_items(
    store: Arc<dyn EventStore>,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    // Series that went to zero must say so rather than keep their last value.
    let mut reported: Vec<(String, AttentionKind, AttentionState)> = Vec::new();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let counts = match store.attention().attention_counts().await {
            Ok(counts) => counts,
            Err(error) => {
                tracing::debug!(%error, "could not count the items that need attention");
                continue;
            }
        };
        let gauge = &fundtrail_telemetry::metrics().attention_items;
        let mut now = Vec::new();
        for count in counts
            .iter()
            .filter(|c| c.state != AttentionState::Resolved)
        {
            gauge.record(
                count.count,
                &series(&count.consumer, count.kind, count.state),
            );
            now.push((count.consumer.clone(), count.kind, count.state));
        }
        for gone in reported.iter().filter(|r| !now.contains(r)) {
            gauge.record(0, &series(&gone.0, gone.1, gone.2));
        }
        reported = now;
    }
}

fn series(consumer: &str, kind: AttentionKind, state: AttentionState) -> [KeyValue; 3] {
    [
        KeyValue::new(attr::CONSUMER, consumer.to_owned()),
        KeyValue::new(attr::KIND, kind.as_str()),
        KeyValue::new(attr::STATE, state.as_str()),
    ]
}

#[cfg(test)]
mod tests {
    use fundtrail_domain::Reason;

    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap() {
        let policy = RetryPolicy::default();
        let waits: Vec<_> = (1..=6).map(|a| policy.backoff(a)).collect();
        assert_eq!(
            waits,
            [100, 200, 400, 800, 1600, 2000].map(Duration::from_millis)
        );
        assert_eq!(policy.backoff(u32::MAX), policy.max_backoff);
    }

    #[test]
    fn refusals_are_parked_with_the_rules_code_and_the_rest_as_failures() {
        let refused = Trouble::of(&ServiceError::Domain(DomainError::refused(
            Reason::MatchingCapExceeded,
            "only 0.00 USD is left",
        )));
        assert_eq!(refused.kind, AttentionKind::Refused);
        assert_eq!(refused.reason, "MATCHING_CAP_EXCEEDED");
        assert_eq!(refused.cause, "only 0.00 USD is left");
        let invalid = Trouble::of(&ServiceError::invalid("amount", "must be positive"));
        assert_eq!(
            (invalid.kind, invalid.reason.as_str()),
            (AttentionKind::Refused, "INVALID_ARGUMENT")
        );
        let conflict = Trouble::of(&ServiceError::Store(StoreError::RequestConflict {
            request_id: "x".into(),
        }));
        assert_eq!(
            (conflict.kind, conflict.reason.as_str()),
            (AttentionKind::Failed, "")
        );
    }

    #[test]
    fn outages_are_waited_out_not_parked() {
        assert!(is_outage(&ServiceError::Store(StoreError::Unavailable(
            "down".into()
        ))));
        assert!(!is_outage(&ServiceError::Store(StoreError::Corrupt(
            "bad row".into()
        ))));
        assert!(!is_outage(&ServiceError::Contended {
            stream: "pledge-1".into()
        }));
    }
}
