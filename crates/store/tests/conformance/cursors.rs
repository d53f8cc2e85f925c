use fundtrail_store::{AppendRequest, ExpectedVersion, InvalidInput, StoreError};

use crate::harness::Harness;
use crate::util::events;

pub async fn save_and_load_only_forward<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    assert_eq!(store.load_cursor("projector").await.unwrap(), 0);
    store.save_cursor("projector", 5).await.unwrap();
    assert_eq!(store.load_cursor("projector").await.unwrap(), 5);
    store.save_cursor("projector", 3).await.unwrap();
    assert_eq!(store.load_cursor("projector").await.unwrap(), 5);
    store.save_cursor("projector", 9).await.unwrap();
    assert_eq!(store.load_cursor("projector").await.unwrap(), 9);
    assert_eq!(store.load_cursor("relay").await.unwrap(), 0);
    assert!(matches!(
        store.save_cursor("", 1).await,
        Err(StoreError::InvalidInput(InvalidInput::Consumer { .. }))
    ));
    assert!(matches!(
        store.save_cursor("projector", u64::MAX).await,
        Err(StoreError::InvalidInput(InvalidInput::OutOfRange { .. }))
    ));
    // Survives a new instance.
    let reopened = h.reopen(fundtrail_store::StoreOptions::default()).await;
    assert_eq!(reopened.load_cursor("projector").await.unwrap(), 9);
}

pub async fn cursor_commits_with_its_append<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let effect = |expected, position| {
        AppendRequest::new("account-1", expected, events(1)).with_cursor("allocations", position)
    };
    store
        .append(effect(ExpectedVersion::NoStream, 7))
        .await
        .unwrap();
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 7);

    // The append is refused: the cursor does not move either.
    assert!(
        store
            .append(effect(ExpectedVersion::NoStream, 20))
            .await
            .is_err()
    );
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 7);

    // Only forward, even when carried by an append.
    store
        .append(effect(ExpectedVersion::Exact(0), 4))
        .await
        .unwrap();
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 7);

    // Concurrent appends carrying cursors of one consumer: the highest wins.
    let appends: Vec<_> = (10..20)
        .map(|p| {
            let store = store.clone();
            tokio::spawn(async move { store.append(effect(ExpectedVersion::Any, p)).await })
        })
        .collect();
    for append in appends {
        append.await.unwrap().unwrap();
    }
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 19);

    // A request that was already applied still records that the consumer got this far.
    let request = AppendRequest::new("account-2", ExpectedVersion::Any, events(1))
        .with_idempotency("effect-of-30", [3; 32])
        .with_cursor("allocations", 30);
    store.append(request.clone()).await.unwrap();
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 30);
    let replay = store
        .append(request.with_cursor("allocations", 31))
        .await
        .unwrap();
    assert!(replay.replayed);
    assert_eq!(store.load_cursor("allocations").await.unwrap(), 31);
    assert_eq!(store.head().await.unwrap().position, 13);
}

pub async fn cursor_in_callers_transaction<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    h.cursor_in_transaction("view", 12, false).await;
    assert_eq!(store.load_cursor("view").await.unwrap(), 0);
    h.cursor_in_transaction("view", 12, true).await;
    assert_eq!(store.load_cursor("view").await.unwrap(), 12);
    h.cursor_in_transaction("view", 8, true).await;
    assert_eq!(store.load_cursor("view").await.unwrap(), 12);
}

pub async fn cursors_saved_before_the_rename_are_kept<H: Harness>() {
    // The table as releases before the rename left it, with a view's progress in it.
    let h = H::upgraded_from(
        H::CURSORS_MIGRATION,
        "INSERT INTO consumer_checkpoints (consumer, position) VALUES ('projection.donors', 42)",
    )
    .await;
    let store = h.store();
    assert_eq!(store.load_cursor("projection.donors").await.unwrap(), 42);
    store.save_cursor("projection.donors", 40).await.unwrap();
    assert_eq!(store.load_cursor("projection.donors").await.unwrap(), 42);
    store.save_cursor("projection.donors", 43).await.unwrap();
    assert_eq!(store.load_cursor("projection.donors").await.unwrap(), 43);
}
