//! The Merkle tree end to end, on both store backends: a server keeps the tree as events
//! commit, signs C2SP checkpoints of it, serves inclusion and consistency proofs that the
//! command-line tools check against the fund's key alone, gives a donor its own events with
//! proofs and refuses it another donor's, and keeps a witness's cosignature; the witness
//! refuses a fork. The Python verifier of docs/audit.md agrees with the Rust one on the proofs.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use fundtrail_audit::witness::{self, Witness, WitnessState};
use fundtrail_audit::{AuditSettings, CheckpointSigner, Source};
use fundtrail_client::Session;
use fundtrail_identity::Role;
use fundtrail_operator::tree as tree_cli;
use fundtrail_proto::v1;
use fundtrail_server::{self as server, RunningServer, ServerSettings};
use fundtrail_store::StoreOptions;
use fundtrail_tests::story::{self, EFFECT_TIMEOUT};
use fundtrail_tests::{
    Backend, Clients, backend_tests, credentials, database_url, donor_integration, eventually,
    money, principal, reason,
};
use fundtrail_verifier::note::{self, Cosignature, Note};
use fundtrail_verifier::tree::{ConsistencyFile, InclusionFile};
use tonic::Code;

backend_tests!(
    proofs_under_signed_tree_checkpoints,
    a_donor_gets_its_own_events_with_proofs,
    a_witness_cosigns_and_refuses_a_fork
);

const ORIGIN: &str = "fund.example/ledger";
const OTHER_DONOR: &str = "XM-DAC-3";

struct TreeServer {
    server: RunningServer,
    dir: tempfile::TempDir,
    store_url: String,
    options: StoreOptions,
    signer: CheckpointSigner,
}

impl TreeServer {
    async fn start(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (store_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("fundtrail.db").display()),
                None,
            ),
            Backend::Postgres => (
                database_url(),
                Some(format!("merkle_{}", uuid::Uuid::new_v4().simple())),
            ),
        };
        let signer = CheckpointSigner::from_seed([42; 32])
            .with_origin(ORIGIN)
            .unwrap();
        let options = StoreOptions {
            schema,
            ..StoreOptions::default()
        };
        let server = server::start(ServerSettings {
            store_options: options.clone(),
            audit: AuditSettings {
                signer: Some(signer.clone()),
                // Checkpoints are signed when the test asks, not on a timer.
                checkpoint_interval: Duration::from_hours(1),
            },
            ..fundtrail_tests::settings(store_url.clone()).unwrap()
        })
        .await
        .unwrap();
        Self {
            server,
            dir,
            store_url,
            options,
            signer,
        }
    }

    async fn session(&self, roles: &[Role]) -> Session {
        Session::connect_with(
            &self.server.url(),
            credentials(&principal("auditor@example.org", roles)),
        )
        .await
        .unwrap()
    }

    async fn sign(&self, c: &mut Clients) -> u64 {
        c.audit
            .create_checkpoint(v1::CreateCheckpointRequest {})
            .await
            .unwrap()
            .into_inner()
            .position
    }

    async fn stop(self) {
        self.server.stop().await.unwrap();
        if let Some(schema) = &self.options.schema {
            fundtrail_tests::drop_schema(schema).await.unwrap();
        }
    }
}

async fn proofs_under_signed_tree_checkpoints(backend: Backend) {
    let t = TreeServer::start(backend).await;
    let mut c = Clients::connect(&t.server.url()).await.unwrap();
    story::funded_project(&mut c, "BA", 4_000_000, 3_000_000)
        .await
        .unwrap();

    // The follower keeps the tree up to date without anyone signing.
    let head = t.server.store.head().await.unwrap().position;
    let Source::Store(opened) = Source::store_with(&t.store_url, t.options.clone())
        .await
        .unwrap()
    else {
        unreachable!()
    };
    eventually("the follower to reach the head", EFFECT_TIMEOUT, || {
        let tree = opened.checkpoints.clone();
        async move { Ok((tree.tree_size().await? >= head).then_some(())) }
    })
    .await
    .unwrap();

    let first = t.sign(&mut c).await;
    let key = t.signer.log_key();
    let listed = c
        .audit
        .get_tree_checkpoint(v1::GetTreeCheckpointRequest { tree_size: 0 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((listed.tree_size, listed.origin.as_str()), (first, ORIGIN));
    let (cp, _) = note::open_checkpoint(&listed.note, &key).unwrap();
    assert_eq!(
        (cp.size, cp.root.to_vec()),
        (first, listed.root_hash.clone())
    );

    let auditor = t.session(&[Role::Auditor]).await;
    for position in [1, 2, first / 2, first] {
        let (line, proof) = tree_cli::include(&auditor, position, 0, &key)
            .await
            .unwrap();
        assert!(line.contains(&format!("position {position} ")), "{line}");
        assert_eq!(proof.event.tree_size, first);
    }
    let beyond = tree_cli::include(&auditor, first + 1, 0, &key)
        .await
        .unwrap_err();
    assert!(
        beyond.to_string().contains("after the checkpoint"),
        "{beyond:#}"
    );
    // Checked against another key, the same proof is refused.
    let stranger = fundtrail_verifier::LogKey::new(ORIGIN, [7; 32]);
    let refused = tree_cli::include(&auditor, 1, 0, &stranger)
        .await
        .unwrap_err();
    assert!(
        format!("{refused:#}").contains("another key"),
        "{refused:#}"
    );

    story::funded_project(&mut c, "HR", 1_000_000, 500_000)
        .await
        .unwrap();
    let second = t.sign(&mut c).await;
    assert!(second > first);
    let (line, proof) = tree_cli::consistency(&auditor, first, 0, &key, None)
        .await
        .unwrap();
    assert!(line.contains(&format!("tree of size {second}")), "{line}");
    // From a size with no checkpoint, against the tree one held.
    tree_cli::consistency(&auditor, first - 1, second, &key, None)
        .await
        .unwrap_err();
    let (line, include) = tree_cli::include(&auditor, 3, first, &key).await.unwrap();
    assert!(line.contains(&format!("tree of size {first}")), "{line}");

    python_agrees(t.dir.path(), &include, &proof, &key);
    t.stop().await;
}

async fn a_donor_gets_its_own_events_with_proofs(backend: Backend) {
    let t = TreeServer::start(backend).await;
    let mut c = Clients::connect(&t.server.url()).await.unwrap();
    let funded = story::funded_project(&mut c, "BA", 2_000_000, 1_000_000)
        .await
        .unwrap();
    story::register_donor(&mut c, OTHER_DONOR, "Germany", false)
        .await
        .unwrap();
    let other_pledge = story::record_pledge(&mut c, OTHER_DONOR, money("EUR", 900_000), None)
        .await
        .unwrap()
        .created_id;
    story::receive_eur(&mut c, &other_pledge, 900_000, "DE-1")
        .await
        .unwrap();
    let size = t.sign(&mut c).await;
    let key = t.signer.log_key();

    let donor = donor_integration("erp@minbuza.nl", "XM-DAC-7");
    let session = Session::connect_with(&t.server.url(), credentials(&donor))
        .await
        .unwrap();
    let (lines, proofs) = tree_cli::receipts(&session, "XM-DAC-7", 0, &key)
        .await
        .unwrap();
    assert!(lines.last().unwrap().contains("each verified"), "{lines:?}");
    let types: Vec<&str> = proofs
        .iter()
        .map(|p| p.event.envelope.event_type.as_str())
        .collect();
    for wanted in [
        "fundtrail.v1.DonorRegistered",
        "fundtrail.v1.PledgeRecorded",
        "fundtrail.v1.ContributionReceived",
    ] {
        assert!(types.contains(&wanted), "{wanted} missing from {types:?}");
    }
    // Nothing of the other donor, nothing of the projects.
    let streams: Vec<&str> = proofs
        .iter()
        .map(|p| p.event.envelope.stream.as_str())
        .collect();
    assert!(
        streams
            .iter()
            .all(|s| *s == "donor-XM-DAC-7" || *s == format!("pledge-{}", funded.pledge_id)),
        "{streams:?}"
    );
    assert!(proofs.iter().all(|p| p.event.tree_size == size));

    // Another donor's: refused, with the reason the rest of the API gives.
    let mut donor_clients = t.server_clients_as(&donor).await;
    let refused = donor_clients
        .audit
        .prove_donor_receipts(v1::ProveDonorReceiptsRequest {
            donor_id: OTHER_DONOR.to_owned(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    assert_eq!(reason(&refused), "DONOR_MISMATCH");

    // An auditor asks for any donor.
    let auditor = t.session(&[Role::Auditor]).await;
    let (_, other) = tree_cli::receipts(&auditor, OTHER_DONOR, 0, &key)
        .await
        .unwrap();
    assert!(
        other
            .iter()
            .all(|p| p.event.envelope.stream == "donor-XM-DAC-3"
                || p.event.envelope.stream == format!("pledge-{other_pledge}")),
    );
    assert_eq!(other.len(), 3);
    t.stop().await;
}

async fn a_witness_cosigns_and_refuses_a_fork(backend: Backend) {
    let t = TreeServer::start(backend).await;
    let mut c = Clients::connect(&t.server.url()).await.unwrap();
    story::funded_project(&mut c, "BA", 2_000_000, 1_000_000)
        .await
        .unwrap();
    let first = t.sign(&mut c).await;
    let key = t.signer.log_key();
    let auditor = t.session(&[Role::Auditor]).await;
    let state = t.dir.path().join("witness.json");
    let w = Witness::load_or_generate("witness.example/w1", &t.dir.path().join("w.key")).unwrap();

    let line = tree_cli::witness_once(&auditor, &state, &w, &key)
        .await
        .unwrap();
    assert!(line.contains("the first checkpoint"), "{line}");
    // The cosignature is served with the checkpoint, and checks under the witness's key.
    let served = c
        .audit
        .get_tree_checkpoint(v1::GetTreeCheckpointRequest { tree_size: first })
        .await
        .unwrap()
        .into_inner();
    let parsed = Note::parse(&served.note).unwrap();
    assert_eq!(parsed.signatures.len(), 2);
    let cosignature = Cosignature::from_signature(&parsed.signatures[1]).unwrap();
    cosignature.verify(&w.key(), &parsed.text).unwrap();
    note::open_checkpoint(&served.note, &key).unwrap();

    story::funded_project(&mut c, "HR", 1_000_000, 500_000)
        .await
        .unwrap();
    let second = t.sign(&mut c).await;
    let line = tree_cli::witness_once(&auditor, &state, &w, &key)
        .await
        .unwrap();
    assert!(
        line.contains(&format!("extend the tree of size {first}")),
        "{line}"
    );
    assert!(line.contains(&format!("tree of size {second}")), "{line}");

    // The fund's key signed another tree of the same size: the witness refuses it.
    let forked = t.signer.sign_tree(second, [9; 32]);
    witness::save_state(
        &state,
        &WitnessState {
            origin: ORIGIN.to_owned(),
            public_key: hex::encode(key.public_key),
            checkpoint: forked,
        },
    )
    .unwrap();
    let refused = tree_cli::witness_once(&auditor, &state, &w, &key)
        .await
        .unwrap_err();
    assert!(format!("{refused:#}").contains("FORK"), "{refused:#}");

    // A larger tree than the server's, held by the witness, that the server's is not a
    // prefix of: the server cannot prove otherwise, and nothing is cosigned.
    let ahead = t.signer.sign_tree(second + 5, [8; 32]);
    witness::save_state(
        &state,
        &WitnessState {
            origin: ORIGIN.to_owned(),
            public_key: hex::encode(key.public_key),
            checkpoint: ahead,
        },
    )
    .unwrap();
    tree_cli::witness_once(&auditor, &state, &w, &key)
        .await
        .unwrap_err();

    // A cosignature that does not verify is refused, and nothing is kept.
    let other = Witness::from_seed("witness.example/w2", [5; 32]).unwrap();
    let (checkpoint, _) = note::open_checkpoint(&served.note, &key).unwrap();
    let line = other.cosign(&checkpoint, 1_700_000_000).line();
    let refused = c
        .audit
        .submit_cosignature(v1::SubmitCosignatureRequest {
            tree_size: first,
            cosignature: line.replace("witness.example/w2", "witness.example/w3"),
            witness_public_key: other.key().public_key.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    // A donor integration may not hand in cosignatures.
    let donor = donor_integration("erp@minbuza.nl", "XM-DAC-7");
    let mut donor_clients = t.server_clients_as(&donor).await;
    let refused = donor_clients
        .audit
        .submit_cosignature(v1::SubmitCosignatureRequest {
            tree_size: first,
            cosignature: line,
            witness_public_key: other.key().public_key.to_vec(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied);
    let again = c
        .audit
        .get_tree_checkpoint(v1::GetTreeCheckpointRequest { tree_size: first })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.note, served.note);
    t.stop().await;
}

impl TreeServer {
    async fn server_clients_as(&self, who: &fundtrail_identity::Principal) -> Clients {
        Clients::connect_as(&self.server.url(), who).await.unwrap()
    }
}

/// Runs the verifier printed in docs/audit.md on the proofs, intact and altered.
fn python_agrees(
    dir: &Path,
    include: &fundtrail_verifier::TreeInclusionProof,
    consistency: &fundtrail_verifier::ConsistencyProof,
    key: &fundtrail_verifier::LogKey,
) {
    let python = Command::new("python3").arg("--version").output();
    if !python.is_ok_and(|o| o.status.success()) {
        eprintln!("python3 is not installed: the documented verifier was not run");
        return;
    }
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/audit.md"))
            .unwrap();
    let code = doc
        .split("```python\n")
        .nth(1)
        .unwrap()
        .split("```")
        .next()
        .unwrap();
    let script = dir.join("verify.py");
    std::fs::write(&script, code).unwrap();
    let run = |file: &Path| {
        let out = Command::new("python3")
            .arg(&script)
            .arg("proof")
            .arg(file)
            .arg(hex::encode(key.public_key))
            .arg(&key.origin)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_owned(),
        )
    };
    let file = dir.join("inclusion.json");
    let record = InclusionFile::from(include);
    std::fs::write(&file, serde_json::to_string(&record).unwrap()).unwrap();
    let (ok, verdict) = run(&file);
    assert!(ok, "{verdict}");
    assert_eq!(
        verdict,
        format!(
            "OK inclusion of position {} in the tree of size {}",
            include.event.envelope.position, include.event.tree_size
        )
    );
    let mut altered = record.clone();
    altered.hashes[0] = hex::encode([0u8; 32]);
    std::fs::write(&file, serde_json::to_string(&altered).unwrap()).unwrap();
    let (ok, verdict) = run(&file);
    assert!(!ok && verdict.starts_with("REFUSED"), "{verdict}");
    let mut altered = record;
    "AAAA".clone_into(&mut altered.event.payload);
    std::fs::write(&file, serde_json::to_string(&altered).unwrap()).unwrap();
    let (ok, verdict) = run(&file);
    assert!(!ok && verdict.contains("altered"), "{verdict}");

    let file = dir.join("consistency.json");
    let record = ConsistencyFile::from(consistency);
    std::fs::write(&file, serde_json::to_string(&record).unwrap()).unwrap();
    let (ok, verdict) = run(&file);
    assert!(ok, "{verdict}");
    assert!(verdict.starts_with("OK consistency"), "{verdict}");
    let mut truncated = record;
    truncated.hashes.pop();
    std::fs::write(&file, serde_json::to_string(&truncated).unwrap()).unwrap();
    let (ok, verdict) = run(&file);
    assert!(!ok && verdict.starts_with("REFUSED"), "{verdict}");
}
