//! Payment by results through gRPC, once on PostgreSQL and once on SQLite: a results-based
//! project pays only against verified milestones, and a milestone verified short of its target
//! pays what its release rule allows.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_proto::v1;
use fundtrail_tests::story::{self, FINANCE, PARTNER, VERIFIER};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, backend_tests, country_earmark, money, reason, rid,
    violated_fields,
};
use tonic::Code;

backend_tests!(
    a_results_based_project_pays_only_what_verified_output_releases,
    an_advance_funded_project_may_still_pay_ahead_of_results,
);

const TRANCHE_1: i64 = 60_000_00;
const TRANCHE_2: i64 = 20_000_00;

async fn register(c: &mut Clients, funding: v1::FundingModality) -> String {
    c.milestones
        .register_project(as_actor(
            FINANCE,
            v1::RegisterProjectRequest {
                request_id: rid(),
                country: "BA".to_owned(),
                partner: Some(v1::ImplementingPartner {
                    name: "Norwegian People's Aid".to_owned(),
                    iati_id: "NO-BRC-971277882".to_owned(),
                }),
                title: "Land release in Doboj, paid by results".to_owned(),
                budget: money("EUR", 200_000_00),
                starts_on: "2025-01-01".to_owned(),
                ends_on: "2026-12-31".to_owned(),
                funding: funding.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .created_id
}

/// Registers a project funded as `funding` and credits its account with 100 000.00 EUR.
async fn funded(c: &mut Clients, funding: v1::FundingModality) -> String {
    let donor_id = "XM-DAC-7";
    story::register_donor(c, donor_id, "Netherlands", true)
        .await
        .unwrap();
    let pledge_id =
        story::record_pledge(c, donor_id, money("EUR", 100_000_00), country_earmark("BA"))
            .await
            .unwrap()
            .created_id;
    story::receive_eur(c, &pledge_id, 100_000_00, &format!("NL-{}", rid()))
        .await
        .unwrap();
    let project_id = register(c, funding).await;
    story::allocate(c, &pledge_id, &project_id, 100_000_00)
        .await
        .unwrap();
    story::credited(c, &project_id, 100_000_00).await.unwrap();
    project_id
}

fn plan(
    project_id: &str,
    indicator: v1::IndicatorKind,
    target: u64,
    tranche: i64,
    rule: v1::ReleaseRule,
) -> tonic::Request<v1::PlanMilestoneRequest> {
    as_actor(
        FINANCE,
        v1::PlanMilestoneRequest {
            request_id: rid(),
            project_id: project_id.to_owned(),
            title: "Release of the Doboj minefield".to_owned(),
            indicator: Some(v1::Indicator {
                kind: indicator.into(),
                ..Default::default()
            }),
            target,
            tranche: money("EUR", tranche),
            due_on: "2025-09-30".to_owned(),
            release_rule: rule.into(),
            ..Default::default()
        },
    )
}

async fn report_and_verify(c: &mut Clients, project_id: &str, milestone: u32, actual: u64) {
    c.milestones
        .report_progress(as_actor(
            PARTNER,
            v1::ReportProgressRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                milestone,
                actual,
                evidence_reference: "survey report SR-2025-118".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
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
        .await
        .unwrap();
}

async fn project(c: &mut Clients, project_id: &str) -> v1::ProjectView {
    c.milestones
        .get_project(v1::GetProjectRequest {
            project_id: project_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn cents(m: Option<&v1::Money>) -> Option<i64> {
    m.map(|m| m.minor_units)
}

async fn a_results_based_project_pays_only_what_verified_output_releases(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let project_id = funded(&mut c, v1::FundingModality::ResultsBased).await;

    // A milestone chooses how verified output releases its tranche.
    let unchosen = c
        .milestones
        .plan_milestone(plan(
            &project_id,
            v1::IndicatorKind::SquareMetresCleared,
            120_000,
            TRANCHE_1,
            v1::ReleaseRule::Unspecified,
        ))
        .await
        .unwrap_err();
    assert_eq!(unchosen.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&unchosen), ["release_rule"]);
    c.milestones
        .plan_milestone(plan(
            &project_id,
            v1::IndicatorKind::SquareMetresCleared,
            120_000,
            TRANCHE_1,
            v1::ReleaseRule::Proportional,
        ))
        .await
        .unwrap();
    c.milestones
        .plan_milestone(plan(
            &project_id,
            v1::IndicatorKind::DevicesDestroyed,
            500,
            TRANCHE_2,
            v1::ReleaseRule::AllOrNothing,
        ))
        .await
        .unwrap();

    // Leaving the milestone off does not skip the gate, and nothing is written.
    let head = server.server.store.head().await.unwrap().position;
    let unnamed = story::request_disbursement(&mut c, &project_id, 1_000_00, 0)
        .await
        .unwrap_err();
    assert_eq!(unnamed.code(), Code::FailedPrecondition);
    assert_eq!(reason(&unnamed), "MILESTONE_REQUIRED");
    let ahead = story::request_disbursement(&mut c, &project_id, 1_000_00, 1)
        .await
        .unwrap_err();
    assert_eq!(reason(&ahead), "MILESTONE_NOT_VERIFIED");
    assert_eq!(server.server.store.head().await.unwrap().position, head);

    // A quarter of the area cleared: a quarter of the tranche released, the rest withheld.
    report_and_verify(&mut c, &project_id, 1, 30_000).await;
    let view = project(&mut c, &project_id).await;
    assert_eq!(view.funding, i32::from(v1::FundingModality::ResultsBased));
    let m1 = &view.milestones[0];
    assert_eq!(m1.release_rule, i32::from(v1::ReleaseRule::Proportional));
    assert_eq!(cents(m1.released.as_ref()), Some(15_000_00));
    assert_eq!(cents(m1.withheld.as_ref()), Some(45_000_00));
    assert_eq!(m1.shortfall, Some(90_000));
    let m2 = &view.milestones[1];
    assert_eq!((m2.released.as_ref(), m2.shortfall), (None, None));

    story::tranche_unlocked(&mut c, &project_id, 1)
        .await
        .unwrap();
    let account = story::account(&mut c, &project_id).await.unwrap();
    assert_eq!(cents(account.unlocked_tranches.get(&1)), Some(TRANCHE_1));
    assert_eq!(cents(account.released_tranches.get(&1)), Some(15_000_00));

    let beyond = story::request_disbursement(&mut c, &project_id, 15_000_01, 1)
        .await
        .unwrap_err();
    assert_eq!(reason(&beyond), "TRANCHE_EXCEEDS_MILESTONE");
    let disbursement = story::request_disbursement(&mut c, &project_id, 15_000_00, 1)
        .await
        .unwrap()
        .created_id;
    story::approve(&mut c, &project_id, &disbursement)
        .await
        .unwrap();
    story::pay(&mut c, &project_id, &disbursement, "RAIF-2025-118")
        .await
        .unwrap();
    // The release is spent: nothing more against it, and still nothing without a milestone.
    let more = story::request_disbursement(&mut c, &project_id, 1, 1)
        .await
        .unwrap_err();
    assert_eq!(reason(&more), "TRANCHE_EXCEEDS_MILESTONE");
    let unnamed = story::request_disbursement(&mut c, &project_id, 1, 0)
        .await
        .unwrap_err();
    assert_eq!(reason(&unnamed), "MILESTONE_REQUIRED");

    // All-or-nothing one device short: verified, released nothing, shortfall shown.
    report_and_verify(&mut c, &project_id, 2, 499).await;
    let view = project(&mut c, &project_id).await;
    let m2 = &view.milestones[1];
    assert_eq!(cents(m2.released.as_ref()), Some(0));
    assert_eq!(cents(m2.withheld.as_ref()), Some(TRANCHE_2));
    assert_eq!(m2.shortfall, Some(1));
    story::tranche_unlocked(&mut c, &project_id, 2)
        .await
        .unwrap();
    let nothing = story::request_disbursement(&mut c, &project_id, 1, 2)
        .await
        .unwrap_err();
    assert_eq!(reason(&nothing), "TRANCHE_EXCEEDS_MILESTONE");

    let account = story::account(&mut c, &project_id).await.unwrap();
    assert_eq!(cents(account.available.as_ref()), Some(85_000_00));
}

async fn an_advance_funded_project_may_still_pay_ahead_of_results(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // A registration that does not choose is advance-funded, as registrations always were.
    let project_id = funded(&mut c, v1::FundingModality::Unspecified).await;
    assert_eq!(
        project(&mut c, &project_id).await.funding,
        i32::from(v1::FundingModality::AdvanceFunded)
    );
    let advance = story::request_disbursement(&mut c, &project_id, 10_000_00, 0)
        .await
        .unwrap()
        .created_id;
    story::approve(&mut c, &project_id, &advance).await.unwrap();

    // A tranche it names is still held to what the verification released.
    c.milestones
        .plan_milestone(plan(
            &project_id,
            v1::IndicatorKind::SquareMetresCleared,
            120_000,
            TRANCHE_1,
            v1::ReleaseRule::Proportional,
        ))
        .await
        .unwrap();
    report_and_verify(&mut c, &project_id, 1, 10).await;
    story::tranche_unlocked(&mut c, &project_id, 1)
        .await
        .unwrap();
    // 10 m² of 120 000 release 60 000.00 × 10 ÷ 120 000 = 5.00 EUR.
    let account = story::account(&mut c, &project_id).await.unwrap();
    assert_eq!(cents(account.released_tranches.get(&1)), Some(5_00));
    let whole = story::request_disbursement(&mut c, &project_id, TRANCHE_1, 1)
        .await
        .unwrap_err();
    assert_eq!(reason(&whole), "TRANCHE_EXCEEDS_MILESTONE");
    story::request_disbursement(&mut c, &project_id, 5_00, 1)
        .await
        .unwrap();
}
