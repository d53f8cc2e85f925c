//! The Audit API's protobuf messages read into the verifier's plain structs, and back. Only
//! the byte fields' lengths are checked here: what the fields mean is checked by the rest of
//! the crate, whichever way the values came.

use fundtrail_proto::v1;
use uuid::Uuid;

use crate::checkpoint::{MalformedCheckpoint, SignedCheckpoint};
use crate::envelope::{Envelope, MalformedEnvelope};
use crate::proof::{InclusionProof, ProofError};

/// `bytes` as exactly `N` bytes, or its length.
fn fixed<const N: usize>(bytes: &[u8]) -> Result<[u8; N], usize> {
    bytes.try_into().map_err(|_| bytes.len())
}

impl From<&Envelope> for v1::EventEnvelope {
    fn from(e: &Envelope) -> Self {
        Self {
            position: e.position,
            event_id: e.event_id.as_bytes().to_vec(),
            stream: e.stream.clone(),
            version: e.version,
            event_type: e.event_type.clone(),
            payload: e.payload.clone(),
            metadata: e.metadata.clone(),
            recorded_at: e.recorded_at,
            prev_hash: e.prev_hash.to_vec(),
            hash: e.hash.to_vec(),
        }
    }
}

impl TryFrom<v1::EventEnvelope> for Envelope {
    type Error = MalformedEnvelope;

    fn try_from(e: v1::EventEnvelope) -> Result<Self, Self::Error> {
        let position = e.position;
        let bad = |field, expected| {
            move |len| MalformedEnvelope {
                position,
                field,
                len,
                expected,
            }
        };
        Ok(Self {
            position,
            event_id: Uuid::from_bytes(fixed(&e.event_id).map_err(bad("event_id", 16))?),
            stream: e.stream,
            version: e.version,
            event_type: e.event_type,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
            prev_hash: fixed(&e.prev_hash).map_err(bad("prev_hash", 32))?,
            hash: fixed(&e.hash).map_err(bad("hash", 32))?,
        })
    }
}

impl From<&SignedCheckpoint> for v1::SignedCheckpoint {
    fn from(c: &SignedCheckpoint) -> Self {
        Self {
            position: c.position,
            hash: c.hash.to_vec(),
            signature: c.signature.to_vec(),
            signed_at: c.signed_at.clone(),
            public_key: c.public_key.to_vec(),
        }
    }
}

impl TryFrom<v1::SignedCheckpoint> for SignedCheckpoint {
    type Error = MalformedCheckpoint;

    fn try_from(c: v1::SignedCheckpoint) -> Result<Self, Self::Error> {
        let position = c.position;
        let bad = |field, expected| {
            move |len| MalformedCheckpoint {
                position,
                field,
                len,
                expected,
            }
        };
        Ok(Self {
            position,
            hash: fixed(&c.hash).map_err(bad("hash", 32))?,
            signature: fixed(&c.signature).map_err(bad("signature", 64))?,
            signed_at: c.signed_at,
            public_key: fixed(&c.public_key).map_err(bad("public_key", 32))?,
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_fields_of_the_wrong_length_are_named() {
        let wire = v1::SignedCheckpoint {
            position: 7,
            hash: vec![0; 31],
            signature: vec![0; 64],
            signed_at: String::new(),
            public_key: vec![0; 32],
        };
        assert_eq!(
            SignedCheckpoint::try_from(wire).unwrap_err(),
            MalformedCheckpoint {
                position: 7,
                field: "hash",
                len: 31,
                expected: 32
            }
        );
        let wire = v1::EventEnvelope {
            position: 3,
            event_id: vec![0; 15],
            prev_hash: vec![0; 32],
            hash: vec![0; 32],
            ..Default::default()
        };
        assert_eq!(Envelope::try_from(wire).unwrap_err().field, "event_id");
    }
}
