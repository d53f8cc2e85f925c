//! Confirming what a broker delivered against the store before anyone acts on it.
//!
//! A broker is not the truth: anyone who can write to the topic or the subjects can put an
//! envelope there — forged, altered, replayed, or another fund's, written by another store.
//! Acted on, an envelope with a large position would become the lane's cursor and every real
//! event after it would be dropped as a repeat. So the broker sources hand out only
//! deliveries the store confirms: the store holds an event at that position with that hash,
//! and the delivered fields hash to it (the chain of docs/architecture.md §3, so a copied hash
//! over an altered payload does not pass).
//!
//! The store's hashes are read ahead in batches and kept by position, so confirming costs one
//! read per batch while catching up; live, each delivery usually needs a read of its own.
//! There is one store and the relay publishes only what it committed, so a delivery whose
//! position the store does not hold when asked is above the head and forged: it is rejected,
//! never waited for.
//!
//! A rejected delivery is never handed out and never moves a cursor. It is logged at error
//! level (the consumer, the lane, the position and why) and counted as
//! `fundtrail.consumer.events{outcome="rejected"}`; the consumer goes on with the real events.

use std::collections::BTreeMap;
use std::sync::Arc;

use fundtrail_store::chain::{ChainFields, next_hash};
use fundtrail_store::{EventStore, RecordedEvent};
use fundtrail_telemetry::metrics::attr;
use opentelemetry::KeyValue;

use crate::error::LogError;
use crate::source::Lane;

/// Store hashes kept at most; beyond it the lowest positions go first (a lane that far behind
/// the others reads its own again).
const KEPT: usize = 8192;

/// The store's hashes read at once.
pub(crate) const READ_AHEAD: usize = 500;

/// Why a delivery is not the store's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The store has no event there yet, so none was ever published there.
    AboveHead { head: u64 },
    /// The store has no event there and events after it: the store itself lost one.
    Missing,
    /// Another event than the store's: another store's, or made up.
    OtherHash,
    /// The store's hash with other contents: altered.
    Altered,
}

impl std::fmt::Display for Mismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::AboveHead { head } => write!(
                f,
                "the store's head is {head}: nothing was ever published at that position"
            ),
            Self::Missing => f.write_str("the store has no event at that position"),
            Self::OtherHash => f.write_str(
                "its hash is not the store's at that position (another store's event, or forged)",
            ),
            Self::Altered => f.write_str("its contents do not hash to its hash (altered)"),
        }
    }
}

/// Confirms one delivery stream's events against the store.
pub(crate) struct Confirmation {
    store: Arc<dyn EventStore>,
    consumer: String,
    known: BTreeMap<u64, [u8; 32]>,
}

impl std::fmt::Debug for Confirmation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Confirmation")
            .field("consumer", &self.consumer)
            .field("known", &self.known.len())
            .finish_non_exhaustive()
    }
}

impl Confirmation {
    pub(crate) fn new(store: Arc<dyn EventStore>, consumer: &str) -> Self {
        Self {
            store,
            consumer: consumer.to_owned(),
            known: BTreeMap::new(),
        }
    }

    pub(crate) fn store(&self) -> &Arc<dyn EventStore> {
        &self.store
    }

    pub(crate) fn consumer(&self) -> &str {
        &self.consumer
    }

    /// `Ok(None)` when `event` is the store's; a mismatch otherwise. Errors only when the store
    /// cannot be read.
    pub(crate) async fn check(
        &mut self,
        event: &RecordedEvent,
    ) -> Result<Option<Mismatch>, LogError> {
        let position = event.position;
        if !self.known.contains_key(&position) {
            let events = self.store.read_all(position, READ_AHEAD).await?;
            let held = events.first().map(|e| e.position);
            for stored in &events {
                self.known.insert(stored.position, stored.hash);
            }
            while self.known.len() > KEPT {
                self.known.pop_first();
            }
            if held != Some(position) {
                return Ok(Some(if held.is_some() {
                    Mismatch::Missing
                } else {
                    Mismatch::AboveHead {
                        head: self.store.head().await?.position,
                    }
                }));
            }
        }
        Ok(mismatch(self.known.get(&position), event))
    }

    /// Logs and counts a rejected delivery: an alarm, since only a forger or a misconfigured
    /// deployment (two funds on one topic) puts one there.
    pub(crate) fn reject(&self, lane: Lane, position: Option<u64>, why: &dyn std::fmt::Display) {
        reject(&self.consumer, lane, position, why);
    }
}

/// See [`Confirmation::reject`].
pub(crate) fn reject(
    consumer: &str,
    lane: Lane,
    position: Option<u64>,
    why: &dyn std::fmt::Display,
) {
    fundtrail_telemetry::metrics().consumer_events.add(
        1,
        &[
            KeyValue::new(attr::CONSUMER, consumer.to_owned()),
            KeyValue::new(attr::OUTCOME, "rejected"),
        ],
    );
    tracing::error!(
        consumer,
        lane = %lane.cursor_name(consumer),
        position,
        reason = %why,
        "rejected a delivery that is not the store's event: not handled, no cursor moved"
    );
}

/// Whether `event` is the one whose hash the store holds at its position.
pub(crate) fn mismatch(stored: Option<&[u8; 32]>, event: &RecordedEvent) -> Option<Mismatch> {
    match stored {
        None => Some(Mismatch::Missing),
        Some(hash) if *hash != event.hash => Some(Mismatch::OtherHash),
        Some(_) if next_hash(&event.prev_hash, &ChainFields::from(event)) != event.hash => {
            Some(Mismatch::Altered)
        }
        Some(_) => None,
    }
}

/// Confirms one event on its own (the relay checking the tail of a stream).
pub(crate) async fn check_one(
    store: &dyn EventStore,
    event: &RecordedEvent,
) -> Result<Option<Mismatch>, LogError> {
    let stored = store.read_all(event.position, 1).await?;
    match stored.first() {
        Some(stored) if stored.position == event.position => {
            Ok(mismatch(Some(&stored.hash), event))
        }
        Some(_) => Ok(Some(Mismatch::Missing)),
        None => Ok(Some(Mismatch::AboveHead {
            head: store.head().await?.position,
        })),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn event() -> RecordedEvent {
        let mut event = RecordedEvent {
            position: 3,
            event_id: Uuid::now_v7(),
            stream: "pledge-1".into(),
            version: 0,
            event_type: "fundtrail.v1.PledgeRecorded".into(),
            payload: vec![1, 2, 3],
            metadata: vec![],
            recorded_at: 1_700_000_000_000_000,
            prev_hash: [7; 32],
            hash: [0; 32],
        };
        event.hash = next_hash(&event.prev_hash, &ChainFields::from(&event));
        event
    }

    #[test]
    fn only_the_stored_hash_over_the_delivered_contents_confirms() {
        let real = event();
        assert_eq!(mismatch(Some(&real.hash), &real), None);
        assert_eq!(mismatch(None, &real), Some(Mismatch::Missing));
        assert_eq!(mismatch(Some(&[9; 32]), &real), Some(Mismatch::OtherHash));
        let altered = RecordedEvent {
            payload: vec![1, 2, 4],
            ..real.clone()
        };
        assert_eq!(
            mismatch(Some(&real.hash), &altered),
            Some(Mismatch::Altered)
        );
        let moved = RecordedEvent {
            position: 4,
            ..real.clone()
        };
        assert_eq!(mismatch(Some(&real.hash), &moved), Some(Mismatch::Altered));
    }
}
