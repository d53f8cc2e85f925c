//! How far a verification can be trusted: which key the checkpoints were checked against,
//! and the outcome as people read it.

use crate::verify::Report;

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

impl Trust {
    /// The key to check against: the auditor's when given, else the one the history declares.
    pub fn choose(
        given: Option<[u8; 32]>,
        declared: Option<[u8; 32]>,
    ) -> (Option<[u8; 32]>, Trust) {
        match (given, declared) {
            (Some(key), _) => (Some(key), Trust::Given),
            (None, Some(key)) => (Some(key), Trust::Declared),
            (None, None) => (None, Trust::None),
        }
    }
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
