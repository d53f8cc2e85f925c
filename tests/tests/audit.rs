//! The auditors' side end to end: signed checkpoints, inclusion proofs, exports, and every
//! kind of tampering done with SQL behind the store's back, on both store backends.

use std::time::Duration;

use fundtrail_operator::audit::{self as audit_cli, SourceArgs};

fn staff_credentials() -> fundtrail_identity::Credentials {
    fundtrail_tests::credentials(&fundtrail_tests::principal(
        fundtrail_tests::STAFF,
        fundtrail_tests::STAFF_ROLES,
    ))
}
use fundtrail_audit::{AuditSettings, CheckpointSigner, CheckpointStore, Source};
use fundtrail_proto::v1;
use fundtrail_server::{self as server, RunningServer, ServerSettings};
use fundtrail_store::StoreOptions;
use fundtrail_store::chain::{ChainFields, next_hash};
use fundtrail_tests::story::{self, EFFECT_TIMEOUT};
use fundtrail_tests::{Backend, Clients, backend_tests, database_url, eventually};
use fundtrail_verifier::{InclusionProof, Problem, ProofError};
use tonic::Code;

backend_tests!(
    checkpoints_proofs_and_exports,
    tampering_behind_the_stores_back
);

struct AuditServer {
    server: RunningServer,
    _dir: tempfile::TempDir,
    store_url: String,
    options: StoreOptions,
    signer: CheckpointSigner,
}

impl AuditServer {
    async fn start(backend: Backend, interval: Duration) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("fundtrail.db").display()),
                None,
            ),
            Backend::Postgres => (
                database_url(),
                Some(format!("audit_{}", uuid::Uuid::new_v4().simple())),
            ),
        };
        let signer =
            CheckpointSigner::load_or_generate(&dir.path().join("audit-signing.key")).unwrap();
        let options = StoreOptions {
            schema,
            ..StoreOptions::default()
        };
        let server = server::start(ServerSettings {
            store_options: options.clone(),
            audit: AuditSettings {
                signer: Some(signer.clone()),
                checkpoint_interval: interval,
            },
            ..fundtrail_tests::settings(store_url.clone()).unwrap()
        })
        .await
        .unwrap();
        Self {
            server,
            _dir: dir,
            store_url,
            options,
            signer,
        }
    }

    async fn source(&self) -> Source {
        Source::store_with(&self.store_url, self.options.clone())
            .await
            .unwrap()
    }

    fn key(&self) -> [u8; 32] {
        self.signer.public_key()
    }
}

async fn some_history(c: &mut Clients) {
    story::funded_project(c, "BA", 4_000_000, 3_000_000)
        .await
        .unwrap();
    story::funded_project(c, "HR", 1_000_000, 500_000)
        .await
        .unwrap();
}

async fn checkpoints_proofs_and_exports(backend: Backend) {
    let audit = AuditServer::start(backend, Duration::from_millis(200)).await;
    let url = audit.server.url();
    let mut c = Clients::connect(&url).await.unwrap();
    some_history(&mut c).await;

    let key = c
        .audit
        .get_public_key(v1::GetPublicKeyRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(key.ed25519, audit.key().to_vec());
    assert_eq!(key.hex, hex::encode(audit.key()));

    // The periodic signer follows the head.
    let head = audit.server.store.head().await.unwrap();
    let periodic = eventually("a periodic checkpoint at the head", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        async move {
            let list = c
                .audit
                .list_checkpoints(v1::ListCheckpointsRequest {})
                .await?
                .into_inner();
            Ok(list
                .checkpoints
                .into_iter()
                .find(|cp| cp.position >= head.position))
        }
    })
    .await
    .unwrap();
    let periodic = fundtrail_verifier::SignedCheckpoint::try_from(periodic).unwrap();
    assert!(periodic.signature_valid());
    assert_eq!(periodic.public_key, audit.key());

    let created = c
        .audit
        .create_checkpoint(v1::CreateCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let created = fundtrail_verifier::SignedCheckpoint::try_from(created).unwrap();
    let head = audit.server.store.head().await.unwrap();
    assert_eq!((created.position, created.hash), (head.position, head.hash));
    let fetched = c
        .audit
        .get_checkpoint(v1::GetCheckpointRequest {
            position: created.position,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, (&created).into());
    let missing = c
        .audit
        .get_checkpoint(v1::GetCheckpointRequest {
            position: head.position + 100,
        })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);

    // Inclusion proofs.
    let proof = c
        .audit
        .prove_inclusion(v1::ProveInclusionRequest {
            position: 2,
            checkpoint_position: 0,
        })
        .await
        .unwrap()
        .into_inner();
    let proof = InclusionProof::try_from(proof).unwrap();
    assert_eq!(proof.envelopes.len() as u64, created.position - 1);
    proof.verify(Some(audit.key())).unwrap();
    let mut altered = proof.clone();
    altered.envelopes[0].payload.push(0);
    assert!(matches!(
        altered.verify(Some(audit.key())),
        Err(ProofError::Altered { position: 2, .. })
    ));
    let mut rehashed = altered.clone();
    let e = &mut rehashed.envelopes[0];
    e.hash = fundtrail_verifier::chain::link(&e.prev_hash, e).unwrap();
    assert!(matches!(
        rehashed.verify(Some(audit.key())),
        Err(ProofError::Broken { position: 3, .. })
    ));
    assert!(matches!(
        proof.verify(Some([1; 32])),
        Err(ProofError::UntrustedKey(_))
    ));
    let refused = c
        .audit
        .prove_inclusion(v1::ProveInclusionRequest {
            position: created.position + 1,
            checkpoint_position: created.position,
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    let session = fundtrail_client::Session::connect_with(&url, staff_credentials())
        .await
        .unwrap();
    let line = audit_cli::prove(&session, 1, 0, Some(audit.key()))
        .await
        .unwrap();
    assert!(line.contains("is included"), "{line}");

    // Exports from the server and from the store hold the same events, and verify.
    let dir = tempfile::tempdir().unwrap();
    let from_server = dir.path().join("server.ndjson");
    audit_cli::export(
        &SourceArgs::for_server(&url).with_credentials(staff_credentials()),
        &from_server,
    )
    .await
    .unwrap();
    let lines = audit_cli::verify(&SourceArgs::for_file(&from_server), Some(audit.key()))
        .await
        .unwrap();
    assert!(lines[0].contains("events recomputed"), "{lines:?}");
    audit_cli::verify(
        &SourceArgs::for_server(&url).with_credentials(staff_credentials()),
        Some(audit.key()),
    )
    .await
    .unwrap();
    let store = audit.source().await;
    let verified = fundtrail_audit::audit::verify(&store, Some(audit.key()))
        .await
        .unwrap();
    assert!(verified.report.is_ok(), "{:?}", verified.report.findings);
    assert!(verified.report.checkpoints_verified >= 1);
    assert_eq!(
        verified.report.checkpoints_verified,
        verified.report.checkpoints_total
    );

    let mut from_store = Vec::new();
    fundtrail_audit::audit::export(&store, &mut from_store, "store", "now")
        .await
        .unwrap();
    let events = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.contains("\"record\":\"event\""))
            .map(str::to_owned)
            .collect()
    };
    let server_text = std::fs::read_to_string(&from_server).unwrap();
    let store_events = events(std::str::from_utf8(&from_store).unwrap());
    assert_eq!(events(&server_text), store_events);
    assert_eq!(store_events.len() as u64, head.position);

    audit.server.stop().await.unwrap();
}

/// Direct SQL on the store's database, as someone with database access would tamper.
struct Db(CheckpointStore);

impl Db {
    fn sql(&self, text: &str) -> String {
        match self.0 {
            CheckpointStore::Postgres(_) => text.to_owned(),
            CheckpointStore::Sqlite(_) => text.replace('$', "?"),
        }
    }

    async fn exec(&self, text: &str) {
        for statement in text.split(';').filter(|s| !s.trim().is_empty()) {
            let sql = sqlx::AssertSqlSafe(self.sql(statement));
            match &self.0 {
                CheckpointStore::Postgres(pool) => {
                    sqlx::query(sql).execute(pool).await.unwrap();
                }
                CheckpointStore::Sqlite(pool) => {
                    sqlx::query(sql).execute(pool).await.unwrap();
                }
            }
        }
    }

    async fn set_event(&self, position: u64, payload: &[u8], prev_hash: &[u8], hash: &[u8]) {
        let sql =
            sqlx::AssertSqlSafe(self.sql(
                "UPDATE events SET payload = $1, prev_hash = $2, hash = $3 WHERE position = $4",
            ));
        let position = i64::try_from(position).unwrap();
        match &self.0 {
            CheckpointStore::Postgres(pool) => {
                sqlx::query(sql)
                    .bind(payload)
                    .bind(prev_hash)
                    .bind(hash)
                    .bind(position)
                    .execute(pool)
                    .await
                    .unwrap();
            }
            CheckpointStore::Sqlite(pool) => {
                sqlx::query(sql)
                    .bind(payload)
                    .bind(prev_hash)
                    .bind(hash)
                    .bind(position)
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }

    async fn backup(&self) {
        self.exec(
            "CREATE TABLE events_backup AS SELECT * FROM events;
             CREATE TABLE checkpoints_backup AS SELECT * FROM audit_checkpoints",
        )
        .await;
    }

    async fn restore(&self) {
        self.exec(
            "DELETE FROM events; INSERT INTO events SELECT * FROM events_backup;
             DELETE FROM audit_checkpoints;
             INSERT INTO audit_checkpoints SELECT * FROM checkpoints_backup",
        )
        .await;
    }
}

async fn tampering_behind_the_stores_back(backend: Backend) {
    let audit = AuditServer::start(backend, Duration::from_hours(1)).await;
    let url = audit.server.url();
    let mut c = Clients::connect(&url).await.unwrap();
    some_history(&mut c).await;
    let cp = c
        .audit
        .create_checkpoint(v1::CreateCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    let head = cp.position;
    assert!(head >= 10, "a history long enough to tamper with: {head}");
    let Source::Store(opened) = audit.source().await else {
        unreachable!()
    };
    let db = Db(opened.checkpoints.clone());
    db.backup().await;
    let original = opened.events.read_all(1, 10_000).await.unwrap();
    let p = 4u64;
    let at = |position: u64| original[usize::try_from(position - 1).unwrap()].clone();
    let stream_of = |position: u64| Some(at(position).stream);
    let first_finding = || async {
        let report = fundtrail_audit::audit::verify(&audit.source().await, Some(audit.key()))
            .await
            .unwrap()
            .report;
        assert!(!report.is_ok(), "tampering went unnoticed");
        report.findings[0].clone()
    };

    // The server refuses to sign over a history altered since its last checkpoint.
    let mut edited_head = at(head).payload;
    edited_head.push(0x00);
    db.set_event(head, &edited_head, &at(head).prev_hash, &at(head).hash)
        .await;
    let refused = c
        .audit
        .create_checkpoint(v1::CreateCheckpointRequest {})
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::DataLoss, "{refused:?}");
    db.restore().await;

    // A payload edited: every verifier names it.
    let mut edited = at(p).payload;
    edited.push(0x00);
    db.set_event(p, &edited, &at(p).prev_hash, &at(p).hash)
        .await;
    let f = first_finding().await;
    assert_eq!((f.position, f.stream.clone()), (p, stream_of(p)));
    assert!(matches!(f.problem, Problem::HashMismatch { .. }), "{f}");
    let cli = audit_cli::verify(
        &SourceArgs::for_server(&url).with_credentials(staff_credentials()),
        Some(audit.key()),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(
        cli.contains(&format!("TAMPERED: position {p} (stream")),
        "{cli}"
    );
    db.restore().await;
    audit.server.shutdown_token().cancel();

    // A row deleted.
    db.exec(&format!("DELETE FROM events WHERE position = {p}"))
        .await;
    let f = first_finding().await;
    assert_eq!(
        (f.position, f.problem),
        (p, Problem::OutOfOrder { found: p + 1 })
    );
    db.restore().await;

    // Two rows swapped.
    db.exec(&format!(
        "UPDATE events SET position = 1000000 WHERE position = {p};
         UPDATE events SET position = {p} WHERE position = {};
         UPDATE events SET position = {} WHERE position = 1000000",
        p + 1,
        p + 1
    ))
    .await;
    let f = first_finding().await;
    assert_eq!(f.position, p);
    assert!(matches!(f.problem, Problem::PrevHashMismatch { .. }), "{f}");
    db.restore().await;

    // An edit with its own hash recomputed, but not the following ones.
    let fields = |e: &fundtrail_store::RecordedEvent, payload: &[u8], prev: &[u8; 32]| {
        next_hash(
            prev,
            &ChainFields {
                payload,
                ..ChainFields::from(e)
            },
        )
    };
    let rehashed = fields(&at(p), &edited, &at(p).prev_hash);
    db.set_event(p, &edited, &at(p).prev_hash, &rehashed).await;
    let f = first_finding().await;
    assert_eq!((f.position, f.stream.clone()), (p + 1, stream_of(p + 1)));
    assert!(matches!(f.problem, Problem::PrevHashMismatch { .. }), "{f}");

    // ... and every following one too: only the signed checkpoint catches it.
    let mut prev = rehashed;
    for position in p + 1..=head {
        let e = at(position);
        let hash = fields(&e, &e.payload, &prev);
        db.set_event(position, &e.payload, &prev, &hash).await;
        prev = hash;
    }
    let f = first_finding().await;
    assert_eq!(f.position, head);
    assert!(
        matches!(f.problem, Problem::CheckpointMismatch { .. }),
        "{f}"
    );
    db.restore().await;

    // The newest events deleted.
    db.exec(&format!(
        "DELETE FROM events WHERE position >= {}",
        head - 1
    ))
    .await;
    let f = first_finding().await;
    assert_eq!(
        (f.position, f.problem),
        (head, Problem::Truncated { last: head - 2 })
    );
    db.restore().await;

    // A forged checkpoint: the signed hash changed.
    let store = CheckpointStore::clone(&opened.checkpoints);
    db.exec("DELETE FROM audit_checkpoints").await;
    let genuine = fundtrail_verifier::SignedCheckpoint::try_from(cp.clone()).unwrap();
    store
        .save(&fundtrail_verifier::SignedCheckpoint {
            hash: at(head - 1).hash,
            ..genuine.clone()
        })
        .await
        .unwrap();
    let f = first_finding().await;
    assert_eq!((f.position, f.problem), (head, Problem::BadSignature));
    db.restore().await;

    // A checkpoint signed by someone else's key.
    let intruder = CheckpointSigner::generate().unwrap();
    store
        .save(&intruder.sign(head - 1, at(head - 1).hash, String::new()))
        .await
        .unwrap();
    let f = first_finding().await;
    assert_eq!(f.position, head - 1);
    assert!(matches!(f.problem, Problem::UntrustedKey { .. }), "{f}");
    db.restore().await;

    // A genuine signature of the fund's key, replayed from another history.
    store
        .save(&audit.signer.sign(3, [7; 32], String::new()))
        .await
        .unwrap();
    let f = first_finding().await;
    assert_eq!(f.position, 3);
    assert!(
        matches!(f.problem, Problem::CheckpointMismatch { .. }),
        "{f}"
    );
    db.restore().await;

    // Restored, the history verifies again.
    let report = fundtrail_audit::audit::verify(&audit.source().await, Some(audit.key()))
        .await
        .unwrap()
        .report;
    assert!(report.is_ok(), "{:?}", report.findings);
}
