//! The milestones service: projects, their milestones, progress and verification.
//!
//! [`MilestonesService`] implements the `fundtrail.v1.Milestones` gRPC contract over the
//! `Project` aggregate and the event store. A verified milestone unlocks its tranche on the
//! project's account; that happens in the disbursements service, which learns of the
//! verification from the log.

mod service;
mod views;

pub use service::MilestonesService;
