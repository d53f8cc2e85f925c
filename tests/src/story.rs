//! Steps of the trust fund's story, shared by the end-to-end tests.

use std::time::Duration;

use fundtrail_proto::v1;

use crate::{Clients, as_actor, country_earmark, eventually, money, rate, rid};

pub const FINANCE: &str = "finance@itf.si";
pub const DIRECTOR: &str = "director@itf.si";
pub const PARTNER: &str = "field@npa.no";
pub const VERIFIER: &str = "qa@itf.si";

/// How long an asynchronous effect of a process manager may take.
pub const EFFECT_TIMEOUT: Duration = Duration::from_secs(20);

pub async fn register_donor(
    c: &mut Clients,
    donor_id: &str,
    name: &str,
    matching_eligible: bool,
) -> anyhow::Result<v1::CommandResult> {
    Ok(c.pledges
        .register_donor(as_actor(
            FINANCE,
            v1::RegisterDonorRequest {
                request_id: rid(),
                donor_id: donor_id.to_owned(),
                name: name.to_owned(),
                kind: v1::DonorKind::Government.into(),
                matching_eligible,
                ..Default::default()
            },
        ))
        .await?
        .into_inner())
}

pub async fn open_pool(
    c: &mut Clients,
    donor_id: &str,
    cap_cents: i64,
    countries: &[&str],
) -> anyhow::Result<String> {
    Ok(c.pledges
        .open_matching_pool(as_actor(
            FINANCE,
            v1::OpenMatchingPoolRequest {
                request_id: rid(),
                matching_donor_id: donor_id.to_owned(),
                cap: money("USD", cap_cents),
                ratio: Some(v1::MatchRatio {
                    numerator: 1,
                    denominator: 1,
                }),
                eligible_countries: countries.iter().map(|c| (*c).to_owned()).collect(),
                expires_on: "2027-12-31".to_owned(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .created_id)
}

pub async fn record_pledge(
    c: &mut Clients,
    donor_id: &str,
    amount: Option<v1::Money>,
    earmark: Option<v1::Earmark>,
) -> Result<v1::CommandResult, tonic::Status> {
    c.pledges
        .record_pledge(as_actor(
            FINANCE,
            v1::RecordPledgeRequest {
                request_id: rid(),
                donor_id: donor_id.to_owned(),
                amount,
                earmark,
                pledged_on: "2025-01-10".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Receives EUR on a pledge at 1 EUR = 1.0842 USD.
pub async fn receive_eur(
    c: &mut Clients,
    pledge_id: &str,
    cents: i64,
    bank_reference: &str,
) -> Result<v1::CommandResult, tonic::Status> {
    c.pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                amount: money("EUR", cents),
                value_date: "2025-02-03".to_owned(),
                rate: rate("EUR", "USD", "1.0842", "2025-01-31"),
                bank_reference: bank_reference.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn register_project(
    c: &mut Clients,
    country: &str,
    budget_cents: i64,
) -> anyhow::Result<String> {
    Ok(c.milestones
        .register_project(as_actor(
            FINANCE,
            v1::RegisterProjectRequest {
                request_id: rid(),
                country: country.to_owned(),
                partner: Some(v1::ImplementingPartner {
                    name: "Norwegian People's Aid".to_owned(),
                    iati_id: "NO-BRC-971277882".to_owned(),
                }),
                title: format!("Land release in {country}"),
                budget: money("EUR", budget_cents),
                starts_on: "2025-01-01".to_owned(),
                ends_on: "2026-12-31".to_owned(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .created_id)
}

pub async fn allocate(
    c: &mut Clients,
    pledge_id: &str,
    project_id: &str,
    cents: i64,
) -> Result<v1::CommandResult, tonic::Status> {
    c.pledges
        .allocate_contribution(as_actor(
            FINANCE,
            v1::AllocateContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                project_id: project_id.to_owned(),
                amount: money("EUR", cents),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn account(c: &mut Clients, project_id: &str) -> anyhow::Result<v1::ProjectAccountView> {
    Ok(c.disbursements
        .get_project_account(v1::GetProjectAccountRequest {
            project_id: project_id.to_owned(),
        })
        .await?
        .into_inner())
}

/// Waits until the project's account holds at least `cents` of credits.
pub async fn credited(
    c: &mut Clients,
    project_id: &str,
    cents: i64,
) -> anyhow::Result<v1::ProjectAccountView> {
    eventually("the project account to be credited", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let project_id = project_id.to_owned();
        async move {
            let view = match c
                .disbursements
                .get_project_account(v1::GetProjectAccountRequest { project_id })
                .await
            {
                Ok(view) => view.into_inner(),
                Err(status) if status.code() == tonic::Code::NotFound => return Ok(None),
                Err(status) => return Err(status.into()),
            };
            let credited = view.credited.as_ref().map_or(0, |m| m.minor_units);
            Ok((credited >= cents).then_some(view))
        }
    })
    .await
}

pub async fn plan_milestone(
    c: &mut Clients,
    project_id: &str,
    tranche_cents: i64,
) -> anyhow::Result<u32> {
    let created = c
        .milestones
        .plan_milestone(as_actor(
            FINANCE,
            v1::PlanMilestoneRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                title: "Release of the Doboj minefield".to_owned(),
                indicator: Some(v1::Indicator {
                    kind: v1::IndicatorKind::SquareMetresCleared.into(),
                    ..Default::default()
                }),
                target: 120_000,
                tranche: money("EUR", tranche_cents),
                due_on: "2025-09-30".to_owned(),
                release_rule: v1::ReleaseRule::Proportional.into(),
                ..Default::default()
            },
        ))
        .await?
        .into_inner()
        .created_id;
    Ok(created.parse()?)
}

pub async fn report_and_verify(
    c: &mut Clients,
    project_id: &str,
    milestone: u32,
) -> anyhow::Result<()> {
    c.milestones
        .report_progress(as_actor(
            PARTNER,
            v1::ReportProgressRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                milestone,
                actual: 121_500,
                evidence_reference: "survey report SR-2025-118".to_owned(),
                ..Default::default()
            },
        ))
        .await?;
    c.milestones
        .verify_milestone(as_actor(
            VERIFIER,
            v1::VerifyMilestoneRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                milestone,
                ..Default::default()
            },
        ))
        .await?;
    Ok(())
}

pub async fn request_disbursement(
    c: &mut Clients,
    project_id: &str,
    cents: i64,
    milestone: u32,
) -> Result<v1::CommandResult, tonic::Status> {
    c.disbursements
        .request_disbursement(as_actor(
            FINANCE,
            v1::RequestDisbursementRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                amount: money("EUR", cents),
                partner: "Norwegian People's Aid".to_owned(),
                milestone,
                purpose: "tranche".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

pub async fn approve(
    c: &mut Clients,
    project_id: &str,
    disbursement_id: &str,
) -> Result<v1::CommandResult, tonic::Status> {
    c.disbursements
        .approve_disbursement(as_actor(
            DIRECTOR,
            v1::ApproveDisbursementRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                disbursement_id: disbursement_id.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// A funded project: the Netherlands pledged EUR for `country`, received `received_cents`,
/// and allocated `allocated_cents` to a new project there, whose account is credited.
#[derive(Debug, Clone)]
pub struct Funded {
    pub pledge_id: String,
    pub project_id: String,
}

pub async fn funded_project(
    c: &mut Clients,
    country: &str,
    received_cents: i64,
    allocated_cents: i64,
) -> anyhow::Result<Funded> {
    let donor_id = "XM-DAC-7";
    if c.pledges
        .get_donor(v1::GetDonorRequest {
            donor_id: donor_id.to_owned(),
        })
        .await
        .is_err()
    {
        register_donor(c, donor_id, "Netherlands", true).await?;
    }
    let pledge_id = record_pledge(
        c,
        donor_id,
        money("EUR", received_cents),
        country_earmark(country),
    )
    .await?
    .created_id;
    receive_eur(c, &pledge_id, received_cents, &format!("NL-{}", rid())).await?;
    let project_id = register_project(c, country, received_cents * 2).await?;
    allocate(c, &pledge_id, &project_id, allocated_cents).await?;
    credited(c, &project_id, allocated_cents).await?;
    Ok(Funded {
        pledge_id,
        project_id,
    })
}

/// Waits until the pool has reserved at least one match.
pub async fn matched(c: &mut Clients, pool_id: &str) -> anyhow::Result<v1::MatchingPoolView> {
    eventually("a match to be reserved", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let pool_id = pool_id.to_owned();
        async move {
            let pool = c
                .pledges
                .get_matching_pool(v1::GetMatchingPoolRequest { pool_id })
                .await?
                .into_inner();
            Ok((!pool.matches.is_empty()).then_some(pool))
        }
    })
    .await
}

/// Waits until the project's account has learned that `milestone` was verified.
pub async fn tranche_unlocked(
    c: &mut Clients,
    project_id: &str,
    milestone: u32,
) -> anyhow::Result<()> {
    eventually("the tranche to be unlocked", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let project_id = project_id.to_owned();
        async move {
            let account = account(&mut c, &project_id).await?;
            Ok(account
                .unlocked_tranches
                .contains_key(&milestone)
                .then_some(()))
        }
    })
    .await
}

pub async fn pay(
    c: &mut Clients,
    project_id: &str,
    disbursement_id: &str,
    bank_reference: &str,
) -> Result<v1::CommandResult, tonic::Status> {
    c.disbursements
        .pay_disbursement(as_actor(
            FINANCE,
            v1::PayDisbursementRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                disbursement_id: disbursement_id.to_owned(),
                paid_on: "2025-10-02".to_owned(),
                bank_reference: bank_reference.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}
