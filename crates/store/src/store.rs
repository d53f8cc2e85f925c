//! The `EventStore` trait, the one interface both backends implement.

use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::attention::AttentionStore;
use crate::error::StoreError;
use crate::types::{
    AppendRequest, AppendResult, Head, RecordedEvent, RequestRecord, StoreStats, StreamInfo,
    VerifyReport,
};

/// An append-only, hash-chained event store with one global, gap-free position.
///
/// Usable as `Arc<dyn EventStore>`; implementations are cheap `Clone` handles.
#[async_trait]
pub trait EventStore: Send + Sync + std::fmt::Debug {
    /// Appends events to one stream atomically, after checking the expected version and the
    /// request id. Concurrent appends are committed together (group commit) but each one
    /// succeeds or fails on its own.
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError>;

    /// The stream's events with `version >= from_version`, in version order.
    async fn read_stream(
        &self,
        stream: &str,
        from_version: u64,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// At most `limit` events with `position >= from_position`, in position order.
    async fn read_all(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, StoreError>;

    /// Every event with `position >= from_position`, in order and without gaps: first those
    /// already stored, then new ones as they commit. A consumer resumes with
    /// `load_cursor(..) + 1`. The stream ends after yielding an error.
    fn subscribe(
        &self,
        from_position: u64,
    ) -> BoxStream<'static, Result<RecordedEvent, StoreError>>;

    /// The last event's position, hash and commit time ([`Head::EMPTY`] for an empty store).
    async fn head(&self) -> Result<Head, StoreError>;

    /// Recomputes the hash chain over `from..=to` (`to` = `None`: up to the head) and reports
    /// the first break. Passing a head held earlier as `to` also detects a truncated tail.
    async fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError>;

    /// The stored result of a request id, so a service can answer a retried command without
    /// running its business logic again.
    async fn find_request(&self, request_id: &str) -> Result<Option<RequestRecord>, StoreError>;

    /// The stream's last version, `None` if it has no events.
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError>;

    /// Streams named `<category>-…`, by name, with their current versions.
    async fn list_streams(&self, category: &str) -> Result<Vec<StreamInfo>, StoreError>;

    /// The last position a consumer saved; 0 when it has none.
    async fn load_cursor(&self, consumer: &str) -> Result<u64, StoreError>;

    /// Saves a consumer's position; a lower position than the stored one is ignored.
    async fn save_cursor(&self, consumer: &str, position: u64) -> Result<(), StoreError>;

    /// Counters of this instance's writer.
    fn stats(&self) -> StoreStats;

    /// The events consumers moved past without their effect, kept beside the cursors
    /// ([`crate::attention`]).
    fn attention(&self) -> &dyn AttentionStore;
}
