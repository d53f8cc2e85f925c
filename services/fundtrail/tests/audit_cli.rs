//! `fundtrail audit …` as an auditor runs it: the built binary against a server with the demo
//! data, its export file and its store.

use std::path::Path;
use std::process::{Command, Output};
use std::sync::OnceLock;
use std::time::Duration;

use fundtrail_audit::{AuditSettings, CheckpointSigner};
use fundtrail_demo as demo;
use fundtrail_identity::{DEV_AUDIENCE, DEV_ISSUER, Principal, Role};
use fundtrail_server::{self as server, ServerSettings};

/// The token the binary acts with: an administrator's, who may also sign checkpoints.
static TOKEN: OnceLock<String> = OnceLock::new();

fn fundtrail(args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fundtrail"));
    command
        .args(args)
        .env_remove("FUNDTRAIL_SERVER")
        .env_remove("FUNDTRAIL_TOKEN_FILE")
        .env_remove("FUNDTRAIL_REPORTING_CURRENCY");
    match TOKEN.get() {
        Some(token) => command.env("FUNDTRAIL_TOKEN", token),
        None => command.env_remove("FUNDTRAIL_TOKEN"),
    };
    command.output().unwrap()
}

/// Runs the binary off the runtime's threads; the server under test runs on them.
async fn run(args: &[&str]) -> Output {
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        fundtrail(&refs)
    })
    .await
    .unwrap()
}

fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_auditor_exports_verifies_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("fund.db").display());
    let signer = CheckpointSigner::load_or_generate(&dir.path().join("audit.key")).unwrap();
    let key = hex::encode(signer.public_key());
    let running = server::start(ServerSettings {
        audit: AuditSettings {
            signer: Some(signer),
            ..AuditSettings::default()
        },
        ..ServerSettings::new("127.0.0.1:0".parse().unwrap(), store.clone())
    })
    .await
    .unwrap();
    let url = running.url();
    let issuer = running.issuer.clone().unwrap();
    let administrator = Principal {
        subject: "administrator@itf.si".to_owned(),
        display_name: "Administrator".to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: [Role::Administrator, Role::Auditor].into(),
        donor_id: None,
    };
    TOKEN
        .set(
            issuer
                .issue(
                    &administrator,
                    DEV_ISSUER,
                    DEV_AUDIENCE,
                    Duration::from_mins(10),
                )
                .unwrap(),
        )
        .unwrap();
    demo::load(&url, &issuer).await.unwrap();

    let checkpoint = ok(&run(&["audit", "checkpoint", "--server", &url]).await);
    assert!(checkpoint.contains(&key), "{checkpoint}");
    let export = dir.path().join("fund.ndjson");
    ok(&run(&["audit", "export", "--out", path(&export), "--server", &url]).await);
    let verified = ok(&run(&[
        "audit",
        "verify",
        "--file",
        path(&export),
        "--public-key",
        &key,
    ])
    .await);
    assert!(
        verified.contains("checkpoints: 1 of 1 verified"),
        "{verified}"
    );
    ok(&run(&["audit", "verify", "--store", &store, "--public-key", &key]).await);
    let proved = ok(&run(&[
        "audit",
        "prove",
        "--position",
        "2",
        "--server",
        &url,
        "--public-key",
        &key,
    ])
    .await);
    assert!(proved.contains("is included"), "{proved}");

    // A payload edited in the file: non-zero exit, the position named.
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    lines[3] = lines[3].replacen("\"payload\":\"", "\"payload\":\"AAAA", 1);
    let tampered = dir.path().join("tampered.ndjson");
    std::fs::write(&tampered, lines.join("\n") + "\n").unwrap();
    let refused = run(&[
        "audit",
        "verify",
        "--file",
        path(&tampered),
        "--public-key",
        &key,
    ])
    .await;
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("TAMPERED: position 3 (stream "), "{said}");
    let bad_key = run(&[
        "audit",
        "verify",
        "--file",
        path(&export),
        "--public-key",
        "nothex",
    ])
    .await;
    assert!(!bad_key.status.success());

    // Reports from the export file alone.
    let replay = ok(&run(&[
        "audit",
        "replay",
        "--as-of",
        "60",
        "--country",
        "BA",
        "--file",
        path(&export),
    ])
    .await);
    let json: serde_json::Value = serde_json::from_str(&replay).unwrap();
    assert_eq!(json[0]["country"], "BA");
    assert!(json[0]["position"].as_u64().unwrap() <= 60);
    let diff = ok(&run(&[
        "audit",
        "diff",
        "--from",
        "0",
        "--to",
        "1000",
        "--country",
        "BA",
        "--file",
        path(&export),
    ])
    .await);
    assert!(diff.lines().all(|l| l.starts_with("position ")), "{diff}");
    assert!(
        diff.contains("fundtrail.v1.DisbursementPaid: disbursed +"),
        "{diff}"
    );
    let iati = dir.path().join("iati");
    let wrote = ok(&run(&[
        "audit",
        "iati",
        "--out",
        path(&iati),
        "--file",
        path(&export),
    ])
    .await);
    assert!(wrote.contains("organisation.xml"));
    let csv = dir.path().join("csv");
    ok(&run(&[
        "audit",
        "csv",
        "--out",
        path(&csv),
        "--as-of",
        "2100-01-01",
        "--file",
        path(&export),
    ])
    .await);
    assert!(
        std::fs::read_to_string(csv.join("countries.csv"))
            .unwrap()
            .contains("\nBA,Bosnia and Herzegovina,USD,")
    );

    running.stop().await.unwrap();
}
