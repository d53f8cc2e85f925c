//! The views' reports as Funding API messages.

use chrono::DateTime;
use fundtrail_domain::Money;
use fundtrail_projections::Amount;
use fundtrail_projections::country::{
    CountryReport, CurrencyReport, DonorShareReport, IndicatorKey, IndicatorReport, ProjectReport,
};
use fundtrail_projections::donor::{
    AllocationReport, DisbursementReport, DonorCountryReport, DonorReport, MatchingReport,
    OpenPledge, PlaceReport, ReceiptReport,
};
use fundtrail_projections::figure::CurrencyAmount;
use fundtrail_projections::overview::OverviewReport;
use fundtrail_projections::rates::{RatePurpose, RateUses};
use fundtrail_proto::v1;

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn money(m: Money) -> Option<v1::Money> {
    Some(m.into())
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn amount(a: &Amount) -> Option<v1::Amount> {
    Some(v1::Amount {
        original: a.original.iter().map(|m| (*m).into()).collect(),
        reporting: money(a.reporting),
        reporting_complete: a.reporting_complete,
    })
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn currency_amount(a: &CurrencyAmount) -> Option<v1::CurrencyAmount> {
    Some(v1::CurrencyAmount {
        amount: money(a.amount),
        reporting: money(a.reporting),
        reporting_complete: a.reporting_complete,
    })
}

/// A commit time as RFC 3339; empty before any event.
pub fn time_text(micros: i64) -> String {
    if micros == 0 {
        return String::new();
    }
    DateTime::from_timestamp_micros(micros)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
        .unwrap_or_default()
}

fn rates(list: &[RateUses]) -> Vec<v1::RateUsed> {
    list.iter()
        .map(|r| v1::RateUsed {
            purpose: match r.purpose {
                RatePurpose::Receipt => v1::RatePurpose::Receipt,
                RatePurpose::Allocation => v1::RatePurpose::Allocation,
                RatePurpose::Payment => v1::RatePurpose::Payment,
            }
            .into(),
            latest: Some(v1::ExchangeRate {
                base: r.base.to_string(),
                quote: r.quote.to_string(),
                rate: r.latest.to_string(),
                source: r.source.clone(),
                date: r.latest_date.format("%Y-%m-%d").to_string(),
            }),
            uses: r.uses,
            first_date: r.first_date.format("%Y-%m-%d").to_string(),
            lowest: r.lowest.to_string(),
            highest: r.highest.to_string(),
        })
        .collect()
}

fn donor_share(d: &DonorShareReport) -> v1::DonorBreakdown {
    v1::DonorBreakdown {
        donor_id: d.donor_id.to_string(),
        donor_name: d.donor_name.clone(),
        pledged: amount(&d.pledged),
        committed: amount(&d.committed),
        outstanding: amount(&d.outstanding),
        received: amount(&d.received),
        allocated: amount(&d.allocated),
        matched_reserved: amount(&d.matched_reserved),
        matched_confirmed: amount(&d.matched_confirmed),
    }
}

fn currency(c: &CurrencyReport) -> v1::CurrencyBreakdown {
    v1::CurrencyBreakdown {
        currency: c.currency.to_string(),
        pledged: currency_amount(&c.pledged),
        received: currency_amount(&c.received),
        allocated: currency_amount(&c.allocated),
        disbursed: currency_amount(&c.disbursed),
    }
}

fn indicator(i: &IndicatorReport) -> v1::IndicatorProgress {
    let kind = match i.indicator {
        IndicatorKey::SquareMetresCleared => v1::IndicatorKind::SquareMetresCleared,
        IndicatorKey::DevicesDestroyed => v1::IndicatorKind::DevicesDestroyed,
        IndicatorKey::Other { .. } => v1::IndicatorKind::Other,
    };
    v1::IndicatorProgress {
        indicator: i.name.clone(),
        unit: i.unit.clone(),
        target: i.target,
        actual_verified: i.actual_verified,
        actual_reported: i.actual_reported,
        cost_per_unit: money(i.cost_per_unit),
        kind: kind.into(),
        disbursed: money(i.disbursed),
    }
}

fn project(p: &ProjectReport) -> v1::ProjectFunding {
    v1::ProjectFunding {
        project_id: p.project_id.to_string(),
        title: p.title.clone(),
        partner: p.partner.clone(),
        closed: p.closed,
        allocated: amount(&p.allocated),
        disbursed: amount(&p.disbursed),
        undisbursed: amount(&p.undisbursed),
        delivery_rate_bps: p.delivery_rate_bps,
        milestones: p.milestones,
        milestones_verified: p.milestones_verified,
    }
}

pub fn country(r: &CountryReport) -> v1::CountryFunding {
    v1::CountryFunding {
        country: r.country.to_string(),
        country_name: r.country_name.clone(),
        reporting_currency: r.reporting_currency.to_string(),
        pledged: amount(&r.pledged),
        committed: amount(&r.committed),
        outstanding: amount(&r.outstanding),
        received: amount(&r.received),
        matched_reserved: amount(&r.matched_reserved),
        matched_confirmed: amount(&r.matched_confirmed),
        allocated: amount(&r.allocated),
        disbursed: amount(&r.disbursed),
        refunded: amount(&r.refunded),
        refunded_to_donors: amount(&r.refunded_to_donors),
        undisbursed: amount(&r.undisbursed),
        delivery_rate_bps: r.delivery_rate_bps,
        donors: r.donors.iter().map(donor_share).collect(),
        currencies: r.currencies.iter().map(currency).collect(),
        indicators: r.indicators.iter().map(indicator).collect(),
        projects: r.projects.iter().map(project).collect(),
        project_count: u32::try_from(r.projects.len()).unwrap_or(u32::MAX),
        rates: rates(&r.rates),
        position: r.position,
        as_of_time: time_text(r.recorded_at),
        changed_at_position: r.changed_at,
    }
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn place(p: &PlaceReport) -> Option<v1::DonorPlace> {
    Some(v1::DonorPlace {
        pledged: amount(&p.pledged),
        committed: amount(&p.committed),
        received: amount(&p.received),
    })
}

#[allow(
    clippy::unnecessary_wraps,
    reason = "prost makes message fields optional"
)]
fn matching(m: &MatchingReport) -> Option<v1::MatchingFigures> {
    Some(v1::MatchingFigures {
        reserved: amount(&m.reserved),
        confirmed: amount(&m.confirmed),
        funds: amount(&m.funds),
    })
}

fn donor_country(c: &DonorCountryReport) -> v1::DonorCountryUse {
    v1::DonorCountryUse {
        country: c.country.to_string(),
        country_name: c.country_name.clone(),
        pledged: amount(&c.pledged),
        committed: amount(&c.committed),
        received: amount(&c.received),
        allocated: amount(&c.allocated),
        projects: c
            .projects
            .iter()
            .map(|p| v1::DonorProjectUse {
                project_id: p.project_id.to_string(),
                title: p.title.clone(),
                allocated: amount(&p.allocated),
            })
            .collect(),
    }
}

fn open_pledge(p: &OpenPledge) -> v1::OpenPledge {
    v1::OpenPledge {
        pledge_id: p.pledge_id.to_string(),
        country: p.country.map(|c| c.to_string()).unwrap_or_default(),
        pledged: money(p.pledged),
        received: money(p.received),
        outstanding: amount(&p.outstanding),
    }
}

pub fn donor(r: &DonorReport) -> v1::DonorStatement {
    v1::DonorStatement {
        donor_id: r.donor_id.to_string(),
        donor_name: r.donor_name.clone(),
        kind: r.kind.clone(),
        reporting_currency: r.reporting_currency.to_string(),
        pledged: amount(&r.pledged),
        committed: amount(&r.committed),
        received: amount(&r.received),
        outstanding: amount(&r.outstanding),
        allocated: amount(&r.allocated),
        refunded: amount(&r.refunded),
        unearmarked: place(&r.unearmarked),
        countries: r.countries.iter().map(donor_country).collect(),
        open_pledges: r.open_pledges.iter().map(open_pledge).collect(),
        matching_earned: matching(&r.matching_earned),
        matching_provided: matching(&r.matching_provided),
        rates: rates(&r.rates),
        position: r.position,
        as_of_time: time_text(r.recorded_at),
        changed_at_position: r.changed_at,
        receipts: r.receipts.iter().map(receipt).collect(),
        allocations: r.allocations.iter().map(allocation).collect(),
        disbursements: r.disbursements.iter().map(disbursement).collect(),
    }
}

fn receipt(r: &ReceiptReport) -> v1::DonorReceipt {
    v1::DonorReceipt {
        receipt_id: r.receipt_id.to_string(),
        pledge_id: r.pledge_id.to_string(),
        country: r.country.map(|c| c.to_string()).unwrap_or_default(),
        value_date: r.value_date.to_string(),
        amount: money(r.amount),
        reporting_amount: money(r.reporting_amount),
        bank_reference: r.bank_reference.clone(),
        reversed: r.reversed,
        matching_reserved: r.matching_reserved.and_then(money),
        matching_confirmed: r.matching_confirmed.and_then(money),
    }
}

fn allocation(a: &AllocationReport) -> v1::DonorAllocation {
    v1::DonorAllocation {
        allocation_id: a.allocation_id.to_string(),
        pledge_id: a.pledge_id.to_string(),
        project_id: a.project_id.to_string(),
        project_title: a.project_title.clone(),
        country: a.country.to_string(),
        recorded_on: a.recorded_on.to_string(),
        amount: money(a.amount),
        project_amount: money(a.project_amount),
        reporting_amount: money(a.reporting_amount),
        returned: money(a.returned),
    }
}

fn disbursement(d: &DisbursementReport) -> v1::DonorDisbursement {
    v1::DonorDisbursement {
        disbursement_id: d.disbursement_id.to_string(),
        project_id: d.project_id.to_string(),
        project_title: d.project_title.clone(),
        country: d.country.to_string(),
        paid_on: d.paid_on.to_string(),
        bank_reference: d.bank_reference.clone(),
        amount: money(d.amount),
        share: money(d.share),
        share_reporting: money(d.share_reporting),
        reversed: money(d.reversed),
        refunded: money(d.refunded),
    }
}

pub fn overview(r: &OverviewReport) -> v1::FundOverview {
    v1::FundOverview {
        reporting_currency: r.reporting_currency.to_string(),
        pledged: amount(&r.pledged),
        committed: amount(&r.committed),
        outstanding: amount(&r.outstanding),
        contributions: amount(&r.contributions),
        matching_reserved: amount(&r.matching_reserved),
        matching_confirmed: amount(&r.matching_confirmed),
        matching_funds: amount(&r.matching_funds),
        refunds: amount(&r.refunds),
        reversals: amount(&r.reversals),
        transfers_to_projects: amount(&r.transfers_to_projects),
        disbursed: amount(&r.disbursed),
        balance_with_fund: amount(&r.balance_with_fund),
        refunds_to_donors: amount(&r.refunds_to_donors),
        balance_with_partners: amount(&r.balance_with_partners),
        delivery_rate_bps: r.delivery_rate_bps,
        unearmarked_pledged: amount(&r.unearmarked_pledged),
        unearmarked_committed: amount(&r.unearmarked_committed),
        unearmarked_outstanding: amount(&r.unearmarked_outstanding),
        unearmarked_received: amount(&r.unearmarked_received),
        donors: r.donors,
        pledges: r.pledges,
        projects: r.projects,
        matching_pools: r.matching_pools,
        position: r.position,
        as_of_time: time_text(r.recorded_at),
    }
}
