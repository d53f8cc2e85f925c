//! The hash chain of docs/architecture.md §3, written again from its definition.
//!
//! The store has its own implementation; an auditor's verifier must not trust the code it is
//! checking, so this one shares nothing with it but SHA-256. Tests hold both to the same
//! independently computed vectors (the comparison with the store's is in `fundtrail-audit`,
//! which may depend on the store).
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
    use uuid::Uuid;

    use super::*;

    /// The vector of docs/architecture.md §3 computed with Python's hashlib (see the store's chain
    /// tests for the script).
    #[test]
    fn agrees_with_the_independent_vector() {
        let first = Envelope {
            position: 1,
            event_id: Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff),
            stream: "pledge-abc".to_owned(),
            version: 0,
            event_type: "fundtrail.v1.PledgeRecorded".to_owned(),
            payload: vec![0x08, 0x01],
            metadata: Vec::new(),
            recorded_at: 1_700_000_000_000_000,
            prev_hash: GENESIS,
            hash: GENESIS,
        };
        assert_eq!(
            hex::encode(link(&GENESIS, &first).unwrap()),
            "dadc0584656d170573118a1251106cc8b114275cbb27cd2a395780d9a6a19f4c"
        );
    }
}
