//! The "needs attention" policy end to end, on PostgreSQL and SQLite: an event a consumer
//! cannot take into effect never stops the fund's matching, crediting and views; it is parked,
//! listed over gRPC and by `fundtrail attention`, and re-driven by an administrator with its
//! effect written once.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_00 is 100.00"
)]

use std::time::Duration;

use fundtrail_client::attention::{self as cli, ListArgs};
use fundtrail_identity::{Principal, Role};
use fundtrail_proto::v1;
use fundtrail_proto::v1::attention_client::AttentionClient;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_service::RetryPolicy;
use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, NewEvent};
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, as_principal, backend_tests, country_earmark,
    credentials, donor_integration, eventually, money, principal, reason, rid,
};
use prost::Message;
use tonic::Code;

backend_tests!(
    an_unknown_event_type_does_not_stop_matching_or_crediting,
    an_undecodable_payload_is_parked_and_later_events_take_effect,
    a_persistent_failure_is_parked_after_the_bounded_attempts,
    a_refusal_is_recorded_and_its_redrive_after_the_fix_writes_the_effect_once,
    the_queue_is_read_by_finance_approvers_administrators_and_auditors_only,
);

/// Every consumer of a full server: the four process managers and the projector.
const CONSUMERS: &[&str] = &[
    "disbursements.credits",
    "disbursements.tranches",
    "pledges.matching",
    "pledges.releases",
    "projector",
];

fn admin() -> Principal {
    principal("admin@itf.si", &[Role::Administrator])
}

fn attention(c: &Clients) -> AttentionClient<fundtrail_identity::AuthorizedChannel> {
    AttentionClient::new(c.channel.clone())
}

/// Appends one event behind the services' back, as another version or a damaged row would
/// leave it; its position.
async fn append_raw(store: &dyn EventStore, stream: &str, event_type: &str, payload: &[u8]) -> u64 {
    store
        .append(AppendRequest::new(
            stream,
            ExpectedVersion::Any,
            vec![NewEvent::new(
                uuid::Uuid::now_v7(),
                event_type,
                payload.to_vec(),
                Vec::new(),
            )],
        ))
        .await
        .unwrap()
        .last_position
}

async fn list(c: &Clients, request: v1::ListAttentionItemsRequest) -> Vec<v1::AttentionItem> {
    attention(c)
        .list_attention_items(request)
        .await
        .unwrap()
        .into_inner()
        .items
}

/// Waits until `consumer` has parked the event at `position`.
async fn parked(c: &Clients, consumer: &str, position: u64) -> v1::AttentionItem {
    eventually(
        &format!("{consumer} to park position {position}"),
        EFFECT_TIMEOUT,
        || {
            let c = c.clone();
            let consumer = consumer.to_owned();
            async move {
                let items = list(
                    &c,
                    v1::ListAttentionItemsRequest {
                        consumer,
                        include_resolved: true,
                        ..Default::default()
                    },
                )
                .await;
                Ok(items.into_iter().find(|i| i.position == position))
            }
        },
    )
    .await
    .unwrap()
}

/// Waits until item `id` is no longer waiting for its re-drive.
async fn settled(c: &Clients, id: u64, attempts: u32) -> v1::AttentionItem {
    eventually(
        &format!("item {id} to settle after {attempts} attempts"),
        EFFECT_TIMEOUT,
        || {
            let mut client = attention(c);
            async move {
                let item = client
                    .get_attention_item(v1::GetAttentionItemRequest { id })
                    .await?
                    .into_inner();
                Ok((item.state() != v1::AttentionState::RedriveRequested
                    && item.attempts >= attempts)
                    .then_some(item))
            }
        },
    )
    .await
    .unwrap()
}

async fn redrive(c: &Clients, id: u64) -> v1::AttentionItem {
    attention(c)
        .redrive_attention_item(as_principal(
            &admin(),
            v1::RedriveAttentionItemRequest { id },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn an_unknown_event_type_does_not_stop_matching_or_crediting(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // What a newer version records during a rolling upgrade, before anything this one knows.
    append_raw(
        &*server.server.store,
        "future-1",
        "fundtrail.v1.SomethingANewerVersionRecords",
        &[8, 1],
    )
    .await;
    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 50_000_000, &["BA"])
        .await
        .unwrap();
    // Matched, allocated and credited: every process manager went past the unknown event.
    story::funded_project(&mut c, "BA", 1_000_000, 600_000)
        .await
        .unwrap();
    story::matched(&mut c, &pool_id).await.unwrap();
    let head = server.server.store.head().await.unwrap().position;
    FundingClient::new(c.channel.clone())
        .get_country_funding(v1::GetCountryFundingRequest {
            country: "BA".into(),
            min_position: head,
            ..Default::default()
        })
        .await
        .expect("the views moved past the unknown event");
    let items = list(
        &c,
        v1::ListAttentionItemsRequest {
            include_resolved: true,
            ..Default::default()
        },
    )
    .await;
    assert!(items.is_empty(), "an unknown type needs nobody: {items:?}");
    server.stop().await.unwrap();
}

async fn an_undecodable_payload_is_parked_and_later_events_take_effect(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let broken = append_raw(
        &*server.server.store,
        &format!("pledge-{}", uuid::Uuid::now_v7()),
        "fundtrail.v1.ContributionAllocated",
        &[0xff, 0xff, 0xff],
    )
    .await;
    let funded = story::funded_project(&mut c, "HR", 1_000_000, 400_000)
        .await
        .unwrap();
    let account = story::account(&mut c, &funded.project_id).await.unwrap();
    assert_eq!(account.credited, money("EUR", 400_000));
    for consumer in CONSUMERS {
        let item = parked(&c, consumer, broken).await;
        assert_eq!(item.kind(), v1::AttentionKind::Undecodable, "{consumer}");
        assert_eq!(item.state(), v1::AttentionState::Open, "{consumer}");
        assert_eq!(item.event_type, "fundtrail.v1.ContributionAllocated");
        assert_eq!(item.attempts, 1);
        assert!(item.cause.contains("not valid protobuf"), "{}", item.cause);
        assert!(!item.first_seen.is_empty());
    }
    // The views folded on without it.
    let head = server.server.store.head().await.unwrap().position;
    FundingClient::new(c.channel.clone())
        .get_country_funding(v1::GetCountryFundingRequest {
            country: "HR".into(),
            min_position: head,
            ..Default::default()
        })
        .await
        .expect("the views moved past the undecodable event");
    // A re-drive of a payload that still does not decode leaves it open, one attempt more.
    let credits = parked(&c, "disbursements.credits", broken).await;
    let requested = redrive(&c, credits.id).await;
    assert_eq!(requested.state(), v1::AttentionState::RedriveRequested);
    let again = settled(&c, credits.id, 2).await;
    assert_eq!(
        (again.state(), again.kind(), again.attempts),
        (v1::AttentionState::Open, v1::AttentionKind::Undecodable, 2)
    );
    server.stop().await.unwrap();
}

async fn a_persistent_failure_is_parked_after_the_bounded_attempts(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    // A project whose account stream holds a row no version can read: crediting it fails
    // however often it is tried.
    let damaged = story::register_project(&mut c, "BA", 2_000_000)
        .await
        .unwrap();
    append_raw(
        &*server.server.store,
        &format!("account-{damaged}"),
        "fundtrail.v1.ProjectAccountCredited",
        &[0xff, 0xff],
    )
    .await;
    let pledge = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 1_000_000),
        country_earmark("BA"),
    )
    .await
    .unwrap()
    .created_id;
    story::receive_eur(&mut c, &pledge, 1_000_000, "NL-2025-0091")
        .await
        .unwrap();
    let allocated = story::allocate(&mut c, &pledge, &damaged, 300_000)
        .await
        .unwrap();
    // Later allocations are credited: the consumer moved on.
    let sound = story::register_project(&mut c, "BA", 2_000_000)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge, &sound, 200_000)
        .await
        .unwrap();
    story::credited(&mut c, &sound, 200_000).await.unwrap();
    let item = parked(&c, "disbursements.credits", allocated.position).await;
    assert_eq!(item.kind(), v1::AttentionKind::Failed);
    assert_eq!(item.attempts, RetryPolicy::default().attempts);
    assert_eq!(item.event_type, "fundtrail.v1.ContributionAllocated");
    assert!(item.cause.contains("could not be read"), "{}", item.cause);
    assert!(item.reason.is_empty());
    server.stop().await.unwrap();
}

/// The `MatchReserved` events of `pool_id` for `receipt_id`.
async fn reservations(store: &dyn EventStore, pool_id: &str, receipt_id: &str) -> usize {
    store
        .read_stream(&format!("matching-{pool_id}"), 0)
        .await
        .unwrap()
        .iter()
        .filter(|e| e.event_type == "fundtrail.v1.MatchReserved")
        .filter(|e| {
            v1::MatchReserved::decode(e.payload.as_slice())
                .is_ok_and(|m| m.receipt_id == receipt_id)
        })
        .count()
}

async fn a_refusal_is_recorded_and_its_redrive_after_the_fix_writes_the_effect_once(
    backend: Backend,
) {
    let server = TestServer::start(backend).await.unwrap();
    let store = server.server.store.clone();
    let mut c = server.clients().await.unwrap();
    // A 100.00 USD pool: the first receipt (worth 108.42 USD) takes all of it.
    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 100_00, &["ME"])
        .await
        .unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let pledge = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 1_000_00),
        country_earmark("ME"),
    )
    .await
    .unwrap()
    .created_id;
    let first = story::receive_eur(&mut c, &pledge, 100_00, "NL-ME-1")
        .await
        .unwrap();
    story::matched(&mut c, &pool_id).await.unwrap();
    let second = story::receive_eur(&mut c, &pledge, 50_00, "NL-ME-2")
        .await
        .unwrap();

    // The pool has no room left: the rule's refusal is recorded, not dropped.
    let item = parked(&c, "pledges.matching", second.position).await;
    assert_eq!(item.kind(), v1::AttentionKind::Refused);
    assert_eq!(item.reason, "MATCHING_CAP_EXCEEDED");
    assert_eq!(item.attempts, 1, "a refusal is not retried");
    assert_eq!(item.event_type, "fundtrail.v1.ContributionReceived");
    assert_eq!(item.state(), v1::AttentionState::Open);

    // Listed over gRPC (open items by default) and by the command-line client.
    let open = list(
        &c,
        v1::ListAttentionItemsRequest {
            kind: v1::AttentionKind::Refused.into(),
            ..Default::default()
        },
    )
    .await;
    assert_eq!(open.iter().map(|i| i.id).collect::<Vec<_>>(), [item.id]);
    let session = fundtrail_client::Session::connect_with(
        &server.server.url(),
        credentials(&principal("finance@itf.si", &[Role::FinanceOfficer])),
    )
    .await
    .unwrap();
    let shown = cli::list(
        &session,
        &ListArgs {
            consumer: Some("pledges.matching".into()),
            limit: 100,
            ..ListArgs::default()
        },
    )
    .await
    .unwrap();
    let table = cli::table(&shown);
    assert!(table.contains("MATCHING_CAP_EXCEEDED"), "{table}");
    assert!(table.contains("ContributionReceived"), "{table}");
    assert!(table.contains(&second.position.to_string()), "{table}");

    // Re-driven while the cause holds: still open, one attempt more, nothing written.
    let head = store.head().await.unwrap().position;
    redrive(&c, item.id).await;
    let refused_again = settled(&c, item.id, 2).await;
    assert_eq!(refused_again.state(), v1::AttentionState::Open);
    assert_eq!(refused_again.reason, "MATCHING_CAP_EXCEEDED");
    assert_eq!(store.head().await.unwrap().position, head);

    // The fix: the first match is voided, so the cap has room again.
    c.pledges
        .void_match(as_actor(
            FINANCE,
            v1::VoidMatchRequest {
                request_id: rid(),
                pool_id: pool_id.clone(),
                receipt_id: first.created_id.clone(),
                reason: "the receipt was booked to the wrong pledge".into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    assert_eq!(reservations(&*store, &pool_id, &second.created_id).await, 0);

    // Re-driven twice by an administrator through the command-line client: resolved, the match
    // reserved once.
    let administrator = session.acting_with(credentials(&admin()));
    cli::redrive(&administrator, item.id, None).await.unwrap();
    let resolved = cli::redrive(&administrator, item.id, Some(EFFECT_TIMEOUT))
        .await
        .unwrap();
    assert_eq!(resolved.state(), v1::AttentionState::Resolved);
    assert!(
        cli::describe(&resolved).starts_with("resolved"),
        "{resolved:?}"
    );
    assert_eq!(reservations(&*store, &pool_id, &second.created_id).await, 1);
    let pool = c
        .pledges
        .get_matching_pool(v1::GetMatchingPoolRequest {
            pool_id: pool_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        pool.matches
            .iter()
            .any(|m| m.receipt_id == second.created_id && m.status() == v1::MatchStatus::Reserved),
        "{pool:?}"
    );

    // Once more after it is resolved: the consumer handles it again and writes nothing.
    let head = store.head().await.unwrap().position;
    let attempts = resolved.attempts;
    redrive(&c, item.id).await;
    let replayed = settled(&c, item.id, attempts + 1).await;
    assert_eq!(replayed.state(), v1::AttentionState::Resolved);
    assert_eq!(
        store.head().await.unwrap().position,
        head,
        "nothing written twice"
    );
    assert_eq!(reservations(&*store, &pool_id, &second.created_id).await, 1);
    // Resolved items leave the default listing.
    let open = list(&c, v1::ListAttentionItemsRequest::default()).await;
    assert!(open.iter().all(|i| i.id != item.id), "{open:?}");
    server.stop().await.unwrap();
}

async fn the_queue_is_read_by_finance_approvers_administrators_and_auditors_only(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let c = server.clients().await.unwrap();
    let list_as = |who: Principal| {
        let mut client = attention(&c);
        async move {
            client
                .list_attention_items(as_principal(&who, v1::ListAttentionItemsRequest::default()))
                .await
        }
    };
    let redrive_as = |who: Principal| {
        let mut client = attention(&c);
        async move {
            client
                .redrive_attention_item(as_principal(
                    &who,
                    v1::RedriveAttentionItemRequest { id: 1 },
                ))
                .await
        }
    };
    let strangers = [
        donor_integration("integration@minbuza.nl", "XM-DAC-7"),
        principal("programme@itf.si", &[Role::ProgrammeOfficer]),
        principal("qa@itf.si", &[Role::Verifier]),
    ];
    for who in strangers {
        for status in [
            list_as(who.clone()).await.unwrap_err(),
            redrive_as(who.clone()).await.unwrap_err(),
        ] {
            assert_eq!(
                (status.code(), reason(&status).as_str()),
                (Code::PermissionDenied, "MISSING_ROLE"),
                "{}",
                who.subject
            );
        }
    }
    for role in [
        Role::FinanceOfficer,
        Role::Approver,
        Role::Auditor,
        Role::Administrator,
    ] {
        let who = principal(&format!("{role}@itf.si"), &[role]);
        assert!(list_as(who.clone()).await.is_ok(), "{role} reads the queue");
        if role != Role::Administrator {
            let status = redrive_as(who).await.unwrap_err();
            assert_eq!(status.code(), Code::PermissionDenied, "{role} re-drives");
        }
    }
    // Admitted, an administrator still names an item that exists.
    let status = redrive_as(admin()).await.unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::NotFound, "ATTENTION_ITEM_NOT_FOUND")
    );
    let status = attention(&c)
        .redrive_attention_item(as_principal(
            &admin(),
            v1::RedriveAttentionItemRequest { id: 0 },
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::InvalidArgument);

    // The command-line client says the same to a programme officer.
    let session = fundtrail_client::Session::connect_with(
        &server.server.url(),
        credentials(&principal("programme@itf.si", &[Role::ProgrammeOfficer])),
    )
    .await
    .unwrap();
    let refused = cli::list(
        &session,
        &ListArgs {
            limit: 100,
            ..ListArgs::default()
        },
    )
    .await
    .unwrap_err();
    assert!(
        refused.to_string().contains("PERMISSION_DENIED"),
        "{refused}"
    );
    let refused = cli::redrive(&session, 1, Some(Duration::from_secs(1)))
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("PERMISSION_DENIED"),
        "{refused}"
    );
    server.stop().await.unwrap();
}
