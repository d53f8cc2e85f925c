//! The fund's checkpoint signing key: made once, kept in a file only its owner can read, and
//! signing the 40 bytes `fundtrail-verifier` checks, and the C2SP checkpoints of the Merkle
//! tree under the log's origin.
//!
//! One key signs both. They cannot be mistaken for each other: a chain checkpoint is exactly
//! 40 bytes beginning with a zero byte (positions stay below 2^56), while a note is text of at
//! least 49 bytes with no control character but newlines.

use std::fmt;
use std::io::Write;
use std::path::Path;

use ed25519_dalek::{Signer, SigningKey};
use fundtrail_verifier::SignedCheckpoint;
use fundtrail_verifier::checkpoint;
use fundtrail_verifier::merkle::Hash;
use fundtrail_verifier::note::{self, Checkpoint, LogKey, Note};

/// Why a signing key could not be loaded, made or saved.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("reading the signing key {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("writing the signing key {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the signing key {path} is not an ed25519 key: expected 64 hexadecimal digits \
         (the 32-byte secret seed) on one line"
    )]
    Format { path: String },
    #[error("no randomness for a new signing key: {0}")]
    Random(String),
    #[error(
        "{0:?} is not a log origin: it must be non-empty, without spaces or '+' \
         (a schema-less URL such as fund.example/ledger)"
    )]
    Origin(String),
}

/// The fund's checkpoint signing key.
#[derive(Clone)]
pub struct CheckpointSigner {
    key: SigningKey,
    /// The tree checkpoints' origin line, also the key's name in their signature line.
    origin: String,
}

impl fmt::Debug for CheckpointSigner {
    // The secret stays out of logs; the public half identifies the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CheckpointSigner")
            .field("public_key", &hex::encode(self.public_key()))
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

impl CheckpointSigner {
    pub fn from_seed(seed: [u8; 32]) -> Self {
        let key = SigningKey::from_bytes(&seed);
        let origin = default_origin(&key.verifying_key().to_bytes());
        Self { key, origin }
    }

    /// The same key signing tree checkpoints under another origin.
    pub fn with_origin(self, origin: &str) -> Result<Self, KeyError> {
        let origin = origin.trim();
        if !note::valid_key_name(origin) {
            return Err(KeyError::Origin(origin.to_owned()));
        }
        Ok(Self {
            origin: origin.to_owned(),
            ..self
        })
    }

    /// The origin of the tree checkpoints this key signs.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// What a verifier needs to check the tree checkpoints: the origin and the public key.
    pub fn log_key(&self) -> LogKey {
        LogKey::new(&self.origin, self.public_key())
    }

    /// The tree checkpoint of `size` leaves with `root`, as a signed note.
    pub fn sign_tree(&self, size: u64, root: Hash) -> String {
        let body = Checkpoint {
            origin: self.origin.clone(),
            size,
            root,
            extensions: Vec::new(),
        }
        .body();
        Note::sign(body, &self.origin, &self.key).render()
    }

    /// The key itself, for a witness signing with a key kept in the same file format.
    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    pub fn generate() -> Result<Self, KeyError> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|e| KeyError::Random(e.to_string()))?;
        Ok(Self::from_seed(seed))
    }

    /// Reads a key file: the 32-byte seed as 64 hex digits.
    pub fn load(path: &Path) -> Result<Self, KeyError> {
        let text = std::fs::read_to_string(path).map_err(|source| KeyError::Read {
            path: path.display().to_string(),
            source,
        })?;
        let mut seed = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut seed).map_err(|_| KeyError::Format {
            path: path.display().to_string(),
        })?;
        Ok(Self::from_seed(seed))
    }

    /// Loads the key file, or makes a new key there (readable by its owner only) when there
    /// is none.
    pub fn load_or_generate(path: &Path) -> Result<Self, KeyError> {
        if path.exists() {
            return Self::load(path);
        }
        let signer = Self::generate()?;
        signer.save(path)?;
        Ok(signer)
    }

    /// Writes the key to a new file with mode 0600; refuses to overwrite one.
    pub fn save(&self, path: &Path) -> Result<(), KeyError> {
        let err = |source| KeyError::Write {
            path: path.display().to_string(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(err)?;
        }
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(path).map_err(err)?;
        writeln!(file, "{}", hex::encode(self.key.to_bytes())).map_err(err)?;
        file.sync_all().map_err(err)
    }

    pub fn public_key(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    pub fn sign(&self, position: u64, hash: [u8; 32], signed_at: String) -> SignedCheckpoint {
        SignedCheckpoint {
            position,
            hash,
            signature: self
                .key
                .sign(&checkpoint::message(position, &hash))
                .to_bytes(),
            signed_at,
            public_key: self.public_key(),
        }
    }
}

/// The origin of a key no origin was configured for: one name per key, so two funds never
/// share one by accident.
pub fn default_origin(public_key: &[u8; 32]) -> String {
    format!("fundtrail/{}", hex::encode(&public_key[..8]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_checkpoints_open_under_the_log_key() {
        let signer = CheckpointSigner::from_seed([7; 32]);
        assert!(signer.origin().starts_with("fundtrail/"));
        let note = signer.sign_tree(5, [1; 32]);
        let (cp, _) = note::open_checkpoint(&note, &signer.log_key()).unwrap();
        assert_eq!((cp.size, cp.root), (5, [1; 32]));
        let renamed = signer.clone().with_origin("fund.example/ledger").unwrap();
        assert!(note::open_checkpoint(&note, &renamed.log_key()).is_err());
        assert!(signer.with_origin("fund example").is_err());
    }

    #[test]
    fn a_signature_covers_position_and_hash() {
        let signer = CheckpointSigner::from_seed([7; 32]);
        let cp = signer.sign(42, [9; 32], "2025-01-01T00:00:00Z".to_owned());
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
        let other = CheckpointSigner::from_seed([8; 32]);
        assert!(
            !SignedCheckpoint {
                public_key: other.public_key(),
                ..cp
            }
            .signature_valid()
        );
    }

    #[test]
    fn key_files_are_private_and_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/audit.key");
        let made = CheckpointSigner::load_or_generate(&path).unwrap();
        let loaded = CheckpointSigner::load_or_generate(&path).unwrap();
        assert_eq!(made.public_key(), loaded.public_key());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let permissions = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(permissions & 0o777, 0o600);
        }
        assert!(made.save(&path).is_err(), "never overwrites a key");
        std::fs::write(dir.path().join("bad.key"), "not hex").unwrap();
        assert!(CheckpointSigner::load(&dir.path().join("bad.key")).is_err());
    }
}
