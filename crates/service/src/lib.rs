//! What every fundtrail gRPC service shares.
//!
//! - [`Ledger`]: the command pipeline — check the request id, load the stream, decide,
//!   append with the expected version — with retries when another writer got there first.
//! - [`CommandContext`]: the principal, request id, fingerprint and causation of a command.
//! - [`reaction`]: process managers, consuming the history with cursors committed
//!   alongside their effects; each states its [`Policy`] and runs as a [`ProcessManager`].
//! - [`attention`]: what every consumer does with an event it cannot take into effect —
//!   skip an unknown type, park the rest in the "needs attention" queue, re-drive on request.
//! - [`ServiceError`]: the one place errors become `tonic::Status` (docs/architecture.md §8).

pub mod attention;
pub mod context;
pub mod error;
pub mod ledger;
pub mod reaction;
pub mod stored;

pub use attention::RetryPolicy;
pub use context::{CommandContext, CommandRequest};
pub use error::{AuditRefusal, ServiceError};
pub use ledger::{Ledger, Loaded};
pub use reaction::{Effect, EventSource, Handled, Policy, ProcessManager, Reaction, StoreSource};
pub use stored::Stored;

/// Turns a service result into a gRPC response.
pub fn respond<T>(result: Result<T, ServiceError>) -> Result<tonic::Response<T>, tonic::Status> {
    result
        .map(tonic::Response::new)
        .map_err(tonic::Status::from)
}
