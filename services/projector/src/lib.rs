//! The projector: consumes the event log, keeps the funding views (per-country funding, donor
//! statements, the fund overview) and serves them through the Funding API, next to the Audit
//! API over the raw history and the Attention API over the "needs attention" queue.
//!
//! [`Projector`] folds any log (a `fundtrail_log::EventSource`) into the views and commits
//! them with their cursors; [`FundingService`] answers queries from the views in memory,
//! waiting for a client's `min_position`, or folds the history from the store for `as_of`
//! questions.

pub mod asof;
pub mod attention;
pub mod audit;
pub mod funding;
pub mod json;
pub mod rebuild;
pub mod render;
pub mod run;
pub mod serve;
mod source;
pub mod state;

pub use attention::AttentionService;
pub use audit::AuditService;
pub use funding::FundingService;
pub use fundtrail_projections::ViewName;
pub use run::{DEFAULT_BATCH_BYTES, Failpoint, Projector, ProjectorError, ProjectorOptions};
pub use state::{Positions, Shared};
