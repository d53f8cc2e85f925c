//! The export file: newline-delimited JSON, one record per line, in this order:
//!
//! 1. one `header`;
//! 2. one `event` per position, 1 to the head, with every field of the envelope (variable
//!    bytes in standard base64 with padding, hashes in lowercase hex, the event id as a
//!    hyphenated UUID whose 16 bytes the chain covers);
//! 3. the `checkpoint`s signed at or before the last exported position;
//! 4. the `public_key` the fund signs with, when known;
//! 5. one `end` with the count and the last position and hash, so a cut file is noticed.
//!
//! Nothing else is needed to verify it: SHA-256, base64, hex and ed25519. [`verify_export`]
//! checks all of it.

use std::io::BufRead;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::checkpoint::SignedCheckpoint;
use crate::envelope::Envelope;
use crate::verification::{Trust, Verification};
use crate::verify::{ChainVerifier, Finding, Problem};

pub const FORMAT: &str = "fundtrail-audit-export";
pub const FORMAT_VERSION: u32 = 1;
pub const CHAIN: &str = "sha256-chain-v1 (ARCHITECTURE.md §3)";

/// One line of an export.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "record", rename_all = "snake_case", deny_unknown_fields)]
pub enum Record {
    Header {
        format: String,
        format_version: u32,
        chain: String,
        /// RFC 3339.
        exported_at: String,
        /// Where the history came from (a server URL or a store, without credentials).
        source: String,
    },
    Event(EventRecord),
    Checkpoint(CheckpointRecord),
    PublicKey {
        /// 32 bytes, hex.
        ed25519: String,
    },
    End {
        events: u64,
        last_position: u64,
        last_hash: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventRecord {
    pub position: u64,
    pub event_id: String,
    pub stream: String,
    pub version: u64,
    pub event_type: String,
    pub recorded_at: i64,
    /// Base64 of the payload's protobuf bytes.
    pub payload: String,
    /// Base64 of the `EventMetadata` protobuf bytes.
    pub metadata: String,
    pub prev_hash: String,
    pub hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckpointRecord {
    pub position: u64,
    pub hash: String,
    /// 64 bytes, hex.
    pub signature: String,
    pub signed_at: String,
    pub public_key: String,
}

impl From<&Envelope> for EventRecord {
    fn from(e: &Envelope) -> Self {
        Self {
            position: e.position,
            event_id: e.event_id.hyphenated().to_string(),
            stream: e.stream.clone(),
            version: e.version,
            event_type: e.event_type.clone(),
            recorded_at: e.recorded_at,
            payload: BASE64.encode(&e.payload),
            metadata: BASE64.encode(&e.metadata),
            prev_hash: hex::encode(e.prev_hash),
            hash: hex::encode(e.hash),
        }
    }
}

fn hex_array<const N: usize>(field: &str, text: &str) -> Result<[u8; N], String> {
    let mut out = [0u8; N];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| format!("{field} is not {} hexadecimal digits", N * 2))?;
    Ok(out)
}

impl TryFrom<&EventRecord> for Envelope {
    type Error = String;

    fn try_from(r: &EventRecord) -> Result<Self, String> {
        Ok(Self {
            position: r.position,
            event_id: Uuid::try_parse(&r.event_id)
                .map_err(|_| format!("event_id {:?} is not a UUID", r.event_id))?,
            stream: r.stream.clone(),
            version: r.version,
            event_type: r.event_type.clone(),
            payload: BASE64
                .decode(&r.payload)
                .map_err(|e| format!("payload is not base64: {e}"))?,
            metadata: BASE64
                .decode(&r.metadata)
                .map_err(|e| format!("metadata is not base64: {e}"))?,
            recorded_at: r.recorded_at,
            prev_hash: hex_array("prev_hash", &r.prev_hash)?,
            hash: hex_array("hash", &r.hash)?,
        })
    }
}

impl From<&SignedCheckpoint> for CheckpointRecord {
    fn from(c: &SignedCheckpoint) -> Self {
        Self {
            position: c.position,
            hash: hex::encode(c.hash),
            signature: hex::encode(c.signature),
            signed_at: c.signed_at.clone(),
            public_key: hex::encode(c.public_key),
        }
    }
}

impl TryFrom<&CheckpointRecord> for SignedCheckpoint {
    type Error = String;

    fn try_from(r: &CheckpointRecord) -> Result<Self, String> {
        Ok(Self {
            position: r.position,
            hash: hex_array("hash", &r.hash)?,
            signature: hex_array("signature", &r.signature)?,
            signed_at: r.signed_at.clone(),
            public_key: hex_array("public_key", &r.public_key)?,
        })
    }
}

/// Reads records one line at a time; an unreadable line is an error naming its number.
pub fn records(input: impl BufRead) -> impl Iterator<Item = Result<(usize, Record), String>> {
    input.lines().enumerate().filter_map(|(index, line)| {
        let number = index + 1;
        match line {
            Err(e) => Some(Err(format!("line {number}: {e}"))),
            Ok(text) if text.trim().is_empty() => None,
            Ok(text) => Some(
                serde_json::from_str(&text)
                    .map(|record| (number, record))
                    .map_err(|e| format!("line {number}: {e}")),
            ),
        }
    })
}

/// Verifies an export file: its structure (header first, `end` last and agreeing with the
/// events), the chain from genesis, and every checkpoint.
pub fn verify_export(input: impl BufRead, given: Option<[u8; 32]>) -> Verification {
    let mut verifier = ChainVerifier::new();
    let mut checkpoints = Vec::new();
    let mut declared = None;
    let mut end = None;
    let mut header = false;
    let mut count = 0u64;
    let malformed = |verifier: &ChainVerifier, why: String| Finding {
        position: verifier.head().0 + 1,
        stream: None,
        problem: Problem::Malformed(why),
    };
    for record in records(input) {
        let (line, record) = match record {
            Ok(r) => r,
            Err(why) => {
                let f = malformed(&verifier, why);
                verifier.fail(f);
                break;
            }
        };
        let problem = match (&record, header, end.is_some()) {
            (_, _, true) => Some("records after the end record".to_owned()),
            (
                Record::Header {
                    format,
                    format_version,
                    ..
                },
                false,
                _,
            ) => {
                header = true;
                (format != FORMAT || *format_version != FORMAT_VERSION)
                    .then(|| format!("not a {FORMAT} version {FORMAT_VERSION} file"))
            }
            (_, false, _) => Some("the first record is not the header".to_owned()),
            (Record::Header { .. }, true, _) => Some("a second header".to_owned()),
            (Record::Event(event), true, _) => match Envelope::try_from(event) {
                Ok(envelope) => {
                    count += 1;
                    // After a break the verifier ignores events, but the checkpoints and the
                    // key that follow them are still read, so the report names them.
                    verifier.push(&envelope);
                    None
                }
                Err(why) => Some(why),
            },
            (Record::Checkpoint(c), true, _) => match SignedCheckpoint::try_from(c) {
                Ok(c) => {
                    checkpoints.push(c);
                    None
                }
                Err(why) => Some(why),
            },
            (Record::PublicKey { ed25519 }, true, _) => {
                let mut key = [0u8; 32];
                match hex::decode_to_slice(ed25519, &mut key) {
                    Ok(()) => {
                        declared = Some(key);
                        None
                    }
                    Err(_) => Some("the public key is not 64 hex digits".to_owned()),
                }
            }
            (
                Record::End {
                    events,
                    last_position,
                    last_hash,
                },
                true,
                _,
            ) => {
                end = Some((*events, *last_position, last_hash.clone()));
                None
            }
        };
        if let Some(why) = problem {
            let f = malformed(&verifier, format!("line {line}: {why}"));
            verifier.fail(f);
            break;
        }
    }
    if !verifier.is_broken() {
        let (last, hash) = verifier.head();
        match end {
            None => {
                let f = malformed(
                    &verifier,
                    "no end record: the file was cut short".to_owned(),
                );
                verifier.fail(f);
            }
            Some((events, last_position, last_hash))
                if events != count || last_position != last || last_hash != hex::encode(hash) =>
            {
                let f = malformed(
                    &verifier,
                    format!(
                        "the end record says {events} events up to {last_position} ({last_hash}) \
                         but the file holds {count} up to {last} ({})",
                        hex::encode(hash)
                    ),
                );
                verifier.fail(f);
            }
            Some(_) => {}
        }
    }
    let (trusted, trust) = Trust::choose(given, declared);
    Verification {
        report: verifier.finish(&checkpoints, trusted),
        trust,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{history, public_key, sign};

    /// The lines of an export of `events` with one checkpoint at the last.
    fn file(events: &[Envelope]) -> Vec<String> {
        let last = events.last().unwrap();
        let line = |record: &Record| serde_json::to_string(record).unwrap();
        let mut lines = vec![line(&Record::Header {
            format: FORMAT.to_owned(),
            format_version: FORMAT_VERSION,
            chain: CHAIN.to_owned(),
            exported_at: String::new(),
            source: String::new(),
        })];
        lines.extend(events.iter().map(|e| line(&Record::Event(e.into()))));
        let cp = sign(1, last.position, last.hash);
        lines.push(line(&Record::Checkpoint((&cp).into())));
        lines.push(line(&Record::End {
            events: events.len() as u64,
            last_position: last.position,
            last_hash: hex::encode(last.hash),
        }));
        lines
    }

    fn verify(lines: &[String]) -> Verification {
        verify_export((lines.join("\n") + "\n").as_bytes(), Some(public_key(1)))
    }

    #[test]
    fn a_file_verifies_and_a_cut_or_reordered_one_does_not() {
        let lines = file(&history(5));
        let ok = verify(&lines);
        assert!(ok.report.is_ok(), "{:?}", ok.report.findings);
        assert_eq!(
            (ok.trust, ok.report.checkpoints_verified),
            (Trust::Given, 1)
        );

        let mut cut = lines.clone();
        cut.pop();
        let f = &verify(&cut).report.findings[0];
        assert!(matches!(&f.problem, Problem::Malformed(why) if why.contains("no end record")));

        let mut headless = lines.clone();
        headless.remove(0);
        let f = &verify(&headless).report.findings[0];
        assert!(matches!(&f.problem, Problem::Malformed(why) if why.contains("header")));

        let mut trailing = lines;
        trailing.push(trailing[1].clone());
        let f = &verify(&trailing).report.findings[0];
        assert!(matches!(&f.problem, Problem::Malformed(why) if why.contains("after the end")));
    }
}
