//! Facts other aggregates hold that a pledge command needs: the donor, the pledge. The
//! project's is the ledger's ([`Ledger::project`]), as other services need it too.

use fundtrail_domain::{DomainError, Donor, DonorId, DonorProfile, Pledge, PledgeId, Reason};
use fundtrail_service::{Ledger, ServiceError};

pub async fn donor(ledger: &Ledger, donor_id: &DonorId) -> Result<DonorProfile, ServiceError> {
    let loaded = ledger.load::<Donor>(&Donor::stream(donor_id)).await?;
    Ok(loaded.state.require(donor_id)?.clone())
}

pub async fn pledge(ledger: &Ledger, pledge_id: &PledgeId) -> Result<Pledge, ServiceError> {
    let loaded = ledger.load::<Pledge>(&Pledge::stream(pledge_id)).await?;
    if loaded.state.terms().is_none() {
        return Err(DomainError::refused(
            Reason::PledgeNotFound,
            format!("pledge {pledge_id} is not recorded"),
        )
        .into());
    }
    Ok(loaded.state)
}
