//! The verifier's chain and the store's, written apart from one definition, agree on every
//! input. The comparison lives here because the verifier may not depend on the store.

use fundtrail_store::chain::{ChainFields, next_hash};
use fundtrail_verifier::{Envelope, chain};
use proptest::prelude::*;
use uuid::Uuid;

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
        prop_assert_eq!(chain::link(&prev, &e), Some(next_hash(&prev, &fields)));
    }
}
