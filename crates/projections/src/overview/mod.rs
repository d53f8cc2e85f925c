//! The fund overview: sources and uses of the fund as multi-partner trust funds publish them.
//!
//! Sources are the contributions received from donors (the matching donor's contributions
//! among them: matching is an attribution of part of the contributions to the contributions it
//! matches, not money on top) and the refunds implementing partners paid back. Uses are the
//! transfers to projects (net allocations) and, from the projects' accounts, the disbursements
//! (net of reversals and refunds). What is left is the balance with the fund (received −
//! allocated − refunded to donors, valued as the unallocated money is: see
//! [`OverviewDoc::kept_at_cost`]) and the balance with implementing partners (allocated −
//! disbursed).
//!
//! The figures that the per-country view attributes to countries are kept here in total, and
//! the unearmarked parts of the promises and receipts on their own, so that the countries add
//! up to the fund: Σ countries = total − unearmarked for pledged, committed, outstanding and
//! received, and Σ countries = total for matching, allocations and disbursements.

use foldhash::HashMap;

use fundtrail_domain::{AccountEvent, DonorEvent, Event, MatchingEvent, PledgeEvent, PledgeId};
use serde::{Deserialize, Serialize};

use crate::doc::{Dirty, Doc, Mark, RestoreError, StoredDoc, View};
use crate::figure::{Figure, Part, Reporting};
use crate::fold::{match_change, signed};
use crate::pledge::{AllocationDoc, PledgeChange, PledgeDoc, PledgeFigures, pledge_id};

mod report;

pub use report::OverviewReport;

/// Promises and receipts, in total or for the unearmarked part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Promises {
    pub pledged: Figure,
    pub committed: Figure,
    pub outstanding: Figure,
    pub received: Figure,
}

impl Promises {
    fn shift(&mut self, currency: fundtrail_domain::Currency, b: PledgeFigures, a: PledgeFigures) {
        self.pledged.shift(currency, b.pledged, a.pledged);
        self.committed.shift(currency, b.committed, a.committed);
        self.outstanding
            .shift(currency, b.outstanding, a.outstanding);
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OverviewDoc {
    pub total: Promises,
    pub unearmarked: Promises,
    pub matched_reserved: Figure,
    pub matched_confirmed: Figure,
    /// The matching donors' money received into their pools.
    pub matching_funds: Figure,
    /// Net allocations in the pledges' currencies (what left the fund's balance).
    pub allocated_from: Figure,
    /// Net allocations in the projects' currencies (what the projects hold).
    pub allocated: Figure,
    /// Net of reversals and refunds.
    pub disbursed: Figure,
    pub reversed: Figure,
    pub refunded: Figure,
    /// Unallocated money paid back to donors, in the pledges' currencies.
    #[serde(default)]
    pub refunded_to_donors: Figure,
    /// Value only (no amounts), in the pledges' currencies: how far receipt corrections moved
    /// the value of the receipts beyond the value of the money still unallocated. Allocations
    /// and refunds already made keep the value they were booked at, so a re-rating revalues
    /// only the receipt's unallocated part and a reversal takes out what its unallocated
    /// share was worth; the rest of the change stays here. The balance with the fund is
    /// received − allocated − refunded, less this.
    #[serde(default, skip_serializing_if = "Figure::is_zero")]
    pub kept_at_cost: Figure,
    pub donors: u32,
    pub pledges: u32,
    pub projects: u32,
    pub pools: u32,
    pub changed_at: u64,
}

/// The fund overview view.
#[derive(Debug, Clone)]
pub struct FundOverview {
    pub(crate) reporting: Reporting,
    pub(crate) mark: Mark,
    pub(crate) fund: OverviewDoc,
    pub(crate) pledges: HashMap<PledgeId, PledgeDoc>,
    dirty: Dirty,
}

impl FundOverview {
    fn touch(&mut self, at: Mark) -> &mut OverviewDoc {
        self.dirty.overview = true;
        self.fund.changed_at = at.position;
        &mut self.fund
    }

    fn on_pledge(&mut self, at: Mark, event: &PledgeEvent) {
        let id = pledge_id(event);
        let reporting = self.reporting;
        if let PledgeEvent::Recorded {
            donor_id,
            amount,
            earmark,
            ..
        } = event
        {
            if self.pledges.contains_key(&id) {
                return;
            }
            self.pledges.insert(
                id,
                PledgeDoc::recorded(donor_id.clone(), *amount, earmark.country()),
            );
            self.fund.pledges = self.fund.pledges.saturating_add(1);
        }
        let Some(pledge) = self.pledges.get_mut(&id) else {
            return;
        };
        self.dirty.pledges.insert(id);
        self.dirty.overview = true;
        self.fund.changed_at = at.position;
        let before = if matches!(event, PledgeEvent::Recorded { .. }) {
            PledgeFigures::default()
        } else {
            pledge.figures(reporting)
        };
        let (currency, earmarked) = (pledge.currency, pledge.country.is_some());
        let change = match pledge.apply(event, reporting) {
            PledgeChange::None => None,
            PledgeChange::Received(part) => Some(Err(part)),
            // Money that leaves the fund: the sources stay what donors gave; the balance with
            // the fund goes down.
            PledgeChange::Refunded(part) => {
                self.fund.refunded_to_donors.add(currency, part);
                None
            }
            PledgeChange::Allocated(doc) => Some(Ok((doc.clone(), true))),
            PledgeChange::Released(doc) => Some(Ok((doc, false))),
        };
        let after = pledge.figures(reporting);
        let fund = &mut self.fund;
        if let Some(kept) = kept_at_cost(event, reporting) {
            fund.kept_at_cost.add(currency, kept);
        }
        if before != after {
            fund.total.shift(currency, before, after);
            if !earmarked {
                fund.unearmarked.shift(currency, before, after);
            }
        }
        match change {
            None => {}
            Some(Err(received)) => {
                fund.total.received.add(currency, received);
                if !earmarked {
                    fund.unearmarked.received.add(currency, received);
                }
            }
            Some(Ok((allocation, add))) => allocate(fund, &allocation, reporting, add),
        }
    }

    fn on_account(&mut self, at: Mark, event: &AccountEvent) {
        let reporting = self.reporting;
        match event {
            AccountEvent::AllocationReturned {
                pledge_id,
                allocation_id,
                remaining,
                ..
            } => {
                let Some(allocation) = self
                    .pledges
                    .get_mut(pledge_id)
                    .and_then(|p| p.returned(*allocation_id, *remaining))
                else {
                    return;
                };
                self.dirty.pledges.insert(*pledge_id);
                allocate(self.touch(at), &allocation, reporting, false);
            }
            AccountEvent::DisbursementPaid {
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                self.touch(at).disbursed.add(amount.currency(), part);
            }
            AccountEvent::DisbursementReversed {
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                let fund = self.touch(at);
                fund.disbursed.sub(amount.currency(), part);
                fund.reversed.add(amount.currency(), part);
            }
            AccountEvent::DisbursementRefunded {
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                let fund = self.touch(at);
                fund.disbursed.sub(amount.currency(), part);
                fund.refunded.add(amount.currency(), part);
            }
            AccountEvent::Credited { .. }
            | AccountEvent::Closed { .. }
            | AccountEvent::TrancheUnlocked { .. }
            | AccountEvent::DisbursementRequested { .. }
            | AccountEvent::DisbursementApproved { .. }
            | AccountEvent::DisbursementRejected { .. } => {}
        }
    }
}

/// What a receipt correction changes in the receipts' value beyond the value of the
/// unallocated money (see [`OverviewDoc::kept_at_cost`]); `None` for other events, and for
/// values in another currency than the fund reports in, which the figures count as unrated.
fn kept_at_cost(event: &PledgeEvent, reporting: Reporting) -> Option<Part> {
    let (received, unallocated) = match event {
        // The receipt leaves `received` at its value as last booked, and the unallocated
        // money at the value the domain took out of it.
        PledgeEvent::ReceiptReversed {
            reporting_amount,
            unallocated_reporting,
            ..
        } => (
            reporting_amount.checked_neg().ok()?,
            unallocated_reporting.checked_neg().ok()?,
        ),
        PledgeEvent::ReceiptRerated {
            previous_reporting_amount,
            reporting_amount,
            unallocated_reporting_change,
            ..
        } => (
            reporting_amount
                .checked_sub(*previous_reporting_amount)
                .ok()?,
            *unallocated_reporting_change,
        ),
        _ => return None,
    };
    let currency = reporting.currency();
    if received.currency() != currency || unallocated.currency() != currency {
        return None;
    }
    let value = received
        .minor_units()
        .checked_sub(unallocated.minor_units())?;
    Some(Part::rated(0, value))
}

fn allocate(fund: &mut OverviewDoc, allocation: &AllocationDoc, reporting: Reporting, add: bool) {
    signed(
        &mut fund.allocated_from,
        allocation.amount.currency(),
        allocation.source_part(reporting),
        add,
    );
    signed(
        &mut fund.allocated,
        allocation.project_amount.currency(),
        allocation.project_part(reporting),
        add,
    );
}

impl View for FundOverview {
    const NAME: &'static str = "fund_overview";

    fn new(reporting: Reporting) -> Self {
        Self {
            reporting,
            mark: Mark::default(),
            fund: OverviewDoc::default(),
            pledges: HashMap::default(),
            dirty: Dirty::default(),
        }
    }

    fn reporting(&self) -> Reporting {
        self.reporting
    }

    fn mark(&self) -> Mark {
        self.mark
    }

    fn apply(&mut self, at: Mark, event: &Event) {
        self.mark = at;
        let reporting = self.reporting;
        match event {
            Event::Donor(DonorEvent::Registered { .. }) => {
                let fund = self.touch(at);
                fund.donors = fund.donors.saturating_add(1);
            }
            Event::Pledge(e) => self.on_pledge(at, e),
            Event::Matching(MatchingEvent::Opened { .. }) => {
                let fund = self.touch(at);
                fund.pools = fund.pools.saturating_add(1);
            }
            Event::Matching(MatchingEvent::FundsReceived { amount, .. }) => {
                self.touch(at)
                    .matching_funds
                    .add(amount.currency(), reporting.own(*amount));
            }
            Event::Matching(e) => {
                if let Some(change) = match_change(e) {
                    let (currency, part) = (change.amount.currency(), reporting.own(change.amount));
                    let fund = self.touch(at);
                    change.step.apply(
                        &mut fund.matched_reserved,
                        &mut fund.matched_confirmed,
                        currency,
                        part,
                    );
                }
            }
            Event::Project(fundtrail_domain::ProjectEvent::Registered { .. }) => {
                let fund = self.touch(at);
                fund.projects = fund.projects.saturating_add(1);
            }
            Event::Project(_)
            | Event::Calendar(_)
            | Event::Donor(DonorEvent::MatchingEligibilityChanged { .. }) => {}
            Event::Account(e) => self.on_account(at, e),
        }
    }

    fn skip(&mut self, at: Mark) {
        self.mark = at;
    }

    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut docs = Vec::with_capacity(dirty.pledges.len() + 1);
        if dirty.overview {
            docs.push(Doc::of(KIND_FUND, FUND_KEY, &self.fund)?);
        }
        for id in &dirty.pledges {
            if let Some(doc) = self.pledges.get(id) {
                docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
            }
        }
        Ok(docs)
    }

    fn clear_changes(&mut self) {
        self.dirty = Dirty::default();
    }

    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error> {
        let mut docs = Vec::with_capacity(self.pledges.len() + 1);
        docs.push(Doc::of(KIND_FUND, FUND_KEY, &self.fund)?);
        for (id, doc) in &self.pledges {
            docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
        }
        Ok(docs)
    }

    fn restore(reporting: Reporting, at: Mark, docs: Vec<StoredDoc>) -> Result<Self, RestoreError> {
        let mut view = Self::new(reporting);
        view.mark = at;
        for doc in docs {
            match doc.kind.as_str() {
                KIND_FUND => view.fund = doc.value()?,
                KIND_PLEDGE => {
                    view.pledges.insert(doc.key()?, doc.value()?);
                }
                other => return Err(doc.error(format!("unknown document kind {other:?}"))),
            }
        }
        Ok(view)
    }
}

const KIND_FUND: &str = "fund";
const KIND_PLEDGE: &str = "pledge";
const FUND_KEY: &str = "fund";
