//! The log on NATS `JetStream`: the shared server for order and format, a server of the test's
//! own for stopping it, and the relay's lease on both store backends.

mod common;

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use fundtrail_log::{NatsSource, Relay, RelayOptions, config::NatsConfig};
use fundtrail_store::OpenedStore;
use fundtrail_store::{EventStore, SqliteStore, StoreOptions};
use prost_reflect::{DescriptorPool, DynamicMessage, Value};
use tokio_util::sync::CancellationToken;

fn options() -> RelayOptions {
    RelayOptions {
        batch: 50,
        publish_timeout: Duration::from_secs(2),
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
    let relay = Relay::new(url, store).unwrap().with_options(options());
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
    let (relay, _, stop_relay) = start_relay(&url, store.clone());
    let shutdown = CancellationToken::new();
    let counter = counter(
        &store,
        Arc::new(NatsSource::new(config)),
        "views.count",
        &shutdown,
    );
    appended.extend(append_many(&store, 30).await);
    wait_for(&store, "views.count", 60, Duration::from_secs(20)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=60).collect::<Vec<_>>()
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
    counter.await.unwrap();
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
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("nats-server did not start");
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
        Arc::new(NatsSource::new(config)),
        "views.count",
        &shutdown,
    );
    let mut appended = append_many(&store, 20).await;
    wait_for(&store, "views.count", 20, Duration::from_secs(20)).await;

    server.stop();
    // The store is the truth: commands keep succeeding while the broker is away.
    appended.extend(append_many(&store, 20).await);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(effects(&store, "views.count").await.len(), 20);
    server.restart();
    appended.extend(append_many(&store, 10).await);

    wait_for(&store, "views.count", 50, Duration::from_secs(30)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert!(
        stats.failures() > 0,
        "the relay noticed the broker was gone"
    );
    assert_eq!(stats.cursor(), 50);
    assert_eq!(
        stream_positions(&server.url(), "FUNDTRAIL").await,
        (1..=50).collect::<Vec<_>>()
    );
    shutdown.cancel();
    stop_relay.cancel();
    counter.await.unwrap();
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
        Arc::new(NatsSource::new(config)),
        "views.count",
        &shutdown,
    );
    let mut appended = append_many(&store, 40).await;
    let (relay, stats, _) = start_relay(&url, store.clone());
    while stats.published() == 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    relay.abort();
    let _ = relay.await;
    appended.extend(append_many(&store, 20).await);
    // As if it crashed after publishing but before saving its cursor: the stream is ahead.
    let (relay, stats, stop_relay) = start_relay(&url, store.clone());
    wait_for(&store, "views.count", 60, Duration::from_secs(20)).await;
    check_exactly_once_in_country_order(&effects(&store, "views.count").await, &appended);
    assert_eq!(
        stream_positions(&nats_url(), &stream).await,
        (1..=60).collect::<Vec<_>>()
    );
    assert_eq!(store.load_cursor("relay.nats").await.unwrap(), 60);
    assert!(stats.published() <= 60);
    shutdown.cancel();
    stop_relay.cancel();
    counter.await.unwrap();
    relay.await.unwrap();
    drop_stream(&stream).await;
}

async fn second_relay_waits_for_the_lease(first: OpenedStore, second: OpenedStore) {
    let (stream, prefix) = (unique("LEASE"), unique("t"));
    let (url, _) = log(&nats_url(), &stream, &prefix);
    let store = first.events();
    append_many(&*store, 10).await;
    let (a, a_stats, _) = start_relay(&url, first);
    while a_stats.cursor() < 10 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (b, b_stats, stop_b) = start_relay(&url, second);
    append_many(&*store, 10).await;
    while a_stats.cursor() < 20 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(a_stats.leased());
    assert!(!b_stats.leased(), "the second relay waits");
    assert_eq!(b_stats.published(), 0);

    // The holder dies without releasing; the other takes over (at once on PostgreSQL, after
    // the lease expired on SQLite) and resumes from the cursor.
    a.abort();
    let _ = a.await;
    append_many(&*store, 10).await;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b_stats.cursor() < 30 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the second relay took over"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(b_stats.leased());
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
