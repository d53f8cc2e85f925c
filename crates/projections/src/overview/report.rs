//! The fund overview as it is reported.

use fundtrail_domain::Currency;
use serde::Serialize;

use super::FundOverview;
use crate::codec;
use crate::figure::{Amount, Figure, basis_points};

/// Sources and uses of the fund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OverviewReport {
    #[serde(with = "codec::text")]
    pub reporting_currency: Currency,
    pub pledged: Amount,
    pub committed: Amount,
    pub outstanding: Amount,
    /// Sources: contributions received from donors, the matching donors' included.
    pub contributions: Amount,
    /// Matching attributed to matched contributions: part of `contributions`, not on top.
    pub matching_reserved: Amount,
    pub matching_confirmed: Amount,
    pub matching_funds: Amount,
    /// Paid back by implementing partners (already netted out of `disbursed`).
    pub refunds: Amount,
    /// Payments that did not happen (already netted out of `disbursed`).
    pub reversals: Amount,
    /// Uses: net allocations, in the projects' currencies.
    pub transfers_to_projects: Amount,
    /// Net disbursements from the project accounts.
    pub disbursed: Amount,
    /// Unallocated money paid back to donors (not a use of the fund: it leaves the balance).
    pub refunds_to_donors: Amount,
    /// Received and neither allocated nor refunded, in the pledges' currencies, at the value
    /// of the pledges' unallocated money (corrected receipts included).
    pub balance_with_fund: Amount,
    /// Allocated and not disbursed, in the projects' currencies.
    pub balance_with_partners: Amount,
    pub delivery_rate_bps: i64,
    /// The part of the promises and receipts that belongs to no country yet.
    pub unearmarked_pledged: Amount,
    pub unearmarked_committed: Amount,
    pub unearmarked_outstanding: Amount,
    pub unearmarked_received: Amount,
    pub donors: u32,
    pub pledges: u32,
    pub projects: u32,
    pub matching_pools: u32,
    pub position: u64,
    pub recorded_at: i64,
}

impl FundOverview {
    pub fn report(&self) -> OverviewReport {
        let r = self.reporting;
        let fund = &self.fund;
        let mut with_fund = fund.total.received.clone();
        with_fund.sub_figure(&fund.allocated_from);
        with_fund.sub_figure(&fund.refunded_to_donors);
        // Valued as the money still unallocated is, not as the receipts' value less the uses'.
        with_fund.sub_figure(&fund.kept_at_cost);
        let mut with_partners: Figure = fund.allocated.clone();
        with_partners.sub_figure(&fund.disbursed);
        OverviewReport {
            reporting_currency: r.currency(),
            pledged: fund.total.pledged.amount(r),
            committed: fund.total.committed.amount(r),
            outstanding: fund.total.outstanding.amount(r),
            contributions: fund.total.received.amount(r),
            matching_reserved: fund.matched_reserved.amount(r),
            matching_confirmed: fund.matched_confirmed.amount(r),
            matching_funds: fund.matching_funds.amount(r),
            refunds: fund.refunded.amount(r),
            reversals: fund.reversed.amount(r),
            transfers_to_projects: fund.allocated.amount(r),
            disbursed: fund.disbursed.amount(r),
            refunds_to_donors: fund.refunded_to_donors.amount(r),
            balance_with_fund: with_fund.amount(r),
            balance_with_partners: with_partners.amount(r),
            delivery_rate_bps: basis_points(fund.disbursed.reporting(), fund.allocated.reporting()),
            unearmarked_pledged: fund.unearmarked.pledged.amount(r),
            unearmarked_committed: fund.unearmarked.committed.amount(r),
            unearmarked_outstanding: fund.unearmarked.outstanding.amount(r),
            unearmarked_received: fund.unearmarked.received.amount(r),
            donors: fund.donors,
            pledges: fund.pledges,
            projects: fund.projects,
            matching_pools: fund.pools,
            position: self.mark.position,
            recorded_at: self.mark.recorded_at,
        }
    }

    /// The fund's own document, for checks that add the countries up to it.
    pub fn totals(&self) -> &super::OverviewDoc {
        &self.fund
    }
}
