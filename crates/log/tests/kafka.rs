//! The log on Kafka, against a real broker (tansu in the test script): keys, headers and
//! per-country order through a consumer group, a relay that crashed and republished, and
//! envelopes on the topic that are not the store's events.

mod common;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use common::raw;
use common::*;
use fundtrail_log::envelope::recorded;
use fundtrail_log::{KafkaSource, LogConfig, Relay, RelayOptions, RelayStats};
use fundtrail_store::SqliteStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

const PARTITIONS: i32 = 3;

fn log(brokers: &str) -> (String, String) {
    let topic = unique("fundtrail.test.");
    let url = format!("kafka://{brokers}?topic={topic}&partitions={PARTITIONS}");
    (url, topic)
}

/// The topic as a source confirmed against `store`.
fn source(url: &str, store: &SqliteStore) -> Arc<KafkaSource> {
    let LogConfig::Kafka(config) = url.parse().unwrap() else {
        unreachable!()
    };
    Arc::new(KafkaSource::new(config, Arc::new(store.clone())))
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
        })
        .unwrap();
    let stats = relay.stats();
    let shutdown = CancellationToken::new();
    (tokio::spawn(relay.run(shutdown.clone())), stats, shutdown)
}

#[tokio::test]
async fn each_country_keeps_its_order_through_a_consumer_group() {
    let Some(brokers) = kafka() else { return };
    let (url, topic) = log(&brokers);
    let store = sqlite().await;
    let name = unique("views.");
    let mut appended = append_many(&store, 30).await;
    let (relay, _, stop_relay) = start_relay(&url, &store);
    let shutdown = CancellationToken::new();
    let counter = counter(&store, source(&url, &store), &name, &shutdown);
    appended.extend(append_many(&store, 30).await);
    wait_for(&store, &name, 60, Duration::from_mins(1)).await;
    let effects = effects(&store, &name).await;
    check_exactly_once_in_country_order(&effects, &appended);
    assert_eq!(counter.replays(), 0, "no event was handled twice");
    assert!(
        effects
            .iter()
            .all(|(_, _, lane)| lane.starts_with(&format!("{name}/p"))),
        "Kafka cursors are per partition"
    );

    // The counter's effects went out too; only the test's own events are checked here.
    let messages = raw::read(&brokers, &topic, PARTITIONS, 60).await;
    let countries: HashMap<u64, &String> = appended.iter().map(|(p, c)| (*p, c)).collect();
    let mut partition_of: HashMap<&str, i32> = HashMap::new();
    let mut last_in_partition: HashMap<i32, u64> = HashMap::new();
    for message in messages
        .iter()
        .filter(|m| m.headers["event_type"] != COUNTED)
    {
        let event = recorded(&message.value).unwrap();
        assert_eq!(message.position(), event.position);
        assert_eq!(&message.key, countries[&event.position], "keyed by country");
        assert_eq!(message.headers["event_id"], event.event_id.to_string());
        assert_eq!(message.headers["event_type"], event.event_type);
        assert_eq!(message.headers["stream"], event.stream);
        assert!(message.headers["traceparent"].starts_with("00-"));
        assert_eq!(message.headers["relay_generation"], "1");
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
    counter.stop().await;
    relay.await.unwrap();
}

#[tokio::test]
async fn a_relay_killed_and_republishing_repeats_no_effect() {
    let Some(brokers) = kafka() else { return };
    let (url, topic) = log(&brokers);
    let store = sqlite().await;
    let name = unique("views.");
    let shutdown = CancellationToken::new();
    let counter = counter(&store, source(&url, &store), &name, &shutdown);
    let mut appended = append_many(&store, 40).await;
    let (relay, stats, _) = start_relay(&url, &store);
    eventually(
        Duration::from_secs(30),
        "the relay published 20",
        || async { stats.cursor() >= 20 },
    )
    .await;
    relay.abort();
    let _ = relay.await;
    let published = usize::try_from(stats.cursor()).unwrap();
    // What a relay that died between the broker's acknowledgement and its cursor leaves:
    // the same events on the topic twice.
    let first = raw::read(&brokers, &topic, PARTITIONS, published).await;
    raw::republish(&brokers, &topic, &first[..published / 2]).await;
    appended.extend(append_many(&store, 20).await);
    let (relay, _, stop_relay) = start_relay(&url, &store);
    wait_for(&store, &name, 60, Duration::from_mins(1)).await;
    check_exactly_once_in_country_order(&effects(&store, &name).await, &appended);
    assert_eq!(
        counter.replays(),
        0,
        "the repeats were dropped by their cursors"
    );
    let all = raw::read(&brokers, &topic, PARTITIONS, 60 + published / 2).await;
    assert!(all.len() > 60, "the topic held duplicates");
    shutdown.cancel();
    stop_relay.cancel();
    counter.stop().await;
    relay.await.unwrap();
}

#[tokio::test]
async fn envelopes_that_are_not_the_stores_events_are_rejected_and_the_real_ones_go_on() {
    let Some(brokers) = kafka() else { return };
    let (url, topic) = log(&brokers);
    raw::create_topic(&brokers, &topic, PARTITIONS).await;
    kafka_cases::forged_envelopes_are_rejected(&brokers, &url, &topic, PARTITIONS).await;
}

/// A tansu of the test's own, in memory, on a free port.
struct Tansu {
    port: u16,
    child: Option<std::process::Child>,
}

impl Tansu {
    fn binary() -> Option<std::path::PathBuf> {
        let home = std::env::var("CARGO_HOME")
            .map(std::path::PathBuf::from)
            .or_else(|_| std::env::var("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
            .ok()?;
        Some(home.join("bin/tansu")).filter(|path| path.exists())
    }

    fn start(binary: &std::path::Path) -> Self {
        let mut tansu = Self {
            port: free_port(),
            child: None,
        };
        tansu.restart(binary);
        tansu
    }

    fn brokers(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn restart(&mut self, binary: &std::path::Path) {
        let listener = format!("tcp://127.0.0.1:{}", self.port);
        let child = std::process::Command::new(binary)
            .args(["broker", "--storage-engine", "memory://tansu/"])
            .args([
                "--listener-url",
                &listener,
                "--advertised-listener-url",
                &listener,
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "tansu did not start within 10 s"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn the_relay_outlasts_a_broker_restart() {
    if kafka().is_none() {
        return;
    }
    let Some(binary) = Tansu::binary() else {
        eprintln!("SKIPPED: no tansu binary in $CARGO_HOME/bin (scripts/test installs it)");
        return;
    };
    let mut tansu = Tansu::start(&binary);
    let (url, topic) = log(&tansu.brokers());
    let store = sqlite().await;
    let (relay, stats, stop_relay) = start_relay(&url, &store);
    append_many(&store, 20).await;
    eventually(
        Duration::from_secs(30),
        "the relay published 20",
        || async { stats.cursor() == 20 },
    )
    .await;

    // The broker goes away and, storing in memory, comes back empty: commands keep
    // succeeding meanwhile, and the relay publishes what they recorded once it is back
    // (what it had published before went with the broker's memory).
    tansu.stop();
    let during = append_many(&store, 20).await;
    eventually(
        Duration::from_secs(30),
        "the relay noticed the broker was gone",
        || async { stats.failures() > 0 },
    )
    .await;
    tansu.restart(&binary);
    let after = append_many(&store, 10).await;
    eventually(Duration::from_mins(1), "the relay resumed", || async {
        stats.cursor() == 50
    })
    .await;
    let mut positions: Vec<u64> = raw::read(&tansu.brokers(), &topic, PARTITIONS, 30)
        .await
        .iter()
        .map(raw::Raw::position)
        .collect();
    positions.sort_unstable();
    let expected: Vec<u64> = during.iter().chain(&after).map(|(p, _)| *p).collect();
    assert_eq!(positions, expected);
    stop_relay.cancel();
    relay.await.unwrap();
}
