//! The distributed shape: each service in its own server, sharing one PostgreSQL store and
//! connected to each other only through the log — once over NATS JetStream, once over Kafka.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use std::time::Duration;

use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_server::Roles;
use fundtrail_tests::story;
use fundtrail_tests::{
    Clients, country_earmark, drop_schema, kafka, money, nats, one_service, unique_schema,
};

/// Runs the story across four servers on `log_url` and checks every asynchronous effect
/// arrived through the log.
async fn story_through_the_log(log_url: &str) -> u64 {
    let schema = unique_schema();
    let only = |f: fn(&mut Roles)| {
        let mut roles = Roles::default();
        f(&mut roles);
        roles
    };
    let pledges = one_service(only(|r| r.pledges = true), &schema, log_url)
        .await
        .unwrap();
    let milestones = one_service(only(|r| r.milestones = true), &schema, log_url)
        .await
        .unwrap();
    let disbursements = one_service(only(|r| r.disbursements = true), &schema, log_url)
        .await
        .unwrap();
    let projector = one_service(only(|r| r.projector = true), &schema, log_url)
        .await
        .unwrap();
    let mut c = Clients::split(
        &pledges.url(),
        &milestones.url(),
        &disbursements.url(),
        &projector.url(),
    )
    .await
    .unwrap();
    // Each server answers only for its own service.
    assert!(
        Clients::connect(&pledges.url())
            .await
            .unwrap()
            .milestones
            .list_projects(v1::ListProjectsRequest::default())
            .await
            .is_err()
    );

    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 1_000_000_00, &["BA"])
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
    story::receive_eur(&mut c, &pledge.created_id, 50_000_00, "NL-DIST-1")
        .await
        .unwrap();
    let project_id = story::register_project(&mut c, "BA", 200_000_00)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge.created_id, &project_id, 40_000_00)
        .await
        .unwrap();

    // Allocation (pledges) → credit (disbursements), through the log.
    story::credited(&mut c, &project_id, 40_000_00)
        .await
        .unwrap();
    // Receipt (pledges) → match (pledges' own process manager), through the log.
    story::matched(&mut c, &pool_id).await.unwrap();
    // Verification (milestones) → tranche (disbursements), through the log.
    let milestone = story::plan_milestone(&mut c, &project_id, 30_000_00)
        .await
        .unwrap();
    story::report_and_verify(&mut c, &project_id, milestone)
        .await
        .unwrap();
    story::tranche_unlocked(&mut c, &project_id, milestone)
        .await
        .unwrap();
    let requested = story::request_disbursement(&mut c, &project_id, 30_000_00, milestone)
        .await
        .unwrap();
    story::approve(&mut c, &project_id, &requested.created_id)
        .await
        .unwrap();
    let paid = story::pay(&mut c, &project_id, &requested.created_id, "PAY-DIST-1")
        .await
        .unwrap();

    // The projector, fed by the log, reads its own writes.
    let mut funding = FundingClient::new(c.channel.clone());
    let mut request = tonic::Request::new(v1::GetCountryFundingRequest {
        country: "BA".to_owned(),
        min_position: paid.position,
        as_of: None,
    });
    request.set_timeout(Duration::from_secs(30));
    let bosnia = funding
        .get_country_funding(request)
        .await
        .unwrap()
        .into_inner();
    assert!(bosnia.position >= paid.position);
    let disbursed: i64 = bosnia
        .disbursed
        .as_ref()
        .unwrap()
        .original
        .iter()
        .map(|m| m.minor_units)
        .sum();
    assert_eq!(disbursed, 30_000_00);
    let allocated: i64 = bosnia
        .allocated
        .as_ref()
        .unwrap()
        .original
        .iter()
        .map(|m| m.minor_units)
        .sum();
    assert_eq!(allocated, 40_000_00);

    let head = projector.store.head().await.unwrap().position;
    for server in [pledges, milestones, disbursements, projector] {
        server.stop().await.unwrap();
    }
    drop_schema(&schema).await.unwrap();
    head
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_runs_over_nats_jetstream() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("FT_E2E_{id}");
    let url = format!("{}?stream={stream}&prefix=e2e{id}", nats());
    let head = story_through_the_log(&url).await;
    let client = async_nats::connect(nats()).await.unwrap();
    let jetstream = async_nats::jetstream::new(client);
    let mut published = jetstream.get_stream(&stream).await.unwrap();
    // Everything the store holds went through the stream.
    assert_eq!(published.info().await.unwrap().state.messages, head);
    // The stream was this test's own.
    jetstream.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_story_runs_over_kafka() {
    let Some(brokers) = kafka() else { return };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url = format!("kafka://{brokers}?topic=fundtrail.e2e.{id}&partitions=3");
    story_through_the_log(&url).await;
}
