//! Project accounts: the money allocated to a project and what is disbursed from it.
//!
//! An account is credited by allocations (once per allocating event, however often the event
//! is delivered). Disbursements are requested, approved by someone other than the requester,
//! paid, and may later be reversed (the payment did not happen: the bank returned it or it was
//! booked in error) or partly refunded by the partner. A tranche tied to a milestone is
//! approved only after the account has learned, through an event, that the milestone was
//! verified, and what the verification released (see the project's release rules): the
//! disbursements that name a milestone and still hold money never add up to more than that.
//!
//! In a results-based project (the account learns the modality from the project with each
//! request, as it learns the partner) a request must name a milestone the account knows to
//! be verified, and fit within what it released: the fund pays for verified results only, so
//! leaving the milestone off is refused (`MILESTONE_REQUIRED`) rather than treated as an
//! advance. An advance-funded project may also be paid without naming a milestone.
//!
//! `available = credited − (requested + approved + paid) + refunded`, where reversed and
//! rejected disbursements no longer count. A pending request already holds its amount: the
//! fund never approves money it has promised to someone else, so a request beyond what is
//! available is refused as early as an approval would be.
//!
//! **Returns.** An allocation goes back to the fund whole or in parts (`AllocationReturned`
//! records each part and what of the allocation remains): never beyond what remains of it
//! (`RETURN_EXCEEDS_ALLOCATION`) nor beyond what is available (`RETURN_EXCEEDS_AVAILABLE`),
//! each part valued at the allocation's booked value in proportion. Money is conserved:
//! credited = available + held by pending requests + paid − refunded + returned.
//!
//! **Closing the account** (`Closed`) is refused while a disbursement is requested or approved
//! and unpaid (`DISBURSEMENTS_PENDING`). It returns the available money, shared over the
//! allocations in proportion to what remains of each (one `AllocationReturned` per allocation,
//! which each pledge takes back on its own). A closed account takes no requests
//! (`ACCOUNT_CLOSED`); an allocation credited after it is returned in the same write. Reversals
//! and refunds of past payments are still recorded (they are facts), and what they make
//! available can be returned like any other part.
//!
//! Longer than most files on purpose: the aggregate's state, its `decide` and its `evolve` stay
//! together so that every rule it enforces is read in one place.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use uuid::Uuid;

use crate::aggregate::{Aggregate, VersionCounter, positive, text};
use crate::country::CountryCode;
use crate::error::{DomainError, Reason};
use crate::ids::{Actor, AllocationId, DisbursementId, DonorId, PledgeId, ProjectId};
use crate::money::{Currency, Money};
use crate::pledge::to_currency;
use crate::project::{FundingModality, ProjectSummary};
use crate::rate::ExchangeRate;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountEvent {
    Credited {
        project_id: ProjectId,
        country: CountryCode,
        allocation_id: AllocationId,
        /// The `ContributionAllocated` event this credit records.
        source_event_id: Uuid,
        pledge_id: PledgeId,
        donor_id: DonorId,
        amount: Money,
        reporting_amount: Money,
    },
    AllocationReturned {
        project_id: ProjectId,
        country: CountryCode,
        allocation_id: AllocationId,
        pledge_id: PledgeId,
        donor_id: DonorId,
        /// What this return gives back, in the account's currency: the whole allocation or a
        /// part of it.
        amount: Money,
        /// Its value at the allocation's booked value (in proportion, for a part).
        reporting_amount: Money,
        reason: String,
        corrects_version: u64,
        /// What of the allocation stays on the account after this return; `None` on returns
        /// recorded before partial returns existed, which returned the whole allocation.
        remaining: Option<Money>,
    },
    /// The account is closed: what was left of its allocations went back to the fund (the
    /// `AllocationReturned` events recorded just before this one), and it takes no new
    /// requests; an allocation credited after this goes back at once.
    Closed {
        project_id: ProjectId,
        country: CountryCode,
        /// What the close returned, in the account's currency: its available money.
        returned: Money,
        reason: String,
        closed_by: Actor,
    },
    TrancheUnlocked {
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        tranche: Money,
        /// The `MilestoneVerified` event this records.
        source_event_id: Uuid,
        /// What the verification released, at most the tranche; `None` on tranches unlocked
        /// before releases were recorded, which released the whole tranche.
        released: Option<Money>,
    },
    DisbursementRequested {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        partner: String,
        milestone: Option<u32>,
        purpose: String,
        requested_by: Actor,
    },
    DisbursementApproved {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        approved_by: Actor,
    },
    DisbursementRejected {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        reason: String,
        rejected_by: Actor,
    },
    DisbursementPaid {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        reporting_amount: Money,
        /// What left the bank, in the currency it was paid in.
        payment: Money,
        /// Account currency to payment currency; `None` when they are the same.
        rate: Option<ExchangeRate>,
        paid_on: NaiveDate,
        bank_reference: String,
    },
    DisbursementReversed {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        reporting_amount: Money,
        reason: String,
        corrects_version: u64,
    },
    DisbursementRefunded {
        project_id: ProjectId,
        country: CountryCode,
        disbursement_id: DisbursementId,
        amount: Money,
        reporting_amount: Money,
        refunded_on: NaiveDate,
        reason: String,
        corrects_version: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccountCommand {
    Credit {
        source_event_id: Uuid,
        project_id: ProjectId,
        country: CountryCode,
        allocation_id: AllocationId,
        pledge_id: PledgeId,
        donor_id: DonorId,
        amount: Money,
        reporting_amount: Money,
    },
    UnlockTranche {
        source_event_id: Uuid,
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        tranche: Money,
        /// What the verification released, as `MilestoneVerified` recorded it.
        released: Money,
    },
    ReturnAllocation {
        allocation_id: AllocationId,
        /// How much to return, in the account's currency; `None` returns all that remains of
        /// the allocation (what clients that predate partial returns ask for).
        amount: Option<Money>,
        reason: String,
    },
    /// Closes the account, returning what is left of every allocation to the fund.
    Close { reason: String, closed_by: Actor },
    Request {
        disbursement_id: DisbursementId,
        amount: Money,
        /// The payee as the requester names it; empty for the project's partner. Anyone else
        /// is refused: money goes only to the implementing partner of record.
        partner: String,
        milestone: Option<u32>,
        purpose: String,
        requested_by: Actor,
        /// The project as it is now: a closed project takes no new requests (requests made
        /// before closure may still be approved and paid), and its partner is the payee.
        project: ProjectSummary,
    },
    Approve {
        disbursement_id: DisbursementId,
        approved_by: Actor,
    },
    Reject {
        disbursement_id: DisbursementId,
        reason: String,
        rejected_by: Actor,
    },
    Pay {
        disbursement_id: DisbursementId,
        paid_on: NaiveDate,
        bank_reference: String,
        payment_currency: Currency,
        rate: Option<ExchangeRate>,
    },
    Reverse {
        disbursement_id: DisbursementId,
        reason: String,
    },
    Refund {
        disbursement_id: DisbursementId,
        amount: Money,
        refunded_on: NaiveDate,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credit {
    pub pledge_id: PledgeId,
    pub donor_id: DonorId,
    pub amount: Money,
    pub reporting_amount: Money,
    /// Whether nothing of the allocation is left on the account.
    pub returned: bool,
    /// What of it was returned so far, in the account's currency.
    pub returned_amount: Money,
    /// The value of what was returned, at the allocation's booked value.
    pub returned_reporting: Money,
    pub version: u64,
}

impl Credit {
    /// What of the allocation is still on the account (spent or not).
    pub fn remaining(&self) -> Money {
        Money::new(
            self.amount.currency(),
            self.amount
                .minor_units()
                .saturating_sub(self.returned_amount.minor_units())
                .max(0),
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisbursementStatus {
    Requested,
    Approved,
    Rejected,
    Paid,
    Reversed,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disbursement {
    pub amount: Money,
    pub partner: String,
    pub milestone: Option<u32>,
    pub requested_by: Actor,
    pub status: DisbursementStatus,
    pub reporting_amount: Option<Money>,
    pub refunded: i64,
    pub paid_version: Option<u64>,
}

impl Disbursement {
    /// Whether the disbursement holds money of the account.
    fn holds_money(&self) -> bool {
        matches!(
            self.status,
            DisbursementStatus::Requested | DisbursementStatus::Approved | DisbursementStatus::Paid
        )
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProjectAccount {
    project_id: Option<ProjectId>,
    country: Option<CountryCode>,
    currency: Option<Currency>,
    credited: i64,
    credited_reporting: Option<Money>,
    credits: BTreeMap<AllocationId, Credit>,
    source_events: BTreeSet<Uuid>,
    tranches: BTreeMap<u32, Money>,
    released: BTreeMap<u32, Money>,
    disbursements: BTreeMap<DisbursementId, Disbursement>,
    /// Allocations returned to the fund, in the account's currency.
    returned: i64,
    closed: bool,
    version: VersionCounter,
}

impl ProjectAccount {
    /// A project's account shares the project's id: `account-<project id>`.
    pub fn stream(project_id: &ProjectId) -> String {
        format!("{}-{project_id}", Self::CATEGORY)
    }

    pub fn currency(&self) -> Option<Currency> {
        self.currency
    }

    pub fn credits(&self) -> &BTreeMap<AllocationId, Credit> {
        &self.credits
    }

    pub fn disbursements(&self) -> &BTreeMap<DisbursementId, Disbursement> {
        &self.disbursements
    }

    /// The whole tranche of every milestone the account knows to be verified.
    pub fn unlocked_tranches(&self) -> &BTreeMap<u32, Money> {
        &self.tranches
    }

    /// What the verification of each of those milestones released: the most its
    /// disbursements may add up to.
    pub fn released_tranches(&self) -> &BTreeMap<u32, Money> {
        &self.released
    }

    /// Net credits: allocations received less allocations returned.
    pub fn credited(&self) -> Option<Money> {
        self.currency.map(|c| Money::new(c, self.credited))
    }

    /// What was returned to the fund, whole allocations and parts.
    pub fn returned(&self) -> Option<Money> {
        self.currency.map(|c| Money::new(c, self.returned))
    }

    /// Whether the account was closed.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// What may still be requested: see the module documentation.
    pub fn available(&self) -> Option<Money> {
        let currency = self.currency?;
        let held = self
            .disbursements
            .values()
            .filter(|d| d.holds_money())
            .fold(0_i64, |acc, d| {
                acc.saturating_add(d.amount.minor_units())
                    .saturating_sub(d.refunded)
            });
        Some(Money::new(currency, self.credited.saturating_sub(held)))
    }

    fn identity(&self) -> Result<(ProjectId, CountryCode, Currency), DomainError> {
        match (self.project_id, self.country, self.currency) {
            (Some(p), Some(c), Some(cur)) => Ok((p, c, cur)),
            _ => Err(DomainError::refused(
                Reason::DisbursementExceedsAvailable,
                "nothing has been allocated to this project yet",
            )),
        }
    }

    fn disbursement(&self, id: DisbursementId) -> Result<&Disbursement, DomainError> {
        self.disbursements.get(&id).ok_or_else(|| {
            DomainError::refused(
                Reason::DisbursementNotFound,
                format!("no disbursement {id} on this account"),
            )
        })
    }

    /// Amounts held by other disbursements towards the same milestone's tranche.
    fn held_for_milestone(&self, milestone: u32, except: Option<DisbursementId>) -> i64 {
        self.disbursements
            .iter()
            .filter(|(id, d)| {
                Some(**id) != except && d.milestone == Some(milestone) && d.holds_money()
            })
            .fold(0_i64, |acc, (_, d)| {
                acc.saturating_add(d.amount.minor_units())
            })
    }

    /// The reporting-currency value of account money, at the average rate of its credits.
    fn reporting_value(&self, amount: Money) -> Result<Money, DomainError> {
        match self.credited_reporting {
            Some(reporting) if self.credited > 0 => {
                Ok(amount.mul_div(reporting.minor_units(), self.credited, reporting.currency())?)
            }
            _ => Err(DomainError::refused(
                Reason::DisbursementExceedsAvailable,
                "nothing is credited to this account",
            )),
        }
    }
}

fn add_reporting(total: &mut Option<Money>, amount: Money, sign: i64) {
    let current = total.unwrap_or(Money::zero(amount.currency()));
    let delta = Money::new(amount.currency(), amount.minor_units().saturating_mul(sign));
    *total = Some(current.checked_add(delta).unwrap_or(current));
}

impl Aggregate for ProjectAccount {
    type Command = AccountCommand;
    type Event = AccountEvent;
    const CATEGORY: &'static str = "account";

    fn evolve(&mut self, event: &AccountEvent) {
        let version = self.version.advance();
        match event {
            AccountEvent::Credited {
                project_id,
                country,
                allocation_id,
                source_event_id,
                pledge_id,
                donor_id,
                amount,
                reporting_amount,
            } => {
                self.project_id = Some(*project_id);
                self.country = Some(*country);
                self.currency.get_or_insert(amount.currency());
                self.credited = self.credited.saturating_add(amount.minor_units());
                add_reporting(&mut self.credited_reporting, *reporting_amount, 1);
                self.source_events.insert(*source_event_id);
                self.credits.insert(
                    *allocation_id,
                    Credit {
                        pledge_id: *pledge_id,
                        donor_id: donor_id.clone(),
                        amount: *amount,
                        reporting_amount: *reporting_amount,
                        returned: false,
                        returned_amount: Money::zero(amount.currency()),
                        returned_reporting: Money::zero(reporting_amount.currency()),
                        version,
                    },
                );
            }
            AccountEvent::AllocationReturned {
                allocation_id,
                amount,
                reporting_amount,
                remaining,
                ..
            } => {
                self.credited = self.credited.saturating_sub(amount.minor_units());
                self.returned = self.returned.saturating_add(amount.minor_units());
                add_reporting(&mut self.credited_reporting, *reporting_amount, -1);
                if let Some(credit) = self.credits.get_mut(allocation_id) {
                    credit.returned_amount = Money::new(
                        credit.amount.currency(),
                        credit
                            .returned_amount
                            .minor_units()
                            .saturating_add(amount.minor_units()),
                    );
                    credit.returned_reporting = Money::new(
                        credit.returned_reporting.currency(),
                        credit
                            .returned_reporting
                            .minor_units()
                            .saturating_add(reporting_amount.minor_units()),
                    );
                    // A return recorded before partial returns gave back the whole allocation.
                    credit.returned = remaining.is_none_or(|r| !r.is_positive());
                }
            }
            AccountEvent::Closed { .. } => self.closed = true,
            AccountEvent::TrancheUnlocked {
                project_id,
                country,
                milestone,
                tranche,
                source_event_id,
                released,
            } => {
                self.project_id = Some(*project_id);
                self.country = Some(*country);
                self.currency.get_or_insert(tranche.currency());
                self.source_events.insert(*source_event_id);
                self.tranches.insert(*milestone, *tranche);
                self.released
                    .insert(*milestone, released.unwrap_or(*tranche));
            }
            AccountEvent::DisbursementRequested {
                disbursement_id,
                amount,
                partner,
                milestone,
                requested_by,
                ..
            } => {
                self.disbursements.insert(
                    *disbursement_id,
                    Disbursement {
                        amount: *amount,
                        partner: partner.clone(),
                        milestone: *milestone,
                        requested_by: requested_by.clone(),
                        status: DisbursementStatus::Requested,
                        reporting_amount: None,
                        refunded: 0,
                        paid_version: None,
                    },
                );
            }
            AccountEvent::DisbursementApproved {
                disbursement_id, ..
            } => self.set_status(*disbursement_id, DisbursementStatus::Approved),
            AccountEvent::DisbursementRejected {
                disbursement_id, ..
            } => self.set_status(*disbursement_id, DisbursementStatus::Rejected),
            AccountEvent::DisbursementPaid {
                disbursement_id,
                reporting_amount,
                ..
            } => {
                if let Some(d) = self.disbursements.get_mut(disbursement_id) {
                    d.status = DisbursementStatus::Paid;
                    d.reporting_amount = Some(*reporting_amount);
                    d.paid_version = Some(version);
                }
            }
            AccountEvent::DisbursementReversed {
                disbursement_id, ..
            } => self.set_status(*disbursement_id, DisbursementStatus::Reversed),
            AccountEvent::DisbursementRefunded {
                disbursement_id,
                amount,
                ..
            } => {
                if let Some(d) = self.disbursements.get_mut(disbursement_id) {
                    d.refunded = d.refunded.saturating_add(amount.minor_units());
                }
            }
        }
    }

    fn decide(&self, command: AccountCommand) -> Result<Vec<AccountEvent>, DomainError> {
        match command {
            AccountCommand::Credit {
                source_event_id,
                project_id,
                country,
                allocation_id,
                pledge_id,
                donor_id,
                amount,
                reporting_amount,
            } => {
                if self.source_events.contains(&source_event_id)
                    || self.credits.contains_key(&allocation_id)
                {
                    return Ok(vec![]);
                }
                let amount = positive("amount", amount)?;
                if let Some(currency) = self.currency.filter(|c| *c != amount.currency()) {
                    return Err(DomainError::refused(
                        Reason::CurrencyMismatch,
                        format!("the account is kept in {currency}"),
                    ));
                }
                if reporting_amount.is_negative() {
                    return Err(DomainError::invalid(
                        "reporting_amount",
                        format!("must not be negative, got {reporting_amount}"),
                    ));
                }
                if let Some(reporting) = self
                    .credited_reporting
                    .filter(|r| r.currency() != reporting_amount.currency())
                {
                    return Err(DomainError::refused(
                        Reason::CurrencyMismatch,
                        format!(
                            "the account reports in {}; this credit is valued in {}",
                            reporting.currency(),
                            reporting_amount.currency()
                        ),
                    ));
                }
                let credited = AccountEvent::Credited {
                    project_id,
                    country,
                    allocation_id,
                    source_event_id,
                    pledge_id,
                    donor_id: donor_id.clone(),
                    amount,
                    reporting_amount,
                };
                if !self.closed {
                    return Ok(vec![credited]);
                }
                // An allocation that reaches a closed account (made before the pledge learned
                // of the close) is recorded, so the books show it arrived, and returned in the
                // same write: the money goes back to the fund without anyone having to notice.
                Ok(vec![
                    credited,
                    AccountEvent::AllocationReturned {
                        project_id,
                        country,
                        allocation_id,
                        pledge_id,
                        donor_id,
                        amount,
                        reporting_amount,
                        reason: "the project account is closed; the allocation goes back to the \
                                 fund as it arrives"
                            .to_owned(),
                        corrects_version: self.version.next(),
                        remaining: Some(Money::zero(amount.currency())),
                    },
                ])
            }
            AccountCommand::UnlockTranche {
                source_event_id,
                project_id,
                country,
                milestone,
                tranche,
                released,
            } => {
                if self.source_events.contains(&source_event_id)
                    || self.tranches.contains_key(&milestone)
                {
                    return Ok(vec![]);
                }
                let tranche = positive("tranche", tranche)?;
                if let Some(currency) = self.currency.filter(|c| *c != tranche.currency()) {
                    return Err(DomainError::refused(
                        Reason::CurrencyMismatch,
                        format!("the account is kept in {currency}; tranches are too"),
                    ));
                }
                if released.is_negative() || released.checked_cmp(&tranche)?.is_gt() {
                    return Err(DomainError::invalid(
                        "released",
                        format!(
                            "a verification releases between nothing and the tranche of {tranche}, not {released}"
                        ),
                    ));
                }
                // A release of nothing is recorded too: the account then knows the milestone
                // was verified and that its tranche pays nothing, which a request is told.
                Ok(vec![AccountEvent::TrancheUnlocked {
                    project_id,
                    country,
                    milestone,
                    tranche,
                    source_event_id,
                    released: Some(released),
                }])
            }
            AccountCommand::ReturnAllocation {
                allocation_id,
                amount,
                reason,
            } => self.return_allocation(allocation_id, amount, &reason),
            AccountCommand::Close { reason, closed_by } => self.close(&reason, closed_by),
            AccountCommand::Request {
                disbursement_id,
                amount,
                partner,
                milestone,
                purpose,
                requested_by,
                project,
            } => {
                if self.closed {
                    return Err(DomainError::refused(
                        Reason::AccountClosed,
                        "the project account is closed; it takes no new disbursement requests",
                    ));
                }
                if project.closed {
                    return Err(DomainError::refused(
                        Reason::ProjectClosed,
                        "the project is closed; it takes no new disbursement requests",
                    ));
                }
                self.request(
                    disbursement_id,
                    amount,
                    (&partner, &project),
                    milestone,
                    &purpose,
                    requested_by,
                )
            }
            AccountCommand::Approve {
                disbursement_id,
                approved_by,
            } => self.approve(disbursement_id, approved_by),
            AccountCommand::Reject {
                disbursement_id,
                reason,
                rejected_by,
            } => {
                let d = self.disbursement(disbursement_id)?;
                let (project_id, country, _) = self.identity()?;
                if !matches!(
                    d.status,
                    DisbursementStatus::Requested | DisbursementStatus::Approved
                ) {
                    return Err(not_pending(disbursement_id, d.status));
                }
                Ok(vec![AccountEvent::DisbursementRejected {
                    project_id,
                    country,
                    disbursement_id,
                    amount: d.amount,
                    reason: text("reason", &reason, 500, true)?,
                    rejected_by,
                }])
            }
            AccountCommand::Pay {
                disbursement_id,
                paid_on,
                bank_reference,
                payment_currency,
                rate,
            } => {
                let d = self.disbursement(disbursement_id)?;
                let (project_id, country, _) = self.identity()?;
                if d.status != DisbursementStatus::Approved {
                    return Err(DomainError::refused(
                        Reason::DisbursementNotApproved,
                        format!(
                            "disbursement {disbursement_id} is {:?}; only an approved one is paid",
                            d.status
                        ),
                    ));
                }
                let payment = to_currency(d.amount, payment_currency, rate.as_ref())?;
                Ok(vec![AccountEvent::DisbursementPaid {
                    project_id,
                    country,
                    disbursement_id,
                    amount: d.amount,
                    reporting_amount: self.reporting_value(d.amount)?,
                    payment,
                    rate,
                    paid_on,
                    bank_reference: text("bank_reference", &bank_reference, 100, true)?,
                }])
            }
            AccountCommand::Reverse {
                disbursement_id,
                reason,
            } => {
                let (d, paid_version, reporting) = self.paid(disbursement_id)?;
                let (project_id, country, currency) = self.identity()?;
                let amount =
                    Money::new(currency, d.amount.minor_units().saturating_sub(d.refunded));
                if !amount.is_positive() {
                    return Err(DomainError::refused(
                        Reason::NothingToChange,
                        format!(
                            "disbursement {disbursement_id} was refunded in full; nothing is left to reverse"
                        ),
                    ));
                }
                Ok(vec![AccountEvent::DisbursementReversed {
                    project_id,
                    country,
                    disbursement_id,
                    amount,
                    reporting_amount: part_of(reporting, amount, d.amount)?,
                    reason: text("reason", &reason, 500, true)?,
                    corrects_version: paid_version,
                }])
            }
            AccountCommand::Refund {
                disbursement_id,
                amount,
                refunded_on,
                reason,
            } => {
                let (d, paid_version, reporting) = self.paid(disbursement_id)?;
                let (project_id, country, _) = self.identity()?;
                let amount = positive("amount", amount)?;
                let refundable = Money::new(
                    d.amount.currency(),
                    d.amount.minor_units().saturating_sub(d.refunded),
                );
                if amount.checked_cmp(&refundable)?.is_gt() {
                    return Err(DomainError::refused(
                        Reason::RefundExceedsPaid,
                        format!(
                            "only {refundable} of this disbursement is paid and not yet refunded"
                        ),
                    ));
                }
                Ok(vec![AccountEvent::DisbursementRefunded {
                    project_id,
                    country,
                    disbursement_id,
                    amount,
                    reporting_amount: part_of(reporting, amount, d.amount)?,
                    refunded_on,
                    reason: text("reason", &reason, 500, true)?,
                    corrects_version: paid_version,
                }])
            }
        }
    }
}

impl ProjectAccount {
    fn set_status(&mut self, id: DisbursementId, status: DisbursementStatus) {
        if let Some(d) = self.disbursements.get_mut(&id) {
            d.status = status;
        }
    }

    fn paid(&self, id: DisbursementId) -> Result<(&Disbursement, u64, Money), DomainError> {
        let d = self.disbursement(id)?;
        match (d.status, d.paid_version, d.reporting_amount) {
            (DisbursementStatus::Paid, Some(version), Some(reporting)) => {
                Ok((d, version, reporting))
            }
            _ => Err(DomainError::refused(
                Reason::DisbursementNotPaid,
                format!("disbursement {id} is {:?}, not paid", d.status),
            )),
        }
    }

    fn return_allocation(
        &self,
        allocation_id: AllocationId,
        amount: Option<Money>,
        reason: &str,
    ) -> Result<Vec<AccountEvent>, DomainError> {
        let credit = self.credits.get(&allocation_id).ok_or_else(|| {
            DomainError::refused(
                Reason::AllocationNotFound,
                format!("allocation {allocation_id} was not credited to this account"),
            )
        })?;
        self.identity()?;
        if credit.returned {
            return Err(DomainError::refused(
                Reason::AllocationAlreadyReleased,
                format!("allocation {allocation_id} was already returned in full"),
            ));
        }
        let remaining = credit.remaining();
        // Zero is how a client that predates partial returns leaves the amount out.
        let amount = match amount.filter(|a| !a.is_zero()) {
            None => remaining,
            Some(amount) => {
                let amount = positive("amount", amount)?;
                if amount.currency() != remaining.currency() {
                    return Err(DomainError::refused(
                        Reason::CurrencyMismatch,
                        format!(
                            "the account is kept in {}; return in {}",
                            remaining.currency(),
                            remaining.currency()
                        ),
                    ));
                }
                if amount.checked_cmp(&remaining)?.is_gt() {
                    return Err(DomainError::refused(
                        Reason::ReturnExceedsAllocation,
                        format!(
                            "{remaining} of allocation {allocation_id} is left to return; \
                             {amount} is more"
                        ),
                    ));
                }
                amount
            }
        };
        let available = self
            .available()
            .unwrap_or(Money::zero(credit.amount.currency()));
        if amount.checked_cmp(&available)?.is_gt() {
            return Err(DomainError::refused(
                Reason::ReturnExceedsAvailable,
                format!(
                    "returning {amount} needs that much available; only {available} is not held by disbursements"
                ),
            ));
        }
        Ok(vec![self.return_part(
            allocation_id,
            credit,
            amount,
            text("reason", reason, 500, true)?,
        )?])
    }

    /// The event returning `amount` of an allocation, valued at the allocation's booked value:
    /// in proportion for a part, and the value not yet returned for the last part, so the parts
    /// of an allocation returned bit by bit add up to exactly what it was credited at.
    fn return_part(
        &self,
        allocation_id: AllocationId,
        credit: &Credit,
        amount: Money,
        reason: String,
    ) -> Result<AccountEvent, DomainError> {
        let (project_id, country, _) = self.identity()?;
        let through = credit.returned_amount.checked_add(amount)?;
        let value_through = credit.reporting_amount.mul_div(
            through.minor_units(),
            credit.amount.minor_units(),
            credit.reporting_amount.currency(),
        )?;
        let reporting_amount = value_through.checked_sub(credit.returned_reporting)?;
        Ok(AccountEvent::AllocationReturned {
            project_id,
            country,
            allocation_id,
            pledge_id: credit.pledge_id,
            donor_id: credit.donor_id.clone(),
            amount,
            reporting_amount,
            reason,
            corrects_version: credit.version,
            remaining: Some(credit.amount.checked_sub(through)?),
        })
    }

    /// Closes the account: the money still available goes back to the fund, shared over the
    /// allocations in proportion to what is left of each. What was spent came from all of them
    /// alike (the account does not earmark payments to allocations), so each donor gets back
    /// its share of what is unspent, as a pledge shares an allocation over its receipts.
    fn close(&self, reason: &str, closed_by: Actor) -> Result<Vec<AccountEvent>, DomainError> {
        let (project_id, country, currency) = self.identity()?;
        if self.closed {
            return Err(DomainError::refused(
                Reason::AccountClosed,
                "the project account is already closed",
            ));
        }
        let pending: Vec<String> = self
            .disbursements
            .iter()
            .filter(|(_, d)| {
                matches!(
                    d.status,
                    DisbursementStatus::Requested | DisbursementStatus::Approved
                )
            })
            .map(|(id, _)| id.to_string())
            .collect();
        if !pending.is_empty() {
            return Err(DomainError::refused(
                Reason::DisbursementsPending,
                format!(
                    "disbursements {} are still to be decided or paid; reject or pay them before \
                     closing the account",
                    pending.join(", ")
                ),
            ));
        }
        let reason = text("reason", reason, 400, true)?;
        let available = self.available().unwrap_or(Money::zero(currency));
        let open: Vec<(&AllocationId, &Credit)> =
            self.credits.iter().filter(|(_, c)| !c.returned).collect();
        let weights: Vec<i64> = open
            .iter()
            .map(|(_, c)| c.remaining().minor_units())
            .collect();
        let shares = split(&weights, available.minor_units().max(0));
        let mut events = Vec::new();
        let mut returned = 0_i64;
        for ((allocation_id, credit), share) in open.into_iter().zip(shares) {
            if share > 0 {
                returned = returned.saturating_add(share);
                events.push(self.return_part(
                    *allocation_id,
                    credit,
                    Money::new(currency, share),
                    format!("the project account was closed: {reason}"),
                )?);
            }
        }
        events.push(AccountEvent::Closed {
            project_id,
            country,
            returned: Money::new(currency, returned),
            reason,
            closed_by,
        });
        Ok(events)
    }

    fn request(
        &self,
        disbursement_id: DisbursementId,
        amount: Money,
        (payee, project): (&str, &ProjectSummary),
        milestone: Option<u32>,
        purpose: &str,
        requested_by: Actor,
    ) -> Result<Vec<AccountEvent>, DomainError> {
        if self.disbursements.contains_key(&disbursement_id) {
            return Err(DomainError::refused(
                Reason::DisbursementAlreadyRequested,
                format!("disbursement {disbursement_id} already exists"),
            ));
        }
        let amount = positive("amount", amount)?;
        let purpose = text("purpose", purpose, 500, false)?;
        let payee = text("partner", payee, 200, false)?;
        if !payee.is_empty() && !project.pays(&payee) {
            return Err(DomainError::refused(
                Reason::PayeeNotImplementingPartner,
                format!(
                    "disbursements of this project go to its implementing partner, {}; \
                     a change of partner is recorded on the project first",
                    project.partner.name
                ),
            ));
        }
        let (project_id, country, currency) = self.identity()?;
        if amount.currency() != currency {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!("the account is kept in {currency}; request in {currency}"),
            ));
        }
        let available = self.available().unwrap_or(Money::zero(currency));
        if amount.checked_cmp(&available)?.is_gt() {
            return Err(DomainError::refused(
                Reason::DisbursementExceedsAvailable,
                format!("{amount} requested; only {available} is available on this account"),
            ));
        }
        match (milestone, project.funding) {
            (Some(number), FundingModality::ResultsBased) => {
                self.require_verified(number)?;
                self.check_tranche(number, amount, None)?;
            }
            (Some(number), FundingModality::AdvanceFunded) => {
                self.check_tranche(number, amount, None)?;
            }
            (None, FundingModality::ResultsBased) => {
                return Err(DomainError::refused(
                    Reason::MilestoneRequired,
                    "the project is results-based: a disbursement pays for a verified milestone, \
                     so the request names it",
                ));
            }
            (None, FundingModality::AdvanceFunded) => {}
        }
        Ok(vec![AccountEvent::DisbursementRequested {
            project_id,
            country,
            disbursement_id,
            amount,
            partner: project.partner.name.clone(),
            milestone,
            purpose,
            requested_by,
        }])
    }

    fn require_verified(&self, milestone: u32) -> Result<(), DomainError> {
        if self.released.contains_key(&milestone) {
            Ok(())
        } else {
            Err(DomainError::refused(
                Reason::MilestoneNotVerified,
                format!("milestone {milestone} is not verified; its tranche cannot be paid yet"),
            ))
        }
    }

    /// A tranche never pays more than its milestone's verification released, counting what
    /// other disbursements for the same milestone already hold. Before verification the
    /// release is not known, so only approval (which needs it) can hold the request to it.
    fn check_tranche(
        &self,
        milestone: u32,
        amount: Money,
        except: Option<DisbursementId>,
    ) -> Result<(), DomainError> {
        if let Some(released) = self.released.get(&milestone) {
            let held = self.held_for_milestone(milestone, except);
            if held.saturating_add(amount.minor_units()) > released.minor_units() {
                let tranche = self.tranches.get(&milestone).copied().unwrap_or(*released);
                return Err(DomainError::refused(
                    Reason::TrancheExceedsMilestone,
                    format!(
                        "milestone {milestone}'s verification released {released} of its {tranche} \
                         tranche; {} is already requested against it",
                        Money::new(released.currency(), held)
                    ),
                ));
            }
        }
        Ok(())
    }

    fn approve(
        &self,
        disbursement_id: DisbursementId,
        approved_by: Actor,
    ) -> Result<Vec<AccountEvent>, DomainError> {
        let d = self.disbursement(disbursement_id)?;
        let (project_id, country, _) = self.identity()?;
        if d.status != DisbursementStatus::Requested {
            return Err(not_pending(disbursement_id, d.status));
        }
        if d.requested_by.is_same_person(&approved_by) {
            return Err(DomainError::refused(
                Reason::ApproverIsRequester,
                format!("{approved_by} requested this disbursement; someone else must approve it"),
            ));
        }
        if let Some(number) = d.milestone {
            if !self.released.contains_key(&number) {
                return Err(DomainError::refused(
                    Reason::MilestoneNotVerified,
                    format!(
                        "milestone {number} is not verified; its tranche cannot be approved yet"
                    ),
                ));
            }
            self.check_tranche(number, d.amount, Some(disbursement_id))?;
        }
        if self.available().is_some_and(|a| a.is_negative()) {
            return Err(DomainError::refused(
                Reason::DisbursementExceedsAvailable,
                "the account is short of what its disbursements hold",
            ));
        }
        Ok(vec![AccountEvent::DisbursementApproved {
            project_id,
            country,
            disbursement_id,
            amount: d.amount,
            approved_by,
        }])
    }
}

fn not_pending(id: DisbursementId, status: DisbursementStatus) -> DomainError {
    DomainError::refused(
        Reason::DisbursementNotPending,
        format!("disbursement {id} is {status:?}, not awaiting a decision"),
    )
}

/// The reporting value of part of a payment, proportional to what the whole was booked at.
fn part_of(whole_reporting: Money, part: Money, whole: Money) -> Result<Money, DomainError> {
    Ok(whole_reporting.mul_div(
        part.minor_units(),
        whole.minor_units(),
        whole_reporting.currency(),
    )?)
}

/// Splits `amount` over `weights` in proportion, exactly: the shares add up to `amount` when it
/// is at most the weights' total, and none exceeds its weight. Cumulative floors, so rounding
/// never drifts and the split depends only on the order of the weights.
fn split(weights: &[i64], amount: i64) -> Vec<i64> {
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let amount = i128::from(amount.max(0)).min(total);
    if total == 0 {
        return vec![0; weights.len()];
    }
    let (mut cumulative, mut given) = (0_i128, 0_i128);
    weights
        .iter()
        .map(|weight| {
            cumulative += i128::from((*weight).max(0));
            let through = cumulative * amount / total;
            let share = through - given;
            given = through;
            // At most `amount`, which came from an i64.
            i64::try_from(share).unwrap_or(0)
        })
        .collect()
}
