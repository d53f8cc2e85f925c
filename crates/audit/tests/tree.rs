//! The Merkle tree kept beside the events, on SQLite and PostgreSQL: the follower appends what
//! commits and resumes after a restart, a rebuild from the events gives the same tree, the
//! proofs built from the stored subtrees verify under the signed checkpoints, and a tree
//! table altered behind the store's back is refused by the signer.

use std::sync::Arc;
use std::time::Duration;

use fundtrail_audit::signer::{SignError, sign_heads};
use fundtrail_audit::storage::{self, OpenedStore};
use fundtrail_audit::{CheckpointSigner, CheckpointStore, follower, tree_proof};
use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, NewEvent, StoreOptions};
use fundtrail_verifier::merkle::{self, NodeId};
use fundtrail_verifier::note::open_checkpoint;
use fundtrail_verifier::{ConsistencyProof, TreeInclusionProof};
use sqlx::Connection;
use tokio_util::sync::CancellationToken;

fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

#[derive(Debug, Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Db {
    opened: OpenedStore,
    schema: Option<String>,
    _dir: tempfile::TempDir,
}

impl Db {
    async fn open(backend: Backend) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("tree.db").display()),
                None,
            ),
            Backend::Postgres => (
                database_url(),
                Some(format!("tree_{}", uuid::Uuid::new_v4().simple())),
            ),
        };
        let opened = storage::open(
            &url,
            StoreOptions {
                schema: schema.clone(),
                ..StoreOptions::default()
            },
        )
        .await
        .unwrap();
        Self {
            opened,
            schema,
            _dir: dir,
        }
    }

    fn events(&self) -> &dyn EventStore {
        self.opened.events.as_ref()
    }

    fn tree(&self) -> &CheckpointStore {
        &self.opened.checkpoints
    }

    async fn append(&self, from: u64, count: u64) {
        for i in from..from + count {
            let event = NewEvent::new(
                uuid::Uuid::now_v7(),
                "fundtrail.v1.Example",
                i.to_be_bytes().to_vec(),
                vec![],
            );
            self.opened
                .events
                .append(AppendRequest::new(
                    format!("pledge-{}", i % 4),
                    ExpectedVersion::Any,
                    vec![event],
                ))
                .await
                .unwrap();
        }
    }

    /// Runs SQL against the tables behind the store's back.
    async fn sql(&self, text: &str) {
        match self.tree() {
            CheckpointStore::Postgres(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(text.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
            CheckpointStore::Sqlite(pool) => {
                sqlx::query(sqlx::AssertSqlSafe(text.to_owned()))
                    .execute(pool)
                    .await
                    .unwrap();
            }
        }
    }

    async fn drop(self) {
        if let Some(schema) = &self.schema {
            let mut conn = sqlx::PgConnection::connect(&database_url()).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }
}

/// A byte string as an SQL literal of the backend.
fn literal(backend: Backend, bytes: &[u8]) -> String {
    let hex = hex::encode(bytes);
    match backend {
        Backend::Sqlite => format!("x'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// The root of the history's tree computed from the events alone, in memory.
async fn reference_root(events: &dyn EventStore, size: u64) -> merkle::Hash {
    let leaves: Vec<_> = events
        .read_all(1, usize::try_from(size).unwrap())
        .await
        .unwrap()
        .iter()
        .map(|e| merkle::event_leaf(&e.hash))
        .collect();
    merkle::root(&leaves)
}

async fn wait_for_size(tree: &CheckpointStore, size: u64) {
    for _ in 0..600 {
        if tree.tree_size().await.unwrap() >= size {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the follower did not reach {size} leaves in 30 s (at {})",
        tree.tree_size().await.unwrap()
    );
}

async fn the_follower_keeps_up_resumes_and_rebuilds(backend: Backend) {
    let db = Db::open(backend).await;
    db.append(0, 37).await;
    let stop = CancellationToken::new();
    let task = tokio::spawn(follower::run(
        Arc::clone(&db.opened.events),
        db.tree().clone(),
        stop.clone(),
    ));
    wait_for_size(db.tree(), 37).await;
    db.append(37, 20).await;
    wait_for_size(db.tree(), 57).await;
    stop.cancel();
    task.await.unwrap();
    assert_eq!(
        tree_proof::root(db.tree(), 57).await.unwrap(),
        reference_root(db.events(), 57).await
    );

    // Stopped, more events; a new follower resumes from the stored size.
    db.append(57, 11).await;
    let stop = CancellationToken::new();
    let task = tokio::spawn(follower::run(
        Arc::clone(&db.opened.events),
        db.tree().clone(),
        stop.clone(),
    ));
    wait_for_size(db.tree(), 68).await;
    stop.cancel();
    task.await.unwrap();
    let root = tree_proof::root(db.tree(), 68).await.unwrap();
    assert_eq!(root, reference_root(db.events(), 68).await);
    // Every complete subtree is stored, and nothing else: 2n - popcount(n) nodes.
    let every: Vec<NodeId> = (0..7u8)
        .flat_map(|level| (0..68u64 >> level).map(move |i| NodeId::new(level, i)))
        .collect();
    assert_eq!(
        db.tree().tree_nodes(&every).await.unwrap().len(),
        2 * 68 - 68u64.count_ones() as usize
    );

    // From the events alone, the same tree.
    assert_eq!(follower::rebuild(db.events(), db.tree()).await.unwrap(), 68);
    assert_eq!(tree_proof::root(db.tree(), 68).await.unwrap(), root);
    db.drop().await;
}

async fn proofs_from_the_stored_tree_verify_under_signed_checkpoints(backend: Backend) {
    let db = Db::open(backend).await;
    let signer = CheckpointSigner::from_seed([9; 32])
        .with_origin("fund.example/ledger")
        .unwrap();
    db.append(0, 21).await;
    let first = sign_heads(db.events(), db.tree(), &signer).await.unwrap();
    assert_eq!((first.chain.position, first.tree.tree_size), (21, 21));
    assert_eq!(first.tree.root, reference_root(db.events(), 21).await);
    let again = sign_heads(db.events(), db.tree(), &signer).await.unwrap();
    assert_eq!(again, first, "an unmoved head is not signed twice");
    db.append(21, 30).await;
    let second = sign_heads(db.events(), db.tree(), &signer).await.unwrap();
    assert_eq!(second.tree.tree_size, 51);

    let key = signer.log_key();
    let reader = tree_proof::TreeReader::new(db.tree().clone());
    for position in [1, 2, 20, 21, 34, 51] {
        let event = tree_proof::event_inclusion(db.events(), db.tree(), position, 51)
            .await
            .unwrap();
        // The server's reader, twice (the second time from memory), gives the same proof.
        for _ in 0..2 {
            let served = reader
                .event_inclusion(db.events(), position, 51)
                .await
                .unwrap();
            assert_eq!(served, event);
        }
        let proof = TreeInclusionProof {
            checkpoint: second.tree.note.clone(),
            event,
        };
        let cp = proof.verify(&key).unwrap();
        assert_eq!(cp.size, 51);
    }
    let hashes = tree_proof::consistency(db.tree(), 21, 51).await.unwrap();
    let proof = ConsistencyProof {
        from: Some(first.tree.note.clone()),
        to: second.tree.note.clone(),
        from_size: 21,
        hashes,
    };
    let (from, to) = proof.verify(&key, None).unwrap();
    assert_eq!((from.size, to.size), (21, 51));
    let (opened, _) = open_checkpoint(&second.tree.note, &key).unwrap();
    assert_eq!(opened.root, second.tree.root);
    db.drop().await;
}

async fn an_altered_tree_table_is_refused_by_the_signer(backend: Backend) {
    let db = Db::open(backend).await;
    let signer = CheckpointSigner::from_seed([8; 32]);
    db.append(0, 16).await;
    let first = sign_heads(db.events(), db.tree(), &signer).await.unwrap();
    db.append(16, 5).await;

    // An inner subtree changed: the signer reads only the right edge, but the proofs through
    // it no longer verify under the signed root, and the client says so.
    db.sql(
        "UPDATE audit_tree_nodes SET hash = sha256_of_nothing WHERE level = 2 AND idx = 1"
            .replace(
                "sha256_of_nothing",
                &literal(backend, &merkle::empty_root()),
            )
            .as_str(),
    )
    .await;
    let event = tree_proof::event_inclusion(db.events(), db.tree(), 1, 16)
        .await
        .unwrap();
    let why = TreeInclusionProof {
        checkpoint: first.tree.note.clone(),
        event,
    }
    .verify(&signer.log_key())
    .unwrap_err()
    .to_string();
    assert!(why.contains("a hash of the proof"), "{why}");

    // The right edge of the signed tree changed: the signer no longer finds the signed root.
    db.sql(&format!(
        "UPDATE audit_tree_nodes SET hash = {} WHERE level = 4 AND idx = 0",
        literal(backend, &merkle::empty_root())
    ))
    .await;
    let refused = sign_heads(db.events(), db.tree(), &signer)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SignError::TreeAltered(why) if why.contains("size 16")),
        "{refused}"
    );
    // Rebuilt from the events, the tree is the signed one again and signing goes on.
    follower::rebuild(db.events(), db.tree()).await.unwrap();
    let next = sign_heads(db.events(), db.tree(), &signer).await.unwrap();
    assert_eq!(next.tree.tree_size, 21);
    let hashes = tree_proof::consistency(db.tree(), 16, 21).await.unwrap();
    merkle::verify_consistency(16, 21, &first.tree.root, &next.tree.root, &hashes).unwrap();

    // A subtree of its right edge beyond every signed root rewritten: the stored tree
    // disagrees with the history.
    db.append(21, 3).await;
    follower::catch_up(db.events(), db.tree(), None)
        .await
        .unwrap();
    db.sql(&format!(
        "UPDATE audit_tree_nodes SET hash = {} WHERE level = 3 AND idx = 2",
        literal(backend, &merkle::leaf_hash(b"forged"))
    ))
    .await;
    let refused = sign_heads(db.events(), db.tree(), &signer)
        .await
        .unwrap_err();
    assert!(
        matches!(&refused, SignError::TreeAltered(why) if why.contains("disagrees") || why.contains("gives")),
        "{refused}"
    );

    // An event altered behind the store's back: the follower stops extending the tree.
    db.sql("UPDATE events SET payload = payload || payload WHERE position = 24")
        .await;
    follower::rebuild(db.events(), db.tree()).await.unwrap_err();
    assert_eq!(db.tree().tree_size().await.unwrap(), 23);
    db.drop().await;
}

macro_rules! on_both {
    ($($test:ident),*) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $test() {
                    super::$test(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both!(
    the_follower_keeps_up_resumes_and_rebuilds,
    proofs_from_the_stored_tree_verify_under_signed_checkpoints,
    an_altered_tree_table_is_refused_by_the_signer
);
