//! Signing the store's head: on demand, and periodically while the history grows.
//!
//! A checkpoint is only signed over a chain that was recomputed from the previous checkpoint
//! (from genesis for the first one), so the fund never signs a history that was altered
//! behind the store's back since it last signed. Each time, the chain checkpoint and the
//! Merkle tree's checkpoint of the same size are signed together.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use fundtrail_store::{EventStore, StoreError};
use tokio_util::sync::CancellationToken;

use fundtrail_verifier::merkle::{self, CompactRange, Hash};
use fundtrail_verifier::note::{self, Checkpoint, LogKey, Note};
use fundtrail_verifier::{ChainVerifier, Finding, Problem, SignedCheckpoint};

use crate::follower::{self, TreeError};
use crate::key::CheckpointSigner;
use crate::storage::{CheckpointStore, StorageError};
use crate::stored;
use crate::tree::TreeCheckpoint;
use crate::tree_proof::{self, TreeProveError};

/// Events read per query while recomputing the chain.
const BATCH: usize = 1000;

/// Why the head was not signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the store is empty: there is no head to sign")]
    Empty,
    #[error("refusing to sign: the history no longer verifies: {0}")]
    Tampered(Finding),
    #[error("refusing to sign: {0}")]
    TreeAltered(String),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<TreeError> for SignError {
    fn from(error: TreeError) -> Self {
        match error {
            TreeError::Tampered(finding) => Self::Tampered(finding),
            altered @ TreeError::Altered(_) => Self::TreeAltered(altered.to_string()),
            TreeError::Storage(error) => Self::Storage(error),
            TreeError::Store(error) => Self::Store(error),
        }
    }
}

impl From<TreeProveError> for SignError {
    fn from(error: TreeProveError) -> Self {
        match error {
            TreeProveError::Storage(error) => Self::Storage(error),
            TreeProveError::Store(error) => Self::Store(error),
            other => Self::TreeAltered(format!("the stored Merkle tree: {other}")),
        }
    }
}

/// What signing the head made: the chain checkpoint and the tree checkpoint of one size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeads {
    pub chain: SignedCheckpoint,
    pub tree: TreeCheckpoint,
}

/// Signs the store's current head and stores the checkpoint; returns the stored one when the
/// head is already signed by this key. The tree checkpoint of the same size is signed too
/// ([`sign_heads`]).
pub async fn sign_head(
    store: &dyn EventStore,
    checkpoints: &CheckpointStore,
    signer: &CheckpointSigner,
) -> Result<SignedCheckpoint, SignError> {
    Ok(sign_heads(store, checkpoints, signer).await?.chain)
}

/// Signs the head twice: the chain checkpoint (`u64be(position) || hash`) and the C2SP
/// checkpoint of the Merkle tree of the same size.
///
/// Both are signed only over a chain recomputed since this key's previous checkpoints (the
/// earlier of the two; from genesis when there is none), and the tree's root is computed here
/// from the previous signed root's subtrees, checked against that root, extended by the
/// recomputed chain hashes: so the new tree head extends every one signed before, whatever
/// the tree table holds. The stored tree is then brought to the head and must give the same
/// root, or nothing is signed (its proofs would not verify).
pub async fn sign_heads(
    store: &dyn EventStore,
    checkpoints: &CheckpointStore,
    signer: &CheckpointSigner,
) -> Result<SignedHeads, SignError> {
    let head = store.head().await?;
    if head.position == 0 {
        return Err(SignError::Empty);
    }
    // Only this key's own checkpoints are anchors: a row written into the table by anyone
    // else must not let the signer skip re-reading the history after it.
    let previous = checkpoints.latest_by(&signer.public_key()).await?;
    if let Some(cp) = previous.as_ref().filter(|cp| !cp.signature_valid()) {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: None,
            problem: Problem::BadSignature,
        }));
    }
    let previous_tree = match checkpoints
        .latest_tree_checkpoint_by(&signer.public_key())
        .await?
    {
        Some(cp) => Some(open_previous(&cp, signer)?),
        None => None,
    };
    let chain_anchor = previous.as_ref().map_or(0, |cp| cp.position);
    let tree_anchor = previous_tree.as_ref().map_or(0, |cp| cp.size);
    if let Some(beyond) = [chain_anchor, tree_anchor]
        .into_iter()
        .find(|&p| p > head.position)
    {
        return Err(SignError::Tampered(Finding {
            position: beyond,
            stream: None,
            problem: Problem::Truncated {
                last: head.position,
            },
        }));
    }
    let start = chain_anchor.min(tree_anchor);
    let mut verifier = match (&previous, &previous_tree) {
        _ if start == 0 => ChainVerifier::new(),
        (Some(cp), _) if cp.position == start => anchor(store, cp).await?,
        (_, Some(tree)) => anchor_in_tree(store, checkpoints, tree).await?,
        // Without a tree checkpoint the start is genesis, handled above.
        _ => ChainVerifier::new(),
    };
    let mut next = verifier.head().0 + 1;
    while next <= head.position {
        let events = store.read_all(next, BATCH).await?;
        if events.is_empty() {
            break;
        }
        for event in events
            .into_iter()
            .take_while(|e| e.position <= head.position)
        {
            if let Some(finding) = verifier.push(&stored::envelope(event)) {
                return Err(SignError::Tampered(finding.clone()));
            }
        }
        next = verifier.head().0 + 1;
    }
    let (position, hash) = verifier.head();
    if position != head.position {
        return Err(SignError::Tampered(Finding {
            position: position + 1,
            stream: None,
            problem: Problem::Truncated { last: position },
        }));
    }

    let root = extend_signed_root(checkpoints, previous_tree.as_ref(), &verifier, position).await?;
    follower::catch_up(store, checkpoints, Some(position)).await?;
    let stored_root = tree_proof::root(checkpoints, position).await?;
    if stored_root != root {
        return Err(SignError::TreeAltered(format!(
            "the stored Merkle tree of size {position} has root {}, but the verified history \
             gives {} (rebuild the tree from the events: fundtrail audit rebuild-tree)",
            hex::encode(stored_root),
            hex::encode(root)
        )));
    }

    let signed_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let unchanged = previous.filter(|cp| {
        cp.position == position && cp.hash == hash && cp.public_key == signer.public_key()
    });
    let chain = if let Some(cp) = unchanged {
        cp
    } else {
        let checkpoint = signer.sign(position, hash, signed_at.clone());
        checkpoints.save(&checkpoint).await?;
        checkpoint
    };
    let tree = match checkpoints.tree_checkpoint(Some(position)).await? {
        Some(cp) if cp.public_key == signer.public_key() && cp.root == root => cp,
        _ => {
            let cp = TreeCheckpoint {
                tree_size: position,
                public_key: signer.public_key(),
                root,
                note: signer.sign_tree(position, root),
                signed_at,
            };
            checkpoints.save_tree_checkpoint(&cp).await?;
            cp
        }
    };
    Ok(SignedHeads { chain, tree })
}

/// This key's previous tree checkpoint, opened: its stored note must still carry a valid
/// signature by the key (under whatever origin it was signed with).
fn open_previous(cp: &TreeCheckpoint, signer: &CheckpointSigner) -> Result<Checkpoint, SignError> {
    let bad = || {
        SignError::Tampered(Finding {
            position: cp.tree_size,
            stream: None,
            problem: Problem::BadSignature,
        })
    };
    let note = Note::parse(&cp.note).map_err(|_| bad())?;
    let body = Checkpoint::parse(&note.text).map_err(|_| bad())?;
    let key = LogKey::new(&body.origin, signer.public_key());
    let (opened, _) = note::open_checkpoint(&cp.note, &key).map_err(|_| bad())?;
    if opened.size != cp.tree_size || opened.root != cp.root {
        return Err(bad());
    }
    Ok(opened)
}

/// The root of the tree of `size` leaves: the previous signed tree's right edge, read from the
/// table and checked to give the signed root, extended by the chain hashes just recomputed.
async fn extend_signed_root(
    checkpoints: &CheckpointStore,
    previous: Option<&Checkpoint>,
    verifier: &ChainVerifier,
    size: u64,
) -> Result<Hash, SignError> {
    let mut range = match previous {
        None => CompactRange::new(),
        Some(cp) => {
            let ids = CompactRange::ids(cp.size);
            let nodes = checkpoints.tree_nodes(&ids).await?;
            let edge: Option<Vec<Hash>> = ids.iter().map(|id| nodes.get(id).copied()).collect();
            let range = edge
                .and_then(|hashes| CompactRange::from_hashes(cp.size, hashes))
                .filter(|range| range.root() == cp.root);
            range.ok_or_else(|| {
                SignError::TreeAltered(format!(
                    "the stored Merkle tree no longer gives the root signed at size {} \
                     (rebuild the tree from the events: fundtrail audit rebuild-tree)",
                    cp.size
                ))
            })?
        }
    };
    for position in range.size() + 1..=size {
        let Some(hash) = verifier.hash_at(position) else {
            return Err(SignError::TreeAltered(format!(
                "no recomputed chain hash at position {position}"
            )));
        };
        range.append(merkle::event_leaf(&hash));
    }
    Ok(range.root())
}

/// A verifier resuming after a tree checkpoint (when it is older than the chain checkpoint):
/// the event at its size must still hash to its stored hash, and that hash must be the last
/// leaf of the signed tree.
async fn anchor_in_tree(
    store: &dyn EventStore,
    checkpoints: &CheckpointStore,
    tree: &Checkpoint,
) -> Result<ChainVerifier, SignError> {
    let size = tree.size;
    let Some(event) = store
        .read_all(size, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| e.position == size)
    else {
        return Err(SignError::Tampered(Finding {
            position: size,
            stream: None,
            problem: Problem::OutOfOrder { found: 0 },
        }));
    };
    let envelope = stored::envelope(event);
    let mut verifier = ChainVerifier::anchored(size - 1, envelope.prev_hash);
    if let Some(finding) = verifier.push(&envelope) {
        return Err(SignError::Tampered(finding.clone()));
    }
    let path = tree_proof::path(checkpoints, size - 1, size).await?;
    let leaf = merkle::event_leaf(&envelope.hash);
    if merkle::verify_inclusion(size - 1, size, &leaf, &path, &tree.root).is_err() {
        return Err(SignError::Tampered(Finding {
            position: size,
            stream: Some(envelope.stream),
            problem: Problem::CheckpointMismatch {
                signed: tree.root,
                recomputed: verifier.head().1,
            },
        }));
    }
    Ok(verifier)
}

/// A verifier resuming after a checkpoint: the event at its position must still hash, from
/// its stored `prev_hash`, to the signed hash.
async fn anchor(store: &dyn EventStore, cp: &SignedCheckpoint) -> Result<ChainVerifier, SignError> {
    let event = store
        .read_all(cp.position, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| e.position == cp.position);
    let Some(event) = event else {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: None,
            problem: Problem::OutOfOrder { found: 0 },
        }));
    };
    let envelope = stored::envelope(event);
    let mut verifier = ChainVerifier::anchored(cp.position - 1, envelope.prev_hash);
    if let Some(finding) = verifier.push(&envelope) {
        return Err(SignError::Tampered(finding.clone()));
    }
    if verifier.head().1 != cp.hash {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: Some(envelope.stream),
            problem: Problem::CheckpointMismatch {
                signed: cp.hash,
                recomputed: verifier.head().1,
            },
        }));
    }
    Ok(verifier)
}

/// Signs the head every `interval` when it moved since the last checkpoint, until
/// `shutdown`.
pub async fn run_periodic(
    store: std::sync::Arc<dyn EventStore>,
    checkpoints: CheckpointStore,
    signer: CheckpointSigner,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_signed = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.head().await {
            Ok(head) if head.position > last_signed => {}
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "checkpoint signer: cannot read the head");
                continue;
            }
        }
        match sign_heads(store.as_ref(), &checkpoints, &signer).await {
            Ok(SignedHeads { chain: cp, tree }) => {
                last_signed = cp.position;
                tracing::info!(
                    position = cp.position,
                    hash = %hex::encode(cp.hash),
                    root = %hex::encode(tree.root),
                    "signed a checkpoint"
                );
            }
            Err(SignError::Tampered(finding)) => {
                // Loud and repeated on purpose: someone must look at the database.
                tracing::error!(%finding, "checkpoint signer: the history was altered; not signing");
            }
            Err(error @ SignError::TreeAltered(_)) => {
                tracing::error!(%error, "checkpoint signer: not signing");
            }
            Err(error) => tracing::warn!(%error, "checkpoint signer: could not sign"),
        }
    }
}
