//! What a view hands to persistence: documents by kind and key, and which ones changed.

use std::collections::BTreeSet;

use foldhash::HashSet;
use std::fmt;
use std::str::FromStr;

use fundtrail_domain::{CountryCode, DonorId, Event, PledgeId, ProjectId};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::figure::Reporting;

/// One persisted document of a view: `kind` says what it describes (`country`, `pledge`, …),
/// `key` which one, `json` its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub kind: &'static str,
    pub key: String,
    pub json: String,
}

/// Why persisted documents could not be turned back into a view.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("document {kind}/{key}: {reason}")]
    Document {
        kind: String,
        key: String,
        reason: String,
    },
    #[error("documents could not be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
}

impl Doc {
    pub fn of<T: Serialize>(
        kind: &'static str,
        key: impl fmt::Display,
        value: &T,
    ) -> Result<Self, serde_json::Error> {
        Ok(Self {
            kind,
            key: key.to_string(),
            json: serde_json::to_string(value)?,
        })
    }
}

/// A stored document on its way back into a view.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredDoc {
    pub kind: String,
    pub key: String,
    pub json: String,
}

impl StoredDoc {
    pub fn key<K>(&self) -> Result<K, RestoreError>
    where
        K: FromStr,
        K::Err: fmt::Display,
    {
        self.key.parse().map_err(|e: K::Err| self.error(e))
    }

    pub fn value<T: DeserializeOwned>(&self) -> Result<T, RestoreError> {
        serde_json::from_str(&self.json).map_err(|e| self.error(e))
    }

    pub fn error(&self, reason: impl fmt::Display) -> RestoreError {
        RestoreError::Document {
            kind: self.kind.clone(),
            key: self.key.clone(),
            reason: reason.to_string(),
        }
    }
}

/// The documents changed since they were last taken for writing.
#[derive(Debug, Clone, Default)]
pub struct Dirty {
    pub countries: BTreeSet<CountryCode>,
    pub donors: BTreeSet<DonorId>,
    pub pledges: HashSet<PledgeId>,
    pub projects: HashSet<ProjectId>,
    /// Donor and project pairs.
    pub funded: HashSet<(DonorId, ProjectId)>,
    pub overview: bool,
}

impl Dirty {
    pub fn donor(&mut self, donor: &DonorId) {
        if !self.donors.contains(donor) {
            self.donors.insert(donor.clone());
        }
    }
}

/// Where in the history a view stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Mark {
    /// The last position applied; 0 before any event.
    pub position: u64,
    /// That event's commit time, microseconds since the Unix epoch.
    pub recorded_at: i64,
}

/// A read model: a pure fold over the history, persisted as documents.
pub trait View: Sized + Send + Sync + 'static {
    /// The view's name: its table, its cursor and `projections rebuild --view NAME`.
    const NAME: &'static str;

    fn new(reporting: Reporting) -> Self;

    fn reporting(&self) -> Reporting;

    fn mark(&self) -> Mark;

    /// Folds one event in. The caller applies each position once, in order.
    fn apply(&mut self, at: Mark, event: &Event);

    /// Moves past an event that concerns the view not at all (an unknown type).
    fn skip(&mut self, at: Mark);

    /// The documents changed since the last call, ready to write.
    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error>;

    /// Forgets which documents changed (a fold whose result is not persisted).
    fn clear_changes(&mut self);

    /// Every document, changed or not (a rebuild writes them all).
    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error>;

    /// The view from its persisted documents, as of `at`.
    fn restore(reporting: Reporting, at: Mark, docs: Vec<StoredDoc>) -> Result<Self, RestoreError>;
}
