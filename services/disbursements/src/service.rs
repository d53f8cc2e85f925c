//! The `fundtrail.v1.Disbursements` gRPC service.

use fundtrail_domain::{
    AccountCommand, AccountEvent, Aggregate, AllocationId, DisbursementId, DomainError,
    ProjectAccount, ProjectId,
};
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use fundtrail_proto::wire;
use fundtrail_service::{CommandContext, Ledger, ServiceError, respond};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::views;

/// The disbursements service over one ledger.
#[derive(Debug, Clone)]
pub struct DisbursementsService {
    ledger: Ledger,
}

impl DisbursementsService {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }

    pub fn into_server(self) -> v1::disbursements_server::DisbursementsServer<Self> {
        v1::disbursements_server::DisbursementsServer::new(self)
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn context<T: fundtrail_service::CommandRequest>(
    method: &str,
    request: &Request<T>,
) -> Result<CommandContext, ServiceError> {
    CommandContext::from_request(&format!("fundtrail.v1.Disbursements/{method}"), request)
}

impl DisbursementsService {
    /// Runs a command on a project's account. The project is looked up first so that an
    /// unknown project is `NOT_FOUND` instead of an account with nothing allocated.
    async fn on_account(
        &self,
        ctx: &CommandContext,
        project_id: ProjectId,
        decide: impl Fn(&ProjectAccount) -> Result<Vec<AccountEvent>, DomainError> + Send + Sync,
    ) -> Result<v1::CommandResult, ServiceError> {
        self.ledger.project(&project_id).await?;
        self.ledger
            .execute::<ProjectAccount, _>(ctx, &ProjectAccount::stream(&project_id), decide)
            .await
    }

    async fn request_disbursement(
        &self,
        request: Request<v1::RequestDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RequestDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        // A fresh id per attempt is safe: a retried request replays the original result,
        // whose created_id is the id drawn the first time.
        let disbursement_id = DisbursementId::from_uuid(Uuid::now_v7());
        let amount = wire::money("amount", r.amount.as_ref())?;
        let milestone = wire::milestone(r.milestone);
        // Whether the project is closed, and who its partner is, are read with the account and
        // must still hold when the request is appended.
        self.ledger
            .execute_on_project::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(&project_id),
                &project_id,
                |account, project| {
                    account.decide(AccountCommand::Request {
                        project: project.clone(),
                        disbursement_id,
                        amount,
                        partner: r.partner.clone(),
                        milestone,
                        purpose: r.purpose.clone(),
                        requested_by: ctx.actor.clone(),
                    })
                },
            )
            .await
    }

    async fn approve_disbursement(
        &self,
        request: Request<v1::ApproveDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ApproveDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let command = AccountCommand::Approve {
            disbursement_id: DisbursementId::parse(&r.disbursement_id)?,
            approved_by: ctx.actor.clone(),
        };
        self.on_account(&ctx, project_id, |a| a.decide(command.clone()))
            .await
    }

    async fn reject_disbursement(
        &self,
        request: Request<v1::RejectDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RejectDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let command = AccountCommand::Reject {
            disbursement_id: DisbursementId::parse(&r.disbursement_id)?,
            reason: r.reason,
            rejected_by: ctx.actor.clone(),
        };
        self.on_account(&ctx, project_id, |a| a.decide(command.clone()))
            .await
    }

    async fn pay_disbursement(
        &self,
        request: Request<v1::PayDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("PayDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let disbursement_id = DisbursementId::parse(&r.disbursement_id)?;
        let paid_on = wire::date("paid_on", &r.paid_on)?;
        let payment_currency = if r.payment_currency.trim().is_empty() {
            None
        } else {
            Some(wire::currency("payment_currency", &r.payment_currency)?)
        };
        let rate = wire::rate("rate", r.rate.as_ref())?;
        let bank_reference = r.bank_reference;
        let project = self.ledger.project(&project_id).await?;
        // A payment is an entry of the books on the day it left the bank: never in a closed
        // period, and the calendar must not move between the decision and the append.
        self.ledger
            .execute_in_period::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(&project_id),
                |a, calendar| {
                    calendar.admit("paid_on", paid_on)?;
                    // An account takes its currency from its first credit, which is in the
                    // project's currency; an account with none is refused by the decision itself.
                    let payment_currency = payment_currency
                        .or(a.currency())
                        .unwrap_or(project.currency);
                    a.decide(AccountCommand::Pay {
                        disbursement_id,
                        paid_on,
                        bank_reference: bank_reference.clone(),
                        payment_currency,
                        rate: rate.clone(),
                    })
                },
            )
            .await
    }

    async fn reverse_disbursement(
        &self,
        request: Request<v1::ReverseDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReverseDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let command = AccountCommand::Reverse {
            disbursement_id: DisbursementId::parse(&r.disbursement_id)?,
            reason: r.reason,
        };
        // Dated the day it is made, naming the payment it corrects.
        let today = self.ledger.today();
        self.ledger.project(&project_id).await?;
        self.ledger
            .execute_in_period::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(&project_id),
                |a, calendar| {
                    calendar.admit("reversal date", today)?;
                    a.decide(command.clone())
                },
            )
            .await
    }

    async fn refund_disbursement(
        &self,
        request: Request<v1::RefundDisbursementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RefundDisbursement", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let refunded_on = wire::date("refunded_on", &r.refunded_on)?;
        let command = AccountCommand::Refund {
            disbursement_id: DisbursementId::parse(&r.disbursement_id)?,
            amount: wire::money("amount", r.amount.as_ref())?,
            refunded_on,
            reason: r.reason,
        };
        // An adjustment naming the payment it corrects, dated when the partner paid back:
        // that date must be in the open period, whichever period the payment was in.
        self.ledger.project(&project_id).await?;
        self.ledger
            .execute_in_period::<ProjectAccount, _>(
                &ctx,
                &ProjectAccount::stream(&project_id),
                |a, calendar| {
                    calendar.admit("refunded_on", refunded_on)?;
                    a.decide(command.clone())
                },
            )
            .await
    }

    async fn return_allocation(
        &self,
        request: Request<v1::ReturnAllocationRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReturnAllocation", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let command = AccountCommand::ReturnAllocation {
            allocation_id: AllocationId::parse(&r.allocation_id)?,
            // Absent or zero: the whole remainder, as clients before partial returns meant.
            amount: wire::opt_money("amount", r.amount.as_ref())?,
            reason: r.reason,
        };
        self.on_account(&ctx, project_id, |a| a.decide(command.clone()))
            .await
    }

    async fn close_project_account(
        &self,
        request: Request<v1::CloseProjectAccountRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("CloseProjectAccount", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let command = AccountCommand::Close {
            reason: r.reason,
            closed_by: ctx.actor.clone(),
        };
        self.on_account(&ctx, project_id, |a| a.decide(command.clone()))
            .await
    }
}

#[tonic::async_trait]
impl Disbursements for DisbursementsService {
    async fn request_disbursement(
        &self,
        request: Request<v1::RequestDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.request_disbursement(request).await)
    }

    async fn approve_disbursement(
        &self,
        request: Request<v1::ApproveDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.approve_disbursement(request).await)
    }

    async fn reject_disbursement(
        &self,
        request: Request<v1::RejectDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.reject_disbursement(request).await)
    }

    async fn pay_disbursement(
        &self,
        request: Request<v1::PayDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.pay_disbursement(request).await)
    }

    async fn reverse_disbursement(
        &self,
        request: Request<v1::ReverseDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.reverse_disbursement(request).await)
    }

    async fn refund_disbursement(
        &self,
        request: Request<v1::RefundDisbursementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.refund_disbursement(request).await)
    }

    async fn return_allocation(
        &self,
        request: Request<v1::ReturnAllocationRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.return_allocation(request).await)
    }

    async fn close_project_account(
        &self,
        request: Request<v1::CloseProjectAccountRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.close_project_account(request).await)
    }

    async fn get_project_account(
        &self,
        request: Request<v1::GetProjectAccountRequest>,
    ) -> Reply<v1::ProjectAccountView> {
        respond(views::account(&self.ledger, &request.into_inner().project_id).await)
    }
}
