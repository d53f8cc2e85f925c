//! The log on Kafka, against a real broker (tansu in the test script): keys, headers and
//! per-country order through a consumer group, and a relay that crashed and republished.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::raw;
use common::*;
use fundtrail_log::envelope::recorded;
use fundtrail_log::{KafkaSource, LogConfig, Relay, RelayOptions, RelayStats};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 3;

fn log(brokers: &str) -> (String, String, KafkaSource) {
    let topic = unique("fundtrail.test.");
    let url = format!("kafka://{brokers}?topic={topic}&partitions={PARTITIONS}");
    let LogConfig::Kafka(config) = url.parse().unwrap() else {
        unreachable!()
    };
    (url, topic, KafkaSource::new(config))
}

fn start_relay(
    url: &str,
    store: &fundtrail_store::SqliteStore,
) -> (JoinHandle<()>, Arc<RelayStats>, CancellationToken) {
    let relay = Relay::new(url, store.clone())
        .unwrap()
        .with_options(RelayOptions {
            batch: 25,
            publish_timeout: Duration::from_secs(5),
            retry_max: Duration::from_millis(500),
            ..RelayOptions::default()
        });
    let stats = relay.stats();
    let shutdown = CancellationToken::new();
    (tokio::spawn(relay.run(shutdown.clone())), stats, shutdown)
}

#[tokio::test]
async fn each_country_keeps_its_order_through_a_consumer_group() {
    let Some(brokers) = kafka() else { return };
    let (url, topic, source) = log(&brokers);
    let store = sqlite().await;
    let name = unique("views.");
    let mut appended = append_many(&store, 30).await;
    let (relay, _, stop_relay) = start_relay(&url, &store);
    let shutdown = CancellationToken::new();
    let counter = counter(&store, Arc::new(source), &name, &shutdown);
    appended.extend(append_many(&store, 30).await);
    wait_for(&store, &name, 60, Duration::from_mins(1)).await;
    let effects = effects(&store, &name).await;
    check_exactly_once_in_country_order(&effects, &appended);
    assert!(
        effects
            .iter()
            .all(|(_, _, lane)| lane.starts_with(&format!("{name}/p"))),
        "Kafka checkpoints are per partition"
    );

    let messages = raw::read(&brokers, &topic, PARTITIONS, 60).await;
    let countries: HashMap<u64, &String> = appended.iter().map(|(p, c)| (*p, c)).collect();
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    let mut last_in_partition: HashMap<i32, u64> = HashMap::new();
    for message in &messages {
        let event = recorded(&message.value).unwrap();
        assert_eq!(message.position(), event.position);
        assert_eq!(&message.key, countries[&event.position], "keyed by country");
        assert_eq!(message.headers["event_id"], event.event_id.to_string());
        assert_eq!(message.headers["event_type"], event.event_type);
        assert_eq!(message.headers["stream"], event.stream);
        assert!(message.headers["traceparent"].starts_with("00-"));
        let partition = *partition_of
            .entry(&message.key)
            .or_insert(message.partition);
        assert_eq!(
            partition, message.partition,
            "a country stays in one partition"
        );
        let before = last_in_partition
            .insert(message.partition, event.position)
            .unwrap_or(0);
        assert!(before < event.position, "a partition is in position order");
    }
    shutdown.cancel();
    stop_relay.cancel();
    counter.await.unwrap();
    relay.await.unwrap();
}

#[tokio::test]
async fn a_relay_killed_and_republishing_repeats_no_effect() {
    let Some(brokers) = kafka() else { return };
    let (url, topic, source) = log(&brokers);
    let store = sqlite().await;
    let name = unique("views.");
    let shutdown = CancellationToken::new();
    let counter = counter(&store, Arc::new(source), &name, &shutdown);
    let mut appended = append_many(&store, 40).await;
    let (relay, stats, _) = start_relay(&url, &store);
    while stats.checkpoint() < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.abort();
    let _ = relay.await;
    let published = usize::try_from(stats.checkpoint()).unwrap();
    // What a relay that died between the broker's acknowledgement and its checkpoint leaves:
    // the same events on the topic twice.
    let first = raw::read(&brokers, &topic, PARTITIONS, published).await;
    raw::republish(&brokers, &topic, &first[..published / 2]).await;
    appended.extend(append_many(&store, 20).await);
    let (relay, _, stop_relay) = start_relay(&url, &store);
    wait_for(&store, &name, 60, Duration::from_mins(1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    check_exactly_once_in_country_order(&effects(&store, &name).await, &appended);
    let all = raw::read(&brokers, &topic, PARTITIONS, 60 + published / 2).await;
    assert!(all.len() > 60, "the topic held duplicates");
    shutdown.cancel();
    stop_relay.cancel();
    counter.await.unwrap();
    relay.await.unwrap();
}
