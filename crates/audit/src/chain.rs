//! The hash chain of ARCHITECTURE.md §3, written again from its definition.
//!
//! The store has its own implementation; an auditor's verifier must not trust the code it is
//! checking, so this one shares nothing with it but SHA-256. Tests hold both to the same
//! independently computed vectors.
//!
//! ```text
//! hash(0) = 32 zero bytes
//! hash(n) = SHA-256( hash(n-1)
//!                    || u64be(position)
//!                    || event_id (16 raw bytes)
//!                    || lp(stream utf-8) || u64be(version)
//!                    || lp(event_type utf-8)
//!                    || i64be(recorded_at micros)
//!                    || lp(payload) || lp(metadata) )
//! lp(x)   = u32be(length of x in bytes) || x
//! ```

use sha2::{Digest, Sha256};

use crate::envelope::Envelope;

/// hash(0).
pub const GENESIS: [u8; 32] = [0; 32];

/// The longest field the definition can length-prefix.
pub const MAX_FIELD: usize = u32::MAX as usize;

/// hash(n) given hash(n-1) and event n. `None` when a field is too long to be
/// length-prefixed in four bytes: such an envelope cannot be part of a valid chain.
pub fn link(prev: &[u8; 32], event: &Envelope) -> Option<[u8; 32]> {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(event.position.to_be_bytes());
    h.update(event.event_id.as_bytes());
    lp(&mut h, event.stream.as_bytes())?;
    h.update(event.version.to_be_bytes());
    lp(&mut h, event.event_type.as_bytes())?;
    h.update(event.recorded_at.to_be_bytes());
    lp(&mut h, &event.payload)?;
    lp(&mut h, &event.metadata)?;
    Some(h.finalize().into())
}

fn lp(h: &mut Sha256, bytes: &[u8]) -> Option<()> {
    let len = u32::try_from(bytes.len()).ok()?;
    h.update(len.to_be_bytes());
    h.update(bytes);
    Some(())
}

#[cfg(test)]
mod tests {
    use fundtrail_store::chain::{ChainFields, next_hash};
    use proptest::prelude::*;
    use uuid::Uuid;

    use super::*;

    fn envelope(position: u64, id: u128, stream: &str, payload: &[u8]) -> Envelope {
        Envelope {
            position,
            event_id: Uuid::from_u128(id),
            stream: stream.to_owned(),
            version: 0,
            event_type: "fundtrail.v1.PledgeRecorded".to_owned(),
            payload: payload.to_vec(),
            metadata: Vec::new(),
            recorded_at: 1_700_000_000_000_000,
            prev_hash: GENESIS,
            hash: GENESIS,
        }
    }

    /// The vector of ARCHITECTURE.md §3 computed with Python's hashlib (see the store's chain
    /// tests for the script).
    #[test]
    fn agrees_with_the_independent_vector() {
        let first = envelope(
            1,
            0x0011_2233_4455_6677_8899_aabb_ccdd_eeff,
            "pledge-abc",
            &[0x08, 0x01],
        );
        assert_eq!(
            hex::encode(link(&GENESIS, &first).unwrap()),
            "dadc0584656d170573118a1251106cc8b114275cbb27cd2a395780d9a6a19f4c"
        );
    }

    proptest! {
        #[test]
        fn agrees_with_the_store(
            prev in any::<[u8; 32]>(),
            position in any::<u64>(),
            id in any::<u128>(),
            stream in ".{0,30}",
            version in any::<u64>(),
            event_type in ".{0,30}",
            recorded_at in any::<i64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..200),
            metadata in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let e = Envelope {
                position, event_id: Uuid::from_u128(id), stream, version, event_type,
                payload, metadata, recorded_at, prev_hash: prev, hash: prev,
            };
            let fields = ChainFields {
                position, event_id: &e.event_id, stream: &e.stream, version,
                event_type: &e.event_type, recorded_at, payload: &e.payload,
                metadata: &e.metadata,
            };
            prop_assert_eq!(link(&prev, &e), Some(next_hash(&prev, &fields)));
        }
    }
}
