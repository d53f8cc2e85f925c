//! The pledges service: donors, pledges, contributions, matching pools and allocations.
//!
//! [`PledgesService`] implements the `fundtrail.v1.Pledges` gRPC contract over the domain and
//! the event store. Its process managers live in [`reactions`]: matching contributions
//! against matching pools, and giving returned allocations back to their pledges.

mod lookup;
mod pools;
pub mod reactions;
mod service;
mod views;

pub use reactions::{MatchingReaction, ReleaseReaction};
pub use service::PledgesService;
