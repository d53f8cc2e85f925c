//! The trust fund's domain model: pure, with no I/O, no async and no wire types.
//!
//! Every aggregate folds its own stream (`evolve`) and decides on a command (`decide`),
//! returning the events that record what happened or a typed [`DomainError`] with a stable
//! reason code. Services load streams, call `decide` and append; nothing here touches a clock,
//! a database or the network, so ids and dates arrive inside commands.
//!
//! # The rules, as the fund's accountants keep them
//!
//! **Money.** Amounts are integer minor units with their ISO 4217 currency ([`Money`]).
//! Arithmetic is checked: an overflow or a mix of currencies is a refusal, never a panic.
//! Conversions use an [`ExchangeRate`] recorded on the event that used it (rate, source and
//! date) and round half-even to the target currency's minor unit. The fund reports in one
//! currency (USD by default, configured by the services).
//!
//! **Donors** ([`donor`]) are registered once under their IATI organisation identifier, with
//! their kind and whether their contributions may be matched.
//!
//! **Pledges** ([`pledge`]):
//! - A pledge is recorded for a registered donor, in one currency, optionally earmarked for a
//!   country or a project. Amending it keeps its currency and never goes below what was
//!   received, nor below a signed contribution agreement. Withdrawing it cancels the part not
//!   yet received; money already received stays with the fund and can still be allocated.
//! - A contribution agreement (the commitment) is signed at most once, for at most the
//!   pledged amount.
//! - A receipt is in the pledge's currency, with the rate to the reporting currency it was
//!   booked at, a value date and the bank reference. A bank reference is booked once in the
//!   whole fund, whichever pledge, and so is a payment's ([`reference`]: the store decides
//!   races between pledges). Receipts beyond the pledged amount are refused unless recorded as an
//!   over-payment. A withdrawn pledge takes no receipts.
//! - Received, unallocated money is allocated to a project that is open and within the
//!   earmark (country-earmarked money funds only that country's projects; project-earmarked
//!   money only that project). The allocation is converted to the project's currency at a
//!   recorded rate when they differ; its reporting value is the average booked rate of the
//!   money still unallocated (historical cost, moving weighted average), so reports never
//!   revalue money already received and the allocations of a fully allocated pledge add up to
//!   exactly what its receipts were booked at.
//! - An allocation is released back to the pledge only after the project account has
//!   returned it (the account knows whether the money is still there).
//! - A receipt is corrected, never edited: reversed (bounced or booked in error; only while
//!   its amount is still unallocated on the pledge, and its bank reference may then be booked
//!   again) or re-rated (the rate it was booked at replaced by the corrected rate with its
//!   source and date; allocations keep the value they were booked at, and the value of the
//!   unallocated money moves by the receipt's unallocated part of the difference). Someone
//!   other than the receipt's booker corrects it. Unallocated money may be refunded to the
//!   donor, with the payment's reference and value date. Money is conserved per currency:
//!   received (net of reversals) = allocated (net of releases) + unallocated + refunded.
//!
//! **Matching pools** ([`matching`]): see the module. The pool never exceeds its cap, and never
//! confirms more than the funds it received. A pool has a period (from `starts_on`, when it has
//! one, to `expires_on`) and countries, and takes only what fits them: a contribution from
//! another matching-eligible donor earmarked for one of its countries, and the matching donor's
//! own receipts (its funds), unearmarked or earmarked for one of its countries, each with a
//! value date in the period. An unearmarked contribution is matched only by an explicit
//! decision of the fund's finance staff, for an eligible country they name. A receipt is
//! matched by one pool at a time. Funds apply first-received-first, and every confirmation
//! names the matching donor's receipt that completed it.
//!
//! **Projects** ([`project`]): registered with country, implementing partner, sector (15250
//! by default), budget and funding modality: results-based or advance-funded (projects
//! registered before the modality was chosen are advance-funded). Milestones are numbered
//! 1, 2, … in planning order, and their tranches together stay within the budget. Each is
//! planned with a release rule: `Proportional` releases `floor(tranche × min(actual, target)
//! ÷ target)` minor units (integer arithmetic), `AllOrNothing` the whole tranche when `actual
//! ≥ target` and nothing otherwise. Progress is reported with evidence, and verified or
//! rejected by someone other than the reporter; a rejected milestone can be reported again.
//! Verification records what it released, and the shortfall stays visible beside it (target
//! less actual; tranche less released). A verified milestone's figures are final. Milestones
//! planned before release rules existed release their whole tranche on verification, as they
//! always did. A closed project takes no further changes.
//!
//! **Project accounts** ([`account`]): see the module for the available balance. Every
//! allocation credits the account once, however often its event is delivered. Approvals need
//! a second person, and a tranche tied to a milestone is approved only once the account has
//! learned that the milestone was verified, never beyond what its verification released. In
//! a results-based project every request names a milestone the account knows to be verified
//! (`MILESTONE_REQUIRED` otherwise) and fits within its release; an advance-funded project may
//! also pay without naming one.
//! A closed project takes no new disbursement requests; requests made before it closed may
//! still be approved and paid, because the fund honours obligations it entered into.
//! An allocation goes back to the fund whole or in parts, never beyond what remains of it nor
//! beyond what is available, each part at the allocation's booked value in proportion; the
//! pledge releases exactly that part. Closing the account (refused while a disbursement is
//! pending or approved and unpaid) returns the available money shared over the allocations in
//! proportion to what remains of each; a closed account takes no requests and returns a late
//! allocation as it arrives. Per account: credited = available + held + paid − refunded +
//! returned.
//!
//! **Closed periods** ([`calendar`]): finance closes the books through a month end (a month,
//! or a fiscal year at its last month end) once that period has ended; the closed-through date
//! only moves forward and a closed period is never reopened. An entry dated on or before it (a
//! receipt's or a refund's value date, a disbursement's payment or refund date) is refused as
//! `PERIOD_CLOSED`; a mistake in a closed period is corrected by an adjustment in the open
//! period naming what it corrects (a reversal or re-rating is dated the day it is made). The
//! services decide on the calendar as they read it and append only if it has not moved since.
//!
//! **Corrections** are new events referencing the event they correct by its version in the
//! same stream (`corrects_version`): an amendment, a released allocation, a reversed or
//! re-rated receipt, a voided or confirmed match, a reversed or refunded disbursement. Nothing
//! is ever edited.

pub mod account;
pub mod aggregate;
pub mod calendar;
pub mod country;
pub mod donor;
pub mod error;
pub mod event;
pub mod ids;
pub mod matching;
pub mod money;
pub mod pledge;
pub mod project;
pub mod rate;
pub mod reference;

pub use account::{AccountCommand, AccountEvent, ProjectAccount};
pub use aggregate::Aggregate;
pub use calendar::{Calendar, CalendarCommand, CalendarEvent};
pub use country::CountryCode;
pub use donor::{Donor, DonorCommand, DonorEvent, DonorKind, DonorProfile};
pub use error::{DomainError, ErrorKind, Reason};
pub use event::Event;
pub use ids::{
    Actor, AllocationId, DisbursementId, DonorId, MatchingPoolId, PledgeId, ProjectId, ReceiptId,
};
pub use matching::{MatchRatio, MatchingCommand, MatchingEvent, MatchingPool, PoolTerms};
pub use money::{Currency, Grouped, Money, MoneyError, grouped, grouped_count};
pub use pledge::{Earmark, Pledge, PledgeCommand, PledgeEvent};
pub use project::{
    FundingModality, Indicator, Partner, Project, ProjectCommand, ProjectEvent, ProjectSummary,
    ReleaseRule,
};
pub use rate::{ExchangeRate, RateError};
