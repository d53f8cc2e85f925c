//! The per-country funding view (docs/architecture.md §6).
//!
//! Each country collects what donors earmarked for it (pledged, committed, outstanding,
//! received), the matching reserved and confirmed for contributions to it, what was allocated
//! to its projects (from any pledge, earmarked or not) and what was disbursed from their
//! accounts, plus its projects' milestone indicators and the rates its figures used.
//! Unearmarked pledges and receipts belong to no country until they are allocated.
//!
//! Allocations are counted once each: from `ContributionAllocated` until the first of
//! `AllocationReturned` (the project account gave it back) or `AllocationReleased` (the pledge
//! took it back), whichever arrives first. Disbursed figures are net: payments less reversals
//! and refunds; refunds are also kept on their own.

use std::collections::BTreeMap;

use foldhash::HashMap;

use fundtrail_domain::{
    CountryCode, DonorEvent, DonorId, Event, MatchingEvent, PledgeEvent, PledgeId, ProjectId,
};

use crate::doc::{Dirty, Doc, Mark, RestoreError, StoredDoc, View};
use crate::figure::Reporting;

mod docs;
mod events;
mod report;

use crate::fold::{entry, match_change, signed};
use crate::pledge::{AllocationDoc, PledgeChange, PledgeDoc, PledgeFigures, pledge_id};
use crate::rates::RatePurpose;
pub use docs::{
    CountryDoc, DonorName, DonorShare, IndicatorKey, MilestoneDoc, ProjectDoc, ReleaseDoc,
};
pub use report::{
    CountryReport, CurrencyReport, DonorShareReport, IndicatorReport, ProjectReport, TrancheReport,
};

/// The per-country funding view.
#[derive(Debug, Clone)]
pub struct CountryFunding {
    pub(crate) reporting: Reporting,
    pub(crate) mark: Mark,
    pub(crate) countries: BTreeMap<CountryCode, CountryDoc>,
    pub(crate) projects: HashMap<ProjectId, ProjectDoc>,
    pub(crate) pledges: HashMap<PledgeId, PledgeDoc>,
    pub(crate) donors: HashMap<DonorId, DonorName>,
    dirty: Dirty,
}

/// A country's document, marked changed at `position`.
fn country_doc<'a>(
    countries: &'a mut BTreeMap<CountryCode, CountryDoc>,
    dirty: &mut Dirty,
    code: CountryCode,
    position: u64,
) -> &'a mut CountryDoc {
    dirty.countries.insert(code);
    let doc = countries.entry(code).or_default();
    doc.changed_at = position;
    doc
}

fn share<'a>(doc: &'a mut CountryDoc, donor: &DonorId) -> &'a mut DonorShare {
    entry(&mut doc.donors, donor)
}

/// A project's document, marked changed, created if its registration has not been seen.
fn project_doc<'a>(
    countries: &mut BTreeMap<CountryCode, CountryDoc>,
    projects: &'a mut HashMap<ProjectId, ProjectDoc>,
    dirty: &mut Dirty,
    id: ProjectId,
    country: CountryCode,
) -> &'a mut ProjectDoc {
    if dirty.projects.insert(id) {
        countries.entry(country).or_default().projects.insert(id);
    }
    projects
        .entry(id)
        .or_insert_with(|| ProjectDoc::unregistered(country))
}

/// Adds an allocation (`add`) or takes it back, on its country, its donor's share there and
/// its project.
#[allow(clippy::too_many_arguments)]
fn allocate(
    countries: &mut BTreeMap<CountryCode, CountryDoc>,
    projects: &mut HashMap<ProjectId, ProjectDoc>,
    dirty: &mut Dirty,
    reporting: Reporting,
    at: Mark,
    donor: &DonorId,
    allocation: &AllocationDoc,
    add: bool,
) {
    let (source, project) = (
        allocation.source_part(reporting),
        allocation.project_part(reporting),
    );
    let (source_currency, project_currency) = (
        allocation.amount.currency(),
        allocation.project_amount.currency(),
    );
    let doc = country_doc(countries, dirty, allocation.country, at.position);
    signed(&mut doc.allocated, project_currency, project, add);
    signed(
        &mut share(doc, donor).allocated,
        source_currency,
        source,
        add,
    );
    let project_doc = project_doc(
        countries,
        projects,
        dirty,
        allocation.project,
        allocation.country,
    );
    signed(&mut project_doc.allocated, project_currency, project, add);
}

impl CountryFunding {
    fn project(&mut self, id: ProjectId, country: CountryCode) -> &mut ProjectDoc {
        project_doc(
            &mut self.countries,
            &mut self.projects,
            &mut self.dirty,
            id,
            country,
        )
    }

    fn on_pledge(&mut self, at: Mark, event: &PledgeEvent) {
        let id = pledge_id(event);
        if let PledgeEvent::Recorded {
            donor_id,
            amount,
            earmark,
            ..
        } = event
        {
            self.pledges.entry(id).or_insert_with(|| {
                PledgeDoc::recorded(donor_id.clone(), *amount, earmark.country())
            });
        }
        let reporting = self.reporting;
        let Some(pledge) = self.pledges.get_mut(&id) else {
            return;
        };
        self.dirty.pledges.insert(id);
        let before = if matches!(event, PledgeEvent::Recorded { .. }) {
            PledgeFigures::default()
        } else {
            pledge.figures(reporting)
        };
        let (currency, earmark) = (pledge.currency, pledge.country);
        let change = match pledge.apply(event, reporting) {
            PledgeChange::None => None,
            PledgeChange::Received(part) => Some(Err(part)),
            PledgeChange::Refunded(part) => {
                if let Some(code) = earmark {
                    let doc = country_doc(&mut self.countries, &mut self.dirty, code, at.position);
                    doc.refunded_to_donors.add(currency, part);
                }
                None
            }
            PledgeChange::Allocated(doc) => Some(Ok((doc.clone(), true))),
            PledgeChange::Released(doc) => Some(Ok((doc, false))),
        };
        let after = pledge.figures(reporting);
        let donor = &pledge.donor;
        if let Some(code) = earmark {
            let doc = country_doc(&mut self.countries, &mut self.dirty, code, at.position);
            shift(doc, donor, currency, before, after);
            if let Some(Err(received)) = change {
                doc.received.add(currency, received);
                share(doc, donor).received.add(currency, received);
                match event {
                    PledgeEvent::ContributionReceived { rate, .. } => {
                        doc.rates.record(RatePurpose::Receipt, rate.as_ref());
                    }
                    PledgeEvent::ReceiptRerated { rate, .. } => {
                        doc.rates.record(RatePurpose::Receipt, Some(rate));
                    }
                    _ => {}
                }
            }
        }
        if let Some(Ok((allocation, add))) = change {
            if let PledgeEvent::ContributionAllocated { rate, .. } = event {
                let code = allocation.country;
                let doc = country_doc(&mut self.countries, &mut self.dirty, code, at.position);
                doc.rates.record(RatePurpose::Allocation, rate.as_ref());
            }
            allocate(
                &mut self.countries,
                &mut self.projects,
                &mut self.dirty,
                reporting,
                at,
                donor,
                &allocation,
                add,
            );
        }
    }

    fn on_matching(&mut self, at: Mark, event: &MatchingEvent) {
        let Some(change) = match_change(event) else {
            return;
        };
        let part = self.reporting.own(change.amount);
        let currency = change.amount.currency();
        let doc = country_doc(
            &mut self.countries,
            &mut self.dirty,
            change.country,
            at.position,
        );
        change.step.apply(
            &mut doc.matched_reserved,
            &mut doc.matched_confirmed,
            currency,
            part,
        );
        let share = share(doc, change.contributing);
        change.step.apply(
            &mut share.matched_reserved,
            &mut share.matched_confirmed,
            currency,
            part,
        );
    }
}

/// Moves a pledge's promised amounts on its country and its donor's share there.
fn shift(
    doc: &mut CountryDoc,
    donor: &DonorId,
    currency: fundtrail_domain::Currency,
    before: PledgeFigures,
    after: PledgeFigures,
) {
    if before == after {
        return;
    }
    doc.pledged.shift(currency, before.pledged, after.pledged);
    doc.committed
        .shift(currency, before.committed, after.committed);
    doc.outstanding
        .shift(currency, before.outstanding, after.outstanding);
    let share = share(doc, donor);
    share.pledged.shift(currency, before.pledged, after.pledged);
    share
        .committed
        .shift(currency, before.committed, after.committed);
    share
        .outstanding
        .shift(currency, before.outstanding, after.outstanding);
}

impl View for CountryFunding {
    const NAME: &'static str = "country_funding";

    fn new(reporting: Reporting) -> Self {
        Self {
            reporting,
            mark: Mark::default(),
            countries: BTreeMap::new(),
            projects: HashMap::default(),
            pledges: HashMap::default(),
            donors: HashMap::default(),
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
        match event {
            Event::Donor(DonorEvent::Registered { donor_id, name, .. }) => {
                self.donors
                    .insert(donor_id.clone(), DonorName { name: name.clone() });
                self.dirty.donor(donor_id);
            }
            // A close moves no money; the views of a closed period simply stop changing.
            Event::Donor(DonorEvent::MatchingEligibilityChanged { .. }) | Event::Calendar(_) => {}
            Event::Pledge(e) => self.on_pledge(at, e),
            Event::Matching(e) => self.on_matching(at, e),
            Event::Project(e) => self.on_project(at, e),
            Event::Account(e) => self.on_account(at, e),
        }
    }

    fn skip(&mut self, at: Mark) {
        self.mark = at;
    }

    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut docs = Vec::new();
        for code in &dirty.countries {
            if let Some(doc) = self.countries.get(code) {
                docs.push(Doc::of(KIND_COUNTRY, code, doc)?);
            }
        }
        for id in &dirty.projects {
            if let Some(doc) = self.projects.get(id) {
                docs.push(Doc::of(KIND_PROJECT, id, doc)?);
            }
        }
        for id in &dirty.pledges {
            if let Some(doc) = self.pledges.get(id) {
                docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
            }
        }
        for id in &dirty.donors {
            if let Some(doc) = self.donors.get(id) {
                docs.push(Doc::of(KIND_DONOR, id, doc)?);
            }
        }
        Ok(docs)
    }

    fn clear_changes(&mut self) {
        self.dirty = Dirty::default();
    }

    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error> {
        let mut docs = Vec::with_capacity(
            self.countries.len() + self.projects.len() + self.pledges.len() + self.donors.len(),
        );
        for (code, doc) in &self.countries {
            docs.push(Doc::of(KIND_COUNTRY, code, doc)?);
        }
        for (id, doc) in &self.projects {
            docs.push(Doc::of(KIND_PROJECT, id, doc)?);
        }
        for (id, doc) in &self.pledges {
            docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
        }
        for (id, doc) in &self.donors {
            docs.push(Doc::of(KIND_DONOR, id, doc)?);
        }
        Ok(docs)
    }

    fn restore(reporting: Reporting, at: Mark, docs: Vec<StoredDoc>) -> Result<Self, RestoreError> {
        let mut view = Self::new(reporting);
        view.mark = at;
        for doc in docs {
            match doc.kind.as_str() {
                KIND_COUNTRY => {
                    view.countries.insert(doc.key()?, doc.value()?);
                }
                KIND_PROJECT => {
                    view.projects.insert(doc.key()?, doc.value()?);
                }
                KIND_PLEDGE => {
                    view.pledges.insert(doc.key()?, doc.value()?);
                }
                KIND_DONOR => {
                    view.donors.insert(doc.key()?, doc.value()?);
                }
                other => return Err(doc.error(format!("unknown document kind {other:?}"))),
            }
        }
        for (id, project) in &view.projects {
            view.countries
                .entry(project.country)
                .or_default()
                .projects
                .insert(*id);
        }
        Ok(view)
    }
}

const KIND_COUNTRY: &str = "country";
const KIND_PROJECT: &str = "project";
const KIND_PLEDGE: &str = "pledge";
const KIND_DONOR: &str = "donor";
