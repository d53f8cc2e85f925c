//! The pledges service's process managers.

use async_trait::async_trait;
use fundtrail_domain::{
    AccountEvent, Aggregate, CountryCode, DomainError, DonorId, DonorProfile, Event,
    MatchingCommand, MatchingPool, Pledge, PledgeCommand, PledgeEvent, Reason, ReceiptId,
};
use fundtrail_service::{Effect, Ledger, Policy, ProcessManager, ServiceError};
use fundtrail_store::RecordedEvent;

use crate::lookup;

/// Matches contributions, choosing pools by their rules: among the pools open when the money
/// arrived (opened at a lower position), earliest opened first,
/// - a receipt of a pool's matching donor is the funds of the first of that donor's pools whose
///   period covers its value date and whose countries cover its earmark (an unearmarked
///   receipt fits any); when none fits, the refusal is parked for the fund's staff, so the
///   money is never silently dropped nor put in another year's pool;
/// - a receipt from a matching-eligible donor, earmarked for a country, reserves a match in
///   the first pool whose period and countries fit it and that has room left under its cap
///   (in the first that fits when none has room, whose refusal is parked);
/// - an unearmarked receipt is for no country: it is matched only by a decision of the fund's
///   finance staff (`MatchContribution`);
/// - a reversed receipt's match is voided.
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
        let pools = open_pools(ledger, event.position).await?;
        let country = earmark.country();
        // The matching donor's own money funds the pool it fits.
        let own: Vec<&(String, MatchingPool)> = pools
            .iter()
            .filter(|(_, p)| p.terms().is_some_and(|t| &t.matching_donor_id == donor_id))
            .collect();
        if !own.is_empty() {
            let Some((stream, _)) = own
                .iter()
                .find(|(_, p)| p.takes_funds(*value_date, country).is_ok())
            else {
                return Err(no_pool_fits(*receipt_id, donor_id, *value_date, country, &own).into());
            };
            return Ok(Some(Effect {
                stream: stream.clone(),
                command: MatchingCommand::RecordFunds {
                    matching_pledge_id: *pledge_id,
                    matching_receipt_id: *receipt_id,
                    amount: *reporting_amount,
                    value_date: *value_date,
                    country,
                },
            }));
        }
        // Unearmarked money is matched only by a decision of the fund's finance staff.
        let Some(country) = country else {
            return Ok(None);
        };
        if !donor_matching_eligible {
            return Ok(None);
        }
        let fitting: Vec<&(String, MatchingPool)> = pools
            .iter()
            .filter(|(_, p)| {
                p.terms().is_some_and(|t| {
                    t.eligible_countries.contains(&country)
                        && t.cap.currency() == reporting_amount.currency()
                }) && p.check_period(*value_date).is_ok()
            })
            .collect();
        let with_room = fitting
            .iter()
            .find(|(_, p)| p.remaining().is_some_and(|r| r.is_positive()));
        let Some((stream, _)) = with_room.or(fitting.first()) else {
            return Ok(None);
        };
        let mut contributing_donor: DonorProfile = lookup::donor(ledger, donor_id).await?;
        // The donor's eligibility when the money arrived, as the receipt recorded it, not
        // whatever it became before the reaction got to it.
        contributing_donor.matching_eligible = *donor_matching_eligible;
        Ok(Some(Effect {
            stream: stream.clone(),
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

/// The pools opened before `position`, earliest opened first. Only pools open when the money
/// arrived: a pool opened later must not take it because the reaction happened to get to it
/// late. Ordering by the opening's position makes "the first pool that fits" the same choice
/// on every backend and in every replay.
async fn open_pools(
    ledger: &Ledger,
    position: u64,
) -> Result<Vec<(String, MatchingPool)>, ServiceError> {
    let mut pools = Vec::new();
    for stream in ledger.store().list_streams(MatchingPool::CATEGORY).await? {
        let opened = ledger.store().read_stream(&stream.stream, 0).await?;
        let Some(first) = opened.first().filter(|e| e.position < position) else {
            continue;
        };
        let pool = ledger.load::<MatchingPool>(&stream.stream).await?.state;
        if pool.terms().is_some() {
            pools.push((first.position, stream.stream, pool));
        }
    }
    pools.sort_by_key(|(opened_at, _, _)| *opened_at);
    Ok(pools
        .into_iter()
        .map(|(_, stream, pool)| (stream, pool))
        .collect())
}

/// The refusal parked when a receipt of a matching donor fits none of its pools: for the
/// fund's staff to settle (open the right pool, or take it up with the donor).
fn no_pool_fits(
    receipt_id: ReceiptId,
    donor_id: &DonorId,
    value_date: impl std::fmt::Display,
    country: Option<CountryCode>,
    pools: &[&(String, MatchingPool)],
) -> DomainError {
    let periods: Vec<String> = pools
        .iter()
        .filter_map(|(_, p)| {
            let terms = p.terms()?;
            let countries: Vec<String> = terms
                .eligible_countries
                .iter()
                .map(ToString::to_string)
                .collect();
            Some(format!(
                "pool {} {}..{} for {}",
                terms.pool_id,
                p.starts_on().map(|d| d.to_string()).unwrap_or_default(),
                terms.expires_on,
                countries.join(",")
            ))
        })
        .collect();
    DomainError::refused(
        Reason::NoMatchingPoolFits,
        format!(
            "receipt {receipt_id} of matching donor {donor_id}, value date {value_date}, {}, \
             fits none of its pools ({}); its funds are not taken",
            country.map_or_else(
                || "unearmarked".to_owned(),
                |c| format!("earmarked for {c}")
            ),
            periods.join("; ")
        ),
    )
}

/// A reversed receipt's money never was the fund's: the match reserved for it is voided, in
/// position order with the reservations, so the room it frees goes to later receipts as it
/// would have. A match already confirmed cannot be voided; the refusal is parked for the
/// fund's staff to settle with the matching donor.
async fn void_reversed(
    ledger: &Ledger,
    receipt_id: ReceiptId,
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

/// Gives an allocation returned by a project account, whole or in part, back to its pledge as
/// unallocated money.
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
            remaining,
            ..
        }) = decoded
        else {
            return Ok(None);
        };
        // The pledge works out its part from what the account keeps, which the return
        // recorded: the parts then add up to exactly the allocation once nothing is kept.
        Ok(Some(Effect {
            stream: Pledge::stream(pledge_id),
            command: PledgeCommand::ReleaseAllocation {
                allocation_id: *allocation_id,
                reason: reason.clone(),
                remaining: *remaining,
            },
        }))
    }
}
