//! Pledges and the money that flows through them: commitment, receipt, allocation.
//!
//! A pledge is a donor's promise (recorded, amended, withdrawn). A signed contribution
//! agreement turns it into a commitment. Receipts are the money actually credited to the fund,
//! in the pledge's currency, each with the rate to the fund's reporting currency at which it was
//! booked. Received money that is not yet allocated may be allocated to a project, within the
//! pledge's earmark; an allocation returned by the project account is released back to the
//! pledge.
//!
//! Longer than most files on purpose: the aggregate's state, its `decide` and its `evolve` stay
//! together so that every rule it enforces is read in one place.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::aggregate::{Aggregate, VersionCounter, positive, text};
use crate::country::CountryCode;
use crate::donor::DonorProfile;
use crate::error::{DomainError, Reason};
use crate::ids::{AllocationId, DonorId, PledgeId, ProjectId, ReceiptId};
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
    pub reporting_amount: Money,
    pub bank_reference: String,
    pub over_payment: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allocation {
    pub project_id: ProjectId,
    pub country: CountryCode,
    pub amount: Money,
    pub reporting_amount: Money,
    pub released: bool,
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
    version: VersionCounter,
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

    /// Received money not allocated to any project (net of released allocations).
    pub fn unallocated(&self) -> Result<Money, DomainError> {
        let terms = self.require_terms()?;
        let zero = Money::zero(terms.amount.currency());
        let received = self.received.unwrap_or(zero);
        Ok(received.checked_sub(self.allocated.unwrap_or(zero))?)
    }

    /// The reporting-currency value of part of the unallocated money, at the average booked
    /// rate of the money still unallocated (a moving weighted average of the receipts): allocated
    /// money keeps the historical rate of the receipts it came from, and allocating everything
    /// left allocates exactly the reporting value left, so allocations never report more (or
    /// less) than was received.
    fn reporting_value(&self, amount: Money) -> Result<Money, DomainError> {
        match (self.received, self.received_reporting) {
            (Some(received), Some(reporting)) if received.is_positive() => {
                let unallocated = self.unallocated()?;
                let unallocated_reporting = match self.allocated_reporting {
                    Some(allocated) => reporting.checked_sub(allocated)?,
                    None => reporting,
                };
                if !unallocated.is_positive() {
                    return Err(DomainError::refused(
                        Reason::AllocationExceedsUnallocated,
                        "all money received on this pledge is allocated",
                    ));
                }
                Ok(amount.mul_div(
                    unallocated_reporting.minor_units(),
                    unallocated.minor_units(),
                    reporting.currency(),
                )?)
            }
            _ => Err(DomainError::refused(
                Reason::AllocationExceedsUnallocated,
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
                reporting_amount,
                bank_reference,
                over_payment,
                ..
            } => {
                add(&mut self.received, *amount);
                add(&mut self.received_reporting, *reporting_amount);
                self.receipts.insert(
                    *receipt_id,
                    Receipt {
                        amount: *amount,
                        value_date: *value_date,
                        reporting_amount: *reporting_amount,
                        bank_reference: bank_reference.clone(),
                        over_payment: *over_payment,
                    },
                );
            }
            PledgeEvent::ContributionAllocated {
                allocation_id,
                project_id,
                country,
                amount,
                reporting_amount,
                ..
            } => {
                add(&mut self.allocated, *amount);
                add(&mut self.allocated_reporting, *reporting_amount);
                self.allocations.insert(
                    *allocation_id,
                    Allocation {
                        project_id: *project_id,
                        country: *country,
                        amount: *amount,
                        reporting_amount: *reporting_amount,
                        released: false,
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
                if let Ok(negative) = amount.checked_neg() {
                    add(&mut self.allocated, negative);
                }
                if let Ok(negative) = reporting_amount.checked_neg() {
                    add(&mut self.allocated_reporting, negative);
                }
                if let Some(allocation) = self.allocations.get_mut(allocation_id) {
                    allocation.released = true;
                }
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
            } => self.receive(
                receipt_id,
                amount,
                value_date,
                rate,
                reporting_currency,
                &bank_reference,
                over_payment,
                donor_matching_eligible,
            ),
            PledgeCommand::Allocate {
                allocation_id,
                project,
                amount,
                rate,
            } => self.allocate(allocation_id, &project, amount, rate),
            PledgeCommand::ReleaseAllocation {
                allocation_id,
                reason,
            } => {
                let terms = self.require_terms()?;
                let allocation = self.allocations.get(&allocation_id).ok_or_else(|| {
                    DomainError::refused(
                        Reason::AllocationNotFound,
                        format!("allocation {allocation_id} is not on this pledge"),
                    )
                })?;
                if allocation.released {
                    return Err(DomainError::refused(
                        Reason::AllocationAlreadyReleased,
                        format!("allocation {allocation_id} was already released"),
                    ));
                }
                Ok(vec![PledgeEvent::AllocationReleased {
                    pledge_id: terms.pledge_id,
                    donor_id: terms.donor_id.clone(),
                    allocation_id,
                    project_id: allocation.project_id,
                    country: allocation.country,
                    amount: allocation.amount,
                    reporting_amount: allocation.reporting_amount,
                    reason: text("reason", &reason, 500, true)?,
                    corrects_version: allocation.version,
                }])
            }
        }
    }
}

impl Pledge {
    fn amend(&self, amount: Money, reason: &str) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_open()?;
        let amount = positive("amount", amount)?;
        if amount.currency() != terms.amount.currency() {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!(
                    "the pledge is in {}; a pledge in another currency is a new pledge",
                    terms.amount.currency()
                ),
            ));
        }
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
    ) -> Result<Vec<PledgeEvent>, DomainError> {
        let terms = self.require_open()?;
        let amount = positive("amount", amount)?;
        if amount.currency() != terms.amount.currency() {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!(
                    "the pledge is in {}; receipts are recorded in the pledge's currency",
                    terms.amount.currency()
                ),
            ));
        }
        let bank_reference = text("bank_reference", bank_reference, 100, true)?;
        if self
            .receipts
            .values()
            .any(|r| r.bank_reference == bank_reference)
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
        let amount = positive("amount", amount)?;
        if amount.currency() != terms.amount.currency() {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!(
                    "allocate in the pledge's currency, {}",
                    terms.amount.currency()
                ),
            ));
        }
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
        let reporting_amount = self.reporting_value(amount)?;
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
