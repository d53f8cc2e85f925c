//! The demonstration data set, loaded through the API.
//!
//! Half a year of a demining trust fund: seven donors, eleven projects from the Western
//! Balkans to Ukraine, a matching pool, pledges and receipts in four currencies with the rates
//! they were booked at, allocations, milestones reported by partners and verified by the fund,
//! tranches requested by one person and approved by another, payments, a payment returned by
//! the bank and a refund, a receipt booked at a mistyped rate and corrected by a second finance
//! officer, a tranche released in proportion to a milestone verified short of its target, and
//! the first quarter closed ([`script`] has it all).
//!
//! Every request carries a fixed request id named after its step (`demo-pledge-nl-ba`), so
//! loading the set again into the same store replays the first load instead of duplicating
//! it; ids the server created (pledges, projects, ...) come back from those replays too.
//! The process managers act asynchronously, so the loader waits (bounded) for each credit
//! and unlocked tranche before it relies on them. Rates are quoted in USD: the set assumes
//! the server's default reporting currency.
//!
//! Longer than most files on purpose: `Loader::step` is one match over the script's kinds of
//! step, read in the order the fund lives them; waiting and the matching expectations are apart.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use anyhow::{Context, anyhow};
use fundtrail_domain::{Currency, MatchRatio, Money};
use fundtrail_identity::{Credentials, DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role};
use fundtrail_proto::v1;
use tonic::{Response, Status};

use fundtrail_client::{CallError, Session};

mod matching;
#[rustfmt::skip]
mod script;
mod wait;

use script::{
    CONTROLLER, DIRECTOR, DONORS, Donor, FINANCE, FUND, MONITORING, PLEDGES, POOL_CAP,
    POOL_COUNTRIES, POOL_DONOR, POOL_EXPIRES, PROGRAMMES, PROJECTS, Pledge, Project, Rate, SCRIPT,
    Step,
};

/// How long the loader waits for a process manager before giving up.
const WAIT: Duration = Duration::from_secs(30);

fn request_id(kind: &str, key: &str) -> String {
    format!("demo-{kind}-{key}")
}

fn money(amount: &str, currency: Currency) -> anyhow::Result<v1::Money> {
    Ok(Money::parse(currency, amount)
        .with_context(|| format!("demo amount {amount} {currency}"))?
        .into())
}

fn currency(code: &str) -> anyhow::Result<Currency> {
    Currency::new(code).with_context(|| format!("demo currency {code}"))
}

fn rate(rate: Rate, base: Currency, quote: Currency) -> v1::ExchangeRate {
    v1::ExchangeRate {
        base: base.to_string(),
        quote: quote.to_string(),
        rate: rate.rate.to_owned(),
        source: rate.source.to_owned(),
        date: rate.on.to_owned(),
    }
}

fn steps() -> impl Iterator<Item = &'static Step> {
    SCRIPT.iter().flat_map(|steps| steps.iter())
}

/// Sends one command as `$session` and counts its result.
macro_rules! send {
    ($loader:expr, $session:expr, $client:ident . $method:ident, $id:expr, $request:expr) => {{
        let session = &$session;
        let result = session.$client().$method(session.request($request)).await;
        $loader.done(session, &$id, result)?
    }};
}

#[derive(Debug, Default)]
struct Tally {
    requests: usize,
    replayed: usize,
    events: u64,
    last_position: u64,
}

/// What the loader learned: the ids the server gave, by the keys of the script.
struct Loader<'a> {
    /// Signs the tokens of the people the demo acts as.
    issuer: &'a Issuer,
    /// The finance office's session, for what the loader reads.
    session: Session,
    pledges: HashMap<&'static str, (String, Currency)>,
    projects: HashMap<&'static str, (String, Currency, &'static Project)>,
    /// Allocation ids per project key, for waiting on their credits.
    allocations: HashMap<&'static str, Vec<String>>,
    /// Disbursement key → project key, disbursement id, milestone.
    disbursements: HashMap<&'static str, (&'static str, String, u32)>,
    verified: Vec<(&'static str, u32)>,
    /// Receipt key → the pledge key and the receipt id, for correcting it.
    receipts: HashMap<&'static str, (&'static str, String)>,
    tally: Tally,
}

/// How long the demo's tokens last: the load takes seconds.
const TOKEN_LIFETIME: Duration = Duration::from_hours(1);

/// A member of the fund's staff in the demo, with the roles their work needs.
fn staff(subject: &str) -> Principal {
    let (name, roles): (&str, &[Role]) = match subject {
        FINANCE => (
            "Finance office",
            &[
                Role::FinanceOfficer,
                Role::ProgrammeOfficer,
                Role::Administrator,
                Role::Auditor,
            ],
        ),
        DIRECTOR => ("Director", &[Role::Approver]),
        CONTROLLER => ("Financial controller", &[Role::FinanceOfficer]),
        MONITORING => ("Monitoring officer", &[Role::Verifier]),
        _ => ("Programme office", &[Role::ProgrammeOfficer]),
    };
    Principal {
        subject: subject.to_owned(),
        display_name: name.to_owned(),
        organisation: FUND.to_owned(),
        roles: roles.iter().copied().collect(),
        donor_id: None,
    }
}

/// The implementing partner's reporter on a project: a programme officer of the partner.
fn reporter(project: &Project) -> Principal {
    Principal {
        subject: project.reporter.to_owned(),
        display_name: format!("Reporting officer, {}", project.partner.0),
        organisation: project.partner.0.to_owned(),
        roles: BTreeSet::from([Role::ProgrammeOfficer]),
        donor_id: None,
    }
}

impl Loader<'_> {
    /// The session of `principal`, with a token the issuer signs for it.
    fn acting_as(&self, principal: &Principal) -> anyhow::Result<Session> {
        let token = self
            .issuer
            .issue(principal, DEV_ISSUER, DEV_AUDIENCE, TOKEN_LIFETIME)
            .with_context(|| format!("signing a token for {}", principal.subject))?;
        Ok(self.session.acting_with(Credentials::bearer(&token)?))
    }

    fn acting(&self, subject: &str) -> anyhow::Result<Session> {
        self.acting_as(&staff(subject))
    }

    /// Counts a command's result; an error names the step.
    fn done(
        &mut self,
        session: &Session,
        id: &str,
        result: Result<Response<v1::CommandResult>, Status>,
    ) -> anyhow::Result<v1::CommandResult> {
        let result = session.answer(result, Some(id)).map_err(|error| {
            let reused = error
                .downcast_ref::<CallError>()
                .and_then(CallError::reason)
                .is_some_and(|r| r == "REQUEST_ID_REUSED");
            let hint = if reused {
                "; this store holds a different demo data set under the same request ids: \
                 load the demo into a fresh store"
            } else {
                ""
            };
            error.context(format!("demo step {id}{hint}"))
        })?;
        self.tally.requests += 1;
        if result.replayed {
            self.tally.replayed += 1;
        } else {
            self.tally.events += u64::from(result.event_count);
        }
        self.tally.last_position = self.tally.last_position.max(result.position);
        Ok(result)
    }

    fn pledge(&self, key: &str) -> anyhow::Result<(String, Currency)> {
        self.pledges
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("demo: no pledge {key}"))
    }

    fn project(&self, key: &str) -> anyhow::Result<(String, Currency, &'static Project)> {
        self.projects
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("demo: no project {key}"))
    }

    fn disbursement(&self, key: &str) -> anyhow::Result<(&'static str, String, u32)> {
        self.disbursements
            .get(key)
            .cloned()
            .ok_or_else(|| anyhow!("demo: no disbursement {key}"))
    }

    async fn donors(&mut self) -> anyhow::Result<()> {
        let session = self.acting(FINANCE)?;
        for Donor {
            id: donor_id,
            name,
            kind,
            matching_eligible,
        } in DONORS
        {
            let id = request_id("donor", donor_id);
            let request = v1::RegisterDonorRequest {
                request_id: id.clone(),
                donor_id: (*donor_id).to_owned(),
                name: (*name).to_owned(),
                kind: (*kind).into(),
                matching_eligible: *matching_eligible,
                ..Default::default()
            };
            let result = session
                .pledges()
                .register_donor(session.request(request))
                .await;
            // A donor registered by hand before the demo is the same donor.
            let registered_before = result.as_ref().err().is_some_and(|status| {
                let error = CallError {
                    status: status.clone(),
                    request_id: None,
                    url: String::new(),
                };
                error
                    .reason()
                    .is_some_and(|r| r == "DONOR_ALREADY_REGISTERED")
            });
            if !registered_before {
                self.done(&session, &id, result)?;
            }
        }
        Ok(())
    }

    async fn projects(&mut self) -> anyhow::Result<()> {
        let session = self.acting(PROGRAMMES)?;
        for p in PROJECTS {
            let budget_currency = currency(p.budget.1)?;
            let id = request_id("project", p.key);
            let request = v1::RegisterProjectRequest {
                request_id: id.clone(),
                country: p.country.to_owned(),
                partner: Some(v1::ImplementingPartner {
                    name: p.partner.0.to_owned(),
                    iati_id: p.partner.1.to_owned(),
                }),
                title: p.title.to_owned(),
                sector_code: 15250,
                budget: Some(money(p.budget.0, budget_currency)?),
                starts_on: p.period.0.to_owned(),
                ends_on: p.period.1.to_owned(),
                funding: if p.results_based {
                    v1::FundingModality::ResultsBased
                } else {
                    v1::FundingModality::AdvanceFunded
                }
                .into(),
                ..Default::default()
            };
            let project_id =
                send!(self, session, milestones.register_project, id, request).created_id;
            for (number, m) in (1_u32..).zip(p.milestones) {
                let id = request_id("milestone", &format!("{}-{number}", p.key));
                let request = v1::PlanMilestoneRequest {
                    request_id: id.clone(),
                    project_id: project_id.clone(),
                    title: m.title.to_owned(),
                    indicator: Some(v1::Indicator {
                        kind: m.indicator.into(),
                        ..Default::default()
                    }),
                    target: m.target,
                    tranche: Some(money(m.tranche, budget_currency)?),
                    due_on: m.due_on.to_owned(),
                    release_rule: m.release.into(),
                    ..Default::default()
                };
                send!(self, session, milestones.plan_milestone, id, request);
            }
            self.projects
                .insert(p.key, (project_id, budget_currency, p));
        }
        Ok(())
    }

    async fn pool(&mut self) -> anyhow::Result<String> {
        let session = self.acting(FINANCE)?;
        let id = request_id("pool", "us-western-balkans");
        let request = v1::OpenMatchingPoolRequest {
            request_id: id.clone(),
            matching_donor_id: POOL_DONOR.to_owned(),
            cap: Some(money(POOL_CAP, Currency::USD)?),
            ratio: Some(v1::MatchRatio {
                numerator: MatchRatio::ONE_TO_ONE.numerator(),
                denominator: MatchRatio::ONE_TO_ONE.denominator(),
            }),
            eligible_countries: POOL_COUNTRIES.iter().map(|c| (*c).to_owned()).collect(),
            expires_on: POOL_EXPIRES.to_owned(),
            ..Default::default()
        };
        Ok(send!(self, session, pledges.open_matching_pool, id, request).created_id)
    }

    async fn record_pledges(&mut self) -> anyhow::Result<()> {
        let session = self.acting(FINANCE)?;
        for Pledge {
            key,
            donor,
            amount,
            currency: code,
            country,
            pledged_on: on,
        } in PLEDGES
        {
            let pledge_currency = currency(code)?;
            let id = request_id("pledge", key);
            let target =
                (!country.is_empty()).then(|| v1::earmark::Target::Country((*country).to_owned()));
            let request = v1::RecordPledgeRequest {
                request_id: id.clone(),
                donor_id: (*donor).to_owned(),
                amount: Some(money(amount, pledge_currency)?),
                earmark: Some(v1::Earmark { target }),
                pledged_on: (*on).to_owned(),
                ..Default::default()
            };
            let pledge_id = send!(self, session, pledges.record_pledge, id, request).created_id;
            self.pledges.insert(key, (pledge_id, pledge_currency));
        }
        Ok(())
    }

    async fn step(&mut self, step: &'static Step) -> anyhow::Result<()> {
        let finance = self.acting(FINANCE)?;
        match step {
            Step::Sign(a) => {
                let id = request_id("agreement", a.pledge);
                let request = v1::SignContributionAgreementRequest {
                    request_id: id.clone(),
                    pledge_id: self.pledge(a.pledge)?.0,
                    agreement_reference: a.reference.to_owned(),
                    signed_on: a.on.to_owned(),
                    ..Default::default()
                };
                send!(
                    self,
                    finance,
                    pledges.sign_contribution_agreement,
                    id,
                    request
                );
            }
            Step::Receive(r) => {
                let (pledge_id, pledge_currency) = self.pledge(r.pledge)?;
                let id = request_id("receipt", r.key);
                let request = v1::ReceiveContributionRequest {
                    request_id: id.clone(),
                    pledge_id,
                    amount: Some(money(r.amount, pledge_currency)?),
                    value_date: r.on.to_owned(),
                    rate: r.rate.map(|x| rate(x, pledge_currency, Currency::USD)),
                    bank_reference: r.bank_ref.to_owned(),
                    ..Default::default()
                };
                let receipt =
                    send!(self, finance, pledges.receive_contribution, id, request).created_id;
                self.receipts.insert(r.key, (r.pledge, receipt));
            }
            Step::Rerate(r) => {
                let (pledge_key, receipt_id) = self
                    .receipts
                    .get(r.receipt)
                    .cloned()
                    .ok_or_else(|| anyhow!("demo: no receipt {}", r.receipt))?;
                let (pledge_id, pledge_currency) = self.pledge(pledge_key)?;
                let id = request_id("rerating", r.receipt);
                let request = v1::RerateReceiptRequest {
                    request_id: id.clone(),
                    pledge_id,
                    receipt_id,
                    rate: Some(rate(r.rate, pledge_currency, Currency::USD)),
                    reason: r.reason.to_owned(),
                    ..Default::default()
                };
                let controller = self.acting(CONTROLLER)?;
                send!(self, controller, pledges.rerate_receipt, id, request);
            }
            Step::Allocate(a) => {
                let (pledge_id, pledge_currency) = self.pledge(a.pledge)?;
                let (project_id, project_currency, _) = self.project(a.project)?;
                let id = request_id("allocation", a.key);
                let request = v1::AllocateContributionRequest {
                    request_id: id.clone(),
                    pledge_id,
                    project_id,
                    amount: Some(money(a.amount, pledge_currency)?),
                    rate: a.rate.map(|x| rate(x, pledge_currency, project_currency)),
                    ..Default::default()
                };
                let allocation =
                    send!(self, finance, pledges.allocate_contribution, id, request).created_id;
                self.allocations
                    .entry(a.project)
                    .or_default()
                    .push(allocation);
            }
            Step::Report(r) => {
                let (project_id, _, spec) = self.project(r.project)?;
                let partner = self.acting_as(&reporter(spec))?;
                let id = request_id("report", r.key);
                let request = v1::ReportProgressRequest {
                    request_id: id.clone(),
                    project_id,
                    milestone: r.milestone,
                    actual: r.actual,
                    evidence_reference: r.evidence.to_owned(),
                    ..Default::default()
                };
                send!(self, partner, milestones.report_progress, id, request);
            }
            Step::Verify(v) => {
                let monitoring = self.acting(MONITORING)?;
                let id = request_id("verification", &format!("{}-{}", v.project, v.milestone));
                let request = v1::VerifyMilestoneRequest {
                    request_id: id.clone(),
                    project_id: self.project(v.project)?.0,
                    milestone: v.milestone,
                    ..Default::default()
                };
                send!(self, monitoring, milestones.verify_milestone, id, request);
                self.verified.push((v.project, v.milestone));
            }
            Step::Reject(r) => {
                let monitoring = self.acting(MONITORING)?;
                let id = request_id("rejection", r.key);
                let request = v1::RejectMilestoneRequest {
                    request_id: id.clone(),
                    project_id: self.project(r.project)?.0,
                    milestone: r.milestone,
                    reason: r.reason.to_owned(),
                    ..Default::default()
                };
                send!(self, monitoring, milestones.reject_milestone, id, request);
            }
            Step::Request(d) => {
                let (project_id, account_currency, spec) = self.project(d.project)?;
                self.wait_for_credits(d.project).await?;
                // A results-based project takes a request only once its account knows what
                // the milestone's verification released.
                if spec.results_based && d.milestone != 0 {
                    self.wait_for_tranche(d.project, d.milestone).await?;
                }
                let id = request_id("disbursement", d.key);
                let request = v1::RequestDisbursementRequest {
                    request_id: id.clone(),
                    project_id,
                    amount: Some(money(d.amount, account_currency)?),
                    partner: spec.partner.0.to_owned(),
                    milestone: d.milestone,
                    purpose: d.purpose.to_owned(),
                    ..Default::default()
                };
                let disbursement = send!(
                    self,
                    finance,
                    disbursements.request_disbursement,
                    id,
                    request
                )
                .created_id;
                self.disbursements
                    .insert(d.key, (d.project, disbursement, d.milestone));
            }
            Step::Approve(key) => {
                let (project, disbursement_id, milestone) = self.disbursement(key)?;
                if milestone != 0 {
                    self.wait_for_tranche(project, milestone).await?;
                }
                let director = self.acting(DIRECTOR)?;
                let id = request_id("approval", key);
                let request = v1::ApproveDisbursementRequest {
                    request_id: id.clone(),
                    project_id: self.project(project)?.0,
                    disbursement_id,
                    ..Default::default()
                };
                send!(
                    self,
                    director,
                    disbursements.approve_disbursement,
                    id,
                    request
                );
            }
            Step::Pay(p) => {
                let director = self.acting(DIRECTOR)?;
                let (project, disbursement_id, _) = self.disbursement(p.disbursement)?;
                let (project_id, account_currency, _) = self.project(project)?;
                let (payment_currency, payment_rate) = match p.currency {
                    None => (String::new(), None),
                    Some((code, r)) => (
                        code.to_owned(),
                        Some(rate(r, account_currency, currency(code)?)),
                    ),
                };
                let id = request_id("payment", p.disbursement);
                let request = v1::PayDisbursementRequest {
                    request_id: id.clone(),
                    project_id,
                    disbursement_id,
                    paid_on: p.on.to_owned(),
                    bank_reference: p.bank_ref.to_owned(),
                    payment_currency,
                    rate: payment_rate,
                    ..Default::default()
                };
                send!(self, director, disbursements.pay_disbursement, id, request);
            }
            Step::Reverse(r) => {
                let director = self.acting(DIRECTOR)?;
                let (project, disbursement_id, _) = self.disbursement(r.disbursement)?;
                let id = request_id("reversal", r.disbursement);
                let request = v1::ReverseDisbursementRequest {
                    request_id: id.clone(),
                    project_id: self.project(project)?.0,
                    disbursement_id,
                    reason: r.reason.to_owned(),
                    ..Default::default()
                };
                send!(
                    self,
                    director,
                    disbursements.reverse_disbursement,
                    id,
                    request
                );
            }
            Step::Refund(r) => {
                let (project, disbursement_id, _) = self.disbursement(r.disbursement)?;
                let (project_id, account_currency, _) = self.project(project)?;
                let id = request_id("refund", r.disbursement);
                let request = v1::RefundDisbursementRequest {
                    request_id: id.clone(),
                    project_id,
                    disbursement_id,
                    amount: Some(money(r.amount, account_currency)?),
                    refunded_on: r.on.to_owned(),
                    reason: r.reason.to_owned(),
                    ..Default::default()
                };
                send!(
                    self,
                    finance,
                    disbursements.refund_disbursement,
                    id,
                    request
                );
            }
            Step::Amend(a) => {
                let (pledge_id, pledge_currency) = self.pledge(a.pledge)?;
                let id = request_id("amendment", a.pledge);
                let request = v1::AmendPledgeRequest {
                    request_id: id.clone(),
                    pledge_id,
                    amount: Some(money(a.amount, pledge_currency)?),
                    reason: a.reason.to_owned(),
                    ..Default::default()
                };
                send!(self, finance, pledges.amend_pledge, id, request);
            }
            Step::Close(c) => {
                let id = request_id("period-close", c.through);
                let request = v1::ClosePeriodRequest {
                    request_id: id.clone(),
                    through: c.through.to_owned(),
                    reason: c.reason.to_owned(),
                    ..Default::default()
                };
                let director = self.acting(DIRECTOR)?;
                send!(self, director, pledges.close_period, id, request);
            }
            Step::Withdraw(w) => {
                let id = request_id("withdrawal", w.pledge);
                let request = v1::WithdrawPledgeRequest {
                    request_id: id.clone(),
                    pledge_id: self.pledge(w.pledge)?.0,
                    reason: w.reason.to_owned(),
                    ..Default::default()
                };
                send!(self, finance, pledges.withdraw_pledge, id, request);
            }
        }
        Ok(())
    }
}

/// Loads the demo data into the server at `url`; returns a one-line summary.
pub async fn load(url: &str, issuer: &Issuer) -> anyhow::Result<String> {
    let mut loader = Loader {
        issuer,
        session: Session::connect_with(url, Credentials::none()).await?,
        pledges: HashMap::new(),
        projects: HashMap::new(),
        allocations: HashMap::new(),
        disbursements: HashMap::new(),
        verified: Vec::new(),
        receipts: HashMap::new(),
        tally: Tally::default(),
    };
    loader.session = loader.acting(FINANCE)?;
    loader.donors().await?;
    loader.projects().await?;
    // Open before any money arrives: the matching process manager looks for pools as it
    // meets each receipt.
    let pool_id = loader.pool().await?;
    loader.record_pledges().await?;
    for step in steps() {
        loader.step(step).await?;
    }
    // Leave nothing in flight, so the store is complete when this returns.
    let pool = loader.wait_for_pool(&pool_id).await?;
    for project in PROJECTS {
        loader.wait_for_credits(project.key).await?;
    }
    for (project, milestone) in loader.verified.clone() {
        loader.wait_for_tranche(project, milestone).await?;
    }
    let head = loader.head().await;
    let count = |f: fn(&Step) -> bool| steps().filter(|s| f(s)).count();
    let confirmed = pool
        .matches
        .iter()
        .filter(|m| m.status == i32::from(v1::MatchStatus::Confirmed))
        .count();
    let countries: BTreeSet<&str> = PROJECTS.iter().map(|p| p.country).collect();
    let Tally {
        requests,
        replayed,
        events,
        ..
    } = loader.tally;
    Ok(format!(
        "{} donors, {} projects in {} countries, {} pledges, {} receipts, {} allocations, {} \
         disbursements ({} reversed), {} matches ({confirmed} confirmed); {requests} requests \
         ({replayed} replayed) wrote {events} events; history at position {head}",
        DONORS.len(),
        PROJECTS.len(),
        countries.len(),
        PLEDGES.len(),
        count(|s| matches!(s, Step::Receive(_))),
        count(|s| matches!(s, Step::Allocate(_))),
        count(|s| matches!(s, Step::Request(_))),
        count(|s| matches!(s, Step::Reverse(_))),
        pool.matches.len(),
    ))
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::matching::expected_matching;
    use super::*;

    #[test]
    fn request_ids_are_unique_and_valid() {
        let mut ids: Vec<String> = DONORS.iter().map(|d| request_id("donor", d.id)).collect();
        ids.extend(PLEDGES.iter().map(|p| request_id("pledge", p.key)));
        for p in PROJECTS {
            ids.push(request_id("project", p.key));
            for n in 1..=p.milestones.len() {
                ids.push(request_id("milestone", &format!("{}-{n}", p.key)));
            }
        }
        for step in steps() {
            ids.push(match step {
                Step::Sign(a) => request_id("agreement", a.pledge),
                Step::Receive(r) => request_id("receipt", r.key),
                Step::Allocate(a) => request_id("allocation", a.key),
                Step::Report(r) => request_id("report", r.key),
                Step::Verify(v) => {
                    request_id("verification", &format!("{}-{}", v.project, v.milestone))
                }
                Step::Reject(r) => request_id("rejection", r.key),
                Step::Request(d) => request_id("disbursement", d.key),
                Step::Approve(key) => request_id("approval", key),
                Step::Pay(p) => request_id("payment", p.disbursement),
                Step::Reverse(r) => request_id("reversal", r.disbursement),
                Step::Refund(r) => request_id("refund", r.disbursement),
                Step::Amend(a) => request_id("amendment", a.pledge),
                Step::Withdraw(w) => request_id("withdrawal", w.pledge),
                Step::Rerate(r) => request_id("rerating", r.receipt),
                Step::Close(c) => request_id("period-close", c.through),
            });
        }
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "a request id is used twice");
        for id in &ids {
            fundtrail_client::input::request_id(id).unwrap();
        }
    }

    #[test]
    fn every_amount_parses_and_the_pool_expectations_follow_from_the_script() {
        for p in PROJECTS {
            let c = currency(p.budget.1).unwrap();
            money(p.budget.0, c).unwrap();
            for m in p.milestones {
                money(m.tranche, c).unwrap();
            }
        }
        for p in PLEDGES {
            money(p.amount, currency(p.currency).unwrap()).unwrap();
        }
        let (matched, funds) = expected_matching().unwrap();
        assert_eq!(matched, 5);
        assert_eq!(funds, Money::new(Currency::USD, 200_000_000));
    }
}
