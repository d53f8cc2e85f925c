//! Each call of the mix as the API takes it, from the principal whose job it is, with a fresh
//! request id that a retry after `UNAVAILABLE` sends again.

use std::future::Future;
use std::time::Duration;

use fundtrail_client::Session;
use fundtrail_proto::v1;
use tonic::{Code, Status};

use crate::mix::{self, Op, Outcome};

/// How often a call that met `UNAVAILABLE` is sent again, and the pause before the first
/// retry (doubling after each).
const RETRIES: u32 = 4;
const FIRST_BACKOFF: Duration = Duration::from_millis(20);

/// The people a client acts as. The four-eyes rules want the approver other than the
/// requester and the verifier other than the reporter; `staff` records, allocates, requests,
/// registers projects and reports progress.
#[derive(Debug, Clone)]
pub struct Desk {
    pub staff: Session,
    pub approver: Session,
    pub verifier: Session,
}

/// What one call came to.
#[derive(Debug)]
pub struct Answer {
    pub outcome: Outcome,
    /// For a command: the global position of its last event and how many it recorded.
    pub recorded: Option<(u64, u32)>,
    pub retries: u32,
    pub error: Option<Status>,
}

fn money(minor_units: i64) -> v1::Money {
    v1::Money {
        currency: "EUR".to_owned(),
        minor_units,
    }
}

fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Sends `message` until it is answered with something other than `UNAVAILABLE`, at most
/// `RETRIES` more times; the message, and so its request id, is the same each time.
async fn send<M, R, F, Fut>(message: M, mut call: F) -> (Result<R, Status>, u32)
where
    M: Clone,
    F: FnMut(M) -> Fut,
    Fut: Future<Output = Result<tonic::Response<R>, Status>>,
{
    let mut retries = 0;
    let mut pause = FIRST_BACKOFF;
    loop {
        match call(message.clone()).await {
            Err(status) if status.code() == Code::Unavailable && retries < RETRIES => {
                retries += 1;
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
            result => return (result.map(tonic::Response::into_inner), retries),
        }
    }
}

fn command(result: (Result<v1::CommandResult, Status>, u32)) -> Answer {
    match result {
        (Ok(done), retries) => Answer {
            outcome: Outcome::Recorded {
                created: done.created_id,
            },
            recorded: Some((done.position, done.event_count)),
            retries,
            error: None,
        },
        (Err(status), retries) => failed(status, retries),
    }
}

fn query<R>(result: (Result<R, Status>, u32)) -> Answer {
    match result {
        (Ok(_), retries) => Answer {
            outcome: Outcome::Read,
            recorded: None,
            retries,
            error: None,
        },
        (Err(status), retries) => failed(status, retries),
    }
}

fn failed(status: Status, retries: u32) -> Answer {
    Answer {
        outcome: Outcome::Failed,
        recorded: None,
        retries,
        error: Some(status),
    }
}

impl Desk {
    /// Makes the call `op` stands for.
    #[allow(clippy::too_many_lines, reason = "one arm per call of the mix")]
    pub async fn call(&self, op: &Op) -> Answer {
        let staff = &self.staff;
        match op {
            Op::RecordPledge { donor } => {
                let message = v1::RecordPledgeRequest {
                    request_id: request_id(),
                    donor_id: donor.clone(),
                    amount: Some(money(mix::RECEIPT * mix::RECEIPTS_PER_PLEDGE)),
                    pledged_on: "2025-01-10".to_owned(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff.pledges().record_pledge(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::ReceiveContribution { pledge } => {
                let message = v1::ReceiveContributionRequest {
                    request_id: request_id(),
                    pledge_id: pledge.clone(),
                    amount: Some(money(mix::RECEIPT)),
                    value_date: "2025-02-03".to_owned(),
                    rate: Some(v1::ExchangeRate {
                        base: "EUR".to_owned(),
                        quote: "USD".to_owned(),
                        rate: "1.0842".to_owned(),
                        source: "ECB reference rate".to_owned(),
                        date: "2025-01-31".to_owned(),
                    }),
                    // Booked once in the whole fund.
                    bank_reference: format!("BENCH-{}", uuid::Uuid::new_v4().simple()),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff.pledges().receive_contribution(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::AllocateContribution { pledge, project } => {
                let message = v1::AllocateContributionRequest {
                    request_id: request_id(),
                    pledge_id: pledge.clone(),
                    project_id: project.clone(),
                    amount: Some(money(mix::ALLOCATION)),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff
                            .pledges()
                            .allocate_contribution(staff.request(m))
                            .await
                    })
                    .await,
                )
            }
            Op::RequestDisbursement { project } => {
                let message = v1::RequestDisbursementRequest {
                    request_id: request_id(),
                    project_id: project.clone(),
                    amount: Some(money(mix::DISBURSEMENT)),
                    partner: mix::PARTNER.to_owned(),
                    purpose: "Technical survey".to_owned(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff
                            .disbursements()
                            .request_disbursement(staff.request(m))
                            .await
                    })
                    .await,
                )
            }
            Op::ApproveDisbursement {
                project,
                disbursement,
            } => {
                let approver = &self.approver;
                let message = v1::ApproveDisbursementRequest {
                    request_id: request_id(),
                    project_id: project.clone(),
                    disbursement_id: disbursement.clone(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        approver
                            .disbursements()
                            .approve_disbursement(approver.request(m))
                            .await
                    })
                    .await,
                )
            }
            Op::RegisterProject { country } => {
                let message = v1::RegisterProjectRequest {
                    request_id: request_id(),
                    country: (*country).to_owned(),
                    partner: Some(v1::ImplementingPartner {
                        name: mix::PARTNER.to_owned(),
                        iati_id: mix::PARTNER_IATI.to_owned(),
                    }),
                    title: format!("Land release in {country}"),
                    budget: Some(money(mix::BUDGET)),
                    starts_on: "2025-01-01".to_owned(),
                    ends_on: "2027-12-31".to_owned(),
                    funding: v1::FundingModality::AdvanceFunded.into(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff.milestones().register_project(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::PlanMilestone { project } => {
                let message = v1::PlanMilestoneRequest {
                    request_id: request_id(),
                    project_id: project.clone(),
                    title: "Release of a suspected hazardous area".to_owned(),
                    indicator: Some(v1::Indicator {
                        kind: v1::IndicatorKind::SquareMetresCleared.into(),
                        ..Default::default()
                    }),
                    target: mix::TARGET,
                    tranche: Some(money(mix::TRANCHE)),
                    due_on: "2025-09-30".to_owned(),
                    release_rule: v1::ReleaseRule::Proportional.into(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff.milestones().plan_milestone(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::ReportProgress { project, milestone } => {
                let message = v1::ReportProgressRequest {
                    request_id: request_id(),
                    project_id: project.clone(),
                    milestone: *milestone,
                    actual: mix::TARGET + 1_500,
                    evidence_reference: "survey report SR-2025-118".to_owned(),
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        staff.milestones().report_progress(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::VerifyMilestone { project, milestone } => {
                let verifier = &self.verifier;
                let message = v1::VerifyMilestoneRequest {
                    request_id: request_id(),
                    project_id: project.clone(),
                    milestone: *milestone,
                    ..Default::default()
                };
                command(
                    send(message, |m| async move {
                        verifier
                            .milestones()
                            .verify_milestone(verifier.request(m))
                            .await
                    })
                    .await,
                )
            }
            Op::GetPledge { pledge } => {
                let message = v1::GetPledgeRequest {
                    pledge_id: pledge.clone(),
                };
                query(
                    send(message, |m| async move {
                        staff.pledges().get_pledge(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::GetProject { project } => {
                let message = v1::GetProjectRequest {
                    project_id: project.clone(),
                };
                query(
                    send(message, |m| async move {
                        staff.milestones().get_project(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::GetProjectAccount { project } => {
                let message = v1::GetProjectAccountRequest {
                    project_id: project.clone(),
                };
                let (result, retries) = send(message, |m| async move {
                    staff
                        .disbursements()
                        .get_project_account(staff.request(m))
                        .await
                })
                .await;
                match result {
                    Ok(view) => Answer {
                        outcome: Outcome::Account {
                            credited: view.credited.map_or(0, |m| m.minor_units),
                        },
                        recorded: None,
                        retries,
                        error: None,
                    },
                    Err(status) => failed(status, retries),
                }
            }
            Op::GetCountryFunding { country } => {
                let message = v1::GetCountryFundingRequest {
                    country: (*country).to_owned(),
                    ..Default::default()
                };
                query(
                    send(message, |m| async move {
                        staff.funding().get_country_funding(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::GetDonorStatement { donor } => {
                let message = v1::GetDonorStatementRequest {
                    donor_id: donor.clone(),
                    ..Default::default()
                };
                query(
                    send(message, |m| async move {
                        staff.funding().get_donor_statement(staff.request(m)).await
                    })
                    .await,
                )
            }
            Op::GetFundOverview => query(
                send(v1::GetFundOverviewRequest::default(), |m| async move {
                    staff.funding().get_fund_overview(staff.request(m)).await
                })
                .await,
            ),
        }
    }

    /// Registers a donor for the run, as the fund's administrator does.
    pub async fn register_donor(&self, donor_id: &str, name: &str) -> Result<(), Status> {
        let staff = &self.staff;
        let message = v1::RegisterDonorRequest {
            request_id: request_id(),
            donor_id: donor_id.to_owned(),
            name: name.to_owned(),
            kind: v1::DonorKind::Government.into(),
            matching_eligible: false,
            ..Default::default()
        };
        send(message, |m| async move {
            staff.pledges().register_donor(staff.request(m)).await
        })
        .await
        .0
        .map(|_| ())
    }

    /// Waits until the view of the funding reflects `position`, as a client reading its own
    /// write does; the server bounds the wait.
    pub async fn view_reflects(&self, position: u64) -> Result<(), Status> {
        let staff = &self.staff;
        let message = v1::GetFundOverviewRequest {
            min_position: position,
            ..Default::default()
        };
        send(message, |m| async move {
            staff.funding().get_fund_overview(staff.request(m)).await
        })
        .await
        .0
        .map(|_| ())
    }
}
