//! Who may do what, on a real server: every method of every service for every role, the
//! four-eyes rules between real principals, donor integrations kept to their own donor, and
//! request ids scoped by the principal that sent them.

use std::time::Duration;

use fundtrail_identity::{Access, Principal, Role, access};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_tests::story::{self, Funded};
use fundtrail_tests::{
    Backend, TestServer, as_principal, backend_tests, donor_integration, money, principal, reason,
    rid, token,
};
use tonic::Code;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;

const OWN_DONOR: &str = "XM-DAC-7";
const OTHER_DONOR: &str = "US-GOV-1";

/// A principal holding `role` alone.
fn holder(role: Role) -> Principal {
    match role {
        Role::DonorIntegration => donor_integration("integration@minbuza.nl", OWN_DONOR),
        role => principal(&format!("{role}@itf.si"), &[role]),
    }
}

struct Method {
    path: String,
    streaming: bool,
}

fn methods() -> Vec<Method> {
    let pool = fundtrail_proto::reflect::descriptors().expect("the descriptors decode");
    let methods: Vec<Method> = pool
        .services()
        .filter(|service| service.package_name() == "fundtrail.v1")
        .flat_map(|service| {
            service
                .methods()
                .map(|method| Method {
                    path: format!("/{}/{}", service.full_name(), method.name()),
                    streaming: method.is_server_streaming(),
                })
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(methods.len() > 40, "the descriptors list the services");
    methods
}

/// Calls `method` with an empty message (every command then lacks its request id, so an
/// admitted call is refused as malformed and writes nothing) and returns the status code and
/// its reason.
async fn call(channel: &Channel, method: &Method, bearer: Option<&str>) -> (Code, String) {
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    grpc.ready().await.expect("the channel is ready");
    let mut request = tonic::Request::new(());
    request.set_timeout(Duration::from_secs(10));
    if let Some(bearer) = bearer {
        request.metadata_mut().insert(
            "authorization",
            format!("Bearer {bearer}").parse().expect("a header value"),
        );
    }
    let path = PathAndQuery::try_from(method.path.as_str()).expect("a method path");
    let codec = tonic_prost::ProstCodec::<(), ()>::default();
    let result = if method.streaming {
        grpc.server_streaming(request, path, codec)
            .await
            .map(|_| ())
    } else {
        grpc.unary(request, path, codec).await.map(|_| ())
    };
    result.err().map_or((Code::Ok, String::new()), |status| {
        (status.code(), reason(&status))
    })
}

async fn every_method_admits_exactly_the_roles_of_the_access_table(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // Something to read, so reads that are admitted find a history.
    story::register_donor(&mut c, OWN_DONOR, "Netherlands", true)
        .await
        .unwrap();
    // A bare channel: the test's clients would add their own token.
    let channel = Channel::from_shared(server.server.url())
        .unwrap()
        .connect()
        .await
        .unwrap();
    for method in methods() {
        let rule = access(&method.path).expect("every method has a rule");
        assert_ne!(rule, Access::Open, "{}", method.path);
        let head = server.server.store.head().await.unwrap().position;
        assert_eq!(
            call(&channel, &method, None).await.0,
            Code::Unauthenticated,
            "{} without credentials",
            method.path
        );
        assert_eq!(
            call(&channel, &method, Some("not.a.token")).await.0,
            Code::Unauthenticated,
            "{} with a forged token",
            method.path
        );
        for role in Role::ALL {
            let (code, why) = call(&channel, &method, Some(&token(&holder(role)))).await;
            if rule.admits(&holder(role)) {
                // A donor integration may still be refused the empty request's donor, by the
                // service rather than the table.
                assert!(
                    code != Code::Unauthenticated
                        && !(code == Code::PermissionDenied && why != "DONOR_MISMATCH"),
                    "{} refused the {role}: {code:?} {why}",
                    method.path
                );
            } else {
                assert_eq!(
                    (code, why.as_str()),
                    (Code::PermissionDenied, "MISSING_ROLE"),
                    "{} for the {role}",
                    method.path
                );
            }
        }
        assert_eq!(
            server.server.store.head().await.unwrap().position,
            head,
            "{} wrote something",
            method.path
        );
    }
    server.stop().await.unwrap();
}

/// A refused command that would otherwise have been recorded writes nothing.
async fn refused_writes_record_nothing(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let head = server.server.store.head().await.unwrap().position;
    for role in [Role::Auditor, Role::FinanceOfficer, Role::DonorIntegration] {
        let refused = c
            .pledges
            .register_donor(as_principal(
                &holder(role),
                v1::RegisterDonorRequest {
                    request_id: rid(),
                    donor_id: OTHER_DONOR.into(),
                    name: "United States of America".into(),
                    kind: v1::DonorKind::Government.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::PermissionDenied, "{role}");
        assert_eq!(reason(&refused), "MISSING_ROLE");
    }
    assert_eq!(server.server.store.head().await.unwrap().position, head);
    server.stop().await.unwrap();
}

async fn four_eyes_hold_between_principals_not_tokens(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let Funded { project_id, .. } = story::funded_project(&mut c, "BA", 1_000_000, 600_000)
        .await
        .unwrap();
    let request = |who: &Principal| {
        as_principal(
            who,
            v1::RequestDisbursementRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                amount: money("EUR", 100_000),
                partner: "Norwegian People's Aid".to_owned(),
                purpose: "survey".to_owned(),
                ..Default::default()
            },
        )
    };
    let approval = |who: &Principal, disbursement_id: &str| {
        as_principal(
            who,
            v1::ApproveDisbursementRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                disbursement_id: disbursement_id.to_owned(),
                ..Default::default()
            },
        )
    };
    let clerk = principal("clerk@itf.si", &[Role::FinanceOfficer]);
    let director = principal("director@itf.si", &[Role::Approver]);

    let requested = c
        .disbursements
        .request_disbursement(request(&clerk))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    let refused = c
        .disbursements
        .approve_disbursement(approval(&clerk, &requested))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    c.disbursements
        .approve_disbursement(approval(&director, &requested))
        .await
        .unwrap();

    // One person holding both roles, on two tokens, one of them spelling the name otherwise.
    let as_officer = principal("both@itf.si", &[Role::FinanceOfficer]);
    let as_approver = principal(" Both@ITF.si", &[Role::Approver]);
    let own = c
        .disbursements
        .request_disbursement(request(&as_officer))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    let head = server.server.store.head().await.unwrap().position;
    let refused = c
        .disbursements
        .approve_disbursement(approval(&as_approver, &own))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "APPROVER_IS_REQUESTER");
    assert_eq!(server.server.store.head().await.unwrap().position, head);

    // The same for progress: the reporter cannot verify their own report.
    let milestone = story::plan_milestone(&mut c, &project_id, 100_000)
        .await
        .unwrap();
    let reporter = principal("field@npa.no", &[Role::ProgrammeOfficer]);
    let reporter_as_verifier = principal("field@npa.no", &[Role::Verifier]);
    let verifier = principal("qa@itf.si", &[Role::Verifier]);
    c.milestones
        .report_progress(as_principal(
            &reporter,
            v1::ReportProgressRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                milestone,
                actual: 121_500,
                evidence_reference: "survey report SR-2025-118".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let verify = |who: &Principal| {
        as_principal(
            who,
            v1::VerifyMilestoneRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                milestone,
                ..Default::default()
            },
        )
    };
    let refused = c
        .milestones
        .verify_milestone(verify(&reporter_as_verifier))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "VERIFIER_IS_REPORTER");
    c.milestones
        .verify_milestone(verify(&verifier))
        .await
        .unwrap();

    // What is recorded names the principal as its credential did.
    let events = c.events().await.unwrap();
    let verification = events
        .iter()
        .rev()
        .filter_map(|e| e.envelope.as_ref())
        .find(|e| e.event_type == "fundtrail.v1.MilestoneVerified")
        .expect("the verification is recorded");
    let metadata = <v1::EventMetadata as prost::Message>::decode(verification.metadata.as_slice())
        .expect("its metadata decodes");
    assert_eq!(metadata.actor, "qa@itf.si");
    assert_eq!(metadata.actor_roles, ["verifier"]);
    assert_eq!(metadata.actor_organisation, "ITF Enhancing Human Security");
    server.stop().await.unwrap();
}

fn denied<T: std::fmt::Debug>(result: Result<T, tonic::Status>, what: &str) -> tonic::Status {
    let status = result.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied, "{what}: {status:?}");
    status
}

async fn a_donor_integration_reaches_its_own_donor_only(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, OWN_DONOR, "Netherlands", true)
        .await
        .unwrap();
    story::register_donor(&mut c, OTHER_DONOR, "United States of America", false)
        .await
        .unwrap();
    let theirs = story::record_pledge(&mut c, OTHER_DONOR, money("USD", 500_000), None)
        .await
        .unwrap()
        .created_id;
    let donor = holder(Role::DonorIntegration);
    let pledge = |donor_id: &str| {
        as_principal(
            &donor,
            v1::RecordPledgeRequest {
                request_id: rid(),
                donor_id: donor_id.to_owned(),
                amount: money("USD", 1_000_000),
                pledged_on: "2025-01-10".to_owned(),
                ..Default::default()
            },
        )
    };
    let receipt = |pledge_id: &str| {
        as_principal(
            &donor,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                amount: money("USD", 100_000),
                value_date: "2025-02-03".to_owned(),
                bank_reference: format!("WIRE-{}", rid()),
                ..Default::default()
            },
        )
    };

    let head = server.server.store.head().await.unwrap().position;
    let refused = denied(
        c.pledges.record_pledge(pledge(OTHER_DONOR)).await,
        "a pledge for another donor",
    );
    assert_eq!(reason(&refused), "DONOR_MISMATCH");
    denied(
        c.pledges.receive_contribution(receipt(&theirs)).await,
        "a receipt on another donor's pledge",
    );
    assert_eq!(server.server.store.head().await.unwrap().position, head);
    denied(
        c.pledges
            .get_pledge(as_principal(
                &donor,
                v1::GetPledgeRequest {
                    pledge_id: theirs.clone(),
                },
            ))
            .await,
        "another donor's pledge",
    );
    denied(
        c.pledges
            .get_donor(as_principal(
                &donor,
                v1::GetDonorRequest {
                    donor_id: OTHER_DONOR.into(),
                },
            ))
            .await,
        "another donor",
    );
    denied(
        c.pledges
            .list_donors(as_principal(&donor, v1::ListDonorsRequest {}))
            .await,
        "the list of donors",
    );
    let mut funding = FundingClient::new(c.channel.clone());
    let statement = |donor_id: &str, min_position: u64| {
        as_principal(
            &donor,
            v1::GetDonorStatementRequest {
                donor_id: donor_id.to_owned(),
                min_position,
                ..Default::default()
            },
        )
    };
    let refused = denied(
        funding.get_donor_statement(statement(OTHER_DONOR, 0)).await,
        "another donor's statement",
    );
    assert_eq!(reason(&refused), "DONOR_MISMATCH");
    // Refused before the wait for the position: a donor learns nothing by waiting on another
    // donor's statement, and cannot hold a server thread with a position never reached.
    let refused = tokio::time::timeout(
        Duration::from_secs(10),
        funding.get_donor_statement(statement(OTHER_DONOR, u64::MAX)),
    )
    .await
    .expect("the refusal does not wait for the position");
    assert_eq!(
        reason(&denied(refused, "another donor's statement, later")),
        "DONOR_MISMATCH"
    );

    let ours = c
        .pledges
        .record_pledge(pledge(OWN_DONOR))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    let received = c
        .pledges
        .receive_contribution(receipt(&ours))
        .await
        .unwrap()
        .into_inner();
    let view = c
        .pledges
        .get_pledge(as_principal(
            &donor,
            v1::GetPledgeRequest {
                pledge_id: ours.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.donor_id, OWN_DONOR);
    c.pledges
        .get_donor(as_principal(
            &donor,
            v1::GetDonorRequest {
                donor_id: OWN_DONOR.into(),
            },
        ))
        .await
        .unwrap();
    let own_statement = funding
        .get_donor_statement(statement(OWN_DONOR, received.position))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(own_statement.donor_id, OWN_DONOR);
    server.stop().await.unwrap();
}

async fn request_ids_are_scoped_by_the_principal(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let c = server.clients().await.unwrap();
    let alice = principal("alice@itf.si", &[Role::Administrator]);
    let bob = principal("bob@itf.si", &[Role::Administrator]);
    let register = |who: &Principal, donor_id: &str, name: &str| {
        as_principal(
            who,
            v1::RegisterDonorRequest {
                request_id: "shared-request-1".into(),
                donor_id: donor_id.to_owned(),
                name: name.to_owned(),
                kind: v1::DonorKind::Government.into(),
                ..Default::default()
            },
        )
    };
    let mut pledges = c.pledges.clone();
    let first = pledges
        .register_donor(register(&alice, OWN_DONOR, "Netherlands"))
        .await
        .unwrap()
        .into_inner();
    let other = pledges
        .register_donor(register(&bob, OTHER_DONOR, "United States of America"))
        .await
        .unwrap()
        .into_inner();
    assert!(
        !other.replayed,
        "bob's request is his own, not a retry of alice's"
    );
    assert_eq!(other.stream, format!("donor-{OTHER_DONOR}"));

    let head = server.server.store.head().await.unwrap().position;
    let retry = pledges
        .register_donor(register(&alice, OWN_DONOR, "Netherlands"))
        .await
        .unwrap()
        .into_inner();
    assert!(retry.replayed);
    assert_eq!(retry.position, first.position);
    let reused = pledges
        .register_donor(register(&alice, "XM-DAC-5", "Germany"))
        .await
        .unwrap_err();
    assert_eq!(reused.code(), Code::AlreadyExists);
    assert_eq!(reason(&reused), "REQUEST_ID_REUSED");
    assert!(!reused.message().contains("alice"), "{}", reused.message());
    assert_eq!(server.server.store.head().await.unwrap().position, head);
    server.stop().await.unwrap();
}

backend_tests!(
    every_method_admits_exactly_the_roles_of_the_access_table,
    refused_writes_record_nothing,
    four_eyes_hold_between_principals_not_tokens,
    a_donor_integration_reaches_its_own_donor_only,
    request_ids_are_scoped_by_the_principal,
);
