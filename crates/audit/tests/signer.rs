//! The checkpoint signer signs only a history it has re-read since its own last checkpoint.

use fundtrail_audit::signer::{SignError, sign_head};
use fundtrail_audit::storage::{self, OpenedStore};
use fundtrail_audit::{CheckpointSigner, CheckpointStore};
use fundtrail_store::{AppendRequest, ExpectedVersion, NewEvent, StoreOptions};
use fundtrail_verifier::Problem;

async fn history(events: u8) -> OpenedStore {
    let opened = storage::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    for i in 0..events {
        append(&opened, i).await;
    }
    opened
}

async fn append(opened: &OpenedStore, i: u8) {
    let event = NewEvent::new(
        uuid::Uuid::now_v7(),
        "fundtrail.v1.Example",
        vec![i; 3],
        vec![],
    );
    opened
        .events
        .append(AppendRequest::new(
            "pledge-1",
            ExpectedVersion::Any,
            vec![event],
        ))
        .await
        .unwrap();
}

async fn edit(checkpoints: &CheckpointStore, position: i64) {
    let CheckpointStore::Sqlite(pool) = checkpoints else {
        unreachable!()
    };
    sqlx::query("UPDATE events SET payload = x'ff' WHERE position = ?")
        .bind(position)
        .execute(pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn signs_the_head_once_and_refuses_an_altered_history() {
    let opened = history(5).await;
    let signer = CheckpointSigner::from_seed([5; 32]);
    let first = sign_head(opened.events.as_ref(), &opened.checkpoints, &signer)
        .await
        .unwrap();
    assert_eq!(first.position, 5);
    let again = sign_head(opened.events.as_ref(), &opened.checkpoints, &signer)
        .await
        .unwrap();
    assert_eq!(again, first, "an unmoved head is not signed twice");

    append(&opened, 9).await;
    edit(&opened.checkpoints, 6).await;
    let refused = sign_head(opened.events.as_ref(), &opened.checkpoints, &signer).await;
    assert!(
        matches!(&refused, Err(SignError::Tampered(f)) if f.position == 6 && matches!(f.problem, Problem::HashMismatch { .. })),
        "{refused:?}"
    );
}

#[tokio::test]
async fn rows_written_by_others_are_no_anchor() {
    let opened = history(6).await;
    let signer = CheckpointSigner::from_seed([5; 32]);
    edit(&opened.checkpoints, 3).await;
    // Someone with database access "signs" the altered history with their own key, and plants
    // a row claiming to be ours: neither lets the signer skip re-reading it.
    let head = opened.events.head().await.unwrap();
    let intruder = CheckpointSigner::from_seed([6; 32]);
    opened
        .checkpoints
        .save(&intruder.sign(head.position, head.hash, String::new()))
        .await
        .unwrap();
    let refused = sign_head(opened.events.as_ref(), &opened.checkpoints, &signer).await;
    assert!(
        matches!(&refused, Err(SignError::Tampered(f)) if f.position == 3),
        "{refused:?}"
    );
    let mut planted = intruder.sign(head.position, head.hash, String::new());
    planted.public_key = signer.public_key();
    opened.checkpoints.save(&planted).await.unwrap();
    let refused = sign_head(opened.events.as_ref(), &opened.checkpoints, &signer).await;
    assert!(
        matches!(&refused, Err(SignError::Tampered(f)) if f.problem == Problem::BadSignature),
        "{refused:?}"
    );
}
