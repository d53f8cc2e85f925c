//! The milestones service against a real in-memory store, called as a gRPC server would be.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

use std::sync::Arc;

use fundtrail_domain::Currency;
use fundtrail_identity::{Principal, Role};
use fundtrail_milestones::MilestonesService;
use fundtrail_proto::v1;
use fundtrail_proto::v1::milestones_server::Milestones;
use fundtrail_service::Ledger;
use fundtrail_store::{EventStore, StoreOptions};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

const PARTNER: &str = "field@halotrust.org";
const VERIFIER: &str = "qa@itf.si";
const STAFF: &str = "finance@itf.si";

struct Fixture {
    store: Arc<dyn EventStore>,
    service: MilestonesService,
}

async fn fixture() -> Fixture {
    let store = fundtrail_store::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let ledger = Ledger::new(store.clone(), "milestones", Currency::USD);
    Fixture {
        store,
        service: MilestonesService::new(ledger),
    }
}

impl Fixture {
    async fn head(&self) -> u64 {
        self.store.head().await.unwrap().position
    }

    async fn register(&self, request_id: &str, country: &str) -> String {
        self.service
            .register_project(as_actor(STAFF, register(request_id, country)))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    async fn plan(
        &self,
        request_id: &str,
        project_id: &str,
        tranche: i64,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .plan_milestone(as_actor(STAFF, plan(request_id, project_id, tranche)))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn report(
        &self,
        request_id: &str,
        project_id: &str,
        milestone: u32,
        actual: u64,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .report_progress(as_actor(
                PARTNER,
                v1::ReportProgressRequest {
                    request_id: request_id.into(),
                    project_id: project_id.into(),
                    milestone,
                    actual,
                    evidence_reference: "Completion certificate AF-2024-117".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn verify(
        &self,
        actor: &str,
        request_id: &str,
        project_id: &str,
        milestone: u32,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .verify_milestone(as_actor(
                actor,
                v1::VerifyMilestoneRequest {
                    request_id: request_id.into(),
                    project_id: project_id.into(),
                    milestone,
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn reject(
        &self,
        actor: &str,
        request_id: &str,
        project_id: &str,
        milestone: u32,
    ) -> Result<v1::CommandResult, Status> {
        self.service
            .reject_milestone(as_actor(
                actor,
                v1::RejectMilestoneRequest {
                    request_id: request_id.into(),
                    project_id: project_id.into(),
                    milestone,
                    reason: "Survey shows uncleared strips along the canal".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn close(&self, request_id: &str, project_id: &str) -> Result<v1::CommandResult, Status> {
        self.service
            .close_project(as_actor(
                STAFF,
                v1::CloseProjectRequest {
                    request_id: request_id.into(),
                    project_id: project_id.into(),
                    reason: "All land released".into(),
                    ..Default::default()
                },
            ))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn get(&self, project_id: &str) -> Result<v1::ProjectView, Status> {
        self.service
            .get_project(Request::new(v1::GetProjectRequest {
                project_id: project_id.into(),
            }))
            .await
            .map(tonic::Response::into_inner)
    }

    async fn list(&self, country: &str) -> Result<Vec<v1::ProjectView>, Status> {
        self.service
            .list_projects(Request::new(v1::ListProjectsRequest {
                country: country.into(),
            }))
            .await
            .map(|r| r.into_inner().projects)
    }
}

/// A request as the server's authentication layer hands it on: carrying the principal it
/// authenticated, here a member of staff with every staff role.
fn as_actor<T>(actor: &str, body: T) -> Request<T> {
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

fn usd(minor_units: i64) -> v1::Money {
    v1::Money {
        currency: "USD".into(),
        minor_units,
    }
}

fn register(request_id: &str, country: &str) -> v1::RegisterProjectRequest {
    v1::RegisterProjectRequest {
        request_id: request_id.into(),
        expected_version: None,
        country: country.into(),
        partner: Some(v1::ImplementingPartner {
            name: "The HALO Trust".into(),
            iati_id: "GB-CHC-1001813".into(),
        }),
        title: "Clearance of the Kandahar canal belt".into(),
        sector_code: 0,
        budget: Some(usd(100_000_000)),
        starts_on: "2024-03-01".into(),
        ends_on: "2025-02-28".into(),
        funding: v1::FundingModality::Unspecified.into(),
    }
}

fn plan(request_id: &str, project_id: &str, tranche: i64) -> v1::PlanMilestoneRequest {
    v1::PlanMilestoneRequest {
        request_id: request_id.into(),
        expected_version: None,
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
    }
}

/// Asserts a refusal's gRPC code and its `ErrorInfo.reason`.
fn assert_refused<T: std::fmt::Debug>(result: Result<T, Status>, code: Code, reason: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), code, "{status:?}");
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, reason, "{status:?}");
    assert_eq!(info.domain, "fundtrail.org");
}

/// Asserts malformed input: `INVALID_ARGUMENT` with a violation on `field`.
fn assert_violation<T: std::fmt::Debug>(result: Result<T, Status>, field: &str) {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let bad = status.get_details_bad_request().expect("field violations");
    let fields: Vec<_> = bad
        .field_violations
        .iter()
        .map(|v| v.field.as_str())
        .collect();
    assert_eq!(fields, [field], "{status:?}");
    assert!(!bad.field_violations[0].description.is_empty());
}

#[tokio::test]
async fn a_project_goes_from_registration_through_verified_milestones_to_closing() {
    let f = fixture().await;
    let registered = f
        .service
        .register_project(as_actor(STAFF, register("r-1", "AF")))
        .await
        .unwrap()
        .into_inner();
    let project_id = registered.created_id.clone();
    assert_eq!(registered.stream, format!("project-{project_id}"));
    assert_eq!((registered.version, registered.event_count), (0, 1));
    assert!(!registered.replayed);
    uuid::Uuid::parse_str(&project_id).unwrap();

    assert_eq!(
        f.plan("r-2", &project_id, 40_000_000)
            .await
            .unwrap()
            .created_id,
        "1"
    );
    assert_eq!(
        f.plan("r-3", &project_id, 60_000_000)
            .await
            .unwrap()
            .created_id,
        "2"
    );
    f.report("r-4", &project_id, 1, 51_200).await.unwrap();
    let verified = f.verify(VERIFIER, "r-5", &project_id, 1).await.unwrap();
    assert_eq!(verified.version, 4);
    f.report("r-6", &project_id, 2, 12_000).await.unwrap();
    f.reject(VERIFIER, "r-7", &project_id, 2).await.unwrap();

    let view = f.get(&project_id).await.unwrap();
    assert_eq!(view.project_id, project_id);
    assert_eq!(view.country, "AF");
    assert_eq!(view.sector_code, 15250, "sector 0 means mine action");
    assert_eq!(view.partner.as_ref().unwrap().iati_id, "GB-CHC-1001813");
    assert_eq!(view.budget, Some(usd(100_000_000)));
    assert_eq!(
        (view.starts_on.as_str(), view.ends_on.as_str()),
        ("2024-03-01", "2025-02-28")
    );
    assert!(!view.closed);
    assert_eq!(view.version, 6);
    let [first, second] = view.milestones.as_slice() else {
        panic!("two milestones: {:?}", view.milestones);
    };
    assert_eq!(first.milestone, 1);
    assert_eq!(first.status, i32::from(v1::MilestoneStatus::Verified));
    assert_eq!(first.actual, Some(51_200));
    assert_eq!(
        first.reported_by, PARTNER,
        "the reporter is the request's principal"
    );
    assert_eq!(first.tranche, Some(usd(40_000_000)));
    assert_eq!(first.due_on, "2024-09-30");
    assert_eq!(
        first.indicator.as_ref().unwrap().kind,
        i32::from(v1::IndicatorKind::SquareMetresCleared)
    );
    assert_eq!(second.status, i32::from(v1::MilestoneStatus::Rejected));

    // A rejected milestone is reported again, then verified.
    f.report("r-8", &project_id, 2, 50_100).await.unwrap();
    f.verify(VERIFIER, "r-9", &project_id, 2).await.unwrap();
    f.close("r-10", &project_id).await.unwrap();
    let view = f.get(&project_id).await.unwrap();
    assert!(view.closed);
    assert_eq!(
        view.milestones[1].status,
        i32::from(v1::MilestoneStatus::Verified)
    );
}

#[tokio::test]
async fn verifications_record_the_principal_who_made_them() {
    let f = fixture().await;
    let project_id = f.register("r-1", "AF").await;
    f.plan("r-2", &project_id, 1_000).await.unwrap();
    f.report("r-3", &project_id, 1, 50_000).await.unwrap();
    f.verify(VERIFIER, "r-4", &project_id, 1).await.unwrap();
    let events = f
        .store
        .read_stream(&format!("project-{project_id}"), 0)
        .await
        .unwrap();
    let verified = events.last().unwrap();
    assert_eq!(verified.event_type, "fundtrail.v1.MilestoneVerified");
    let decoded = fundtrail_proto::decode(&verified.event_type, &verified.payload).unwrap();
    let fundtrail_domain::Event::Project(fundtrail_domain::ProjectEvent::MilestoneVerified {
        verified_by,
        ..
    }) = decoded
    else {
        panic!("{decoded:?}");
    };
    assert_eq!(verified_by.as_str(), VERIFIER);
}

#[tokio::test]
async fn a_verification_short_of_the_target_releases_what_the_rule_allows() {
    let f = fixture().await;
    let results_based = v1::RegisterProjectRequest {
        funding: v1::FundingModality::ResultsBased.into(),
        ..register("r-1", "AF")
    };
    let project_id = f
        .service
        .register_project(as_actor(STAFF, results_based))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    // 20 000 of 50 000 m² verified: 2/5 of 1 000.00 USD proportionally, nothing otherwise.
    f.plan("r-2", &project_id, 100_000).await.unwrap();
    let all_or_nothing = v1::PlanMilestoneRequest {
        release_rule: v1::ReleaseRule::AllOrNothing.into(),
        ..plan("r-3", &project_id, 100_000)
    };
    f.service
        .plan_milestone(as_actor(STAFF, all_or_nothing))
        .await
        .unwrap();
    for (n, milestone) in [(4, 1), (6, 2)] {
        f.report(&format!("r-{n}"), &project_id, milestone, 20_000)
            .await
            .unwrap();
        f.verify(VERIFIER, &format!("r-{}", n + 1), &project_id, milestone)
            .await
            .unwrap();
    }
    let view = f.get(&project_id).await.unwrap();
    assert_eq!(view.funding, i32::from(v1::FundingModality::ResultsBased));
    let [proportional, all_or_nothing] = view.milestones.as_slice() else {
        panic!("{view:?}");
    };
    assert_eq!(
        proportional.release_rule,
        i32::from(v1::ReleaseRule::Proportional)
    );
    assert_eq!(proportional.released, Some(usd(40_000)));
    assert_eq!(proportional.withheld, Some(usd(60_000)));
    assert_eq!(proportional.shortfall, Some(30_000));
    assert_eq!(
        all_or_nothing.release_rule,
        i32::from(v1::ReleaseRule::AllOrNothing)
    );
    assert_eq!(all_or_nothing.released, Some(usd(0)));
    assert_eq!(all_or_nothing.withheld, Some(usd(100_000)));
    assert_eq!(all_or_nothing.shortfall, Some(30_000));

    let events = f
        .store
        .read_stream(&format!("project-{project_id}"), 0)
        .await
        .unwrap();
    let decoded = fundtrail_proto::decode(&events[4].event_type, &events[4].payload).unwrap();
    assert!(
        matches!(
            &decoded,
            fundtrail_domain::Event::Project(fundtrail_domain::ProjectEvent::MilestoneVerified {
                released: Some(released),
                ..
            }) if released.minor_units() == 40_000
        ),
        "the release is recorded on the event: {decoded:?}"
    );
}

#[tokio::test]
async fn projects_are_listed_and_filtered_by_country() {
    let f = fixture().await;
    let afghan = f.register("r-1", "AF").await;
    let bosnian = f.register("r-2", "BA").await;
    let mut all: Vec<_> = f
        .list("")
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.project_id)
        .collect();
    all.sort();
    let mut expected = vec![afghan.clone(), bosnian.clone()];
    expected.sort();
    assert_eq!(all, expected);
    let bosnia = f.list("BA").await.unwrap();
    assert_eq!(bosnia.len(), 1);
    assert_eq!(bosnia[0].project_id, bosnian);
    assert!(f.list("XK").await.unwrap().is_empty());
    assert_violation(f.list("Atlantis").await, "country");
}

#[tokio::test]
async fn registration_and_planning_refuse_broken_rules() {
    let f = fixture().await;
    let project_id = f.register("r-1", "AF").await;
    assert_refused(
        f.plan("r-2", &project_id, 100_000_001).await,
        Code::FailedPrecondition,
        "TRANCHES_EXCEED_BUDGET",
    );
    let mut in_euros = plan("r-3", &project_id, 1_000);
    in_euros.tranche = Some(v1::Money {
        currency: "EUR".into(),
        minor_units: 1_000,
    });
    assert_refused(
        f.service.plan_milestone(as_actor(STAFF, in_euros)).await,
        Code::FailedPrecondition,
        "CURRENCY_MISMATCH",
    );
    assert_refused(
        f.plan("r-4", "0190f3a4-7c1e-7b3a-9c1e-7b3a9c1e7b3a", 1_000)
            .await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
}

#[tokio::test]
async fn progress_and_reviews_refuse_broken_rules() {
    let f = fixture().await;
    let project_id = f.register("r-1", "AF").await;
    f.plan("r-2", &project_id, 1_000).await.unwrap();
    assert_refused(
        f.report("r-3", &project_id, 7, 10).await,
        Code::NotFound,
        "MILESTONE_NOT_FOUND",
    );
    assert_refused(
        f.verify(VERIFIER, "r-4", &project_id, 1).await,
        Code::FailedPrecondition,
        "MILESTONE_NOT_REPORTED",
    );
    f.report("r-5", &project_id, 1, 50_000).await.unwrap();
    // Four eyes: the partner who reported cannot review its own report.
    assert_refused(
        f.verify(PARTNER, "r-6", &project_id, 1).await,
        Code::FailedPrecondition,
        "VERIFIER_IS_REPORTER",
    );
    assert_refused(
        f.reject(PARTNER, "r-7", &project_id, 1).await,
        Code::FailedPrecondition,
        "VERIFIER_IS_REPORTER",
    );
    f.verify(VERIFIER, "r-8", &project_id, 1).await.unwrap();
    assert_refused(
        f.verify(STAFF, "r-9", &project_id, 1).await,
        Code::FailedPrecondition,
        "MILESTONE_ALREADY_VERIFIED",
    );
    assert_refused(
        f.report("r-10", &project_id, 1, 60_000).await,
        Code::FailedPrecondition,
        "MILESTONE_ALREADY_VERIFIED",
    );
}

#[tokio::test]
async fn a_closed_project_takes_no_changes() {
    let f = fixture().await;
    let project_id = f.register("r-1", "AF").await;
    f.close("r-2", &project_id).await.unwrap();
    assert_refused(
        f.close("r-3", &project_id).await,
        Code::FailedPrecondition,
        "PROJECT_CLOSED",
    );
    assert_refused(
        f.plan("r-4", &project_id, 1_000).await,
        Code::FailedPrecondition,
        "PROJECT_CLOSED",
    );
}

#[tokio::test]
async fn reading_a_project_that_does_not_exist_is_not_found() {
    let f = fixture().await;
    assert_refused(
        f.get("0190f3a4-7c1e-7b3a-9c1e-7b3a9c1e7b3a").await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
    assert_violation(f.get("project-1").await, "project_id");
}

#[tokio::test]
async fn malformed_input_names_the_field_and_writes_nothing() {
    let f = fixture().await;
    let project_id = f.register("r-0", "AF").await;
    let before = f.head().await;

    let cases: Vec<(v1::RegisterProjectRequest, &str)> = vec![
        (register("", "AF"), "request_id"),
        (register("r-1", "Atlantis"), "country"),
        (
            v1::RegisterProjectRequest {
                partner: None,
                ..register("r-2", "AF")
            },
            "partner",
        ),
        (
            v1::RegisterProjectRequest {
                budget: None,
                ..register("r-3", "AF")
            },
            "budget",
        ),
        (
            v1::RegisterProjectRequest {
                budget: Some(v1::Money {
                    currency: "ZZZ".into(),
                    minor_units: 1,
                }),
                ..register("r-4", "AF")
            },
            "budget.currency",
        ),
        (
            v1::RegisterProjectRequest {
                budget: Some(usd(-5)),
                ..register("r-5", "AF")
            },
            "budget",
        ),
        (
            v1::RegisterProjectRequest {
                starts_on: "2024-13-01".into(),
                ..register("r-6", "AF")
            },
            "starts_on",
        ),
        (
            v1::RegisterProjectRequest {
                ends_on: "2023-01-01".into(),
                ..register("r-7", "AF")
            },
            "ends_on",
        ),
        (
            v1::RegisterProjectRequest {
                sector_code: 152,
                ..register("r-8", "AF")
            },
            "sector_code",
        ),
        (
            v1::RegisterProjectRequest {
                title: " ".into(),
                ..register("r-9", "AF")
            },
            "title",
        ),
    ];
    for (request, field) in cases {
        assert_violation(
            f.service.register_project(as_actor(STAFF, request)).await,
            field,
        );
    }

    let no_indicator = v1::PlanMilestoneRequest {
        indicator: Some(v1::Indicator::default()),
        ..plan("p-1", &project_id, 1_000)
    };
    assert_violation(
        f.service
            .plan_milestone(as_actor(STAFF, no_indicator))
            .await,
        "indicator.kind",
    );
    let no_target = v1::PlanMilestoneRequest {
        target: 0,
        ..plan("p-2", &project_id, 1_000)
    };
    assert_violation(
        f.service.plan_milestone(as_actor(STAFF, no_target)).await,
        "target",
    );
    let bad_due = v1::PlanMilestoneRequest {
        due_on: "soon".into(),
        ..plan("p-3", &project_id, 1_000)
    };
    assert_violation(
        f.service.plan_milestone(as_actor(STAFF, bad_due)).await,
        "due_on",
    );
    let no_rule = v1::PlanMilestoneRequest {
        release_rule: v1::ReleaseRule::Unspecified.into(),
        ..plan("p-3a", &project_id, 1_000)
    };
    assert_violation(
        f.service.plan_milestone(as_actor(STAFF, no_rule)).await,
        "release_rule",
    );
    let unknown_rule = v1::PlanMilestoneRequest {
        release_rule: 7,
        ..plan("p-3b", &project_id, 1_000)
    };
    assert_violation(
        f.service
            .plan_milestone(as_actor(STAFF, unknown_rule))
            .await,
        "release_rule",
    );
    assert_violation(f.plan("p-4", "not-a-uuid", 1_000).await, "project_id");
    assert_violation(f.report("p-5", &project_id, 0, 10).await, "milestone");
    assert_violation(f.verify(VERIFIER, "p-6", &project_id, 0).await, "milestone");

    // 201 characters: a subject the ledger cannot record as an actor (identity counts
    // characters too, so a credential never names one).
    let bad_actor = as_actor(&"é".repeat(201), register("r-10", "AF"));
    assert_violation(f.service.register_project(bad_actor).await, "actor");
    let anonymous = f
        .service
        .register_project(Request::new(register("r-11", "AF")))
        .await;
    assert_refused(anonymous, Code::Unauthenticated, "UNAUTHENTICATED");

    assert_eq!(f.head().await, before, "nothing was written");
}

#[tokio::test]
async fn a_retried_request_returns_the_original_result_and_writes_nothing() {
    let f = fixture().await;
    let first = f
        .service
        .register_project(as_actor(STAFF, register("r-1", "AF")))
        .await
        .unwrap()
        .into_inner();
    let head = f.head().await;
    let again = f
        .service
        .register_project(as_actor(STAFF, register("r-1", "AF")))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(
        v1::CommandResult {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(f.head().await, head);
    assert_eq!(f.list("").await.unwrap().len(), 1);

    let project_id = first.created_id;
    f.plan("r-2", &project_id, 1_000).await.unwrap();
    f.report("r-3", &project_id, 1, 50_000).await.unwrap();
    let verified = f.verify(VERIFIER, "r-4", &project_id, 1).await.unwrap();
    let head = f.head().await;
    let again = f.verify(VERIFIER, "r-4", &project_id, 1).await.unwrap();
    assert_eq!(
        v1::CommandResult {
            replayed: false,
            ..again.clone()
        },
        verified
    );
    assert!(again.replayed);
    assert_eq!(f.head().await, head);

    // The same request id for a different request is not a retry; from a different principal
    // it is not a retry either, but that principal's own new request, decided afresh.
    assert_refused(
        f.service
            .register_project(as_actor(STAFF, register("r-1", "BA")))
            .await,
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
    );
    assert_refused(
        f.verify(STAFF, "r-4", &project_id, 1).await,
        Code::FailedPrecondition,
        "MILESTONE_ALREADY_VERIFIED",
    );
    assert_eq!(f.head().await, head);
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted() {
    let f = fixture().await;
    let project_id = f.register("r-1", "AF").await;
    f.plan("r-2", &project_id, 1_000).await.unwrap();
    let stale = v1::PlanMilestoneRequest {
        expected_version: Some(0),
        ..plan("r-3", &project_id, 1_000)
    };
    assert_refused(
        f.service.plan_milestone(as_actor(STAFF, stale)).await,
        Code::Aborted,
        "WRONG_EXPECTED_VERSION",
    );
    let current = v1::PlanMilestoneRequest {
        expected_version: Some(1),
        ..plan("r-4", &project_id, 1_000)
    };
    assert_eq!(
        f.service
            .plan_milestone(as_actor(STAFF, current))
            .await
            .unwrap()
            .into_inner()
            .created_id,
        "2"
    );
}
