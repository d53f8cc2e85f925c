//! The fund's signed tree checkpoints on the log, end to end: a server whose checkpoints are
//! named by the `audit_origin` setting signs them, publishes them on NATS (and Kafka) beside its events,
//! and the command-line tools read them back from the broker alone — checked against the
//! fund's key and origin, each proven to extend the one before, witnessed — while a reader
//! expecting another origin keeps none of them.

use std::time::Duration;

use fundtrail_audit::CheckpointSigner;
use fundtrail_audit::witness::Witness;
use fundtrail_client::Session;
use fundtrail_identity::Role;
use fundtrail_operator::tree as tree_cli;
use fundtrail_proto::v1;
use fundtrail_server::config::Config;
use fundtrail_server::{self as server, ServerSettings};
use fundtrail_tests::story::{self, EFFECT_TIMEOUT};
use fundtrail_tests::{Clients, credentials, eventually, kafka, nats, principal};
use fundtrail_verifier::LogKey;

const ORIGIN: &str = "fund.example/ledger-on-the-log";

async fn sign(c: &mut Clients) -> u64 {
    c.audit
        .create_checkpoint(v1::CreateCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .position
}

/// What `fundtrail audit checkpoints --from-log` prints, once it shows `wanted`.
async fn log_shows(url: &str, key: &LogKey, session: &Session, wanted: &str) -> Vec<String> {
    eventually(
        &format!("the log to show {wanted:?}"),
        EFFECT_TIMEOUT,
        || async {
            let lines = tree_cli::checkpoints_from_log(url, key, Some(session)).await?;
            Ok(lines.iter().any(|l| l.contains(wanted)).then_some(lines))
        },
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoints_named_by_the_audit_origin_travel_on_nats() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("FT_CP_{id}");
    let url = format!("{}?stream={stream}&prefix=cp{id}", nats());
    checkpoints_travel(&url).await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats()).await.unwrap());
    for name in [stream.clone(), format!("{stream}_CHECKPOINTS")] {
        let _ = jetstream.delete_stream(&name).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn checkpoints_named_by_the_audit_origin_travel_on_kafka() {
    let Some(brokers) = kafka() else { return };
    let id = uuid::Uuid::new_v4().simple().to_string();
    checkpoints_travel(&format!(
        "kafka://{brokers}?topic=fundtrail.cp.{id}&partitions=2"
    ))
    .await;
}

async fn checkpoints_travel(url: &str) {
    let url = url.to_owned();
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("audit.key");
    let fund_key = CheckpointSigner::generate().unwrap();
    fund_key.save(&key_file).unwrap();
    let config = Config {
        audit_signing_key: key_file.display().to_string(),
        audit_origin: ORIGIN.to_owned(),
        ..Config::default()
    };
    let audit = config.audit_settings().unwrap();
    let key = audit.signer.as_ref().unwrap().log_key();
    assert_eq!(key.origin, ORIGIN);

    let store_url = format!("sqlite://{}", dir.path().join("fundtrail.db").display());
    let running = server::start(ServerSettings {
        log_url: url.clone(),
        audit: fundtrail_audit::AuditSettings {
            checkpoint_interval: Duration::from_hours(1),
            ..audit
        },
        ..fundtrail_tests::settings(store_url).unwrap()
    })
    .await
    .unwrap();
    let mut c = Clients::connect(&running.url()).await.unwrap();
    let auditor = Session::connect_with(
        &running.url(),
        credentials(&principal("auditor@example.org", &[Role::Auditor])),
    )
    .await
    .unwrap();

    story::funded_project(&mut c, "BA", 2_000_000, 1_000_000)
        .await
        .unwrap();
    let first = sign(&mut c).await;
    let lines = log_shows(&url, &key, &auditor, &format!("tree of size {first} ")).await;
    assert!(lines.iter().all(|l| !l.starts_with("refused")), "{lines:?}");

    story::funded_project(&mut c, "HR", 1_000_000, 500_000)
        .await
        .unwrap();
    let second = sign(&mut c).await;
    assert!(second > first);
    let lines = log_shows(&url, &key, &auditor, &format!("tree of size {second} ")).await;
    assert!(
        lines
            .iter()
            .any(|l| l.contains(&format!("extends the tree of size {first}"))),
        "{lines:?}"
    );

    // A verifier told another origin (here the default one of the same key, what the fund's
    // checkpoints carried before the setting) keeps none of them.
    let other = LogKey::new(
        &fundtrail_audit::key::default_origin(&fund_key.public_key()),
        fund_key.public_key(),
    );
    let lines = tree_cli::checkpoints_from_log(&url, &other, Some(&auditor))
        .await
        .unwrap();
    assert!(
        lines.iter().any(|l| l.starts_with("0 checkpoints")),
        "{lines:?}"
    );
    assert!(
        lines
            .iter()
            .filter(|l| l.starts_with("refused"))
            .all(|l| l.contains("not signed by the trusted key")),
        "{lines:?}"
    );

    // A witness takes the checkpoint from the log and cosigns it.
    let found = fundtrail_log::read_checkpoints(&url, &key, Duration::from_secs(10))
        .await
        .unwrap();
    let (latest, note) = found.latest().unwrap();
    assert_eq!(latest.size, second);
    let witness =
        Witness::load_or_generate("witness.example/w1", &dir.path().join("w.key")).unwrap();
    let cosigned = tree_cli::witness_note(
        &auditor,
        &dir.path().join("witness.json"),
        &witness,
        &key,
        Some(note.clone()),
    )
    .await
    .unwrap();
    assert!(
        cosigned.contains(&format!("tree of size {second}")),
        "{cosigned}"
    );

    running.stop().await.unwrap();
}
