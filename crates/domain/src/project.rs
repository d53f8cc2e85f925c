//! Projects in mine-affected countries and their milestones.
//!
//! A project is registered with its country, implementing partner, IATI sector (15250,
//! "Removal of land mines and explosive remnants of war", by default) and budget. Milestones
//! are planned with an indicator, a target, the tranche they release and the rule by which
//! verified output releases it. The partner reports progress with evidence; someone other than
//! the reporter verifies or rejects it. A verified milestone is what allows its tranche to be
//! paid (see the project account), up to what the verification released.
//!
//! # Payment by results
//!
//! A project is registered as [`FundingModality::ResultsBased`] or
//! [`FundingModality::AdvanceFunded`]. In a results-based project every disbursement pays for
//! a verified milestone; an advance-funded one may also pay without naming one. Each milestone
//! is planned with its [`ReleaseRule`]:
//! - `Proportional` releases `floor(tranche × min(actual, target) ÷ target)` minor units, so
//!   the partner is paid for the output verified, never for more than the target;
//! - `AllOrNothing` releases the whole tranche when `actual ≥ target`, and nothing otherwise.
//!
//! Verification computes the release once and records it on `MilestoneVerified` (with the
//! rule), so the account and every view take the amount from the event rather than working it
//! out again. A verified milestone's figures are final: what a shortfall withheld stays
//! withheld. Events recorded before these rules existed are read as they were meant: such a
//! project is advance-funded, and such a milestone released its whole tranche on verification
//! ([`ReleaseRule::WholeOnVerification`], which new milestones cannot choose).
//!
//! Longer than most files on purpose: the aggregate's state, its `decide` and its `evolve` stay
//! together so that every rule it enforces is read in one place.

use std::collections::BTreeMap;

use chrono::NaiveDate;

use crate::aggregate::{Aggregate, VersionCounter, positive, text};
use crate::country::CountryCode;
use crate::error::{DomainError, Reason};
use crate::ids::{Actor, ProjectId};
use crate::money::{Currency, Money};

/// The DAC 5 sector code for mine action.
pub const SECTOR_MINE_ACTION: u32 = 15250;

/// What a milestone measures.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Indicator {
    SquareMetresCleared,
    DevicesDestroyed,
    Other { name: String, unit: String },
}

impl Indicator {
    pub fn unit(&self) -> &str {
        match self {
            Indicator::SquareMetresCleared => "m²",
            Indicator::DevicesDestroyed => "devices",
            Indicator::Other { unit, .. } => unit,
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Indicator::SquareMetresCleared => "square metres cleared",
            Indicator::DevicesDestroyed => "devices destroyed",
            Indicator::Other { name, .. } => name,
        }
    }
}

/// Whether a project's money follows verified results or is advanced to the partner.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum FundingModality {
    /// Disbursements may be made without naming a milestone (an advance against the work
    /// plan); a disbursement that names one is still held to what it released. How every
    /// project registered before the modality was chosen is read.
    #[default]
    AdvanceFunded,
    /// Every disbursement names a verified milestone and stays within what it released.
    ResultsBased,
}

/// How a verified milestone's tranche follows the output verified against its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReleaseRule {
    /// `floor(tranche × min(actual, target) ÷ target)` minor units.
    Proportional,
    /// The whole tranche when the target is met, nothing otherwise.
    AllOrNothing,
    /// The whole tranche, whatever the figures: what verification meant for milestones
    /// planned before a rule was chosen. Kept so their history keeps its meaning; a new
    /// milestone must choose one of the other rules.
    WholeOnVerification,
}

impl ReleaseRule {
    /// What verifying `actual` against `target` releases of `tranche`: between nothing and
    /// the whole tranche, in the tranche's currency, computed in integers.
    pub fn release(self, tranche: Money, target: u64, actual: u64) -> Result<Money, DomainError> {
        let released = match self {
            ReleaseRule::WholeOnVerification => tranche.minor_units(),
            ReleaseRule::AllOrNothing if actual >= target => tranche.minor_units(),
            ReleaseRule::AllOrNothing => 0,
            ReleaseRule::Proportional => {
                if target == 0 {
                    return Err(DomainError::invalid(
                        "target",
                        "a milestone's target must be positive",
                    ));
                }
                let achieved = i128::from(actual.min(target));
                // At most the tranche, since achieved ≤ target; i128 holds the product of any
                // i64 and u64, so only a broken invariant could fail here.
                i128::from(tranche.minor_units())
                    .checked_mul(achieved)
                    .map(|product| product / i128::from(target))
                    .and_then(|share| i64::try_from(share).ok())
                    .ok_or(crate::money::MoneyError::Overflow)?
            }
        };
        Ok(Money::new(tranche.currency(), released))
    }

    pub fn name(self) -> &'static str {
        match self {
            ReleaseRule::Proportional => "proportional",
            ReleaseRule::AllOrNothing => "all-or-nothing",
            ReleaseRule::WholeOnVerification => "whole on verification",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partner {
    pub name: String,
    /// The partner's IATI organisation identifier, when it has one.
    pub iati_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectEvent {
    Registered {
        project_id: ProjectId,
        country: CountryCode,
        partner: Partner,
        title: String,
        sector_code: u32,
        budget: Money,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
        funding: FundingModality,
    },
    MilestonePlanned {
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        title: String,
        indicator: Indicator,
        target: u64,
        tranche: Money,
        due_on: NaiveDate,
        release_rule: ReleaseRule,
    },
    ProgressReported {
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        actual: u64,
        evidence_reference: String,
        reported_by: Actor,
    },
    MilestoneVerified {
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        indicator: Indicator,
        target: u64,
        actual: u64,
        tranche: Money,
        verified_by: Actor,
        /// What the verification released of the tranche under `release_rule`; `None` on
        /// milestones verified before releases were recorded, which released the whole
        /// tranche (see [`ProjectEvent::released`]).
        released: Option<Money>,
        release_rule: ReleaseRule,
    },
    MilestoneRejected {
        project_id: ProjectId,
        country: CountryCode,
        milestone: u32,
        reason: String,
        rejected_by: Actor,
    },
    Closed {
        project_id: ProjectId,
        country: CountryCode,
        reason: String,
    },
    /// The implementing partner changed: from now on disbursements are paid to `partner`.
    /// Its own event, so the payee of every payment traces to a registration or a change.
    PartnerChanged {
        project_id: ProjectId,
        country: CountryCode,
        partner: Partner,
        reason: String,
        changed_by: Actor,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProjectCommand {
    Register {
        project_id: ProjectId,
        country: CountryCode,
        partner: Partner,
        title: String,
        sector_code: Option<u32>,
        budget: Money,
        starts_on: NaiveDate,
        ends_on: NaiveDate,
        funding: FundingModality,
    },
    PlanMilestone {
        title: String,
        indicator: Indicator,
        target: u64,
        tranche: Money,
        due_on: NaiveDate,
        release_rule: ReleaseRule,
    },
    ReportProgress {
        milestone: u32,
        actual: u64,
        evidence_reference: String,
        reported_by: Actor,
    },
    Verify {
        milestone: u32,
        verified_by: Actor,
    },
    Reject {
        milestone: u32,
        reason: String,
        rejected_by: Actor,
    },
    Close {
        reason: String,
    },
    ChangePartner {
        partner: Partner,
        reason: String,
        changed_by: Actor,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MilestoneStatus {
    Planned,
    Reported,
    Verified,
    Rejected,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Milestone {
    pub title: String,
    pub indicator: Indicator,
    pub target: u64,
    pub tranche: Money,
    pub due_on: NaiveDate,
    pub actual: Option<u64>,
    pub reported_by: Option<Actor>,
    pub status: MilestoneStatus,
    pub release_rule: ReleaseRule,
    /// What verification released; `None` until verified.
    pub released: Option<Money>,
}

impl Milestone {
    /// How far verified output fell short of the target; `None` until verified.
    pub fn shortfall(&self) -> Option<u64> {
        match (self.status, self.actual) {
            (MilestoneStatus::Verified, Some(actual)) => Some(self.target.saturating_sub(actual)),
            (MilestoneStatus::Verified, None) => Some(self.target),
            _ => None,
        }
    }

    /// The part of the tranche verification did not release; `None` until verified.
    pub fn withheld(&self) -> Option<Money> {
        self.released.map(|released| {
            Money::new(
                self.tranche.currency(),
                self.tranche
                    .minor_units()
                    .saturating_sub(released.minor_units()),
            )
        })
    }
}

/// What other aggregates need to know of a project (its country for earmarks, its currency
/// for allocations).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectSummary {
    pub project_id: ProjectId,
    pub country: CountryCode,
    pub currency: Currency,
    pub closed: bool,
    /// Who disbursements are paid to.
    pub partner: Partner,
    /// Whether every disbursement must pay for a verified milestone.
    pub funding: FundingModality,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectDetails {
    pub project_id: ProjectId,
    pub country: CountryCode,
    pub partner: Partner,
    pub title: String,
    pub sector_code: u32,
    pub budget: Money,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub funding: FundingModality,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Project {
    details: Option<ProjectDetails>,
    milestones: BTreeMap<u32, Milestone>,
    closed: bool,
    version: VersionCounter,
}

impl Project {
    pub fn stream(project_id: &ProjectId) -> String {
        format!("{}-{project_id}", Self::CATEGORY)
    }

    pub fn details(&self) -> Option<&ProjectDetails> {
        self.details.as_ref()
    }

    pub fn milestones(&self) -> &BTreeMap<u32, Milestone> {
        &self.milestones
    }

    pub fn is_closed(&self) -> bool {
        self.closed
    }

    pub fn summary(&self) -> Option<ProjectSummary> {
        self.details.as_ref().map(|d| ProjectSummary {
            project_id: d.project_id,
            country: d.country,
            currency: d.budget.currency(),
            closed: self.closed,
            partner: d.partner.clone(),
            funding: d.funding,
        })
    }

    fn require_open(&self) -> Result<&ProjectDetails, DomainError> {
        let details = self.details.as_ref().ok_or_else(|| {
            DomainError::refused(Reason::ProjectNotFound, "the project is not registered")
        })?;
        if self.closed {
            return Err(DomainError::refused(
                Reason::ProjectClosed,
                format!("project {} is closed", details.project_id),
            ));
        }
        Ok(details)
    }

    fn milestone(&self, number: u32) -> Result<&Milestone, DomainError> {
        self.milestones.get(&number).ok_or_else(|| {
            DomainError::refused(
                Reason::MilestoneNotFound,
                format!("the project has no milestone {number}"),
            )
        })
    }
}

impl Aggregate for Project {
    type Command = ProjectCommand;
    type Event = ProjectEvent;
    const CATEGORY: &'static str = "project";

    fn evolve(&mut self, event: &ProjectEvent) {
        self.version.advance();
        match event {
            ProjectEvent::Registered {
                project_id,
                country,
                partner,
                title,
                sector_code,
                budget,
                starts_on,
                ends_on,
                funding,
            } => {
                self.details = Some(ProjectDetails {
                    project_id: *project_id,
                    country: *country,
                    partner: partner.clone(),
                    title: title.clone(),
                    sector_code: *sector_code,
                    budget: *budget,
                    starts_on: *starts_on,
                    ends_on: *ends_on,
                    funding: *funding,
                });
            }
            ProjectEvent::MilestonePlanned {
                milestone,
                title,
                indicator,
                target,
                tranche,
                due_on,
                release_rule,
                ..
            } => {
                self.milestones.insert(
                    *milestone,
                    Milestone {
                        title: title.clone(),
                        indicator: indicator.clone(),
                        target: *target,
                        tranche: *tranche,
                        due_on: *due_on,
                        actual: None,
                        reported_by: None,
                        status: MilestoneStatus::Planned,
                        release_rule: *release_rule,
                        released: None,
                    },
                );
            }
            ProjectEvent::ProgressReported {
                milestone,
                actual,
                reported_by,
                ..
            } => {
                if let Some(m) = self.milestones.get_mut(milestone) {
                    m.actual = Some(*actual);
                    m.reported_by = Some(reported_by.clone());
                    m.status = MilestoneStatus::Reported;
                }
            }
            ProjectEvent::MilestoneVerified { milestone, .. } => {
                let released = event.released();
                if let Some(m) = self.milestones.get_mut(milestone) {
                    m.status = MilestoneStatus::Verified;
                    m.released = released;
                }
            }
            ProjectEvent::MilestoneRejected { milestone, .. } => {
                if let Some(m) = self.milestones.get_mut(milestone) {
                    m.status = MilestoneStatus::Rejected;
                }
            }
            ProjectEvent::Closed { .. } => self.closed = true,
            ProjectEvent::PartnerChanged { partner, .. } => {
                if let Some(details) = &mut self.details {
                    details.partner = partner.clone();
                }
            }
        }
    }

    fn decide(&self, command: ProjectCommand) -> Result<Vec<ProjectEvent>, DomainError> {
        match command {
            ProjectCommand::Register {
                project_id,
                country,
                partner,
                title,
                sector_code,
                budget,
                starts_on,
                ends_on,
                funding,
            } => {
                if self.details.is_some() {
                    return Err(DomainError::refused(
                        Reason::ProjectAlreadyRegistered,
                        format!("project {project_id} is already registered"),
                    ));
                }
                let sector_code = sector_code.unwrap_or(SECTOR_MINE_ACTION);
                if !(10_000..=99_999).contains(&sector_code) {
                    return Err(DomainError::invalid(
                        "sector_code",
                        "an IATI sector is a five-digit DAC 5 code, e.g. 15250",
                    ));
                }
                if ends_on < starts_on {
                    return Err(DomainError::invalid(
                        "ends_on",
                        "a project ends after it starts",
                    ));
                }
                let partner = valid_partner(partner)?;
                Ok(vec![ProjectEvent::Registered {
                    project_id,
                    country,
                    partner,
                    title: text("title", &title, 300, true)?,
                    sector_code,
                    budget: positive("budget", budget)?,
                    starts_on,
                    ends_on,
                    funding,
                }])
            }
            ProjectCommand::PlanMilestone {
                title,
                indicator,
                target,
                tranche,
                due_on,
                release_rule,
            } => self.plan(&title, indicator, target, tranche, due_on, release_rule),
            ProjectCommand::ReportProgress {
                milestone,
                actual,
                evidence_reference,
                reported_by,
            } => {
                let details = self.require_open()?;
                let m = self.milestone(milestone)?;
                if m.status == MilestoneStatus::Verified {
                    return Err(DomainError::refused(
                        Reason::MilestoneAlreadyVerified,
                        format!("milestone {milestone} is verified; its figures are final"),
                    ));
                }
                Ok(vec![ProjectEvent::ProgressReported {
                    project_id: details.project_id,
                    country: details.country,
                    milestone,
                    actual,
                    evidence_reference: text("evidence_reference", &evidence_reference, 300, true)?,
                    reported_by,
                }])
            }
            ProjectCommand::Verify {
                milestone,
                verified_by,
            } => {
                let details = self.require_open()?;
                let m = self.milestone(milestone)?;
                Self::check_reviewable(milestone, m, &verified_by)?;
                let actual = m.actual.unwrap_or_default();
                Ok(vec![ProjectEvent::MilestoneVerified {
                    project_id: details.project_id,
                    country: details.country,
                    milestone,
                    indicator: m.indicator.clone(),
                    target: m.target,
                    actual,
                    tranche: m.tranche,
                    verified_by,
                    released: Some(m.release_rule.release(m.tranche, m.target, actual)?),
                    release_rule: m.release_rule,
                }])
            }
            ProjectCommand::Reject {
                milestone,
                reason,
                rejected_by,
            } => {
                let details = self.require_open()?;
                let m = self.milestone(milestone)?;
                Self::check_reviewable(milestone, m, &rejected_by)?;
                Ok(vec![ProjectEvent::MilestoneRejected {
                    project_id: details.project_id,
                    country: details.country,
                    milestone,
                    reason: text("reason", &reason, 500, true)?,
                    rejected_by,
                }])
            }
            ProjectCommand::Close { reason } => {
                let details = self.require_open()?;
                Ok(vec![ProjectEvent::Closed {
                    project_id: details.project_id,
                    country: details.country,
                    reason: text("reason", &reason, 500, true)?,
                }])
            }
            ProjectCommand::ChangePartner {
                partner,
                reason,
                changed_by,
            } => {
                let details = self.require_open()?;
                let partner = valid_partner(partner)?;
                if partner == details.partner {
                    return Err(DomainError::refused(
                        Reason::PartnerUnchanged,
                        format!("{} is already the project's partner", partner.name),
                    ));
                }
                Ok(vec![ProjectEvent::PartnerChanged {
                    project_id: details.project_id,
                    country: details.country,
                    partner,
                    reason: text("reason", &reason, 500, true)?,
                    changed_by,
                }])
            }
        }
    }
}

impl Project {
    fn plan(
        &self,
        title: &str,
        indicator: Indicator,
        target: u64,
        tranche: Money,
        due_on: NaiveDate,
        release_rule: ReleaseRule,
    ) -> Result<Vec<ProjectEvent>, DomainError> {
        let details = self.require_open()?;
        if release_rule == ReleaseRule::WholeOnVerification {
            return Err(DomainError::invalid(
                "release_rule",
                "choose how verified output releases the tranche: proportional or all-or-nothing",
            ));
        }
        if target == 0 {
            return Err(DomainError::invalid(
                "target",
                "a milestone's target must be positive",
            ));
        }
        let indicator = match indicator {
            Indicator::Other { name, unit } => Indicator::Other {
                name: text("indicator.name", &name, 100, true)?,
                unit: text("indicator.unit", &unit, 30, true)?,
            },
            known => known,
        };
        let tranche = positive("tranche", tranche)?;
        if tranche.currency() != details.budget.currency() {
            return Err(DomainError::refused(
                Reason::CurrencyMismatch,
                format!(
                    "tranches are in the project's budget currency, {}",
                    details.budget.currency()
                ),
            ));
        }
        let planned = Money::sum(
            tranche.currency(),
            self.milestones.values().map(|m| &m.tranche),
        )?
        .checked_add(tranche)?;
        if planned.checked_cmp(&details.budget)?.is_gt() {
            return Err(DomainError::refused(
                Reason::TranchesExceedBudget,
                format!(
                    "tranches would total {planned}, beyond the project's budget of {}",
                    details.budget
                ),
            ));
        }
        let milestone = self
            .milestones
            .keys()
            .next_back()
            .map_or(1, |last| last.saturating_add(1));
        Ok(vec![ProjectEvent::MilestonePlanned {
            project_id: details.project_id,
            country: details.country,
            milestone,
            title: text("title", title, 300, true)?,
            indicator,
            target,
            tranche,
            due_on,
            release_rule,
        }])
    }

    /// A milestone can be verified or rejected once progress is reported, by someone other
    /// than the reporter (four eyes).
    fn check_reviewable(
        number: u32,
        milestone: &Milestone,
        reviewer: &Actor,
    ) -> Result<(), DomainError> {
        match (milestone.status, &milestone.reported_by) {
            (MilestoneStatus::Verified, _) => Err(DomainError::refused(
                Reason::MilestoneAlreadyVerified,
                format!("milestone {number} is already verified"),
            )),
            (MilestoneStatus::Reported, Some(reporter)) if reporter.is_same_person(reviewer) => {
                Err(DomainError::refused(
                    Reason::VerifierIsReporter,
                    format!("{reviewer} reported this progress; someone else must review it"),
                ))
            }
            (MilestoneStatus::Reported, Some(_)) => Ok(()),
            _ => Err(DomainError::refused(
                Reason::MilestoneNotReported,
                format!(
                    "no progress is reported on milestone {number} since it was planned or rejected"
                ),
            )),
        }
    }
}

/// An implementing partner as a registration or a change names it.
fn valid_partner(partner: Partner) -> Result<Partner, DomainError> {
    Ok(Partner {
        name: text("partner.name", &partner.name, 200, true)?,
        iati_id: partner
            .iati_id
            .map(|id| text("partner.iati_id", &id, 100, false))
            .transpose()?
            .filter(|id| !id.is_empty()),
    })
}

impl ProjectEvent {
    /// What a `MilestoneVerified` released: the amount it records, or the whole tranche for a
    /// verification recorded before releases were, since that is what it released. `None` for
    /// every other event.
    pub fn released(&self) -> Option<Money> {
        match self {
            ProjectEvent::MilestoneVerified {
                released, tranche, ..
            } => Some(released.unwrap_or(*tranche)),
            _ => None,
        }
    }
}

impl ProjectSummary {
    /// Whether `payee` is this project's implementing partner: the name as registered (or last
    /// changed), compared without regard to case or surrounding space.
    pub fn pays(&self, payee: &str) -> bool {
        Actor::canonical(payee) == Actor::canonical(&self.partner.name)
    }
}
