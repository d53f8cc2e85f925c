//! The fund's side of auditing, which needs the store: signing checkpoints and keeping them,
//! building inclusion proofs, reading a history and exporting it. What decides whether a
//! history is intact is `fundtrail-verifier`; what is reported from it is `fundtrail-reports`.
//!
//! - [`key`], [`storage`], [`signer`]: the fund's ed25519 key, checkpoints kept in a table of
//!   the store's own database, signed on demand and periodically, and only over a chain the
//!   verifier recomputed since the previous checkpoint.
//! - [`proof`]: inclusion proofs read from the store, from a position to a signed checkpoint.
//! - [`tree`], [`follower`], [`tree_proof`]: the RFC 9162 Merkle tree over the chain hashes,
//!   its subtrees and signed notes kept beside the checkpoints, kept up to date by a follower,
//!   and its inclusion and consistency proofs.
//! - [`witness`]: a witness of the tree checkpoints: it keeps the last one it accepted,
//!   refuses a fork and cosigns.
//! - [`source`], [`audit`], [`export`]: reading a history from a store, a server or a file,
//!   verifying it, and writing it in the export format.
//! - [`stored`]: the store's events as the verifier's envelopes.

pub mod audit;
pub mod export;
pub mod follower;
pub mod key;
pub mod proof;
pub mod signer;
pub mod source;
pub mod storage;
pub mod stored;
pub mod tree;
pub mod tree_proof;
pub mod witness;

pub use key::CheckpointSigner;
pub use source::Source;
pub use storage::{CheckpointStore, OpenedStore};

use std::time::Duration;

/// How a server signs checkpoints.
#[derive(Debug, Clone)]
pub struct AuditSettings {
    /// No key: the checkpoint RPCs read what is stored but cannot sign.
    pub signer: Option<CheckpointSigner>,
    /// How often the head is signed when it moved.
    pub checkpoint_interval: Duration,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            signer: None,
            checkpoint_interval: Duration::from_mins(5),
        }
    }
}
