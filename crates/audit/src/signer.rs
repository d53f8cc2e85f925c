//! Signing the store's head: on demand, and periodically while the history grows.
//!
//! A checkpoint is only signed over a chain that was recomputed from the previous checkpoint
//! (from genesis for the first one), so the fund never signs a history that was altered
//! behind the store's back since it last signed.

use std::time::Duration;

use chrono::{SecondsFormat, Utc};
use fundtrail_store::{EventStore, StoreError};
use tokio_util::sync::CancellationToken;

use fundtrail_verifier::{ChainVerifier, Finding, Problem, SignedCheckpoint};

use crate::key::CheckpointSigner;
use crate::storage::{CheckpointStore, StorageError};
use crate::stored;

/// Events read per query while recomputing the chain.
const BATCH: usize = 1000;

/// Why the head was not signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    #[error("the store is empty: there is no head to sign")]
    Empty,
    #[error("refusing to sign: the history no longer verifies: {0}")]
    Tampered(Finding),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Signs the store's current head and stores the checkpoint; returns the stored one when the
/// head is already signed by this key.
pub async fn sign_head(
    store: &dyn EventStore,
    checkpoints: &CheckpointStore,
    signer: &CheckpointSigner,
) -> Result<SignedCheckpoint, SignError> {
    let head = store.head().await?;
    if head.position == 0 {
        return Err(SignError::Empty);
    }
    // Only this key's own checkpoints are anchors: a row written into the table by anyone
    // else must not let the signer skip re-reading the history after it.
    let previous = checkpoints.latest_by(&signer.public_key()).await?;
    if let Some(cp) = previous.as_ref().filter(|cp| !cp.signature_valid()) {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: None,
            problem: Problem::BadSignature,
        }));
    }
    let mut verifier = match &previous {
        Some(cp) if cp.position > head.position => {
            return Err(SignError::Tampered(Finding {
                position: cp.position,
                stream: None,
                problem: Problem::Truncated {
                    last: head.position,
                },
            }));
        }
        Some(cp) => anchor(store, cp).await?,
        None => ChainVerifier::new(),
    };
    let mut next = verifier.head().0 + 1;
    while next <= head.position {
        let events = store.read_all(next, BATCH).await?;
        if events.is_empty() {
            break;
        }
        for event in events
            .into_iter()
            .take_while(|e| e.position <= head.position)
        {
            if let Some(finding) = verifier.push(&stored::envelope(event)) {
                return Err(SignError::Tampered(finding.clone()));
            }
        }
        next = verifier.head().0 + 1;
    }
    let (position, hash) = verifier.head();
    if position != head.position {
        return Err(SignError::Tampered(Finding {
            position: position + 1,
            stream: None,
            problem: Problem::Truncated { last: position },
        }));
    }
    if let Some(cp) = previous.filter(|cp| {
        cp.position == position && cp.hash == hash && cp.public_key == signer.public_key()
    }) {
        return Ok(cp);
    }
    let checkpoint = signer.sign(
        position,
        hash,
        Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true),
    );
    checkpoints.save(&checkpoint).await?;
    Ok(checkpoint)
}

/// A verifier resuming after a checkpoint: the event at its position must still hash, from
/// its stored `prev_hash`, to the signed hash.
async fn anchor(store: &dyn EventStore, cp: &SignedCheckpoint) -> Result<ChainVerifier, SignError> {
    let event = store
        .read_all(cp.position, 1)
        .await?
        .into_iter()
        .next()
        .filter(|e| e.position == cp.position);
    let Some(event) = event else {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: None,
            problem: Problem::OutOfOrder { found: 0 },
        }));
    };
    let envelope = stored::envelope(event);
    let mut verifier = ChainVerifier::anchored(cp.position - 1, envelope.prev_hash);
    if let Some(finding) = verifier.push(&envelope) {
        return Err(SignError::Tampered(finding.clone()));
    }
    if verifier.head().1 != cp.hash {
        return Err(SignError::Tampered(Finding {
            position: cp.position,
            stream: Some(envelope.stream),
            problem: Problem::CheckpointMismatch {
                signed: cp.hash,
                recomputed: verifier.head().1,
            },
        }));
    }
    Ok(verifier)
}

/// Signs the head every `interval` when it moved since the last checkpoint, until
/// `shutdown`.
pub async fn run_periodic(
    store: std::sync::Arc<dyn EventStore>,
    checkpoints: CheckpointStore,
    signer: CheckpointSigner,
    interval: Duration,
    shutdown: CancellationToken,
) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last_signed = 0;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticks.tick() => {}
        }
        match store.head().await {
            Ok(head) if head.position > last_signed => {}
            Ok(_) => continue,
            Err(error) => {
                tracing::warn!(%error, "checkpoint signer: cannot read the head");
                continue;
            }
        }
        match sign_head(store.as_ref(), &checkpoints, &signer).await {
            Ok(cp) => {
                last_signed = cp.position;
                tracing::info!(position = cp.position, hash = %hex::encode(cp.hash), "signed a checkpoint");
            }
            Err(SignError::Tampered(finding)) => {
                // Loud and repeated on purpose: someone must look at the database.
                tracing::error!(%finding, "checkpoint signer: the history was altered; not signing");
            }
            Err(error) => tracing::warn!(%error, "checkpoint signer: could not sign"),
        }
    }
}
