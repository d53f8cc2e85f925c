//! Keeping the Merkle tree up to date: a follower in the projector's process, like the
//! periodic signer, tails the store and appends one leaf per event (its chain hash), storing
//! each complete subtree as it closes.
//!
//! Why a follower and not the append transaction: appends hold the store's one sequencer lock
//! (docs/architecture.md §4), and everything done inside it slows every writer of the fund;
//! the tree is not needed to accept a command, only to prove one, so it is kept outside that
//! critical section, which stays as it was. Its lag is bounded: it is woken with every commit,
//! as any subscriber is, and the signer brings the tree to the head itself before it signs, so
//! a signed tree is never missing a leaf.
//!
//! The follower checks the chain as it goes (each event must link to the one before and hash
//! to its stored hash), so the tree only ever holds verified chain hashes. It resumes from the
//! tree's stored size after a restart, and [`rebuild`] makes it again from the events alone.
//! Several followers on one database write the same rows and keep the first.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_store::{EventStore, RecordedEvent, StoreError};
use fundtrail_verifier::merkle::{self, CompactRange, Hash, NodeId};
use fundtrail_verifier::{Finding, Problem, chain};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::storage::{CheckpointStore, StorageError};
use crate::stored;

/// Events appended per write.
pub const BATCH: usize = 1000;
/// How long the follower waits before trying again after a failure.
const RETRY: Duration = Duration::from_secs(5);

/// Why the tree could not be extended.
#[derive(Debug, thiserror::Error)]
pub enum TreeError {
    #[error("the history no longer verifies, the tree is not extended: {0}")]
    Tampered(Finding),
    #[error(
        "the stored Merkle tree does not agree with the history: {0} (rebuild it from the \
         events: fundtrail audit rebuild-tree)"
    )]
    Altered(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The right edge of the stored tree and the chain hash of its last leaf: what appending the
/// next event needs.
#[derive(Debug, Clone)]
pub struct TreeWriter {
    range: CompactRange,
    last_hash: Hash,
}

impl TreeWriter {
    /// The stored tree's right edge, checked: its subtrees must be there and its last leaf
    /// must be the chain hash of the event at its size, which must still hash to it.
    pub async fn load(store: &dyn EventStore, tree: &CheckpointStore) -> Result<Self, TreeError> {
        let size = tree.tree_size().await?;
        if size == 0 {
            return Ok(Self {
                range: CompactRange::new(),
                last_hash: chain::GENESIS,
            });
        }
        let ids = CompactRange::ids(size);
        let leaf = NodeId::new(0, size - 1);
        let mut wanted = ids.clone();
        wanted.push(leaf);
        let nodes = tree.tree_nodes(&wanted).await?;
        let hashes = ids
            .iter()
            .map(|id| {
                nodes.get(id).copied().ok_or_else(|| {
                    TreeError::Altered(format!(
                        "the subtree at level {} index {} of its right edge is missing",
                        id.level, id.index
                    ))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let range = CompactRange::from_hashes(size, hashes)
            .ok_or_else(|| TreeError::Altered("its right edge is incomplete".to_owned()))?;
        let event = store
            .read_all(size, 1)
            .await?
            .into_iter()
            .next()
            .filter(|e| e.position == size)
            .ok_or_else(|| {
                TreeError::Tampered(Finding {
                    position: size,
                    stream: None,
                    problem: Problem::Truncated { last: size - 1 },
                })
            })?;
        let envelope = stored::envelope(event);
        let computed = chain::link(&envelope.prev_hash, &envelope);
        if computed != Some(envelope.hash) {
            return Err(TreeError::Tampered(Finding {
                position: size,
                stream: Some(envelope.stream),
                problem: match computed {
                    Some(computed) => Problem::HashMismatch {
                        stored: envelope.hash,
                        computed,
                    },
                    None => Problem::Oversized,
                },
            }));
        }
        if nodes.get(&leaf) != Some(&merkle::event_leaf(&envelope.hash)) {
            return Err(TreeError::Altered(format!(
                "its leaf {} is not the chain hash of the event at position {size}",
                size - 1
            )));
        }
        Ok(Self {
            range,
            last_hash: envelope.hash,
        })
    }

    /// How many leaves the tree has.
    pub fn size(&self) -> u64 {
        self.range.size()
    }

    pub fn root(&self) -> Hash {
        self.range.root()
    }

    /// Appends the next event after checking that it continues the chain; returns the
    /// subtrees it completed.
    pub fn push(&mut self, event: &RecordedEvent) -> Result<Vec<(NodeId, Hash)>, TreeError> {
        let next = self.size() + 1;
        let at = |problem| {
            TreeError::Tampered(Finding {
                position: next,
                stream: Some(event.stream.clone()),
                problem,
            })
        };
        if event.position != next {
            return Err(TreeError::Tampered(Finding {
                position: next,
                stream: None,
                problem: Problem::OutOfOrder {
                    found: event.position,
                },
            }));
        }
        if event.prev_hash != self.last_hash {
            return Err(at(Problem::PrevHashMismatch {
                stored: event.prev_hash,
                expected: self.last_hash,
            }));
        }
        let envelope = stored::envelope(event.clone());
        match chain::link(&self.last_hash, &envelope) {
            None => Err(at(Problem::Oversized)),
            Some(computed) if computed != event.hash => Err(at(Problem::HashMismatch {
                stored: event.hash,
                computed,
            })),
            Some(hash) => {
                self.last_hash = hash;
                Ok(self.range.append(merkle::event_leaf(&hash)))
            }
        }
    }
}

/// Appends every event after the stored tree up to `to` (the head when `None`); returns the
/// tree's size.
pub async fn catch_up(
    store: &dyn EventStore,
    tree: &CheckpointStore,
    to: Option<u64>,
) -> Result<u64, TreeError> {
    let mut writer = TreeWriter::load(store, tree).await?;
    let to = match to {
        Some(to) => to,
        None => store.head().await?.position,
    };
    while writer.size() < to {
        let events = store.read_all(writer.size() + 1, BATCH).await?;
        if events.is_empty() {
            return Err(TreeError::Tampered(Finding {
                position: writer.size() + 1,
                stream: None,
                problem: Problem::Truncated {
                    last: writer.size(),
                },
            }));
        }
        let mut nodes = Vec::new();
        let mut failure = None;
        for event in events.iter().take_while(|e| e.position <= to) {
            match writer.push(event) {
                Ok(completed) => nodes.extend(completed),
                Err(error) => {
                    failure = Some(error);
                    break;
                }
            }
        }
        // What verified before a break is kept.
        tree.save_tree_nodes(&nodes).await?;
        if let Some(error) = failure {
            return Err(error);
        }
    }
    Ok(writer.size())
}

/// Makes the tree again from the events alone, up to the head; returns its size.
pub async fn rebuild(store: &dyn EventStore, tree: &CheckpointStore) -> Result<u64, TreeError> {
    tree.clear_tree_nodes().await?;
    catch_up(store, tree, None).await
}

/// Follows the store until `shutdown`, appending each event's leaf as it commits.
pub async fn run(store: Arc<dyn EventStore>, tree: CheckpointStore, shutdown: CancellationToken) {
    loop {
        let outcome = tokio::select! {
            () = shutdown.cancelled() => return,
            outcome = follow(store.as_ref(), &tree) => outcome,
        };
        match outcome {
            Err(error @ (TreeError::Tampered(_) | TreeError::Altered(_))) => {
                // Loud and repeated on purpose, as the signer's: someone must look.
                tracing::error!(%error, "Merkle tree follower: not extending the tree");
            }
            Err(error) => tracing::warn!(%error, "Merkle tree follower: will retry"),
            Ok(()) => {}
        }
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(RETRY) => {}
        }
    }
}

/// Tails the store from the tree's size; returns when the subscription ends or fails.
async fn follow(store: &dyn EventStore, tree: &CheckpointStore) -> Result<(), TreeError> {
    let mut writer = TreeWriter::load(store, tree).await?;
    tracing::debug!(size = writer.size(), "Merkle tree follower: resuming");
    // Whatever has committed by the time a batch is taken goes into one write.
    let mut batches = store.subscribe(writer.size() + 1).ready_chunks(BATCH);
    while let Some(batch) = batches.next().await {
        let mut nodes = Vec::new();
        let mut failure = None;
        for event in batch {
            match event {
                Ok(event) => match writer.push(&event) {
                    Ok(completed) => nodes.extend(completed),
                    Err(error) => {
                        failure = Some(error);
                        break;
                    }
                },
                Err(error) => {
                    failure = Some(error.into());
                    break;
                }
            }
        }
        // What verified before a failure is kept.
        tree.save_tree_nodes(&nodes).await?;
        if let Some(error) = failure {
            return Err(error);
        }
    }
    Ok(())
}
