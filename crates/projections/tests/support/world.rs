//! A simulated trust fund for tests and benchmarks: it runs commands through the domain's own
//! `decide`, applies the services' process managers (matching, credits, tranches, releases)
//! as they would, and keeps the history it produced in position order. Everything it records
//! is therefore a history the real services could have written.

#![allow(dead_code)]

use std::collections::HashMap;

use chrono::{Days, NaiveDate};
use fundtrail_domain::{
    Actor, Aggregate, CountryCode, Currency, DisbursementId, Donor, DonorCommand, DonorId,
    DonorKind, DonorProfile, Earmark, Event, ExchangeRate, FundingModality, MatchingPool,
    MatchingPoolId, Money, Partner, Pledge, PledgeCommand, PledgeId, Project, ProjectAccount,
    ProjectCommand, ProjectId,
};
use uuid::Uuid;

/// One recorded event, as the store would hold it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub position: u64,
    pub recorded_at: i64,
    pub event_id: Uuid,
    pub stream: String,
    pub version: u64,
    pub event: Event,
}

/// One command's events: a single append.
#[derive(Debug, Clone)]
pub struct Append {
    pub stream: String,
    pub first: usize,
    pub count: usize,
}

/// The fund's history, position by position.
#[derive(Debug, Default)]
pub struct Log {
    pub events: Vec<Recorded>,
    pub appends: Vec<Append>,
    versions: HashMap<String, u64>,
    /// Microseconds since the Unix epoch; moves forward with every event.
    pub clock: i64,
    ids: u128,
}

impl Log {
    fn id(&mut self) -> Uuid {
        self.ids += 1;
        Uuid::from_u128((0x0190_0000_0000_7000_8000_0000_0000_0000_u128) | self.ids)
    }

    fn record(&mut self, stream: String, events: Vec<Event>) -> Vec<(Uuid, Event)> {
        if events.is_empty() {
            return Vec::new();
        }
        let first = self.events.len();
        let mut out = Vec::with_capacity(events.len());
        for event in events {
            self.clock += 1_000;
            let event_id = self.id();
            let version = self.versions.entry(stream.clone()).or_insert(0);
            self.events.push(Recorded {
                position: self.events.len() as u64 + 1,
                recorded_at: self.clock,
                event_id,
                stream: stream.clone(),
                version: *version,
                event: event.clone(),
            });
            *version += 1;
            out.push((event_id, event));
        }
        self.appends.push(Append {
            stream,
            first,
            count: out.len(),
        });
        out
    }
}

/// Decides a command on an aggregate, applies and records what it decided.
pub fn run<A: Aggregate>(
    log: &mut Log,
    stream: String,
    state: &mut A,
    command: A::Command,
    wrap: fn(A::Event) -> Event,
) -> Vec<(Uuid, Event)>
where
    A::Event: Clone,
{
    match state.decide(command) {
        Ok(events) => {
            for event in &events {
                state.evolve(event);
            }
            log.record(stream, events.into_iter().map(wrap).collect())
        }
        Err(_) => Vec::new(),
    }
}

pub const START: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2024, 1, 1)
        .and_then(|d| d.checked_add_days(Days::new(u64::from(n))))
        .unwrap()
}

/// The simulated day a date is (0 for the first day; earlier dates count as day 0).
pub fn day_number(date: NaiveDate) -> u32 {
    let days = date.signed_duration_since(day(0)).num_days();
    u32::try_from(days).unwrap_or(0)
}

/// A currency's value in US dollars on a day, as mantissa and scale: a deterministic drift
/// around plausible levels.
fn usd_value(currency: Currency, on: u32) -> (i128, u32) {
    let drift = i128::from(on % 97);
    match currency.code() {
        "USD" => (1, 0),
        "EUR" => (10_800 + drift, 4),
        "CHF" => (11_300 + drift, 4),
        "GBP" => (12_700 + drift, 4),
        "CAD" => (7_400 + drift / 2, 4),
        "BAM" => (5_520 + drift / 3, 4),
        "JPY" => (6_670 + drift, 6),
        _ => (1, 0),
    }
}

fn decimal(mantissa: i128, scale: u32) -> String {
    let factor = 10_i128.pow(scale);
    if scale == 0 {
        mantissa.to_string()
    } else {
        format!(
            "{}.{:0width$}",
            mantissa / factor,
            mantissa % factor,
            width = scale as usize
        )
    }
}

/// `1 base = x quote` on a day, with its source; `None` for the same currency.
pub fn rate(base: Currency, quote: Currency, on: u32) -> Option<ExchangeRate> {
    if base == quote {
        return None;
    }
    let (bm, bs) = usd_value(base, on);
    let (qm, qs) = usd_value(quote, on);
    // base/quote = (bm / 10^bs) / (qm / 10^qs), kept to 6 decimals.
    let numerator = bm * 10_i128.pow(6 + qs);
    let denominator = qm * 10_i128.pow(bs);
    let mantissa = (numerator + denominator / 2) / denominator;
    let source = if quote == Currency::USD || base == Currency::USD {
        "Federal Reserve H.10"
    } else {
        "ECB reference rate"
    };
    ExchangeRate::parse(base, quote, &decimal(mantissa.max(1), 6), source, day(on)).ok()
}

/// The simulated fund.
#[derive(Debug)]
pub struct World {
    pub log: Log,
    pub reporting: Currency,
    pub today: u32,
    pub donors: Vec<(DonorProfile, Donor, Currency)>,
    pub pledges: Vec<(PledgeId, Pledge)>,
    pub pools: Vec<(MatchingPoolId, MatchingPool)>,
    pub projects: Vec<(ProjectId, Project, ProjectAccount)>,
    pub disbursements: Vec<(usize, DisbursementId)>,
    pub people: [Actor; 3],
    pub calendar: fundtrail_domain::Calendar,
}

fn actor(name: &str) -> Actor {
    Actor::parse(name).unwrap()
}

impl World {
    pub fn new(reporting: Currency) -> Self {
        let log = Log {
            clock: START,
            ..Log::default()
        };
        Self {
            log,
            reporting,
            today: 0,
            donors: Vec::new(),
            pledges: Vec::new(),
            pools: Vec::new(),
            projects: Vec::new(),
            disbursements: Vec::new(),
            people: [
                actor("officer@fund.example"),
                actor("director@fund.example"),
                actor("verifier@fund.example"),
            ],
            calendar: fundtrail_domain::Calendar::default(),
        }
    }

    pub fn date(&self) -> NaiveDate {
        day(self.today)
    }

    pub fn date_in(&self, days: u32) -> NaiveDate {
        day(self.today + days)
    }

    pub fn next_day(&mut self, days: u32) {
        self.today += days;
        self.log.clock += i64::from(days) * 86_400_000_000;
    }

    pub fn uuid(&mut self) -> Uuid {
        self.log.id()
    }

    pub fn register_donor(
        &mut self,
        id: &str,
        name: &str,
        kind: DonorKind,
        eligible: bool,
        currency: Currency,
    ) -> usize {
        let profile = DonorProfile {
            donor_id: DonorId::parse(id).unwrap(),
            name: name.to_owned(),
            kind,
            matching_eligible: eligible,
        };
        let mut donor = Donor::default();
        let command = DonorCommand::Register {
            donor_id: profile.donor_id.clone(),
            name: name.to_owned(),
            kind,
            matching_eligible: eligible,
        };
        run(
            &mut self.log,
            Donor::stream(&profile.donor_id),
            &mut donor,
            command,
            Event::Donor,
        );
        self.donors.push((profile, donor, currency));
        self.donors.len() - 1
    }

    pub fn change_eligibility(&mut self, donor: usize) {
        let Some((profile, state, _)) = self.donors.get_mut(donor) else {
            return;
        };
        let eligible = !profile.matching_eligible;
        let command = DonorCommand::ChangeMatchingEligibility {
            matching_eligible: eligible,
            reason: "board decision".into(),
        };
        let stream = Donor::stream(&profile.donor_id);
        if !run(&mut self.log, stream, state, command, Event::Donor).is_empty() {
            profile.matching_eligible = eligible;
        }
    }

    pub fn register_project(
        &mut self,
        country: &str,
        currency: Currency,
        budget: i64,
        title: &str,
        partner: &str,
    ) -> Option<usize> {
        let id = ProjectId::from_uuid(self.uuid());
        let mut project = Project::default();
        let command = ProjectCommand::Register {
            project_id: id,
            country: CountryCode::new(country).unwrap(),
            partner: Partner {
                name: partner.to_owned(),
                iati_id: None,
            },
            title: title.to_owned(),
            sector_code: None,
            budget: Money::new(currency, budget),
            starts_on: day(self.today),
            ends_on: day(self.today + 730),
            funding: FundingModality::AdvanceFunded,
        };
        let events = run(
            &mut self.log,
            Project::stream(&id),
            &mut project,
            command,
            Event::Project,
        );
        if events.is_empty() {
            return None;
        }
        self.projects.push((id, project, ProjectAccount::default()));
        Some(self.projects.len() - 1)
    }

    pub fn record_pledge(
        &mut self,
        donor: usize,
        amount: i64,
        earmark: EarmarkChoice,
    ) -> Option<usize> {
        let (profile, _, currency) = self.donors.get(donor)?.clone();
        let earmark = match earmark {
            EarmarkChoice::None => Earmark::None,
            EarmarkChoice::Country(code) => Earmark::Country(CountryCode::new(code).unwrap()),
            EarmarkChoice::Project(index) => {
                let summary = self.projects.get(index)?.1.summary()?;
                Earmark::Project {
                    project_id: summary.project_id,
                    country: summary.country,
                }
            }
        };
        let id = PledgeId::from_uuid(self.uuid());
        let mut pledge = Pledge::default();
        let command = PledgeCommand::Record {
            pledge_id: id,
            donor: profile,
            amount: Money::new(currency, amount),
            earmark,
            pledged_on: day(self.today),
        };
        if run(
            &mut self.log,
            Pledge::stream(&id),
            &mut pledge,
            command,
            Event::Pledge,
        )
        .is_empty()
        {
            return None;
        }
        self.pledges.push((id, pledge));
        Some(self.pledges.len() - 1)
    }

    pub fn pledge_command(&mut self, index: usize, command: PledgeCommand) -> Vec<(Uuid, Event)> {
        let Some((id, pledge)) = self.pledges.get_mut(index) else {
            return Vec::new();
        };
        run(
            &mut self.log,
            Pledge::stream(id),
            pledge,
            command,
            Event::Pledge,
        )
    }

    pub fn currency_of(&self, pledge: usize) -> Option<Currency> {
        self.pledges
            .get(pledge)?
            .1
            .terms()
            .map(|t| t.amount.currency())
    }

    pub fn amend(&mut self, pledge: usize, amount: i64) {
        let Some(currency) = self.currency_of(pledge) else {
            return;
        };
        let command = PledgeCommand::Amend {
            amount: Money::new(currency, amount),
            reason: "revised budget".into(),
        };
        self.pledge_command(pledge, command);
    }

    pub fn withdraw(&mut self, pledge: usize) {
        let command = PledgeCommand::Withdraw {
            reason: "parliament did not approve".into(),
        };
        self.pledge_command(pledge, command);
    }

    pub fn sign(&mut self, pledge: usize, amount: i64) {
        let Some(currency) = self.currency_of(pledge) else {
            return;
        };
        let reference = format!("CA-{}-{pledge}", self.today);
        let command = PledgeCommand::SignAgreement {
            agreement_reference: reference,
            signed_on: day(self.today),
            amount: Money::new(currency, amount),
        };
        self.pledge_command(pledge, command);
    }
}

/// Where a new pledge's money may go.
#[derive(Debug, Clone, Copy)]
pub enum EarmarkChoice {
    None,
    Country(&'static str),
    Project(usize),
}
