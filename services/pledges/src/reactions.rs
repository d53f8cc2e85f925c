//! The pledges service's process managers.

use async_trait::async_trait;
use fundtrail_domain::{
    AccountEvent, Aggregate, DonorProfile, Event, MatchingCommand, MatchingPool, Pledge,
    PledgeCommand, PledgeEvent,
};
use fundtrail_service::{Effect, Ledger, Policy, ProcessManager, ServiceError};
use fundtrail_store::RecordedEvent;

use crate::lookup;

/// Matches contributions: a receipt from a matching-eligible donor for a country a pool
/// covers reserves a match in the first such pool; a receipt from a pool's matching donor is
/// that pool's funds and confirms reserved matches; a reversed receipt's match is voided.
pub type MatchingReaction = ProcessManager<Matching>;

/// The policy of [`MatchingReaction`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Matching;

#[async_trait]
impl Policy for Matching {
    const NAME: &'static str = "pledges.matching";

    // A pool's cap goes to the contributions that came first, and its funds confirm the
    // matches reserved first: the outcome must not depend on how the log ordered countries.
    const IN_POSITION_ORDER: bool = true;

    type Target = MatchingPool;

    async fn effect(
        &self,
        ledger: &Ledger,
        event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Option<Effect<MatchingPool>>, ServiceError> {
        if let Event::Pledge(PledgeEvent::ReceiptReversed {
            receipt_id, reason, ..
        }) = decoded
        {
            return void_reversed(ledger, *receipt_id, reason).await;
        }
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
            return Ok(None);
        };
        let mut pools = Vec::new();
        for stream in ledger.store().list_streams(MatchingPool::CATEGORY).await? {
            // Only pools open when the money arrived: a pool opened later must not match it
            // because the reaction happened to get to it late.
            let opened = ledger.store().read_stream(&stream.stream, 0).await?;
            if opened.first().is_none_or(|e| e.position > event.position) {
                continue;
            }
            let pool = ledger.load::<MatchingPool>(&stream.stream).await?.state;
            if let Some(terms) = pool.terms() {
                pools.push((stream.stream, terms.clone()));
            }
        }
        // The matching donor's own money funds its pool.
        if let Some((stream, _)) = pools.iter().find(|(_, t)| &t.matching_donor_id == donor_id) {
            return Ok(Some(Effect {
                stream: stream.clone(),
                command: MatchingCommand::RecordFunds {
                    matching_receipt_id: *receipt_id,
                    amount: *reporting_amount,
                },
            }));
        }
        let Some(country) = earmark.country() else {
            return Ok(None);
        };
        if !donor_matching_eligible {
            return Ok(None);
        }
        let Some((stream, _)) = pools.into_iter().find(|(_, t)| {
            t.eligible_countries.contains(&country)
                && *value_date <= t.expires_on
                && t.cap.currency() == reporting_amount.currency()
        }) else {
            return Ok(None);
        };
        let mut contributing_donor: DonorProfile = lookup::donor(ledger, donor_id).await?;
        // The donor's eligibility when the money arrived, as the receipt recorded it, not
        // whatever it became before the reaction got to it.
        contributing_donor.matching_eligible = *donor_matching_eligible;
        Ok(Some(Effect {
            stream,
            command: MatchingCommand::Reserve {
                receipt_id: *receipt_id,
                contributing_donor,
                pledge_id: *pledge_id,
                country: Some(country),
                contribution: *reporting_amount,
                value_date: *value_date,
                amount: None,
            },
        }))
    }
}

/// A reversed receipt's money never was the fund's: the match reserved for it is voided, in
/// position order with the reservations, so the room it frees goes to later receipts as it
/// would have. A match already confirmed cannot be voided; the refusal is parked for the
/// fund's staff to settle with the matching donor.
async fn void_reversed(
    ledger: &Ledger,
    receipt_id: fundtrail_domain::ReceiptId,
    reason: &str,
) -> Result<Option<Effect<MatchingPool>>, ServiceError> {
    for stream in ledger.store().list_streams(MatchingPool::CATEGORY).await? {
        let pool = ledger.load::<MatchingPool>(&stream.stream).await?.state;
        if pool.matches().contains_key(&receipt_id) {
            return Ok(Some(Effect {
                stream: stream.stream,
                command: MatchingCommand::Void {
                    receipt_id,
                    reason: format!("the receipt was reversed: {reason}"),
                },
            }));
        }
    }
    Ok(None)
}

/// Gives an allocation returned by a project account back to its pledge as unallocated money.
pub type ReleaseReaction = ProcessManager<Release>;

/// The policy of [`ReleaseReaction`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Release;

#[async_trait]
impl Policy for Release {
    const NAME: &'static str = "pledges.releases";

    type Target = Pledge;

    async fn effect(
        &self,
        _ledger: &Ledger,
        _event: &RecordedEvent,
        decoded: &Event,
    ) -> Result<Option<Effect<Pledge>>, ServiceError> {
        let Event::Account(AccountEvent::AllocationReturned {
            pledge_id,
            allocation_id,
            reason,
            ..
        }) = decoded
        else {
            return Ok(None);
        };
        Ok(Some(Effect {
            stream: Pledge::stream(pledge_id),
            command: PledgeCommand::ReleaseAllocation {
                allocation_id: *allocation_id,
                reason: reason.clone(),
            },
        }))
    }
}
