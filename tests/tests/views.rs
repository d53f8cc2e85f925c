//! The funding views of the demonstration data: a snapshot people can read and review, and
//! the same figures whichever log fed the projector (embedded, NATS JetStream, Kafka).

use std::time::Duration;

use fundtrail_demo as demo;
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use fundtrail_server::{self as server, ServerSettings};
use prost::Message;
use serde_json::Value;

/// Fields that differ from run to run: generated ids, commit times, and positions (the
/// process managers' effects interleave with the demo's commands).
/// Names are the protobuf JSON names.
const VOLATILE: &[&str] = &[
    "projectId",
    "pledgeId",
    "receiptId",
    "allocationId",
    "disbursementId",
    // An allocation's line is dated by its commit time.
    "recordedOn",
    "asOfTime",
    "position",
    "changedAtPosition",
];

fn json_of<M: Message>(type_name: &str, message: &M) -> Value {
    let text = fundtrail_projector::json::to_json(type_name, &message.encode_to_vec()).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// Drops volatile fields and puts lists in a stable order (lists keyed by generated ids would
/// otherwise come out in a different order each run).
fn normalise(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.retain(|key, _| !VOLATILE.contains(&key.as_str()));
            map.values_mut().for_each(normalise);
        }
        Value::Array(items) => {
            items.iter_mut().for_each(normalise);
            items.sort_by_cached_key(ToString::to_string);
        }
        _ => {}
    }
}

/// The paths at which two JSON values differ, to say what a mismatch is about.
fn differences(path: &str, left: &Value, right: &Value, out: &mut Vec<String>) {
    match (left, right) {
        (Value::Object(a), Value::Object(b)) => {
            for key in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
                let (l, r) = (
                    a.get(key).unwrap_or(&Value::Null),
                    b.get(key).unwrap_or(&Value::Null),
                );
                differences(&format!("{path}.{key}"), l, r, out);
            }
        }
        (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
            for (i, (l, r)) in a.iter().zip(b).enumerate() {
                differences(&format!("{path}[{i}]"), l, r, out);
            }
        }
        (l, r) if l != r => out.push(format!("{path}: {l} ≠ {r}")),
        _ => {}
    }
}

fn assert_same(fed: &Value, embedded: &Value, log: &str) {
    let mut out = Vec::new();
    differences("", fed, embedded, &mut out);
    assert!(
        out.is_empty(),
        "views fed by {log} differ from the embedded ones:\n{}",
        out.join("\n")
    );
}

/// Loads the demo on a fresh server fed by `log_url` and reads every view once the
/// projector has the whole history.
async fn demo_views(log_url: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("fund.db").display());
    let running = server::start(ServerSettings {
        log_url: log_url.to_owned(),
        ..fundtrail_tests::settings(store).unwrap()
    })
    .await
    .unwrap();
    demo::load(&running.url(), &fundtrail_tests::issuer())
        .await
        .unwrap();
    let head = running.store.head().await.unwrap().position;
    let channel = fundtrail_tests::Clients::connect(&running.url())
        .await
        .unwrap()
        .channel;
    let mut funding = FundingClient::new(channel.clone());
    let mut request = tonic::Request::new(v1::ListCountriesRequest {
        min_position: head,
        as_of: None,
    });
    request.set_timeout(Duration::from_secs(30));
    let countries = funding.list_countries(request).await.unwrap().into_inner();
    let overview = funding
        .get_fund_overview(v1::GetFundOverviewRequest {
            min_position: head,
            as_of: None,
        })
        .await
        .unwrap()
        .into_inner();
    let donors = PledgesClient::new(channel)
        .list_donors(v1::ListDonorsRequest {})
        .await
        .unwrap()
        .into_inner();
    let mut statements = serde_json::Map::new();
    for donor in donors.donors {
        let statement = funding
            .get_donor_statement(v1::GetDonorStatementRequest {
                donor_id: donor.donor_id.clone(),
                min_position: head,
                as_of: None,
            })
            .await
            .unwrap()
            .into_inner();
        statements.insert(
            donor.donor_id,
            json_of("fundtrail.v1.DonorStatement", &statement),
        );
    }
    running.stop().await.unwrap();
    let mut views = serde_json::json!({
        "countries": json_of("fundtrail.v1.ListCountriesResponse", &countries),
        "overview": json_of("fundtrail.v1.FundOverview", &overview),
        "donors": statements,
    });
    normalise(&mut views);
    views
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_demo_views() {
    insta::assert_json_snapshot!(demo_views("embedded").await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_same_views_whichever_log_fed_them() {
    let embedded = demo_views("embedded").await;
    let id = uuid::Uuid::new_v4().simple().to_string();
    let nats =
        std::env::var("FUNDTRAIL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let stream = format!("FT_VIEWS_{id}");
    let over_nats = demo_views(&format!("{nats}?stream={stream}&prefix=views{id}")).await;
    assert_same(&over_nats, &embedded, "NATS");
    let client = async_nats::connect(nats).await.unwrap();
    async_nats::jetstream::new(client)
        .delete_stream(&stream)
        .await
        .unwrap();

    let kafka = fundtrail_tests::kafka();
    match kafka {
        Some(brokers) => {
            let over_kafka = demo_views(&format!(
                "kafka://{brokers}?topic=fundtrail.views.{id}&partitions=3"
            ))
            .await;
            assert_same(&over_kafka, &embedded, "Kafka");
        }
        None => eprintln!("SKIPPED the Kafka part on request"),
    }
}
