//! What operators and auditors run beside the servers: exporting and verifying the history,
//! inclusion proofs, IATI and CSV reports, and rebuilding the views; the Merkle tree's proofs and
//! the witness that cosigns its checkpoints.

pub mod audit;
pub mod rebuild;
pub mod tree;
