//! The projector's loop: events in, views folded, documents and cursors committed together.
//!
//! Events arrive from any log ([`EventSource`]), put back into position order, and are folded
//! in batches (whatever has arrived, up to [`ProjectorOptions::batch`]); each batch's changed
//! documents and every view's position commit in one transaction, so a batch takes effect
//! exactly once whatever happens between writing and acknowledging it. The API reads the views in memory, which are
//! always a fold of a prefix of the history, so they may be served before their batch commits.
//!
//! Events it cannot fold follow the policy of every consumer (`fundtrail_service::attention`):
//! a type this version does not know is skipped and counted; a payload of a known type that
//! does not decode is parked in the "needs attention" queue and the views fold on without it,
//! rather than every view of the fund stopping at it. A re-drive of such an item decodes the
//! event again, and once it decodes (a version that reads it) rebuilds the views from
//! position 1, the only way to fold an event into views already past it.
//!
//! When anything fails (the database, the source, a rebuild swapped in underneath) the loop
//! loads the views again from the database and resumes from their positions. Views served in
//! memory never move backwards: the reloaded views are folded privately until they are where
//! the served ones were, and only then replace them.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_log::{EventSource, LogError};
use fundtrail_projections::ViewName;
use fundtrail_projections::{
    CountryFunding, Decoded, DonorStatements, Fold, FoldError, FundOverview, Mark, PersistError,
    RebuildOptions, Reporting, ViewChanges, ViewDb, Views, decode,
};
use fundtrail_service::RetryPolicy;
use fundtrail_service::attention::{self, Trouble};
use fundtrail_store::{
    AttentionKind, AttentionQuery, EventStore, RecordedEvent, Redriven, StoreError,
};
use fundtrail_telemetry::metrics::attr;
use fundtrail_telemetry::{TRACE_TARGET, W3c};
use futures::StreamExt;
use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use tracing::field::Empty;

use crate::source::Ordered;
use crate::state::{Positions, Shared};

/// A failpoint for tests: called with the batch's last position inside the transaction, after
/// the documents are written and before the commit; an error aborts the transaction.
pub type Failpoint = Arc<dyn Fn(u64) -> Result<(), PersistError> + Send + Sync>;

/// 16 MiB: thousands of ordinary events, a handful of the largest the store accepts.
pub const DEFAULT_BATCH_BYTES: usize = 16 << 20;

/// About the heaviest event the store takes with its default limits (a 1 MiB payload).
const LARGEST_EVENT: usize = 1 << 20;

/// What an event costs to hold, near enough: its variable parts and a fixed overhead.
pub(crate) fn weight(event: &RecordedEvent) -> usize {
    event.payload.len() + event.metadata.len() + event.stream.len() + event.event_type.len() + 160
}

#[derive(Clone)]
pub struct ProjectorOptions {
    /// Most events folded into one transaction.
    pub batch: usize,
    /// Most bytes of events (payload, metadata, names) held for one transaction: the bound
    /// on the projector's memory whatever the events weigh. An event larger than this is
    /// folded alone.
    pub batch_bytes: usize,
    /// The first wait before resuming after a failure; it doubles up to five seconds.
    pub retry: Duration,
    pub before_commit: Option<Failpoint>,
}

impl Default for ProjectorOptions {
    fn default() -> Self {
        Self {
            batch: 2000,
            batch_bytes: DEFAULT_BATCH_BYTES,
            retry: Duration::from_millis(100),
            before_commit: None,
        }
    }
}

impl std::fmt::Debug for ProjectorOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProjectorOptions")
            .field("batch", &self.batch)
            .field("batch_bytes", &self.batch_bytes)
            .field("retry", &self.retry)
            .field("before_commit", &self.before_commit.is_some())
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ProjectorError {
    #[error(transparent)]
    Persist(#[from] PersistError),
    #[error(transparent)]
    Fold(#[from] FoldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event source: {0}")]
    Source(LogError),
    #[error("documents could not be written as JSON: {0}")]
    Encode(#[from] serde_json::Error),
    #[error("the event source ended")]
    SourceEnded,
    #[error("the store has no event at position {0}, which the source skipped")]
    Missing(u64),
}

/// Keeps the views up to date and shares them.
pub struct Projector {
    shared: Arc<Shared>,
    db: ViewDb,
    store: Arc<dyn EventStore>,
    source: Ordered,
    options: ProjectorOptions,
}

impl std::fmt::Debug for Projector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Projector")
            .field("db", &self.db)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What a session of the loop folds into: the served views, or reloaded ones catching up.
struct Session {
    generations: [i64; 3],
    /// Reloaded views not yet serving; `None` when the batches go to the served views.
    pending: Option<Box<Views>>,
}

fn apply(
    views: &mut Views,
    batch: &[Decoded],
    generations: [i64; 3],
) -> Result<Vec<ViewChanges>, serde_json::Error> {
    for decoded in batch {
        views.apply(decoded);
    }
    let folds: [&mut dyn Fold; 3] = [&mut views.country, &mut views.donors, &mut views.overview];
    folds
        .into_iter()
        .zip(generations)
        .map(|(fold, generation)| {
            Ok(ViewChanges {
                view: fold.name(),
                generation,
                mark: fold.mark(),
                docs: fold.take_changes()?,
            })
        })
        .collect()
}

fn caught_up(pending: &Views, served: Positions) -> bool {
    let mine = Positions::of(pending);
    mine.country.position >= served.country.position
        && mine.donors.position >= served.donors.position
        && mine.overview.position >= served.overview.position
}

impl Projector {
    pub fn new(
        reporting: Reporting,
        db: ViewDb,
        store: Arc<dyn EventStore>,
        source: Arc<dyn EventSource>,
        options: ProjectorOptions,
    ) -> Self {
        Self {
            shared: Arc::new(Shared::new(reporting)),
            db,
            store,
            source: Ordered::new(source, CONSUMER),
            options,
        }
    }

    /// The views this projector keeps, for the API.
    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Runs until `shutdown`, resuming from the database after every failure.
    pub async fn run(self, shutdown: CancellationToken) {
        tokio::join!(
            self.sessions(&shutdown),
            self.watch_lag(&shutdown),
            self.watch_redrives(&shutdown)
        );
        tracing::debug!("projector stopped");
    }

    async fn sessions(&self, shutdown: &CancellationToken) {
        let mut backoff = self.options.retry;
        while !shutdown.is_cancelled() {
            match self.session(shutdown).await {
                Ok(()) => break,
                Err(error) => {
                    fundtrail_telemetry::metrics()
                        .consumer_errors
                        .add(1, &[KeyValue::new(attr::CONSUMER, CONSUMER)]);
                    tracing::warn!(%error, ?backoff, "projector failed; resuming from the stored views");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    }

    /// Records, every [`LAG_INTERVAL`] until `shutdown`, how far each served view trails the
    /// store's head.
    async fn watch_lag(&self, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(LAG_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            match self.store.head().await {
                Ok(head) => {
                    let positions = self.shared.current();
                    let metrics = fundtrail_telemetry::metrics();
                    for view in ViewName::ALL {
                        metrics.projection_lag.record(
                            head.position.saturating_sub(positions.get(view).position),
                            &[KeyValue::new(attr::VIEW, view.as_str())],
                        );
                    }
                }
                Err(error) => {
                    tracing::debug!(%error, "could not measure the views' lag");
                }
            }
        }
    }

    async fn load(&self) -> Result<Session, ProjectorError> {
        let reporting = self.shared.reporting();
        let country = self.db.load::<CountryFunding>(reporting).await?;
        let donors = self.db.load::<DonorStatements>(reporting).await?;
        let overview = self.db.load::<FundOverview>(reporting).await?;
        let views = Views {
            country: country.view,
            donors: donors.view,
            overview: overview.view,
        };
        self.shared.loaded();
        let mut session = Session {
            generations: [country.generation, donors.generation, overview.generation],
            pending: Some(Box::new(views)),
        };
        self.promote(&mut session);
        Ok(session)
    }

    /// Serves the reloaded views once they are where the served ones are.
    fn promote(&self, session: &mut Session) {
        if let Some(pending) = session
            .pending
            .take_if(|p| caught_up(p, self.shared.current()))
        {
            *self.shared.write() = *pending;
        }
        self.shared.publish();
    }

    async fn session(&self, shutdown: &CancellationToken) -> Result<(), ProjectorError> {
        let mut session = self.load().await?;
        let start = match &session.pending {
            Some(views) => Positions::of(views).least(),
            None => self.shared.current().least(),
        };
        let mut expected = start + 1;
        // Fused: a chunk may see the end first, and the next call must see it again.
        let mut events = self.source.events_from(expected).fuse();
        loop {
            let chunk = tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                chunk = ready_chunk(&mut events, self.options.batch, self.options.batch_bytes) => chunk,
            };
            let Some(chunk) = chunk else {
                return Err(ProjectorError::SourceEnded);
            };
            let mut batch = Batch::default();
            for item in chunk {
                let event = item.map_err(ProjectorError::Source)?;
                if event.position < expected {
                    fundtrail_telemetry::metrics()
                        .consumer_duplicates
                        .add(1, &[KeyValue::new(attr::CONSUMER, CONSUMER)]);
                    continue;
                }
                if event.position > expected {
                    self.fill(&mut session, expected, event.position, &mut batch)
                        .await?;
                    if batch.full(&self.options) {
                        self.flush(&mut session, &mut batch).await?;
                    }
                }
                batch.add(&event, self.admit(&event).await?);
                expected = event.position + 1;
            }
            self.flush(&mut session, &mut batch).await?;
        }
    }

    /// Commits what the batch holds, if anything, and empties it.
    async fn flush(&self, session: &mut Session, batch: &mut Batch) -> Result<(), ProjectorError> {
        if batch.decoded.is_empty() {
            return Ok(());
        }
        let committed = self
            .commit(session, &batch.decoded)
            .instrument(commit_span(batch.decoded.len(), &batch.traced))
            .await;
        if committed.is_err() {
            for (span, _) in &batch.traced {
                span.record("otel.status_code", "ERROR");
            }
        }
        committed?;
        fundtrail_telemetry::metrics().consumer_events.add(
            batch.decoded.len() as u64,
            &[
                KeyValue::new(attr::CONSUMER, CONSUMER),
                KeyValue::new(attr::OUTCOME, "applied"),
            ],
        );
        *batch = Batch::default();
        Ok(())
    }

    /// Reads positions `from..to` that the source skipped from the store, committing on the
    /// way whenever the batch reaches its bounds: a gap may be any length.
    async fn fill(
        &self,
        session: &mut Session,
        from: u64,
        to: u64,
        batch: &mut Batch,
    ) -> Result<(), ProjectorError> {
        let mut next = from;
        // A page of the store is held whole, so its length follows what events weigh: at
        // first as if each were as large as the store allows, then by the heaviest seen.
        let mut page =
            (self.options.batch_bytes / LARGEST_EVENT).clamp(1, self.options.batch.max(1));
        while next < to {
            let wanted = usize::try_from(to - next).unwrap_or(usize::MAX).min(page);
            let events = self.store.read_all(next, wanted).await?;
            let heaviest = events.iter().map(weight).max().unwrap_or(1);
            page = (self.options.batch_bytes / heaviest).clamp(1, self.options.batch.max(1));
            for event in &events {
                if event.position != next {
                    return Err(ProjectorError::Missing(next));
                }
                if batch.full(&self.options) {
                    self.flush(session, batch).await?;
                }
                batch.add(event, self.admit(event).await?);
                next += 1;
            }
            if events.is_empty() {
                return Err(ProjectorError::Missing(next));
            }
        }
        Ok(())
    }

    /// An event ready for the folds: unknown types skipped and counted, undecodable payloads
    /// parked and folded as nothing.
    async fn admit(&self, event: &RecordedEvent) -> Result<Decoded, ProjectorError> {
        match decode(event) {
            Ok(decoded) => {
                if decoded.event.is_none() {
                    attention::skip_unknown(CONSUMER, event);
                }
                Ok(decoded)
            }
            Err(error) => {
                // The views' cursors commit with their documents, in a transaction of their
                // own: the item is parked first, and parked again (one more attempt on the same
                // item) if the batch does not commit.
                attention::park(
                    &*self.store,
                    CONSUMER,
                    event,
                    Trouble::undecodable(&error.source),
                    1,
                    None,
                )
                .await?;
                Ok(Decoded {
                    mark: Mark {
                        position: event.position,
                        recorded_at: event.recorded_at,
                    },
                    event: None,
                })
            }
        }
    }

    /// Handles the projector's re-drive requests until `shutdown`.
    async fn watch_redrives(&self, shutdown: &CancellationToken) {
        let mut tick = tokio::time::interval(RetryPolicy::default().redrive_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            if let Err(error) = self.redrive_requested().await {
                tracing::warn!(%error, "could not re-drive the projector's items");
            }
        }
    }

    async fn redrive_requested(&self) -> Result<(), ProjectorError> {
        let queue = self.store.attention();
        let items = queue
            .attention_items(&AttentionQuery::redrives(CONSUMER))
            .await?;
        let mut readable = Vec::new();
        for item in items {
            let event = self
                .store
                .read_all(item.position, 1)
                .await?
                .into_iter()
                .next()
                .filter(|e| e.event_id == item.event_id);
            let trouble = match event.as_ref().map(decode) {
                Some(Ok(_)) => {
                    readable.push(item);
                    continue;
                }
                Some(Err(error)) => Trouble::undecodable(&error.source),
                None => Trouble {
                    kind: item.kind,
                    reason: item.reason.clone(),
                    cause: format!(
                        "the store holds no event {} at position {}",
                        item.event_id, item.position
                    ),
                },
            };
            queue
                .settle_redrive(
                    item.id,
                    Redriven::StillFailing {
                        kind: trouble.kind,
                        reason: trouble.reason,
                        cause: trouble.cause,
                    },
                )
                .await?;
        }
        if readable.is_empty() {
            return Ok(());
        }
        // The served views are past these positions: one rebuild folds them all in.
        let rebuilt = fundtrail_projections::rebuild(
            self.store.clone(),
            &self.db,
            self.shared.reporting(),
            &[],
            RebuildOptions::default(),
            |_| {},
        )
        .await;
        let outcome = match &rebuilt {
            Ok(_) => Redriven::Resolved,
            Err(error) => Redriven::StillFailing {
                kind: AttentionKind::Failed,
                reason: String::new(),
                cause: format!("rebuilding the views: {error}"),
            },
        };
        for item in readable {
            queue.settle_redrive(item.id, outcome.clone()).await?;
        }
        Ok(())
    }

    async fn commit(&self, session: &mut Session, batch: &[Decoded]) -> Result<(), ProjectorError> {
        let changes = match session.pending.as_deref_mut() {
            Some(views) => apply(views, batch, session.generations)?,
            None => apply(&mut self.shared.write(), batch, session.generations)?,
        };
        let last = batch.last().map_or(0, |d| d.mark.position);
        let failpoint = self.options.before_commit.clone();
        let hook = move || failpoint.as_ref().map_or(Ok(()), |f| f(last));
        self.db.commit(&changes, Some(&hook)).await?;
        self.source.acknowledge(last);
        self.promote(session);
        Ok(())
    }
}

/// The projector's name in metrics and spans, and its consumer name on the log: every
/// projector reads every partition under it rather than sharing a group with a reaction.
const CONSUMER: &str = "projector";
/// How often the views' lag is measured.
const LAG_INTERVAL: Duration = Duration::from_secs(5);
/// Most events of one batch its commit span links to.
const MAX_LINKS: usize = 128;

/// The span of one event from its arrival until its batch is committed: a child of the span
/// that recorded it, so the views' update shows in the command's trace. Events outside any
/// sampled trace get none.
fn apply_span(event: &RecordedEvent) -> Option<(tracing::Span, W3c)> {
    if !fundtrail_telemetry::enabled() {
        return None;
    }
    let trace = fundtrail_log::envelope::trace_context(&event.metadata).filter(W3c::is_sampled)?;
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        parent: None,
        "apply",
        otel.name = "apply projector",
        otel.kind = "consumer",
        otel.status_code = Empty,
        messaging.consumer.group.name = CONSUMER,
        fundtrail.position = event.position,
        fundtrail.event_type = %event.event_type,
    );
    trace.parent(&span);
    Some((span, trace))
}

/// The span of a batch's transaction. One transaction serves many traces: it sits under the
/// first traced event's `apply` span and links to the others'.
fn commit_span(events: usize, traced: &[(tracing::Span, W3c)]) -> tracing::Span {
    let Some(((first, _), others)) = traced.split_first() else {
        return tracing::Span::none();
    };
    let span = tracing::info_span!(
        target: TRACE_TARGET,
        parent: first,
        "commit",
        otel.name = "commit projector",
        fundtrail.events = events,
    );
    for (_, trace) in others.iter().take(MAX_LINKS) {
        trace.link(&span);
    }
    span
}

/// The events of one transaction, and what they weigh.
#[derive(Default)]
struct Batch {
    decoded: Vec<Decoded>,
    traced: Vec<(tracing::Span, W3c)>,
    bytes: usize,
}

impl Batch {
    fn add(&mut self, event: &RecordedEvent, decoded: Decoded) {
        self.traced.extend(apply_span(event));
        self.bytes += weight(event);
        self.decoded.push(decoded);
    }

    fn full(&self, options: &ProjectorOptions) -> bool {
        self.decoded.len() >= options.batch.max(1) || self.bytes >= options.batch_bytes
    }
}

/// The next item of `events` and whatever else is ready at once, up to `count` items or
/// `bytes` of events (the item that crosses the bound is the last); `None` when the stream
/// ended.
async fn ready_chunk<S>(
    events: &mut S,
    count: usize,
    bytes: usize,
) -> Option<Vec<Result<RecordedEvent, LogError>>>
where
    S: futures::Stream<Item = Result<RecordedEvent, LogError>> + Unpin,
{
    use futures::FutureExt;

    let first = events.next().await?;
    let mut held = first.as_ref().map_or(0, weight);
    let mut chunk = vec![first];
    while chunk.len() < count.max(1) && held < bytes {
        match events.next().now_or_never() {
            Some(Some(item)) => {
                held += item.as_ref().map_or(0, weight);
                chunk.push(item);
            }
            // The stream ended: hand out what is here; the next call reports the end.
            Some(None) | None => break,
        }
    }
    Some(chunk)
}
