//! What auditors get from fundtrail.
//!
//! - [`chain`]: the hash chain of ARCHITECTURE.md §3, implemented again from its definition,
//!   sharing no code with the store it checks.
//! - [`verify`]: recomputing a history's chain and checking signed checkpoints against it,
//!   naming the first place where it breaks.
//! - [`checkpoint`], [`storage`], [`signer`]: ed25519 signatures over `u64be(position) || hash`,
//!   kept in a table of the store's own database, signed on demand and periodically, and only
//!   over a chain recomputed since the previous checkpoint.
//! - [`proof`]: inclusion proofs from a position to a signed checkpoint.
//! - [`export`], [`source`], [`audit`]: the export file format, reading a history from a store,
//!   a server or a file, and exporting and verifying it.
//! - [`iati`]: IATI 2.03 activity and organisation files folded from the history.
//! - [`views`], [`report`]: the funding views of `fundtrail-projections` folded from any
//!   history, "as of" a point, their changes between two points, and CSV of them.

pub mod audit;
pub mod chain;
pub mod checkpoint;
pub mod envelope;
pub mod export;
pub mod iati;
pub mod proof;
pub mod report;
pub mod signer;
pub mod source;
pub mod storage;
pub mod verify;
pub mod views;

pub use audit::{Trust, Verification};
pub use checkpoint::{CheckpointSigner, SignedCheckpoint};
pub use envelope::Envelope;
pub use source::Source;
pub use storage::{CheckpointStore, OpenedStore};
pub use verify::{ChainVerifier, Finding, Problem, Report};

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
