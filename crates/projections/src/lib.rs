//! Read models of the trust fund as pure folds over the event history (per-country funding,
//! donor statements, the fund overview), with their persistence and checkpoints.

pub mod codec;
pub mod country;
pub mod doc;
pub mod figure;
mod fold;
pub mod pledge;
pub mod rates;

pub use country::CountryFunding;
pub use doc::{Doc, Mark, RestoreError, StoredDoc, View};
pub use figure::{Amount, Figure, Part, Reporting};
pub mod donor;
pub mod overview;

pub use donor::DonorStatements;
pub use overview::FundOverview;
pub mod persist;

pub use persist::{Loaded, PersistError, Swap, ViewChanges, ViewDb};
pub mod views;

pub use views::{Decoded, Fold, FoldError, UnknownView, ViewName, Views, decode};
pub mod replay;

pub use replay::{ReplayError, Until, fold_into};
pub mod rebuild;

pub use rebuild::{Phase, Progress, RebuildError, RebuildOptions, RebuildReport, rebuild};
