//! The current state of a project account, read straight from its stream.

use fundtrail_domain::account::{Disbursement, DisbursementStatus};
use fundtrail_domain::{DisbursementId, Money, ProjectAccount, ProjectId};
use fundtrail_proto::v1;
use fundtrail_service::{Ledger, ServiceError};

fn disbursement(id: DisbursementId, d: &Disbursement) -> v1::DisbursementView {
    v1::DisbursementView {
        disbursement_id: id.to_string(),
        amount: Some(d.amount.into()),
        partner: d.partner.clone(),
        milestone: d.milestone.unwrap_or_default(),
        requested_by: d.requested_by.to_string(),
        status: match d.status {
            DisbursementStatus::Requested => v1::DisbursementStatus::Requested,
            DisbursementStatus::Approved => v1::DisbursementStatus::Approved,
            DisbursementStatus::Rejected => v1::DisbursementStatus::Rejected,
            DisbursementStatus::Paid => v1::DisbursementStatus::Paid,
            DisbursementStatus::Reversed => v1::DisbursementStatus::Reversed,
        }
        .into(),
        refunded: Some(Money::new(d.amount.currency(), d.refunded).into()),
    }
}

pub async fn account(
    ledger: &Ledger,
    project_id: &str,
) -> Result<v1::ProjectAccountView, ServiceError> {
    let project_id = ProjectId::parse(project_id)?;
    let project = ledger.project(&project_id).await?;
    let loaded = ledger
        .load::<ProjectAccount>(&ProjectAccount::stream(&project_id))
        .await?;
    let state = loaded.state;
    // A registered project whose account has seen nothing yet has an empty account in the
    // project's currency, which is the currency its first credit will bring.
    let zero = Money::zero(project.currency);
    Ok(v1::ProjectAccountView {
        project_id: project_id.to_string(),
        credited: Some(state.credited().unwrap_or(zero).into()),
        available: Some(state.available().unwrap_or(zero).into()),
        credits: state
            .credits()
            .iter()
            .map(|(id, c)| v1::CreditView {
                allocation_id: id.to_string(),
                pledge_id: c.pledge_id.to_string(),
                donor_id: c.donor_id.to_string(),
                amount: Some(c.amount.into()),
                returned: c.returned,
                returned_amount: Some(c.returned_amount.into()),
            })
            .collect(),
        disbursements: state
            .disbursements()
            .iter()
            .map(|(id, d)| disbursement(*id, d))
            .collect(),
        unlocked_tranches: state
            .unlocked_tranches()
            .iter()
            .map(|(milestone, tranche)| (*milestone, (*tranche).into()))
            .collect(),
        released_tranches: state
            .released_tranches()
            .iter()
            .map(|(milestone, released)| (*milestone, (*released).into()))
            .collect(),
        returned: Some(state.returned().unwrap_or(zero).into()),
        closed: state.is_closed(),
        version: loaded.version.unwrap_or_default(),
    })
}
