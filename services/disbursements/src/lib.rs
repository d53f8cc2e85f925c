//! The disbursements service: project accounts, disbursement requests, approvals, payments.
//!
//! [`DisbursementsService`] implements the `fundtrail.v1.Disbursements` gRPC contract over the
//! `ProjectAccount` aggregate (stream `account-<project id>`) and the event store. An account
//! learns what it may pay from the log, through the process managers in [`reactions`]:
//! allocations credit it, verified milestones unlock their tranches.

pub mod reactions;
mod service;
mod views;

pub use reactions::{CreditReaction, TrancheReaction};
pub use service::DisbursementsService;
