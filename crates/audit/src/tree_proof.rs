//! Building Merkle proofs from the stored tree: which subtrees a proof needs is worked out
//! first (`fundtrail_verifier::merkle`), then they are read in one query. Checking a proof is
//! the verifier's, on the client's side.
//!
//! A server answers from a [`TreeReader`], which keeps the subtrees it read in memory: a
//! complete subtree never changes once its leaves exist, so what was read once serves every
//! later proof, and most proofs need no query at all. The signer reads the table itself (the
//! free functions here), so that what it checks is what is stored now.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use fundtrail_store::{EventStore, RecordedEvent, StoreError};
use fundtrail_verifier::EventInclusion;
use fundtrail_verifier::merkle::{self, Hash, MissingNode, NodeId};

use crate::storage::{CheckpointStore, StorageError};
use crate::stored;

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TreeProveError {
    #[error("position 0 does not exist; positions start at 1")]
    Zero,
    #[error("position {position} is after the tree of size {size}")]
    AfterTree { position: u64, size: u64 },
    #[error(
        "a consistency proof goes from a smaller tree to a larger one, not from {from} to {to}"
    )]
    Order { from: u64, to: u64 },
    #[error("no event at position {0}: the store no longer holds what the tree covers")]
    Missing(u64),
    #[error("the stored Merkle tree is incomplete: {0}")]
    Incomplete(#[from] MissingNode),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// From this level up, subtrees stay in memory once read: a tree of `n` leaves has `n / 256`
/// of them, 40,000 for ten million events.
const UPPER_LEVEL: u8 = 8;
/// Subtrees below [`UPPER_LEVEL`] kept at most; when full, they are dropped all at once and
/// read again as proofs need them (about 20 MiB).
const LOWER_CAPACITY: usize = 262_144;

#[derive(Debug, Default)]
struct Cached {
    upper: HashMap<NodeId, Hash>,
    lower: HashMap<NodeId, Hash>,
}

/// Proofs for a server: the stored tree with the subtrees already read kept in memory.
#[derive(Debug, Clone)]
pub struct TreeReader {
    tree: CheckpointStore,
    cached: Arc<RwLock<Cached>>,
}

impl TreeReader {
    pub fn new(tree: CheckpointStore) -> Self {
        Self {
            tree,
            cached: Arc::default(),
        }
    }

    pub fn tree(&self) -> &CheckpointStore {
        &self.tree
    }

    /// The subtrees asked for: those in memory, and the rest in one query.
    async fn nodes(&self, ids: &[NodeId]) -> Result<HashMap<NodeId, Hash>, StorageError> {
        let mut found = HashMap::with_capacity(ids.len());
        let mut missing = Vec::new();
        {
            let cached = self
                .cached
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            for id in ids {
                let map = if id.level >= UPPER_LEVEL {
                    &cached.upper
                } else {
                    &cached.lower
                };
                match map.get(id) {
                    Some(hash) => {
                        found.insert(*id, *hash);
                    }
                    None => missing.push(*id),
                }
            }
        }
        if missing.is_empty() {
            return Ok(found);
        }
        let read = self.tree.tree_nodes(&missing).await?;
        {
            let mut cached = self
                .cached
                .write()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if cached.lower.len() + read.len() > LOWER_CAPACITY {
                cached.lower.clear();
            }
            for (id, hash) in &read {
                if id.level >= UPPER_LEVEL {
                    cached.upper.insert(*id, *hash);
                } else {
                    cached.lower.insert(*id, *hash);
                }
            }
        }
        found.extend(read);
        Ok(found)
    }

    /// The inclusion proof of the event at `position` in the tree of `size` leaves.
    pub async fn event_inclusion(
        &self,
        store: &dyn EventStore,
        position: u64,
        size: u64,
    ) -> Result<EventInclusion, TreeProveError> {
        let event = read_event(store, position, size).await?;
        Ok(self.inclusions(vec![event], size).await?.remove(0))
    }

    /// The inclusion proofs of several events in the tree of `size` leaves.
    pub async fn inclusions(
        &self,
        events: Vec<RecordedEvent>,
        size: u64,
    ) -> Result<Vec<EventInclusion>, TreeProveError> {
        let paths = plan(&events, size)?;
        let all: Vec<(u64, u64)> = paths.iter().flatten().copied().collect();
        let nodes = self.nodes(&merkle::nodes_of(&all)).await?;
        build(events, paths, size, &nodes)
    }

    /// The inclusion path of leaf `index` in the tree of `size` leaves.
    pub async fn path(&self, index: u64, size: u64) -> Result<Vec<Hash>, TreeProveError> {
        let ranges = merkle::inclusion_ranges(index, size);
        let nodes = self.nodes(&merkle::nodes_of(&ranges)).await?;
        Ok(merkle::range_hashes(&ranges, |id| nodes.get(&id).copied())?)
    }

    /// The consistency proof from the tree of `from` leaves to the tree of `to`.
    pub async fn consistency(&self, from: u64, to: u64) -> Result<Vec<Hash>, TreeProveError> {
        if from > to {
            return Err(TreeProveError::Order { from, to });
        }
        let ranges = merkle::consistency_ranges(from, to);
        let nodes = self.nodes(&merkle::nodes_of(&ranges)).await?;
        Ok(merkle::range_hashes(&ranges, |id| nodes.get(&id).copied())?)
    }
}

async fn read_event(
    store: &dyn EventStore,
    position: u64,
    size: u64,
) -> Result<RecordedEvent, TreeProveError> {
    if position == 0 {
        return Err(TreeProveError::Zero);
    }
    if position > size {
        return Err(TreeProveError::AfterTree { position, size });
    }
    store
        .read_all(position, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| e.position == position)
        .ok_or(TreeProveError::Missing(position))
}

/// The ranges of every event's path, after checking the events are in the tree.
fn plan(events: &[RecordedEvent], size: u64) -> Result<Vec<Vec<(u64, u64)>>, TreeProveError> {
    if let Some(late) = events.iter().find(|e| e.position == 0 || e.position > size) {
        return Err(if late.position == 0 {
            TreeProveError::Zero
        } else {
            TreeProveError::AfterTree {
                position: late.position,
                size,
            }
        });
    }
    Ok(events
        .iter()
        .map(|e| merkle::inclusion_ranges(e.position - 1, size))
        .collect())
}

fn build(
    events: Vec<RecordedEvent>,
    paths: Vec<Vec<(u64, u64)>>,
    size: u64,
    nodes: &HashMap<NodeId, Hash>,
) -> Result<Vec<EventInclusion>, TreeProveError> {
    events
        .into_iter()
        .zip(paths)
        .map(|(event, path)| {
            let hashes = merkle::range_hashes(&path, |id| nodes.get(&id).copied())?;
            Ok(EventInclusion {
                leaf_index: event.position - 1,
                tree_size: size,
                hashes,
                envelope: stored::envelope(event),
            })
        })
        .collect()
}

/// The inclusion proof of the event at `position` in the tree of `size` leaves.
pub async fn event_inclusion(
    store: &dyn EventStore,
    tree: &CheckpointStore,
    position: u64,
    size: u64,
) -> Result<EventInclusion, TreeProveError> {
    let event = read_event(store, position, size).await?;
    Ok(inclusions(tree, vec![event], size).await?.remove(0))
}

/// The inclusion proofs of several events in the tree of `size` leaves, from one read of the
/// subtrees they need.
pub async fn inclusions(
    tree: &CheckpointStore,
    events: Vec<RecordedEvent>,
    size: u64,
) -> Result<Vec<EventInclusion>, TreeProveError> {
    let paths = plan(&events, size)?;
    let all: Vec<(u64, u64)> = paths.iter().flatten().copied().collect();
    let nodes = tree.tree_nodes(&merkle::nodes_of(&all)).await?;
    build(events, paths, size, &nodes)
}

/// The inclusion path of leaf `index` in the tree of `size` leaves.
pub async fn path(
    tree: &CheckpointStore,
    index: u64,
    size: u64,
) -> Result<Vec<Hash>, TreeProveError> {
    let ranges = merkle::inclusion_ranges(index, size);
    let nodes = tree.tree_nodes(&merkle::nodes_of(&ranges)).await?;
    Ok(merkle::range_hashes(&ranges, |id| nodes.get(&id).copied())?)
}

/// The consistency proof from the tree of `from` leaves to the tree of `to`.
pub async fn consistency(
    tree: &CheckpointStore,
    from: u64,
    to: u64,
) -> Result<Vec<Hash>, TreeProveError> {
    if from > to {
        return Err(TreeProveError::Order { from, to });
    }
    let ranges = merkle::consistency_ranges(from, to);
    let nodes = tree.tree_nodes(&merkle::nodes_of(&ranges)).await?;
    Ok(merkle::range_hashes(&ranges, |id| nodes.get(&id).copied())?)
}

/// The root of the stored tree of `size` leaves, from its right edge.
pub async fn root(tree: &CheckpointStore, size: u64) -> Result<Hash, TreeProveError> {
    let ids = merkle::CompactRange::ids(size);
    let nodes = tree.tree_nodes(&ids).await?;
    let hashes = ids
        .iter()
        .map(|id| nodes.get(id).copied().ok_or(MissingNode(*id)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(merkle::fold(&hashes).unwrap_or_else(merkle::empty_root))
}
