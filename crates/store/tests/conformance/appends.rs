use fundtrail_store::{
    AppendRequest, ExpectedVersion, InvalidInput, NewEvent, StoreError, StoreOptions, StreamInfo,
};

use crate::harness::Harness;
use crate::util::{event, events};

fn wrong_version(err: StoreError) -> (String, ExpectedVersion, Option<u64>) {
    match err {
        StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => (stream, expected, actual),
        other => panic!("expected a version conflict, got {other:?}"),
    }
}

pub async fn expected_versions<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let append = |stream: &str, expected, n| {
        let store = store.clone();
        let request = AppendRequest::new(stream, expected, events(n));
        async move { store.append(request).await }
    };

    // NoStream: accepted on a new stream, refused once it exists.
    let first = append("order-1", ExpectedVersion::NoStream, 1)
        .await
        .unwrap();
    assert_eq!((first.first_version, first.last_version), (0, 0));
    assert_eq!((first.first_position, first.last_position), (1, 1));
    assert!(!first.replayed);
    let err = append("order-1", ExpectedVersion::NoStream, 1)
        .await
        .unwrap_err();
    assert_eq!(
        wrong_version(err),
        ("order-1".to_owned(), ExpectedVersion::NoStream, Some(0))
    );

    // Exists: refused on a missing stream (actual: none), accepted on an existing one.
    let err = append("order-2", ExpectedVersion::Exists, 1)
        .await
        .unwrap_err();
    assert_eq!(
        wrong_version(err),
        ("order-2".to_owned(), ExpectedVersion::Exists, None)
    );
    let second = append("order-1", ExpectedVersion::Exists, 1).await.unwrap();
    assert_eq!((second.first_version, second.first_position), (1, 2));

    // Exact: only the current version.
    let err = append("order-1", ExpectedVersion::Exact(5), 1)
        .await
        .unwrap_err();
    assert_eq!(wrong_version(err).2, Some(1));
    let err = append("order-1", ExpectedVersion::Exact(0), 1)
        .await
        .unwrap_err();
    assert_eq!(wrong_version(err).2, Some(1));
    let err = append("order-9", ExpectedVersion::Exact(0), 1)
        .await
        .unwrap_err();
    assert_eq!(wrong_version(err).2, None);
    let third = append("order-1", ExpectedVersion::Exact(1), 2)
        .await
        .unwrap();
    assert_eq!((third.first_version, third.last_version), (2, 3));
    assert_eq!((third.first_position, third.last_position), (3, 4));

    // Any: always.
    assert_eq!(
        append("order-3", ExpectedVersion::Any, 1)
            .await
            .unwrap()
            .first_version,
        0
    );
    assert_eq!(
        append("order-3", ExpectedVersion::Any, 1)
            .await
            .unwrap()
            .first_version,
        1
    );

    // The refusals wrote nothing.
    assert_eq!(store.head().await.unwrap().position, 6);
    assert_eq!(store.stream_version("order-1").await.unwrap(), Some(3));
    assert_eq!(store.stream_version("order-2").await.unwrap(), None);
    assert_eq!(store.stream_version("order-9").await.unwrap(), None);

    // The parsed forms behave as the typed ones.
    let parsed: ExpectedVersion = "3".parse().unwrap();
    assert_eq!(append("order-1", parsed, 1).await.unwrap().first_version, 4);
    let parsed: ExpectedVersion = "no-stream".parse().unwrap();
    assert!(append("order-1", parsed, 1).await.is_err());
}

pub async fn reads_and_listings<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    for (stream, n) in [
        ("pledge-a", 3),
        ("pledge-b", 1),
        ("pledgex-c", 2),
        ("donor-XM-DAC-7", 1),
    ] {
        store
            .append(AppendRequest::new(
                stream,
                ExpectedVersion::NoStream,
                events(n),
            ))
            .await
            .unwrap();
    }
    let all = store.read_all(1, 100).await.unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.iter().zip(1..).all(|(e, p)| e.position == p));
    assert_eq!(store.read_all(3, 2).await.unwrap().len(), 2);
    assert_eq!(store.read_all(3, 2).await.unwrap()[0].position, 3);
    assert!(store.read_all(8, 10).await.unwrap().is_empty());
    assert_eq!(store.read_all(0, 1).await.unwrap()[0].position, 1);

    let stream = store.read_stream("pledge-a", 0).await.unwrap();
    assert_eq!(
        stream.iter().map(|e| e.version).collect::<Vec<_>>(),
        vec![0, 1, 2]
    );
    assert!(stream.iter().all(|e| e.stream == "pledge-a"));
    assert_eq!(store.read_stream("pledge-a", 2).await.unwrap().len(), 1);
    assert!(store.read_stream("pledge-z", 0).await.unwrap().is_empty());

    let listed = store.list_streams("pledge").await.unwrap();
    assert_eq!(
        listed,
        vec![
            StreamInfo {
                stream: "pledge-a".into(),
                version: 2
            },
            StreamInfo {
                stream: "pledge-b".into(),
                version: 0
            },
        ]
    );
    assert!(store.list_streams("pledg").await.unwrap().is_empty());
    assert_eq!(store.list_streams("donor").await.unwrap().len(), 1);
    assert!(matches!(
        store.list_streams("Pledge%").await,
        Err(StoreError::InvalidInput(InvalidInput::Category(_)))
    ));

    let head = store.head().await.unwrap();
    assert_eq!(head.position, 7);
    assert_eq!(head.hash, all[6].hash);
    assert_eq!(head.recorded_at, all[6].recorded_at);
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));
    assert_eq!(all[0].payload, b"payload 0");
    assert_eq!(all[0].metadata, b"meta");
    assert_eq!(all[0].event_type, "fundtrail.v1.TestEvent");
    assert!(store.find_request("nobody").await.unwrap().is_none());
}

pub async fn bad_input_writes_nothing<H: Harness>() {
    let h = H::with_options(StoreOptions {
        max_payload_bytes: 1024,
        ..StoreOptions::default()
    })
    .await;
    let store = h.store();
    let invalid = |result: Result<_, StoreError>| match result {
        Err(StoreError::InvalidInput(reason)) => reason,
        other => panic!("expected invalid input, got {other:?}"),
    };
    let req = |stream: &str, events: Vec<NewEvent>| {
        AppendRequest::new(stream, ExpectedVersion::Any, events)
    };

    assert_eq!(
        invalid(store.append(req("order-1", vec![])).await),
        InvalidInput::NoEvents
    );
    let big = event(&[7u8; 1025]);
    assert!(matches!(
        invalid(store.append(req("order-1", vec![event(b"ok"), big])).await),
        InvalidInput::TooLarge {
            field: "payload",
            size: 1025,
            limit: 1024,
            ..
        }
    ));
    let mut big_metadata = event(b"ok");
    big_metadata.metadata = vec![0; 2000];
    assert!(matches!(
        invalid(store.append(req("order-1", vec![big_metadata])).await),
        InvalidInput::TooLarge {
            field: "metadata",
            ..
        }
    ));
    let long_name = format!("order-{}", "x".repeat(200));
    for name in [
        "order",
        "Order-1",
        "order-",
        "-1",
        "order-a b",
        "order-ü",
        "or der-1",
        &long_name,
    ] {
        assert!(
            matches!(
                invalid(store.append(req(name, events(1))).await),
                InvalidInput::StreamName { .. }
            ),
            "{name}"
        );
    }
    let mut untyped = event(b"x");
    untyped.event_type.clear();
    assert!(matches!(
        invalid(store.append(req("order-1", vec![untyped])).await),
        InvalidInput::EventType { .. }
    ));
    let twice = event(b"x");
    assert!(matches!(
        invalid(
            store
                .append(req("order-1", vec![twice.clone(), twice]))
                .await
        ),
        InvalidInput::DuplicateEventId(_)
    ));
    assert!(matches!(
        invalid(
            store
                .append(req("order-1", events(1)).with_idempotency("", [0; 32]))
                .await
        ),
        InvalidInput::IdempotencyKey { .. }
    ));
    assert!(matches!(
        invalid(
            store
                .append(req("order-1", events(1)).with_cursor("", 1))
                .await
        ),
        InvalidInput::Consumer { .. }
    ));
    assert!(matches!(
        invalid(
            store
                .append(AppendRequest::new(
                    "order-1",
                    ExpectedVersion::Exact(u64::MAX),
                    events(1)
                ))
                .await
        ),
        InvalidInput::OutOfRange { .. }
    ));
    for text in ["latest", "Any", "-1", "", "1e3"] {
        assert_eq!(
            text.parse::<ExpectedVersion>(),
            Err(InvalidInput::ExpectedVersion(text.to_owned()))
        );
    }
    assert!(matches!(
        store.read_stream("not a stream", 0).await,
        Err(StoreError::InvalidInput(_))
    ));

    // Nothing at all was written, and the writer was never involved.
    assert_eq!(store.head().await.unwrap().position, 0);
    assert!(store.read_all(1, 10).await.unwrap().is_empty());
    assert!(store.list_streams("order").await.unwrap().is_empty());
    assert_eq!(store.load_cursor("pm").await.unwrap(), 0);
    assert_eq!(store.stats().appends, 0);

    // A payload right at the limit is fine.
    let edge = event(&[1u8; 1024]);
    store.append(req("order-1", vec![edge])).await.unwrap();
}

pub async fn duplicate_event_id_fails_only_its_append<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let stored = event(b"first");
    store
        .append(AppendRequest::new(
            "order-1",
            ExpectedVersion::Any,
            vec![stored.clone()],
        ))
        .await
        .unwrap();
    // Sent together so they are likely to share a batch: only the reuse is refused.
    let reuse = store.append(AppendRequest::new(
        "order-2",
        ExpectedVersion::Any,
        vec![event(b"fresh"), stored.clone()],
    ));
    let fine = store.append(AppendRequest::new(
        "order-3",
        ExpectedVersion::Any,
        events(1),
    ));
    let (reuse, fine) = tokio::join!(reuse, fine);
    assert!(matches!(
        reuse,
        Err(StoreError::InvalidInput(InvalidInput::DuplicateEventId(id))) if id == stored.event_id
    ));
    assert_eq!(fine.unwrap().first_position, 2);
    assert_eq!(store.head().await.unwrap().position, 2);
    assert_eq!(store.stream_version("order-2").await.unwrap(), None);
}
