//! Inclusion proofs: the envelopes from a position to a signed checkpoint, whose chain,
//! recomputed from the first one's `prev_hash`, must end at the checkpoint's hash.

use fundtrail_proto::v1;
use fundtrail_store::{EventStore, StoreError};

use crate::chain;
use crate::checkpoint::{MalformedCheckpoint, SignedCheckpoint};
use crate::envelope::{Envelope, MalformedEnvelope};

/// Most payload and metadata bytes one proof carries: a gRPC message must stay under the
/// 4 MiB clients accept by default.
pub const MAX_PROOF_BYTES: usize = 3 * 1024 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub checkpoint: SignedCheckpoint,
    pub envelopes: Vec<Envelope>,
}

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
            envelopes.push(Envelope::from(event));
            next += 1;
        }
    }
    Ok(InclusionProof {
        checkpoint,
        envelopes,
    })
}

/// Why a proof does not prove inclusion.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the proof has no envelopes")]
    Empty,
    #[error("the envelopes are not consecutive: expected position {expected}, found {found}")]
    Gap { expected: u64, found: u64 },
    #[error("position {position} (stream {stream}): prev_hash is not the previous hash")]
    Broken { position: u64, stream: String },
    #[error(
        "position {position} (stream {stream}): the envelope's fields do not hash to its \
         stored hash (altered)"
    )]
    Altered { position: u64, stream: String },
    #[error(
        "the chain ends at position {position} with {}, but the checkpoint signs {} at {}",
        hex::encode(.hash), hex::encode(.signed), .checkpoint
    )]
    Mismatch {
        position: u64,
        hash: [u8; 32],
        checkpoint: u64,
        signed: [u8; 32],
    },
    #[error("the checkpoint's signature does not verify")]
    BadSignature,
    #[error("the checkpoint is signed by {}, not the trusted key", hex::encode(.0))]
    UntrustedKey([u8; 32]),
    #[error(transparent)]
    MalformedEnvelope(#[from] MalformedEnvelope),
    #[error(transparent)]
    MalformedCheckpoint(#[from] MalformedCheckpoint),
    #[error("the proof has no checkpoint")]
    NoCheckpoint,
}

impl TryFrom<v1::InclusionProof> for InclusionProof {
    type Error = ProofError;

    fn try_from(p: v1::InclusionProof) -> Result<Self, Self::Error> {
        Ok(Self {
            checkpoint: p.checkpoint.ok_or(ProofError::NoCheckpoint)?.try_into()?,
            envelopes: p
                .envelopes
                .into_iter()
                .map(Envelope::try_from)
                .collect::<Result<_, _>>()?,
        })
    }
}

impl From<&InclusionProof> for v1::InclusionProof {
    fn from(p: &InclusionProof) -> Self {
        Self {
            checkpoint: Some((&p.checkpoint).into()),
            envelopes: p.envelopes.iter().map(Into::into).collect(),
        }
    }
}

impl InclusionProof {
    /// Checks the proof; on success the first envelope is part of the signed history, exactly
    /// as given.
    pub fn verify(&self, trusted: Option<[u8; 32]>) -> Result<(), ProofError> {
        let cp = &self.checkpoint;
        if trusted.is_some_and(|key| key != cp.public_key) {
            return Err(ProofError::UntrustedKey(cp.public_key));
        }
        if !cp.signature_valid() {
            return Err(ProofError::BadSignature);
        }
        let first = self.envelopes.first().ok_or(ProofError::Empty)?;
        let mut hash = first.prev_hash;
        let mut expected = first.position;
        for e in &self.envelopes {
            if e.position != expected {
                return Err(ProofError::Gap {
                    expected,
                    found: e.position,
                });
            }
            if e.prev_hash != hash {
                return Err(ProofError::Broken {
                    position: e.position,
                    stream: e.stream.clone(),
                });
            }
            match chain::link(&hash, e) {
                Some(computed) if computed == e.hash => hash = computed,
                _ => {
                    return Err(ProofError::Altered {
                        position: e.position,
                        stream: e.stream.clone(),
                    });
                }
            }
            expected += 1;
        }
        let last = expected - 1;
        if last != cp.position || hash != cp.hash {
            return Err(ProofError::Mismatch {
                position: last,
                hash,
                checkpoint: cp.position,
                signed: cp.hash,
            });
        }
        Ok(())
    }
}
