//! The `fundtrail.v1.Pledges` gRPC service.

use fundtrail_domain::{
    Aggregate, AllocationId, Calendar, CalendarCommand, Currency, Donor, DonorCommand, DonorId,
    Earmark, MatchingCommand, MatchingPool, MatchingPoolId, Money, Pledge, PledgeCommand, PledgeId,
    ProjectId, ReceiptId,
};
use fundtrail_proto::v1;
use fundtrail_proto::v1::pledges_server::Pledges;
use fundtrail_proto::wire::{self, RequestedEarmark};
use fundtrail_service::context::{acts_for_donor, principal};
use fundtrail_service::{CommandContext, Ledger, ServiceError, respond};
use tonic::{Request, Response, Status};
use uuid::Uuid;

use crate::{lookup, views};

/// The pledges service over one ledger.
#[derive(Debug, Clone)]
pub struct PledgesService {
    ledger: Ledger,
}

impl PledgesService {
    pub fn new(ledger: Ledger) -> Self {
        Self { ledger }
    }

    pub fn into_server(self) -> v1::pledges_server::PledgesServer<Self> {
        v1::pledges_server::PledgesServer::new(self)
    }
}

type Reply<T> = Result<Response<T>, Status>;

fn context<T: fundtrail_service::CommandRequest>(
    method: &str,
    request: &Request<T>,
) -> Result<CommandContext, ServiceError> {
    CommandContext::from_request(&format!("fundtrail.v1.Pledges/{method}"), request)
}

impl PledgesService {
    async fn register_donor(
        &self,
        request: Request<v1::RegisterDonorRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RegisterDonor", &request)?;
        let r = request.into_inner();
        let donor_id = DonorId::parse(&r.donor_id)?;
        let stream = Donor::stream(&donor_id);
        let command = DonorCommand::Register {
            donor_id,
            name: r.name,
            kind: wire::donor_kind("kind", r.kind)?,
            matching_eligible: r.matching_eligible,
        };
        self.ledger
            .execute::<Donor, _>(&ctx, &stream, |donor| donor.decide(command.clone()))
            .await
    }

    async fn change_eligibility(
        &self,
        request: Request<v1::ChangeDonorMatchingEligibilityRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ChangeDonorMatchingEligibility", &request)?;
        let r = request.into_inner();
        let donor_id = DonorId::parse(&r.donor_id)?;
        let command = DonorCommand::ChangeMatchingEligibility {
            matching_eligible: r.matching_eligible,
            reason: r.reason,
        };
        self.ledger
            .execute::<Donor, _>(&ctx, &Donor::stream(&donor_id), |donor| {
                donor.decide(command.clone())
            })
            .await
    }

    async fn earmark(&self, requested: RequestedEarmark) -> Result<Earmark, ServiceError> {
        Ok(match requested {
            RequestedEarmark::None => Earmark::None,
            RequestedEarmark::Country(country) => Earmark::Country(country),
            RequestedEarmark::Project(project_id) => {
                let project = self.ledger.project(&project_id).await?;
                Earmark::Project {
                    project_id,
                    country: project.country,
                }
            }
        })
    }

    async fn record_pledge(
        &self,
        request: Request<v1::RecordPledgeRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RecordPledge", &request)?;
        let r = request.into_inner();
        acts_for_donor(&ctx.principal, &r.donor_id)?;
        let donor_id = DonorId::parse(&r.donor_id)?;
        let amount = wire::money("amount", r.amount.as_ref())?;
        let requested = wire::requested_earmark("earmark", r.earmark.as_ref())?;
        let pledged_on = wire::date("pledged_on", &r.pledged_on)?;
        let donor = lookup::donor(&self.ledger, &donor_id).await?;
        let earmark = self.earmark(requested).await?;
        let pledge_id = PledgeId::from_uuid(Uuid::now_v7());
        let command = PledgeCommand::Record {
            pledge_id,
            donor,
            amount,
            earmark,
            pledged_on,
        };
        self.ledger
            .execute::<Pledge, _>(&ctx, &Pledge::stream(&pledge_id), |pledge| {
                pledge.decide(command.clone())
            })
            .await
    }

    async fn on_pledge(
        &self,
        ctx: &CommandContext,
        pledge_id: &str,
        decide: impl Fn(
            &Pledge,
        )
            -> Result<Vec<fundtrail_domain::PledgeEvent>, fundtrail_domain::DomainError>
        + Send
        + Sync,
    ) -> Result<v1::CommandResult, ServiceError> {
        let pledge_id = PledgeId::parse(pledge_id)?;
        self.ledger
            .execute::<Pledge, _>(ctx, &Pledge::stream(&pledge_id), decide)
            .await
    }

    /// Runs a dated entry on a pledge against the fund's calendar (see
    /// [`Ledger::execute_in_period`]).
    async fn in_period(
        &self,
        ctx: &CommandContext,
        pledge_id: &PledgeId,
        decide: impl Fn(
            &Pledge,
            &Calendar,
        )
            -> Result<Vec<fundtrail_domain::PledgeEvent>, fundtrail_domain::DomainError>
        + Send
        + Sync,
    ) -> Result<v1::CommandResult, ServiceError> {
        self.ledger
            .execute_in_period::<Pledge, _>(ctx, &Pledge::stream(pledge_id), decide)
            .await
    }

    async fn close_period(
        &self,
        request: Request<v1::ClosePeriodRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ClosePeriod", &request)?;
        let r = request.into_inner();
        let command = CalendarCommand::ClosePeriod {
            through: wire::date("through", &r.through)?,
            reason: r.reason,
            closed_by: ctx.actor.clone(),
            today: self.ledger.today(),
        };
        self.ledger
            .execute::<Calendar, _>(&ctx, Calendar::STREAM, |calendar| {
                calendar.decide(command.clone())
            })
            .await
    }

    async fn amend_pledge(
        &self,
        request: Request<v1::AmendPledgeRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("AmendPledge", &request)?;
        let r = request.into_inner();
        let command = PledgeCommand::Amend {
            amount: wire::money("amount", r.amount.as_ref())?,
            reason: r.reason,
        };
        self.on_pledge(&ctx, &r.pledge_id, |p| p.decide(command.clone()))
            .await
    }

    async fn withdraw_pledge(
        &self,
        request: Request<v1::WithdrawPledgeRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("WithdrawPledge", &request)?;
        let r = request.into_inner();
        let command = PledgeCommand::Withdraw { reason: r.reason };
        self.on_pledge(&ctx, &r.pledge_id, |p| p.decide(command.clone()))
            .await
    }

    async fn sign_agreement(
        &self,
        request: Request<v1::SignContributionAgreementRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("SignContributionAgreement", &request)?;
        let r = request.into_inner();
        let amount = wire::opt_money("amount", r.amount.as_ref())?;
        let signed_on = wire::date("signed_on", &r.signed_on)?;
        let reference = r.agreement_reference;
        self.on_pledge(&ctx, &r.pledge_id, |p| {
            // Without an amount the agreement commits the whole pledge; an unknown pledge is
            // refused by the decision itself before the amount matters.
            let amount = amount
                .or_else(|| p.terms().map(|t| t.amount))
                .unwrap_or(Money::zero(Currency::USD));
            p.decide(PledgeCommand::SignAgreement {
                agreement_reference: reference.clone(),
                signed_on,
                amount,
            })
        })
        .await
    }

    async fn receive_contribution(
        &self,
        request: Request<v1::ReceiveContributionRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReceiveContribution", &request)?;
        let r = request.into_inner();
        let pledge_id = PledgeId::parse(&r.pledge_id)?;
        let amount = wire::money("amount", r.amount.as_ref())?;
        let value_date = wire::date("value_date", &r.value_date)?;
        let rate = wire::rate("rate", r.rate.as_ref())?;
        let pledge = lookup::pledge(&self.ledger, &pledge_id).await?;
        if let Some(terms) = pledge.terms() {
            acts_for_donor(&ctx.principal, terms.donor_id.as_str())?;
        }
        let donor_matching_eligible = match pledge.terms() {
            Some(terms) => {
                lookup::donor(&self.ledger, &terms.donor_id)
                    .await?
                    .matching_eligible
            }
            None => false,
        };
        let command = PledgeCommand::RecordReceipt {
            receipt_id: ReceiptId::from_uuid(Uuid::now_v7()),
            amount,
            value_date,
            rate,
            reporting_currency: self.ledger.reporting_currency(),
            bank_reference: r.bank_reference,
            over_payment: r.over_payment,
            donor_matching_eligible,
            booked_by: ctx.actor.clone(),
        };
        self.in_period(&ctx, &pledge_id, |p, calendar| {
            calendar.admit("value_date", value_date)?;
            p.decide(command.clone())
        })
        .await
    }

    async fn reverse_receipt(
        &self,
        request: Request<v1::ReverseReceiptRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReverseReceipt", &request)?;
        let r = request.into_inner();
        let command = PledgeCommand::ReverseReceipt {
            receipt_id: ReceiptId::parse(&r.receipt_id)?,
            reason: r.reason,
            reversed_by: ctx.actor.clone(),
        };
        // An adjustment: it names the receipt it corrects, whatever period that is in, and is
        // dated the day it is made, which must be open.
        let today = self.ledger.today();
        self.in_period(&ctx, &PledgeId::parse(&r.pledge_id)?, |p, calendar| {
            calendar.admit("reversal date", today)?;
            p.decide(command.clone())
        })
        .await
    }

    async fn rerate_receipt(
        &self,
        request: Request<v1::RerateReceiptRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RerateReceipt", &request)?;
        let r = request.into_inner();
        let receipt_id = ReceiptId::parse(&r.receipt_id)?;
        let Some(rate) = wire::rate("rate", r.rate.as_ref())? else {
            return Err(ServiceError::invalid(
                "rate",
                "the corrected rate, with its source and date, is required",
            ));
        };
        let command = PledgeCommand::RerateReceipt {
            receipt_id,
            rate,
            reason: r.reason,
            rerated_by: ctx.actor.clone(),
        };
        let today = self.ledger.today();
        self.in_period(&ctx, &PledgeId::parse(&r.pledge_id)?, |p, calendar| {
            calendar.admit("re-rating date", today)?;
            p.decide(command.clone())
        })
        .await
    }

    async fn refund_to_donor(
        &self,
        request: Request<v1::RefundToDonorRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("RefundToDonor", &request)?;
        let r = request.into_inner();
        let value_date = wire::date("value_date", &r.value_date)?;
        let command = PledgeCommand::RefundToDonor {
            amount: wire::money("amount", r.amount.as_ref())?,
            payment_reference: r.payment_reference,
            value_date,
            reason: r.reason,
            refunded_by: ctx.actor.clone(),
        };
        self.in_period(&ctx, &PledgeId::parse(&r.pledge_id)?, |p, calendar| {
            calendar.admit("value_date", value_date)?;
            p.decide(command.clone())
        })
        .await
    }

    async fn allocate(
        &self,
        request: Request<v1::AllocateContributionRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("AllocateContribution", &request)?;
        let r = request.into_inner();
        let project_id = ProjectId::parse(&r.project_id)?;
        let amount = wire::money("amount", r.amount.as_ref())?;
        let rate = wire::rate("rate", r.rate.as_ref())?;
        let pledge_id = PledgeId::parse(&r.pledge_id)?;
        let allocation_id = AllocationId::from_uuid(Uuid::now_v7());
        // The project is read with the pledge and must not change before the allocation is
        // appended: an allocation never lands on a project closed in between.
        self.ledger
            .execute_on_project::<Pledge, _>(
                &ctx,
                &Pledge::stream(&pledge_id),
                &project_id,
                |pledge, project| {
                    pledge.decide(PledgeCommand::Allocate {
                        allocation_id,
                        project: project.clone(),
                        amount,
                        rate: rate.clone(),
                    })
                },
            )
            .await
    }

    async fn open_pool(
        &self,
        request: Request<v1::OpenMatchingPoolRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("OpenMatchingPool", &request)?;
        let r = request.into_inner();
        let donor_id = DonorId::parse(&r.matching_donor_id).map_err(|_| {
            ServiceError::invalid(
                "matching_donor_id",
                "an IATI organisation identifier, e.g. US-GOV-1",
            )
        })?;
        let cap = wire::money("cap", r.cap.as_ref())?;
        let ratio = wire::ratio("ratio", r.ratio.as_ref())?;
        let eligible_countries = wire::countries("eligible_countries", &r.eligible_countries)?;
        let expires_on = wire::date("expires_on", &r.expires_on)?;
        let starts_on = if r.starts_on.trim().is_empty() {
            None
        } else {
            Some(wire::date("starts_on", &r.starts_on)?)
        };
        if cap.currency() != self.ledger.reporting_currency() {
            return Err(ServiceError::invalid(
                "cap.currency",
                format!(
                    "a matching pool is kept in the fund's reporting currency, {}",
                    self.ledger.reporting_currency()
                ),
            ));
        }
        let matching_donor = lookup::donor(&self.ledger, &donor_id).await?;
        let pool_id = MatchingPoolId::from_uuid(Uuid::now_v7());
        let command = MatchingCommand::Open {
            pool_id,
            matching_donor,
            cap,
            ratio,
            eligible_countries,
            expires_on,
            starts_on,
        };
        self.ledger
            .execute::<MatchingPool, _>(&ctx, &MatchingPool::stream(&pool_id), |pool| {
                pool.decide(command.clone())
            })
            .await
    }

    async fn reserve_match(
        &self,
        request: Request<v1::ReserveMatchRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("ReserveMatch", &request)?;
        let r = request.into_inner();
        let pool_id = MatchingPoolId::parse(&r.pool_id)?;
        let pledge_id = PledgeId::parse(&r.pledge_id)?;
        let receipt_id = ReceiptId::parse(&r.receipt_id)?;
        let amount = wire::opt_money("amount", r.amount.as_ref())?;
        let pledge = lookup::pledge(&self.ledger, &pledge_id).await?;
        let (Some(terms), Some(receipt)) = (pledge.terms(), pledge.receipts().get(&receipt_id))
        else {
            return Err(fundtrail_domain::DomainError::refused(
                fundtrail_domain::Reason::MatchNotFound,
                format!("pledge {pledge_id} has no receipt {receipt_id}"),
            )
            .into());
        };
        let contributing_donor = lookup::donor(&self.ledger, &terms.donor_id).await?;
        let command = MatchingCommand::Reserve {
            receipt_id,
            contributing_donor,
            pledge_id,
            country: terms.earmark.country(),
            contribution: receipt.reporting_amount,
            value_date: receipt.value_date,
            amount,
        };
        self.ledger
            .execute::<MatchingPool, _>(&ctx, &MatchingPool::stream(&pool_id), |pool| {
                pool.decide(command.clone())
            })
            .await
    }

    async fn void_match(
        &self,
        request: Request<v1::VoidMatchRequest>,
    ) -> Result<v1::CommandResult, ServiceError> {
        let ctx = context("VoidMatch", &request)?;
        let r = request.into_inner();
        let pool_id = MatchingPoolId::parse(&r.pool_id)?;
        let command = MatchingCommand::Void {
            receipt_id: ReceiptId::parse(&r.receipt_id)?,
            reason: r.reason,
        };
        self.ledger
            .execute::<MatchingPool, _>(&ctx, &MatchingPool::stream(&pool_id), |pool| {
                pool.decide(command.clone())
            })
            .await
    }
}

impl PledgesService {
    async fn donor(
        &self,
        request: &Request<v1::GetDonorRequest>,
    ) -> Result<v1::DonorView, ServiceError> {
        let donor_id = &request.get_ref().donor_id;
        acts_for_donor(principal(request)?, donor_id)?;
        views::donor(&self.ledger, donor_id).await
    }

    /// A pledge; a donor integration reads its own donor's only, and learns nothing of the
    /// others beyond that they are not its own.
    async fn pledge(
        &self,
        request: &Request<v1::GetPledgeRequest>,
    ) -> Result<v1::PledgeView, ServiceError> {
        let caller = principal(request)?;
        let pledge = views::pledge(&self.ledger, &request.get_ref().pledge_id).await?;
        acts_for_donor(caller, &pledge.donor_id)?;
        Ok(pledge)
    }
}

#[tonic::async_trait]
impl Pledges for PledgesService {
    async fn register_donor(
        &self,
        request: Request<v1::RegisterDonorRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.register_donor(request).await)
    }

    async fn change_donor_matching_eligibility(
        &self,
        request: Request<v1::ChangeDonorMatchingEligibilityRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.change_eligibility(request).await)
    }

    async fn record_pledge(
        &self,
        request: Request<v1::RecordPledgeRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.record_pledge(request).await)
    }

    async fn amend_pledge(
        &self,
        request: Request<v1::AmendPledgeRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.amend_pledge(request).await)
    }

    async fn withdraw_pledge(
        &self,
        request: Request<v1::WithdrawPledgeRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.withdraw_pledge(request).await)
    }

    async fn sign_contribution_agreement(
        &self,
        request: Request<v1::SignContributionAgreementRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.sign_agreement(request).await)
    }

    async fn receive_contribution(
        &self,
        request: Request<v1::ReceiveContributionRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.receive_contribution(request).await)
    }

    async fn allocate_contribution(
        &self,
        request: Request<v1::AllocateContributionRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.allocate(request).await)
    }

    async fn reverse_receipt(
        &self,
        request: Request<v1::ReverseReceiptRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.reverse_receipt(request).await)
    }

    async fn rerate_receipt(
        &self,
        request: Request<v1::RerateReceiptRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.rerate_receipt(request).await)
    }

    async fn refund_to_donor(
        &self,
        request: Request<v1::RefundToDonorRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.refund_to_donor(request).await)
    }

    async fn open_matching_pool(
        &self,
        request: Request<v1::OpenMatchingPoolRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.open_pool(request).await)
    }

    async fn reserve_match(
        &self,
        request: Request<v1::ReserveMatchRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.reserve_match(request).await)
    }

    async fn void_match(&self, request: Request<v1::VoidMatchRequest>) -> Reply<v1::CommandResult> {
        respond(self.void_match(request).await)
    }

    async fn match_contribution(
        &self,
        request: Request<v1::MatchContributionRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(crate::pools::match_contribution(&self.ledger, request).await)
    }

    async fn get_donor(&self, request: Request<v1::GetDonorRequest>) -> Reply<v1::DonorView> {
        respond(self.donor(&request).await)
    }

    async fn list_donors(
        &self,
        _request: Request<v1::ListDonorsRequest>,
    ) -> Reply<v1::ListDonorsResponse> {
        respond(views::donors(&self.ledger).await)
    }

    async fn get_pledge(&self, request: Request<v1::GetPledgeRequest>) -> Reply<v1::PledgeView> {
        respond(self.pledge(&request).await)
    }

    async fn get_matching_pool(
        &self,
        request: Request<v1::GetMatchingPoolRequest>,
    ) -> Reply<v1::MatchingPoolView> {
        respond(views::pool(&self.ledger, &request.into_inner().pool_id).await)
    }

    async fn close_period(
        &self,
        request: Request<v1::ClosePeriodRequest>,
    ) -> Reply<v1::CommandResult> {
        respond(self.close_period(request).await)
    }

    async fn get_calendar(
        &self,
        _request: Request<v1::GetCalendarRequest>,
    ) -> Reply<v1::CalendarView> {
        respond(views::calendar(&self.ledger).await)
    }
}
