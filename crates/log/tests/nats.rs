//! The log on NATS `JetStream`: the shared server for order and format, a server of the test's
//! own for stopping it, the relay's lease on both store backends, a relay that stalled past
//! its lease, and envelopes on the subjects that are not the store's events.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fundtrail_log::{NatsSource, PublishGate, Relay, RelayOptions, config::NatsConfig};
use fundtrail_store::OpenedStore;
use fundtrail_store::{EventStore, SqliteStore, StoreOptions};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use tokio_util::sync::CancellationToken;

fn options() -> RelayOptions {
    RelayOptions {
        batch: 50,
        publish_timeout: Duration::from_secs(1),
        lease_ttl: Duration::from_secs(2),
        standby_poll: Duration::from_millis(100),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        ..RelayOptions::default()
    }
}

fn log(server: &str, stream: &str, prefix: &str) -> (String, NatsConfig) {
    let url = format!("{server}?stream={stream}&prefix={prefix}");
    let fundtrail_log::LogConfig::Nats(config) = url.parse().unwrap() else {
        unreachable!()
    };
    (url, config)
}

fn start_relay(
    url: &str,
    store: impl Into<OpenedStore>,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<fundtrail_log::RelayStats>,
    CancellationToken,
) {
    start_relay_with(url, store, options())
}

fn start_relay_with(
    url: &str,
    store: impl Into<OpenedStore>,
    options: RelayOptions,
) -> (
    tokio::task::JoinHandle<()>,
    Arc<fundtrail_log::RelayStats>,
    CancellationToken,
) {
    let relay = Relay::new(url, store)
        .unwrap()
        .with_options(options)
        .unwrap();
    let stats = relay.stats();
    let shutdown = CancellationToken::new();
    (tokio::spawn(relay.run(shutdown.clone())), stats, shutdown)
}

/// Removes a test's stream from the shared server, which keeps streams on disk.
async fn drop_stream(stream: &str) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let _ = async_nats::jetstream::new(client)
        .delete_stream(stream)
        .await;
}

/// The `position` header of every message in the stream, in stream order.
async fn stream_positions(server: &str, stream: &str) -> Vec<u64> {
    let client = async_nats::connect(server).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(stream).await.unwrap();
    let last = stream.get_info().await.unwrap().state.last_sequence;
    let mut positions = Vec::new();
    for sequence in 1..=last {
        let message = stream.get_raw_message(sequence).await.unwrap();
        positions.push(
            message
                .headers
                .get("position")
                .unwrap()
                .as_str()
                .parse()
                .unwrap(),
        );
    }
    positions
}

#[tokio::test]
async fn each_country_arrives_in_order_and_decodes_with_the_proto_files_alone() {
    let store = sqlite().await;
    let (stream, prefix) = (unique("ORDER"), unique("t"));
    let (url, config) = log(&nats_url(), &stream, &prefix);
    let mut appended = append_many(&store, 30).await;
    let (relay, stats, stop_relay) = start_relay(&url, store.clone());
    let shutdown = CancellationToken::new();
    let counter = counter(
        &store,
        Arc::new(NatsSource::new(config, Arc::new(store.clone()))),
        "views.count",
        &shutdown,
    );
    appended.extend(append_many(&store, 30).await);
    wait_for(&store, "views.count", 60, Duration::from_secs(20)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(counter.replays(), 0, "no event was handled twice");
    // The counter's effects are events too, and go out like any other.
    let last = head(&store).await;
    eventually(
        Duration::from_secs(20),
        "the relay published everything",
        || async { stats.cursor() == last },
    )
    .await;
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=last).collect::<Vec<_>>()
    );

    // A donor's system: nothing but the .proto files and a NATS client.
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let message = js
        .get_stream(&stream)
        .await
        .unwrap()
        .get_raw_message(1)
        .await
        .unwrap();
    assert_eq!(
        message.subject.as_str(),
        format!("{prefix}.BA.pledge.PledgeRecorded")
    );
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../proto");
    let files = protox::compile(["fundtrail/v1/events.proto"], [root]).unwrap();
    let pool = DescriptorPool::from_file_descriptor_set(files).unwrap();
    let envelope = DynamicMessage::decode(
        pool.get_message_by_name("fundtrail.v1.EventEnvelope")
            .unwrap(),
        message.payload.as_ref(),
    )
    .unwrap();
    assert_eq!(
        envelope.get_field_by_name("position").unwrap().as_u64(),
        Some(1)
    );
    let event_type = envelope
        .get_field_by_name("event_type")
        .unwrap()
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(event_type, "fundtrail.v1.PledgeRecorded");
    assert_eq!(
        message.headers.get("event_type").unwrap().as_str(),
        event_type,
        "the header names the payload's type"
    );
    let payload = envelope.get_field_by_name("payload").unwrap();
    let payload = DynamicMessage::decode(
        pool.get_message_by_name(&event_type).unwrap(),
        payload.as_bytes().unwrap().clone(),
    )
    .unwrap();
    assert_eq!(
        payload.get_field_by_name("donor_id").unwrap().as_str(),
        Some("XM-DAC-7")
    );
    let earmark = format!(
        "{:?}",
        payload
            .get_field_by_name("earmark")
            .map(std::borrow::Cow::into_owned)
    );
    assert!(earmark.contains("BA"), "{earmark}");
    let metadata = DynamicMessage::decode(
        pool.get_message_by_name("fundtrail.v1.EventMetadata")
            .unwrap(),
        envelope
            .get_field_by_name("metadata")
            .unwrap()
            .as_bytes()
            .unwrap()
            .clone(),
    )
    .unwrap();
    let traceparent = metadata.get_field_by_name("traceparent").unwrap();
    assert_eq!(
        message.headers.get("traceparent").unwrap().as_str(),
        traceparent.as_str().unwrap()
    );
    assert!(matches!(
        envelope.get_field_by_name("hash").as_deref(),
        Some(Value::Bytes(hash)) if hash.len() == 32
    ));

    shutdown.cancel();
    stop_relay.cancel();
    counter.stop().await;
    relay.await.unwrap();
    drop_stream(&stream).await;
}

struct Server {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl Server {
    fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        server.restart();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn restart(&mut self) {
        // Debian installs it outside a non-root PATH.
        let binary = ["/usr/sbin/nats-server", "/usr/local/bin/nats-server"]
            .into_iter()
            .find(|path| std::path::Path::new(path).exists())
            .unwrap_or("nats-server");
        let child = Command::new(binary)
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server on PATH");
        self.child = Some(child);
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server did not start within 10 s"
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

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[tokio::test]
async fn a_broker_stopped_mid_run_loses_nothing_and_repeats_no_effect() {
    let mut server = Server::start();
    let store = sqlite().await;
    let (url, config) = log(&server.url(), "FUNDTRAIL", "fundtrail.v1");
    let (relay, stats, stop_relay) = start_relay(&url, store.clone());
    let shutdown = CancellationToken::new();
    let counter = counter(
        &store,
        Arc::new(NatsSource::new(config, Arc::new(store.clone()))),
        "views.count",
        &shutdown,
    );
    let mut appended = append_many(&store, 20).await;
    wait_for(&store, "views.count", 20, Duration::from_secs(20)).await;
    let before = head(&store).await;
    eventually(
        Duration::from_secs(20),
        "the relay published the effects",
        || async { stats.cursor() == before },
    )
    .await;

    server.stop();
    // The store is the truth: commands keep succeeding while the broker is away.
    appended.extend(append_many(&store, 20).await);
    eventually(
        Duration::from_secs(20),
        "the relay noticed the broker was gone",
        || async { stats.failures() > 0 },
    )
    .await;
    assert_eq!(
        stats.cursor(),
        before,
        "nothing was published while the broker was away"
    );
    assert_eq!(effects(&store, "views.count").await.len(), 20);
    server.restart();
    appended.extend(append_many(&store, 10).await);

    wait_for(&store, "views.count", 50, Duration::from_secs(30)).await;
    let last = head(&store).await;
    eventually(Duration::from_secs(30), "the relay caught up", || async {
        stats.cursor() == last
    })
    .await;
    eventually(
        Duration::from_secs(10),
        "the counter's cursor reached the head",
        || async { store.load_cursor("views.count").await.unwrap() == last },
    )
    .await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(counter.replays(), 0, "no event was handled twice");
    assert_eq!(
        stream_positions(&server.url(), "FUNDTRAIL").await,
        (1..=last).collect::<Vec<_>>()
    );
    shutdown.cancel();
    stop_relay.cancel();
    counter.stop().await;
    relay.await.unwrap();
}

#[tokio::test]
async fn a_relay_killed_and_restarted_leaves_no_gap() {
    let store = sqlite().await;
    let (stream, prefix) = (unique("KILL"), unique("t"));
    let (url, config) = log(&nats_url(), &stream, &prefix);
    let shutdown = CancellationToken::new();
    let counter = counter(
        &store,
        Arc::new(NatsSource::new(config, Arc::new(store.clone()))),
        "views.count",
        &shutdown,
    );
    let mut appended = append_many(&store, 40).await;
    let (relay, stats, _) = start_relay(&url, store.clone());
    eventually(Duration::from_secs(20), "the relay published", || async {
        stats.published() > 0
    })
    .await;
    relay.abort();
    let _ = relay.await;
    appended.extend(append_many(&store, 20).await);
    // As if it crashed after publishing but before saving its cursor: the stream is ahead.
    let (relay, stats, stop_relay) = start_relay(&url, store.clone());
    wait_for(&store, "views.count", 60, Duration::from_secs(20)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(counter.replays(), 0, "no event was handled twice");
    let last = head(&store).await;
    eventually(Duration::from_secs(20), "the relay caught up", || async {
        stats.cursor() == last
    })
    .await;
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=last).collect::<Vec<_>>(),
        "the restarted relay went on from the stream's end"
    );
    assert_eq!(store.load_cursor("relay.nats").await.unwrap(), last);
    assert!(stats.published() < last, "it did not start over");
    shutdown.cancel();
    stop_relay.cancel();
    counter.stop().await;
    relay.await.unwrap();
    drop_stream(&stream).await;
}

async fn second_relay_waits_for_the_lease(first: OpenedStore, second: OpenedStore) {
    let (stream, prefix) = (unique("LEASE"), unique("t"));
    let (url, _) = log(&nats_url(), &stream, &prefix);
    let store = first.events();
    append_many(&*store, 10).await;
    let (a, a_stats, _) = start_relay(&url, first);
    eventually(
        Duration::from_secs(20),
        "the first relay published",
        || async { a_stats.cursor() == 10 },
    )
    .await;
    let (b, b_stats, stop_b) = start_relay(&url, second);
    append_many(&*store, 10).await;
    eventually(
        Duration::from_secs(20),
        "the first relay published the rest",
        || async { a_stats.cursor() == 20 },
    )
    .await;
    eventually(
        Duration::from_secs(10),
        "the second relay tried the lease",
        || async { b_stats.waited() >= 2 },
    )
    .await;
    assert!(a_stats.leased());
    assert!(!b_stats.leased(), "the second relay waits");
    assert_eq!(b_stats.published(), 0);

    // The holder dies without releasing; the other takes over (at once on PostgreSQL, after
    // the lease expired on SQLite) and resumes from the cursor.
    a.abort();
    let _ = a.await;
    append_many(&*store, 10).await;
    eventually(
        Duration::from_secs(10),
        "the second relay took over",
        || async { b_stats.cursor() == 30 },
    )
    .await;
    assert!(b_stats.leased());
    assert_eq!(
        store.load_cursor("relay.nats.generation").await.unwrap(),
        b_stats.generation(),
        "the store names the holder's generation"
    );
    assert!(
        b_stats.generation() > a_stats.generation(),
        "the takeover moved the lease to a later generation"
    );
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=30).collect::<Vec<_>>()
    );
    stop_b.cancel();
    b.await.unwrap();
    drop_stream(&stream).await;
}

#[tokio::test]
async fn a_second_relay_does_not_publish_on_postgres() {
    let store = postgres().await;
    second_relay_waits_for_the_lease(store.clone().into(), store.clone().into()).await;
    let schema: String = sqlx::query_scalar("SELECT current_schema()::text")
        .fetch_one(store.pool())
        .await
        .unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(store.pool())
        .await
        .unwrap();
}

#[tokio::test]
async fn a_second_relay_does_not_publish_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("store.db").display());
    let first = SqliteStore::connect(&url, StoreOptions::default())
        .await
        .unwrap();
    let second = SqliteStore::connect(&url, StoreOptions::default())
        .await
        .unwrap();
    second_relay_waits_for_the_lease(first.into(), second.into()).await;
}

/// Creates the stream as the relay would, so that others can publish before it does.
async fn create_stream(stream: &str, prefix: &str) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    async_nats::jetstream::new(client)
        .get_or_create_stream(async_nats::jetstream::stream::Config {
            name: stream.to_owned(),
            subjects: vec![format!("{prefix}.>")],
            storage: async_nats::jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_mins(2),
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Publishes `value` onto the stream's subjects as an outsider would, with the relay's headers
/// and no message id (so the server keeps copies of messages already there).
async fn publish_raw(prefix: &str, headers: &[(&'static str, String)], value: Vec<u8>) {
    let client = async_nats::connect(nats_url()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let mut map = async_nats::HeaderMap::new();
    for (key, value) in headers {
        map.insert(*key, value.as_str());
    }
    js.publish_with_headers(
        format!("{prefix}.BA.pledge.PledgeRecorded"),
        map,
        value.into(),
    )
    .await
    .unwrap()
    .await
    .unwrap();
}

#[tokio::test]
async fn envelopes_that_are_not_the_stores_events_are_rejected_and_the_real_ones_go_on() {
    let store = sqlite().await;
    let other_fund = sqlite().await;
    let (stream, prefix) = (unique("FORGED"), unique("t"));
    let (url, config) = log(&nats_url(), &stream, &prefix);
    append_many(&store, 10).await;
    append_many(&other_fund, 10).await;
    let ours = all_events(&store).await;
    let theirs = all_events(&other_fund).await;

    // Before the relay publishes anything, the subjects already hold: event 5 with another
    // payload under its real hash, another fund's valid event 6, and event 7 moved to a
    // position far beyond the head (the stream's last message, which the relay reads first).
    create_stream(&stream, &prefix).await;
    let altered = forged(&ours[4], |e| e.payload.push(0));
    publish_raw(&prefix, &headers_of(&ours[4]), altered).await;
    publish_raw(&prefix, &headers_of(&theirs[5]), forged(&theirs[5], |_| {})).await;
    let far = 1_000_000_000_000;
    let mut far_headers = headers_of(&ours[6]);
    far_headers[2].1 = far.to_string();
    publish_raw(
        &prefix,
        &far_headers,
        forged(&ours[6], |e| e.position = far),
    )
    .await;

    let shutdown = CancellationToken::new();
    let source = Arc::new(NatsSource::new(config, Arc::new(store.clone())));
    let (consumer, handed) = recorder(&store, source, "views.record", &shutdown);
    let (relay, stats, stop_relay) = start_relay(&url, store.clone());
    eventually(
        Duration::from_secs(20),
        "the real events 1-10 handed out",
        || async { handed.lock().unwrap().len() >= 10 },
    )
    .await;

    // An old event published again, then more real ones (the relay, whose expected sequence
    // the replay took, starts again from the stream's end, which it confirms first).
    publish_raw(&prefix, &headers_of(&ours[2]), forged(&ours[2], |_| {})).await;
    append_many(&store, 10).await;
    eventually(
        Duration::from_secs(20),
        "the real events 11-20 handed out",
        || async { handed.lock().unwrap().len() >= 20 },
    )
    .await;
    eventually(
        Duration::from_secs(20),
        "the relay published all",
        || async { stats.cursor() == 20 },
    )
    .await;
    eventually(Duration::from_secs(10), "the cursor saved", || async {
        store.load_cursor("views.record").await.unwrap() == 20
    })
    .await;
    // Everything up to the relay's last message was delivered: nothing more will come.
    let handed: Vec<_> = handed.lock().unwrap().iter().map(|h| h.0.clone()).collect();
    assert_eq!(
        handed,
        all_events(&store).await,
        "exactly the store's events, in order"
    );
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        [
            vec![5, 6, far],
            (1..=10).collect(),
            vec![3],
            (11..=20).collect()
        ]
        .concat(),
        "the relay published every real event once, after what was there"
    );
    shutdown.cancel();
    stop_relay.cancel();
    consumer.await.unwrap();
    relay.await.unwrap();
    assert_eq!(
        store.load_cursor("views.record").await.unwrap(),
        20,
        "the saved cursor is the real head, never the forged position"
    );
    drop_stream(&stream).await;
}

#[tokio::test]
async fn a_relay_that_stalled_past_its_lease_cannot_publish_when_it_wakes() {
    let dir = tempfile::tempdir().unwrap();
    let file = format!("sqlite://{}", dir.path().join("store.db").display());
    let first = SqliteStore::connect(&file, StoreOptions::default())
        .await
        .unwrap();
    let second = SqliteStore::connect(&file, StoreOptions::default())
        .await
        .unwrap();
    let (stream, prefix) = (unique("STALL"), unique("t"));
    let (url, _) = log(&nats_url(), &stream, &prefix);
    let gate = Arc::new(PublishGate::default());
    let stalling = RelayOptions {
        gate: Some(gate.clone()),
        ..options()
    };
    append_many(&first, 10).await;
    let (a, a_stats, stop_a) = start_relay_with(&url, first.clone(), stalling);
    eventually(
        Duration::from_secs(20),
        "the first relay published",
        || async { a_stats.cursor() == 10 },
    )
    .await;

    // The first relay confirms its lease for the next batch and stalls there, longer than the
    // lease lives; the second takes the lease over and publishes that batch and more.
    gate.close();
    append_many(&first, 10).await;
    tokio::time::timeout(Duration::from_secs(20), gate.holding())
        .await
        .expect("the first relay reached its next batch");
    let (b, b_stats, stop_b) = start_relay(&url, second.clone());
    append_many(&first, 5).await;
    eventually(
        Duration::from_secs(20),
        "the second relay took over",
        || async { b_stats.cursor() == 25 },
    )
    .await;
    assert!(b_stats.generation() > a_stats.generation());

    // The first wakes up with its batch of 11-20 and the lease it confirmed long ago.
    let failures = a_stats.failures();
    gate.open();
    eventually(
        Duration::from_secs(20),
        "the stalled relay's round failed",
        || async { a_stats.failures() > failures },
    )
    .await;
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=25).collect::<Vec<_>>(),
        "each event once, in order: the server stored nothing of the stale relay's batch \
         (refused, or answered as a duplicate of the successor's copy)"
    );
    assert!(!a_stats.leased() && b_stats.leased());
    stop_a.cancel();
    stop_b.cancel();
    a.await.unwrap();
    b.await.unwrap();
    drop_stream(&stream).await;
}
