//! Reading the history from the store for the folds: "as of" answers and rebuilds.

use std::sync::Arc;

use fundtrail_store::{EventStore, StoreError};
use tokio::sync::mpsc;

use crate::doc::Mark;
use crate::persist::{PersistError, StoredEvent, ViewDb};
use crate::views::{Decoded, Fold, FoldError, decode_parts};

/// Where a replay reads the history.
#[derive(Debug, Clone)]
pub enum History {
    /// Through the store's API (`read_all`).
    Store(Arc<dyn EventStore>),
    /// Straight from the store's `events` table in the views' database, reading only the
    /// columns the folds use: on SQLite a row through the store's API costs several times as
    /// much, which a rebuild of millions of events feels.
    Table(ViewDb),
}

impl History {
    async fn read(&self, from: u64, limit: usize) -> Result<Vec<StoredEvent>, ReplayError> {
        match self {
            Self::Store(store) => Ok(store
                .read_all(from, limit)
                .await?
                .into_iter()
                .map(|e| StoredEvent {
                    mark: Mark {
                        position: e.position,
                        recorded_at: e.recorded_at,
                    },
                    event_type: e.event_type,
                    payload: e.payload,
                })
                .collect()),
            Self::Table(db) => Ok(db.read_events(from, limit).await?),
        }
    }
}

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
    #[error(transparent)]
    Table(#[from] PersistError),
    #[error("the store returned position {found} where {expected} was expected")]
    Gap { expected: u64, found: u64 },
}

/// Events read per query.
pub const PAGE: usize = 4096;

/// Readers that read pages side by side. Reading (and decoding) a page costs more than folding
/// it, so two readers keep the fold busy on a machine with two cores or more.
pub const READERS: usize = 2;

/// A page read and decoded; `last` when no page after it belongs to the replay.
struct Page {
    events: Vec<Decoded>,
    last: bool,
}

/// Reads and decodes the pages `index, index + step, …` starting at `from`.
async fn read_pages(
    history: History,
    from: u64,
    until: Until,
    page: usize,
    index: u64,
    step: u64,
    tx: mpsc::Sender<Result<Page, ReplayError>>,
) {
    let size = page as u64;
    let mut k = index;
    loop {
        let start = from + k * size;
        let events = match history.read(start, page).await {
            Ok(events) => events,
            Err(error) => {
                let _ = tx.send(Err(error)).await;
                return;
            }
        };
        let mut last = events.len() < page;
        let mut decoded = Vec::with_capacity(events.len());
        for (offset, event) in (0_u64..).zip(&events) {
            if event.mark.position != start + offset {
                let gap = ReplayError::Gap {
                    expected: start + offset,
                    found: event.mark.position,
                };
                let _ = tx.send(Err(gap)).await;
                return;
            }
            let next = match decode_parts(event.mark, &event.event_type, &event.payload) {
                Ok(next) => next,
                Err(error) => {
                    let _ = tx.send(Err(error.into())).await;
                    return;
                }
            };
            if !until.admits(next.mark) {
                last = true;
                break;
            }
            decoded.push(next);
        }
        if tx
            .send(Ok(Page {
                events: decoded,
                last,
            }))
            .await
            .is_err()
            || last
        {
            return;
        }
        k += step;
    }
}

/// Reads the history from `from` on, decoded, page by page, in tasks of their own so that
/// reading and decoding overlap with folding. The channel closes after the last event within
/// `until`, or at the head.
pub fn pages(
    history: &History,
    from: u64,
    until: Until,
    page: usize,
) -> mpsc::Receiver<Result<Vec<Decoded>, ReplayError>> {
    let (out, rx) = mpsc::channel(2);
    let from = from.max(1);
    let page = page.max(1);
    let readers: Vec<mpsc::Receiver<Result<Page, ReplayError>>> = (0..READERS as u64)
        .map(|index| {
            let (tx, rx) = mpsc::channel(2);
            tokio::spawn(read_pages(
                history.clone(),
                from,
                until,
                page,
                index,
                READERS as u64,
                tx,
            ));
            rx
        })
        .collect();
    tokio::spawn(async move {
        // Page k comes from reader k mod READERS, so taking turns puts them back in order.
        let mut readers = readers;
        for turn in (0..readers.len()).cycle() {
            let Some(page) = readers[turn].recv().await else {
                return;
            };
            let (events, last) = match page {
                Ok(page) => (page.events, page.last),
                Err(error) => {
                    let _ = out.send(Err(error)).await;
                    return;
                }
            };
            if !events.is_empty() && out.send(Ok(events)).await.is_err() {
                return;
            }
            if last {
                return;
            }
        }
    });
    rx
}

/// Folds the history from `from` to `until` into the given views, without persisting; returns
/// where they got to.
pub async fn fold_into(
    history: &History,
    folds: &mut [&mut dyn Fold],
    from: u64,
    until: Until,
) -> Result<Mark, ReplayError> {
    let mut reached = folds
        .iter()
        .map(|f| f.mark())
        .min_by_key(|m| m.position)
        .unwrap_or_default();
    let mut pages = pages(history, from, until, PAGE);
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
