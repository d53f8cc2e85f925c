//! The `fundtrail.v1.Milestones` gRPC service.

use fundtrail_domain::{
    Aggregate, DomainError, FundingModality, Project, ProjectCommand, ProjectEvent, ProjectId,
    ReleaseRule,
};
use fundtrail_proto::v1;
use fundtrail_proto::v1::milestones_server::Milestones;
use fundtrail_proto::wire;
use fundtrail_service::{CommandContext, Ledger, ServiceError, respond};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::views;

/// The milestones service over one ledger.
#[derive(Debug, Clone)]
pub struct MilestonesService {
    ledger: Ledger,
}

impl MilestonesService {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }

    pub fn into_server(self) -> v1::milestones_server::MilestonesServer<Self> {
        v1::milestones_server::MilestonesServer::new(self)
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn context<T: fundtrail_service::CommandRequest>(
    method: &str,
    request: &Request<T>,
) -> Result<CommandContext, ServiceError> {
    CommandContext::from_request(&format!("fundtrail.v1.Milestones/{method}"), request)
}

/// A milestone named by a request. Numbers start at 1, so 0 can only be a field left unset,
/// which deserves a field violation rather than "no milestone 0".
fn milestone(value: u32) -> Result<u32, ServiceError> {
    wire::milestone(value).ok_or_else(|| {
        ServiceError::invalid(
            "milestone",
            "name the milestone by its number (1, 2, ...), as PlanMilestone returned it",
        )
    })
}

/// A registration that does not say how the project is funded is advance-funded, which is
/// what every registration meant before the choice existed.
fn funding(value: i32) -> Result<FundingModality, ServiceError> {
    match v1::FundingModality::try_from(value) {
        Ok(v1::FundingModality::Unspecified | v1::FundingModality::AdvanceFunded) => {
            Ok(FundingModality::AdvanceFunded)
        }
        Ok(v1::FundingModality::ResultsBased) => Ok(FundingModality::ResultsBased),
        Err(_) => Err(ServiceError::invalid(
            "funding",
            "choose ADVANCE_FUNDED or RESULTS_BASED",
        )),
    }
}

/// The rule a milestone is planned with. UNSPECIFIED becomes the legacy rule, which the
/// domain refuses for a new milestone with a field violation naming `release_rule`.
fn release_rule(value: i32) -> Result<ReleaseRule, ServiceError> {
    match v1::ReleaseRule::try_from(value) {
        Ok(v1::ReleaseRule::Unspecified) => Ok(ReleaseRule::WholeOnVerification),
        Ok(v1::ReleaseRule::Proportional) => Ok(ReleaseRule::Proportional),
        Ok(v1::ReleaseRule::AllOrNothing) => Ok(ReleaseRule::AllOrNothing),
        Err(_) => Err(ServiceError::invalid(
            "release_rule",
            "choose PROPORTIONAL or ALL_OR_NOTHING",
        )),
    }
}

impl MilestonesService {
    async fn register_project(
        &self,
        request: Request<v1::RegisterProjectRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RegisterProject", &request)?;
        let r = request.into_inner();
        // A fresh id per attempt is safe: a retried request replays the original result,
        // whose created_id is the id drawn the first time.
        let project_id = ProjectId::from_uuid(Uuid::now_v7());
        let command = ProjectCommand::Register {
            project_id,
            country: wire::country("country", &r.country)?,
            partner: wire::partner("partner", r.partner.as_ref())?,
            title: r.title,
            sector_code: (r.sector_code != 0).then_some(r.sector_code),
            budget: wire::money("budget", r.budget.as_ref())?,
            starts_on: wire::date("starts_on", &r.starts_on)?,
            ends_on: wire::date("ends_on", &r.ends_on)?,
            funding: funding(r.funding)?,
        };
        self.ledger
            .execute::<Project, _>(&ctx, &Project::stream(&project_id), |project| {
                project.decide(command.clone())
            })
            .await
    }

    async fn on_project(
        &self,
        ctx: &CommandContext,
        project_id: &str,
        decide: impl Fn(&Project) -> Result<Vec<ProjectEvent>, DomainError> + Send + Sync,
    ) -> Result<v1::CommandResult, ServiceError> {
        let project_id = ProjectId::parse(project_id)?;
        self.ledger
            .execute::<Project, _>(ctx, &Project::stream(&project_id), decide)
            .await
    }

    async fn plan_milestone(
        &self,
        request: Request<v1::PlanMilestoneRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("PlanMilestone", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::PlanMilestone {
            title: r.title,
            indicator: wire::indicator("indicator", r.indicator.as_ref())?,
            target: r.target,
            tranche: wire::money("tranche", r.tranche.as_ref())?,
            due_on: wire::date("due_on", &r.due_on)?,
            release_rule: release_rule(r.release_rule)?,
        };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }

    async fn report_progress(
        &self,
        request: Request<v1::ReportProgressRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReportProgress", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::ReportProgress {
            milestone: milestone(r.milestone)?,
            actual: r.actual,
            evidence_reference: r.evidence_reference,
            reported_by: ctx.actor.clone(),
        };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }

    async fn verify_milestone(
        &self,
        request: Request<v1::VerifyMilestoneRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("VerifyMilestone", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::Verify {
            milestone: milestone(r.milestone)?,
            verified_by: ctx.actor.clone(),
        };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }

    async fn reject_milestone(
        &self,
        request: Request<v1::RejectMilestoneRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RejectMilestone", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::Reject {
            milestone: milestone(r.milestone)?,
            reason: r.reason,
            rejected_by: ctx.actor.clone(),
        };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }

    async fn close_project(
        &self,
        request: Request<v1::CloseProjectRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("CloseProject", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::Close { reason: r.reason };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }

    async fn change_implementing_partner(
        &self,
        request: Request<v1::ChangeImplementingPartnerRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ChangeImplementingPartner", &request)?;
        let r = request.into_inner();
        let command = ProjectCommand::ChangePartner {
            partner: wire::partner("partner", r.partner.as_ref())?,
            reason: r.reason,
            changed_by: ctx.actor.clone(),
        };
        self.on_project(&ctx, &r.project_id, |p| p.decide(command.clone()))
            .await
    }
}

#[tonic::async_trait]
impl Milestones for MilestonesService {
    async fn register_project(
        &self,
        request: Request<v1::RegisterProjectRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.register_project(request).await)
    }

    async fn plan_milestone(
        &self,
        request: Request<v1::PlanMilestoneRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.plan_milestone(request).await)
    }

    async fn report_progress(
        &self,
        request: Request<v1::ReportProgressRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.report_progress(request).await)
    }

    async fn verify_milestone(
        &self,
        request: Request<v1::VerifyMilestoneRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.verify_milestone(request).await)
    }

    async fn reject_milestone(
        &self,
        request: Request<v1::RejectMilestoneRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.reject_milestone(request).await)
    }

    async fn close_project(
        &self,
        request: Request<v1::CloseProjectRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.close_project(request).await)
    }

    async fn change_implementing_partner(
        &self,
        request: Request<v1::ChangeImplementingPartnerRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.change_implementing_partner(request).await)
    }

    async fn get_project(&self, request: Request<v1::GetProjectRequest>) -> Reply<v1::ProjectView> {
        respond(views::project(&self.ledger, &request.into_inner().project_id).await)
    }

    async fn list_projects(
        &self,
        request: Request<v1::ListProjectsRequest>,
    ) -> Reply<v1::ListProjectsResponse> {
        respond(views::projects(&self.ledger, &request.into_inner().country).await)
    }
}
