//! Reports folded from a history: what donors, finance staff and IATI get, as opposed to what
//! decides whether the history is intact (`fundtrail-verifier`).
//!
//! Every report is folded from [`Envelope`](fundtrail_verifier::Envelope)s in position order, whatever they were read from
//! (a store, a server or an export file); none reads a database.
//!
//! - [`iati`]: IATI 2.03 activity and organisation files.
//! - [`views`]: the funding views of `fundtrail-projections` "as of" a point, and what changed
//!   a country's figures between two points.
//! - [`csv`]: CSV of the per-country view and of the donor statements.
//! - [`statement`]: one donor's statement lines as a CSV or XLSX download.

pub mod csv;
pub mod iati;
pub mod statement;
pub mod views;
