//! The disbursements service's process managers.
//!
//! Both write to a project's account what another service recorded: an allocation becomes a
//! credit, a verified milestone unlocks what its verification released of its tranche. The account remembers the event each of
//! these came from and ignores it the second time, and the reaction's request id is derived
//! from the event, so an event delivered twice changes the account once.

use async_trait::async_trait;
use fundtrail_domain::{AccountCommand, Event, PledgeEvent, ProjectAccount, ProjectEvent};
use fundtrail_service::{Effect, Ledger, Policy, ProcessManager, ServiceError};
use fundtrail_store::RecordedEvent;

/// Credits a project's account with every allocation made to the project.
pub type CreditReaction = ProcessManager<Credit>;

/// The policy of [`CreditReaction`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Credit;

#[async_trait]
impl Policy for Credit {
    const NAME: &'static str = "disbursements.credits";

    type Target = ProjectAccount;

    async fn effect(
        &self,
        _ledger: &Ledger,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Option<Effect<ProjectAccount>>, ServiceError> {
        let Event::Pledge(PledgeEvent::ContributionAllocated {
            pledge_id,
            donor_id,
            allocation_id,
            project_id,
            country,
            project_amount,
            reporting_amount,
            ..
        }) = decoded
        else {
            return Ok(None);
        };
        Ok(Some(Effect {
            stream: ProjectAccount::stream(project_id),
            command: AccountCommand::Credit {
                source_event_id: event.event_id,
                project_id: *project_id,
                country: *country,
                allocation_id: *allocation_id,
                pledge_id: *pledge_id,
                donor_id: donor_id.clone(),
                amount: *project_amount,
                reporting_amount: *reporting_amount,
            },
        }))
    }
}

/// Unlocks a milestone's tranche on the project's account once the milestone is verified.
pub type TrancheReaction = ProcessManager<Tranche>;

/// The policy of [`TrancheReaction`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Tranche;

#[async_trait]
impl Policy for Tranche {
    const NAME: &'static str = "disbursements.tranches";

    type Target = ProjectAccount;

    async fn effect(
        &self,
        _ledger: &Ledger,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Option<Effect<ProjectAccount>>, ServiceError> {
        let Event::Project(
            verified @ ProjectEvent::MilestoneVerified {
                project_id,
                country,
                milestone,
                tranche,
                ..
            },
        ) = decoded
        else {
            return Ok(None);
        };
        Ok(Some(Effect {
            stream: ProjectAccount::stream(project_id),
            command: AccountCommand::UnlockTranche {
                source_event_id: event.event_id,
                project_id: *project_id,
                country: *country,
                milestone: *milestone,
                tranche: *tranche,
                // As the verification recorded it; the account never works it out again.
                released: verified.released().unwrap_or(*tranche),
            },
        }))
    }
}
