//! Pledges and the money that flows through them: commitment, receipt, allocation.
//!
//! A pledge is a donor's promise (recorded, amended, withdrawn). A signed contribution
//! agreement turns it into a commitment. Receipts are the money actually credited to the fund,
//! in the pledge's currency, each with the rate to the fund's reporting currency at which it was
//! booked. Received money that is not yet allocated may be allocated to a project, within the
//! pledge's earmark; an allocation returned by the project account, whole or in parts, is
//! released back to the pledge part by part, in proportion and at its booked value.
//!
//! # Correcting receipts
//!
//! Nothing is edited; a receipt is corrected by a new event naming it (`corrects_version`):
//!
//! - **Reversed** (`ReceiptReversed`): a receipt that bounced or was booked in error no longer
//!   counts as received. Only money still unallocated can be reversed: when the receipt's amount
//!   exceeds what the pledge holds unallocated, allocations must be returned first. Its bank
//!   reference may be booked again, so a mistyped receipt is reversed and booked anew under the
//!   reference of the credit it records.
//! - **Re-rated** (`ReceiptRerated`): the rate a receipt was booked at is replaced by the
//!   corrected rate, with its source and date. The receipt's value changes by the difference;
//!   allocations already made keep the value they were booked at (historical cost), so only the
//!   receipt's part still unallocated moves the value of the pledge's unallocated money.
//! - **Refunded** (`ContributionRefunded`): unallocated money paid back to the donor, with the
//!   payment's reference and value date. It leaves the unallocated money at its average value,
//!   as an allocation would.
//!
//! Money is conserved in the pledge's currency: received (net of reversals) = allocated (net of
//! releases) + unallocated + refunded. The person who corrects a receipt is not the person who
//! booked it (four eyes over the books); a receipt booked before the booker was recorded on it
//! is corrected without that check, since the pledge does not know who booked it.
//!
//! **Which part of a receipt is unallocated.** Allocated money is valued at the moving weighted
//! average of the unallocated money, which is the same as taking every allocation (and refund)
//! from all unallocated receipts in proportion to what each still has unallocated, each at its
//! own average value. Each receipt keeps that part and its value ([`Receipt::unallocated`],
//! [`Receipt::unallocated_reporting`]; they add up to the pledge's); a released allocation gives
//! its money back to the receipts in proportion to what each has out, with the value it was
//! allocated at. A re-rating revalues the receipt's unallocated part by the ratio of its new
//! value to its old one, which moves the value of the unallocated money; the rest of the
//! difference stays on the allocations and refunds made (they are not revalued). A reversal
//! takes the receipt's unallocated part out at its value, and the part of it that was
//! allocated is replaced by other receipts' unallocated money, taken out at their average value:
//! the allocations now hold that money, at the values they were booked at.
//!
//! Longer than most files on purpose: the aggregate's state, its `decide` and its `evolve` stay
//! together so that every rule it enforces is read in one place.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::aggregate::{Aggregate, VersionCounter, positive, text};
use crate::country::CountryCode;
use crate::donor::DonorProfile;
use crate::error::{DomainError, Reason};
use crate::ids::{Actor, AllocationId, DonorId, PledgeId, ProjectId, ReceiptId};
use crate::money::{Currency, Money};
use crate::project::ProjectSummary;
use crate::rate::ExchangeRate;

/// Restricts where a contribution may be spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Earmark {
    /// Unearmarked: the fund decides.
    None,
    /// Only projects in this country.
    Country(CountryCode),
    /// Only this project (the country is recorded with it, for reporting).
    Project {
        project_id: ProjectId,
        country: CountryCode,
    },
}

impl Earmark {
    /// The country the earmarked money is for, if any.
    pub fn country(&self) -> Option<CountryCode> {
        match self {
            Earmark::None => None,
            Earmark::Country(country) | Earmark::Project { country, .. } => Some(*country),
        }
    }

    /// Whether money under this earmark may fund the project.
    pub fn admits(&self, project: &ProjectSummary) -> bool {
        match self {
            Earmark::None => true,
            Earmark::Country(country) => *country == project.country,
            Earmark::Project { project_id, .. } => *project_id == project.project_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PledgeEvent {
    Recorded {
        pledge_id: PledgeId,
        donor_id: DonorId,
        amount: Money,
        earmark: Earmark,
        pledged_on: NaiveDate,
    },
    Amended {
        pledge_id: PledgeId,
        donor_id: DonorId,
        previous_amount: Money,
        amount: Money,
        /// The pledge's earmark, so the change lands on the right country's figures.
        earmark: Earmark,
        reason: String,
        corrects_version: u64,
    },
    Withdrawn {
        pledge_id: PledgeId,
        donor_id: DonorId,
        /// The part of the pledge that was never received and is no longer expected.
        cancelled: Money,
        earmark: Earmark,
        reason: String,
    },
    AgreementSigned {
        pledge_id: PledgeId,
        donor_id: DonorId,
        agreement_reference: String,
        signed_on: NaiveDate,
        amount: Money,
        earmark: Earmark,
    },
    ContributionReceived {
        pledge_id: PledgeId,
        donor_id: DonorId,
        receipt_id: ReceiptId,
        amount: Money,
        value_date: NaiveDate,
        /// Pledge currency to reporting currency; `None` when they are the same.
        rate: Option<ExchangeRate>,
        reporting_amount: Money,
        bank_reference: String,
        over_payment: bool,
        earmark: Earmark,
        /// Whether the donor was matching-eligible when the money arrived.
        donor_matching_eligible: bool,
        /// Who booked it; `None` on receipts recorded before the booker was recorded with them.
        booked_by: Option<Actor>,
    },
    ContributionAllocated {
        pledge_id: PledgeId,
        donor_id: DonorId,
        allocation_id: AllocationId,
        project_id: ProjectId,
        country: CountryCode,
        amount: Money,
        /// Pledge currency to the project's currency; `None` when they are the same.
        rate: Option<ExchangeRate>,
        project_amount: Money,
        reporting_amount: Money,
    },
    AllocationReleased {
        pledge_id: PledgeId,
        donor_id: DonorId,
        allocation_id: AllocationId,
        project_id: ProjectId,
        country: CountryCode,
        amount: Money,
        reporting_amount: Money,
        reason: String,
        corrects_version: u64,
    },
    /// A receipt that bounced or was booked in error: its money was never the fund's.
    ReceiptReversed {
        pledge_id: PledgeId,
        donor_id: DonorId,
        receipt_id: ReceiptId,
        /// The receipt's amount, no longer received.
        amount: Money,
        /// The receipt's value as last booked, no longer received.
        reporting_amount: Money,
        /// The value that leaves the pledge's unallocated money (see the module documentation).
        unallocated_reporting: Money,
        /// Free to be booked again.
        bank_reference: String,
        earmark: Earmark,
        reason: String,
        reversed_by: Actor,
        /// The version of the receipt's `ContributionReceived`.
        corrects_version: u64,
    },
    /// A receipt's rate to the reporting currency, corrected.
    ReceiptRerated {
        pledge_id: PledgeId,
        donor_id: DonorId,
        receipt_id: ReceiptId,
        amount: Money,
        previous_rate: Option<ExchangeRate>,
        rate: ExchangeRate,
        previous_reporting_amount: Money,
        reporting_amount: Money,
        /// How the value of the pledge's unallocated money changes (the receipt's unallocated
        /// part of the difference); the rest stays on allocations and refunds already made.
        unallocated_reporting_change: Money,
        earmark: Earmark,
        reason: String,
        rerated_by: Actor,
        /// The version of the event that booked the value corrected: the receipt, or its last
        /// re-rating.
        corrects_version: u64,
    },
    /// Unallocated money paid back to the donor.
    ContributionRefunded {
        pledge_id: PledgeId,
        donor_id: DonorId,
        amount: Money,
        /// At the average value of the unallocated money, as an allocation would be.
        reporting_amount: Money,
        payment_reference: String,
        value_date: NaiveDate,
        earmark: Earmark,
        reason: String,
        refunded_by: Actor,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PledgeCommand {
    Record {
        pledge_id: PledgeId,
        donor: DonorProfile,
        amount: Money,
        earmark: Earmark,
        pledged_on: NaiveDate,
    },
    Amend {
        amount: Money,
        reason: String,
    },
    Withdraw {
        reason: String,
    },
    SignAgreement {
        agreement_reference: String,
        signed_on: NaiveDate,
        amount: Money,
    },
    RecordReceipt {
        receipt_id: ReceiptId,
        amount: Money,
        value_date: NaiveDate,
        rate: Option<ExchangeRate>,
        reporting_currency: Currency,
        bank_reference: String,
        over_payment: bool,
        donor_matching_eligible: bool,
        booked_by: Actor,
    },
    ReverseReceipt {
        receipt_id: ReceiptId,
        reason: String,
        reversed_by: Actor,
    },
    RerateReceipt {
        receipt_id: ReceiptId,
        /// Pledge currency to the reporting currency the receipt is valued in.
        rate: ExchangeRate,
        reason: String,
        rerated_by: Actor,
    },
    RefundToDonor {
        amount: Money,
        payment_reference: String,
        value_date: NaiveDate,
        reason: String,
        refunded_by: Actor,
    },
    Allocate {
        allocation_id: AllocationId,
        project: ProjectSummary,
        amount: Money,
        rate: Option<ExchangeRate>,
    },
    ReleaseAllocation {
        allocation_id: AllocationId,
        reason: String,
        /// What of the allocation the project account keeps after the return, in the
        /// project's currency, as `AllocationReturned` recorded it; `None` (returns recorded
        /// before partial returns) when it keeps nothing. The pledge takes back the rest, in
        /// proportion, at the value the allocation was booked at.
        remaining: Option<Money>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PledgeTerms {
    pub pledge_id: PledgeId,
    pub donor_id: DonorId,
    pub amount: Money,
    pub earmark: Earmark,
    pub pledged_on: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub amount: Money,
    pub value_date: NaiveDate,
    /// As last booked: at the receipt's rate, or at the rate of its last re-rating.
    pub reporting_amount: Money,
    pub rate: Option<ExchangeRate>,
    pub bank_reference: String,
    pub over_payment: bool,
    pub booked_by: Option<Actor>,
    pub reversed: bool,
    /// The part of the receipt still in the pledge's unallocated money.
    pub unallocated: Money,
    /// The value of that part; the receipts' add up to the unallocated money's value.
    pub unallocated_reporting: Money,
    /// The version of its `ContributionReceived`.
    pub version: u64,
    /// The version of the event that booked its current value.
    pub value_version: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub amount: Money,
    pub reporting_amount: Money,
    pub payment_reference: String,
    pub value_date: NaiveDate,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub project_id: ProjectId,
    pub country: CountryCode,
    pub amount: Money,
    /// The allocation in the project's currency, as the account was credited.
    pub project_amount: Money,
    pub reporting_amount: Money,
    /// Whether all of it is back with the pledge.
    pub released: bool,
    /// What of it is back so far, in the pledge's currency, and the value of that.
    pub released_amount: Money,
    pub released_reporting: Money,
    pub version: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pledge {
    terms: Option<PledgeTerms>,
    terms_version: u64,
    withdrawn: bool,
    agreement: Option<(String, Money)>,
    received: Option<Money>,
    received_reporting: Option<Money>,
    receipts: BTreeMap<ReceiptId, Receipt>,
    allocated: Option<Money>,
    /// The reporting value of the allocations not released, at the values they were booked at.
    allocated_reporting: Option<Money>,
    allocations: BTreeMap<AllocationId, Allocation>,
    refunded: Option<Money>,
    refunds: Vec<Refund>,
    /// The value of the unallocated money. Kept as its own total, because corrections move it
    /// apart from received − allocated − refunded (allocations keep their historical value).
    unallocated_reporting: Option<Money>,
    version: VersionCounter,
}

fn subtract(total: &mut Option<Money>, amount: Money) {
    if let Ok(negative) = amount.checked_neg() {
        add(total, negative);
    }
}

/// Splits `amount` over `weights` in proportion, exactly: the shares add up to `amount` when
/// any weight is positive, none exceeds its weight when `amount` is at most their total, and
/// the split depends only on the order of the weights. Cumulative floors, so rounding never
/// drifts.
fn split(weights: &[i64], amount: i64) -> Vec<i64> {
    let total: i128 = weights.iter().map(|w| i128::from((*w).max(0))).sum();
    let amount = i128::from(amount.max(0));
    let mut shares = Vec::with_capacity(weights.len());
    if total == 0 {
        shares.resize(weights.len(), 0);
        return shares;
    }
    let (mut cumulative, mut given) = (0_i128, 0_i128);
    for weight in weights {
        cumulative += i128::from((*weight).max(0));
        let through = cumulative * amount / total;
        // At least 0, and at most `amount`, which fits an i64.
        shares.push(i64::try_from(through - given).unwrap_or(0));
        given = through;
    }
    shares
}

fn add(total: &mut Option<Money>, amount: Money) {
    // Folding never fails: totals that `decide` checked cannot overflow, and a foreign history
    // that would is kept saturated rather than dropped.
    let current = total.unwrap_or(Money::zero(amount.currency()));
    *total = Some(current.checked_add(amount).unwrap_or(current));
}

impl Pledge {
    pub fn stream(pledge_id: &PledgeId) -> String {
        format!("{}-{pledge_id}", Self::CATEGORY)
    }

    pub fn terms(&self) -> Option<&PledgeTerms> {
        self.terms.as_ref()
    }

    pub fn is_withdrawn(&self) -> bool {
        self.withdrawn
    }

    pub fn agreement(&self) -> Option<&(String, Money)> {
        self.agreement.as_ref()
    }

    pub fn receipts(&self) -> &BTreeMap<ReceiptId, Receipt> {
        &self.receipts
    }

    pub fn allocations(&self) -> &BTreeMap<AllocationId, Allocation> {
        &self.allocations
    }

    pub fn refunds(&self) -> &[Refund] {
        &self.refunds
    }

    /// Money paid back to the donor, in the pledge's currency.
    pub fn refunded(&self) -> Option<Money> {
        self.refunded.or_else(|| {
            self.terms
                .as_ref()
                .map(|t| Money::zero(t.amount.currency()))
        })
    }

    /// Allocated money net of releases, in the pledge's currency.
    pub fn allocated(&self) -> Option<Money> {
        self.allocated.or_else(|| {
            self.terms
                .as_ref()
                .map(|t| Money::zero(t.amount.currency()))
        })
    }

    /// The value of the unallocated money in the reporting currency, once money was received.
    pub fn unallocated_reporting(&self) -> Option<Money> {
        self.unallocated_reporting
    }

    /// The receipts still counted as received, but `except`, in their order.
    fn live_receipts(&self, except: Option<ReceiptId>) -> Vec<ReceiptId> {
        self.receipts
            .iter()
            .filter(|(id, r)| !r.reversed && Some(**id) != except)
            .map(|(id, _)| *id)
            .collect()
    }

    /// Takes `amount` worth `value` out of the receipts' unallocated parts: the money in
    /// proportion to each one's unallocated money, the value in proportion to each one's
    /// unallocated value, so each keeps its own average rate.
    fn take_from_receipts(&mut self, amount: Money, value: Money, except: Option<ReceiptId>) {
        let live = self.live_receipts(except);
        let parts: Vec<(i64, i64)> = live
            .iter()
            .filter_map(|id| self.receipts.get(id))
            .map(|r| {
                (
                    r.unallocated.minor_units(),
                    r.unallocated_reporting.minor_units(),
                )
            })
            .collect();
        let money: Vec<i64> = parts.iter().map(|p| p.0).collect();
        let values: Vec<i64> = parts.iter().map(|p| p.1).collect();
        let amount = amount.minor_units().min(money.iter().sum());
        let value = value.minor_units().min(values.iter().sum());
        let shares = split(&money, amount).into_iter().zip(split(&values, value));
        for (id, (money, value)) in live.iter().zip(shares) {
            if let Some(receipt) = self.receipts.get_mut(id) {
                receipt.unallocated = Money::new(
                    receipt.unallocated.currency(),
                    receipt.unallocated.minor_units().saturating_sub(money),
                );
                receipt.unallocated_reporting = Money::new(
                    receipt.unallocated_reporting.currency(),
                    receipt
                        .unallocated_reporting
                        .minor_units()
                        .saturating_sub(value),
                );
            }
        }
    }

    /// Gives released money back to the receipts, in proportion to what each has out, with the
    /// value it was allocated at in proportion to the money.
    fn give_to_receipts(&mut self, amount: Money, value: Money) {
        let live = self.live_receipts(None);
        let out: Vec<i64> = live
            .iter()
            .filter_map(|id| self.receipts.get(id))
            .map(|r| {
                r.amount
                    .minor_units()
                    .saturating_sub(r.unallocated.minor_units())
            })
            .collect();
        let amount = amount.minor_units().min(out.iter().sum());
        let money = split(&out, amount);
        let values = split(&money, value.minor_units());
        for (id, (money, value)) in live.iter().zip(money.into_iter().zip(values)) {
            if let Some(receipt) = self.receipts.get_mut(id) {
                receipt.unallocated = Money::new(
                    receipt.unallocated.currency(),
                    receipt.unallocated.minor_units().saturating_add(money),
                );
                receipt.unallocated_reporting = Money::new(
                    receipt.unallocated_reporting.currency(),
                    receipt
                        .unallocated_reporting
                        .minor_units()
                        .saturating_add(value),
                );
            }
        }
    }

    fn require_terms(&self) -> Result<&PledgeTerms, DomainError> {
        self.terms.as_ref().ok_or_else(|| {
            DomainError::refused(Reason::PledgeNotFound, "the pledge is not recorded")
        })
    }

    fn require_open(&self) -> Result<&PledgeTerms, DomainError> {
        let terms = self.require_terms()?;
        if self.withdrawn {
            return Err(DomainError::refused(
                Reason::PledgeWithdrawn,
                format!("pledge {} was withdrawn", terms.pledge_id),
            ));
        }
        Ok(terms)
    }

    /// Money received on the pledge, in its currency.
    pub fn received(&self) -> Option<Money> {
        self.received.or_else(|| {
            self.terms
                .as_ref()
                .map(|t| Money::zero(t.amount.currency()))
        })
    }

    /// Money received on the pledge, in the reporting currency at the rates it was booked at.
    pub fn received_reporting(&self) -> Option<Money> {
        self.received_reporting
    }

    /// Received money neither allocated to a project (net of released allocations) nor
    /// refunded to the donor.
    pub fn unallocated(&self) -> Result<Money, DomainError> {
        let terms = self.require_terms()?;
        let zero = Money::zero(terms.amount.currency());
        let received = self.received.unwrap_or(zero);
        Ok(received
            .checked_sub(self.allocated.unwrap_or(zero))?
            .checked_sub(self.refunded.unwrap_or(zero))?)
    }

    /// The reporting-currency value of part of the unallocated money, at the average booked
    /// rate of the money still unallocated (a moving weighted average of the receipts): allocated
    /// money keeps the historical rate of the receipts it came from, and allocating everything
    /// left allocates exactly the reporting value left, so allocations never report more (or
    /// less) than was received. `refusal` is the reason to give when nothing is unallocated.
    fn reporting_value(&self, amount: Money, refusal: Reason) -> Result<Money, DomainError> {
        match self.unallocated_reporting {
            Some(unallocated_reporting) => {
                let unallocated = self.unallocated()?;
                if !unallocated.is_positive() {
                    return Err(DomainError::refused(
                        refusal,
                        "all money received on this pledge is allocated or refunded",
                    ));
                }
                Ok(amount.mul_div(
                    unallocated_reporting.minor_units(),
                    unallocated.minor_units(),
                    unallocated_reporting.currency(),
                )?)
            }
            None => Err(DomainError::refused(
                refusal,
                "no money has been received on this pledge",
            )),
        }
    }
}

impl Aggregate for Pledge {
    type Command = PledgeCommand;
    type Event = PledgeEvent;
    const CATEGORY: &'static str = "pledge";

    fn evolve(&mut self, event: &PledgeEvent) {
        let version = self.version.advance();
        match event {
            PledgeEvent::Recorded {
                pledge_id,
                donor_id,
                amount,
                earmark,
                pledged_on,
            } => {
                self.terms = Some(PledgeTerms {
                    pledge_id: *pledge_id,
                    donor_id: donor_id.clone(),
                    amount: *amount,
                    earmark: *earmark,
                    pledged_on: *pledged_on,
                });
                self.terms_version = version;
            }
            PledgeEvent::Amended { amount, .. } => {
                if let Some(terms) = &mut self.terms {
                    terms.amount = *amount;
                }
                self.terms_version = version;
            }
            PledgeEvent::Withdrawn { .. } => self.withdrawn = true,
            PledgeEvent::AgreementSigned {
                agreement_reference,
                amount,
                ..
            } => self.agreement = Some((agreement_reference.clone(), *amount)),
            PledgeEvent::ContributionReceived {
                receipt_id,
                amount,
                value_date,
                rate,
                reporting_amount,
                bank_reference,
                over_payment,
                booked_by,
                ..
            } => {
                add(&mut self.received, *amount);
                add(&mut self.received_reporting, *reporting_amount);
                add(&mut self.unallocated_reporting, *reporting_amount);
                self.receipts.insert(
                    *receipt_id,
                    Receipt {
                        amount: *amount,
                        value_date: *value_date,
                        reporting_amount: *reporting_amount,
                        rate: rate.clone(),
                        bank_reference: bank_reference.clone(),
                        over_payment: *over_payment,
                        booked_by: booked_by.clone(),
                        reversed: false,
                        unallocated: *amount,
                        unallocated_reporting: *reporting_amount,
                        version,
                        value_version: version,
                    },
                );
            }
            PledgeEvent::ContributionAllocated {
                allocation_id,
                project_id,
                country,
                amount,
                project_amount,
                reporting_amount,
                ..
            } => {
                add(&mut self.allocated, *amount);
                add(&mut self.allocated_reporting, *reporting_amount);
                subtract(&mut self.unallocated_reporting, *reporting_amount);
                self.take_from_receipts(*amount, *reporting_amount, None);
                self.allocations.insert(
                    *allocation_id,
                    Allocation {
                        project_id: *project_id,
                        country: *country,
                        amount: *amount,
                        project_amount: *project_amount,
                        reporting_amount: *reporting_amount,
                        released: false,
                        released_amount: Money::zero(amount.currency()),
                        released_reporting: Money::zero(reporting_amount.currency()),
                        version,
                    },
                );
            }
            PledgeEvent::AllocationReleased {
                allocation_id,
                amount,
                reporting_amount,
                ..
            } => {
                subtract(&mut self.allocated, *amount);
                subtract(&mut self.allocated_reporting, *reporting_amount);
                add(&mut self.unallocated_reporting, *reporting_amount);
                self.give_to_receipts(*amount, *reporting_amount);
                if let Some(allocation) = self.allocations.get_mut(allocation_id) {
                    let released = &mut allocation.released_amount;
                    *released = released.checked_add(*amount).unwrap_or(*released);
                    let value = &mut allocation.released_reporting;
                    *value = value.checked_add(*reporting_amount).unwrap_or(*value);
                    // A release recorded before partial releases took the whole allocation.
                    allocation.released = allocation.released_amount.minor_units()
                        >= allocation.amount.minor_units()
                        && allocation.released_reporting.minor_units()
                            >= allocation.reporting_amount.minor_units();
                }
            }
            PledgeEvent::ReceiptReversed {
                receipt_id,
                amount,
                reporting_amount,
                unallocated_reporting,
                ..
            } => {
                subtract(&mut self.received, *amount);
                subtract(&mut self.received_reporting, *reporting_amount);
                subtract(&mut self.unallocated_reporting, *unallocated_reporting);
                // What of the receipt was allocated is replaced by the others' unallocated money.
                let borrowed = self.receipts.get(receipt_id).map(|r| {
                    let money = r.amount.minor_units() - r.unallocated.minor_units();
                    let value =
                        unallocated_reporting.minor_units() - r.unallocated_reporting.minor_units();
                    (
                        Money::new(r.amount.currency(), money.max(0)),
                        Money::new(unallocated_reporting.currency(), value.max(0)),
                    )
                });
                if let Some(receipt) = self.receipts.get_mut(receipt_id) {
                    receipt.reversed = true;
                    receipt.unallocated = Money::zero(receipt.amount.currency());
                    receipt.unallocated_reporting =
                        Money::zero(receipt.unallocated_reporting.currency());
                }
                if let Some((money, value)) = borrowed {
                    self.take_from_receipts(money, value, Some(*receipt_id));
                }
            }
            PledgeEvent::ReceiptRerated {
                receipt_id,
                rate,
                previous_reporting_amount,
                reporting_amount,
                unallocated_reporting_change,
                ..
            } => {
                subtract(&mut self.received_reporting, *previous_reporting_amount);
                add(&mut self.received_reporting, *reporting_amount);
                add(
                    &mut self.unallocated_reporting,
                    *unallocated_reporting_change,
                );
                if let Some(receipt) = self.receipts.get_mut(receipt_id) {
                    receipt.unallocated_reporting = receipt
                        .unallocated_reporting
                        .checked_add(*unallocated_reporting_change)
                        .unwrap_or(receipt.unallocated_reporting);
                    receipt.rate = Some(rate.clone());
                    receipt.reporting_amount = *reporting_amount;
                    receipt.value_version = version;
                }
            }
            PledgeEvent::ContributionRefunded {
                amount,
                reporting_amount,
                payment_reference,
                value_date,
                ..
            } => {
                add(&mut self.refunded, *amount);
                subtract(&mut self.unallocated_reporting, *reporting_amount);
                self.take_from_receipts(*amount, *reporting_amount, None);
                self.refunds.push(Refund {
                    amount: *amount,
                    reporting_amount: *reporting_amount,
                    payment_reference: payment_reference.clone(),
                    value_date: *value_date,
                });
            }
        }
    }

    fn decide(&self, command: PledgeCommand) -> Result<Vec<PledgeEvent>, DomainError> {
        match command {
            PledgeCommand::Record {
                pledge_id,
                donor,
                amount,
                earmark,
                pledged_on,
            } => {
                if self.terms.is_some() {
                    return Err(DomainError::refused(
                        Reason::PledgeAlreadyRecorded,
                        format!("pledge {pledge_id} is already recorded"),
                    ));
                }
                Ok(vec![PledgeEvent::Recorded {
                    pledge_id,
                    donor_id: donor.donor_id,
                    amount: positive("amount", amount)?,
                    earmark,
                    pledged_on,
                }])
            }
            PledgeCommand::Amend { amount, reason } => self.amend(amount, &reason),
            PledgeCommand::Withdraw { reason } => {
                let terms = self.require_open()?;
                let received = self
                    .received()
                    .unwrap_or(Money::zero(terms.amount.currency()));
                let outstanding = terms.amount.checked_sub(received)?;
                let cancelled = if outstanding.is_negative() {
                    Money::zero(terms.amount.currency())
                } else {
                    outstanding
                };
                Ok(vec![PledgeEvent::Withdrawn {
                    pledge_id: terms.pledge_id,
                    donor_id: terms.donor_id.clone(),
                    cancelled,
                    earmark: terms.earmark,
                    reason: text("reason", &reason, 500, true)?,
                }])
            }
            PledgeCommand::SignAgreement {
                agreement_reference,
                signed_on,
                amount,
            } => {
                let terms = self.require_open()?;
                if let Some((reference, _)) = &self.agreement {
                    return Err(DomainError::refused(
                        Reason::AgreementAlreadySigned,
                        format!(
                            "contribution agreement {reference} is already signed for this pledge"
                        ),
                    ));
                }
                let amount = positive("amount", amount)?;
                if amount.checked_cmp(&terms.amount)?.is_gt() {
                    return Err(DomainError::refused(
                        Reason::AgreementExceedsPledge,
                        format!(
                            "the agreement commits {amount}, more than the {} pledged",
                            terms.amount
                        ),
                    ));
                }
                Ok(vec![PledgeEvent::AgreementSigned {
                    pledge_id: terms.pledge_id,
                    donor_id: terms.donor_id.clone(),
                    agreement_reference: text(
                        "agreement_reference",
                        &agreement_reference,
                        100,
                        true,
                    )?,
                    signed_on,
                    amount,
                    earmark: terms.earmark,
                }])
            }
            PledgeCommand::RecordReceipt {
                receipt_id,
                amount,
                value_date,
                rate,
                reporting_currency,
                bank_reference,
                over_payment,
                donor_matching_eligible,
                booked_by,
            } => self.receive(
                receipt_id,
                amount,
                value_date,
                rate,
                reporting_currency,
                &bank_reference,
                over_payment,
                donor_matching_eligible,
                booked_by,
            ),
            PledgeCommand::ReverseReceipt {
                receipt_id,
                reason,
                reversed_by,
            } => self.reverse(receipt_id, &reason, reversed_by),
            PledgeCommand::RerateReceipt {
                receipt_id,
                rate,
                reason,
                rerated_by,
            } => self.rerate(receipt_id, rate, &reason, rerated_by),
            PledgeCommand::RefundToDonor {
                amount,
                payment_reference,
                value_date,
                reason,
                refunded_by,
            } => self.refund(amount, &payment_reference, value_date, &reason, refunded_by),
            PledgeCommand::Allocate {
                allocation_id,
                project,
                amount,
                rate,
            } => self.allocate(allocation_id, &project, amount, rate),
            PledgeCommand::ReleaseAllocation {
                allocation_id,
                reason,
                remaining,
            } => self.release(allocation_id, &reason, remaining),
        }
    }
}

/// A positive amount in the pledge's own currency; `rule` says why another is refused.
fn in_pledge_currency(
    terms: &PledgeTerms,
    amount: Money,
    rule: &str,
) -> Result<Money, DomainError> {
    let amount = positive("amount", amount)?;
    if amount.currency() != terms.amount.currency() {
        return Err(DomainError::refused(
            Reason::CurrencyMismatch,
            format!("the pledge is in {}; {rule}", terms.amount.currency()),
        ));
    }
    Ok(amount)
}

impl Pledge {
    /// Takes back what the project account returned of an allocation: the allocation less the
    /// part the account keeps, in proportion in the pledge's currency and at the allocation's
    /// booked value, less what earlier returns took back. Working from what the account keeps
    /// makes the parts add up to exactly the allocation once it keeps nothing, and a return
    /// taken back already changes nothing the second time.
    fn release(
        &self,
        allocation_id: AllocationId,
        reason: &str,
        remaining: Option<Money>,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_terms()?;
        let allocation = self.allocations.get(&allocation_id).ok_or_else(|| {
            DomainError::refused(
                Reason::AllocationNotFound,
                format!("allocation {allocation_id} is not on this pledge"),
            )
        })?;
        let kept = remaining.unwrap_or(Money::zero(allocation.project_amount.currency()));
        if allocation.released {
            if remaining.is_some() {
                // Everything is back already; a part the account returns after that (only
                // when the pledge's currency rounds coarser) has nothing left to take back.
                return Ok(vec![]);
            }
            return Err(DomainError::refused(
                Reason::AllocationAlreadyReleased,
                format!("allocation {allocation_id} was already released"),
            ));
        }
        let whole = allocation.project_amount.minor_units();
        if kept.currency() != allocation.project_amount.currency()
            || kept.is_negative()
            || kept.minor_units() > whole
        {
            return Err(DomainError::invalid(
                "remaining",
                format!(
                    "the account keeps between nothing and the allocation of {}, not {kept}",
                    allocation.project_amount
                ),
            ));
        }
        let through = whole - kept.minor_units();
        let part = |total: Money, released: Money| -> Result<Money, DomainError> {
            let through = total.mul_div(through, whole, total.currency())?;
            let left = through.checked_sub(released)?;
            Ok(if left.is_negative() {
                Money::zero(total.currency())
            } else {
                left
            })
        };
        let amount = part(allocation.amount, allocation.released_amount)?;
        let reporting_amount = part(allocation.reporting_amount, allocation.released_reporting)?;
        if amount.is_zero() && reporting_amount.is_zero() {
            return Ok(vec![]);
        }
        Ok(vec![PledgeEvent::AllocationReleased {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            allocation_id,
            project_id: allocation.project_id,
            country: allocation.country,
            amount,
            reporting_amount,
            reason: text("reason", reason, 500, true)?,
            corrects_version: allocation.version,
        }])
    }

    fn amend(&self, amount: Money, reason: &str) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_open()?;
        let amount = in_pledge_currency(
            terms,
            amount,
            "a pledge in another currency is a new pledge",
        )?;
        if amount == terms.amount {
            return Err(DomainError::refused(
                Reason::NothingToChange,
                format!("the pledge is already {amount}"),
            ));
        }
        let received = self.received().unwrap_or(Money::zero(amount.currency()));
        if amount.checked_cmp(&received)?.is_lt() {
            return Err(DomainError::refused(
                Reason::PledgeBelowReceived,
                format!("{received} has already been received; the pledge cannot be less"),
            ));
        }
        if let Some((reference, committed)) = &self.agreement
            && amount.checked_cmp(committed)?.is_lt()
        {
            return Err(DomainError::refused(
                Reason::AgreementExceedsPledge,
                format!(
                    "contribution agreement {reference} commits {committed}; \
                     the pledge cannot be less"
                ),
            ));
        }
        Ok(vec![PledgeEvent::Amended {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            previous_amount: terms.amount,
            amount,
            earmark: terms.earmark,
            reason: text("reason", reason, 500, true)?,
            corrects_version: self.terms_version,
        }])
    }

    #[allow(clippy::too_many_arguments)]
    fn receive(
        &self,
        receipt_id: ReceiptId,
        amount: Money,
        value_date: NaiveDate,
        rate: Option<ExchangeRate>,
        reporting_currency: Currency,
        bank_reference: &str,
        over_payment: bool,
        donor_matching_eligible: bool,
        booked_by: Actor,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_open()?;
        let amount = in_pledge_currency(
            terms,
            amount,
            "receipts are recorded in the pledge's currency",
        )?;
        let bank_reference = text("bank_reference", bank_reference, 100, true)?;
        if self
            .receipts
            .values()
            // A reversed receipt's reference is free: the credit it named is booked anew.
            .any(|r| !r.reversed && r.bank_reference == bank_reference)
        {
            return Err(DomainError::refused(
                Reason::DuplicateBankReference,
                format!("bank reference {bank_reference} is already booked on this pledge"),
            ));
        }
        let received = self.received().unwrap_or(Money::zero(amount.currency()));
        let after = received.checked_add(amount)?;
        if after.checked_cmp(&terms.amount)?.is_gt() && !over_payment {
            return Err(DomainError::refused(
                Reason::ReceiptExceedsPledge,
                format!(
                    "{amount} would bring receipts to {after}, beyond the {} pledged; \
                     record it as an over-payment if the donor intends it",
                    terms.amount
                ),
            ));
        }
        if let Some(reporting) = self
            .received_reporting
            .filter(|r| r.currency() != reporting_currency)
        {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!(
                    "earlier receipts on this pledge are reported in {}, not {reporting_currency}",
                    reporting.currency()
                ),
            ));
        }
        let reporting_amount = to_currency(amount, reporting_currency, rate.as_ref())?;
        Ok(vec![PledgeEvent::ContributionReceived {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            receipt_id,
            amount,
            value_date,
            rate,
            reporting_amount,
            bank_reference,
            over_payment,
            earmark: terms.earmark,
            donor_matching_eligible,
            booked_by: Some(booked_by),
        }])
    }

    fn allocate(
        &self,
        allocation_id: AllocationId,
        project: &ProjectSummary,
        amount: Money,
        rate: Option<ExchangeRate>,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_terms()?;
        let amount = in_pledge_currency(
            terms,
            amount,
            "allocations are made in the pledge's currency",
        )?;
        if project.closed {
            return Err(DomainError::refused(
                Reason::ProjectClosed,
                format!("project {} is closed", project.project_id),
            ));
        }
        if !terms.earmark.admits(project) {
            return Err(DomainError::refused(
                Reason::EarmarkMismatch,
                format!(
                    "the pledge is earmarked for {}; project {} is in {}",
                    describe(&terms.earmark),
                    project.project_id,
                    project.country
                ),
            ));
        }
        if self.allocations.contains_key(&allocation_id) {
            return Err(DomainError::invalid(
                "allocation_id",
                format!("allocation {allocation_id} already exists on this pledge"),
            ));
        }
        let unallocated = self.unallocated()?;
        if amount.checked_cmp(&unallocated)?.is_gt() {
            return Err(DomainError::refused(
                Reason::AllocationExceedsUnallocated,
                format!("only {unallocated} received on this pledge is unallocated"),
            ));
        }
        let project_amount = to_currency(amount, project.currency, rate.as_ref())?;
        let reporting_amount =
            self.reporting_value(amount, Reason::AllocationExceedsUnallocated)?;
        Ok(vec![PledgeEvent::ContributionAllocated {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            allocation_id,
            project_id: project.project_id,
            country: project.country,
            amount,
            rate,
            project_amount,
            reporting_amount,
        }])
    }

    fn receipt(&self, receipt_id: ReceiptId) -> Result<&Receipt, DomainError> {
        let receipt = self.receipts.get(&receipt_id).ok_or_else(|| {
            DomainError::refused(
                Reason::ReceiptNotFound,
                format!("receipt {receipt_id} is not on this pledge"),
            )
        })?;
        if receipt.reversed {
            return Err(DomainError::refused(
                Reason::ReceiptAlreadyReversed,
                format!("receipt {receipt_id} was reversed"),
            ));
        }
        Ok(receipt)
    }

    /// Four eyes over the books: a receipt is corrected by someone other than its booker.
    fn not_the_booker(
        receipt_id: ReceiptId,
        receipt: &Receipt,
        corrector: &Actor,
    ) -> Result<(), DomainError> {
        match &receipt.booked_by {
            Some(booker) if booker.is_same_person(corrector) => Err(DomainError::refused(
                Reason::CorrectorIsBooker,
                format!("{corrector} booked receipt {receipt_id}; someone else must correct it"),
            )),
            _ => Ok(()),
        }
    }

    fn reverse(
        &self,
        receipt_id: ReceiptId,
        reason: &str,
        reversed_by: Actor,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_terms()?;
        let receipt = self.receipt(receipt_id)?;
        Self::not_the_booker(receipt_id, receipt, &reversed_by)?;
        let reason = text("reason", reason, 500, true)?;
        let unallocated = self.unallocated()?;
        if receipt.amount.checked_cmp(&unallocated)?.is_gt() {
            return Err(DomainError::refused(
                Reason::ReversalExceedsUnallocated,
                format!(
                    "receipt {receipt_id} brought {}, but only {unallocated} of this pledge is \
                     unallocated: the rest is allocated to projects or refunded; return \
                     allocations from the project accounts first",
                    receipt.amount
                ),
            ));
        }
        let pool = self
            .unallocated_reporting
            .unwrap_or(Money::zero(receipt.reporting_amount.currency()));
        let unallocated_reporting = if receipt.amount == unallocated {
            // The last of the unallocated money takes the last of its value.
            pool
        } else {
            // Its own unallocated part at its own value...
            let own = receipt.unallocated_reporting;
            // ...and the part it had allocated, replaced by the others' unallocated money at
            // their average value.
            let borrowed = receipt.amount.checked_sub(receipt.unallocated)?;
            let others = unallocated.checked_sub(receipt.unallocated)?;
            let others_value = pool.checked_sub(own)?;
            let replaced = if others.is_positive() {
                borrowed.mul_div(
                    others_value.minor_units(),
                    others.minor_units(),
                    pool.currency(),
                )?
            } else {
                Money::zero(pool.currency())
            };
            own.checked_add(replaced)?
        };
        Ok(vec![PledgeEvent::ReceiptReversed {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            receipt_id,
            amount: receipt.amount,
            reporting_amount: receipt.reporting_amount,
            unallocated_reporting,
            bank_reference: receipt.bank_reference.clone(),
            earmark: terms.earmark,
            reason,
            reversed_by,
            corrects_version: receipt.version,
        }])
    }

    fn rerate(
        &self,
        receipt_id: ReceiptId,
        rate: ExchangeRate,
        reason: &str,
        rerated_by: Actor,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_terms()?;
        let receipt = self.receipt(receipt_id)?;
        Self::not_the_booker(receipt_id, receipt, &rerated_by)?;
        let reason = text("reason", reason, 500, true)?;
        if receipt.rate.as_ref() == Some(&rate) {
            return Err(DomainError::refused(
                Reason::NothingToChange,
                format!("receipt {receipt_id} is already booked at {rate}"),
            ));
        }
        let reporting_currency = receipt.reporting_amount.currency();
        let reporting_amount = to_currency(receipt.amount, reporting_currency, Some(&rate))?;
        let difference = reporting_amount.checked_sub(receipt.reporting_amount)?;
        // The receipt's unallocated value, at the corrected rate instead of the old one.
        let corrected = if receipt.reporting_amount.is_positive() {
            receipt.unallocated_reporting.mul_div(
                reporting_amount.minor_units(),
                receipt.reporting_amount.minor_units(),
                reporting_currency,
            )?
        } else {
            reporting_amount.mul_div(
                receipt.unallocated.minor_units(),
                receipt.amount.minor_units(),
                reporting_currency,
            )?
        };
        let unallocated_reporting_change = corrected.checked_sub(receipt.unallocated_reporting)?;
        // Checked here so that folding it can never overflow.
        self.unallocated_reporting
            .unwrap_or(Money::zero(reporting_currency))
            .checked_add(unallocated_reporting_change)?;
        self.received_reporting
            .unwrap_or(Money::zero(reporting_currency))
            .checked_add(difference)?;
        Ok(vec![PledgeEvent::ReceiptRerated {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            receipt_id,
            amount: receipt.amount,
            previous_rate: receipt.rate.clone(),
            rate,
            previous_reporting_amount: receipt.reporting_amount,
            reporting_amount,
            unallocated_reporting_change,
            earmark: terms.earmark,
            reason,
            rerated_by,
            corrects_version: receipt.value_version,
        }])
    }

    fn refund(
        &self,
        amount: Money,
        payment_reference: &str,
        value_date: NaiveDate,
        reason: &str,
        refunded_by: Actor,
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_terms()?;
        let amount =
            in_pledge_currency(terms, amount, "refunds are paid in the pledge's currency")?;
        let payment_reference = text("payment_reference", payment_reference, 100, true)?;
        let reason = text("reason", reason, 500, true)?;
        if self
            .refunds
            .iter()
            .any(|r| r.payment_reference == payment_reference)
        {
            return Err(DomainError::refused(
                Reason::DuplicatePaymentReference,
                format!("payment {payment_reference} is already booked as a refund on this pledge"),
            ));
        }
        let unallocated = self.unallocated()?;
        if amount.checked_cmp(&unallocated)?.is_gt() {
            return Err(DomainError::refused(
                Reason::RefundExceedsUnallocated,
                format!(
                    "only {unallocated} of this pledge is unallocated; money allocated to \
                     projects is refunded once the project accounts return it"
                ),
            ));
        }
        let reporting_amount = self.reporting_value(amount, Reason::RefundExceedsUnallocated)?;
        Ok(vec![PledgeEvent::ContributionRefunded {
            pledge_id: terms.pledge_id,
            donor_id: terms.donor_id.clone(),
            amount,
            reporting_amount,
            payment_reference,
            value_date,
            earmark: terms.earmark,
            reason,
            refunded_by,
        }])
    }
}

fn describe(earmark: &Earmark) -> String {
    match earmark {
        Earmark::None => "no country".into(),
        Earmark::Country(country) => format!("{country} ({})", country.name()),
        Earmark::Project { project_id, .. } => format!("project {project_id}"),
    }
}

/// Converts `amount` into `target`: no rate when they are the same currency, otherwise exactly
/// a rate from the amount's currency to the target.
pub(crate) fn to_currency(
    amount: Money,
    target: Currency,
    rate: Option<&ExchangeRate>,
) -> Result<Money, DomainError> {
    match rate {
        None if amount.currency() == target => Ok(amount),
        None => Err(DomainError::refused(
            Reason::ExchangeRateRequired,
            format!(
                "{} to {target} needs an exchange rate with its source and date",
                amount.currency()
            ),
        )),
        Some(rate) if rate.base() == amount.currency() && rate.quote() == target => {
            Ok(rate.convert(amount)?)
        }
        Some(rate) => Err(DomainError::refused(
            Reason::ExchangeRateMismatch,
            format!(
                "the rate converts {} to {}; this needs {} to {target}{}",
                rate.base(),
                rate.quote(),
                amount.currency(),
                if amount.currency() == target {
                    " (no rate at all)"
                } else {
                    ""
                }
            ),
        )),
    }
}
