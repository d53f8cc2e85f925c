//! Facts other aggregates hold that an account command needs: the project.

use fundtrail_domain::{DomainError, Project, ProjectId, ProjectSummary, Reason};
use fundtrail_service::{Ledger, ServiceError};

/// The project an account belongs to. An account stream exists only for a registered
/// project, so an unknown project is `NOT_FOUND` rather than an empty account.
pub async fn project(
    ledger: &Ledger,
    project_id: &ProjectId,
) -> Result<ProjectSummary, ServiceError> {
    let loaded = ledger.load::<Project>(&Project::stream(project_id)).await?;
    loaded.state.summary().ok_or_else(|| {
        DomainError::refused(
            Reason::ProjectNotFound,
            format!("project {project_id} is not registered"),
        )
        .into()
    })
}
