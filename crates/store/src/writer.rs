//! Group commit: one writer task per store instance drains a queue of appends and commits
//! them in as few transactions as the load allows. While one transaction is in flight the
//! next appends queue up, so batches grow with concurrency and no latency is added when the
//! store is idle.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use tokio::sync::{mpsc, oneshot, watch};

use crate::error::StoreError;
use crate::types::{AppendRequest, AppendResult, Head, StoreOptions, StoreStats};

/// The backend half of group commit: runs one transaction for a whole batch.
#[async_trait]
pub(crate) trait Committer: Send + Sync + 'static {
    /// Commits the batch's acceptable appends in one transaction and returns one outcome per
    /// append plus the new head (`None` when nothing was written). `Err` means the
    /// transaction did not commit, so nothing of the batch was written.
    async fn commit(&self, batch: &[AppendRequest]) -> Result<BatchOutcome, StoreError>;
}

#[derive(Debug)]
pub(crate) struct BatchOutcome {
    pub outcomes: Vec<Result<AppendResult, StoreError>>,
    pub head: Option<Head>,
}

type Reply = oneshot::Sender<Result<AppendResult, StoreError>>;

#[derive(Debug, Default)]
pub(crate) struct Counters {
    appends: AtomicU64,
    events: AtomicU64,
    replays: AtomicU64,
    transactions: AtomicU64,
    failed_batches: AtomicU64,
}

impl Counters {
    pub fn snapshot(&self) -> StoreStats {
        StoreStats {
            appends: self.appends.load(Ordering::Relaxed),
            events: self.events.load(Ordering::Relaxed),
            replays: self.replays.load(Ordering::Relaxed),
            transactions: self.transactions.load(Ordering::Relaxed),
            failed_batches: self.failed_batches.load(Ordering::Relaxed),
        }
    }
}

/// The handle appenders use; cheap to share.
#[derive(Debug)]
pub(crate) struct Writer {
    queue: mpsc::Sender<(AppendRequest, Reply)>,
    counters: Arc<Counters>,
}

impl Writer {
    /// Starts the writer task; it ends when the last handle is dropped.
    pub fn spawn(
        committer: impl Committer,
        options: &StoreOptions,
        head_position: Arc<watch::Sender<u64>>,
    ) -> Self {
        let (queue, rx) = mpsc::channel(options.queue_capacity.max(1));
        let counters = Arc::new(Counters::default());
        let task = WriterTask {
            committer,
            rx,
            counters: counters.clone(),
            head_position,
            max_appends: options.max_batch_appends.max(1),
            max_events: options.max_batch_events.max(1),
            last_batch: 0,
        };
        tokio::spawn(task.run());
        Self { queue, counters }
    }

    pub async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((request, reply))
            .await
            .map_err(|_| StoreError::Unavailable("the store's writer has stopped".into()))?;
        answer.await.map_err(|_| {
            StoreError::Unavailable("the store's writer stopped before answering".into())
        })?
    }

    pub fn stats(&self) -> StoreStats {
        self.counters.snapshot()
    }
}

struct WriterTask<C> {
    committer: C,
    rx: mpsc::Receiver<(AppendRequest, Reply)>,
    counters: Arc<Counters>,
    head_position: Arc<watch::Sender<u64>>,
    max_appends: usize,
    max_events: usize,
    last_batch: usize,
}

/// Scheduler turns the writer waits for stragglers of the previous batch.
const MAX_LINGER: usize = 8;

impl<C: Committer> WriterTask<C> {
    async fn run(mut self) {
        let mut carried: Option<(AppendRequest, Reply)> = None;
        loop {
            let first = match carried.take() {
                Some(job) => job,
                None => match self.rx.recv().await {
                    Some(job) => job,
                    None => return,
                },
            };
            let mut events = first.0.events.len();
            let mut requests = vec![first.0];
            let mut replies = vec![first.1];
            let mut lingered = 0;
            while requests.len() < self.max_appends {
                let job = match self.rx.try_recv() {
                    Ok(job) => job,
                    // Callers woken by the last commit on other worker threads may still be
                    // on their way: wait a few scheduler turns (no timer, so an idle store adds
                    // no latency) while the batch is smaller than the last one.
                    Err(_) if lingered < MAX_LINGER && requests.len() < self.last_batch => {
                        lingered += 1;
                        tokio::task::yield_now().await;
                        continue;
                    }
                    Err(_) => break,
                };
                if events + job.0.events.len() > self.max_events {
                    carried = Some(job);
                    break;
                }
                events += job.0.events.len();
                requests.push(job.0);
                replies.push(job.1);
            }
            self.last_batch = requests.len();
            let outcomes = self.commit_batch(&requests).await;
            for (reply, outcome) in replies.into_iter().zip(outcomes) {
                // The caller may have gone away (cancelled); its append stands regardless.
                let _ = reply.send(outcome);
            }
            // The callers just woken are queued behind this task on its worker thread; letting
            // them run first means their next appends make the next batch instead of trickling
            // into a batch of one. With nothing else runnable this returns at once.
            tokio::task::yield_now().await;
        }
    }

    async fn commit_batch(
        &self,
        requests: &[AppendRequest],
    ) -> Vec<Result<AppendResult, StoreError>> {
        self.counters
            .appends
            .fetch_add(requests.len() as u64, Ordering::Relaxed);
        match self.commit_once(requests).await {
            Ok(outcomes) => outcomes,
            Err(err) if requests.len() == 1 => vec![Err(err)],
            Err(err) => {
                // A batch fails as a whole only on something the plan could not foresee (a
                // constraint like an event id stored earlier, or a lost connection). Retrying
                // append by append confines a bad append's failure to its own caller.
                tracing::warn!(error = %err, appends = requests.len(), "batch failed; retrying appends one by one");
                self.counters.failed_batches.fetch_add(1, Ordering::Relaxed);
                let mut outcomes = Vec::with_capacity(requests.len());
                for request in requests {
                    let outcome = match self.commit_once(std::slice::from_ref(request)).await {
                        Ok(mut one) => one.pop().unwrap_or_else(|| {
                            Err(StoreError::Unavailable(
                                "the batch returned no outcome".into(),
                            ))
                        }),
                        Err(err) => Err(err),
                    };
                    outcomes.push(outcome);
                }
                outcomes
            }
        }
    }

    async fn commit_once(
        &self,
        requests: &[AppendRequest],
    ) -> Result<Vec<Result<AppendResult, StoreError>>, StoreError> {
        let BatchOutcome { outcomes, head } = self.committer.commit(requests).await?;
        self.counters.transactions.fetch_add(1, Ordering::Relaxed);
        let (mut events, mut replays) = (0, 0);
        for result in outcomes.iter().flatten() {
            if result.replayed {
                replays += 1;
            } else {
                events += result.last_position - result.first_position + 1;
            }
        }
        self.counters.events.fetch_add(events, Ordering::Relaxed);
        self.counters.replays.fetch_add(replays, Ordering::Relaxed);
        if let Some(head) = head {
            // Wake local subscribers at once, before any notification round trip.
            self.head_position.send_if_modified(|seen| {
                let moved = head.position > *seen;
                *seen = (*seen).max(head.position);
                moved
            });
        }
        Ok(outcomes)
    }
}
