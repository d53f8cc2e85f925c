//! Matching pools: one donor matches other donors' contributions.
//!
//! The trust fund's hallmark: a matching donor (historically the United States) opens a pool
//! with a cap, a ratio (1:1 by default), the countries it matches and a period: the value dates
//! from `starts_on` (pools opened before periods had a start match from the beginning) to
//! `expires_on`. A donor may keep one pool per year, so every rule below asks whether a receipt
//! fits a pool's period and countries, never merely whose pool it is.
//!
//! - A contribution received from another matching-eligible donor for an eligible country, with
//!   a value date in the period, reserves a match of `contribution × ratio`, cut to what is left
//!   under the cap.
//! - An unearmarked contribution is for no country, so no pool matches it on its own: the
//!   fund's finance staff match it by an explicit decision ([`MatchingCommand::MatchContribution`]),
//!   naming the eligible country it is matched for (the pool's only one when it has one). It is
//!   refused like any reservation: already matched, no room left under the cap, or a value
//!   date outside the period.
//! - The matching donor's own receipts are the pool's funds, taken only when the receipt fits
//!   the pool: a value date in the period, and unearmarked or earmarked for an eligible country.
//!   As funds arrive, reserved matches are confirmed in the order they were reserved, each one
//!   whole. Funds are applied first-received-first, and a confirmation names the funding
//!   receipt (pledge and receipt) its last minor unit came from: the one that completed it.
//!   Confirmations recorded before they named one keep their meaning, naming none.
//! - A reserved match can be voided, which frees its room under the cap.
//!
//! Reserved plus confirmed never exceeds the cap; confirmed never exceeds the funds received.
//!
//! Longer than most files on purpose: the aggregate's state, its `decide` and its `evolve` stay
//! together so that every rule it enforces is read in one place.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;

use crate::aggregate::{Aggregate, VersionCounter, positive, text};
use crate::country::CountryCode;
use crate::donor::DonorProfile;
use crate::error::{DomainError, Reason};
use crate::ids::{DonorId, MatchingPoolId, PledgeId, ReceiptId};
use crate::money::Money;

/// `numerator` of matching money for every `denominator` contributed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatchRatio {
    numerator: u32,
    denominator: u32,
}

impl MatchRatio {
    pub const ONE_TO_ONE: MatchRatio = MatchRatio {
        numerator: 1,
        denominator: 1,
    };

    pub fn new(numerator: u32, denominator: u32) -> Result<Self, DomainError> {
        if (1..=100).contains(&numerator) && (1..=100).contains(&denominator) {
            Ok(Self {
                numerator,
                denominator,
            })
        } else {
            Err(DomainError::invalid(
                "ratio",
                "a matching ratio is two whole numbers from 1 to 100, e.g. 1:1",
            ))
        }
    }

    pub fn numerator(self) -> u32 {
        self.numerator
    }

    pub fn denominator(self) -> u32 {
        self.denominator
    }

    /// The full match for a contribution, rounded half-even to the minor unit.
    pub fn apply(self, contribution: Money) -> Result<Money, DomainError> {
        Ok(contribution.mul_div(
            i64::from(self.numerator),
            i64::from(self.denominator),
            contribution.currency(),
        )?)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchingEvent {
    Opened {
        pool_id: MatchingPoolId,
        matching_donor_id: DonorId,
        cap: Money,
        ratio: MatchRatio,
        eligible_countries: Vec<CountryCode>,
        expires_on: NaiveDate,
        /// The first value date the pool matches; `None` on pools opened before periods had a
        /// start, which match every value date up to `expires_on`.
        starts_on: Option<NaiveDate>,
    },
    MatchReserved {
        pool_id: MatchingPoolId,
        matching_donor_id: DonorId,
        receipt_id: ReceiptId,
        contributing_donor_id: DonorId,
        pledge_id: PledgeId,
        country: CountryCode,
        contribution: Money,
        amount: Money,
        /// The match was cut to what was left under the cap.
        partial: bool,
    },
    FundsReceived {
        pool_id: MatchingPoolId,
        matching_donor_id: DonorId,
        matching_receipt_id: ReceiptId,
        amount: Money,
        /// The pledge the funding receipt was booked on; `None` on funds recorded before it
        /// was named.
        matching_pledge_id: Option<PledgeId>,
    },
    MatchConfirmed {
        pool_id: MatchingPoolId,
        matching_donor_id: DonorId,
        receipt_id: ReceiptId,
        contributing_donor_id: DonorId,
        country: CountryCode,
        amount: Money,
        corrects_version: u64,
        /// The matching donor's receipt whose funds completed the match, and its pledge;
        /// `None` on confirmations recorded before they named it (and the pledge on funds
        /// recorded before the pledge was named).
        funding_pledge_id: Option<PledgeId>,
        funding_receipt_id: Option<ReceiptId>,
    },
    MatchVoided {
        pool_id: MatchingPoolId,
        matching_donor_id: DonorId,
        receipt_id: ReceiptId,
        contributing_donor_id: DonorId,
        country: CountryCode,
        amount: Money,
        reason: String,
        corrects_version: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchingCommand {
    Open {
        pool_id: MatchingPoolId,
        matching_donor: DonorProfile,
        cap: Money,
        ratio: MatchRatio,
        eligible_countries: Vec<CountryCode>,
        expires_on: NaiveDate,
        /// The first value date matched; `None` matches every value date up to `expires_on`.
        starts_on: Option<NaiveDate>,
    },
    /// Reserve a match for a contribution. `amount` is `None` when the process manager asks
    /// for the full match (cut to the cap); staff may ask for an explicit amount, which is
    /// refused rather than cut when it does not fit.
    Reserve {
        receipt_id: ReceiptId,
        contributing_donor: DonorProfile,
        pledge_id: PledgeId,
        country: Option<CountryCode>,
        contribution: Money,
        value_date: NaiveDate,
        amount: Option<Money>,
    },
    /// An unearmarked contribution matched by a decision of the fund's finance staff, for
    /// `country` (required when the pool matches more than one), as the full match cut to
    /// the cap.
    MatchContribution {
        receipt_id: ReceiptId,
        contributing_donor: DonorProfile,
        pledge_id: PledgeId,
        country: Option<CountryCode>,
        contribution: Money,
        value_date: NaiveDate,
    },
    /// A receipt of the matching donor, with the value date and earmark country it was booked
    /// with: the pool's funds when it fits the pool's period and countries.
    RecordFunds {
        matching_pledge_id: PledgeId,
        matching_receipt_id: ReceiptId,
        amount: Money,
        value_date: NaiveDate,
        country: Option<CountryCode>,
    },
    Void {
        receipt_id: ReceiptId,
        reason: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolTerms {
    pub pool_id: MatchingPoolId,
    pub matching_donor_id: DonorId,
    pub cap: Money,
    pub ratio: MatchRatio,
    pub eligible_countries: BTreeSet<CountryCode>,
    pub expires_on: NaiveDate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchStatus {
    Reserved,
    Confirmed,
    Voided,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Match {
    pub contributing_donor_id: DonorId,
    pub country: CountryCode,
    pub amount: Money,
    pub status: MatchStatus,
    pub version: u64,
    /// The funding receipt its confirmation named, and that receipt's pledge.
    pub funding_pledge_id: Option<PledgeId>,
    pub funding_receipt_id: Option<ReceiptId>,
}

/// A receipt of the matching donor taken as the pool's funds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FundingReceipt {
    pub pledge_id: Option<PledgeId>,
    pub receipt_id: ReceiptId,
    pub amount: Money,
    /// Its part that confirmed matches (funds are applied first-received-first).
    pub applied: Money,
}

/// A funding receipt as the pool keeps it: the funds received up to and including it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Funding {
    pledge_id: Option<PledgeId>,
    receipt_id: ReceiptId,
    amount: i64,
    cumulative: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MatchingPool {
    terms: Option<PoolTerms>,
    starts_on: Option<NaiveDate>,
    matches: BTreeMap<ReceiptId, Match>,
    /// Reservation order, for confirming first-reserved first.
    order: Vec<ReceiptId>,
    reserved: i64,
    confirmed: i64,
    funds: i64,
    funding_receipts: BTreeSet<ReceiptId>,
    /// Funding receipts in the order they arrived.
    funding: Vec<Funding>,
    version: VersionCounter,
}

impl MatchingPool {
    pub fn stream(pool_id: &MatchingPoolId) -> String {
        format!("{}-{pool_id}", Self::CATEGORY)
    }

    pub fn terms(&self) -> Option<&PoolTerms> {
        self.terms.as_ref()
    }

    pub fn matches(&self) -> &BTreeMap<ReceiptId, Match> {
        &self.matches
    }

    /// The first value date the pool matches; `None` when its period has no start.
    pub fn starts_on(&self) -> Option<NaiveDate> {
        self.starts_on
    }

    /// The matching donor's receipts taken as funds, in the order they arrived, with the part
    /// of each that confirmed matches.
    pub fn funding(&self) -> Vec<FundingReceipt> {
        let Some(terms) = &self.terms else {
            return Vec::new();
        };
        let currency = terms.cap.currency();
        self.funding
            .iter()
            .map(|f| {
                let before = f.cumulative.saturating_sub(f.amount);
                let applied = self.confirmed.saturating_sub(before).clamp(0, f.amount);
                FundingReceipt {
                    pledge_id: f.pledge_id,
                    receipt_id: f.receipt_id,
                    amount: Money::new(currency, f.amount),
                    applied: Money::new(currency, applied),
                }
            })
            .collect()
    }

    /// Whether `value_date` is in the pool's period.
    pub fn check_period(&self, value_date: NaiveDate) -> Result<(), DomainError> {
        let terms = self.require_terms()?;
        if let Some(start) = self.starts_on
            && value_date < start
        {
            return Err(DomainError::refused(
                Reason::MatchingPoolNotStarted,
                format!(
                    "the pool matches contributions received from {start}; this one is from {value_date}"
                ),
            ));
        }
        if value_date > terms.expires_on {
            return Err(DomainError::refused(
                Reason::MatchingPoolExpired,
                format!(
                    "the pool matched contributions received until {}; this one is from {value_date}",
                    terms.expires_on
                ),
            ));
        }
        Ok(())
    }

    /// Whether a receipt of the matching donor, with `value_date` and earmarked for `country`
    /// (or unearmarked), fits the pool: its period, and its countries when earmarked.
    pub fn takes_funds(
        &self,
        value_date: NaiveDate,
        country: Option<CountryCode>,
    ) -> Result<(), DomainError> {
        let terms = self.require_terms()?;
        if let Some(country) = country
            && !terms.eligible_countries.contains(&country)
        {
            return Err(DomainError::refused(
                Reason::CountryNotEligible,
                format!(
                    "the pool matches contributions for {}; these funds are earmarked for {country}",
                    list(&terms.eligible_countries)
                ),
            ));
        }
        self.check_period(value_date)
    }

    fn money(&self, minor: i64) -> Option<Money> {
        self.terms
            .as_ref()
            .map(|t| Money::new(t.cap.currency(), minor))
    }

    pub fn reserved(&self) -> Option<Money> {
        self.money(self.reserved)
    }

    pub fn confirmed(&self) -> Option<Money> {
        self.money(self.confirmed)
    }

    pub fn funds(&self) -> Option<Money> {
        self.money(self.funds)
    }

    /// Room left under the cap for new reservations.
    pub fn remaining(&self) -> Option<Money> {
        let terms = self.terms.as_ref()?;
        let used = self.reserved.saturating_add(self.confirmed);
        self.money(terms.cap.minor_units().saturating_sub(used))
    }

    fn require_terms(&self) -> Result<&PoolTerms, DomainError> {
        self.terms.as_ref().ok_or_else(|| {
            DomainError::refused(
                Reason::MatchingPoolNotFound,
                "the matching pool is not open",
            )
        })
    }

    fn unapplied_funds(&self) -> i64 {
        self.funds.saturating_sub(self.confirmed)
    }

    /// Confirmations of reserved matches, first reserved first, while the unapplied funds
    /// cover each whole match.
    fn confirmations(&self) -> Vec<MatchingEvent> {
        let Some(terms) = &self.terms else {
            return Vec::new();
        };
        let mut funds = self.unapplied_funds();
        let mut confirmed = self.confirmed;
        let mut events = Vec::new();
        let pending = self
            .order
            .iter()
            .filter_map(|id| self.matches.get(id).map(|m| (*id, m)))
            .filter(|(_, m)| m.status == MatchStatus::Reserved);
        for (receipt_id, m) in pending {
            if m.amount.minor_units() > funds {
                break;
            }
            funds -= m.amount.minor_units();
            confirmed = confirmed.saturating_add(m.amount.minor_units());
            // Funds apply first-received-first: the receipt that brings the funds received
            // up to everything confirmed so far is the one that completed this match.
            let funder = self.funding.iter().find(|f| f.cumulative >= confirmed);
            events.push(MatchingEvent::MatchConfirmed {
                pool_id: terms.pool_id,
                matching_donor_id: terms.matching_donor_id.clone(),
                receipt_id,
                contributing_donor_id: m.contributing_donor_id.clone(),
                country: m.country,
                amount: m.amount,
                corrects_version: m.version,
                funding_pledge_id: funder.and_then(|f| f.pledge_id),
                funding_receipt_id: funder.map(|f| f.receipt_id),
            });
        }
        events
    }

    /// `events` followed by the confirmations they make possible.
    fn then_confirm(&self, mut events: Vec<MatchingEvent>) -> Vec<MatchingEvent> {
        let mut next = self.clone();
        for event in &events {
            next.evolve(event);
        }
        events.extend(next.confirmations());
        events
    }
}

impl Aggregate for MatchingPool {
    type Command = MatchingCommand;
    type Event = MatchingEvent;
    const CATEGORY: &'static str = "matching";

    fn evolve(&mut self, event: &MatchingEvent) {
        let version = self.version.advance();
        match event {
            MatchingEvent::Opened {
                pool_id,
                matching_donor_id,
                cap,
                ratio,
                eligible_countries,
                expires_on,
                starts_on,
            } => {
                self.starts_on = *starts_on;
                self.terms = Some(PoolTerms {
                    pool_id: *pool_id,
                    matching_donor_id: matching_donor_id.clone(),
                    cap: *cap,
                    ratio: *ratio,
                    eligible_countries: eligible_countries.iter().copied().collect(),
                    expires_on: *expires_on,
                });
            }
            MatchingEvent::MatchReserved {
                receipt_id,
                contributing_donor_id,
                country,
                amount,
                ..
            } => {
                self.reserved = self.reserved.saturating_add(amount.minor_units());
                self.order.push(*receipt_id);
                self.matches.insert(
                    *receipt_id,
                    Match {
                        contributing_donor_id: contributing_donor_id.clone(),
                        country: *country,
                        amount: *amount,
                        status: MatchStatus::Reserved,
                        version,
                        funding_pledge_id: None,
                        funding_receipt_id: None,
                    },
                );
            }
            MatchingEvent::FundsReceived {
                matching_receipt_id,
                amount,
                matching_pledge_id,
                ..
            } => {
                self.funds = self.funds.saturating_add(amount.minor_units());
                self.funding_receipts.insert(*matching_receipt_id);
                self.funding.push(Funding {
                    pledge_id: *matching_pledge_id,
                    receipt_id: *matching_receipt_id,
                    amount: amount.minor_units(),
                    cumulative: self.funds,
                });
            }
            MatchingEvent::MatchConfirmed {
                receipt_id,
                amount,
                funding_pledge_id,
                funding_receipt_id,
                ..
            } => {
                self.reserved = self.reserved.saturating_sub(amount.minor_units());
                self.confirmed = self.confirmed.saturating_add(amount.minor_units());
                if let Some(m) = self.matches.get_mut(receipt_id) {
                    m.status = MatchStatus::Confirmed;
                    m.funding_pledge_id = *funding_pledge_id;
                    m.funding_receipt_id = *funding_receipt_id;
                }
            }
            MatchingEvent::MatchVoided {
                receipt_id, amount, ..
            } => {
                self.reserved = self.reserved.saturating_sub(amount.minor_units());
                if let Some(m) = self.matches.get_mut(receipt_id) {
                    m.status = MatchStatus::Voided;
                }
            }
        }
    }

    fn decide(&self, command: MatchingCommand) -> Result<Vec<MatchingEvent>, DomainError> {
        match command {
            MatchingCommand::Open {
                pool_id,
                matching_donor,
                cap,
                ratio,
                eligible_countries,
                expires_on,
                starts_on,
            } => {
                if self.terms.is_some() {
                    return Err(DomainError::refused(
                        Reason::MatchingPoolAlreadyOpened,
                        format!("matching pool {pool_id} is already open"),
                    ));
                }
                if eligible_countries.is_empty() {
                    return Err(DomainError::invalid(
                        "eligible_countries",
                        "a matching pool names at least one eligible country",
                    ));
                }
                if starts_on.is_some_and(|start| start > expires_on) {
                    return Err(DomainError::invalid(
                        "starts_on",
                        format!("a pool's period starts on or before it expires, {expires_on}"),
                    ));
                }
                let countries: BTreeSet<CountryCode> = eligible_countries.into_iter().collect();
                Ok(vec![MatchingEvent::Opened {
                    pool_id,
                    matching_donor_id: matching_donor.donor_id,
                    cap: positive("cap", cap)?,
                    ratio,
                    eligible_countries: countries.into_iter().collect(),
                    expires_on,
                    starts_on,
                }])
            }
            MatchingCommand::Reserve {
                receipt_id,
                contributing_donor,
                pledge_id,
                country,
                contribution,
                value_date,
                amount,
            } => self.reserve(
                receipt_id,
                &contributing_donor,
                pledge_id,
                country,
                contribution,
                value_date,
                amount,
            ),
            MatchingCommand::MatchContribution {
                receipt_id,
                contributing_donor,
                pledge_id,
                country,
                contribution,
                value_date,
            } => {
                let terms = self.require_terms()?;
                let country = match country {
                    Some(country) => country,
                    None => match terms.eligible_countries.iter().collect::<Vec<_>>()[..] {
                        [only] => *only,
                        _ => {
                            return Err(DomainError::invalid(
                                "country",
                                format!(
                                    "the pool matches contributions for {}; name the one this \
                                     contribution is matched for",
                                    list(&terms.eligible_countries)
                                ),
                            ));
                        }
                    },
                };
                self.reserve(
                    receipt_id,
                    &contributing_donor,
                    pledge_id,
                    Some(country),
                    contribution,
                    value_date,
                    None,
                )
            }
            MatchingCommand::RecordFunds {
                matching_pledge_id,
                matching_receipt_id,
                amount,
                value_date,
                country,
            } => {
                let terms = self.require_terms()?;
                let amount = positive("amount", amount)?;
                if amount.currency() != terms.cap.currency() {
                    return Err(DomainError::refused(
                        Reason::CurrencyMismatch,
                        format!("the pool is kept in {}", terms.cap.currency()),
                    ));
                }
                if self.funding_receipts.contains(&matching_receipt_id) {
                    return Ok(vec![]);
                }
                // Another year's receipt, or money earmarked for a country the pool does not
                // match, is not this pool's to confirm matches with.
                self.takes_funds(value_date, country)?;
                self.funds
                    .checked_add(amount.minor_units())
                    .ok_or_else(|| DomainError::from(crate::MoneyError::Overflow))?;
                Ok(self.then_confirm(vec![MatchingEvent::FundsReceived {
                    pool_id: terms.pool_id,
                    matching_donor_id: terms.matching_donor_id.clone(),
                    matching_receipt_id,
                    amount,
                    matching_pledge_id: Some(matching_pledge_id),
                }]))
            }
            MatchingCommand::Void { receipt_id, reason } => {
                let terms = self.require_terms()?;
                let m = self.matches.get(&receipt_id).ok_or_else(|| {
                    DomainError::refused(
                        Reason::MatchNotFound,
                        format!("no match was reserved for receipt {receipt_id}"),
                    )
                })?;
                if m.status != MatchStatus::Reserved {
                    return Err(DomainError::refused(
                        Reason::MatchNotReserved,
                        format!(
                            "the match for receipt {receipt_id} is {:?}, not reserved",
                            m.status
                        ),
                    ));
                }
                // Voiding the first-reserved match may let funds confirm the ones after it.
                Ok(self.then_confirm(vec![MatchingEvent::MatchVoided {
                    pool_id: terms.pool_id,
                    matching_donor_id: terms.matching_donor_id.clone(),
                    receipt_id,
                    contributing_donor_id: m.contributing_donor_id.clone(),
                    country: m.country,
                    amount: m.amount,
                    reason: text("reason", &reason, 500, true)?,
                    corrects_version: m.version,
                }]))
            }
        }
    }
}

impl PoolTerms {
    /// Whether the pool matches a receipt from `donor` for `country` received on
    /// `value_date`; the country it is matched for, or the rule that refuses it. The cap and
    /// the currency are the pool's state, checked when the match is reserved.
    pub fn admits(
        &self,
        donor: &DonorProfile,
        country: Option<CountryCode>,
        value_date: NaiveDate,
    ) -> Result<CountryCode, DomainError> {
        if donor.donor_id == self.matching_donor_id {
            return Err(DomainError::refused(
                Reason::SelfMatch,
                "the matching donor's own contributions fund the pool; they are not matched",
            ));
        }
        if !donor.matching_eligible {
            return Err(DomainError::refused(
                Reason::DonorNotMatchingEligible,
                format!("donor {} is not matching-eligible", donor.donor_id),
            ));
        }
        let country = country
            .filter(|c| self.eligible_countries.contains(c))
            .ok_or_else(|| {
                DomainError::refused(
                    Reason::CountryNotEligible,
                    format!(
                        "the pool matches contributions for {}; this one is for {}",
                        list(&self.eligible_countries),
                        country.map_or_else(|| "no country".to_owned(), |c| c.to_string())
                    ),
                )
            })?;
        if value_date > self.expires_on {
            return Err(DomainError::refused(
                Reason::MatchingPoolExpired,
                format!(
                    "the pool matched contributions received until {}; this one is from {value_date}",
                    self.expires_on
                ),
            ));
        }
        Ok(country)
    }
}

impl MatchingPool {
    #[allow(clippy::too_many_arguments)]
    fn reserve(
        &self,
        receipt_id: ReceiptId,
        donor: &DonorProfile,
        pledge_id: PledgeId,
        country: Option<CountryCode>,
        contribution: Money,
        value_date: NaiveDate,
        amount: Option<Money>,
    ) -> Result<Vec<MatchingEvent>, DomainError> {
        let terms = self.require_terms()?;
        if self.matches.contains_key(&receipt_id) {
            return Err(DomainError::refused(
                Reason::MatchAlreadyReserved,
                format!("receipt {receipt_id} is already matched by this pool"),
            ));
        }
        let country = terms.admits(donor, country, value_date)?;
        self.check_period(value_date)?;
        let contribution = positive("contribution", contribution)?;
        if contribution.currency() != terms.cap.currency() {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!("the pool is kept in {}", terms.cap.currency()),
            ));
        }
        let full = terms.ratio.apply(contribution)?;
        let remaining = self
            .remaining()
            .unwrap_or(Money::zero(terms.cap.currency()));
        let (amount, partial) = match amount {
            Some(asked) => {
                let asked = positive("amount", asked)?;
                if asked.checked_cmp(&full)?.is_gt() {
                    return Err(DomainError::invalid(
                        "amount",
                        format!("the full match for this contribution is {full}"),
                    ));
                }
                if asked.checked_cmp(&remaining)?.is_gt() {
                    return Err(cap_exceeded(terms, remaining));
                }
                (asked, asked != full)
            }
            None if !remaining.is_positive() => return Err(cap_exceeded(terms, remaining)),
            None if full.checked_cmp(&remaining)?.is_gt() => (remaining, true),
            None => (full, false),
        };
        if !amount.is_positive() {
            return Err(DomainError::refused(
                Reason::NothingToChange,
                format!("a match for {contribution} rounds to nothing"),
            ));
        }
        let reserved = MatchingEvent::MatchReserved {
            pool_id: terms.pool_id,
            matching_donor_id: terms.matching_donor_id.clone(),
            receipt_id,
            contributing_donor_id: donor.donor_id.clone(),
            pledge_id,
            country,
            contribution,
            amount,
            partial,
        };
        // Funds that arrived before this reservation confirm it at once.
        Ok(self.then_confirm(vec![reserved]))
    }
}

fn cap_exceeded(terms: &PoolTerms, remaining: Money) -> DomainError {
    DomainError::refused(
        Reason::MatchingCapExceeded,
        format!(
            "the pool's cap is {}; only {remaining} is left to match",
            terms.cap
        ),
    )
}

fn list(countries: &BTreeSet<CountryCode>) -> String {
    countries
        .iter()
        .map(CountryCode::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
