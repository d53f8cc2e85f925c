//! Matching pool commands that read beyond the pool: an unearmarked contribution matched by a
//! decision of the fund's finance staff.

use fundtrail_domain::matching::MatchStatus;
use fundtrail_domain::{
    Aggregate, DomainError, MatchingCommand, MatchingPool, MatchingPoolId, PledgeId, Reason,
    ReceiptId,
};
use fundtrail_proto::v1;
use fundtrail_proto::wire;
use fundtrail_service::{CommandContext, Ledger, ServiceError};
use tonic::Request;

use crate::lookup;

/// Matches an unearmarked receipt in the pool the officer chose. The pool's own rules (its
/// period, its cap, a match it holds already) are the domain's; what only the fund as a whole
/// knows is checked here: that the receipt exists, is unearmarked and not reversed, and that
/// no other pool matches it (the store's claim on the match settles a race between two).
pub async fn match_contribution(
    ledger: &Ledger,
    request: Request<v1::MatchContributionRequest>,
) -> Result<v1::CommandResult, ServiceError> {
    let ctx = CommandContext::from_request("fundtrail.v1.Pledges/MatchContribution", &request)?;
    let r = request.into_inner();
    let pool_id = MatchingPoolId::parse(&r.pool_id)?;
    let pledge_id = PledgeId::parse(&r.pledge_id)?;
    let receipt_id = ReceiptId::parse(&r.receipt_id)?;
    let country = if r.country.trim().is_empty() {
        None
    } else {
        Some(wire::country("country", &r.country)?)
    };
    let pledge = lookup::pledge(ledger, &pledge_id).await?;
    let (Some(terms), Some(receipt)) = (pledge.terms(), pledge.receipts().get(&receipt_id)) else {
        return Err(DomainError::refused(
            Reason::ReceiptNotFound,
            format!("pledge {pledge_id} has no receipt {receipt_id}"),
        )
        .into());
    };
    if receipt.reversed {
        return Err(DomainError::refused(
            Reason::ReceiptAlreadyReversed,
            format!("receipt {receipt_id} was reversed; it is no longer the fund's money"),
        )
        .into());
    }
    if let Some(earmarked) = terms.earmark.country() {
        return Err(DomainError::refused(
            Reason::EarmarkMismatch,
            format!(
                "receipt {receipt_id} is earmarked for {earmarked}: earmarked receipts are matched \
                 as they arrive, or by hand with ReserveMatch"
            ),
        )
        .into());
    }
    if let Some(other) = matched_elsewhere(ledger, &pool_id, &receipt_id).await? {
        return Err(DomainError::refused(
            Reason::MatchAlreadyReserved,
            format!("receipt {receipt_id} is already matched by pool {other}"),
        )
        .into());
    }
    let contributing_donor = lookup::donor(ledger, &terms.donor_id).await?;
    let command = MatchingCommand::MatchContribution {
        receipt_id,
        contributing_donor,
        pledge_id,
        country,
        contribution: receipt.reporting_amount,
        value_date: receipt.value_date,
    };
    ledger
        .execute::<MatchingPool, _>(&ctx, &MatchingPool::stream(&pool_id), |pool| {
            pool.decide(command.clone())
        })
        .await
}

/// Another pool holding a live (reserved or confirmed) match of the receipt. Matches reserved
/// before the store claimed them are found only this way.
async fn matched_elsewhere(
    ledger: &Ledger,
    pool_id: &MatchingPoolId,
    receipt_id: &ReceiptId,
) -> Result<Option<MatchingPoolId>, ServiceError> {
    let own = MatchingPool::stream(pool_id);
    for stream in ledger.store().list_streams(MatchingPool::CATEGORY).await? {
        if stream.stream == own {
            continue;
        }
        let pool = ledger.load::<MatchingPool>(&stream.stream).await?.state;
        let live = pool
            .matches()
            .get(receipt_id)
            .is_some_and(|m| m.status != MatchStatus::Voided);
        if live && let Some(terms) = pool.terms() {
            return Ok(Some(terms.pool_id));
        }
    }
    Ok(None)
}
