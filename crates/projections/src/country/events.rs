//! How project and account events change the per-country view.

use fundtrail_domain::{AccountEvent, ProjectEvent};

use super::{CountryFunding, MilestoneDoc, ReleaseDoc, allocate, country_doc};
use crate::doc::Mark;
use crate::fold::signed;
use crate::rates::RatePurpose;

impl CountryFunding {
    pub(super) fn on_project(&mut self, at: Mark, event: &ProjectEvent) {
        let (id, code) = match event {
            ProjectEvent::Registered {
                project_id,
                country,
                ..
            }
            | ProjectEvent::MilestonePlanned {
                project_id,
                country,
                ..
            }
            | ProjectEvent::ProgressReported {
                project_id,
                country,
                ..
            }
            | ProjectEvent::MilestoneVerified {
                project_id,
                country,
                ..
            }
            | ProjectEvent::MilestoneRejected {
                project_id,
                country,
                ..
            }
            | ProjectEvent::Closed {
                project_id,
                country,
                ..
            }
            | ProjectEvent::PartnerChanged {
                project_id,
                country,
                ..
            } => (*project_id, *country),
        };
        country_doc(&mut self.countries, &mut self.dirty, code, at.position);
        let project = self.project(id, code);
        match event {
            ProjectEvent::Registered { title, partner, .. } => {
                project.title.clone_from(title);
                project.partner.clone_from(&partner.name);
            }
            ProjectEvent::MilestonePlanned {
                milestone,
                indicator,
                target,
                ..
            } => {
                project.milestones.insert(
                    *milestone,
                    MilestoneDoc {
                        indicator: indicator.into(),
                        target: *target,
                        reported: None,
                        verified: None,
                        release: None,
                    },
                );
            }
            ProjectEvent::ProgressReported {
                milestone, actual, ..
            } => {
                if let Some(m) = project.milestones.get_mut(milestone) {
                    m.reported = Some(*actual);
                }
            }
            ProjectEvent::MilestoneVerified {
                milestone,
                indicator,
                target,
                actual,
                tranche,
                release_rule,
                ..
            } => {
                let release = event.released().map(|released| ReleaseDoc {
                    rule: release_rule.name().to_owned(),
                    tranche: *tranche,
                    released,
                });
                let m = project
                    .milestones
                    .entry(*milestone)
                    .or_insert_with(|| MilestoneDoc {
                        indicator: indicator.into(),
                        target: *target,
                        reported: None,
                        verified: None,
                        release: None,
                    });
                m.reported = Some(*actual);
                m.verified = Some(*actual);
                m.release = release;
            }
            ProjectEvent::MilestoneRejected { milestone, .. } => {
                if let Some(m) = project.milestones.get_mut(milestone) {
                    m.reported = None;
                }
            }
            ProjectEvent::Closed { .. } => project.closed = true,
            ProjectEvent::PartnerChanged { partner, .. } => {
                project.partner.clone_from(&partner.name);
            }
        }
    }

    pub(super) fn on_account(&mut self, at: Mark, event: &AccountEvent) {
        let reporting = self.reporting;
        let (project_id, code, amount, reporting_amount, paid) = match event {
            AccountEvent::AllocationReturned {
                pledge_id,
                allocation_id,
                remaining,
                ..
            } => {
                let Some(pledge) = self.pledges.get_mut(pledge_id) else {
                    return;
                };
                if let Some(allocation) = pledge.returned(*allocation_id, *remaining) {
                    self.dirty.pledges.insert(*pledge_id);
                    allocate(
                        &mut self.countries,
                        &mut self.projects,
                        &mut self.dirty,
                        reporting,
                        at,
                        &pledge.donor,
                        &allocation,
                        false,
                    );
                }
                return;
            }
            AccountEvent::DisbursementPaid {
                project_id,
                country,
                amount,
                reporting_amount,
                rate,
                ..
            } => {
                let doc = country_doc(&mut self.countries, &mut self.dirty, *country, at.position);
                doc.rates.record(RatePurpose::Payment, rate.as_ref());
                (*project_id, *country, *amount, *reporting_amount, true)
            }
            AccountEvent::DisbursementReversed {
                project_id,
                country,
                amount,
                reporting_amount,
                ..
            } => (*project_id, *country, *amount, *reporting_amount, false),
            AccountEvent::DisbursementRefunded {
                project_id,
                country,
                amount,
                reporting_amount,
                ..
            } => {
                let part = reporting.booked(*amount, *reporting_amount);
                let doc = country_doc(&mut self.countries, &mut self.dirty, *country, at.position);
                doc.refunded.add(amount.currency(), part);
                (*project_id, *country, *amount, *reporting_amount, false)
            }
            AccountEvent::Credited { .. }
            | AccountEvent::Closed { .. }
            | AccountEvent::TrancheUnlocked { .. }
            | AccountEvent::DisbursementRequested { .. }
            | AccountEvent::DisbursementApproved { .. }
            | AccountEvent::DisbursementRejected { .. } => return,
        };
        let part = reporting.booked(amount, reporting_amount);
        let currency = amount.currency();
        let doc = country_doc(&mut self.countries, &mut self.dirty, code, at.position);
        signed(&mut doc.disbursed, currency, part, paid);
        signed(
            &mut self.project(project_id, code).disbursed,
            currency,
            part,
            paid,
        );
    }
}
