//! Checkpoints of the Merkle tree as C2SP signed notes, and witnesses' cosignatures of them.
//!
//! - A signed note (c2sp.org/signed-note): a text ending in a newline, a blank line, then one
//!   line per signature, `— <key name> <base64(key id || signature)>`. The key id is the first
//!   four bytes of SHA-256(key name || 0x0A || signature type || public key); type 0x01 is an
//!   ed25519 signature over the text.
//! - A checkpoint (c2sp.org/tlog-checkpoint): a note whose text is the origin (the log's
//!   name), the tree size in decimal and the root hash in base64, one per line. The fund signs
//!   it with its checkpoint key under a key name equal to the origin.
//! - A cosignature (c2sp.org/tlog-cosignature, Ed25519 v1): a further signature line on the
//!   checkpoint by a witness, of type 0x04: key id || u64be(timestamp) || ed25519 signature
//!   over `cosignature/v1\ntime <timestamp>\n` followed by the checkpoint's text.
//!
//! Base64 is standard with padding (RFC 4648 §4) throughout.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use sha2::{Digest, Sha256};

use crate::merkle::Hash;

/// The signature type of ed25519 note signatures.
pub const ED25519: u8 = 0x01;
/// The signature type of timestamped ed25519 checkpoint cosignatures.
pub const COSIGNATURE_V1: u8 = 0x04;
/// The largest note read: a checkpoint with a few dozen signatures is a few KiB.
pub const MAX_NOTE_BYTES: usize = 64 * 1024;
/// The most signature lines read from one note (the specification asks for at least 16).
pub const MAX_SIGNATURES: usize = 100;

const DASH: &str = "\u{2014} ";

/// SHA-256(name || 0x0A || signature type || public key)[:4].
pub fn key_id(name: &str, signature_type: u8, public_key: &[u8; 32]) -> [u8; 4] {
    let mut h = Sha256::new();
    h.update(name.as_bytes());
    h.update([b'\n', signature_type]);
    h.update(public_key);
    let digest = h.finalize();
    [digest[0], digest[1], digest[2], digest[3]]
}

/// Whether a key name (or origin) is one the formats allow: not empty, no spaces, no `+`, no
/// control characters.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty()
        && !name
            .chars()
            .any(|c| c.is_whitespace() || c == '+' || c.is_control())
}

/// Why a text is not a signed note.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NoteError {
    #[error("the note is over {MAX_NOTE_BYTES} bytes")]
    TooLarge,
    #[error("the note contains a control character other than newline")]
    ControlCharacter,
    #[error("the note does not end with a newline")]
    Unterminated,
    #[error("the note has no blank line before its signatures")]
    NoSignatures,
    #[error("the note has over {MAX_SIGNATURES} signatures")]
    TooManySignatures,
    #[error("signature line {line}: {why}")]
    BadSignatureLine { line: usize, why: String },
}

/// One signature line of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteSignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// What follows the key id: the signature, in the format its type defines.
    pub signature: Vec<u8>,
}

impl NoteSignature {
    /// `— <name> <base64(key id || signature)>` and its newline.
    pub fn line(&self) -> String {
        let mut bytes = self.key_id.to_vec();
        bytes.extend_from_slice(&self.signature);
        format!("{DASH}{} {}\n", self.name, BASE64.encode(bytes))
    }

    fn parse(number: usize, line: &str) -> Result<Self, NoteError> {
        let bad = |why: &str| NoteError::BadSignatureLine {
            line: number,
            why: why.to_owned(),
        };
        let rest = line
            .strip_prefix(DASH)
            .ok_or_else(|| bad("does not start with an em dash and a space"))?;
        let (name, encoded) = rest
            .split_once(' ')
            .ok_or_else(|| bad("no space between the key name and the signature"))?;
        if !valid_key_name(name) {
            return Err(bad("the key name is empty or contains a space or '+'"));
        }
        let bytes = BASE64
            .decode(encoded)
            .map_err(|_| bad("the signature is not base64"))?;
        if bytes.len() < 5 {
            return Err(bad("the signature is shorter than a key id and one byte"));
        }
        Ok(Self {
            name: name.to_owned(),
            key_id: [bytes[0], bytes[1], bytes[2], bytes[3]],
            signature: bytes[4..].to_vec(),
        })
    }
}

/// A signed note: its text (with its final newline) and its signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    pub text: String,
    pub signatures: Vec<NoteSignature>,
}

impl Note {
    pub fn parse(note: &str) -> Result<Self, NoteError> {
        if note.len() > MAX_NOTE_BYTES {
            return Err(NoteError::TooLarge);
        }
        if note.chars().any(|c| c < ' ' && c != '\n') {
            return Err(NoteError::ControlCharacter);
        }
        if !note.ends_with('\n') {
            return Err(NoteError::Unterminated);
        }
        // Signature lines are never empty, so the last blank line is the separator.
        let split = note.rfind("\n\n").ok_or(NoteError::NoSignatures)?;
        let text = &note[..=split];
        let lines: Vec<&str> = note[split + 2..].lines().collect();
        if lines.is_empty() {
            return Err(NoteError::NoSignatures);
        }
        if lines.len() > MAX_SIGNATURES {
            return Err(NoteError::TooManySignatures);
        }
        let signatures = lines
            .iter()
            .enumerate()
            .map(|(i, line)| NoteSignature::parse(i + 1, line))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            text: text.to_owned(),
            signatures,
        })
    }

    /// The note as text: the text, a blank line, the signature lines.
    pub fn render(&self) -> String {
        let mut out = self.text.clone();
        out.push('\n');
        for s in &self.signatures {
            out.push_str(&s.line());
        }
        out
    }

    /// The text signed with an ed25519 key under `name`.
    pub fn sign(text: String, name: &str, key: &SigningKey) -> Self {
        let public = key.verifying_key().to_bytes();
        let signature = NoteSignature {
            name: name.to_owned(),
            key_id: key_id(name, ED25519, &public),
            signature: key.sign(text.as_bytes()).to_bytes().to_vec(),
        };
        Self {
            text,
            signatures: vec![signature],
        }
    }
}

/// Why a text is not a tlog checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the note is not a tlog checkpoint: {0}")]
pub struct MalformedCheckpoint(pub String);

/// A checkpoint's text: the tree head of the log `origin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    /// Opaque further lines; the fund writes none.
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text: origin, size and root hash, each on its line.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            BASE64.encode(self.root)
        );
        for line in &self.extensions {
            out.push_str(line);
            out.push('\n');
        }
        out
    }

    pub fn parse(text: &str) -> Result<Self, MalformedCheckpoint> {
        let bad = |why: &str| MalformedCheckpoint(why.to_owned());
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("no final newline"))?;
        let mut lines = body.split('\n');
        let origin = lines.next().filter(|o| !o.is_empty());
        let origin = origin.ok_or_else(|| bad("no origin line"))?;
        let size = lines.next().ok_or_else(|| bad("no tree size line"))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad(
                "the tree size is not a decimal number without leading zeroes",
            ));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| bad("the tree size is too large"))?;
        let root = lines.next().ok_or_else(|| bad("no root hash line"))?;
        let root: Hash = BASE64
            .decode(root)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or_else(|| bad("the root hash is not the base64 of 32 bytes"))?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an empty extension line"));
        }
        Ok(Self {
            origin: origin.to_owned(),
            size,
            root,
            extensions,
        })
    }
}

/// The fund's checkpoint key as a verifier holds it: the log's origin (also the key's name) and
/// its ed25519 public key, both obtained out of band.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    pub origin: String,
    pub public_key: [u8; 32],
}

impl LogKey {
    pub fn new(origin: &str, public_key: [u8; 32]) -> Self {
        Self {
            origin: origin.to_owned(),
            public_key,
        }
    }

    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.origin, ED25519, &self.public_key)
    }

    /// The verifier key, `<name>+<hex key id>+<base64(0x01 || public key)>`.
    pub fn vkey(&self) -> String {
        let mut material = vec![ED25519];
        material.extend_from_slice(&self.public_key);
        format!(
            "{}+{}+{}",
            self.origin,
            hex::encode(self.key_id()),
            BASE64.encode(material)
        )
    }

    /// Reads a verifier key of type ed25519, checking its key id.
    pub fn parse_vkey(vkey: &str) -> Result<Self, String> {
        let mut parts = vkey.trim().splitn(3, '+');
        let (Some(name), Some(id), Some(material)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(format!("{vkey:?} is not <name>+<key id>+<key>"));
        };
        let material = BASE64
            .decode(material)
            .map_err(|_| format!("the key of {vkey:?} is not base64"))?;
        let (Some(&ED25519), Ok(public_key)) = (
            material.first(),
            <[u8; 32]>::try_from(material.get(1..).unwrap_or_default()),
        ) else {
            return Err(format!("{vkey:?} is not an ed25519 verifier key"));
        };
        let key = Self::new(name, public_key);
        if !valid_key_name(name) || hex::encode(key.key_id()) != id {
            return Err(format!(
                "{vkey:?}: the key id does not match its name and key"
            ));
        }
        Ok(key)
    }
}

/// Why a checkpoint is not one the fund signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error(transparent)]
    Malformed(#[from] MalformedCheckpoint),
    #[error(
        "the checkpoint is not signed by the trusted key {name} ({}): it is signed by {} \
         (a signature from another key)",
        hex::encode(.key_id),
        if .found.is_empty() { "nobody".to_owned() } else { .found.join(", ") }
    )]
    NotSignedByKey {
        name: String,
        key_id: [u8; 4],
        found: Vec<String>,
    },
    #[error(
        "the signature of {name} does not verify: the checkpoint was altered or forged after \
         it was signed"
    )]
    BadSignature { name: String },
    #[error("the checkpoint is of the log {found:?}, not of {expected:?} (wrong origin)")]
    WrongOrigin { found: String, expected: String },
}

/// Opens a checkpoint: the trusted key's signature must be on it and verify, and its origin
/// must be the key's. Other signatures (witnesses', other keys') are left alone.
pub fn open_checkpoint(note: &str, key: &LogKey) -> Result<(Checkpoint, Note), CheckpointError> {
    let note = Note::parse(note)?;
    note.verify(&key.origin, &key.public_key)?;
    let checkpoint = Checkpoint::parse(&note.text)?;
    if checkpoint.origin != key.origin {
        return Err(CheckpointError::WrongOrigin {
            found: checkpoint.origin,
            expected: key.origin.clone(),
        });
    }
    Ok((checkpoint, note))
}

impl Note {
    /// Checks the ed25519 signature of the key `name` with `public_key` (found by its name and
    /// key id, as the specification asks; other signatures are ignored).
    pub fn verify(&self, name: &str, public_key: &[u8; 32]) -> Result<(), CheckpointError> {
        let id = key_id(name, ED25519, public_key);
        let Some(signature) = self
            .signatures
            .iter()
            .find(|s| s.name == name && s.key_id == id)
        else {
            return Err(CheckpointError::NotSignedByKey {
                name: name.to_owned(),
                key_id: id,
                found: self
                    .signatures
                    .iter()
                    .map(|s| format!("{} ({})", s.name, hex::encode(s.key_id)))
                    .collect(),
            });
        };
        let valid = VerifyingKey::from_bytes(public_key).is_ok_and(|public| {
            <[u8; 64]>::try_from(signature.signature.as_slice()).is_ok_and(|bytes| {
                public
                    .verify_strict(self.text.as_bytes(), &Signature::from_bytes(&bytes))
                    .is_ok()
            })
        });
        if valid {
            Ok(())
        } else {
            Err(CheckpointError::BadSignature {
                name: signature.name.clone(),
            })
        }
    }
}

/// A witness's key: its name and ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WitnessKey {
    pub name: String,
    pub public_key: [u8; 32],
}

impl WitnessKey {
    pub fn key_id(&self) -> [u8; 4] {
        key_id(&self.name, COSIGNATURE_V1, &self.public_key)
    }
}

/// Why a cosignature is not a witness's statement about a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CosignatureError {
    #[error(transparent)]
    Note(#[from] NoteError),
    #[error("a cosignature is one signature line")]
    NotOneLine,
    #[error("a v1 cosignature is 4 + 8 + 64 bytes, this one is 4 + {0}")]
    Length(usize),
    #[error("the cosignature's key id is not the one of {name} with the given key")]
    WrongKey { name: String },
    #[error("the cosignature's timestamp is over 2^63 - 1")]
    Timestamp,
    #[error("the cosignature of {name} does not verify over this checkpoint")]
    BadSignature { name: String },
}

/// A witness's cosignature of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cosignature {
    pub name: String,
    pub key_id: [u8; 4],
    /// Seconds since the Unix epoch when the witness signed.
    pub timestamp: u64,
    pub signature: [u8; 64],
}

impl Cosignature {
    /// What a v1 cosignature signs: its header, its time, and the checkpoint's text.
    pub fn message(timestamp: u64, body: &str) -> String {
        format!("cosignature/v1\ntime {timestamp}\n{body}")
    }

    pub fn sign(name: &str, key: &SigningKey, timestamp: u64, body: &str) -> Self {
        let public = key.verifying_key().to_bytes();
        Self {
            name: name.to_owned(),
            key_id: key_id(name, COSIGNATURE_V1, &public),
            timestamp,
            signature: key
                .sign(Self::message(timestamp, body).as_bytes())
                .to_bytes(),
        }
    }

    pub fn from_signature(s: &NoteSignature) -> Result<Self, CosignatureError> {
        if s.signature.len() != 72 {
            return Err(CosignatureError::Length(s.signature.len()));
        }
        let mut timestamp = [0u8; 8];
        timestamp.copy_from_slice(&s.signature[..8]);
        let mut signature = [0u8; 64];
        signature.copy_from_slice(&s.signature[8..]);
        let timestamp = u64::from_be_bytes(timestamp);
        if timestamp > i64::MAX as u64 {
            return Err(CosignatureError::Timestamp);
        }
        Ok(Self {
            name: s.name.clone(),
            key_id: s.key_id,
            timestamp,
            signature,
        })
    }

    /// Reads one signature line (with or without its newline).
    pub fn parse_line(line: &str) -> Result<Self, CosignatureError> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.contains('\n') {
            return Err(CosignatureError::NotOneLine);
        }
        if line.chars().any(|c| c < ' ') {
            return Err(NoteError::ControlCharacter.into());
        }
        Self::from_signature(&NoteSignature::parse(1, line)?)
    }

    pub fn to_signature(&self) -> NoteSignature {
        let mut bytes = self.timestamp.to_be_bytes().to_vec();
        bytes.extend_from_slice(&self.signature);
        NoteSignature {
            name: self.name.clone(),
            key_id: self.key_id,
            signature: bytes,
        }
    }

    pub fn line(&self) -> String {
        self.to_signature().line()
    }

    /// Checks that `key` made this cosignature over the checkpoint text `body`.
    pub fn verify(&self, key: &WitnessKey, body: &str) -> Result<(), CosignatureError> {
        if self.name != key.name || self.key_id != key.key_id() {
            return Err(CosignatureError::WrongKey {
                name: key.name.clone(),
            });
        }
        let message = Self::message(self.timestamp, body);
        VerifyingKey::from_bytes(&key.public_key)
            .ok()
            .filter(|public| {
                public
                    .verify_strict(message.as_bytes(), &Signature::from_bytes(&self.signature))
                    .is_ok()
            })
            .map(drop)
            .ok_or_else(|| CosignatureError::BadSignature {
                name: self.name.clone(),
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoints_round_trip_and_refuse_sloppy_numbers() {
        let cp = Checkpoint {
            origin: "example.org/fund".to_owned(),
            size: 20_852_163,
            root: [7; 32],
            extensions: Vec::new(),
        };
        assert_eq!(Checkpoint::parse(&cp.body()), Ok(cp));
        for text in [
            "o\n012\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n+12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n12\nBwcH\n",
            "\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=\n",
            "o\n12\nBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=",
        ] {
            assert!(Checkpoint::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn a_cosignature_line_round_trips() {
        let key = SigningKey::from_bytes(&[4; 32]);
        let c = Cosignature::sign("witness.example/w1", &key, 1_679_315_147, "body\n");
        let parsed = Cosignature::parse_line(&c.line()).unwrap();
        assert_eq!(parsed, c);
        let witness = WitnessKey {
            name: "witness.example/w1".to_owned(),
            public_key: key.verifying_key().to_bytes(),
        };
        assert_eq!(parsed.verify(&witness, "body\n"), Ok(()));
        assert!(parsed.verify(&witness, "other\n").is_err());
    }
}
