//! Signed checkpoints: an ed25519 signature over `u64be(position) || hash` (40 bytes), so an
//! auditor who keeps one can later show that nothing at or before its position changed.

use ed25519_dalek::{Signature, VerifyingKey};

/// The 40 bytes a checkpoint's signature covers.
pub fn message(position: u64, hash: &[u8; 32]) -> [u8; 40] {
    let mut bytes = [0u8; 40];
    bytes[..8].copy_from_slice(&position.to_be_bytes());
    bytes[8..].copy_from_slice(hash);
    bytes
}

/// A chain head signed by the fund's audit key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    pub position: u64,
    pub hash: [u8; 32],
    pub signature: [u8; 64],
    /// RFC 3339; not covered by the signature.
    pub signed_at: String,
    pub public_key: [u8; 32],
}

impl SignedCheckpoint {
    /// Whether the signature is the checkpoint key's over this position and hash.
    pub fn signature_valid(&self) -> bool {
        let Ok(key) = VerifyingKey::from_bytes(&self.public_key) else {
            return false;
        };
        key.verify_strict(
            &message(self.position, &self.hash),
            &Signature::from_bytes(&self.signature),
        )
        .is_ok()
    }
}

/// A checkpoint from the wire whose byte fields have the wrong length.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("checkpoint at position {position}: {field} is {len} bytes, expected {expected}")]
pub struct MalformedCheckpoint {
    pub position: u64,
    pub field: &'static str,
    pub len: usize,
    pub expected: usize,
}

/// A public key given by a person that is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an ed25519 public key: expected 64 hexadecimal digits")]
pub struct BadPublicKey(pub String);

/// Parses a public key given as 64 hex digits.
pub fn parse_public_key(text: &str) -> Result<[u8; 32], BadPublicKey> {
    let mut key = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut key)
        .ok()
        .filter(|()| VerifyingKey::from_bytes(&key).is_ok())
        .map(|()| key)
        .ok_or_else(|| BadPublicKey(text.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::sign;

    #[test]
    fn a_signature_covers_position_and_hash() {
        let cp = sign(7, 42, [9; 32]);
        assert!(cp.signature_valid());
        assert!(
            !SignedCheckpoint {
                position: 43,
                ..cp.clone()
            }
            .signature_valid()
        );
        assert!(
            !SignedCheckpoint {
                hash: [8; 32],
                ..cp.clone()
            }
            .signature_valid()
        );
        let other = sign(8, 42, [9; 32]);
        assert!(
            !SignedCheckpoint {
                public_key: other.public_key,
                ..cp
            }
            .signature_valid()
        );
    }

    #[test]
    fn public_keys_are_64_hex_digits_of_a_curve_point() {
        let key = sign(7, 1, [0; 32]).public_key;
        assert_eq!(
            parse_public_key(&format!(" {}\n", hex::encode(key))),
            Ok(key)
        );
        assert!(parse_public_key("abc").is_err());
        assert!(parse_public_key(&"zz".repeat(32)).is_err());
    }
}
