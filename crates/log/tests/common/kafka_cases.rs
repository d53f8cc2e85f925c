//! Cases run against both a real Kafka broker and librdkafka's mock cluster.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use fundtrail_log::{KafkaSource, LogConfig, Relay, RelayOptions};
use fundtrail_store::{EventStore, RecordedEvent};
use tokio_util::sync::CancellationToken;

use super::raw::{self, Raw};
use super::*;

/// `event` as a message on `partition`, with `change` applied to a copy and its headers.
fn message(partition: i32, event: &RecordedEvent, change: impl FnOnce(&mut RecordedEvent)) -> Raw {
    let mut changed = event.clone();
    change(&mut changed);
    let mut headers: HashMap<String, String> = headers_of(event)
        .into_iter()
        .map(|(key, value)| (key.to_owned(), value))
        .collect();
    headers.insert("position".into(), changed.position.to_string());
    Raw {
        partition,
        key: "BA".into(),
        headers,
        value: forged(&changed, |_| {}),
    }
}

/// A forged envelope (event 5 with another payload under its real hash), another fund's valid
/// event 6, event 7 moved far beyond the head, all on the topic before the relay publishes,
/// then an old event published again: the consumer hands out exactly the store's events,
/// each once and in order within its partition, and no lane's cursor is a forged position.
/// The topic must exist with `partitions`.
pub async fn forged_envelopes_are_rejected(brokers: &str, url: &str, topic: &str, partitions: i32) {
    let store = sqlite().await;
    let other_fund = sqlite().await;
    append_many(&store, 12).await;
    append_many(&other_fund, 12).await;
    let ours = all_events(&store).await;
    let theirs = all_events(&other_fund).await;
    let far = 1_000_000_000_000;
    raw::republish(
        brokers,
        topic,
        &[
            message(0, &ours[4], |e| e.payload.push(0)),
            message(1 % partitions, &theirs[5], |_| {}),
            message(2 % partitions, &ours[6], |e| e.position = far),
        ],
    )
    .await;

    let LogConfig::Kafka(config) = url.parse().unwrap() else {
        unreachable!()
    };
    let source = KafkaSource::new(config, Arc::new(store.clone()))
        .with_setting("heartbeat.interval.ms", "100")
        .with_setting("session.timeout.ms", "6000");
    let shutdown = CancellationToken::new();
    let name = unique("views.record.");
    let (consumer, handed) = recorder(&store, Arc::new(source), &name, &shutdown);
    let relay = Relay::new(url, store.clone())
        .unwrap()
        .with_options(RelayOptions {
            batch: 10,
            publish_timeout: Duration::from_secs(2),
            retry_min: Duration::from_millis(50),
            retry_max: Duration::from_millis(300),
            ..RelayOptions::default()
        })
        .unwrap();
    let stats = relay.stats();
    let stop_relay = CancellationToken::new();
    let relay = tokio::spawn(relay.run(stop_relay.clone()));
    eventually(
        Duration::from_mins(1),
        "the first 12 events handed out",
        || async { handed.lock().unwrap().len() >= 12 },
    )
    .await;

    // Event 3 again, in its own partition, as a replay would put it.
    let on_topic = raw::read(brokers, topic, partitions, 15).await;
    let third = on_topic
        .iter()
        .find(|m| m.headers["position"] == "3" && m.headers.contains_key("relay_generation"))
        .expect("the relay published event 3")
        .clone();
    raw::republish(brokers, topic, &[third]).await;
    append_many(&store, 12).await;
    eventually(
        Duration::from_mins(1),
        "the relay published all",
        || async { stats.cursor() == 24 },
    )
    .await;
    eventually(
        Duration::from_mins(1),
        "all 24 events handed out",
        || async { handed.lock().unwrap().len() >= 24 },
    )
    .await;
    shutdown.cancel();
    consumer.await.unwrap();
    stop_relay.cancel();
    relay.await.unwrap();

    let handed = handed.lock().unwrap().clone();
    let mut by_position: Vec<RecordedEvent> = handed.iter().map(|h| h.0.clone()).collect();
    by_position.sort_by_key(|e| e.position);
    assert_eq!(
        by_position,
        all_events(&store).await,
        "exactly the store's events, each once"
    );
    let mut last: HashMap<&str, u64> = HashMap::new();
    for (event, lane) in &handed {
        let before = last.insert(lane, event.position).unwrap_or(0);
        assert!(
            before < event.position,
            "{lane}: {} after {before}",
            event.position
        );
    }
    let lanes: BTreeSet<&String> = handed.iter().map(|h| &h.1).collect();
    let mut cursors = Vec::new();
    for lane in lanes {
        cursors.push(store.load_cursor(lane).await.unwrap());
    }
    assert!(
        cursors.iter().all(|c| *c <= 24) && cursors.contains(&24),
        "the saved cursors are real positions: {cursors:?}"
    );
}
