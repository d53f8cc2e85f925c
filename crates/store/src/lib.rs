//! The event store: the only source of truth of fundtrail.
//!
//! One interface, [`EventStore`], over two backends with one behaviour — [`PgStore`]
//! (PostgreSQL) and [`SqliteStore`] (a SQLite file, or memory for tests) — chosen by URL with
//! [`open`]. Both keep, per event, the envelope and hash chain of docs/architecture.md §3
//! ([`chain`]), check expected versions, answer retried request ids with their original
//! result, store consumer cursors, and serve catch-up-then-live subscriptions.
//!
//! # Order without gaps
//!
//! Positions start at 1, are dense, and follow commit order: a reader that has seen position
//! N has seen every event up to N. Stores that take positions from a sequence get this wrong:
//! two transactions draw 7 and 8, the one holding 8 commits first, a tailing reader sees 8,
//! moves its cursor past 7, and never sees 7.
//!
//! Here there is a single sequencer per store. Every appending transaction first takes it —
//! on PostgreSQL a transaction-scoped advisory lock (`pg_advisory_xact_lock`, keyed by the
//! schema), on SQLite the database's write lock (`BEGIN IMMEDIATE`, WAL mode, with a busy
//! timeout) — then reads the head, assigns positions `head + 1 …` and the hashes that chain
//! from the head's hash, writes, and commits. The lock lives until the transaction ends, so
//! transactions commit strictly one after another, in position order. A reader cannot see
//! batch k+1 without batch k because of how commit works: PostgreSQL makes a transaction
//! visible (removes it from the running set) *before* it releases the transaction's locks,
//! so batch k is visible to every new snapshot before batch k+1 can even take the lock; any
//! snapshot that includes k+1 therefore includes k. SQLite has one writer at a time and a
//! reader's snapshot is a prefix of the WAL. The lock is shared by every process using the
//! database, so several services can append to one store safely.
//!
//! A single sequencer would be slow with one transaction per append, so appends are grouped:
//! each store instance has one writer task draining a queue; all appends waiting while a
//! transaction runs go into the next one (multi-row inserts, `UNNEST` arrays on PostgreSQL),
//! one commit — and one WAL flush — for the lot. Each append in a batch is still checked on
//! its own (expected version, request id, event ids), so one refusal does not fail the rest.
//! Serializing also makes the hash chain natural: the writer knows hash(n-1) when it computes
//! hash(n).
//!
//! `recorded_at` is the store's clock at commit (the database server's clock on PostgreSQL),
//! never earlier than the head's, so it is non-decreasing along positions.
//!
//! # Subscriptions
//!
//! A subscription reads in batches until it has caught up, then waits for a head watch fed by
//! the local writer after each commit and, on PostgreSQL, by `LISTEN/NOTIFY` (the appending
//! transaction calls `pg_notify`, delivered at commit to every process). It also polls at
//! [`StoreOptions::poll_interval`] as a safety net (another process writing the same SQLite
//! file, a notification lost while reconnecting).
//!
//! # Read models
//!
//! Projections that keep their views in the store's database use [`PgStore::pool`] or
//! [`SqliteStore::pool`] and write their cursor inside their own transaction with
//! [`postgres::save_cursor_in`] / [`sqlite::save_cursor_in`]; process managers pass
//! their cursor in the [`AppendRequest`] so their effects and their progress commit
//! together.
//!
//! # Needs attention
//!
//! An event a consumer moves past without its effect is parked ([`attention`]): a row in
//! `consumer_attention` committed with the cursor that moves past it, which operators list and
//! ask to re-drive, and which consumers poll for re-drive requests.

pub mod attention;
mod backend;
mod batch;
pub mod chain;
mod decode;
mod error;
mod opened;
pub mod postgres;
pub mod sqlite;
mod statements;
mod store;
mod subscribe;
mod types;
mod validate;
mod verify;
mod writer;

use std::sync::Arc;

pub use attention::{
    AttentionCount, AttentionItem, AttentionKind, AttentionQuery, AttentionState, AttentionStore,
    Parked, Redriven,
};
pub use backend::SqlStore;
pub use error::{InvalidInput, StoreError};
pub use opened::{Database, OpenedStore};
pub use postgres::PgStore;
pub use sqlite::SqliteStore;
pub use store::EventStore;
pub use types::{
    AppendRequest, AppendResult, ChainProblem, Cursor, ExpectedVersion, Head, Idempotency,
    NewEvent, ProblemKind, RecordedEvent, RequestRecord, StoreOptions, StoreStats, StreamInfo,
    VerifyReport,
};
pub use validate::{
    MAX_IDEMPOTENCY_KEY, MAX_REQUEST_ID, MAX_STREAM_NAME, request_id as validate_request_id,
    stream_name as validate_stream_name,
};

/// Opens the store a URL names: `postgres://…` or `postgresql://…` for PostgreSQL,
/// `sqlite://path` (created if missing) or `sqlite::memory:` for SQLite.
pub async fn open(url: &str, options: StoreOptions) -> Result<Arc<dyn EventStore>, StoreError> {
    Ok(OpenedStore::open(url, options).await?.events())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_schemes_are_refused_without_echoing_credentials() {
        let refused = OpenedStore::open("mysql://u:pw@h/db", StoreOptions::default()).await;
        assert!(matches!(
            refused,
            Err(StoreError::InvalidInput(InvalidInput::Url(text))) if !text.contains("pw")
        ));
    }

    #[tokio::test]
    async fn passwords_stay_out_of_messages() {
        for url in [
            "postgres://app:s3cret@db:port/x",
            "sqlite://x.db?password=s3cret",
        ] {
            let refused = OpenedStore::open(url, StoreOptions::default()).await;
            assert!(
                matches!(
                    &refused,
                    Err(StoreError::InvalidInput(InvalidInput::Url(text))) if !text.contains("s3cret")
                ),
                "{url}: {refused:?}"
            );
        }
    }
}
