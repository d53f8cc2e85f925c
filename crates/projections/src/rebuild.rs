//! Rebuilding views from position 1 into fresh tables, swapped in atomically.
//!
//! The rebuild folds the whole history into new views, writing their documents into
//! `projection_<view>_next` as it goes; a running projector keeps serving and writing the
//! live tables meanwhile. At the end one transaction per view drops the live table, renames
//! the new one into its place and sets the view's position and a new generation. If the live
//! view got further than the rebuild in the meantime, the rebuild reads on to there first, so
//! a view never moves backwards. The projector notices the new generation at its next commit
//! and reloads the view from the swapped-in table.
//!
//! Run one rebuild of a view at a time: two would share its `_next` table.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fundtrail_store::EventStore;
use tokio::task::JoinHandle;

use crate::country::CountryFunding;
use crate::doc::View as _;
use crate::donor::DonorStatements;
use crate::figure::Reporting;
use crate::overview::FundOverview;
use crate::persist::{PersistError, Swap, ViewDb};
use crate::replay::{History, PAGE, ReplayError, Until, pages};
use crate::views::{Fold, ViewName};

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    Replay(#[from] ReplayError),
    #[error(transparent)]
    Store(#[from] fundtrail_store::StoreError),
    #[error("documents could not be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

/// What a rebuild is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Replaying,
    Swapping,
    Done,
}

/// How far a rebuild got, for a progress display.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    pub phase: Phase,
    /// The last position folded.
    pub position: u64,
    /// The position the rebuild is heading for (the head when it last looked).
    pub target: u64,
    pub events: u64,
    pub elapsed: Duration,
    pub events_per_second: u64,
    /// At the current rate; `None` until there is a rate.
    pub remaining: Option<Duration>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RebuildReport {
    /// Each view rebuilt, with the generation it now has.
    pub views: Vec<(ViewName, i64)>,
    pub position: u64,
    pub events: u64,
    pub documents: u64,
    pub elapsed: Duration,
}

#[derive(Debug, Clone, Copy)]
pub struct RebuildOptions {
    /// Documents changed since the last write are written after this many events: fewer
    /// writes of documents that change often, against memory for what waits to be written.
    pub write_every: u64,
}

impl Default for RebuildOptions {
    fn default() -> Self {
        Self {
            write_every: 100_000,
        }
    }
}

fn fold_for(view: ViewName, reporting: Reporting) -> Box<dyn Fold> {
    match view {
        ViewName::CountryFunding => Box::new(CountryFunding::new(reporting)),
        ViewName::DonorStatements => Box::new(DonorStatements::new(reporting)),
        ViewName::FundOverview => Box::new(FundOverview::new(reporting)),
    }
}

struct Rebuild {
    folds: Vec<(ViewName, Box<dyn Fold>, Option<i64>)>,
    /// The documents being written while the fold goes on.
    writing: Option<JoinHandle<Result<(), PersistError>>>,
    started: Instant,
    position: u64,
    target: u64,
    events: u64,
    documents: u64,
}

impl Rebuild {
    fn progress(&self, phase: Phase) -> Progress {
        let elapsed = self.started.elapsed();
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .max(1);
        let rate = self.events.saturating_mul(1_000_000) / micros;
        let left = self.target.saturating_sub(self.position);
        Progress {
            phase,
            position: self.position,
            target: self.target,
            events: self.events,
            elapsed,
            events_per_second: rate,
            remaining: (rate > 0).then(|| Duration::from_millis(left.saturating_mul(1000) / rate)),
        }
    }

    /// Writes the documents changed since the last write, in the background; the fold goes on
    /// meanwhile. One write at a time, so they land in order.
    async fn write(&mut self, db: &ViewDb) -> Result<(), RebuildError> {
        self.written().await?;
        let mut batches = Vec::with_capacity(self.folds.len());
        for (view, fold, swapped) in &mut self.folds {
            if swapped.is_some() {
                fold.clear_changes();
                continue;
            }
            let docs = fold.take_changes()?;
            self.documents = self.documents.saturating_add(docs.len() as u64);
            batches.push((view.as_str(), docs));
        }
        let db = db.clone();
        self.writing = Some(tokio::spawn(async move {
            for (view, docs) in batches {
                db.write_next(view, &docs).await?;
            }
            Ok(())
        }));
        Ok(())
    }

    /// Waits for the write in progress.
    async fn written(&mut self) -> Result<(), RebuildError> {
        if let Some(writing) = self.writing.take() {
            writing
                .await
                .map_err(|e| PersistError::Unavailable(format!("writing a rebuild: {e}")))??;
        }
        Ok(())
    }
}

/// Rebuilds the named views (all three when `views` is empty) from position 1, reporting
/// progress after every page of events.
pub async fn rebuild(
    store: Arc<dyn EventStore>,
    db: &ViewDb,
    reporting: Reporting,
    views: &[ViewName],
    options: RebuildOptions,
    mut progress: impl FnMut(&Progress),
) -> Result<RebuildReport, RebuildError> {
    let mut names: Vec<ViewName> = if views.is_empty() {
        ViewName::ALL.to_vec()
    } else {
        views.to_vec()
    };
    names.sort();
    names.dedup();
    let all: Vec<&'static str> = ViewName::ALL.iter().map(|v| v.as_str()).collect();
    db.prepare(&all).await?;
    for view in &names {
        db.create_next(view.as_str()).await?;
    }
    let mut run = Rebuild {
        folds: names
            .iter()
            .map(|v| (*v, fold_for(*v, reporting), None))
            .collect(),
        writing: None,
        started: Instant::now(),
        position: 0,
        target: store.head().await?.position,
        events: 0,
        documents: 0,
    };
    let mut since_write = 0_u64;
    loop {
        if run.position < run.target {
            let history = History::Table(db.clone());
            let mut rx = pages(
                &history,
                run.position + 1,
                Until::Position(run.target),
                PAGE,
            );
            while let Some(page) = rx.recv().await {
                let page = page?;
                for decoded in &page {
                    for (_, fold, _) in &mut run.folds {
                        fold.fold(decoded);
                    }
                    run.position = decoded.mark.position;
                }
                run.events = run.events.saturating_add(page.len() as u64);
                since_write = since_write.saturating_add(page.len() as u64);
                if since_write >= options.write_every {
                    run.write(db).await?;
                    since_write = 0;
                }
                progress(&run.progress(Phase::Replaying));
            }
        }
        run.write(db).await?;
        run.written().await?;
        since_write = 0;
        progress(&run.progress(Phase::Swapping));
        let mut behind = None;
        for (view, fold, swapped) in &mut run.folds {
            if swapped.is_some() {
                continue;
            }
            match db
                .swap(view.as_str(), fold.mark(), reporting.currency())
                .await?
            {
                Swap::Swapped { generation } => *swapped = Some(generation),
                Swap::Behind { position } => {
                    behind = Some(behind.map_or(position, |b: u64| b.max(position)));
                }
            }
        }
        match behind {
            None => break,
            Some(position) => run.target = position.max(store.head().await?.position),
        }
    }
    progress(&run.progress(Phase::Done));
    Ok(RebuildReport {
        views: run
            .folds
            .iter()
            .map(|(v, _, g)| (*v, g.unwrap_or_default()))
            .collect(),
        position: run.position,
        events: run.events,
        documents: run.documents,
        elapsed: run.started.elapsed(),
    })
}
