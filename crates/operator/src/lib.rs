//! What operators and auditors run beside the servers: exporting and verifying the history,
//! inclusion proofs, IATI and CSV reports, and rebuilding the views.

pub mod audit;
pub mod rebuild;
