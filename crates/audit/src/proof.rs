//! Building inclusion proofs from a store: the envelopes from a position to a signed
//! checkpoint. Checking one is [`InclusionProof::verify`], in `fundtrail-verifier`.

use fundtrail_store::{EventStore, StoreError};
use fundtrail_verifier::{InclusionProof, SignedCheckpoint};

use crate::stored;

/// Most payload and metadata bytes one proof carries: a gRPC message must stay under the
/// 4 MiB clients accept by default.
pub const MAX_PROOF_BYTES: usize = 3 * 1024 * 1024;

/// Why a proof could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ProveError {
    #[error("position {position} is after the checkpoint at {checkpoint}")]
    AfterCheckpoint { position: u64, checkpoint: u64 },
    #[error("position 0 does not exist; positions start at 1")]
    Zero,
    #[error("no event at position {0}: the store no longer holds what the checkpoint covers")]
    Missing(u64),
    #[error(
        "the proof from {position} to the checkpoint at {checkpoint} is over {MAX_PROOF_BYTES} \
         bytes; ask for a checkpoint closer to the position"
    )]
    TooLarge { position: u64, checkpoint: u64 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Reads the envelopes from `position` to the checkpoint's position.
pub async fn prove(
    store: &dyn EventStore,
    checkpoint: SignedCheckpoint,
    position: u64,
) -> Result<InclusionProof, ProveError> {
    if position == 0 {
        return Err(ProveError::Zero);
    }
    if position > checkpoint.position {
        return Err(ProveError::AfterCheckpoint {
            position,
            checkpoint: checkpoint.position,
        });
    }
    let mut envelopes = Vec::new();
    let mut bytes = 0usize;
    let mut next = position;
    while next <= checkpoint.position {
        let batch = store.read_all(next, 500).await?;
        if batch.is_empty() {
            return Err(ProveError::Missing(next));
        }
        for event in batch {
            if next > checkpoint.position {
                break;
            }
            if event.position != next {
                return Err(ProveError::Missing(next));
            }
            bytes += event.payload.len() + event.metadata.len() + event.stream.len() + 128;
            if bytes > MAX_PROOF_BYTES {
                return Err(ProveError::TooLarge {
                    position,
                    checkpoint: checkpoint.position,
                });
            }
            envelopes.push(stored::envelope(event));
            next += 1;
        }
    }
    Ok(InclusionProof {
        checkpoint,
        envelopes,
    })
}
