//! Kafka faults and scale-out, on librdkafka's mock cluster: produce requests refused, a
//! broker down, and two members of one consumer group sharing the partitions.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use fundtrail_log::{KafkaSource, LogConfig, Relay, RelayOptions};
use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 4;

fn relay_options() -> RelayOptions {
    RelayOptions {
        batch: 10,
        publish_timeout: Duration::from_secs(2),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(300),
        ..RelayOptions::default()
    }
}

fn source(url: &str) -> KafkaSource {
    let LogConfig::Kafka(config) = url.parse().unwrap() else {
        unreachable!()
    };
    KafkaSource::new(config)
        .with_setting("heartbeat.interval.ms", "100")
        .with_setting("session.timeout.ms", "6000")
}

#[tokio::test]
async fn refused_produce_requests_and_a_broker_down_lose_nothing() {
    let cluster = MockCluster::new(3).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, PARTITIONS, 3).unwrap();
    let url = format!("kafka://{}?topic={topic}", cluster.bootstrap_servers());
    let store = sqlite().await;
    let relay = Relay::new(&url, store.clone())
        .unwrap()
        .with_options(relay_options());
    let stats = relay.stats();
    let stop_relay = CancellationToken::new();
    let relay = tokio::spawn(relay.run(stop_relay.clone()));
    let shutdown = CancellationToken::new();
    let counter = counter(&store, Arc::new(source(&url)), "views.count", &shutdown);

    // Retriable refusals: the idempotent producer retries them in order by itself.
    cluster.request_errors(
        RDKafkaApiKey::Produce,
        &[
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_LEADER_FOR_PARTITION,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_LEADER_NOT_AVAILABLE,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR_NOT_ENOUGH_REPLICAS,
        ],
    );
    let mut appended = append_many(&store, 30).await;
    wait_for(&store, "views.count", 30, Duration::from_secs(30)).await;

    // A broker down longer than the publish timeout: the relay's round fails, it backs off
    // and resumes from its cursor once the broker is back.
    cluster.broker_down(1).unwrap();
    cluster.broker_down(2).unwrap();
    appended.extend(append_many(&store, 30).await);
    tokio::time::sleep(Duration::from_secs(3)).await;
    cluster.broker_up(1).unwrap();
    cluster.broker_up(2).unwrap();
    appended.extend(append_many(&store, 10).await);
    wait_for(&store, "views.count", 70, Duration::from_mins(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert!(
        stats.failures() > 0,
        "the relay noticed the brokers were down"
    );
    assert_eq!(stats.cursor(), 70);
    shutdown.cancel();
    stop_relay.cancel();
    counter.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn two_members_of_a_group_share_the_partitions_and_each_event_takes_effect_once() {
    let cluster = MockCluster::new(1).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
    let url = format!("kafka://{}?topic={topic}", cluster.bootstrap_servers());
    let store = sqlite().await;
    let shutdown = CancellationToken::new();
    let a = counter_as(
        &store,
        Arc::new(source(&url)),
        "views.count",
        "a",
        &shutdown,
    );
    let b = counter_as(
        &store,
        Arc::new(source(&url)),
        "views.count",
        "b",
        &shutdown,
    );
    let relay = Relay::new(&url, store.clone())
        .unwrap()
        .with_options(relay_options());
    let stop_relay = CancellationToken::new();
    let relay = tokio::spawn(relay.run(stop_relay.clone()));

    // Enough countries that every partition has some; in waves, so both members are in the
    // group (and any rebalance happened) while events flow.
    let countries = [
        "BA", "UA", "AF", "KH", "CO", "LA", "VN", "IQ", "SY", "YE", "SO", "LB",
    ];
    let mut appended = Vec::new();
    for _ in 0..6 {
        appended.extend(append_across(&store, 24, &countries).await);
        tokio::time::sleep(Duration::from_millis(700)).await;
    }
    wait_for(
        &store,
        "views.count",
        appended.len(),
        Duration::from_mins(1),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    let members = by_member(&store, "views.count").await;
    assert!(
        members.get("a").copied().unwrap_or(0) > 0 && members.get("b").copied().unwrap_or(0) > 0,
        "both members handled events: {members:?}"
    );
    shutdown.cancel();
    stop_relay.cancel();
    a.await.unwrap();
    b.await.unwrap();
    relay.await.unwrap();
}
