//! Re-computing the hash chain over stored events, shared by both backends.

use crate::chain::{self, GENESIS};
use crate::error::StoreError;
use crate::store::EventStore;
use crate::types::{ChainProblem, ProblemKind, VerifyReport};

pub(crate) async fn verify(
    store: &dyn EventStore,
    from: u64,
    to: Option<u64>,
    batch: usize,
) -> Result<VerifyReport, StoreError> {
    let from = from.max(1);
    let to = match to {
        Some(to) => to,
        None => store.head().await?.position,
    };
    let mut report = VerifyReport {
        from,
        to,
        checked: 0,
        last_position: from - 1,
        last_hash: GENESIS,
        problem: None,
    };
    if from > 1 {
        // The chain is anchored on the event just before the range.
        match store.read_all(from - 1, 1).await?.first() {
            Some(anchor) if anchor.position == from - 1 => report.last_hash = anchor.hash,
            _ => {
                report.problem = Some(missing(from - 1));
                return Ok(report);
            }
        }
    }
    let mut next = from;
    while next <= to {
        let events = store.read_all(next, batch.max(1)).await?;
        if events.is_empty() {
            report.problem = Some(missing(next));
            return Ok(report);
        }
        for event in events {
            if next > to {
                break;
            }
            if event.position != next {
                report.problem = Some(missing(next));
                return Ok(report);
            }
            let kind = if event.prev_hash == report.last_hash {
                let computed = chain::recompute(&event);
                (computed != event.hash).then_some(ProblemKind::HashMismatch {
                    stored: event.hash,
                    computed,
                })
            } else {
                Some(ProblemKind::PrevHashMismatch {
                    stored: event.prev_hash,
                    expected: report.last_hash,
                })
            };
            if let Some(kind) = kind {
                report.problem = Some(ChainProblem {
                    position: event.position,
                    stream: Some(event.stream),
                    kind,
                });
                return Ok(report);
            }
            report.checked += 1;
            report.last_position = event.position;
            report.last_hash = event.hash;
            next += 1;
        }
    }
    Ok(report)
}

fn missing(position: u64) -> ChainProblem {
    ChainProblem {
        position,
        stream: None,
        kind: ProblemKind::MissingPosition,
    }
}
