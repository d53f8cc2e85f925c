//! The current state of donors, pledges and pools, read straight from their streams.

use fundtrail_domain::matching::MatchStatus;
use fundtrail_domain::{
    DomainError, Donor, DonorId, MatchingPool, MatchingPoolId, Money, Pledge, PledgeId, Reason,
};
use fundtrail_proto::v1;
use fundtrail_proto::wire::date_text;
use fundtrail_service::{Ledger, ServiceError};

fn money(m: Option<Money>) -> Option<v1::Money> {
    m.map(Into::into)
}

/// An id the wire shows as empty text when absent.
fn text(id: Option<impl ToString>) -> String {
    id.map(|id| id.to_string()).unwrap_or_default()
}

pub async fn donor(ledger: &Ledger, donor_id: &str) -> Result<v1::DonorView, ServiceError> {
    let donor_id = DonorId::parse(donor_id)?;
    let loaded = ledger.load::<Donor>(&Donor::stream(&donor_id)).await?;
    let profile = loaded.state.require(&donor_id)?;
    Ok(v1::DonorView {
        donor_id: profile.donor_id.to_string(),
        name: profile.name.clone(),
        kind: v1::DonorKind::from(profile.kind).into(),
        matching_eligible: profile.matching_eligible,
        version: loaded.version.unwrap_or_default(),
    })
}

pub async fn donors(ledger: &Ledger) -> Result<v1::ListDonorsResponse, ServiceError> {
    let mut donors = Vec::new();
    for stream in ledger.store().list_streams("donor").await? {
        let loaded = ledger.load::<Donor>(&stream.stream).await?;
        if let Some(profile) = loaded.state.profile() {
            donors.push(v1::DonorView {
                donor_id: profile.donor_id.to_string(),
                name: profile.name.clone(),
                kind: v1::DonorKind::from(profile.kind).into(),
                matching_eligible: profile.matching_eligible,
                version: stream.version,
            });
        }
    }
    Ok(v1::ListDonorsResponse { donors })
}

pub async fn pledge(ledger: &Ledger, pledge_id: &str) -> Result<v1::PledgeView, ServiceError> {
    let pledge_id = PledgeId::parse(pledge_id)?;
    let loaded = ledger.load::<Pledge>(&Pledge::stream(&pledge_id)).await?;
    let state = loaded.state;
    let terms = state.terms().ok_or_else(|| {
        DomainError::refused(
            Reason::PledgeNotFound,
            format!("pledge {pledge_id} is not recorded"),
        )
    })?;
    Ok(v1::PledgeView {
        pledge_id: pledge_id.to_string(),
        donor_id: terms.donor_id.to_string(),
        amount: Some(terms.amount.into()),
        earmark: Some((&terms.earmark).into()),
        pledged_on: date_text(terms.pledged_on),
        withdrawn: state.is_withdrawn(),
        agreement_reference: state
            .agreement()
            .map(|(reference, _)| reference.clone())
            .unwrap_or_default(),
        committed: money(state.agreement().map(|(_, amount)| *amount)),
        received: money(state.received()),
        received_reporting: money(state.received_reporting()),
        unallocated: money(state.unallocated().ok()),
        receipts: state
            .receipts()
            .iter()
            .map(|(id, r)| v1::ReceiptView {
                receipt_id: id.to_string(),
                amount: Some(r.amount.into()),
                reporting_amount: Some(r.reporting_amount.into()),
                bank_reference: r.bank_reference.clone(),
                over_payment: r.over_payment,
                reversed: r.reversed,
                rate: r.rate.as_ref().map(Into::into),
                value_date: date_text(r.value_date),
                unallocated: Some(r.unallocated.into()),
            })
            .collect(),
        allocations: state
            .allocations()
            .iter()
            .map(|(id, a)| v1::AllocationView {
                allocation_id: id.to_string(),
                project_id: a.project_id.to_string(),
                country: a.country.to_string(),
                amount: Some(a.amount.into()),
                reporting_amount: Some(a.reporting_amount.into()),
                released: a.released,
            })
            .collect(),
        version: loaded.version.unwrap_or_default(),
        refunded: money(state.refunded()),
        refunds: state
            .refunds()
            .iter()
            .map(|r| v1::RefundView {
                amount: Some(r.amount.into()),
                reporting_amount: Some(r.reporting_amount.into()),
                payment_reference: r.payment_reference.clone(),
                value_date: date_text(r.value_date),
            })
            .collect(),
        unallocated_reporting: money(state.unallocated_reporting()),
    })
}

pub async fn pool(ledger: &Ledger, pool_id: &str) -> Result<v1::MatchingPoolView, ServiceError> {
    let pool_id = MatchingPoolId::parse(pool_id)?;
    let loaded = ledger
        .load::<MatchingPool>(&MatchingPool::stream(&pool_id))
        .await?;
    let state = loaded.state;
    let terms = state.terms().ok_or_else(|| {
        DomainError::refused(
            Reason::MatchingPoolNotFound,
            format!("matching pool {pool_id} is not open"),
        )
    })?;
    Ok(v1::MatchingPoolView {
        pool_id: pool_id.to_string(),
        matching_donor_id: terms.matching_donor_id.to_string(),
        cap: Some(terms.cap.into()),
        ratio: Some(terms.ratio.into()),
        eligible_countries: terms
            .eligible_countries
            .iter()
            .map(ToString::to_string)
            .collect(),
        expires_on: date_text(terms.expires_on),
        reserved: money(state.reserved()),
        confirmed: money(state.confirmed()),
        funds: money(state.funds()),
        remaining: money(state.remaining()),
        matches: state
            .matches()
            .iter()
            .map(|(receipt_id, m)| v1::MatchView {
                receipt_id: receipt_id.to_string(),
                contributing_donor_id: m.contributing_donor_id.to_string(),
                country: m.country.to_string(),
                amount: Some(m.amount.into()),
                status: match m.status {
                    MatchStatus::Reserved => v1::MatchStatus::Reserved,
                    MatchStatus::Confirmed => v1::MatchStatus::Confirmed,
                    MatchStatus::Voided => v1::MatchStatus::Voided,
                }
                .into(),
                funding_pledge_id: text(m.funding_pledge_id),
                funding_receipt_id: text(m.funding_receipt_id),
            })
            .collect(),
        version: loaded.version.unwrap_or_default(),
        starts_on: state.starts_on().map(date_text).unwrap_or_default(),
        funding: state
            .funding()
            .into_iter()
            .map(|f| v1::PoolFundingView {
                pledge_id: text(f.pledge_id),
                receipt_id: f.receipt_id.to_string(),
                amount: Some(f.amount.into()),
                applied: Some(f.applied.into()),
            })
            .collect(),
    })
}

/// The fund's accounting calendar.
pub async fn calendar(ledger: &Ledger) -> Result<v1::CalendarView, ServiceError> {
    let loaded = ledger.calendar().await?;
    Ok(v1::CalendarView {
        closed_through: loaded
            .state
            .closed_through()
            .map(date_text)
            .unwrap_or_default(),
        closes: loaded
            .state
            .closes()
            .iter()
            .map(|close| v1::ClosedPeriodView {
                through: date_text(close.through),
                reason: close.reason.clone(),
                closed_by: close.closed_by.to_string(),
            })
            .collect(),
        version: loaded.version,
    })
}
