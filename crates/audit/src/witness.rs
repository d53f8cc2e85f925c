//! A witness of the fund's tree checkpoints (`fundtrail audit witness`): someone outside the
//! fund who keeps the last checkpoint it accepted, accepts a new one only when a consistency
//! proof shows it extends that one, and then cosigns it (C2SP tlog-cosignature v1). A donor
//! who trusts the witness learns from its cosignature that the fund showed the witness the
//! same history it showed the donor: a fund that rewrote its past, or showed two histories,
//! would need the witness to cosign a fork, which it refuses.

use std::path::Path;

use ed25519_dalek::SigningKey;
use fundtrail_verifier::merkle::{self, Hash, MerkleError};
use fundtrail_verifier::note::{Checkpoint, Cosignature, WitnessKey, valid_key_name};
use serde::{Deserialize, Serialize};

use crate::key::{CheckpointSigner, KeyError};

/// What a witness keeps between runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessState {
    /// The log witnessed: its origin and its public key (hex).
    pub origin: String,
    pub public_key: String,
    /// The last checkpoint accepted, as the signed note the fund served.
    pub checkpoint: String,
}

/// Why the witness could not run.
#[derive(Debug, thiserror::Error)]
pub enum WitnessError {
    #[error("the witness state {path}: {reason}")]
    State { path: String, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("{0:?} is not a witness name: non-empty, without spaces or '+'")]
    Name(String),
}

/// Why a checkpoint is not cosigned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the checkpoint is of the log {found:?}, this witness follows {expected:?}")]
    OtherLog { found: String, expected: String },
    #[error(
        "FORK: the log signed two trees of size {size} with different roots, {} (accepted \
         before) and {} (offered now); not cosigned",
        hex::encode(.held), hex::encode(.offered)
    )]
    SameSizeFork {
        size: u64,
        held: Hash,
        offered: Hash,
    },
    #[error(
        "FORK: the tree of size {offered} does not extend the tree of size {held} this \
         witness accepted ({reason}); not cosigned"
    )]
    NotAnExtension {
        held: u64,
        offered: u64,
        reason: MerkleError,
    },
    #[error(
        "FORK: the tree of size {offered} is not a prefix of the tree of size {held} this \
         witness accepted ({reason}); not cosigned"
    )]
    NotAPrefix {
        held: u64,
        offered: u64,
        reason: MerkleError,
    },
    #[error(
        "the tree of size {offered} is older than the tree of size {held} already accepted: a \
         witness cosigns only the largest tree it has seen"
    )]
    Older { held: u64, offered: u64 },
}

/// What a checkpoint the witness accepts is, next to the one it held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Accepted {
    /// The first checkpoint this witness sees of the log.
    First,
    /// The same tree as before (cosigned again, with a fresh time).
    Unchanged,
    /// A larger tree, proven to extend the one held.
    Extends { from: u64 },
}

/// Judges an offered checkpoint against the one held. `proof` is the consistency proof
/// between the two, from the smaller to the larger (empty when the sizes are equal).
pub fn judge(
    held: Option<&Checkpoint>,
    offered: &Checkpoint,
    proof: &[Hash],
) -> Result<Accepted, Refusal> {
    let Some(held) = held else {
        return Ok(Accepted::First);
    };
    if held.origin != offered.origin {
        return Err(Refusal::OtherLog {
            found: offered.origin.clone(),
            expected: held.origin.clone(),
        });
    }
    if offered.size == held.size {
        return if offered.root == held.root {
            Ok(Accepted::Unchanged)
        } else {
            Err(Refusal::SameSizeFork {
                size: held.size,
                held: held.root,
                offered: offered.root,
            })
        };
    }
    if offered.size > held.size {
        merkle::verify_consistency(held.size, offered.size, &held.root, &offered.root, proof)
            .map_err(|reason| Refusal::NotAnExtension {
                held: held.size,
                offered: offered.size,
                reason,
            })?;
        return Ok(Accepted::Extends { from: held.size });
    }
    match merkle::verify_consistency(offered.size, held.size, &offered.root, &held.root, proof) {
        Ok(()) => Err(Refusal::Older {
            held: held.size,
            offered: offered.size,
        }),
        Err(reason) => Err(Refusal::NotAPrefix {
            held: held.size,
            offered: offered.size,
            reason,
        }),
    }
}

/// A witness: its name and its key.
#[derive(Debug, Clone)]
pub struct Witness {
    name: String,
    key: SigningKey,
}

impl Witness {
    pub fn from_seed(name: &str, seed: [u8; 32]) -> Result<Self, WitnessError> {
        Self::new(name, SigningKey::from_bytes(&seed))
    }

    /// The witness key in a file of the checkpoint key's format (64 hex digits of the seed,
    /// mode 0600), made when missing.
    pub fn load_or_generate(name: &str, path: &Path) -> Result<Self, WitnessError> {
        let signer = CheckpointSigner::load_or_generate(path)?;
        Self::new(name, signer.signing_key().clone())
    }

    fn new(name: &str, key: SigningKey) -> Result<Self, WitnessError> {
        if !valid_key_name(name) {
            return Err(WitnessError::Name(name.to_owned()));
        }
        Ok(Self {
            name: name.to_owned(),
            key,
        })
    }

    pub fn key(&self) -> WitnessKey {
        WitnessKey {
            name: self.name.clone(),
            public_key: self.key.verifying_key().to_bytes(),
        }
    }

    /// The cosignature of a checkpoint at `timestamp` (seconds since the epoch).
    pub fn cosign(&self, checkpoint: &Checkpoint, timestamp: u64) -> Cosignature {
        Cosignature::sign(&self.name, &self.key, timestamp, &checkpoint.body())
    }
}

fn state_error(path: &Path, reason: impl std::fmt::Display) -> WitnessError {
    WitnessError::State {
        path: path.display().to_string(),
        reason: reason.to_string(),
    }
}

/// The state kept at `path`, if the witness ran before.
pub fn load_state(path: &Path) -> Result<Option<WitnessState>, WitnessError> {
    match std::fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| state_error(path, e)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(state_error(path, e)),
    }
}

/// Replaces the state at `path` whole: written beside it, then renamed over it, so a crash
/// leaves the old state or the new one, never half of one.
pub fn save_state(path: &Path, state: &WitnessState) -> Result<(), WitnessError> {
    let partial = path.with_extension("partial");
    let text = serde_json::to_string_pretty(state).map_err(|e| state_error(path, e))?;
    std::fs::write(&partial, text + "\n").map_err(|e| state_error(&partial, e))?;
    std::fs::rename(&partial, path).map_err(|e| state_error(path, e))
}
