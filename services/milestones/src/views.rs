//! The current state of projects, read straight from their streams.

use fundtrail_domain::project::{Milestone, MilestoneStatus};
use fundtrail_domain::{
    Aggregate, DomainError, FundingModality, Project, ProjectId, Reason, ReleaseRule,
};
use fundtrail_proto::v1;
use fundtrail_proto::wire::{self, date_text};
use fundtrail_service::{Ledger, ServiceError};

fn milestone(number: u32, m: &Milestone) -> v1::MilestoneView {
    v1::MilestoneView {
        milestone: number,
        title: m.title.clone(),
        indicator: Some((&m.indicator).into()),
        target: m.target,
        actual: m.actual,
        tranche: Some(m.tranche.into()),
        due_on: date_text(m.due_on),
        status: match m.status {
            MilestoneStatus::Planned => v1::MilestoneStatus::Planned,
            MilestoneStatus::Reported => v1::MilestoneStatus::Reported,
            MilestoneStatus::Verified => v1::MilestoneStatus::Verified,
            MilestoneStatus::Rejected => v1::MilestoneStatus::Rejected,
        }
        .into(),
        reported_by: m
            .reported_by
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        release_rule: match m.release_rule {
            ReleaseRule::WholeOnVerification => v1::ReleaseRule::Unspecified,
            ReleaseRule::Proportional => v1::ReleaseRule::Proportional,
            ReleaseRule::AllOrNothing => v1::ReleaseRule::AllOrNothing,
        }
        .into(),
        released: m.released.map(Into::into),
        withheld: m.withheld().map(Into::into),
        shortfall: m.shortfall(),
    }
}

/// The view of a registered project; `None` for a stream without a registration.
fn view(state: &Project, version: u64) -> Option<v1::ProjectView> {
    let details = state.details()?;
    Some(v1::ProjectView {
        project_id: details.project_id.to_string(),
        country: details.country.to_string(),
        partner: Some((&details.partner).into()),
        title: details.title.clone(),
        sector_code: details.sector_code,
        budget: Some(details.budget.into()),
        starts_on: date_text(details.starts_on),
        ends_on: date_text(details.ends_on),
        closed: state.is_closed(),
        milestones: state
            .milestones()
            .iter()
            .map(|(number, m)| milestone(*number, m))
            .collect(),
        version,
        funding: match details.funding {
            FundingModality::AdvanceFunded => v1::FundingModality::AdvanceFunded,
            FundingModality::ResultsBased => v1::FundingModality::ResultsBased,
        }
        .into(),
    })
}

pub async fn project(ledger: &Ledger, project_id: &str) -> Result<v1::ProjectView, ServiceError> {
    let project_id = ProjectId::parse(project_id)?;
    let loaded = ledger
        .load::<Project>(&Project::stream(&project_id))
        .await?;
    view(&loaded.state, loaded.version.unwrap_or_default()).ok_or_else(|| {
        DomainError::refused(
            Reason::ProjectNotFound,
            format!("project {project_id} is not registered"),
        )
        .into()
    })
}

pub async fn projects(
    ledger: &Ledger,
    country: &str,
) -> Result<v1::ListProjectsResponse, ServiceError> {
    let country = if country.trim().is_empty() {
        None
    } else {
        Some(wire::country("country", country)?)
    };
    let mut projects = Vec::new();
    for stream in ledger.store().list_streams(Project::CATEGORY).await? {
        let loaded = ledger.load::<Project>(&stream.stream).await?;
        let in_country = loaded
            .state
            .details()
            .is_some_and(|d| country.is_none_or(|c| d.country == c));
        if !in_country {
            continue;
        }
        if let Some(project) = view(&loaded.state, loaded.version.unwrap_or_default()) {
            projects.push(project);
        }
    }
    Ok(v1::ListProjectsResponse { projects })
}
