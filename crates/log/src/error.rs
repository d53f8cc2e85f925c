//! The log's errors.

use fundtrail_store::StoreError;

/// Everything publishing to or consuming from the log can fail with.
///
/// Only [`LogError::Config`] is final: the relay and the consumers retry every other kind
/// with backoff, resuming from their cursors.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// The log URL or an option is not understood; nothing was started.
    #[error("log configuration: {0}")]
    Config(String),

    /// The event store failed (reading events, cursors or the lease).
    #[error(transparent)]
    Store(#[from] StoreError),

    /// Kafka refused or could not be reached.
    #[error("kafka: {0}")]
    Kafka(String),

    /// NATS `JetStream` refused or could not be reached.
    #[error("nats: {0}")]
    Nats(String),

    /// Another relay holds the lease, or this relay lost it.
    #[error("relay lease: {0}")]
    Lease(String),

    /// The stored checkpoints could not be read for publishing.
    #[error("checkpoints: {0}")]
    Checkpoints(String),

    /// A message on the log is not an event envelope fundtrail wrote.
    #[error("malformed log message: {0}")]
    Malformed(String),
}

impl LogError {
    pub(crate) fn kafka(context: &str, err: impl std::fmt::Display) -> Self {
        Self::Kafka(format!("{context}: {err}"))
    }

    pub(crate) fn nats(context: &str, err: impl std::fmt::Display) -> Self {
        Self::Nats(format!("{context}: {err}"))
    }

    pub(crate) fn database(context: &str, err: &sqlx::Error) -> Self {
        Self::Store(StoreError::Unavailable(format!("{context}: {err}")))
    }
}
