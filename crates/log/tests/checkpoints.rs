//! The fund's signed tree checkpoints on the log: the projector's signer stores them, the
//! checkpoint relay publishes them on their own topic or stream (again after a restart), and
//! a reader keeps only those of the fund's key and origin.

mod common;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::*;
use fundtrail_audit::{CheckpointSigner, CheckpointStore};
use fundtrail_log::checkpoints::{self, CheckpointFeed, StoredNote};
use fundtrail_log::{CheckpointRelay, CheckpointsOnLog, LogConfig, RelayOptions, read_checkpoints};
use fundtrail_store::StoreOptions;
use fundtrail_verifier::note::LogKey;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

struct Stored(CheckpointStore);

#[async_trait]
impl CheckpointFeed for Stored {
    async fn after(&self, size: u64, limit: usize) -> Result<Vec<StoredNote>, String> {
        let stored = self
            .0
            .tree_checkpoints_after(size, limit)
            .await
            .map_err(|e| e.to_string())?;
        Ok(stored
            .into_iter()
            .map(|cp| StoredNote {
                tree_size: cp.tree_size,
                note: cp.note,
            })
            .collect())
    }
}

fn options() -> RelayOptions {
    RelayOptions {
        publish_timeout: Duration::from_secs(5),
        lease_ttl: Duration::from_secs(10),
        standby_poll: Duration::from_millis(100),
        retry_min: Duration::from_millis(50),
        retry_max: Duration::from_millis(500),
        ..RelayOptions::default()
    }
}

fn start(url: &str, opened: &fundtrail_audit::OpenedStore) -> (CancellationToken, JoinHandle<()>) {
    let stop = CancellationToken::new();
    let relay = CheckpointRelay::new(
        url,
        opened.store.clone(),
        Arc::new(Stored(opened.checkpoints.clone())),
    )
    .unwrap()
    .with_options(options())
    .unwrap()
    .with_poll(Duration::from_millis(100));
    (stop.clone(), tokio::spawn(relay.run(stop)))
}

async fn sign(opened: &fundtrail_audit::OpenedStore, signer: &CheckpointSigner) -> (u64, String) {
    let heads =
        fundtrail_audit::signer::sign_heads(opened.events.as_ref(), &opened.checkpoints, signer)
            .await
            .unwrap();
    (heads.tree.tree_size, heads.tree.note)
}

async fn read_until(url: &str, key: &LogKey, sizes: &[u64]) -> CheckpointsOnLog {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let found = read_checkpoints(url, key, Duration::from_secs(10))
            .await
            .unwrap();
        if sizes.iter().all(|s| found.accepted.contains_key(s)) {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the log holds {:?}, not {sizes:?}",
            found.accepted.keys().collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Publishes `note` on the checkpoints' topic or subject as anyone with access to the broker
/// could.
async fn inject(url: &str, note: &str) {
    match url.parse::<LogConfig>().unwrap() {
        LogConfig::Kafka(config) => {
            use rdkafka::ClientConfig;
            use rdkafka::producer::{FutureProducer, FutureRecord};
            let producer: FutureProducer = ClientConfig::new()
                .set("bootstrap.servers", &config.brokers)
                .create()
                .unwrap();
            let topic = checkpoints::kafka_topic(&config);
            producer
                .send(
                    FutureRecord::to(&topic).key("forged").payload(note),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
        LogConfig::Nats(config) => {
            let client = async_nats::connect(config.url.as_str()).await.unwrap();
            let context = async_nats::jetstream::new(client);
            let (_, subject) = checkpoints::nats_stream(&config);
            context
                .publish(subject, note.to_owned().into())
                .await
                .unwrap()
                .await
                .unwrap();
        }
        LogConfig::Embedded => unreachable!(),
    }
}

async fn checkpoints_travel_on_the_log(url: &str) {
    let dir = tempfile::tempdir().unwrap();
    let store_url = format!("sqlite://{}", dir.path().join("store.db").display());
    let opened = fundtrail_audit::storage::open(&store_url, StoreOptions::default())
        .await
        .unwrap();
    let origin = format!("fund.example/{}", unique("ledger-"));
    let signer = CheckpointSigner::generate()
        .unwrap()
        .with_origin(&origin)
        .unwrap();
    let key = signer.log_key();

    for country in COUNTRIES {
        append(opened.events.as_ref(), country).await;
    }
    let (first, first_note) = sign(&opened, &signer).await;
    let (stop, relay) = start(url, &opened);
    let found = read_until(url, &key, &[first]).await;
    assert_eq!(found.accepted[&first].1, first_note);
    assert!(found.refused.is_empty(), "{:?}", found.refused);

    // Stored while no relay runs: the next one publishes it from its cursor.
    stop.cancel();
    relay.await.unwrap();
    append(opened.events.as_ref(), "BA").await;
    let (second, second_note) = sign(&opened, &signer).await;
    assert!(second > first);
    let (stop, relay) = start(url, &opened);
    let found = read_until(url, &key, &[first, second]).await;
    assert_eq!(found.latest().unwrap().1, second_note);
    assert_eq!(found.latest().unwrap().0.origin, origin);

    // Forgeries on the subject: another key under the fund's origin, the fund's note with
    // its root changed, the fund's key under another origin, and no note at all.
    let stranger = CheckpointSigner::generate()
        .unwrap()
        .with_origin(&origin)
        .unwrap();
    inject(url, &stranger.sign_tree(second + 1, [9; 32])).await;
    let (_, root_line) = {
        let lines: Vec<&str> = second_note.lines().collect();
        (lines[1].to_owned(), lines[2].to_owned())
    };
    inject(
        url,
        &second_note.replacen(
            &root_line,
            "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
            1,
        ),
    )
    .await;
    let elsewhere = signer.clone().with_origin("fund.example/other").unwrap();
    inject(url, &elsewhere.sign_tree(second + 2, [9; 32])).await;
    inject(url, "not a note").await;
    // The genuine note again, as a relay that restarted before its cursor would.
    inject(url, &second_note).await;

    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    let found = loop {
        let found = read_checkpoints(url, &key, Duration::from_secs(10))
            .await
            .unwrap();
        if found.refused.len() >= 4 || tokio::time::Instant::now() > deadline {
            break found;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(
        found.accepted.keys().copied().collect::<Vec<_>>(),
        vec![first, second],
        "only the fund's checkpoints are kept"
    );
    assert_eq!(found.accepted[&second].1, second_note);
    let reasons: Vec<&str> = found.refused.iter().map(|r| r.reason.as_str()).collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert!(
        reasons[0].contains("not signed by the trusted key"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("does not verify"), "{reasons:?}");
    assert!(
        reasons[2].contains("not signed by the trusted key"),
        "{reasons:?}"
    );

    // A reader expecting another origin keeps none of them.
    let other = LogKey::new("fund.example/other-log", signer.public_key());
    let found = read_checkpoints(url, &other, Duration::from_secs(10))
        .await
        .unwrap();
    assert!(found.accepted.is_empty());

    stop.cancel();
    relay.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_checkpoints_on_nats() {
    let id = unique("");
    let url = format!("{}?stream=CPT{id}&prefix=cpt{id}", nats_url());
    checkpoints_travel_on_the_log(&url).await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats_url()).await.unwrap());
    let _ = jetstream
        .delete_stream(format!("CPT{id}_CHECKPOINTS"))
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_checkpoints_on_kafka() {
    if std::env::var("FUNDTRAIL_TEST_SKIP_KAFKA").is_ok_and(|v| v == "1") {
        eprintln!("SKIPPED: FUNDTRAIL_TEST_SKIP_KAFKA=1");
        return;
    }
    let Some(brokers) = kafka() else { return };
    let url = format!("kafka://{brokers}?topic={}&partitions=1", unique("cpt."));
    checkpoints_travel_on_the_log(&url).await;
}

#[test]
fn two_trees_of_one_size_are_a_fork() {
    let signer = CheckpointSigner::generate()
        .unwrap()
        .with_origin("fund.example/ledger")
        .unwrap();
    let key = signer.log_key();
    let mut found = CheckpointsOnLog::default();
    let kept = signer.sign_tree(5, [1; 32]);
    found.offer("sequence 1", &kept, &key);
    found.offer("sequence 2", &kept, &key);
    assert!(!found.forked(), "the same note twice is no fork");
    found.offer("sequence 3", &signer.sign_tree(5, [2; 32]), &key);
    assert!(found.forked());
    assert_eq!(found.accepted[&5].1, kept, "the first kept stays");
    assert_eq!(found.refused.len(), 1);
    assert!(
        found.refused[0].reason.contains("fork"),
        "{:?}",
        found.refused
    );
}
