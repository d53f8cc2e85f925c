//! Proofs about events under a signed checkpoint of the Merkle tree, as a client checks them
//! without trusting the server that sent them: the checkpoint must carry the fund's signature,
//! the event's fields must hash to its chain hash, and the proof must lead from that hash to
//! the signed root.
//!
//! Their file form (one JSON object; hashes in lowercase hex, checkpoints as note text) is
//! what `fundtrail audit include --out` and `fundtrail audit consistency --out` write and the
//! Python verifier in docs/audit.md reads.

use serde::{Deserialize, Serialize};

use crate::chain;
use crate::envelope::Envelope;
use crate::export::EventRecord;
use crate::merkle::{self, Hash, MerkleError};
use crate::note::{Checkpoint, CheckpointError, LogKey, open_checkpoint};

/// Why a proof about events does not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TreeProofError {
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    #[error(
        "position {position} (stream {stream}): the event's fields do not hash to its chain \
         hash (the event was altered)"
    )]
    EventAltered { position: u64, stream: String },
    #[error(
        "the proof is for leaf {leaf_index}, but the event at position {position} is leaf {}",
        .position.saturating_sub(1)
    )]
    WrongLeaf { position: u64, leaf_index: u64 },
    #[error(
        "the proof is for a tree of {proof} events but the checkpoint signs a tree of \
         {checkpoint} (wrong tree size)"
    )]
    WrongTreeSize { proof: u64, checkpoint: u64 },
    #[error("position {position}: {source}")]
    Inclusion {
        position: u64,
        #[source]
        source: MerkleError,
    },
    #[error("from tree size {from} to {to}: {source}")]
    Consistency {
        from: u64,
        to: u64,
        #[source]
        source: MerkleError,
    },
    #[error("the proof is malformed: {0}")]
    Malformed(String),
}

/// One event and the hashes that prove it is leaf `position - 1` of a tree of `tree_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventInclusion {
    pub envelope: Envelope,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<Hash>,
}

impl EventInclusion {
    /// Checks the event against an opened checkpoint.
    pub fn verify(&self, checkpoint: &Checkpoint) -> Result<(), TreeProofError> {
        let e = &self.envelope;
        // The leaf is the chain hash, which covers every field: recomputing it from the
        // fields is what makes the proof about this event's content and not only its hash.
        if chain::link(&e.prev_hash, e) != Some(e.hash) {
            return Err(TreeProofError::EventAltered {
                position: e.position,
                stream: e.stream.clone(),
            });
        }
        if e.position == 0 || self.leaf_index != e.position - 1 {
            return Err(TreeProofError::WrongLeaf {
                position: e.position,
                leaf_index: self.leaf_index,
            });
        }
        if self.tree_size != checkpoint.size {
            return Err(TreeProofError::WrongTreeSize {
                proof: self.tree_size,
                checkpoint: checkpoint.size,
            });
        }
        merkle::verify_inclusion(
            self.leaf_index,
            checkpoint.size,
            &merkle::event_leaf(&e.hash),
            &self.hashes,
            &checkpoint.root,
        )
        .map_err(|source| TreeProofError::Inclusion {
            position: e.position,
            source,
        })
    }
}

/// An event's inclusion proof with the checkpoint it is under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeInclusionProof {
    /// The checkpoint as the server sent it: a signed note.
    pub checkpoint: String,
    pub event: EventInclusion,
}

impl TreeInclusionProof {
    /// Checks the checkpoint against the trusted key, then the event against the checkpoint;
    /// returns the checkpoint.
    pub fn verify(&self, key: &LogKey) -> Result<Checkpoint, TreeProofError> {
        let (checkpoint, _) = open_checkpoint(&self.checkpoint, key)?;
        self.event.verify(&checkpoint)?;
        Ok(checkpoint)
    }
}

/// A consistency proof between two trees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsistencyProof {
    /// The checkpoint of the smaller tree, when the server has one at that size.
    pub from: Option<String>,
    pub to: String,
    pub from_size: u64,
    pub hashes: Vec<Hash>,
}

impl ConsistencyProof {
    /// Checks that the signed larger tree extends the smaller one: `held` when the caller
    /// kept that checkpoint (a witness, a donor who kept its receipt), else the server's.
    pub fn verify(
        &self,
        key: &LogKey,
        held: Option<&Checkpoint>,
    ) -> Result<(Checkpoint, Checkpoint), TreeProofError> {
        let (to, _) = open_checkpoint(&self.to, key)?;
        let from = match (held, &self.from) {
            (Some(held), _) => held.clone(),
            (None, Some(note)) => open_checkpoint(note, key)?.0,
            (None, None) => {
                return Err(TreeProofError::Malformed(
                    "no checkpoint of the smaller tree to check against".to_owned(),
                ));
            }
        };
        if from.size != self.from_size {
            return Err(TreeProofError::WrongTreeSize {
                proof: self.from_size,
                checkpoint: from.size,
            });
        }
        if from.origin != to.origin {
            return Err(CheckpointError::WrongOrigin {
                found: from.origin,
                expected: to.origin,
            }
            .into());
        }
        merkle::verify_consistency(from.size, to.size, &from.root, &to.root, &self.hashes)
            .map_err(|source| TreeProofError::Consistency {
                from: from.size,
                to: to.size,
                source,
            })?;
        Ok((from, to))
    }
}

/// A donor's events, each with its inclusion proof under one checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DonorEvents {
    pub checkpoint: String,
    pub events: Vec<EventInclusion>,
    /// Where the next page starts (`after_position`); 0 when this page is the last.
    pub next_after_position: u64,
}

impl DonorEvents {
    /// Checks the checkpoint, then every event under it.
    pub fn verify(&self, key: &LogKey) -> Result<Checkpoint, TreeProofError> {
        let (checkpoint, _) = open_checkpoint(&self.checkpoint, key)?;
        for event in &self.events {
            event.verify(&checkpoint)?;
        }
        Ok(checkpoint)
    }
}

/// An inclusion proof as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename = "inclusion_proof")]
pub struct InclusionFile {
    pub checkpoint: String,
    pub event: EventRecord,
    pub leaf_index: u64,
    pub tree_size: u64,
    pub hashes: Vec<String>,
}

/// A consistency proof as a file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename = "consistency_proof")]
pub struct ConsistencyFile {
    /// Empty when the server has no checkpoint at the smaller size.
    pub from: String,
    pub to: String,
    pub from_size: u64,
    pub hashes: Vec<String>,
}

fn hashes_from_hex(hashes: &[String]) -> Result<Vec<Hash>, TreeProofError> {
    hashes
        .iter()
        .map(|h| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(h, &mut out)
                .map_err(|_| TreeProofError::Malformed(format!("{h:?} is not 64 hex digits")))?;
            Ok(out)
        })
        .collect()
}

impl From<&TreeInclusionProof> for InclusionFile {
    fn from(p: &TreeInclusionProof) -> Self {
        Self {
            checkpoint: p.checkpoint.clone(),
            event: (&p.event.envelope).into(),
            leaf_index: p.event.leaf_index,
            tree_size: p.event.tree_size,
            hashes: p.event.hashes.iter().map(hex::encode).collect(),
        }
    }
}

impl TryFrom<&InclusionFile> for TreeInclusionProof {
    type Error = TreeProofError;

    fn try_from(f: &InclusionFile) -> Result<Self, Self::Error> {
        Ok(Self {
            checkpoint: f.checkpoint.clone(),
            event: EventInclusion {
                envelope: Envelope::try_from(&f.event).map_err(TreeProofError::Malformed)?,
                leaf_index: f.leaf_index,
                tree_size: f.tree_size,
                hashes: hashes_from_hex(&f.hashes)?,
            },
        })
    }
}

impl From<&ConsistencyProof> for ConsistencyFile {
    fn from(p: &ConsistencyProof) -> Self {
        Self {
            from: p.from.clone().unwrap_or_default(),
            to: p.to.clone(),
            from_size: p.from_size,
            hashes: p.hashes.iter().map(hex::encode).collect(),
        }
    }
}

impl TryFrom<&ConsistencyFile> for ConsistencyProof {
    type Error = TreeProofError;

    fn try_from(f: &ConsistencyFile) -> Result<Self, Self::Error> {
        Ok(Self {
            from: Some(f.from.clone()).filter(|n| !n.is_empty()),
            to: f.to.clone(),
            from_size: f.from_size,
            hashes: hashes_from_hex(&f.hashes)?,
        })
    }
}
