//! Exporting and verifying a history, wherever it comes from.

use std::io::{BufRead, Write};

use futures::StreamExt;

use crate::checkpoint::SignedCheckpoint;
use crate::envelope::Envelope;
use crate::export::{self, ExportWriter, Record};
use crate::source::{Source, SourceError};
use crate::verify::{ChainVerifier, Finding, Problem, Report};

/// Where the key that checkpoints must be signed with came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trust {
    /// The auditor gave it: the only source that proves who signed.
    Given,
    /// The history declared it (the server's `GetPublicKey`, the export's `public_key` record):
    /// it proves the checkpoints agree with each other, not who made them.
    Declared,
    /// No key at all: each checkpoint is only checked against its own key.
    None,
}

#[derive(Debug, Clone)]
pub struct Verification {
    pub report: Report,
    pub trust: Trust,
}

fn choose(given: Option<[u8; 32]>, declared: Option<[u8; 32]>) -> (Option<[u8; 32]>, Trust) {
    match (given, declared) {
        (Some(key), _) => (Some(key), Trust::Given),
        (None, Some(key)) => (Some(key), Trust::Declared),
        (None, None) => (None, Trust::None),
    }
}

/// Verifies a live store or a server's history: the chain from genesis, then every checkpoint.
pub async fn verify(source: &Source, given: Option<[u8; 32]>) -> Result<Verification, SourceError> {
    if let Source::File(path) = source {
        let file = std::fs::File::open(path).map_err(|e| SourceError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        return Ok(verify_export(std::io::BufReader::new(file), given));
    }
    let checkpoints = source.checkpoints().await?;
    let (trusted, trust) = choose(given, source.public_key().await?);
    let mut verifier = ChainVerifier::new();
    let mut events = source.events().await?;
    while let Some(event) = events.next().await {
        match event {
            Ok(event) => {
                if verifier.push(&event).is_some() {
                    break;
                }
            }
            Err(SourceError::Malformed(why)) => {
                let next = verifier.head().0 + 1;
                verifier.fail(Finding {
                    position: next,
                    stream: None,
                    problem: Problem::Malformed(why),
                });
                break;
            }
            Err(other) => return Err(other),
        }
    }
    Ok(Verification {
        report: verifier.finish(&checkpoints, trusted),
        trust,
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
    for record in export::records(input) {
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
                (format != export::FORMAT || *format_version != export::FORMAT_VERSION).then(|| {
                    format!(
                        "not a {} version {} file",
                        export::FORMAT,
                        export::FORMAT_VERSION
                    )
                })
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
    let (trusted, trust) = choose(given, declared);
    Verification {
        report: verifier.finish(&checkpoints, trusted),
        trust,
    }
}

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub events: u64,
    pub last_position: u64,
    pub checkpoints: usize,
    pub public_key: Option<[u8; 32]>,
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("writing the export: {0}")]
    Io(#[from] std::io::Error),
}

/// Writes the whole history of a source in the export format.
pub async fn export<W: Write>(
    source: &Source,
    out: W,
    label: &str,
    exported_at: &str,
) -> Result<(ExportSummary, W), ExportError> {
    let mut writer = ExportWriter::start(out, label, exported_at)?;
    let mut events = source.events().await?;
    let mut count = 0;
    while let Some(event) = events.next().await {
        writer.event(&event?)?;
        count += 1;
    }
    let last = writer.last_position();
    // Checkpoints signed while the events were read may cover positions not exported.
    let checkpoints: Vec<SignedCheckpoint> = source
        .checkpoints()
        .await?
        .into_iter()
        .filter(|c| c.position <= last)
        .collect();
    for c in &checkpoints {
        writer.checkpoint(c)?;
    }
    let key = match source.public_key().await? {
        Some(key) => Some(key),
        // A store does not know its key; its checkpoints do, when they agree on one.
        None => checkpoints
            .first()
            .map(|c| c.public_key)
            .filter(|k| checkpoints.iter().all(|c| c.public_key == *k)),
    };
    if let Some(key) = &key {
        writer.public_key(key)?;
    }
    let out = writer.finish()?;
    Ok((
        ExportSummary {
            events: count,
            last_position: last,
            checkpoints: checkpoints.len(),
            public_key: key,
        },
        out,
    ))
}

/// A verification for people: what was checked, each finding, and how far to trust the
/// checkpoints.
pub fn summary(report: &Report, trust: Trust, label: &str) -> Vec<String> {
    let mut lines = vec![format!(
        "{label}: {} events recomputed from the chain definition, up to position {} ({})",
        report.events_checked(),
        report.last_position,
        hex::encode(report.last_hash)
    )];
    for finding in &report.findings {
        lines.push(format!("TAMPERED: {finding}"));
    }
    lines.push(format!(
        "checkpoints: {} of {} verified",
        report.checkpoints_verified, report.checkpoints_total
    ));
    let key = report.trusted_key.map(hex::encode).unwrap_or_default();
    match trust {
        Trust::Given => lines.push(format!("signatures checked against the given key {key}")),
        Trust::Declared => lines.push(format!(
            "note: signatures checked against the key the history declares ({key}); pass \
             --public-key with the fund's published key to know who signed"
        )),
        Trust::None => lines.push(
            "warning: no public key: each checkpoint was checked against its own key only"
                .to_owned(),
        ),
    }
    if report.checkpoints_total == 0 {
        lines.push(
            "warning: no signed checkpoints: events deleted from the end of the history, or a \
             history rewritten and rehashed from some point on, cannot be detected"
                .to_owned(),
        );
    }
    lines
}
