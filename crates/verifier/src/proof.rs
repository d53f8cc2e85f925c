//! Inclusion proofs: the envelopes from a position to a signed checkpoint, whose chain,
//! recomputed from the first one's `prev_hash`, must end at the checkpoint's hash.

use crate::chain;
use crate::checkpoint::{MalformedCheckpoint, SignedCheckpoint};
use crate::envelope::{Envelope, MalformedEnvelope};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InclusionProof {
    pub checkpoint: SignedCheckpoint,
    pub envelopes: Vec<Envelope>,
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
    /// A proof from the wire without its checkpoint.
    #[error("the proof has no checkpoint")]
    NoCheckpoint,
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
