//! The views the projector serves, shared between its loop and the API.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use fundtrail_projections::{Mark, Reporting, View, ViewName, Views};
use tokio::sync::watch;

/// Where each view stands; published after every batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Positions {
    pub country: Mark,
    pub donors: Mark,
    pub overview: Mark,
}

impl Positions {
    pub fn of(views: &Views) -> Self {
        Self {
            country: View::mark(&views.country),
            donors: View::mark(&views.donors),
            overview: View::mark(&views.overview),
        }
    }

    pub fn get(&self, view: ViewName) -> Mark {
        match view {
            ViewName::CountryFunding => self.country,
            ViewName::DonorStatements => self.donors,
            ViewName::FundOverview => self.overview,
        }
    }

    /// The position every view has reached.
    pub fn least(&self) -> u64 {
        self.country
            .position
            .min(self.donors.position)
            .min(self.overview.position)
    }
}

/// The live views and their positions.
#[derive(Debug)]
pub struct Shared {
    reporting: Reporting,
    views: RwLock<Views>,
    positions: watch::Sender<Positions>,
    loads: AtomicU64,
}

impl Shared {
    pub fn new(reporting: Reporting) -> Self {
        Self {
            reporting,
            views: RwLock::new(Views::new(reporting)),
            positions: watch::Sender::new(Positions::default()),
            loads: AtomicU64::new(0),
        }
    }

    pub fn reporting(&self) -> Reporting {
        self.reporting
    }

    /// The views for reading. A panic elsewhere while holding the lock leaves views that were
    /// being folded; they are still a fold of a prefix of the history, so reading goes on.
    pub fn read(&self) -> RwLockReadGuard<'_, Views> {
        self.views.read().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, Views> {
        self.views.write().unwrap_or_else(PoisonError::into_inner)
    }

    /// How often the projector loaded the views from the database: once at start, then after
    /// every failure or rebuild.
    pub fn loads(&self) -> u64 {
        self.loads.load(Ordering::Relaxed)
    }

    pub(crate) fn loaded(&self) {
        self.loads.fetch_add(1, Ordering::Relaxed);
    }

    pub fn positions(&self) -> watch::Receiver<Positions> {
        self.positions.subscribe()
    }

    pub fn current(&self) -> Positions {
        *self.positions.borrow()
    }

    pub(crate) fn publish(&self) {
        let positions = Positions::of(&self.read());
        self.positions.send_if_modified(|current| {
            let changed = *current != positions;
            *current = positions;
            changed
        });
    }
}
