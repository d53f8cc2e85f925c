//! Donor statements as they are reported.

use chrono::NaiveDate;
use fundtrail_domain::{
    AllocationId, CountryCode, Currency, DisbursementId, DonorId, Money, PledgeId, ProjectId,
    ReceiptId,
};
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
    /// The individual receipts, by value date.
    pub receipts: Vec<ReceiptReport>,
    /// The individual allocations, by the day they were recorded.
    pub allocations: Vec<AllocationReport>,
    /// The disbursements the donor's money funded, with its share, by payment date.
    pub disbursements: Vec<DisbursementReport>,
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

/// One receipt of the donor's money.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReceiptReport {
    #[serde(with = "codec::text")]
    pub receipt_id: ReceiptId,
    #[serde(with = "codec::text")]
    pub pledge_id: PledgeId,
    /// The earmarked country; `None` for unearmarked money.
    #[serde(with = "codec::text_opt")]
    pub country: Option<CountryCode>,
    #[serde(with = "codec::text")]
    pub value_date: NaiveDate,
    #[serde(serialize_with = "display")]
    pub amount: Money,
    /// Its value as last booked.
    #[serde(serialize_with = "display")]
    pub reporting_amount: Money,
    pub bank_reference: String,
    /// Reversed: no longer counted as received.
    pub reversed: bool,
    /// The matching it earned, in the pool's currency; `None` while nothing was matched.
    #[serde(serialize_with = "display_opt")]
    pub matching_reserved: Option<Money>,
    #[serde(serialize_with = "display_opt")]
    pub matching_confirmed: Option<Money>,
}

/// One allocation of the donor's money to a project.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AllocationReport {
    #[serde(with = "codec::text")]
    pub allocation_id: AllocationId,
    #[serde(with = "codec::text")]
    pub pledge_id: PledgeId,
    #[serde(with = "codec::text")]
    pub project_id: ProjectId,
    pub project_title: String,
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    #[serde(with = "codec::text")]
    pub recorded_on: NaiveDate,
    /// In the pledge's currency.
    #[serde(serialize_with = "display")]
    pub amount: Money,
    /// In the project's currency.
    #[serde(serialize_with = "display")]
    pub project_amount: Money,
    #[serde(serialize_with = "display")]
    pub reporting_amount: Money,
    /// What of it went back to the fund, in the pledge's currency.
    #[serde(serialize_with = "display")]
    pub returned: Money,
}

/// The donor's share of one disbursement (see [`super::lines`] on how it is attributed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DisbursementReport {
    #[serde(with = "codec::text")]
    pub disbursement_id: DisbursementId,
    #[serde(with = "codec::text")]
    pub project_id: ProjectId,
    pub project_title: String,
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    #[serde(with = "codec::text")]
    pub paid_on: NaiveDate,
    pub bank_reference: String,
    /// The whole payment, in the account's currency.
    #[serde(serialize_with = "display")]
    pub amount: Money,
    /// The donor's share of it, and that share's reporting value.
    #[serde(serialize_with = "display")]
    pub share: Money,
    #[serde(serialize_with = "display")]
    pub share_reporting: Money,
    /// What of the share was reversed or refunded since.
    #[serde(serialize_with = "display")]
    pub reversed: Money,
    #[serde(serialize_with = "display")]
    pub refunded: Money,
}

#[allow(clippy::ref_option, reason = "serde passes fields by reference")]
fn display_opt<S: serde::Serializer>(money: &Option<Money>, s: S) -> Result<S::Ok, S::Error> {
    match money {
        Some(money) => s.collect_str(money),
        None => s.serialize_none(),
    }
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
            receipts: self.receipts(id),
            allocations: self.allocations(id),
            disbursements: self.disbursements(id),
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

    fn project_title(&self, id: &ProjectId) -> String {
        self.projects
            .get(id)
            .map(|p| p.title.clone())
            .unwrap_or_default()
    }

    fn receipts(&self, donor: &DonorId) -> Vec<ReceiptReport> {
        let mut list: Vec<ReceiptReport> = self
            .lines
            .receipts
            .get(donor)
            .into_iter()
            .flatten()
            .map(|(id, line)| ReceiptReport {
                receipt_id: *id,
                pledge_id: line.pledge,
                country: line.country,
                value_date: line.value_date,
                amount: line.amount,
                reporting_amount: line.reporting_amount,
                bank_reference: line.bank_reference.clone(),
                reversed: line.reversed,
                matching_reserved: line.matching.map(|m| m.reserved),
                matching_confirmed: line.matching.map(|m| m.confirmed),
            })
            .collect();
        list.sort_by_key(|r| (r.value_date, r.receipt_id));
        list
    }

    fn allocations(&self, donor: &DonorId) -> Vec<AllocationReport> {
        let mut list: Vec<AllocationReport> = self
            .lines
            .allocations
            .get(donor)
            .into_iter()
            .flatten()
            .map(|(id, line)| AllocationReport {
                allocation_id: *id,
                pledge_id: line.pledge,
                project_id: line.project,
                project_title: self.project_title(&line.project),
                country: line.country,
                recorded_on: line.recorded_on,
                amount: line.amount,
                project_amount: line.project_amount,
                reporting_amount: line.reporting_amount,
                returned: Money::new(line.amount.currency(), line.returned),
            })
            .collect();
        list.sort_by_key(|a| (a.recorded_on, a.allocation_id));
        list
    }

    fn disbursements(&self, donor: &DonorId) -> Vec<DisbursementReport> {
        let mut list: Vec<DisbursementReport> = self
            .lines
            .disbursements
            .get(donor)
            .into_iter()
            .flatten()
            .map(|(id, line)| DisbursementReport {
                disbursement_id: *id,
                project_id: line.project,
                project_title: self.project_title(&line.project),
                country: line.country,
                paid_on: line.paid_on,
                bank_reference: line.bank_reference.clone(),
                amount: line.amount,
                share: line.share,
                share_reporting: line.share_reporting,
                reversed: Money::new(line.share.currency(), line.reversed),
                refunded: Money::new(line.share.currency(), line.refunded),
            })
            .collect();
        list.sort_by_key(|d| (d.paid_on, d.disbursement_id));
        list
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
