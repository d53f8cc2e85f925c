//! The event store: the only source of truth of fundtrail.
//!
//! It will hold the `EventStore` trait and its PostgreSQL and SQLite backends: appends with
//! expected versions and idempotent request ids, one global gap-free position in commit order,
//! the hash chain of ARCHITECTURE.md §3, subscriptions and consumer checkpoints.
