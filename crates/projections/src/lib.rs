//! Read models of the trust fund as pure folds over the event history (per-country funding,
//! donor statements, the fund overview), with their persistence and cursors.
//!
//! # The views
//!
//! - [`CountryFunding`]: per country, what donors earmarked for it (pledged, committed,
//!   outstanding, received), the matching reserved and confirmed for contributions to it, what
//!   was allocated to its projects and disbursed from their accounts, the undisbursed balance
//!   and the delivery rate, a breakdown by donor and by currency, the projects, milestone
//!   indicators with the cost per unit verified, and the rates its figures used.
//! - [`DonorStatements`]: per donor, pledged, committed, received and outstanding, where the
//!   money went by country and project, matching earned or provided, the open pledges, and
//!   each receipt, allocation and disbursement funded.
//! - [`FundOverview`]: the fund's sources and uses, with the unearmarked part kept apart so
//!   that the countries add up to the fund.
//!
//! Each is a fold (`apply` in the view modules, no I/O) over decoded events; [`Views`] folds the
//! three from one pass. The fold never fails: history is a fact.
//!
//! # Money and currencies
//!
//! Every figure is a [`Figure`]: integer minor units per original currency, each with the value
//! in the fund's reporting currency of the part that has a recorded rate, and the part that has
//! none. No floating point is involved anywhere.
//!
//! - Receipts, allocations and disbursements carry their reporting value on the event (the
//!   rate booked at receipt; the pledge's average booked rate for an allocation; the account's
//!   average credit rate for a payment): the views add those values, so reports are at
//!   historical cost and never revalue money already received. An allocation in the reporting
//!   currency may therefore report a slightly different reporting value than its amount: the
//!   difference is the exchange result between receipt and allocation.
//! - Pledged, committed and outstanding amounts in another currency have no booked rate: they
//!   are valued at the pledge's average booked receipt rate once it has received money (see
//!   [`pledge`]), and until then reported without a value and flagged
//!   (`reporting_complete = false`).
//! - Matching is in the pool's currency (the reporting currency in practice) and is its own
//!   value; in any other currency it is flagged the same way.
//! - Allocations count in the project's currency in the country view (what the projects hold,
//!   comparable with what they disbursed) and in the pledge's currency in donor statements (the
//!   donor's money as they gave it); the overview keeps both.
//!
//! # Corrections
//!
//! An amendment replaces the pledged amount; a withdrawal cancels the part never received and
//! closes the pledge (its commitment shrinks to what was still pledged). An allocation counts
//! until the first of `AllocationReturned` and `AllocationReleased` takes it back, part by part
//! for partial returns (both events of one part say the same, so the second changes nothing).
//! A voided match leaves reserved; a confirmed one moves to confirmed. Reversals and refunds reduce disbursed (which is
//! net); refunds are also kept on their own. The delivery rate, disbursed ÷ allocated in
//! basis points, can pass 100% once allocations are returned, and is 0 while nothing is
//! allocated.
//!
//! # Persistence
//!
//! [`persist`] keeps each view as JSON documents in a table of its own, with its position and
//! cursor written in the same transaction; [`rebuild()`] replays the history into fresh
//! tables and swaps them in; [`replay`] folds the history from the store for "as of" answers.

pub mod codec;
pub mod country;
pub mod doc;
pub mod figure;
mod fold;
pub mod pledge;
pub mod rates;

pub use country::CountryFunding;
pub use doc::{Doc, Mark, RestoreError, StoredDoc, View};
pub use figure::{Amount, Figure, Part, Reporting};
// Re-exported where the web view has always found it; written beside `Money`.
pub use fundtrail_domain::{Grouped, grouped, grouped_count};
pub mod donor;
pub mod overview;

pub use donor::DonorStatements;
pub use overview::FundOverview;
pub mod persist;

pub use persist::{Loaded, PersistError, Swap, ViewChanges, ViewDb};
pub mod views;

pub use views::{Decoded, Fold, FoldError, UnknownView, ViewName, Views, decode, decode_parts};
pub mod replay;

pub use replay::{History, ReplayError, Until, fold_into};
pub mod rebuild;

pub use rebuild::{Phase, Progress, RebuildError, RebuildOptions, RebuildReport, rebuild};
