//! Kafka faults and scale-out, on librdkafka's mock cluster: produce requests refused, a
//! broker down, two members of one consumer group sharing the partitions, envelopes on the
//! topic that are not the store's events, and relays of older lease generations.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::raw::{self, Raw};
use common::*;
use fundtrail_log::{KafkaSource, LogConfig, PublishGate, Relay, RelayOptions};
use fundtrail_store::{EventStore, SqliteStore, StoreOptions};
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

fn source(url: &str, store: &SqliteStore) -> Arc<KafkaSource> {
    let LogConfig::Kafka(config) = url.parse().unwrap() else {
        unreachable!()
    };
    Arc::new(
        KafkaSource::new(config, Arc::new(store.clone()))
            .with_setting("heartbeat.interval.ms", "100")
            .with_setting("session.timeout.ms", "6000"),
    )
}

fn start_relay(
    url: &str,
    store: &SqliteStore,
    options: RelayOptions,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<fundtrail_log::RelayStats>,
    CancellationToken,
) {
    let relay = Relay::new(url, store.clone())
        .unwrap()
        .with_options(options)
        .unwrap();
    let stats = relay.stats();
    let stop = CancellationToken::new();
    (tokio::spawn(relay.run(stop.clone())), stats, stop)
}

#[tokio::test]
async fn refused_produce_requests_and_a_broker_down_lose_nothing() {
    let cluster = MockCluster::new(3).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, PARTITIONS, 3).unwrap();
    let url = format!("kafka://{}?topic={topic}", cluster.bootstrap_servers());
    let store = sqlite().await;
    let (relay, stats, stop_relay) = start_relay(&url, &store, relay_options());
    let shutdown = CancellationToken::new();
    let counter = counter(&store, source(&url, &store), "views.count", &shutdown);

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
    eventually(
        Duration::from_secs(30),
        "the relay noticed the brokers were down",
        || async { stats.failures() > 0 },
    )
    .await;
    cluster.broker_up(1).unwrap();
    cluster.broker_up(2).unwrap();
    appended.extend(append_many(&store, 10).await);
    wait_for(&store, "views.count", 70, Duration::from_mins(1)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(counter.replays(), 0, "no event was handled twice");
    let last = head(&store).await;
    eventually(Duration::from_mins(1), "the relay caught up", || async {
        stats.cursor() == last
    })
    .await;
    shutdown.cancel();
    stop_relay.cancel();
    counter.stop().await;
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
    let a = counter_as(&store, source(&url, &store), "views.count", "a", &shutdown);
    let b = counter_as(&store, source(&url, &store), "views.count", "b", &shutdown);
    let (relay, _, stop_relay) = start_relay(&url, &store, relay_options());

    // Enough countries that every partition has some; in waves, so both members are in the
    // group (and any rebalance happened) while events flow.
    let countries = [
        "BA", "UA", "AF", "KH", "CO", "LA", "VN", "IQ", "SY", "YE", "SO", "LB",
    ];
    let mut appended = Vec::new();
    for wave in 1..=6 {
        appended.extend(append_across(&store, 24, &countries).await);
        wait_for(&store, "views.count", 24 * wave, Duration::from_mins(1)).await;
    }
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    let members = by_member(&store, "views.count").await;
    assert!(
        members.get("a").copied().unwrap_or(0) > 0 && members.get("b").copied().unwrap_or(0) > 0,
        "both members handled events: {members:?}"
    );
    shutdown.cancel();
    stop_relay.cancel();
    a.stop().await;
    b.stop().await;
    relay.await.unwrap();
}

#[tokio::test]
async fn envelopes_that_are_not_the_stores_events_are_rejected_and_the_real_ones_go_on() {
    let cluster = MockCluster::new(1).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let url = format!("kafka://{brokers}?topic={topic}");
    kafka_cases::forged_envelopes_are_rejected(&brokers, &url, &topic, PARTITIONS).await;
}

/// `event` on partition 0 as published by a relay of lease `generation`.
fn under(event: &fundtrail_store::RecordedEvent, generation: u64) -> Raw {
    let mut headers: HashMap<String, String> = headers_of(event)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    headers.insert("relay_generation".into(), generation.to_string());
    Raw {
        partition: 0,
        key: "BA".into(),
        headers,
        value: forged(event, |_| {}),
    }
}

#[tokio::test]
async fn a_partition_drops_what_an_older_relay_published_after_a_newer_one() {
    let cluster = MockCluster::new(1).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let url = format!("kafka://{brokers}?topic={topic}&partitions=1");
    let store = sqlite().await;
    append_many(&store, 6).await;
    let events = all_events(&store).await;
    // Two relays have held the lease.
    store
        .save_cursor("relay.kafka.generation", 2)
        .await
        .unwrap();
    raw::republish(
        &brokers,
        &topic,
        &[
            under(&events[0], 1),
            under(&events[1], 2),
            // A relay that stalled past its lease, waking after its successor published.
            under(&events[2], 1),
            under(&events[3], 2),
            // A generation no relay ever held: a forged header must not fence the real ones.
            under(&events[4], 9),
            under(&events[5], 2),
        ],
    )
    .await;
    let shutdown = CancellationToken::new();
    let (consumer, handed) = recorder(&store, source(&url, &store), "views.record", &shutdown);
    eventually(Duration::from_secs(30), "event 6 handed out", || async {
        handed.lock().unwrap().iter().any(|h| h.0.position == 6)
    })
    .await;
    shutdown.cancel();
    consumer.await.unwrap();
    let positions: Vec<u64> = handed
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.0.position)
        .collect();
    assert_eq!(positions, vec![1, 2, 4, 6]);
    assert_eq!(store.load_cursor("views.record/p0").await.unwrap(), 6);
}

#[tokio::test]
async fn a_relay_that_stalled_past_its_lease_is_fenced_off_by_its_generation() {
    let cluster = MockCluster::new(1).unwrap();
    let topic = unique("fundtrail.mock.");
    cluster.create_topic(&topic, PARTITIONS, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let url = format!("kafka://{brokers}?topic={topic}");
    let dir = tempfile::tempdir().unwrap();
    let file = format!("sqlite://{}", dir.path().join("store.db").display());
    let first = SqliteStore::connect(&file, StoreOptions::default())
        .await
        .unwrap();
    let second = SqliteStore::connect(&file, StoreOptions::default())
        .await
        .unwrap();
    let options = RelayOptions {
        publish_timeout: Duration::from_secs(1),
        lease_ttl: Duration::from_secs(2),
        standby_poll: Duration::from_millis(100),
        ..relay_options()
    };
    let gate = Arc::new(PublishGate::default());
    append_many(&first, 10).await;
    let (a, a_stats, stop_a) = start_relay(
        &url,
        &first,
        RelayOptions {
            gate: Some(gate.clone()),
            ..options.clone()
        },
    );
    eventually(
        Duration::from_secs(30),
        "the first relay published",
        || async { a_stats.cursor() == 10 },
    )
    .await;
    gate.close();
    append_many(&first, 10).await;
    tokio::time::timeout(Duration::from_secs(20), gate.holding())
        .await
        .expect("the first relay reached its next batch");
    let (b, b_stats, stop_b) = start_relay(&url, &second, options);
    eventually(
        Duration::from_secs(30),
        "the second relay took over",
        || async { b_stats.cursor() == 20 },
    )
    .await;
    let failures = a_stats.failures();
    gate.open();
    eventually(
        Duration::from_secs(30),
        "the stalled relay found its lease lost",
        || async { a_stats.failures() > failures },
    )
    .await;

    // Kafka took the stale batch; it is on the topic under the older generation, after the
    // successor's copies of the same events.
    let stale = a_stats.published() - 10;
    let on_topic = raw::read(
        &brokers,
        &topic,
        PARTITIONS,
        20 + usize::try_from(stale).unwrap(),
    )
    .await;
    let generation = |m: &Raw| m.headers["relay_generation"].parse::<u64>().unwrap();
    let newer = b_stats.generation();
    assert!(newer > a_stats.generation());
    let mut seen_newer: HashMap<i32, bool> = HashMap::new();
    for message in &on_topic {
        if generation(message) == newer {
            seen_newer.insert(message.partition, true);
        } else if message.position() > 10 {
            assert!(
                seen_newer.get(&message.partition).copied().unwrap_or(false),
                "a stale copy comes after the successor's in its partition"
            );
        }
    }

    // A consumer reading the topic from the start hands out each event once.
    let shutdown = CancellationToken::new();
    let (consumer, handed) = recorder(&first, source(&url, &first), "views.record", &shutdown);
    let last = head(&first).await;
    eventually(
        Duration::from_secs(30),
        "every event handed out",
        || async { handed.lock().unwrap().len() as u64 >= last },
    )
    .await;
    shutdown.cancel();
    consumer.await.unwrap();
    let mut positions: Vec<u64> = handed
        .lock()
        .unwrap()
        .iter()
        .map(|h| h.0.position)
        .collect();
    positions.sort_unstable();
    assert_eq!(positions, (1..=last).collect::<Vec<_>>());
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap();
    b.await.unwrap();
}
