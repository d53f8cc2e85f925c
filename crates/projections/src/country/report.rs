//! The per-country view as it is reported.

use std::collections::{BTreeMap, BTreeSet};

use fundtrail_domain::{CountryCode, Currency, DonorId, Money, ProjectId};
use serde::Serialize;

use super::{CountryDoc, CountryFunding, IndicatorKey, ProjectDoc};
use crate::codec;
use crate::figure::{Amount, CurrencyAmount, Figure, Reporting, basis_points, display};
use crate::rates::RateUses;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CountryReport {
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    pub country_name: String,
    #[serde(with = "codec::text")]
    pub reporting_currency: Currency,
    pub pledged: Amount,
    pub committed: Amount,
    pub outstanding: Amount,
    pub received: Amount,
    pub matched_reserved: Amount,
    pub matched_confirmed: Amount,
    pub allocated: Amount,
    pub disbursed: Amount,
    pub refunded: Amount,
    /// Unallocated money earmarked for the country paid back to its donors.
    pub refunded_to_donors: Amount,
    pub undisbursed: Amount,
    /// Disbursed ÷ allocated in the reporting currency, in basis points; 0 when nothing is
    /// allocated.
    pub delivery_rate_bps: i64,
    pub donors: Vec<DonorShareReport>,
    pub currencies: Vec<CurrencyReport>,
    pub indicators: Vec<IndicatorReport>,
    pub projects: Vec<ProjectReport>,
    pub rates: Vec<RateUses>,
    /// The view reflects every event up to this position.
    pub position: u64,
    pub recorded_at: i64,
    /// The last position that changed this country.
    pub changed_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonorShareReport {
    #[serde(with = "codec::text")]
    pub donor_id: DonorId,
    pub donor_name: String,
    pub pledged: Amount,
    pub committed: Amount,
    pub outstanding: Amount,
    pub received: Amount,
    pub allocated: Amount,
    pub matched_reserved: Amount,
    pub matched_confirmed: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyReport {
    #[serde(with = "codec::text")]
    pub currency: Currency,
    pub pledged: CurrencyAmount,
    pub received: CurrencyAmount,
    pub allocated: CurrencyAmount,
    pub disbursed: CurrencyAmount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndicatorReport {
    pub indicator: IndicatorKey,
    pub name: String,
    pub unit: String,
    pub target: u64,
    pub actual_reported: u64,
    pub actual_verified: u64,
    /// Disbursed (net, reporting currency) by the projects that measure this indicator.
    #[serde(serialize_with = "display")]
    pub disbursed: Money,
    /// `disbursed ÷ actual_verified`, rounded half-even to the minor unit; 0 while nothing is
    /// verified.
    #[serde(serialize_with = "display")]
    pub cost_per_unit: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProjectReport {
    #[serde(with = "codec::text")]
    pub project_id: ProjectId,
    pub title: String,
    pub partner: String,
    pub closed: bool,
    pub allocated: Amount,
    pub disbursed: Amount,
    pub undisbursed: Amount,
    pub delivery_rate_bps: i64,
    pub milestones: u32,
    pub milestones_verified: u32,
    /// Each verified milestone's release beside its shortfall, so a partial payment by
    /// results is read with what it withheld.
    pub verified_tranches: Vec<TrancheReport>,
}

/// A verified milestone: its output against the target and its tranche against what was
/// released, in the project's currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TrancheReport {
    pub milestone: u32,
    pub release_rule: String,
    pub target: u64,
    pub actual: u64,
    /// Target less actual; 0 when the target was met.
    pub shortfall: u64,
    #[serde(serialize_with = "display")]
    pub tranche: Money,
    #[serde(serialize_with = "display")]
    pub released: Money,
    /// Tranche less released: what the shortfall kept back.
    #[serde(serialize_with = "display")]
    pub withheld: Money,
}

fn undisbursed(allocated: &Figure, disbursed: &Figure) -> Figure {
    let mut left = allocated.clone();
    left.sub_figure(disbursed);
    left
}

fn count<T>(items: impl Iterator<Item = T>) -> u32 {
    u32::try_from(items.count()).unwrap_or(u32::MAX)
}

#[derive(Default)]
struct IndicatorSum {
    target: u64,
    reported: u64,
    verified: u64,
    disbursed: i64,
}

impl CountryFunding {
    /// The countries the fund has any figure or project for, by code.
    pub fn countries(&self) -> impl Iterator<Item = CountryCode> + '_ {
        self.countries.keys().copied()
    }

    /// A country's funding; all zeros for a country the fund has nothing for.
    pub fn report(&self, code: CountryCode) -> CountryReport {
        let empty = CountryDoc::default();
        let doc = self.countries.get(&code).unwrap_or(&empty);
        let r = self.reporting;
        let projects: Vec<(&ProjectId, &ProjectDoc)> = doc
            .projects
            .iter()
            .filter_map(|id| self.projects.get(id).map(|p| (id, p)))
            .collect();
        CountryReport {
            country: code,
            country_name: code.name().to_owned(),
            reporting_currency: r.currency(),
            pledged: doc.pledged.amount(r),
            committed: doc.committed.amount(r),
            outstanding: doc.outstanding.amount(r),
            received: doc.received.amount(r),
            matched_reserved: doc.matched_reserved.amount(r),
            matched_confirmed: doc.matched_confirmed.amount(r),
            allocated: doc.allocated.amount(r),
            disbursed: doc.disbursed.amount(r),
            refunded: doc.refunded.amount(r),
            refunded_to_donors: doc.refunded_to_donors.amount(r),
            undisbursed: undisbursed(&doc.allocated, &doc.disbursed).amount(r),
            delivery_rate_bps: basis_points(doc.disbursed.reporting(), doc.allocated.reporting()),
            donors: self.donor_shares(doc),
            currencies: currencies(doc, r),
            indicators: indicators(&projects, r),
            projects: projects
                .iter()
                .map(|(id, p)| project_report(**id, p, r))
                .collect(),
            rates: doc.rates.list(),
            position: self.mark.position,
            recorded_at: self.mark.recorded_at,
            changed_at: doc.changed_at,
        }
    }

    /// Every country's funding, by code.
    pub fn reports(&self) -> Vec<CountryReport> {
        self.countries().map(|code| self.report(code)).collect()
    }

    /// Every country's document, for checks that add the countries up.
    pub fn documents(&self) -> impl Iterator<Item = (CountryCode, &CountryDoc)> + '_ {
        self.countries.iter().map(|(code, doc)| (*code, doc))
    }

    /// The last position that changed the country; 0 when none did.
    pub fn changed_at(&self, code: CountryCode) -> u64 {
        self.countries.get(&code).map_or(0, |doc| doc.changed_at)
    }

    fn donor_shares(&self, doc: &CountryDoc) -> Vec<DonorShareReport> {
        let r = self.reporting;
        doc.donors
            .iter()
            .map(|(id, share)| DonorShareReport {
                donor_id: id.clone(),
                donor_name: self
                    .donors
                    .get(id)
                    .map(|d| d.name.clone())
                    .unwrap_or_default(),
                pledged: share.pledged.amount(r),
                committed: share.committed.amount(r),
                outstanding: share.outstanding.amount(r),
                received: share.received.amount(r),
                allocated: share.allocated.amount(r),
                matched_reserved: share.matched_reserved.amount(r),
                matched_confirmed: share.matched_confirmed.amount(r),
            })
            .collect()
    }
}

fn currencies(doc: &CountryDoc, r: Reporting) -> Vec<CurrencyReport> {
    let figures = [&doc.pledged, &doc.received, &doc.allocated, &doc.disbursed];
    let codes: BTreeSet<Currency> = figures
        .iter()
        .flat_map(|f| f.parts().map(|(c, _)| c))
        .collect();
    codes
        .into_iter()
        .map(|c| CurrencyReport {
            currency: c,
            pledged: CurrencyAmount::of(&doc.pledged, c, r),
            received: CurrencyAmount::of(&doc.received, c, r),
            allocated: CurrencyAmount::of(&doc.allocated, c, r),
            disbursed: CurrencyAmount::of(&doc.disbursed, c, r),
        })
        .collect()
}

/// Targets and actuals per indicator; each project's net disbursements count towards every
/// indicator its milestones measure, so the cost per unit is what the projects that achieved
/// it cost per unit achieved.
fn indicators(projects: &[(&ProjectId, &ProjectDoc)], r: Reporting) -> Vec<IndicatorReport> {
    let mut sums: BTreeMap<&IndicatorKey, IndicatorSum> = BTreeMap::new();
    for (_, project) in projects {
        let mut measured: BTreeSet<&IndicatorKey> = BTreeSet::new();
        for milestone in project.milestones.values() {
            let sum = sums.entry(&milestone.indicator).or_default();
            sum.target = sum.target.saturating_add(milestone.target);
            sum.reported = sum.reported.saturating_add(milestone.reported.unwrap_or(0));
            sum.verified = sum.verified.saturating_add(milestone.verified.unwrap_or(0));
            measured.insert(&milestone.indicator);
        }
        for key in measured {
            let sum = sums.entry(key).or_default();
            sum.disbursed = sum.disbursed.saturating_add(project.disbursed.reporting());
        }
    }
    sums.into_iter()
        .map(|(key, sum)| {
            let indicator = key.indicator();
            let cost = i64::try_from(sum.verified)
                .ok()
                .filter(|v| *v > 0)
                .and_then(|v| fundtrail_domain::money::mul_div_half_even(sum.disbursed, 1, v))
                .unwrap_or(0);
            IndicatorReport {
                indicator: key.clone(),
                name: indicator.name().to_owned(),
                unit: indicator.unit().to_owned(),
                target: sum.target,
                actual_reported: sum.reported,
                actual_verified: sum.verified,
                disbursed: r.money(sum.disbursed),
                cost_per_unit: r.money(cost),
            }
        })
        .collect()
}

fn project_report(id: ProjectId, p: &ProjectDoc, r: Reporting) -> ProjectReport {
    ProjectReport {
        project_id: id,
        title: p.title.clone(),
        partner: p.partner.clone(),
        closed: p.closed,
        allocated: p.allocated.amount(r),
        disbursed: p.disbursed.amount(r),
        undisbursed: undisbursed(&p.allocated, &p.disbursed).amount(r),
        delivery_rate_bps: basis_points(p.disbursed.reporting(), p.allocated.reporting()),
        milestones: count(p.milestones.values()),
        milestones_verified: count(p.milestones.values().filter(|m| m.verified.is_some())),
        verified_tranches: p
            .milestones
            .iter()
            .filter_map(|(number, m)| {
                let (actual, release) = (m.verified?, m.release.as_ref()?);
                Some(TrancheReport {
                    milestone: *number,
                    release_rule: release.rule.clone(),
                    target: m.target,
                    actual,
                    shortfall: m.target.saturating_sub(actual),
                    tranche: release.tranche,
                    released: release.released,
                    withheld: Money::new(
                        release.tranche.currency(),
                        release
                            .tranche
                            .minor_units()
                            .saturating_sub(release.released.minor_units()),
                    ),
                })
            })
            .collect(),
    }
}
