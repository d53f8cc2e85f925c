//! Histories and checkpoints for the tests, made with the definitions they are checked
//! against.

use ed25519_dalek::{Signer, SigningKey};
use uuid::Uuid;

use crate::chain::{self, GENESIS};
use crate::checkpoint::{SignedCheckpoint, message};
use crate::envelope::Envelope;

/// A checkpoint signed by the key with seed `[seed; 32]`.
pub fn sign(seed: u8, position: u64, hash: [u8; 32]) -> SignedCheckpoint {
    let key = SigningKey::from_bytes(&[seed; 32]);
    SignedCheckpoint {
        position,
        hash,
        signature: key.sign(&message(position, &hash)).to_bytes(),
        signed_at: String::new(),
        public_key: key.verifying_key().to_bytes(),
    }
}

/// The public key of the seed `[seed; 32]`.
pub fn public_key(seed: u8) -> [u8; 32] {
    SigningKey::from_bytes(&[seed; 32])
        .verifying_key()
        .to_bytes()
}

/// An intact history of `n` events over three streams.
pub fn history(n: u64) -> Vec<Envelope> {
    let mut prev = GENESIS;
    (1..=n)
        .map(|position| {
            let mut e = Envelope {
                position,
                event_id: Uuid::from_u128(u128::from(position)),
                stream: format!("pledge-{}", position % 3),
                version: position / 3,
                event_type: "fundtrail.v1.PledgeRecorded".to_owned(),
                payload: vec![u8::try_from(position % 250).unwrap(); 4],
                metadata: b"m".to_vec(),
                recorded_at: i64::try_from(position).unwrap() * 1000,
                prev_hash: prev,
                hash: GENESIS,
            };
            e.hash = chain::link(&prev, &e).unwrap();
            prev = e.hash;
            e
        })
        .collect()
}
