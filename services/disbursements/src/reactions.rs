//! The disbursements service's process managers.
//!
//! Both write to a project's account what another service recorded: an allocation becomes a
//! credit, a verified milestone unlocks its tranche. The account remembers the event each of
//! these came from and ignores it the second time, and the reaction's request id is derived
//! from the event, so an event delivered twice changes the account once.

use async_trait::async_trait;
use fundtrail_domain::{
    AccountCommand, Aggregate, Event, PledgeEvent, ProjectAccount, ProjectEvent,
};
use fundtrail_proto::v1;
use fundtrail_service::{CommandContext, Handled, Ledger, Reaction, ServiceError};
use fundtrail_store::{Checkpoint, RecordedEvent};

/// What a reaction's append did. A decision with no events (the account already knew the
/// source event) appended nothing, so the checkpoint did not commit with it either; the
/// runner must then keep the position to save it itself.
fn handled(result: &v1::CommandResult) -> Handled {
    if result.event_count == 0 {
        Handled::Skipped
    } else {
        Handled::Written
    }
}

/// Credits a project's account with every allocation made to the project.
#[derive(Debug, Clone)]
pub struct CreditReaction {
    ledger: Ledger,
}

impl CreditReaction {
    pub const NAME: &'static str = "disbursements.credits";

    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl Reaction for CreditReaction {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        checkpoint: Checkpoint,
    ) -> Result<Handled, ServiceError> {
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
            return Ok(Handled::Skipped);
        };
        let ctx = CommandContext::for_reaction(Self::NAME, event)?;
        let command = AccountCommand::Credit {
            source_event_id: event.event_id,
            project_id: *project_id,
            country: *country,
            allocation_id: *allocation_id,
            pledge_id: *pledge_id,
            donor_id: donor_id.clone(),
            amount: *project_amount,
            reporting_amount: *reporting_amount,
        };
        let result = self
            .ledger
            .react::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(project_id),
                |account| account.decide(command.clone()),
                checkpoint,
            )
            .await?;
        Ok(handled(&result))
    }
}

/// Unlocks a milestone's tranche on the project's account once the milestone is verified.
#[derive(Debug, Clone)]
pub struct TrancheReaction {
    ledger: Ledger,
}

impl TrancheReaction {
    pub const NAME: &'static str = "disbursements.tranches";

    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl Reaction for TrancheReaction {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        checkpoint: Checkpoint,
    ) -> Result<Handled, ServiceError> {
        let Event::Project(ProjectEvent::MilestoneVerified {
            project_id,
            country,
            milestone,
            tranche,
            ..
        }) = decoded
        else {
            return Ok(Handled::Skipped);
        };
        let ctx = CommandContext::for_reaction(Self::NAME, event)?;
        let command = AccountCommand::UnlockTranche {
            source_event_id: event.event_id,
            project_id: *project_id,
            country: *country,
            milestone: *milestone,
            tranche: *tranche,
        };
        let result = self
            .ledger
            .react::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(project_id),
                |account| account.decide(command.clone()),
                checkpoint,
            )
            .await?;
        Ok(handled(&result))
    }
}
