use std::sync::Arc;

use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, StoreError, StoreOptions};
use futures::StreamExt;

use crate::harness::Harness;
use crate::util::{PATIENCE, event, events};

pub async fn one_winner_per_version<H: Harness>() {
    const VERSIONS: u64 = 20;
    const CONTENDERS: usize = 8;
    let h = H::new().await;
    let store = h.store();
    for version in 0..VERSIONS {
        let expected = version
            .checked_sub(1)
            .map_or(ExpectedVersion::NoStream, ExpectedVersion::Exact);
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store
                        .append(AppendRequest::new("race-1", expected, events(1)))
                        .await
                })
            })
            .collect();
        let mut winners = 0;
        for task in tasks {
            match task.await.unwrap() {
                Ok(result) => {
                    assert_eq!(result.first_version, version);
                    winners += 1;
                }
                Err(StoreError::WrongExpectedVersion { actual, .. }) => {
                    assert_eq!(actual, Some(version));
                }
                Err(other) => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(winners, 1, "version {version}");
    }
    let stream = store.read_stream("race-1", 0).await.unwrap();
    assert_eq!(
        stream.iter().map(|e| e.version).collect::<Vec<_>>(),
        (0..VERSIONS).collect::<Vec<_>>()
    );
    assert_eq!(store.head().await.unwrap().position, VERSIONS);
}

/// 32 writers × 500 single-event appends, split over two store instances (two processes
/// sharing the database), while a reader tails `subscribe`: it must see every position once,
/// in order, with no gap, although batches of the two instances interleave.
pub async fn writers_and_a_tailing_reader<H: Harness>() {
    const WRITERS: usize = 32;
    const APPENDS: usize = 500;
    const TOTAL: usize = WRITERS * APPENDS;
    let h = H::new().await;
    let first = h.store();
    let second = h.reopen(StoreOptions::default()).await;

    let reader = {
        let mut subscription = first.subscribe(1);
        tokio::spawn(async move {
            let mut seen = Vec::with_capacity(TOTAL);
            while seen.len() < TOTAL {
                let event = subscription
                    .next()
                    .await
                    .expect("subscription ended")
                    .unwrap();
                seen.push(event);
            }
            seen
        })
    };

    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = if w % 2 == 0 {
                first.clone()
            } else {
                second.clone()
            };
            tokio::spawn(async move {
                let stream = format!("load-{w}");
                for i in 0..APPENDS {
                    let request = AppendRequest::new(
                        stream.as_str(),
                        ExpectedVersion::Any,
                        vec![event(format!("{w}/{i}").as_bytes())],
                    )
                    .with_idempotency(format!("load-{w}-{i}"), [u8::try_from(w).unwrap(); 32]);
                    store.append(request).await.unwrap();
                }
            })
        })
        .collect();
    for writer in writers {
        tokio::time::timeout(PATIENCE, writer)
            .await
            .unwrap()
            .unwrap();
    }
    let seen = tokio::time::timeout(PATIENCE, reader)
        .await
        .unwrap()
        .unwrap();

    assert_eq!(seen.len(), TOTAL);
    for (event, position) in seen.iter().zip(1..) {
        assert_eq!(
            event.position, position,
            "the reader skipped or repeated a position"
        );
    }
    // Every stream is dense too, in the order its writer appended.
    for w in 0..WRITERS {
        let stream = format!("load-{w}");
        let versions: Vec<_> = seen.iter().filter(|e| e.stream == stream).collect();
        assert_eq!(versions.len(), APPENDS);
        for (i, e) in versions.iter().enumerate() {
            assert_eq!(e.version, i as u64);
            assert_eq!(e.payload, format!("{w}/{i}").as_bytes());
        }
    }
    assert_eq!(first.verify(1, None).await.unwrap().checked, TOTAL as u64);

    let (a, b) = (first.stats(), second.stats());
    eprintln!("group commit: {a:?} {b:?}");
    let appends = a.appends + b.appends;
    let transactions = a.transactions + b.transactions;
    assert_eq!(appends, TOTAL as u64);
    assert_eq!(a.events + b.events, TOTAL as u64);
    assert!(
        transactions * 2 < appends,
        "group commit should batch: {transactions} transactions for {appends} appends"
    );
}

pub async fn idempotent_retries<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    store
        .append(AppendRequest::new(
            "pledge-0",
            ExpectedVersion::Any,
            events(2),
        ))
        .await
        .unwrap();
    let request = AppendRequest::new("pledge-1", ExpectedVersion::NoStream, events(3))
        .with_idempotency("req-1", [1; 32]);

    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, request) = (store.clone(), request.clone());
            tokio::spawn(async move { store.append(request).await })
        })
        .collect();
    let mut results = Vec::new();
    for task in tasks {
        results.push(task.await.unwrap().unwrap());
    }
    assert_eq!(results.iter().filter(|r| !r.replayed).count(), 1);
    let original = results.iter().find(|r| !r.replayed).unwrap().clone();
    assert_eq!((original.first_position, original.last_position), (3, 5));
    for result in &results {
        let mut result = result.clone();
        result.replayed = false;
        assert_eq!(result, original);
    }
    assert_eq!(store.head().await.unwrap().position, 5);
    assert_eq!(store.stream_version("pledge-1").await.unwrap(), Some(2));

    // A different request under the same id is a conflict, even concurrently with replays.
    let conflicting = AppendRequest::new("pledge-1", ExpectedVersion::Any, events(1))
        .with_idempotency("req-1", [2; 32]);
    let (conflict, replay) = tokio::join!(
        store.append(conflicting.clone()),
        store.append(request.clone())
    );
    assert!(
        matches!(conflict, Err(StoreError::RequestConflict { request_id }) if request_id == "req-1")
    );
    assert!(replay.unwrap().replayed);

    // The stored result answers retried commands, and survives a restart.
    let record = store.find_request("req-1").await.unwrap().unwrap();
    assert_eq!(record.fingerprint, [1; 32]);
    assert_eq!(record.result.first_position, original.first_position);
    assert!(record.result.replayed);
    let reopened: Arc<dyn EventStore> = h.reopen(StoreOptions::default()).await;
    let again = reopened.append(request).await.unwrap();
    assert!(again.replayed);
    assert_eq!(again.last_position, original.last_position);
    assert!(matches!(
        reopened.append(conflicting).await,
        Err(StoreError::RequestConflict { .. })
    ));
    assert_eq!(reopened.head().await.unwrap().position, 5);
    assert!(store.stats().replays >= 15);
}

/// A decision read a second stream ("the project is open") and appends elsewhere; it lands
/// only while that stream is where it was read. Raced over two store instances: whichever
/// order the database picks, nothing is appended on a version of the other stream that was
/// already gone.
pub async fn another_stream_must_stay_unchanged<H: Harness>() {
    const ROUNDS: u64 = 30;
    let h = H::new().await;
    let first = h.store();
    let second = h.reopen(StoreOptions::default()).await;
    first
        .append(AppendRequest::new(
            "project-1",
            ExpectedVersion::NoStream,
            events(1),
        ))
        .await
        .unwrap();

    let missing = first
        .append(
            AppendRequest::new("pledge-refused", ExpectedVersion::Any, events(1))
                .with_unchanged("project-9", ExpectedVersion::Exact(0)),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&missing, StoreError::WrongExpectedVersion { stream, actual: None, .. } if stream == "project-9"),
        "{missing:?}"
    );

    let mut landed_on_stale = Vec::new();
    for round in 0..ROUNDS {
        // Both read the project at `round`; one moves it on, the other appends elsewhere on
        // the condition that it did not move.
        let change = {
            let store = first.clone();
            tokio::spawn(async move {
                store
                    .append(AppendRequest::new(
                        "project-1",
                        ExpectedVersion::Exact(round),
                        events(1),
                    ))
                    .await
            })
        };
        let dependent = {
            let store = second.clone();
            tokio::spawn(async move {
                store
                    .append(
                        AppendRequest::new(
                            format!("pledge-{round}"),
                            ExpectedVersion::NoStream,
                            events(1),
                        )
                        .with_unchanged("project-1", ExpectedVersion::Exact(round)),
                    )
                    .await
            })
        };
        let changed = change.await.unwrap().unwrap();
        match dependent.await.unwrap() {
            Ok(appended) => {
                if appended.first_position > changed.first_position {
                    landed_on_stale.push(round);
                }
            }
            Err(StoreError::WrongExpectedVersion {
                stream,
                expected,
                actual,
            }) => {
                assert_eq!(stream, "project-1");
                assert_eq!(expected, ExpectedVersion::Exact(round));
                assert_eq!(actual, Some(round + 1));
            }
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(
        landed_on_stale,
        Vec::<u64>::new(),
        "appended after the stream it read changed"
    );
    assert!(
        first
            .read_stream("pledge-refused", 0)
            .await
            .unwrap()
            .is_empty()
    );
}
