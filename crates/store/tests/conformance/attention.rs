//! The "needs attention" queue: parked events commit with the cursor that moves past them,
//! and re-drives are requested and settled through the table, from any instance.

use fundtrail_store::attention::MAX_CAUSE;
use fundtrail_store::{
    AttentionKind, AttentionQuery, AttentionState, Cursor, InvalidInput, Parked, Redriven,
    StoreError, StoreOptions,
};
use uuid::Uuid;

use crate::harness::Harness;

fn parked(consumer: &str, position: u64, kind: AttentionKind) -> Parked {
    Parked {
        consumer: consumer.to_owned(),
        position,
        event_id: Uuid::now_v7(),
        stream: "pledge-1".to_owned(),
        event_type: "fundtrail.v1.ContributionReceived".to_owned(),
        kind,
        reason: if kind == AttentionKind::Refused {
            "MATCHING_CAP_EXCEEDED".to_owned()
        } else {
            String::new()
        },
        cause: format!("{kind} at {position}"),
        attempts: 5,
    }
}

fn cursor(consumer: &str, position: u64) -> Cursor {
    Cursor {
        consumer: consumer.to_owned(),
        position,
    }
}

pub async fn parking_moves_the_cursor_with_the_record<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let queue = store.attention();
    let item = queue
        .park(
            parked("pledges.matching", 7, AttentionKind::Failed),
            Some(cursor("pledges.matching", 7)),
        )
        .await
        .unwrap();
    assert_eq!(item.state, AttentionState::Open);
    assert_eq!((item.position, item.attempts), (7, 5));
    assert_eq!(item.first_seen, item.last_seen);
    assert_eq!(store.load_cursor("pledges.matching").await.unwrap(), 7);

    // The same event parked again is one more attempt on the same item, open again.
    queue.request_redrive(item.id).await.unwrap();
    let again = queue
        .park(
            Parked {
                cause: "still failing".to_owned(),
                attempts: 1,
                ..parked("pledges.matching", 7, AttentionKind::Refused)
            },
            Some(cursor("pledges.matching", 7)),
        )
        .await
        .unwrap();
    assert_eq!(again.id, item.id);
    assert_eq!(again.attempts, 6);
    assert_eq!(again.kind, AttentionKind::Refused);
    assert_eq!(again.cause, "still failing");
    assert_eq!(again.state, AttentionState::Open);
    assert_eq!(again.first_seen, item.first_seen);
    assert!(again.last_seen >= item.last_seen);

    // Another consumer's item for the same position is its own.
    let other = queue
        .park(parked("projector", 7, AttentionKind::Undecodable), None)
        .await
        .unwrap();
    assert_ne!(other.id, item.id);
    // A cursor moves only forward, parked event or not.
    queue
        .park(
            parked("pledges.matching", 3, AttentionKind::Failed),
            Some(cursor("pledges.matching", 3)),
        )
        .await
        .unwrap();
    assert_eq!(store.load_cursor("pledges.matching").await.unwrap(), 7);
    assert_eq!(
        queue
            .attention_items(&AttentionQuery::default())
            .await
            .unwrap()
            .len(),
        3
    );
}

pub async fn a_failed_cursor_parks_nothing<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    h.refuse_cursors_from(1000).await;
    let refused = store
        .attention()
        .park(
            parked("disbursements.credits", 1000, AttentionKind::Failed),
            Some(cursor("disbursements.credits", 1000)),
        )
        .await;
    assert!(refused.is_err(), "{refused:?}");
    assert!(
        store
            .attention()
            .attention_items(&AttentionQuery::default())
            .await
            .unwrap()
            .is_empty(),
        "the record rolled back with its cursor"
    );
    assert_eq!(store.load_cursor("disbursements.credits").await.unwrap(), 0);

    // Bad input is refused before the database and writes nothing either.
    for (bad, cursor) in [
        (parked("", 4, AttentionKind::Failed), None),
        (parked("x", 0, AttentionKind::Failed), None),
        (parked("x", u64::MAX, AttentionKind::Failed), None),
        (parked("x", 4, AttentionKind::Failed), Some(cursor("", 4))),
    ] {
        assert!(
            matches!(
                store.attention().park(bad.clone(), cursor).await,
                Err(StoreError::InvalidInput(
                    InvalidInput::Consumer { .. } | InvalidInput::OutOfRange { .. }
                ))
            ),
            "{bad:?}"
        );
    }
    assert!(
        store
            .attention()
            .attention_items(&AttentionQuery::default())
            .await
            .unwrap()
            .is_empty()
    );
}

pub async fn causes_are_kept_within_bounds<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let long = "a stack of causes ".repeat(1000);
    let item = store
        .attention()
        .park(
            Parked {
                cause: long.clone(),
                ..parked("projector", 9, AttentionKind::Undecodable)
            },
            None,
        )
        .await
        .unwrap();
    assert!(item.cause.len() <= MAX_CAUSE, "{}", item.cause.len());
    assert!(long.starts_with(item.cause.trim_end_matches('…')));
    let read = store.attention().attention_item(item.id).await.unwrap();
    assert_eq!(read, Some(item));
}

pub async fn listings_filter_and_page<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let queue = store.attention();
    let mut ids = Vec::new();
    for (consumer, position, kind) in [
        ("pledges.matching", 3, AttentionKind::Refused),
        ("disbursements.credits", 4, AttentionKind::Undecodable),
        ("pledges.matching", 5, AttentionKind::Failed),
        ("pledges.matching", 6, AttentionKind::Refused),
    ] {
        ids.push(
            queue
                .park(parked(consumer, position, kind), None)
                .await
                .unwrap()
                .id,
        );
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "{ids:?}");
    let list = |query: AttentionQuery| async move {
        queue
            .attention_items(&query)
            .await
            .unwrap()
            .into_iter()
            .map(|item| item.position)
            .collect::<Vec<_>>()
    };
    assert_eq!(list(AttentionQuery::default()).await, [3, 4, 5, 6]);
    assert_eq!(
        list(AttentionQuery {
            consumer: Some("pledges.matching".into()),
            ..AttentionQuery::default()
        })
        .await,
        [3, 5, 6]
    );
    assert_eq!(
        list(AttentionQuery {
            consumer: Some("pledges.matching".into()),
            kind: Some(AttentionKind::Refused),
            ..AttentionQuery::default()
        })
        .await,
        [3, 6]
    );
    assert_eq!(
        list(AttentionQuery {
            after_id: ids[0],
            limit: 2,
            ..AttentionQuery::default()
        })
        .await,
        [4, 5]
    );
    queue.request_redrive(ids[2]).await.unwrap();
    assert_eq!(
        list(AttentionQuery::redrives("pledges.matching")).await,
        [5]
    );
    assert!(
        list(AttentionQuery::redrives("disbursements.credits"))
            .await
            .is_empty()
    );
    assert_eq!(
        list(AttentionQuery {
            states: AttentionState::PENDING.to_vec(),
            ..AttentionQuery::default()
        })
        .await,
        [3, 4, 5, 6]
    );
    assert_eq!(
        list(AttentionQuery {
            states: vec![AttentionState::Open],
            ..AttentionQuery::default()
        })
        .await,
        [3, 4, 6]
    );
    let counts = queue.attention_counts().await.unwrap();
    let count = |consumer: &str, kind, state| {
        counts
            .iter()
            .find(|c| c.consumer == consumer && c.kind == kind && c.state == state)
            .map_or(0, |c| c.count)
    };
    assert_eq!(
        count(
            "pledges.matching",
            AttentionKind::Refused,
            AttentionState::Open
        ),
        2
    );
    assert_eq!(
        count(
            "pledges.matching",
            AttentionKind::Failed,
            AttentionState::RedriveRequested
        ),
        1
    );
    assert_eq!(
        count(
            "disbursements.credits",
            AttentionKind::Undecodable,
            AttentionState::Open
        ),
        1
    );
}

pub async fn redrives_meet_their_consumer_through_the_table<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let item = store
        .attention()
        .park(parked("pledges.matching", 12, AttentionKind::Refused), None)
        .await
        .unwrap();
    assert_eq!(
        store
            .attention()
            .request_redrive(item.id + 100)
            .await
            .unwrap(),
        None
    );

    // Another instance — another process — asks; the consumer's instance finds the request.
    let operator = h.reopen(StoreOptions::default()).await;
    let requested = operator
        .attention()
        .request_redrive(item.id)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(requested.state, AttentionState::RedriveRequested);
    let found = store
        .attention()
        .attention_items(&AttentionQuery::redrives("pledges.matching"))
        .await
        .unwrap();
    assert_eq!(found.iter().map(|i| i.id).collect::<Vec<_>>(), [item.id]);

    // Still refused: open again, one attempt more, with this attempt's cause.
    let failed = store
        .attention()
        .settle_redrive(
            item.id,
            Redriven::StillFailing {
                kind: AttentionKind::Refused,
                reason: "MATCHING_POOL_EXPIRED".into(),
                cause: "expired".into(),
            },
        )
        .await
        .unwrap()
        .unwrap();
    assert_eq!(failed.state, AttentionState::Open);
    assert_eq!(failed.attempts, item.attempts + 1);
    assert_eq!(
        (failed.reason.as_str(), failed.cause.as_str()),
        ("MATCHING_POOL_EXPIRED", "expired")
    );
    // Nothing waits for a re-drive now, so settling again changes nothing.
    assert_eq!(
        store
            .attention()
            .settle_redrive(item.id, Redriven::Resolved)
            .await
            .unwrap(),
        None
    );

    operator.attention().request_redrive(item.id).await.unwrap();
    let resolved = store
        .attention()
        .settle_redrive(item.id, Redriven::Resolved)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(resolved.state, AttentionState::Resolved);
    assert_eq!(resolved.attempts, item.attempts + 2);
    assert_eq!(
        resolved.cause, "expired",
        "the last cause is kept for the record"
    );
    // Two processes finishing the same re-drive: the first settles it.
    assert_eq!(
        store
            .attention()
            .settle_redrive(item.id, Redriven::Resolved)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        operator
            .attention()
            .attention_item(item.id)
            .await
            .unwrap()
            .map(|i| (i.state, i.attempts)),
        Some((AttentionState::Resolved, item.attempts + 2))
    );
}
