//! Exporting and verifying a history, wherever it comes from. The checks themselves are
//! `fundtrail-verifier`'s; this reads the history for them.

use std::io::Write;

use fundtrail_verifier::{
    ChainVerifier, Finding, Problem, SignedCheckpoint, Trust, Verification, verify_export,
};
use futures::StreamExt;

use crate::export::ExportWriter;
use crate::source::{Source, SourceError};

/// Verifies a history: the chain from genesis, then every checkpoint; an export file is
/// verified as [`verify_export`] does.
pub async fn verify(source: &Source, given: Option<[u8; 32]>) -> Result<Verification, SourceError> {
    if let Source::File(path) = source {
        let file = std::fs::File::open(path).map_err(|e| SourceError::File {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        return Ok(verify_export(std::io::BufReader::new(file), given));
    }
    let checkpoints = source.checkpoints().await?;
    let (trusted, trust) = Trust::choose(given, source.public_key().await?);
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
