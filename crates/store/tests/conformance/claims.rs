//! Values unique across the store: one stream holds a claim at a time, decided under the
//! writer's lock whatever the streams, the batches or the store instances.

use std::sync::Arc;

use fundtrail_store::{AppendRequest, EventStore, ExpectedVersion, StoreError, StoreOptions};

use crate::harness::Harness;
use crate::util::events;

/// 16 writers on two instances, each on a stream of its own, race for each of 10 values:
/// exactly one append per value is stored, and every loser is told who holds it.
pub async fn one_holder_per_claim<H: Harness>() {
    const VALUES: usize = 10;
    const CONTENDERS: usize = 16;
    let h = H::new().await;
    let stores = [h.store(), h.reopen(StoreOptions::default()).await];
    for value in 0..VALUES {
        let claim = format!("bank-reference:REF-{value}");
        let tasks: Vec<_> = (0..CONTENDERS)
            .map(|c| {
                let store: Arc<dyn EventStore> = stores[c % 2].clone();
                let claim = claim.clone();
                tokio::spawn(async move {
                    let stream = format!("pledge-{value}x{c}");
                    let outcome = store
                        .append(
                            AppendRequest::new(&stream, ExpectedVersion::Any, events(1))
                                .with_claim(claim),
                        )
                        .await;
                    (stream, outcome)
                })
            })
            .collect();
        let mut winner = None;
        let mut holders_named = Vec::new();
        for task in tasks {
            match task.await.unwrap() {
                (stream, Ok(_)) => {
                    assert!(winner.is_none(), "{claim} won twice");
                    winner = Some(stream);
                }
                (_, Err(StoreError::Claimed { claim: c, holder })) => {
                    assert_eq!(c, claim);
                    holders_named.push(holder);
                }
                (_, Err(other)) => panic!("unexpected {other:?}"),
            }
        }
        let winner = winner.expect("nobody won");
        assert_eq!(holders_named.len(), CONTENDERS - 1);
        assert!(
            holders_named.iter().all(|h| *h == winner),
            "{holders_named:?}"
        );
    }
    assert_eq!(h.store().head().await.unwrap().position, VALUES as u64);
}

/// A claim given back by its holder can be taken again, by another stream; a release by a
/// stream that does not hold it frees nothing; a retried request is a replay, not a clash with
/// its own claim; a refused append writes nothing.
pub async fn claims_are_given_back_by_their_holder<H: Harness>() {
    let h = H::new().await;
    let store = h.store();
    let claim = "bank-reference:CH-0042";
    let append = |stream: &str| AppendRequest::new(stream, ExpectedVersion::Any, events(1));
    let first = append("pledge-a")
        .with_claim(claim)
        .with_idempotency("rq-1", [1; 32]);
    store.append(first.clone()).await.unwrap();
    assert!(store.append(first).await.unwrap().replayed);

    store
        .append(append("pledge-b").with_release(claim))
        .await
        .unwrap();
    let head = store.head().await.unwrap();
    let refused = store.append(append("pledge-b").with_claim(claim)).await;
    assert!(
        matches!(&refused, Err(StoreError::Claimed { holder, .. }) if holder == "pledge-a"),
        "{refused:?}"
    );
    assert_eq!(store.head().await.unwrap(), head);
    // Its own stream cannot book it twice either.
    assert!(matches!(
        store.append(append("pledge-a").with_claim(claim)).await,
        Err(StoreError::Claimed { .. })
    ));

    store
        .append(append("pledge-a").with_release(claim))
        .await
        .unwrap();
    store
        .append(append("pledge-b").with_claim(claim))
        .await
        .unwrap();
    // Kept across a restart of the store.
    let reopened = h.reopen(StoreOptions::default()).await;
    assert!(matches!(
        reopened.append(append("pledge-c").with_claim(claim)).await,
        Err(StoreError::Claimed { holder, .. }) if holder == "pledge-b"
    ));
    assert!(matches!(
        reopened.append(append("pledge-c").with_claim("")).await,
        Err(StoreError::InvalidInput(_))
    ));
}
