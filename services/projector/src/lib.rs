//! The projector: consumes the event log, keeps the per-country funding views and serves the
//! Funding and Audit query APIs.

pub mod audit;
pub mod json;

pub use audit::AuditService;
