//! The whole ledger through gRPC, once on PostgreSQL and once on SQLite.
//!
//! Longer than most files on purpose: one story told through every service, on both stores.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use std::collections::BTreeSet;

use fundtrail_proto::v1;
use fundtrail_tests::story::{self, DIRECTOR, FINANCE, PARTNER, VERIFIER};
use fundtrail_tests::{
    Backend, TestServer, as_actor, backend_tests, country_earmark, money, rate, reason, rid,
    violated_fields,
};
use tonic::Code;
use tonic_reflection::pb::v1::ServerReflectionRequest;
use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;

backend_tests!(
    the_whole_story_from_pledge_to_payment,
    refusals_carry_their_codes_and_reasons,
    malformed_input_names_the_fields_to_fix,
    a_retried_request_writes_nothing_new,
    concurrent_disbursements_never_overdraw_an_account,
    a_project_closed_while_it_is_funded_takes_nothing_after,
    money_goes_only_to_the_partner_of_record,
    servers_answer_health_and_reflection,
);

async fn the_whole_story_from_pledge_to_payment(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();

    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 50_000_000, &["BA", "HR"])
        .await
        .unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let pledge = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 100_000_00),
        country_earmark("BA"),
    )
    .await
    .unwrap();
    assert_eq!(pledge.stream, format!("pledge-{}", pledge.created_id));
    let receipt = story::receive_eur(&mut c, &pledge.created_id, 40_000_00, "NL-2025-0017")
        .await
        .unwrap();

    // The receipt was booked at 1.0842: 40 000.00 EUR = 43 368.00 USD, and matched 1:1.
    let view = c
        .pledges
        .get_pledge(v1::GetPledgeRequest {
            pledge_id: pledge.created_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.received_reporting, money("USD", 43_368_00));
    let pool = story::matched(&mut c, &pool_id).await.unwrap();
    assert_eq!(pool.matches[0].receipt_id, receipt.created_id);
    assert_eq!(pool.matches[0].amount, money("USD", 43_368_00));
    assert_eq!(pool.reserved, money("USD", 43_368_00));

    let project_id = story::register_project(&mut c, "BA", 250_000_00)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge.created_id, &project_id, 30_000_00)
        .await
        .unwrap();
    let account = story::credited(&mut c, &project_id, 30_000_00)
        .await
        .unwrap();
    assert_eq!(account.available, money("EUR", 30_000_00));

    let milestone = story::plan_milestone(&mut c, &project_id, 25_000_00)
        .await
        .unwrap();
    assert_eq!(milestone, 1);
    story::report_and_verify(&mut c, &project_id, milestone)
        .await
        .unwrap();
    let project = c
        .milestones
        .get_project(v1::GetProjectRequest {
            project_id: project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        project.milestones[0].status(),
        v1::MilestoneStatus::Verified
    );
    assert_eq!(project.milestones[0].reported_by, PARTNER);
    story::tranche_unlocked(&mut c, &project_id, milestone)
        .await
        .unwrap();

    let requested = story::request_disbursement(&mut c, &project_id, 25_000_00, milestone)
        .await
        .unwrap();
    story::approve(&mut c, &project_id, &requested.created_id)
        .await
        .unwrap();
    let paid = story::pay(&mut c, &project_id, &requested.created_id, "PAY-2025-311")
        .await
        .unwrap();

    let account = story::account(&mut c, &project_id).await.unwrap();
    assert_eq!(account.available, money("EUR", 5_000_00));
    assert_eq!(
        account.disbursements[0].status(),
        v1::DisbursementStatus::Paid
    );

    // The history tells the same story, in order, with its actors.
    let events = c.events().await.unwrap();
    assert_eq!(
        events.last().unwrap().envelope.as_ref().unwrap().position,
        events.len() as u64
    );
    assert!(paid.position <= events.len() as u64);
    let types: Vec<&str> = events
        .iter()
        .map(|e| {
            e.envelope
                .as_ref()
                .unwrap()
                .event_type
                .trim_start_matches("fundtrail.v1.")
        })
        .collect();
    for expected in [
        "DonorRegistered",
        "MatchingPoolOpened",
        "PledgeRecorded",
        "ContributionReceived",
        "MatchReserved",
        "ContributionAllocated",
        "ProjectAccountCredited",
        "MilestonePlanned",
        "MilestoneProgressReported",
        "MilestoneVerified",
        "TrancheUnlocked",
        "DisbursementRequested",
        "DisbursementApproved",
        "DisbursementPaid",
    ] {
        assert!(
            types.contains(&expected),
            "{expected} missing from {types:?}"
        );
    }
    let approved = events
        .iter()
        .find(|e| e.envelope.as_ref().unwrap().event_type == "fundtrail.v1.DisbursementApproved")
        .unwrap();
    assert!(
        approved.metadata_json.contains(DIRECTOR),
        "{}",
        approved.metadata_json
    );
    let verified = events
        .iter()
        .find(|e| e.envelope.as_ref().unwrap().event_type == "fundtrail.v1.MilestoneVerified")
        .unwrap();
    assert!(verified.payload_json.contains(VERIFIER));
    assert_eq!(verified.country, "BA");
    server.stop().await.unwrap();
}

async fn refusals_carry_their_codes_and_reasons(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let funded = story::funded_project(&mut c, "BA", 10_000_00, 10_000_00)
        .await
        .unwrap();

    // Over-disbursement.
    let status = story::request_disbursement(&mut c, &funded.project_id, 10_000_01, 0)
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "DISBURSEMENT_EXCEEDS_AVAILABLE")
    );

    // A tranche before its milestone is verified.
    let milestone = story::plan_milestone(&mut c, &funded.project_id, 5_000_00)
        .await
        .unwrap();
    let requested = story::request_disbursement(&mut c, &funded.project_id, 5_000_00, milestone)
        .await
        .unwrap();
    let status = story::approve(&mut c, &funded.project_id, &requested.created_id)
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "MILESTONE_NOT_VERIFIED")
    );

    // The requester cannot approve their own request.
    let status = c
        .disbursements
        .approve_disbursement(as_actor(
            FINANCE,
            v1::ApproveDisbursementRequest {
                request_id: rid(),
                project_id: funded.project_id.clone(),
                disbursement_id: requested.created_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&status), "APPROVER_IS_REQUESTER");

    // Allocation against the earmark: BA money for a project in HR.
    let croatia = story::register_project(&mut c, "HR", 1_000_00)
        .await
        .unwrap();
    let status = story::allocate(&mut c, &funded.pledge_id, &croatia, 1_00)
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "EARMARK_MISMATCH")
    );

    // A receipt on a withdrawn pledge.
    let pledge = story::record_pledge(&mut c, "XM-DAC-7", money("EUR", 500_00), None)
        .await
        .unwrap();
    c.pledges
        .withdraw_pledge(as_actor(
            FINANCE,
            v1::WithdrawPledgeRequest {
                request_id: rid(),
                pledge_id: pledge.created_id.clone(),
                reason: "budget cut".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let status = story::receive_eur(&mut c, &pledge.created_id, 100_00, "NL-late")
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "PLEDGE_WITHDRAWN")
    );

    // Matching beyond the cap: a 100.00 USD pool, a contribution worth 108.42 USD.
    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 100_00, &["ME"])
        .await
        .unwrap();
    let montenegro = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 1_000_00),
        country_earmark("ME"),
    )
    .await
    .unwrap();
    let first = story::receive_eur(&mut c, &montenegro.created_id, 100_00, "NL-ME-1")
        .await
        .unwrap();
    let pool = story::matched(&mut c, &pool_id).await.unwrap();
    // Cut to the cap: 100.00 USD of the 108.42 USD full match.
    assert_eq!(pool.matches[0].receipt_id, first.created_id);
    assert_eq!(pool.reserved, money("USD", 100_00));
    assert_eq!(pool.remaining, money("USD", 0));
    let second = story::receive_eur(&mut c, &montenegro.created_id, 50_00, "NL-ME-2")
        .await
        .unwrap();
    let status = c
        .pledges
        .reserve_match(as_actor(
            FINANCE,
            v1::ReserveMatchRequest {
                request_id: rid(),
                pool_id: pool_id.clone(),
                pledge_id: montenegro.created_id.clone(),
                receipt_id: second.created_id.clone(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "MATCHING_CAP_EXCEEDED")
    );

    // A closed project takes no new disbursement requests.
    c.milestones
        .close_project(as_actor(
            FINANCE,
            v1::CloseProjectRequest {
                request_id: rid(),
                project_id: croatia.clone(),
                reason: "completed".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let status = story::request_disbursement(&mut c, &croatia, 1_00, 0)
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::FailedPrecondition, "PROJECT_CLOSED")
    );

    // Unknown things are NOT_FOUND.
    let status = story::record_pledge(&mut c, "XM-DAC-999", money("EUR", 1_00), None)
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::NotFound, "DONOR_NOT_FOUND")
    );
    server.stop().await.unwrap();
}

async fn malformed_input_names_the_fields_to_fix(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let head = |events: &Vec<v1::AuditEvent>| events.len();
    let before = head(&c.events().await.unwrap());

    let status = story::record_pledge(&mut c, "XM-DAC-7", money("EURO", 1_00), None)
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);
    assert_eq!(violated_fields(&status), ["amount.currency"]);
    assert!(
        status.message().contains("ISO 4217"),
        "{}",
        status.message()
    );

    let status = story::record_pledge(&mut c, "XM-DAC-7", None, None)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["amount"]);

    let status = story::record_pledge(&mut c, "XM-DAC-7", money("EUR", -5), None)
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["amount"]);

    let status = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 1_00),
        country_earmark("Bosnia"),
    )
    .await
    .unwrap_err();
    assert_eq!(violated_fields(&status), ["earmark.country"]);

    let status = c
        .milestones
        .register_project(as_actor(
            FINANCE,
            v1::RegisterProjectRequest {
                request_id: rid(),
                country: "UK".to_owned(),
                partner: Some(v1::ImplementingPartner {
                    name: "HALO Trust".to_owned(),
                    iati_id: String::new(),
                }),
                title: "t".to_owned(),
                budget: money("GBP", 1_00),
                starts_on: "2025-01-01".to_owned(),
                ends_on: "2025-12-31".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), violated_fields(&status)),
        (Code::InvalidArgument, vec!["country".to_owned()])
    );

    let status = c
        .pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: "not-a-uuid".to_owned(),
                amount: money("EUR", 1_00),
                value_date: "2025-02-30".to_owned(),
                rate: rate("EUR", "USD", "1.08", "2025-02-01"),
                bank_reference: "x".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    let status = c
        .pledges
        .register_donor(v1::RegisterDonorRequest {
            request_id: String::new(),
            donor_id: "XM-DAC-5".to_owned(),
            name: "Germany".to_owned(),
            kind: v1::DonorKind::Government.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(violated_fields(&status), ["request_id"]);

    // Nothing was written by any of them.
    assert_eq!(head(&c.events().await.unwrap()), before);
    server.stop().await.unwrap();
}

async fn a_retried_request_writes_nothing_new(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let request = v1::RecordPledgeRequest {
        request_id: "donor-system-2025-000123".to_owned(),
        donor_id: "XM-DAC-7".to_owned(),
        amount: money("EUR", 2_500_000_00),
        earmark: country_earmark("UA"),
        pledged_on: "2025-03-01".to_owned(),
        ..Default::default()
    };
    let first = c
        .pledges
        .record_pledge(as_actor(FINANCE, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let events = c.events().await.unwrap().len();
    let again = c
        .pledges
        .record_pledge(as_actor(FINANCE, request.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(!first.replayed);
    assert!(again.replayed);
    assert_eq!(
        (
            again.stream.as_str(),
            again.position,
            again.version,
            again.created_id.as_str()
        ),
        (
            first.stream.as_str(),
            first.position,
            first.version,
            first.created_id.as_str()
        )
    );
    assert_eq!(c.events().await.unwrap().len(), events);

    // Retried concurrently, still once.
    let receipt = v1::ReceiveContributionRequest {
        request_id: "bank-feed-77".to_owned(),
        pledge_id: first.created_id.clone(),
        amount: money("EUR", 1_000_000_00),
        value_date: "2025-03-20".to_owned(),
        rate: rate("EUR", "USD", "1.0901", "2025-03-19"),
        bank_reference: "NL-UA-1".to_owned(),
        ..Default::default()
    };
    let results = futures::future::join_all((0..16).map(|_| {
        let mut c = c.clone();
        let receipt = receipt.clone();
        async move {
            c.pledges
                .receive_contribution(as_actor(FINANCE, receipt))
                .await
                .map(tonic::Response::into_inner)
        }
    }))
    .await;
    let positions: BTreeSet<u64> = results
        .iter()
        .map(|r| r.as_ref().unwrap().position)
        .collect();
    assert_eq!(positions.len(), 1, "{results:?}");
    let view = c
        .pledges
        .get_pledge(v1::GetPledgeRequest {
            pledge_id: first.created_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.receipts.len(), 1);
    assert_eq!(view.received, money("EUR", 1_000_000_00));

    // The same id for a different request is refused and writes nothing.
    let before = c.events().await.unwrap().len();
    let status = c
        .pledges
        .record_pledge(as_actor(
            FINANCE,
            v1::RecordPledgeRequest {
                amount: money("EUR", 1_00),
                ..request
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::AlreadyExists, "REQUEST_ID_REUSED")
    );
    assert_eq!(c.events().await.unwrap().len(), before);
    server.stop().await.unwrap();
}

async fn concurrent_disbursements_never_overdraw_an_account(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let credit = 1_000_00;
    let funded = story::funded_project(&mut c, "UA", credit, credit)
        .await
        .unwrap();

    // 200 requests of 1.00 to 19.99 EUR, about 2 000 EUR in all against 1 000 EUR.
    let amounts: Vec<i64> = (0..200).map(|i| 100 + (i * 7919) % 1_900).collect();
    let results = futures::future::join_all(amounts.iter().map(|&amount| {
        let mut c = c.clone();
        let project_id = funded.project_id.clone();
        async move {
            (
                amount,
                story::request_disbursement(&mut c, &project_id, amount, 0).await,
            )
        }
    }))
    .await;
    let mut accepted = BTreeSet::new();
    let mut accepted_total = 0;
    for (amount, result) in &results {
        match result {
            Ok(created) => {
                accepted.insert(created.created_id.clone());
                accepted_total += amount;
            }
            Err(status) => assert_eq!(
                reason(status),
                "DISBURSEMENT_EXCEEDS_AVAILABLE",
                "{status:?}"
            ),
        }
    }
    assert!(
        accepted_total <= credit,
        "{accepted_total} accepted against {credit}"
    );
    assert!(
        accepted.len() >= 50 && accepted.len() < 200,
        "{} accepted",
        accepted.len()
    );

    let account = story::account(&mut c, &funded.project_id).await.unwrap();
    assert_eq!(account.available, money("EUR", credit - accepted_total));
    let in_account: BTreeSet<String> = account
        .disbursements
        .iter()
        .map(|d| d.disbursement_id.clone())
        .collect();
    assert_eq!(in_account, accepted);
    let requested_events = c
        .events()
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.envelope.as_ref().unwrap().event_type == "fundtrail.v1.DisbursementRequested")
        .count();
    assert_eq!(requested_events, accepted.len());
    server.stop().await.unwrap();
}

async fn servers_answer_health_and_reflection(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let c = server.clients().await.unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(c.channel.clone());
    for service in [
        "fundtrail.v1.Pledges",
        "fundtrail.v1.Milestones",
        "fundtrail.v1.Disbursements",
        "",
    ] {
        let response = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.to_owned(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            response.status(),
            tonic_health::pb::health_check_response::ServingStatus::Serving,
            "{service}"
        );
    }

    let mut reflection = ServerReflectionClient::new(c.channel.clone());
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = reflection
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("reflection did not list services");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    for service in [
        "fundtrail.v1.Pledges",
        "fundtrail.v1.Milestones",
        "fundtrail.v1.Disbursements",
        "fundtrail.v1.Audit",
    ] {
        assert!(
            names.iter().any(|n| n == service),
            "{service} not in {names:?}"
        );
    }
    server.stop().await.unwrap();
}

/// Allocations and disbursement requests race the project's closing; whatever the order, no
/// allocation or request of that project is stored after it closed.
async fn a_project_closed_while_it_is_funded_takes_nothing_after(backend: Backend) {
    use fundtrail_domain::{AccountEvent, Event, PledgeEvent, ProjectEvent};

    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // A funded project with money left in its account, and pledges with money left to give.
    let funded = story::funded_project(&mut c, "UA", 1_000_000_00, 100_000_00)
        .await
        .unwrap();
    let project_id = funded.project_id.clone();

    let allocations = (0..40).map(|_| {
        let mut c = c.clone();
        let pledge_id = funded.pledge_id.clone();
        let project_id = project_id.clone();
        tokio::spawn(async move {
            story::allocate(&mut c, &pledge_id, &project_id, 10_00)
                .await
                .map(|_| ())
        })
    });
    let requests = (0..40).map(|_| {
        let mut c = c.clone();
        let project_id = project_id.clone();
        tokio::spawn(async move {
            story::request_disbursement(&mut c, &project_id, 10_00, 0)
                .await
                .map(|_| ())
        })
    });
    let mut racing: Vec<_> = allocations.chain(requests).collect();
    // Closed while the others are in flight.
    racing.insert(
        20,
        tokio::spawn({
            let mut c = c.clone();
            let project_id = project_id.clone();
            async move {
                c.milestones
                    .close_project(as_actor(
                        PARTNER,
                        v1::CloseProjectRequest {
                            request_id: rid(),
                            project_id,
                            reason: "completed".to_owned(),
                            ..Default::default()
                        },
                    ))
                    .await
                    .map(|_| ())
            }
        }),
    );
    let mut closed_refusals = 0;
    for task in racing {
        match task.await.unwrap() {
            Ok(()) => {}
            Err(status) if reason(&status) == "PROJECT_CLOSED" => closed_refusals += 1,
            Err(status) => panic!("{status:?}"),
        }
    }

    let events = server.server.store.read_all(1, 10_000).await.unwrap();
    let mut closed_at = None;
    let mut after_close = Vec::new();
    for event in &events {
        let decoded = fundtrail_proto::decode(&event.event_type, &event.payload).unwrap();
        let of_project = match &decoded {
            Event::Project(ProjectEvent::Closed { project_id: id, .. })
                if id.to_string() == project_id =>
            {
                assert_eq!(closed_at, None, "closed once");
                closed_at = Some(event.position);
                false
            }
            Event::Pledge(PledgeEvent::ContributionAllocated { project_id: id, .. })
            | Event::Account(AccountEvent::DisbursementRequested { project_id: id, .. }) => {
                id.to_string() == project_id
            }
            _ => false,
        };
        if of_project && closed_at.is_some() {
            after_close.push((event.position, event.event_type.clone()));
        }
    }
    assert!(closed_at.is_some(), "the project was closed");
    assert_eq!(
        after_close,
        [],
        "stored after the project closed at {closed_at:?}"
    );
    eprintln!("{closed_refusals} of 80 refused as PROJECT_CLOSED");
    server.stop().await.unwrap();
}

/// The payee of a disbursement is the project's implementing partner, and a change of partner
/// is its own recorded step, by a programme officer, with a reason.
async fn money_goes_only_to_the_partner_of_record(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let funded = story::funded_project(&mut c, "BA", 100_000_00, 50_000_00)
        .await
        .unwrap();
    let request = |partner: &str| {
        as_actor(
            FINANCE,
            v1::RequestDisbursementRequest {
                request_id: rid(),
                project_id: funded.project_id.clone(),
                amount: money("EUR", 1_000_00),
                partner: partner.to_owned(),
                purpose: "survey".to_owned(),
                ..Default::default()
            },
        )
    };
    let head = server.server.store.head().await.unwrap().position;
    let refused = c
        .disbursements
        .request_disbursement(request("Acme Demining Ltd"))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PAYEE_NOT_IMPLEMENTING_PARTNER");
    assert!(
        refused.message().contains("Norwegian People's Aid"),
        "{refused:?}"
    );
    assert_eq!(server.server.store.head().await.unwrap().position, head);
    c.disbursements
        .request_disbursement(request("norwegian people's aid"))
        .await
        .unwrap();

    let change = |name: &str| {
        as_actor(
            PARTNER,
            v1::ChangeImplementingPartnerRequest {
                request_id: rid(),
                project_id: funded.project_id.clone(),
                partner: Some(v1::ImplementingPartner {
                    name: name.to_owned(),
                    iati_id: "GB-CHC-1001813".to_owned(),
                }),
                reason: "contract novated".to_owned(),
                ..Default::default()
            },
        )
    };
    c.milestones
        .change_implementing_partner(change("The HALO Trust"))
        .await
        .unwrap();
    let again = c
        .milestones
        .change_implementing_partner(change("The HALO Trust"))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "PARTNER_UNCHANGED");
    let view = c
        .milestones
        .get_project(v1::GetProjectRequest {
            project_id: funded.project_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.partner.unwrap().name, "The HALO Trust");
    let refused = c
        .disbursements
        .request_disbursement(request("Norwegian People's Aid"))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PAYEE_NOT_IMPLEMENTING_PARTNER");
    let to_new = c
        .disbursements
        .request_disbursement(request(""))
        .await
        .unwrap()
        .into_inner();
    let account = story::account(&mut c, &funded.project_id).await.unwrap();
    let paid_to = account
        .disbursements
        .iter()
        .find(|d| d.disbursement_id == to_new.created_id)
        .map(|d| d.partner.clone());
    assert_eq!(paid_to.as_deref(), Some("The HALO Trust"));
    server.stop().await.unwrap();
}
