//! Reading the history from the store for the folds: "as of" answers and rebuilds.

use std::sync::Arc;

use fundtrail_store::{EventStore, StoreError};
use tokio::sync::mpsc;

use crate::doc::Mark;
use crate::views::{Decoded, Fold, FoldError, decode};

/// How far a replay goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Until {
    /// Every event up to and including this position (or the head, if it is lower).
    Position(u64),
    /// Every event recorded at or before this time, microseconds since the Unix epoch.
    /// Commit times never decrease along positions, so this is a prefix of the history.
    Time(i64),
    /// Every event up to the head as it is when the reading gets there.
    Head,
}

impl Until {
    fn admits(self, mark: Mark) -> bool {
        match self {
            Self::Position(position) => mark.position <= position,
            Self::Time(time) => mark.recorded_at <= time,
            Self::Head => true,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error("the store returned position {found} where {expected} was expected")]
    Gap { expected: u64, found: u64 },
}

/// Events read per query.
pub const PAGE: usize = 4096;

/// Reads the history from `from` on, decoded, page by page, in a task of its own so that
/// reading and decoding overlap with folding. The channel closes after the last event within
/// `until`, or at the head.
pub fn pages(
    store: Arc<dyn EventStore>,
    from: u64,
    until: Until,
    page: usize,
) -> mpsc::Receiver<Result<Vec<Decoded>, ReplayError>> {
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(async move {
        let mut position = from.max(1);
        loop {
            let events = match store.read_all(position, page).await {
                Ok(events) => events,
                Err(error) => {
                    let _ = tx.send(Err(error.into())).await;
                    return;
                }
            };
            let full = events.len() >= page;
            let mut decoded = Vec::with_capacity(events.len());
            let mut done = !full;
            for event in &events {
                if event.position != position {
                    let gap = ReplayError::Gap {
                        expected: position,
                        found: event.position,
                    };
                    let _ = tx.send(Err(gap)).await;
                    return;
                }
                let next = match decode(event) {
                    Ok(next) => next,
                    Err(error) => {
                        let _ = tx.send(Err(error.into())).await;
                        return;
                    }
                };
                if !until.admits(next.mark) {
                    done = true;
                    break;
                }
                decoded.push(next);
                position += 1;
            }
            if !decoded.is_empty() && tx.send(Ok(decoded)).await.is_err() {
                return;
            }
            if done {
                return;
            }
        }
    });
    rx
}

/// Folds the history from `from` to `until` into the given views, without persisting; returns
/// where they got to.
pub async fn fold_into(
    store: Arc<dyn EventStore>,
    folds: &mut [&mut dyn Fold],
    from: u64,
    until: Until,
) -> Result<Mark, ReplayError> {
    let mut reached = folds
        .iter()
        .map(|f| f.mark())
        .min_by_key(|m| m.position)
        .unwrap_or_default();
    let mut pages = pages(store, from, until, PAGE);
    while let Some(page) = pages.recv().await {
        for decoded in &page? {
            for fold in folds.iter_mut() {
                fold.fold(decoded);
            }
            reached = decoded.mark;
        }
        for fold in folds.iter_mut() {
            fold.clear_changes();
        }
    }
    Ok(reached)
}
