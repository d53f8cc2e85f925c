//! The hash chain of docs/architecture.md §3 (normative: an auditor's independent verifier must
//! agree byte for byte).
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
use uuid::Uuid;

use crate::types::RecordedEvent;

/// The hash before position 1.
pub const GENESIS: [u8; 32] = [0; 32];

/// The fields of one event that the chain covers.
#[derive(Debug, Clone, Copy)]
pub struct ChainFields<'a> {
    pub position: u64,
    pub event_id: &'a Uuid,
    pub stream: &'a str,
    pub version: u64,
    pub event_type: &'a str,
    pub recorded_at: i64,
    pub payload: &'a [u8],
    pub metadata: &'a [u8],
}

impl<'a> From<&'a RecordedEvent> for ChainFields<'a> {
    fn from(event: &'a RecordedEvent) -> Self {
        Self {
            position: event.position,
            event_id: &event.event_id,
            stream: &event.stream,
            version: event.version,
            event_type: &event.event_type,
            recorded_at: event.recorded_at,
            payload: &event.payload,
            metadata: &event.metadata,
        }
    }
}

/// hash(n) from hash(n-1) and the fields of event n.
#[must_use]
pub fn next_hash(prev: &[u8; 32], fields: &ChainFields<'_>) -> [u8; 32] {
    let mut hasher = Sha256::new();
    feed(&mut hasher, prev, fields);
    hasher.finalize().into()
}

/// The exact bytes that [`next_hash`] digests, for verifiers that want to compare encodings.
#[must_use]
pub fn preimage(prev: &[u8; 32], fields: &ChainFields<'_>) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(
        32 + 8
            + 16
            + 4
            + fields.stream.len()
            + 8
            + 4
            + fields.event_type.len()
            + 8
            + 4
            + fields.payload.len()
            + 4
            + fields.metadata.len(),
    );
    feed(&mut bytes, prev, fields);
    bytes
}

/// Recomputes an event's hash from its own `prev_hash` (it does not check that `prev_hash` is
/// the previous event's hash; [`crate::EventStore::verify`] does).
#[must_use]
pub fn recompute(event: &RecordedEvent) -> [u8; 32] {
    next_hash(&event.prev_hash, &ChainFields::from(event))
}

trait Sink {
    fn put(&mut self, bytes: &[u8]);
}

impl Sink for Sha256 {
    fn put(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

fn feed(sink: &mut impl Sink, prev: &[u8; 32], fields: &ChainFields<'_>) {
    sink.put(prev);
    sink.put(&fields.position.to_be_bytes());
    sink.put(fields.event_id.as_bytes());
    length_prefixed(sink, fields.stream.as_bytes());
    sink.put(&fields.version.to_be_bytes());
    length_prefixed(sink, fields.event_type.as_bytes());
    sink.put(&fields.recorded_at.to_be_bytes());
    length_prefixed(sink, fields.payload);
    length_prefixed(sink, fields.metadata);
}

fn length_prefixed(sink: &mut impl Sink, bytes: &[u8]) {
    // Every field is far below 4 GiB: payloads are capped by the store's options (at most
    // u32::MAX, checked when a store opens) and PostgreSQL cannot hold a value over 1 GiB.
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    sink.put(&len.to_be_bytes());
    sink.put(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn hex32(text: &str) -> [u8; 32] {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).unwrap();
        out
    }

    // Computed independently with Python:
    //
    //   import hashlib, struct
    //   def lp(b): return struct.pack('>I', len(b)) + b
    //   def h(prev, pos, eid, stream, ver, et, rec, payload, meta):
    //       return hashlib.sha256(prev + struct.pack('>Q', pos) + eid + lp(stream.encode())
    //           + struct.pack('>Q', ver) + lp(et.encode()) + struct.pack('>q', rec)
    //           + lp(payload) + lp(meta)).hexdigest()
    //   h1 = h(b'\0'*32, 1, bytes.fromhex('00112233445566778899aabbccddeeff'), 'pledge-abc', 0,
    //          'fundtrail.v1.PledgeRecorded', 1700000000000000, b'\x08\x01', b'')
    //   h2 = h(bytes.fromhex(h1), 2, bytes.fromhex('0189a1b2c3d47e5f8a9b0c1d2e3f4051'),
    //          'donor-XM-DAC-7', 3, 'fundtrail.v1.DonorRegistered', -5, 'é€'.encode(),
    //          b'\xff\x00meta')
    const H1: &str = "dadc0584656d170573118a1251106cc8b114275cbb27cd2a395780d9a6a19f4c";
    const H2: &str = "591d83b8b59846cd9d62a280e438916e75546203951fde9fecd8a797cf3e7d80";
    const PREIMAGE1: &str = "0000000000000000000000000000000000000000000000000000000000000000\
        0000000000000001\
        00112233445566778899aabbccddeeff\
        0000000a706c656467652d616263\
        0000000000000000\
        0000001b66756e64747261696c2e76312e506c656467655265636f72646564\
        00060a24181e4000\
        000000020801\
        00000000";

    #[test]
    fn known_vector_matches_an_independent_implementation() {
        let id1 = Uuid::from_u128(0x0011_2233_4455_6677_8899_aabb_ccdd_eeff);
        let first = ChainFields {
            position: 1,
            event_id: &id1,
            stream: "pledge-abc",
            version: 0,
            event_type: "fundtrail.v1.PledgeRecorded",
            recorded_at: 1_700_000_000_000_000,
            payload: &[0x08, 0x01],
            metadata: &[],
        };
        assert_eq!(hex::encode(preimage(&GENESIS, &first)), PREIMAGE1);
        let h1 = next_hash(&GENESIS, &first);
        assert_eq!(h1, hex32(H1));

        let id2 = Uuid::from_u128(0x0189_a1b2_c3d4_7e5f_8a9b_0c1d_2e3f_4051);
        let second = ChainFields {
            position: 2,
            event_id: &id2,
            stream: "donor-XM-DAC-7",
            version: 3,
            event_type: "fundtrail.v1.DonorRegistered",
            recorded_at: -5,
            payload: "é€".as_bytes(),
            metadata: b"\xff\x00meta",
        };
        assert_eq!(next_hash(&h1, &second), hex32(H2));
    }

    /// A second, deliberately naive rendering of the layout, field by field.
    #[allow(clippy::cast_possible_truncation)] // test inputs are short
    fn hand_rolled(prev: &[u8; 32], f: &ChainFields<'_>) -> Vec<u8> {
        let mut out = prev.to_vec();
        out.extend(f.position.to_be_bytes());
        out.extend(f.event_id.as_bytes());
        out.extend((f.stream.len() as u32).to_be_bytes());
        out.extend(f.stream.bytes());
        out.extend(f.version.to_be_bytes());
        out.extend((f.event_type.len() as u32).to_be_bytes());
        out.extend(f.event_type.bytes());
        out.extend(f.recorded_at.to_be_bytes());
        out.extend((f.payload.len() as u32).to_be_bytes());
        out.extend(f.payload);
        out.extend((f.metadata.len() as u32).to_be_bytes());
        out.extend(f.metadata);
        out
    }

    proptest! {
        #[test]
        fn encoding_matches_the_hand_rolled_layout(
            prev in any::<[u8; 32]>(),
            position in any::<u64>(),
            id in any::<u128>(),
            stream in ".{0,40}",
            version in any::<u64>(),
            event_type in ".{0,40}",
            recorded_at in any::<i64>(),
            payload in proptest::collection::vec(any::<u8>(), 0..300),
            metadata in proptest::collection::vec(any::<u8>(), 0..300),
        ) {
            let id = Uuid::from_u128(id);
            let fields = ChainFields {
                position, event_id: &id, stream: &stream, version, event_type: &event_type,
                recorded_at, payload: &payload, metadata: &metadata,
            };
            let bytes = preimage(&prev, &fields);
            prop_assert_eq!(&bytes, &hand_rolled(&prev, &fields));
            let digest: [u8; 32] = Sha256::digest(&bytes).into();
            prop_assert_eq!(next_hash(&prev, &fields), digest);
        }

        /// Length prefixes make the encoding injective: moving bytes between adjacent
        /// variable-length fields changes the hash.
        #[test]
        fn shifting_bytes_between_fields_changes_the_hash(
            payload in proptest::collection::vec(any::<u8>(), 1..50),
            metadata in proptest::collection::vec(any::<u8>(), 0..50),
        ) {
            let id = Uuid::nil();
            let base = ChainFields {
                position: 1, event_id: &id, stream: "x-1", version: 0, event_type: "t",
                recorded_at: 0, payload: &payload, metadata: &metadata,
            };
            let mut moved_metadata = vec![payload[payload.len() - 1]];
            moved_metadata.extend(&metadata);
            let moved = ChainFields {
                payload: &payload[..payload.len() - 1],
                metadata: &moved_metadata,
                ..base
            };
            prop_assert_ne!(next_hash(&GENESIS, &base), next_hash(&GENESIS, &moved));
        }
    }
}
