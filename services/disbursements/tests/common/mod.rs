//! A trust fund on an in-memory store: the pledges and milestones services record the story,
//! the disbursements service and its process managers are under test.

#![allow(dead_code, reason = "each test file uses part of the fixture")]

use std::sync::Arc;

use fundtrail_disbursements::{CreditReaction, DisbursementsService, TrancheReaction};
use fundtrail_domain::Currency;
use fundtrail_identity::{Principal, Role};
use fundtrail_milestones::MilestonesService;
use fundtrail_pledges::PledgesService;
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use fundtrail_proto::v1::milestones_server::Milestones;
use fundtrail_proto::v1::pledges_server::Pledges;
use fundtrail_service::{Handled, Ledger, Reaction};
use fundtrail_store::{Cursor, EventStore, RecordedEvent, StoreOptions};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub const STAFF: &str = "finance@itf.si";
pub const APPROVER: &str = "director@itf.si";
pub const PARTNER: &str = "field@halotrust.org";
pub const VERIFIER: &str = "qa@itf.si";
pub const DONOR: &str = "XM-DAC-7";

pub struct Fund {
    pub store: Arc<dyn EventStore>,
    pub pledges: PledgesService,
    pub milestones: MilestonesService,
    pub service: DisbursementsService,
    pub credits: CreditReaction,
    pub tranches: TrancheReaction,
    next_request: std::sync::atomic::AtomicU32,
}

pub async fn fund() -> Fund {
    let store = fundtrail_store::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let ledger = |source| Ledger::new(store.clone(), source, Currency::USD);
    let disbursements = ledger("disbursements");
    let fund = Fund {
        pledges: PledgesService::new(ledger("pledges")),
        milestones: MilestonesService::new(ledger("milestones")),
        service: DisbursementsService::new(disbursements.clone()),
        credits: CreditReaction::new(disbursements.clone()),
        tranches: TrancheReaction::new(disbursements),
        store,
        next_request: 0.into(),
    };
    fund.pledges
        .register_donor(as_actor(
            STAFF,
            v1::RegisterDonorRequest {
                request_id: "donor".into(),
                donor_id: DONOR.into(),
                name: "Netherlands".into(),
                kind: v1::DonorKind::Government.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    fund
}

/// A request as the server's authentication layer hands it on: carrying the principal it
/// authenticated, here a member of staff with every staff role.
pub fn as_actor<T>(actor: &str, body: T) -> Request<T> {
    let mut request = Request::new(body);
    request.extensions_mut().insert(Principal {
        subject: actor.to_owned(),
        display_name: actor.to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: [
            Role::FinanceOfficer,
            Role::Approver,
            Role::ProgrammeOfficer,
            Role::Verifier,
            Role::Administrator,
            Role::Auditor,
        ]
        .into(),
        donor_id: None,
    });
    request
}

pub fn money(currency: &str, minor_units: i64) -> v1::Money {
    v1::Money {
        currency: currency.into(),
        minor_units,
    }
}

pub fn usd(minor_units: i64) -> v1::Money {
    money("USD", minor_units)
}

/// Asserts a refusal's gRPC code and its `ErrorInfo.reason`.
pub fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, reason, "{status:?}");
}

/// Asserts malformed input: `INVALID_ARGUMENT` with a violation on `field`.
pub fn assert_violation<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status.get_details_bad_request().expect("field violations");
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, [field], "{status:?}");
}

impl Fund {
    pub fn request_id(&self) -> String {
        let n = self
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("req-{n}")
    }

    pub async fn head(&self) -> u64 {
        self.store.head().await.unwrap().position
    }

    /// A registered USD project with a budget of USD 1,000,000.00.
    pub async fn project(&self) -> String {
        self.milestones
            .register_project(as_actor(
                STAFF,
                v1::RegisterProjectRequest {
                    request_id: self.request_id(),
                    country: "AF".into(),
                    partner: Some(v1::ImplementingPartner {
                        name: "The HALO Trust".into(),
                        iati_id: "GB-CHC-1001813".into(),
                    }),
                    title: "Clearance of the Kandahar canal belt".into(),
                    budget: Some(usd(100_000_000)),
                    starts_on: "2024-03-01".into(),
                    ends_on: "2025-02-28".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    /// Pledges, receives and allocates `amount` USD to the project; the allocation id.
    pub async fn allocate(&self, project_id: &str, amount: i64) -> String {
        let pledge_id = self
            .pledges
            .record_pledge(as_actor(
                STAFF,
                v1::RecordPledgeRequest {
                    request_id: self.request_id(),
                    donor_id: DONOR.into(),
                    amount: Some(usd(amount)),
                    pledged_on: "2024-01-15".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id;
        self.pledges
            .receive_contribution(as_actor(
                STAFF,
                v1::ReceiveContributionRequest {
                    request_id: self.request_id(),
                    pledge_id: pledge_id.clone(),
                    amount: Some(usd(amount)),
                    value_date: "2024-02-01".into(),
                    bank_reference: format!("NL-{pledge_id}"),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        self.pledges
            .allocate_contribution(as_actor(
                STAFF,
                v1::AllocateContributionRequest {
                    request_id: self.request_id(),
                    pledge_id,
                    project_id: project_id.into(),
                    amount: Some(usd(amount)),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    /// Plans a milestone releasing `tranche` USD, has the partner report it beyond its target
    /// and QA verify it, which releases the whole tranche.
    pub async fn verified_milestone(&self, project_id: &str, tranche: i64) -> u32 {
        self.verified_milestone_at(project_id, tranche, 51_200)
            .await
    }

    /// Plans a milestone of 50 000 m² releasing `tranche` USD in proportion to verified
    /// output, and verifies `actual` m².
    pub async fn verified_milestone_at(&self, project_id: &str, tranche: i64, actual: u64) -> u32 {
        let milestone: u32 = self
            .milestones
            .plan_milestone(as_actor(
                STAFF,
                v1::PlanMilestoneRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    title: "First 50,000 m² released".into(),
                    indicator: Some(v1::Indicator {
                        kind: v1::IndicatorKind::SquareMetresCleared.into(),
                        ..Default::default()
                    }),
                    target: 50_000,
                    tranche: Some(usd(tranche)),
                    due_on: "2024-09-30".into(),
                    release_rule: v1::ReleaseRule::Proportional.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
            .parse()
            .unwrap();
        self.milestones
            .report_progress(as_actor(
                PARTNER,
                v1::ReportProgressRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    milestone,
                    actual,
                    evidence_reference: "Completion certificate AF-2024-117".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        self.milestones
            .verify_milestone(as_actor(
                VERIFIER,
                v1::VerifyMilestoneRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    milestone,
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
        milestone
    }

    /// Every event in the store, in position order.
    pub async fn history(&self) -> Vec<RecordedEvent> {
        self.store.read_all(1, 100_000).await.unwrap()
    }

    /// Delivers every event recorded so far to a reaction, as a log would; what it did with
    /// each.
    pub async fn deliver(&self, reaction: &dyn Reaction) -> Vec<(RecordedEvent, Handled)> {
        let mut handled = Vec::new();
        for event in self.history().await {
            handled.push((event.clone(), self.deliver_one(reaction, &event).await));
        }
        handled
    }

    pub async fn deliver_one(&self, reaction: &dyn Reaction, event: &RecordedEvent) -> Handled {
        let decoded = fundtrail_proto::decode(&event.event_type, &event.payload).unwrap();
        let cursor = Cursor {
            consumer: reaction.name().to_owned(),
            position: event.position,
        };
        reaction.handle(event, &decoded, cursor).await.unwrap()
    }

    /// A project that has USD `amount` credited to its account.
    pub async fn funded_project(&self, amount: i64) -> String {
        let project_id = self.project().await;
        self.allocate(&project_id, amount).await;
        self.deliver(&self.credits).await;
        project_id
    }

    pub async fn account(&self, project_id: &str) -> Result<v1::ProjectAccountView, Status> {
        self.service
            .get_project_account(Request::new(v1::GetProjectAccountRequest {
                project_id: project_id.into(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn account_events(&self, project_id: &str) -> Vec<RecordedEvent> {
        self.store
            .read_stream(&format!("account-{project_id}"), 0)
            .await
            .unwrap()
    }

    pub async fn request(
        &self,
        project_id: &str,
        amount: i64,
        milestone: u32,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .request_disbursement(as_actor(
                STAFF,
                v1::RequestDisbursementRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    amount: Some(usd(amount)),
                    partner: "The HALO Trust".into(),
                    milestone,
                    purpose: "Deminer salaries, second quarter".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn approve(
        &self,
        actor: &str,
        project_id: &str,
        disbursement_id: &str,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .approve_disbursement(as_actor(
                actor,
                v1::ApproveDisbursementRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    disbursement_id: disbursement_id.into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn reject(
        &self,
        project_id: &str,
        disbursement_id: &str,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .reject_disbursement(as_actor(
                APPROVER,
                v1::RejectDisbursementRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    disbursement_id: disbursement_id.into(),
                    reason: "Invoice does not match the work plan".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub fn pay_request(
        &self,
        project_id: &str,
        disbursement_id: &str,
    ) -> v1::PayDisbursementRequest {
        v1::PayDisbursementRequest {
            request_id: self.request_id(),
            project_id: project_id.into(),
            disbursement_id: disbursement_id.into(),
            paid_on: "2024-06-03".into(),
            bank_reference: format!("ITF-PAY-{disbursement_id}"),
            ..Default::default()
        }
    }

    pub async fn pay(
        &self,
        project_id: &str,
        disbursement_id: &str,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .pay_disbursement(as_actor(
                STAFF,
                self.pay_request(project_id, disbursement_id),
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn refund(
        &self,
        project_id: &str,
        disbursement_id: &str,
        amount: i64,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .refund_disbursement(as_actor(
                STAFF,
                v1::RefundDisbursementRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    disbursement_id: disbursement_id.into(),
                    amount: Some(usd(amount)),
                    refunded_on: "2024-07-01".into(),
                    reason: "Unspent fuel budget".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn reverse(
        &self,
        project_id: &str,
        disbursement_id: &str,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .reverse_disbursement(as_actor(
                STAFF,
                v1::ReverseDisbursementRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    disbursement_id: disbursement_id.into(),
                    reason: "Returned by the beneficiary bank".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    pub async fn return_allocation(
        &self,
        project_id: &str,
        allocation_id: &str,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .return_allocation(as_actor(
                STAFF,
                v1::ReturnAllocationRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    allocation_id: allocation_id.into(),
                    reason: "Project scope reduced".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }
}
