use fundtrail_store::chain::{self, GENESIS};
use fundtrail_store::{AppendRequest, ExpectedVersion, ProblemKind, StoreError, StoreOptions};
use futures::StreamExt;

use crate::harness::Harness;
use crate::util::events;

async fn fill<H: Harness>(h: &H, streams: &[&str]) {
    let store = h.store();
    for (i, stream) in streams.iter().enumerate() {
        store
            .append(AppendRequest::new(
                *stream,
                ExpectedVersion::Any,
                events(1 + i % 2),
            ))
            .await
            .unwrap();
    }
}

pub async fn chain_verifies<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let empty = store.verify(1, None).await.unwrap();
    assert!(empty.is_ok());
    assert_eq!((empty.checked, empty.last_hash), (0, GENESIS));

    fill(&h, &["a-1", "b-1", "a-1", "c-1", "a-1", "b-1"]).await; // 9 events
    let all = store.read_all(1, 100).await.unwrap();
    assert_eq!(all.len(), 9);
    let mut prev = GENESIS;
    for event in &all {
        assert_eq!(event.prev_hash, prev);
        assert_eq!(chain::recompute(event), event.hash);
        prev = event.hash;
    }
    let report = store.verify(1, None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!((report.checked, report.last_position), (9, 9));
    assert_eq!(report.last_hash, store.head().await.unwrap().hash);

    let part = store.verify(4, Some(7)).await.unwrap();
    assert!(part.is_ok());
    assert_eq!((part.checked, part.last_position), (4, 7));
    assert_eq!(part.last_hash, all[6].hash);

    // Asking for positions beyond the head (a head held earlier that the store no longer
    // reaches) reports the first one missing.
    let beyond = store.verify(1, Some(12)).await.unwrap();
    let problem = beyond.problem.unwrap();
    assert_eq!(
        (problem.position, problem.kind),
        (10, ProblemKind::MissingPosition)
    );
}

pub async fn altered_rows_are_reported<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    fill(&h, &["a-1", "b-1", "a-1", "c-1", "a-1", "b-1"]).await;
    let before = store.read_all(1, 100).await.unwrap();

    // A payload changed behind the store's back.
    h.exec(&format!(
        "UPDATE events SET payload = {} WHERE position = 5",
        H::blob(b"forged")
    ))
    .await;
    let report = store.verify(1, None).await.unwrap();
    let problem = report.problem.clone().expect("the change must be detected");
    assert_eq!(problem.position, 5);
    assert_eq!(problem.stream.as_deref(), Some(before[4].stream.as_str()));
    assert!(matches!(
        problem.kind,
        ProblemKind::HashMismatch { stored, .. } if stored == before[4].hash
    ));
    assert_eq!((report.checked, report.last_position), (4, 4));
    assert!(problem.to_string().contains("position 5"));

    // A forged prev_hash (say, to splice in another chain) is reported too.
    h.exec(&format!(
        "UPDATE events SET prev_hash = {} WHERE position = 8",
        H::blob(&[9; 32])
    ))
    .await;
    let problem = store.verify(6, None).await.unwrap().problem.unwrap();
    assert_eq!(problem.position, 8);
    assert!(matches!(
        problem.kind,
        ProblemKind::PrevHashMismatch { stored, expected } if stored == [9; 32] && expected == before[6].hash
    ));
    // Recomputing the whole chain still names the first break.
    assert_eq!(
        store
            .verify(1, None)
            .await
            .unwrap()
            .problem
            .unwrap()
            .position,
        5
    );
}

pub async fn deleted_rows_are_reported<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    fill(&h, &["a-1", "b-1", "a-1", "c-1", "a-1", "b-1"]).await;
    let head = store.head().await.unwrap();
    h.exec("DELETE FROM events WHERE position = 4").await;
    let problem = store.verify(1, None).await.unwrap().problem.unwrap();
    assert_eq!(
        (problem.position, problem.stream, problem.kind),
        (4, None, ProblemKind::MissingPosition)
    );
    let problem = store.verify(5, None).await.unwrap().problem.unwrap();
    assert_eq!(
        problem.position, 4,
        "the anchor before the range is missing"
    );

    // A subscriber refuses to step over the hole.
    let mut subscription = store.subscribe(1);
    for position in 1..=3 {
        assert_eq!(
            subscription.next().await.unwrap().unwrap().position,
            position
        );
    }
    assert!(matches!(
        subscription.next().await,
        Some(Err(StoreError::Corrupt(_)))
    ));
    assert!(subscription.next().await.is_none());

    // Truncating the tail is visible against a head held earlier.
    h.exec("DELETE FROM events WHERE position = 9").await;
    let problem = store
        .verify(5, Some(head.position))
        .await
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(problem.position, 4);
    h.exec("DELETE FROM events WHERE position < 5").await;
    let problem = store
        .verify(6, Some(head.position))
        .await
        .unwrap()
        .problem
        .unwrap();
    assert_eq!(
        (problem.position, problem.kind),
        (9, ProblemKind::MissingPosition)
    );
}

pub async fn new_instance_continues_positions_and_chain<H: Harness>() {
    let h = H::new().await;
    let first = h.store();
    fill(&h, &["a-1", "b-1", "c-1"]).await; // 4 events
    let head = first.head().await.unwrap();

    let second = h.reopen(StoreOptions::default()).await;
    assert_eq!(second.head().await.unwrap(), head);
    let appended = second
        .append(AppendRequest::new(
            "a-1",
            ExpectedVersion::Exact(0),
            events(2),
        ))
        .await
        .unwrap();
    assert_eq!((appended.first_position, appended.first_version), (5, 1));
    let continued = second.read_all(5, 1).await.unwrap().remove(0);
    assert_eq!(continued.prev_hash, head.hash);
    assert!(continued.recorded_at >= head.recorded_at);

    // The first instance has no stale idea of the head either.
    let after = first
        .append(AppendRequest::new(
            "a-1",
            ExpectedVersion::Exact(2),
            events(1),
        ))
        .await
        .unwrap();
    assert_eq!(after.first_position, 7);
    for store in [&first, &second] {
        let report = store.verify(1, None).await.unwrap();
        assert!(report.is_ok(), "{report:?}");
        assert_eq!(report.checked, 7);
    }
}
