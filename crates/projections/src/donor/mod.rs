//! Donor statements: what each donor pledged, committed and paid, where their money went by
//! country and project, the matching their contributions earned or (for the matching donor)
//! provided, and their open pledges; and the statement's lines, each receipt, allocation and
//! disbursement their money funded (see [`lines`]).
//!
//! Amounts are in the donor's own currencies (the pledges'), with their reporting value; an
//! allocation is the donor's money as they gave it, so it is counted in the pledge's currency
//! here, where the country view counts it in the project's.

use std::collections::{BTreeMap, BTreeSet};

use foldhash::HashMap;

use fundtrail_domain::{
    AccountEvent, CountryCode, DonorEvent, DonorId, DonorKind, Event, MatchingEvent, PledgeEvent,
    PledgeId, ProjectEvent, ProjectId,
};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::doc::{Dirty, Doc, Mark, RestoreError, StoredDoc, View};
use crate::figure::{Figure, Reporting};
use crate::fold::{entry, match_change, signed};
use crate::pledge::{AllocationDoc, PledgeChange, PledgeDoc, PledgeFigures, pledge_id};
use crate::rates::{RateBook, RatePurpose};

pub mod lines;
mod report;

use lines::Lines;

pub use report::{
    AllocationReport, DisbursementReport, DonorCountryReport, DonorProjectReport, DonorReport,
    MatchingReport, OpenPledge, PlaceReport, ReceiptReport,
};

/// A donor's money for one country, or (under no country) unearmarked.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonorPlace {
    /// Earmarked for the country (or unearmarked).
    pub pledged: Figure,
    pub committed: Figure,
    pub received: Figure,
    /// Allocated to the country's projects, from any of the donor's pledges.
    pub allocated: Figure,
}

/// What a donor's pledges allocated to one project: a document of its own (kind `funded`,
/// key `<donor>/<project>`), so a donor's statement does not grow with every project it funds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Funded {
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    pub allocated: Figure,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MatchingFigures {
    pub reserved: Figure,
    pub confirmed: Figure,
    /// For the matching donor: its own money received into its pools.
    #[serde(default)]
    pub funds: Figure,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonorDoc {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub pledged: Figure,
    pub committed: Figure,
    pub outstanding: Figure,
    pub received: Figure,
    pub allocated: Figure,
    /// Unallocated money paid back to the donor.
    #[serde(default)]
    pub refunded: Figure,
    #[serde(with = "codec::text_keys")]
    pub countries: BTreeMap<CountryCode, DonorPlace>,
    pub unearmarked: DonorPlace,
    pub matching_earned: MatchingFigures,
    pub matching_provided: MatchingFigures,
    pub rates: RateBook,
    pub changed_at: u64,
    /// Derived from the pledge documents when the view is restored.
    #[serde(skip)]
    pub pledges: BTreeSet<PledgeId>,
}

impl DonorDoc {
    fn place(&mut self, country: Option<CountryCode>) -> &mut DonorPlace {
        match country {
            Some(code) => self.countries.entry(code).or_default(),
            None => &mut self.unearmarked,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectTitle {
    pub title: String,
    #[serde(with = "codec::text_opt", default)]
    pub country: Option<CountryCode>,
}

/// The donor statements view.
#[derive(Debug, Clone)]
pub struct DonorStatements {
    pub(crate) reporting: Reporting,
    pub(crate) mark: Mark,
    pub(crate) donors: BTreeMap<DonorId, DonorDoc>,
    pub(crate) pledges: HashMap<PledgeId, PledgeDoc>,
    pub(crate) projects: HashMap<ProjectId, ProjectTitle>,
    pub(crate) funded: BTreeMap<DonorId, BTreeMap<ProjectId, Funded>>,
    /// Each donor's receipts, allocations and the disbursements its money funded.
    pub(crate) lines: Lines,
    dirty: Dirty,
}

fn donor_doc<'a>(
    donors: &'a mut BTreeMap<DonorId, DonorDoc>,
    dirty: &mut Dirty,
    id: &DonorId,
    position: u64,
) -> &'a mut DonorDoc {
    dirty.donor(id);
    let doc = entry(donors, id);
    doc.changed_at = position;
    doc
}

pub(crate) fn kind_name(kind: DonorKind) -> &'static str {
    match kind {
        DonorKind::Government => "government",
        DonorKind::Multilateral => "multilateral",
        DonorKind::Private => "private",
    }
}

impl DonorStatements {
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
            self.pledges.entry(id).or_insert_with(|| {
                PledgeDoc::recorded(donor_id.clone(), *amount, earmark.country())
            });
        }
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
            PledgeChange::Refunded(part) => Some(Ok(Err(part))),
            PledgeChange::Allocated(doc) => Some(Ok(Ok((doc.clone(), true)))),
            PledgeChange::Released(doc) => Some(Ok(Ok((doc, false)))),
        };
        let after = pledge.figures(reporting);
        let donor = donor_doc(
            &mut self.donors,
            &mut self.dirty,
            &pledge.donor,
            at.position,
        );
        donor.pledges.insert(id);
        if before != after {
            donor.pledged.shift(currency, before.pledged, after.pledged);
            donor
                .committed
                .shift(currency, before.committed, after.committed);
            donor
                .outstanding
                .shift(currency, before.outstanding, after.outstanding);
            let place = donor.place(earmark);
            place.pledged.shift(currency, before.pledged, after.pledged);
            place
                .committed
                .shift(currency, before.committed, after.committed);
        }
        match change {
            None => {}
            Some(Err(received)) => {
                donor.received.add(currency, received);
                donor.place(earmark).received.add(currency, received);
                match event {
                    PledgeEvent::ContributionReceived { rate, .. } => {
                        donor.rates.record(RatePurpose::Receipt, rate.as_ref());
                    }
                    PledgeEvent::ReceiptRerated { rate, .. } => {
                        donor.rates.record(RatePurpose::Receipt, Some(rate));
                    }
                    _ => {}
                }
            }
            Some(Ok(Err(refunded))) => donor.refunded.add(currency, refunded),
            Some(Ok(Ok((allocation, add)))) => {
                self.dirty
                    .funded
                    .insert((pledge.donor.clone(), allocation.project));
                let funded = entry(&mut self.funded, &pledge.donor);
                allocate(donor, funded, &allocation, reporting, add);
            }
        }
    }

    fn on_matching(&mut self, at: Mark, event: &MatchingEvent) {
        let reporting = self.reporting;
        if let MatchingEvent::FundsReceived {
            matching_donor_id,
            amount,
            ..
        } = event
        {
            let doc = donor_doc(
                &mut self.donors,
                &mut self.dirty,
                matching_donor_id,
                at.position,
            );
            doc.matching_provided
                .funds
                .add(amount.currency(), reporting.own(*amount));
            return;
        }
        let Some(change) = match_change(event) else {
            return;
        };
        let (currency, part) = (change.amount.currency(), reporting.own(change.amount));
        let earned = donor_doc(
            &mut self.donors,
            &mut self.dirty,
            change.contributing,
            at.position,
        );
        let m = &mut earned.matching_earned;
        change
            .step
            .apply(&mut m.reserved, &mut m.confirmed, currency, part);
        let provided = donor_doc(
            &mut self.donors,
            &mut self.dirty,
            change.matching,
            at.position,
        );
        let m = &mut provided.matching_provided;
        change
            .step
            .apply(&mut m.reserved, &mut m.confirmed, currency, part);
    }

    fn on_account(&mut self, at: Mark, event: &AccountEvent) {
        let AccountEvent::AllocationReturned {
            pledge_id,
            allocation_id,
            remaining,
            ..
        } = event
        else {
            return;
        };
        let Some(pledge) = self.pledges.get_mut(pledge_id) else {
            return;
        };
        let Some(allocation) = pledge.returned(*allocation_id, *remaining) else {
            return;
        };
        self.dirty.pledges.insert(*pledge_id);
        let doc = donor_doc(
            &mut self.donors,
            &mut self.dirty,
            &pledge.donor,
            at.position,
        );
        self.dirty
            .funded
            .insert((pledge.donor.clone(), allocation.project));
        let funded = entry(&mut self.funded, &pledge.donor);
        allocate(doc, funded, &allocation, self.reporting, false);
    }
}

fn allocate(
    donor: &mut DonorDoc,
    funded: &mut BTreeMap<ProjectId, Funded>,
    allocation: &AllocationDoc,
    reporting: Reporting,
    add: bool,
) {
    let (currency, part) = (
        allocation.amount.currency(),
        allocation.source_part(reporting),
    );
    signed(&mut donor.allocated, currency, part, add);
    let place = donor.countries.entry(allocation.country).or_default();
    signed(&mut place.allocated, currency, part, add);
    let project = funded.entry(allocation.project).or_insert_with(|| Funded {
        country: allocation.country,
        allocated: Figure::default(),
    });
    signed(&mut project.allocated, currency, part, add);
}

impl View for DonorStatements {
    const NAME: &'static str = "donor_statements";

    fn new(reporting: Reporting) -> Self {
        Self {
            reporting,
            mark: Mark::default(),
            donors: BTreeMap::new(),
            pledges: HashMap::default(),
            projects: HashMap::default(),
            funded: BTreeMap::new(),
            lines: Lines::default(),
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
            Event::Donor(DonorEvent::Registered {
                donor_id,
                name,
                kind,
                ..
            }) => {
                let doc = donor_doc(&mut self.donors, &mut self.dirty, donor_id, at.position);
                doc.name = Some(name.clone());
                doc.kind = Some(kind_name(*kind).to_owned());
            }
            Event::Pledge(e) => {
                self.on_pledge(at, e);
                // After the pledge document, whose allocations the lines follow.
                self.lines.on_pledge(at.recorded_at, e, &self.pledges);
            }
            Event::Matching(e) => {
                self.on_matching(at, e);
                self.lines.on_matching(e);
            }
            Event::Project(ProjectEvent::Registered {
                project_id,
                country,
                title,
                ..
            }) => {
                self.projects.insert(
                    *project_id,
                    ProjectTitle {
                        title: title.clone(),
                        country: Some(*country),
                    },
                );
                self.dirty.projects.insert(*project_id);
            }
            Event::Project(_)
            | Event::Calendar(_)
            | Event::Donor(DonorEvent::MatchingEligibilityChanged { .. }) => {}
            Event::Account(e) => {
                self.on_account(at, e);
                self.lines.on_account(e, &self.pledges);
            }
        }
    }

    fn skip(&mut self, at: Mark) {
        self.mark = at;
    }

    fn take_changes(&mut self) -> Result<Vec<Doc>, serde_json::Error> {
        let dirty = std::mem::take(&mut self.dirty);
        let mut docs = Vec::new();
        for id in &dirty.donors {
            if let Some(doc) = self.donors.get(id) {
                docs.push(Doc::of(KIND_DONOR, id, doc)?);
            }
        }
        for id in &dirty.pledges {
            if let Some(doc) = self.pledges.get(id) {
                docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
            }
        }
        for id in &dirty.projects {
            if let Some(doc) = self.projects.get(id) {
                docs.push(Doc::of(KIND_PROJECT, id, doc)?);
            }
        }
        for (donor, project) in &dirty.funded {
            if let Some(doc) = self.funded.get(donor).and_then(|f| f.get(project)) {
                docs.push(Doc::of(KIND_FUNDED, format!("{donor}/{project}"), doc)?);
            }
        }
        self.lines.take_changes(&mut docs)?;
        Ok(docs)
    }

    fn clear_changes(&mut self) {
        self.dirty = Dirty::default();
        self.lines.clear_changes();
    }

    fn all_docs(&self) -> Result<Vec<Doc>, serde_json::Error> {
        let mut docs =
            Vec::with_capacity(self.donors.len() + self.pledges.len() + self.projects.len());
        for (id, doc) in &self.donors {
            docs.push(Doc::of(KIND_DONOR, id, doc)?);
        }
        for (id, doc) in &self.pledges {
            docs.push(Doc::of(KIND_PLEDGE, id, doc)?);
        }
        for (id, doc) in &self.projects {
            docs.push(Doc::of(KIND_PROJECT, id, doc)?);
        }
        for (donor, funded) in &self.funded {
            for (project, doc) in funded {
                docs.push(Doc::of(KIND_FUNDED, format!("{donor}/{project}"), doc)?);
            }
        }
        self.lines.all_docs(&mut docs)?;
        Ok(docs)
    }

    fn restore(reporting: Reporting, at: Mark, docs: Vec<StoredDoc>) -> Result<Self, RestoreError> {
        let mut view = Self::new(reporting);
        view.mark = at;
        for doc in docs {
            match doc.kind.as_str() {
                KIND_DONOR => {
                    view.donors.insert(doc.key()?, doc.value()?);
                }
                KIND_PLEDGE => {
                    view.pledges.insert(doc.key()?, doc.value()?);
                }
                KIND_PROJECT => {
                    view.projects.insert(doc.key()?, doc.value()?);
                }
                KIND_FUNDED => {
                    let (donor, project) = doc
                        .key
                        .split_once('/')
                        .ok_or_else(|| doc.error("the key is not <donor>/<project>"))?;
                    let donor: DonorId = donor.parse().map_err(|e| doc.error(e))?;
                    let project: ProjectId = project.parse().map_err(|e| doc.error(e))?;
                    entry(&mut view.funded, &donor).insert(project, doc.value()?);
                }
                other => {
                    if !view.lines.restore(&doc)? {
                        return Err(doc.error(format!("unknown document kind {other:?}")));
                    }
                }
            }
        }
        for (id, pledge) in &view.pledges {
            entry(&mut view.donors, &pledge.donor).pledges.insert(*id);
        }
        Ok(view)
    }
}

const KIND_DONOR: &str = "donor";
const KIND_PLEDGE: &str = "pledge";
const KIND_PROJECT: &str = "project";
const KIND_FUNDED: &str = "funded";
