//! Builders shared by the domain's integration tests: donors, projects, rates, dates, ids, and a
//! small harness that decides, evolves and keeps the history it produced.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fmt::Debug;

use chrono::NaiveDate;
use fundtrail_domain::{
    Actor, Aggregate, AllocationId, CountryCode, Currency, DisbursementId, DomainError, DonorId,
    DonorKind, DonorProfile, ExchangeRate, MatchingPoolId, Money, PledgeId, ProjectId,
    ProjectSummary, Reason, ReceiptId,
};
use uuid::Uuid;

pub fn day(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).unwrap()
}

/// The day the fixtures' rates were published.
pub fn rate_day() -> NaiveDate {
    day(2024, 3, 5)
}

pub fn country(code: &str) -> CountryCode {
    CountryCode::new(code).unwrap()
}

pub fn currency(code: &str) -> Currency {
    Currency::new(code).unwrap()
}

pub fn eur(minor: i64) -> Money {
    Money::new(Currency::EUR, minor)
}

pub fn usd(minor: i64) -> Money {
    Money::new(Currency::USD, minor)
}

pub fn chf(minor: i64) -> Money {
    Money::new(Currency::CHF, minor)
}

/// `1 base = rate quote`, ECB reference rate of 2024-03-05.
pub fn rate(base: Currency, quote: Currency, rate: &str) -> ExchangeRate {
    ExchangeRate::parse(base, quote, rate, "ECB reference rate", rate_day()).unwrap()
}

pub fn eur_usd(r: &str) -> ExchangeRate {
    rate(Currency::EUR, Currency::USD, r)
}

/// The finance officer who books receipts.
pub fn booker() -> Actor {
    Actor::parse("booker@fund.example").unwrap()
}

/// A second finance officer, who corrects what the first booked.
pub fn corrector() -> Actor {
    Actor::parse("corrector@fund.example").unwrap()
}

pub fn donor(iati_id: &str, kind: DonorKind, matching_eligible: bool) -> DonorProfile {
    DonorProfile {
        donor_id: DonorId::parse(iati_id).unwrap(),
        name: format!("donor {iati_id}"),
        kind,
        matching_eligible,
    }
}

/// The Netherlands: a matching-eligible government donor.
pub fn netherlands() -> DonorProfile {
    donor("XM-DAC-7", DonorKind::Government, true)
}

/// The United States: the fund's matching donor.
pub fn united_states() -> DonorProfile {
    donor("US-GOV-1", DonorKind::Government, true)
}

/// A private donor whose contributions are not matched.
pub fn private_donor() -> DonorProfile {
    donor("GB-CHC-1", DonorKind::Private, false)
}

pub fn pledge_id(n: u128) -> PledgeId {
    PledgeId::from_uuid(Uuid::from_u128(0x1000 + n))
}

pub fn project_id(n: u128) -> ProjectId {
    ProjectId::from_uuid(Uuid::from_u128(0x2000 + n))
}

pub fn pool_id(n: u128) -> MatchingPoolId {
    MatchingPoolId::from_uuid(Uuid::from_u128(0x3000 + n))
}

pub fn allocation_id(n: u128) -> AllocationId {
    AllocationId::from_uuid(Uuid::from_u128(0x4000 + n))
}

pub fn receipt_id(n: u128) -> ReceiptId {
    ReceiptId::from_uuid(Uuid::from_u128(0x5000 + n))
}

pub fn disbursement_id(n: u128) -> DisbursementId {
    DisbursementId::from_uuid(Uuid::from_u128(0x6000 + n))
}

pub fn event_id(n: u128) -> Uuid {
    Uuid::from_u128(0x7000 + n)
}

pub fn actor(name: &str) -> Actor {
    Actor::parse(name).unwrap()
}

/// What the pledge aggregate knows of a project it allocates to.
pub fn project_summary(n: u128, country_code: &str, currency: Currency) -> ProjectSummary {
    ProjectSummary {
        project_id: project_id(n),
        country: country(country_code),
        currency,
        closed: false,
        partner: fundtrail_domain::Partner {
            name: "Norwegian People's Aid".into(),
            iati_id: None,
        },
        funding: fundtrail_domain::FundingModality::AdvanceFunded,
    }
}

/// A Bosnian project in EUR that pays only for verified milestones.
pub fn results_based_project() -> ProjectSummary {
    ProjectSummary {
        funding: fundtrail_domain::FundingModality::ResultsBased,
        ..project_summary(1, "BA", Currency::EUR)
    }
}

/// A Bosnian project in EUR whose disbursements go to `partner`.
pub fn project_paying(partner: &str) -> ProjectSummary {
    ProjectSummary {
        partner: fundtrail_domain::Partner {
            name: partner.into(),
            iati_id: None,
        },
        ..project_summary(1, "BA", Currency::EUR)
    }
}

/// An aggregate with the history that produced it.
#[derive(Debug, Clone)]
pub struct Ledger<A: Aggregate> {
    pub state: A,
    pub history: Vec<A::Event>,
}

impl<A> Ledger<A>
where
    A: Aggregate + Debug + PartialEq,
    A::Event: Debug + Clone,
    A::Command: Debug + Clone,
{
    pub fn new() -> Self {
        Self {
            state: A::default(),
            history: Vec::new(),
        }
    }

    /// Decides; the command must be accepted. Evolves the state and returns the new events.
    pub fn run(&mut self, command: A::Command) -> Vec<A::Event> {
        match self.state.decide(command.clone()) {
            Ok(events) => {
                self.apply(&events);
                events
            }
            Err(error) => panic!("{command:?} was refused: {error}"),
        }
    }

    /// Decides; accepted events are applied, refusals returned.
    pub fn try_run(&mut self, command: A::Command) -> Result<Vec<A::Event>, DomainError> {
        let events = self.state.decide(command)?;
        self.apply(&events);
        Ok(events)
    }

    pub fn apply(&mut self, events: &[A::Event]) {
        for event in events {
            self.state.evolve(event);
            self.history.push(event.clone());
        }
    }

    /// The business rule that refused the command; panics if it was accepted or malformed.
    pub fn refusal(&self, command: A::Command) -> Reason {
        refusal(&self.state, command)
    }

    /// The request field a malformed command names; panics otherwise.
    pub fn invalid(&self, command: A::Command) -> String {
        invalid(&self.state, command)
    }

    /// The version the next event gets.
    pub fn next_version(&self) -> u64 {
        self.history.len() as u64
    }

    /// Refolding the history gives the state.
    pub fn assert_refolds(&self) {
        assert_eq!(A::fold(&self.history), self.state);
    }
}

impl<A> Default for Ledger<A>
where
    A: Aggregate + Debug + PartialEq,
    A::Event: Debug + Clone,
    A::Command: Debug + Clone,
{
    fn default() -> Self {
        Self::new()
    }
}

pub fn refusal<A>(state: &A, command: A::Command) -> Reason
where
    A: Aggregate,
    A::Event: Debug,
    A::Command: Debug + Clone,
{
    match state.decide(command.clone()) {
        Err(DomainError::Refused { reason, .. }) => reason,
        other => panic!("expected {command:?} to be refused by a rule, got {other:?}"),
    }
}

pub fn invalid<A>(state: &A, command: A::Command) -> String
where
    A: Aggregate,
    A::Event: Debug,
    A::Command: Debug + Clone,
{
    match state.decide(command.clone()) {
        Err(DomainError::Invalid { field, .. }) => field,
        other => panic!("expected {command:?} to be refused as malformed, got {other:?}"),
    }
}
