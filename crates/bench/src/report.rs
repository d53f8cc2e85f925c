//! What a run measured: counts, latency percentiles, errors by code and the lag of the views,
//! as text for people and as JSON for scripts.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::time::Duration;

use fundtrail_client::session::code_name;
use hdrhistogram::Histogram;
use serde::Serialize;
use tonic::Status;
use tonic_types::StatusExt;

use crate::mix::Kind;

/// Latencies are kept in microseconds, from 1 µs to 10 minutes, to three significant digits.
const HIGHEST_MICROS: u64 = 600_000_000;

pub(crate) fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, HIGHEST_MICROS, 3)
        .unwrap_or_else(|_| unreachable!("the bounds are constants hdrhistogram accepts"))
}

fn micros(duration: Duration) -> u64 {
    u64::try_from(duration.as_micros())
        .unwrap_or(u64::MAX)
        .clamp(1, HIGHEST_MICROS)
}

/// The name an error is counted under: its gRPC code, and the fund's reason when it gave one.
pub(crate) fn error_name(status: &Status) -> String {
    let code = code_name(status.code());
    match status.get_details_error_info() {
        Some(info) if !info.reason.is_empty() && info.reason != code => {
            format!("{code} {}", info.reason)
        }
        _ => code.to_owned(),
    }
}

/// One kind of call's figures, kept by each client and added up at the end.
#[derive(Debug, Clone)]
pub(crate) struct Tally {
    pub ok: u64,
    pub events: u64,
    pub errors: BTreeMap<String, u64>,
    pub latency: Histogram<u64>,
}

impl Tally {
    pub fn new() -> Self {
        Self {
            ok: 0,
            events: 0,
            errors: BTreeMap::new(),
            latency: histogram(),
        }
    }

    pub fn answered(&mut self, took: Duration, events: u32, error: Option<&Status>) {
        // Saturates at the highest trackable value rather than failing.
        self.latency.saturating_record(micros(took));
        match error {
            None => {
                self.ok += 1;
                self.events += u64::from(events);
            }
            Some(status) => *self.errors.entry(error_name(status)).or_default() += 1,
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.ok += other.ok;
        self.events += other.events;
        for (name, count) in &other.errors {
            *self.errors.entry(name.clone()).or_default() += count;
        }
        // Same bounds on both sides, so adding cannot fail.
        let _ = self.latency.add(&other.latency);
    }

    fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Latency {
    pub samples: u64,
    pub mean_ms: f64,
    pub p50_ms: f64,
    pub p90_ms: f64,
    pub p99_ms: f64,
    pub p99_9_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub(crate) fn of(histogram: &Histogram<u64>) -> Self {
        if histogram.is_empty() {
            return Self::default();
        }
        #[allow(clippy::cast_precision_loss, reason = "microseconds to milliseconds")]
        let ms = |micros: u64| micros as f64 / 1000.0;
        Self {
            samples: histogram.len(),
            mean_ms: histogram.mean() / 1000.0,
            p50_ms: ms(histogram.value_at_quantile(0.50)),
            p90_ms: ms(histogram.value_at_quantile(0.90)),
            p99_ms: ms(histogram.value_at_quantile(0.99)),
            p99_9_ms: ms(histogram.value_at_quantile(0.999)),
            max_ms: ms(histogram.max()),
        }
    }
}

/// The figures of one kind of call, or of all commands or all queries.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Figures {
    /// Answered without an error.
    pub acknowledged: u64,
    /// Acknowledged per second of the measured window.
    pub per_second: f64,
    /// Events the acknowledged commands recorded (0 for queries).
    pub events: u64,
    pub errors: u64,
    /// Latency of every call, answered or not; in the open loop from when it was due.
    pub latency: Latency,
}

impl Figures {
    fn of(tally: &Tally, seconds: f64) -> Self {
        #[allow(clippy::cast_precision_loss, reason = "a rate")]
        let per_second = if seconds > 0.0 {
            tally.ok as f64 / seconds
        } else {
            0.0
        };
        Self {
            acknowledged: tally.ok,
            per_second,
            events: tally.events,
            errors: tally.error_count(),
            latency: Latency::of(&tally.latency),
        }
    }
}

/// How the load was offered.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
#[serde(tag = "mode", rename_all = "snake_case")]
pub enum Loop {
    /// Each client sends its next call when the last one is answered.
    Closed,
    /// Calls are due at a fixed rate, whether or not earlier ones were answered.
    Open { rate: f64 },
}

/// What the run wrote in every phase (setup, warm-up and the measured window), to compare
/// with how far the store's head moved.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Written {
    pub commands: u64,
    pub events: u64,
    /// Each credits a project account through a process manager: one more event.
    pub allocations: u64,
    /// Each unlocks a tranche on the account through a process manager: one more event.
    pub verifications: u64,
}

/// The setup: what the run registered and funded before measuring.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct Setup {
    pub donors: u64,
    pub projects: u64,
    pub commands: u64,
    pub seconds: f64,
}

/// The append→view lag: from a command's acknowledgement until the Funding API answers a query
/// made with `min_position` at the command's position.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Lag {
    pub latency: Latency,
    pub errors: BTreeMap<String, u64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Report {
    pub server: String,
    #[serde(rename = "loop")]
    pub offered: Loop,
    pub concurrency: usize,
    pub connections: usize,
    pub query_percent: u8,
    pub warmup_seconds: f64,
    /// The measured window.
    pub seconds: f64,
    pub setup: Setup,
    pub commands: Figures,
    pub queries: Figures,
    /// By RPC, in the order of the mix.
    pub calls: BTreeMap<Kind, Figures>,
    /// Every error of the measured window, by code and reason.
    pub errors: BTreeMap<String, u64>,
    /// Calls sent again after `UNAVAILABLE`, with the same request id.
    pub retries: u64,
    /// Open loop: calls that were due before the end but never sent, because every client
    /// was still waiting for an answer.
    pub not_sent: u64,
    pub lag: Lag,
    pub written: Written,
}

#[derive(Debug)]
pub(crate) struct Parts {
    pub server: String,
    pub offered: Loop,
    pub concurrency: usize,
    pub connections: usize,
    pub query_percent: u8,
    pub warmup: Duration,
    pub window: Duration,
    pub setup: Setup,
    pub tallies: Vec<Tally>,
    pub retries: u64,
    pub not_sent: u64,
    pub lag: Histogram<u64>,
    pub lag_errors: BTreeMap<String, u64>,
    pub written: Written,
}

impl Report {
    pub(crate) fn from_parts(parts: Parts) -> Self {
        let seconds = parts.window.as_secs_f64();
        let mut commands = Tally::new();
        let mut queries = Tally::new();
        let mut calls = BTreeMap::new();
        let mut errors = BTreeMap::new();
        for (kind, tally) in Kind::ALL.iter().zip(&parts.tallies) {
            if tally.latency.is_empty() {
                continue;
            }
            if kind.is_command() {
                commands.add(tally);
            } else {
                queries.add(tally);
            }
            for (name, count) in &tally.errors {
                *errors.entry(name.clone()).or_default() += count;
            }
            calls.insert(*kind, Figures::of(tally, seconds));
        }
        Self {
            server: parts.server,
            offered: parts.offered,
            concurrency: parts.concurrency,
            connections: parts.connections,
            query_percent: parts.query_percent,
            warmup_seconds: parts.warmup.as_secs_f64(),
            seconds,
            setup: parts.setup,
            commands: Figures::of(&commands, seconds),
            queries: Figures::of(&queries, seconds),
            calls,
            errors,
            retries: parts.retries,
            not_sent: parts.not_sent,
            lag: Lag {
                latency: Latency::of(&parts.lag),
                errors: parts.lag_errors,
            },
            written: parts.written,
        }
    }
}

fn row(out: &mut String, name: &str, figures: &Figures) -> fmt::Result {
    let l = &figures.latency;
    writeln!(
        out,
        "{name:<22} {:>10} {:>10.1} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
        figures.acknowledged,
        figures.per_second,
        figures.errors,
        l.p50_ms,
        l.p90_ms,
        l.p99_ms,
        l.p99_9_ms,
        l.max_ms
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = String::new();
        let offered = match self.offered {
            Loop::Closed => "closed loop".to_owned(),
            Loop::Open { rate } => format!("open loop at {rate} calls/s"),
        };
        writeln!(
            out,
            "fundtrail bench against {}: {offered}, {} clients on {} connections, {}% queries, \
             {:.1} s measured after {:.1} s of warm-up",
            self.server,
            self.concurrency,
            self.connections,
            self.query_percent,
            self.seconds,
            self.warmup_seconds
        )?;
        writeln!(
            out,
            "setup: {} donors, {} projects funded, {} commands in {:.1} s",
            self.setup.donors, self.setup.projects, self.setup.commands, self.setup.seconds
        )?;
        writeln!(out)?;
        writeln!(
            out,
            "{:<22} {:>10} {:>10} {:>7} {:>8} {:>8} {:>8} {:>8} {:>8}",
            "ms", "acked", "per s", "errors", "p50", "p90", "p99", "p99.9", "max"
        )?;
        row(&mut out, "commands", &self.commands)?;
        for (kind, figures) in self.calls.iter().filter(|(k, _)| k.is_command()) {
            row(&mut out, &format!("  {}", kind.name()), figures)?;
        }
        row(&mut out, "queries", &self.queries)?;
        for (kind, figures) in self.calls.iter().filter(|(k, _)| !k.is_command()) {
            row(&mut out, &format!("  {}", kind.name()), figures)?;
        }
        let lag = &self.lag.latency;
        writeln!(
            out,
            "{:<22} {:>10} {:>10} {:>7} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.2}",
            "append→view lag",
            lag.samples,
            "",
            self.lag.errors.values().sum::<u64>(),
            lag.p50_ms,
            lag.p90_ms,
            lag.p99_ms,
            lag.p99_9_ms,
            lag.max_ms
        )?;
        writeln!(out)?;
        if self.errors.is_empty() {
            writeln!(out, "errors: none")?;
        } else {
            writeln!(out, "errors:")?;
            for (name, count) in &self.errors {
                writeln!(out, "  {name}: {count}")?;
            }
        }
        for (name, count) in &self.lag.errors {
            writeln!(out, "  lag probe {name}: {count}")?;
        }
        #[allow(clippy::cast_precision_loss, reason = "a ratio")]
        let per_command = if self.commands.acknowledged > 0 {
            self.commands.events as f64 / self.commands.acknowledged as f64
        } else {
            0.0
        };
        writeln!(
            out,
            "events recorded by the measured commands: {} ({per_command:.2} per command); \
             retries after UNAVAILABLE: {}",
            self.commands.events, self.retries
        )?;
        if matches!(self.offered, Loop::Open { .. }) {
            writeln!(
                out,
                "calls due but not sent (every client busy): {}",
                self.not_sent
            )?;
        }
        f.write_str(out.trim_end())
    }
}
