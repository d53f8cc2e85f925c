//! What decides whether a fundtrail history is intact, and nothing else: an auditor who reads
//! this crate has read every line that says "verified" or "tampered".
//!
//! It needs SHA-256, ed25519, hex and base64; no database, network or runtime. Read it in this
//! order:
//!
//! - [`chain`]: the hash chain of docs/architecture.md §3, implemented again from its definition,
//!   sharing no code with the store it checks.
//! - [`envelope`]: one event with every field the chain covers.
//! - [`verify`]: recomputing a history's chain event by event and checking signed checkpoints
//!   against it, naming the first place where it breaks.
//! - [`checkpoint`]: the signed checkpoint, an ed25519 signature over
//!   `u64be(position) || hash`, and the fund's public key as auditors are given it.
//! - [`proof`]: checking an inclusion proof, the envelopes from a position to a checkpoint.
//! - [`merkle`]: the RFC 9162 Merkle tree over the chain hashes, its inclusion and consistency
//!   proofs and their verification.
//! - [`note`]: checkpoints of that tree as C2SP signed notes, and witnesses' cosignatures.
//! - [`tree`]: an event's inclusion under a signed checkpoint, consistency between two, a
//!   donor's events, as a client checks them; and their file form.
//! - [`export`]: the export file's records, and verifying a whole file.
//! - [`verification`]: which key the checkpoints were checked against, and the outcome for
//!   people.
//!
//! With the `wire` feature, envelopes, checkpoints and proofs are also read from (and written
//! to) the Audit API's protobuf messages; only their byte fields' lengths are checked there,
//! the rest is the same code.

pub mod chain;
pub mod checkpoint;
pub mod envelope;
pub mod export;
pub mod merkle;
pub mod note;
pub mod proof;
pub mod tree;
pub mod verification;
pub mod verify;
#[cfg(feature = "wire")]
mod wire;

pub use checkpoint::{SignedCheckpoint, parse_public_key};
pub use envelope::Envelope;
pub use export::verify_export;
pub use note::{Checkpoint, CheckpointError, LogKey};
pub use proof::{InclusionProof, ProofError};
pub use tree::{ConsistencyProof, DonorEvents, EventInclusion, TreeInclusionProof, TreeProofError};
pub use verification::{Trust, Verification, summary};
pub use verify::{ChainVerifier, Finding, Problem, Report};

#[cfg(test)]
mod testing;
