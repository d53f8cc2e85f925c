//! The Audit API's protobuf messages read into the verifier's plain structs, and back. Only
//! the byte fields' lengths are checked here: what the fields mean is checked by the rest of
//! the crate, whichever way the values came.

use fundtrail_proto::v1;
use uuid::Uuid;

use crate::checkpoint::{MalformedCheckpoint, SignedCheckpoint};
use crate::envelope::{Envelope, MalformedEnvelope};
use crate::merkle::Hash;
use crate::proof::{InclusionProof, ProofError};
use crate::tree::{
    ConsistencyProof, DonorEvents, EventInclusion, TreeInclusionProof, TreeProofError,
};

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

fn hashes(list: Vec<Vec<u8>>) -> Result<Vec<Hash>, TreeProofError> {
    list.into_iter()
        .enumerate()
        .map(|(i, h)| {
            fixed(&h).map_err(|len| {
                TreeProofError::Malformed(format!("hash {i} of the proof is {len} bytes, not 32"))
            })
        })
        .collect()
}

fn note(checkpoint: Option<v1::TreeCheckpoint>) -> Result<String, TreeProofError> {
    checkpoint
        .map(|c| c.note)
        .ok_or_else(|| TreeProofError::Malformed("the answer has no checkpoint".to_owned()))
}

impl TryFrom<v1::EventInclusion> for EventInclusion {
    type Error = TreeProofError;

    fn try_from(e: v1::EventInclusion) -> Result<Self, Self::Error> {
        let envelope = e
            .envelope
            .ok_or_else(|| TreeProofError::Malformed("an event without its envelope".to_owned()))?;
        Ok(Self {
            envelope: Envelope::try_from(envelope)
                .map_err(|e| TreeProofError::Malformed(e.to_string()))?,
            leaf_index: e.leaf_index,
            tree_size: e.tree_size,
            hashes: hashes(e.hashes)?,
        })
    }
}

impl From<&EventInclusion> for v1::EventInclusion {
    fn from(e: &EventInclusion) -> Self {
        Self {
            envelope: Some((&e.envelope).into()),
            leaf_index: e.leaf_index,
            tree_size: e.tree_size,
            hashes: e.hashes.iter().map(|h| h.to_vec()).collect(),
        }
    }
}

impl TryFrom<v1::TreeInclusionProof> for TreeInclusionProof {
    type Error = TreeProofError;

    fn try_from(p: v1::TreeInclusionProof) -> Result<Self, Self::Error> {
        Ok(Self {
            checkpoint: note(p.checkpoint)?,
            event: p
                .event
                .ok_or_else(|| TreeProofError::Malformed("the proof has no event".to_owned()))?
                .try_into()?,
        })
    }
}

impl TryFrom<v1::ConsistencyProof> for ConsistencyProof {
    type Error = TreeProofError;

    fn try_from(p: v1::ConsistencyProof) -> Result<Self, Self::Error> {
        Ok(Self {
            from: p.from.map(|c| c.note),
            to: note(p.to)?,
            from_size: p.from_size,
            hashes: hashes(p.hashes)?,
        })
    }
}

impl TryFrom<v1::DonorReceiptsProof> for DonorEvents {
    type Error = TreeProofError;

    fn try_from(p: v1::DonorReceiptsProof) -> Result<Self, Self::Error> {
        Ok(Self {
            checkpoint: note(p.checkpoint)?,
            events: p
                .events
                .into_iter()
                .map(EventInclusion::try_from)
                .collect::<Result<_, _>>()?,
            next_after_position: p.next_after_position,
        })
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
