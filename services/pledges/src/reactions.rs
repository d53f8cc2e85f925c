//! The pledges service's process managers.

use async_trait::async_trait;
use fundtrail_domain::{
    AccountEvent, Aggregate, DonorProfile, Event, MatchingCommand, MatchingPool, Pledge,
    PledgeCommand, PledgeEvent,
};
use fundtrail_service::{CommandContext, Handled, Ledger, Reaction, ServiceError};
use fundtrail_store::{Checkpoint, RecordedEvent};

use crate::lookup;

/// Matches contributions: a receipt from a matching-eligible donor for a country a pool
/// covers reserves a match in the first such pool; a receipt from a pool's matching donor is
/// that pool's funds and confirms reserved matches.
#[derive(Debug, Clone)]
pub struct MatchingReaction {
    ledger: Ledger,
}

impl MatchingReaction {
    pub const NAME: &'static str = "pledges.matching";

    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl Reaction for MatchingReaction {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    // A pool's cap goes to the contributions that came first, and its funds confirm the
    // matches reserved first: the outcome must not depend on how the log ordered countries.
    fn in_position_order(&self) -> bool {
        true
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        checkpoint: Checkpoint,
    ) -> Result<Handled, ServiceError> {
        let Event::Pledge(PledgeEvent::ContributionReceived {
            pledge_id,
            donor_id,
            receipt_id,
            value_date,
            reporting_amount,
            earmark,
            donor_matching_eligible,
            ..
        }) = decoded
        else {
            return Ok(Handled::Skipped);
        };
        let mut pools = Vec::new();
        for stream in self
            .ledger
            .store()
            .list_streams(MatchingPool::CATEGORY)
            .await?
        {
            let pool = self
                .ledger
                .load::<MatchingPool>(&stream.stream)
                .await?
                .state;
            if let Some(terms) = pool.terms() {
                pools.push((stream.stream, terms.clone()));
            }
        }
        let ctx = CommandContext::for_reaction(Self::NAME, event)?;
        // The matching donor's own money funds its pool.
        if let Some((stream, _)) = pools.iter().find(|(_, t)| &t.matching_donor_id == donor_id) {
            let command = MatchingCommand::RecordFunds {
                matching_receipt_id: *receipt_id,
                amount: *reporting_amount,
            };
            self.ledger
                .react::<MatchingPool, _>(
                    &ctx,
                    stream,
                    |pool| pool.decide(command.clone()),
                    checkpoint,
                )
                .await?;
            return Ok(Handled::Written);
        }
        let Some(country) = earmark.country() else {
            return Ok(Handled::Skipped);
        };
        if !donor_matching_eligible {
            return Ok(Handled::Skipped);
        }
        let Some((stream, _)) = pools.iter().find(|(_, t)| {
            t.eligible_countries.contains(&country)
                && *value_date <= t.expires_on
                && t.cap.currency() == reporting_amount.currency()
        }) else {
            return Ok(Handled::Skipped);
        };
        let contributing_donor: DonorProfile = lookup::donor(&self.ledger, donor_id).await?;
        let command = MatchingCommand::Reserve {
            receipt_id: *receipt_id,
            contributing_donor,
            pledge_id: *pledge_id,
            country: Some(country),
            contribution: *reporting_amount,
            value_date: *value_date,
            amount: None,
        };
        self.ledger
            .react::<MatchingPool, _>(
                &ctx,
                stream,
                |pool| pool.decide(command.clone()),
                checkpoint,
            )
            .await?;
        Ok(Handled::Written)
    }
}

/// Gives an allocation returned by a project account back to its pledge as unallocated money.
#[derive(Debug, Clone)]
pub struct ReleaseReaction {
    ledger: Ledger,
}

impl ReleaseReaction {
    pub const NAME: &'static str = "pledges.releases";

    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }
}

#[async_trait]
impl Reaction for ReleaseReaction {
    fn name(&self) -> &'static str {
        Self::NAME
    }

    async fn handle(
        &self,
        event: &RecordedEvent,
        decoded: &Event,
        checkpoint: Checkpoint,
    ) -> Result<Handled, ServiceError> {
        let Event::Account(AccountEvent::AllocationReturned {
            pledge_id,
            allocation_id,
            reason,
            ..
        }) = decoded
        else {
            return Ok(Handled::Skipped);
        };
        let ctx = CommandContext::for_reaction(Self::NAME, event)?;
        let command = PledgeCommand::ReleaseAllocation {
            allocation_id: *allocation_id,
            reason: reason.clone(),
        };
        self.ledger
            .react::<Pledge, _>(
                &ctx,
                &Pledge::stream(pledge_id),
                |pledge| pledge.decide(command.clone()),
                checkpoint,
            )
            .await?;
        Ok(Handled::Written)
    }
}
