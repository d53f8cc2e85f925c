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
//! Nothing else is needed to verify it: SHA-256, base64, hex and ed25519.

use std::io::{BufRead, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::checkpoint::SignedCheckpoint;
use crate::envelope::Envelope;

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

/// Writes an export, record by record, in the order the format requires.
#[derive(Debug)]
pub struct ExportWriter<W: Write> {
    out: W,
    events: u64,
    last: (u64, [u8; 32]),
}

impl<W: Write> ExportWriter<W> {
    pub fn start(mut out: W, source: &str, exported_at: &str) -> std::io::Result<Self> {
        write_record(
            &mut out,
            &Record::Header {
                format: FORMAT.to_owned(),
                format_version: FORMAT_VERSION,
                chain: CHAIN.to_owned(),
                exported_at: exported_at.to_owned(),
                source: source.to_owned(),
            },
        )?;
        Ok(Self {
            out,
            events: 0,
            last: (0, crate::chain::GENESIS),
        })
    }

    pub fn event(&mut self, e: &Envelope) -> std::io::Result<()> {
        write_record(&mut self.out, &Record::Event(e.into()))?;
        self.events += 1;
        self.last = (e.position, e.hash);
        Ok(())
    }

    /// The last exported position.
    pub fn last_position(&self) -> u64 {
        self.last.0
    }

    pub fn checkpoint(&mut self, c: &SignedCheckpoint) -> std::io::Result<()> {
        write_record(&mut self.out, &Record::Checkpoint(c.into()))
    }

    pub fn public_key(&mut self, key: &[u8; 32]) -> std::io::Result<()> {
        write_record(
            &mut self.out,
            &Record::PublicKey {
                ed25519: hex::encode(key),
            },
        )
    }

    pub fn finish(mut self) -> std::io::Result<W> {
        write_record(
            &mut self.out,
            &Record::End {
                events: self.events,
                last_position: self.last.0,
                last_hash: hex::encode(self.last.1),
            },
        )?;
        self.out.flush()?;
        Ok(self.out)
    }
}

fn write_record(out: &mut impl Write, record: &Record) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, record)?;
    out.write_all(b"\n")
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
