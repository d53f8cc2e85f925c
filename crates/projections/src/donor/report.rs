//! Donor statements as they are reported.

use fundtrail_domain::{CountryCode, Currency, DonorId, Money, PledgeId, ProjectId};
use serde::Serialize;

use super::{DonorDoc, DonorPlace, DonorStatements, MatchingFigures};
use crate::codec;
use crate::figure::{Amount, Figure, Reporting, display};
use crate::rates::RateUses;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonorReport {
    #[serde(with = "codec::text")]
    pub donor_id: DonorId,
    pub donor_name: String,
    /// government, multilateral or private; empty for a donor not registered (yet).
    pub kind: String,
    #[serde(with = "codec::text")]
    pub reporting_currency: Currency,
    pub pledged: Amount,
    pub committed: Amount,
    pub received: Amount,
    /// Pledged and not yet received, on pledges still open.
    pub outstanding: Amount,
    pub allocated: Amount,
    /// Unallocated money paid back to the donor.
    pub refunded: Amount,
    /// Pledges and receipts earmarked for no country.
    pub unearmarked: PlaceReport,
    pub countries: Vec<DonorCountryReport>,
    pub open_pledges: Vec<OpenPledge>,
    pub matching_earned: MatchingReport,
    pub matching_provided: MatchingReport,
    pub rates: Vec<RateUses>,
    pub position: u64,
    pub recorded_at: i64,
    pub changed_at: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlaceReport {
    pub pledged: Amount,
    pub committed: Amount,
    pub received: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonorCountryReport {
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    pub country_name: String,
    /// Earmarked for the country.
    pub pledged: Amount,
    pub committed: Amount,
    pub received: Amount,
    /// Allocated to the country's projects from any of the donor's pledges.
    pub allocated: Amount,
    pub projects: Vec<DonorProjectReport>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DonorProjectReport {
    #[serde(with = "codec::text")]
    pub project_id: ProjectId,
    pub title: String,
    pub allocated: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OpenPledge {
    #[serde(with = "codec::text")]
    pub pledge_id: PledgeId,
    #[serde(with = "codec::text_opt")]
    pub country: Option<CountryCode>,
    #[serde(serialize_with = "display")]
    pub pledged: Money,
    #[serde(serialize_with = "display")]
    pub received: Money,
    pub outstanding: Amount,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MatchingReport {
    pub reserved: Amount,
    pub confirmed: Amount,
    /// The matching donor's own money received into its pools.
    pub funds: Amount,
}

fn matching(figures: &MatchingFigures, r: Reporting) -> MatchingReport {
    MatchingReport {
        reserved: figures.reserved.amount(r),
        confirmed: figures.confirmed.amount(r),
        funds: figures.funds.amount(r),
    }
}

impl DonorStatements {
    /// The donors the view knows, registered or named on a pledge or a match, by id.
    pub fn donors(&self) -> impl Iterator<Item = &DonorId> + '_ {
        self.donors.keys()
    }

    /// A donor's statement; `None` for a donor the history does not name.
    pub fn report(&self, id: &DonorId) -> Option<DonorReport> {
        let doc = self.donors.get(id)?;
        let r = self.reporting;
        Some(DonorReport {
            donor_id: id.clone(),
            donor_name: doc.name.clone().unwrap_or_default(),
            kind: doc.kind.clone().unwrap_or_default(),
            reporting_currency: r.currency(),
            pledged: doc.pledged.amount(r),
            committed: doc.committed.amount(r),
            received: doc.received.amount(r),
            outstanding: doc.outstanding.amount(r),
            allocated: doc.allocated.amount(r),
            refunded: doc.refunded.amount(r),
            unearmarked: PlaceReport {
                pledged: doc.unearmarked.pledged.amount(r),
                committed: doc.unearmarked.committed.amount(r),
                received: doc.unearmarked.received.amount(r),
            },
            countries: doc
                .countries
                .iter()
                .map(|(code, place)| self.place(id, *code, place))
                .collect(),
            open_pledges: self.open_pledges(doc),
            matching_earned: matching(&doc.matching_earned, r),
            matching_provided: matching(&doc.matching_provided, r),
            rates: doc.rates.list(),
            position: self.mark.position,
            recorded_at: self.mark.recorded_at,
            changed_at: doc.changed_at,
        })
    }

    fn place(&self, donor: &DonorId, code: CountryCode, place: &DonorPlace) -> DonorCountryReport {
        let r = self.reporting;
        DonorCountryReport {
            country: code,
            country_name: code.name().to_owned(),
            pledged: place.pledged.amount(r),
            committed: place.committed.amount(r),
            received: place.received.amount(r),
            allocated: place.allocated.amount(r),
            projects: self
                .funded
                .get(donor)
                .into_iter()
                .flatten()
                .filter(|(_, f)| f.country == code && !f.allocated.is_zero())
                .map(|(id, funded)| DonorProjectReport {
                    project_id: *id,
                    title: self
                        .projects
                        .get(id)
                        .map(|p| p.title.clone())
                        .unwrap_or_default(),
                    allocated: funded.allocated.amount(r),
                })
                .collect(),
        }
    }

    fn open_pledges(&self, doc: &DonorDoc) -> Vec<OpenPledge> {
        let r = self.reporting;
        doc.pledges
            .iter()
            .filter_map(|id| self.pledges.get(id).map(|p| (id, p)))
            .filter_map(|(id, pledge)| {
                let outstanding = pledge.figures(r).outstanding;
                (outstanding.amount > 0).then(|| {
                    let mut figure = Figure::default();
                    figure.add(pledge.currency, outstanding);
                    OpenPledge {
                        pledge_id: *id,
                        country: pledge.country,
                        pledged: Money::new(pledge.currency, pledge.pledged),
                        received: Money::new(pledge.currency, pledge.received),
                        outstanding: figure.amount(r),
                    }
                })
            })
            .collect()
    }
}
