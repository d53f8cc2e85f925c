//! Independent verification of a history: the chain recomputed from its definition, then the
//! signed checkpoints checked against it.

use std::fmt;

use crate::chain::{self, GENESIS};
use crate::checkpoint::SignedCheckpoint;
use crate::envelope::Envelope;

/// What is wrong at one place of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The history could not be read at all here (a broken export line).
    Malformed(String),
    /// The next position was expected and another came: a row was deleted (`found` later) or
    /// rows were moved or swapped (`found` earlier or repeated).
    OutOfOrder { found: u64 },
    /// The history ends before this position, which a signed checkpoint covers: its tail was
    /// cut off.
    Truncated { last: u64 },
    /// The stored `prev_hash` is not the recomputed hash of the position before.
    PrevHashMismatch {
        stored: [u8; 32],
        expected: [u8; 32],
    },
    /// The event's fields do not hash to its stored hash: the event was altered.
    HashMismatch {
        stored: [u8; 32],
        computed: [u8; 32],
    },
    /// A field too long for the chain's four-byte length prefix.
    Oversized,
    /// A checkpoint whose signature does not verify: forged or altered.
    BadSignature,
    /// A checkpoint signed by a key other than the trusted one.
    UntrustedKey { key: [u8; 32] },
    /// A validly signed checkpoint whose hash is not this history's hash at its position: the
    /// history changed after it was signed, or the checkpoint belongs to another history.
    CheckpointMismatch {
        signed: [u8; 32],
        recomputed: [u8; 32],
    },
}

/// A problem, where it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub position: u64,
    /// The stream of the event at that position, when there is one.
    pub stream: Option<String>,
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "position {}", self.position)?;
        if let Some(stream) = &self.stream {
            write!(f, " (stream {stream})")?;
        }
        let h = hex::encode;
        match &self.problem {
            Problem::Malformed(why) => write!(f, ": unreadable: {why}"),
            Problem::OutOfOrder { found } => write!(
                f,
                ": expected this position next but found position {found} \
                 (rows deleted, moved or swapped)"
            ),
            Problem::Truncated { last } => write!(
                f,
                ": a signed checkpoint covers this position but the history ends at {last} \
                 (events deleted from the end)"
            ),
            Problem::PrevHashMismatch { stored, expected } => write!(
                f,
                ": stored prev_hash {} but the recomputed hash of the position before is {} \
                 (an earlier event was altered and rehashed, or rows were removed)",
                h(stored),
                h(expected)
            ),
            Problem::HashMismatch { stored, computed } => write!(
                f,
                ": stored hash {} but the event's fields hash to {} (the event was altered)",
                h(stored),
                h(computed)
            ),
            Problem::Oversized => f.write_str(": a field is longer than 4 GiB"),
            Problem::BadSignature => f.write_str(
                ": the checkpoint's signature does not verify (forged or altered checkpoint)",
            ),
            Problem::UntrustedKey { key } => write!(
                f,
                ": the checkpoint is signed by {}, not by the trusted key",
                h(key)
            ),
            Problem::CheckpointMismatch { signed, recomputed } => write!(
                f,
                ": the signed checkpoint says {} but the history hashes to {} here \
                 (the history changed after it was signed, or the checkpoint is another \
                 history's)",
                h(signed),
                h(recomputed)
            ),
        }
    }
}

/// Recomputes the chain event by event. Stops at the first break: nothing after it can be
/// trusted.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    next: u64,
    last_hash: [u8; 32],
    /// hash(n) for every n checked, so checkpoints can be compared wherever they are.
    hashes: Vec<[u8; 32]>,
    first: u64,
    broken: Option<Finding>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new()
    }
}

impl ChainVerifier {
    /// From the genesis hash, expecting position 1 first.
    pub fn new() -> Self {
        Self::anchored(0, GENESIS)
    }

    /// After a trusted point: `hash` is hash(`position`), and `position + 1` comes next.
    pub fn anchored(position: u64, hash: [u8; 32]) -> Self {
        Self {
            next: position + 1,
            last_hash: hash,
            hashes: Vec::new(),
            first: position + 1,
            broken: None,
        }
    }

    /// Checks the next event; returns the finding that breaks the chain, if any. After a
    /// break every further event is ignored.
    pub fn push(&mut self, event: &Envelope) -> Option<&Finding> {
        if self.broken.is_some() {
            return None;
        }
        let at = |problem| Finding {
            position: event.position,
            stream: Some(event.stream.clone()),
            problem,
        };
        let problem = if event.position != self.next {
            Some(Finding {
                position: self.next,
                stream: None,
                problem: Problem::OutOfOrder {
                    found: event.position,
                },
            })
        } else if event.prev_hash != self.last_hash {
            Some(at(Problem::PrevHashMismatch {
                stored: event.prev_hash,
                expected: self.last_hash,
            }))
        } else {
            match chain::link(&self.last_hash, event) {
                None => Some(at(Problem::Oversized)),
                Some(computed) if computed != event.hash => Some(at(Problem::HashMismatch {
                    stored: event.hash,
                    computed,
                })),
                Some(computed) => {
                    self.hashes.push(computed);
                    self.last_hash = computed;
                    self.next += 1;
                    None
                }
            }
        };
        self.broken = problem;
        self.broken.as_ref()
    }

    /// Records a problem found outside the chain (an unreadable record); it ends the check.
    pub fn fail(&mut self, finding: Finding) {
        if self.broken.is_none() {
            self.broken = Some(finding);
        }
    }

    pub fn is_broken(&self) -> bool {
        self.broken.is_some()
    }

    /// The last position verified and its recomputed hash.
    pub fn head(&self) -> (u64, [u8; 32]) {
        (self.next - 1, self.last_hash)
    }

    /// The recomputed hash at a verified position.
    pub fn hash_at(&self, position: u64) -> Option<[u8; 32]> {
        let index = position.checked_sub(self.first)?;
        self.hashes.get(usize::try_from(index).ok()?).copied()
    }

    /// Checks the checkpoints against the recomputed chain and ends the verification.
    ///
    /// `trusted`: the key the checkpoints must be signed by. Without one, each checkpoint is
    /// checked against its own key only, which proves nothing about who signed it.
    pub fn finish(self, checkpoints: &[SignedCheckpoint], trusted: Option<[u8; 32]>) -> Report {
        let (last, head_hash) = self.head();
        let mut findings: Vec<Finding> = self.broken.iter().cloned().collect();
        let broken_at = self.broken.as_ref().map(|f| f.position);
        let mut sorted: Vec<&SignedCheckpoint> = checkpoints.iter().collect();
        sorted.sort_by_key(|c| c.position);
        let mut checked = 0;
        for cp in sorted {
            let at = |problem| Finding {
                position: cp.position,
                stream: None,
                problem,
            };
            if trusted.is_some_and(|key| key != cp.public_key) {
                findings.push(at(Problem::UntrustedKey { key: cp.public_key }));
            } else if !cp.signature_valid() {
                findings.push(at(Problem::BadSignature));
            } else if broken_at.is_some_and(|b| cp.position >= b) {
                // Past a break the recomputed chain means nothing; the break is the finding.
            } else if let Some(recomputed) = self.hash_at(cp.position) {
                if recomputed == cp.hash {
                    checked += 1;
                } else {
                    findings.push(at(Problem::CheckpointMismatch {
                        signed: cp.hash,
                        recomputed,
                    }));
                }
            } else if cp.position > last {
                findings.push(at(Problem::Truncated { last }));
            }
        }
        findings.sort_by_key(|f| f.position);
        Report {
            first: self.first,
            last_position: last,
            last_hash: head_hash,
            checkpoints_verified: checked,
            checkpoints_total: checkpoints.len(),
            trusted_key: trusted,
            findings,
        }
    }
}

/// The outcome of a verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    pub first: u64,
    /// The last position whose hash was recomputed and matched, and that hash.
    pub last_position: u64,
    pub last_hash: [u8; 32],
    pub checkpoints_verified: usize,
    pub checkpoints_total: usize,
    pub trusted_key: Option<[u8; 32]>,
    /// Every problem, by position; the first is where the history stops being trustworthy.
    pub findings: Vec<Finding>,
}

impl Report {
    pub fn is_ok(&self) -> bool {
        self.findings.is_empty()
    }

    pub fn events_checked(&self) -> u64 {
        (self.last_position + 1).saturating_sub(self.first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{history, public_key, sign};

    fn run(events: &[Envelope], cps: &[SignedCheckpoint], key: Option<[u8; 32]>) -> Report {
        let mut v = ChainVerifier::new();
        for e in events {
            v.push(e);
        }
        v.finish(cps, key)
    }

    #[test]
    fn an_intact_history_verifies_with_its_checkpoints() {
        let events = history(10);
        let cps = [sign(1, 4, events[3].hash), sign(1, 10, events[9].hash)];
        let report = run(&events, &cps, Some(public_key(1)));
        assert!(report.is_ok(), "{:?}", report.findings);
        assert_eq!(report.checkpoints_verified, 2);
        assert_eq!(report.last_position, 10);
    }

    #[test]
    fn each_kind_of_tampering_is_named_at_its_position() {
        let events = history(10);
        let key = Some(public_key(1));
        let head = [sign(1, 10, events[9].hash)];

        let mut edited = events.clone();
        edited[4].payload[0] ^= 1;
        let f = &run(&edited, &head, key).findings[0];
        assert_eq!(f.position, 5);
        assert!(matches!(f.problem, Problem::HashMismatch { .. }));

        let mut deleted = events.clone();
        deleted.remove(6);
        let f = &run(&deleted, &head, key).findings[0];
        assert_eq!(
            (f.position, &f.problem),
            (7, &Problem::OutOfOrder { found: 8 })
        );

        let mut swapped = events.clone();
        swapped.swap(2, 3);
        let f = &run(&swapped, &head, key).findings[0];
        assert_eq!(
            (f.position, &f.problem),
            (3, &Problem::OutOfOrder { found: 4 })
        );

        let mut rehashed = events.clone();
        rehashed[4].payload[0] ^= 1;
        rehashed[4].hash = chain::link(&rehashed[4].prev_hash, &rehashed[4]).unwrap();
        let f = &run(&rehashed, &head, key).findings[0];
        assert_eq!(f.position, 6);
        assert!(matches!(f.problem, Problem::PrevHashMismatch { .. }));

        // Rehashing everything after the edit keeps the chain consistent; only the signed
        // head catches it.
        let mut rewritten = events.clone();
        rewritten[4].payload[0] ^= 1;
        let mut prev = rewritten[3].hash;
        for e in &mut rewritten[4..] {
            e.prev_hash = prev;
            e.hash = chain::link(&prev, e).unwrap();
            prev = e.hash;
        }
        let f = &run(&rewritten, &head, key).findings[0];
        assert_eq!(f.position, 10);
        assert!(matches!(f.problem, Problem::CheckpointMismatch { .. }));

        let truncated = &events[..8];
        let f = &run(truncated, &head, key).findings[0];
        assert_eq!(
            (f.position, &f.problem),
            (10, &Problem::Truncated { last: 8 })
        );
    }

    #[test]
    fn forged_and_replayed_checkpoints_are_refused() {
        let events = history(6);
        let key = Some(public_key(1));
        let mut forged = sign(1, 6, events[5].hash);
        forged.signature[0] ^= 1;
        assert_eq!(
            run(&events, &[forged], key).findings[0].problem,
            Problem::BadSignature
        );
        let foreign = sign(2, 6, events[5].hash);
        assert!(matches!(
            run(&events, &[foreign], key).findings[0].problem,
            Problem::UntrustedKey { .. }
        ));
        // A genuine checkpoint of another history, replayed here.
        let replayed = sign(1, 3, [5; 32]);
        assert!(matches!(
            run(&events, &[replayed], key).findings[0].problem,
            Problem::CheckpointMismatch { .. }
        ));
    }
}
