//! `fundtrail bench`: the options, and the report printed.
// Doc comments here are clap's help text, read in a terminal rather than as rustdoc.
#![allow(clippy::doc_markdown)]

use std::time::Duration;

use anyhow::Context;
use clap::Args;
use fundtrail_client::{Global, credentials};

use crate::{Options, Principals};

const LOAD: &str = "Load";
const PEOPLE: &str = "Whom the clients act as";

#[derive(Debug, Args)]
pub struct BenchArgs {
    #[command(flatten)]
    global: Global,
    /// How long to measure, after the warm-up: 30, 30s, 500ms, 2m.
    #[arg(long, default_value = "10s", value_parser = parse_duration, help_heading = LOAD)]
    duration: Duration,
    /// Load sent before measuring, not counted.
    #[arg(long, default_value = "2s", value_parser = parse_duration, help_heading = LOAD)]
    warmup: Duration,
    /// Clients, each with one call in flight at most.
    #[arg(long, default_value_t = 64, help_heading = LOAD)]
    concurrency: usize,
    /// HTTP/2 connections the clients share; by default one per client.
    #[arg(long, help_heading = LOAD)]
    connections: Option<usize>,
    /// Open loop: calls (commands and queries) due per second, sent whether or not earlier
    /// ones were answered; latency counts from when a call was due. Without it, closed loop:
    /// each client sends its next call when the last one is answered.
    #[arg(long, value_name = "CALLS_PER_SECOND", help_heading = LOAD)]
    rate: Option<f64>,
    /// The share of queries among the calls, in percent.
    #[arg(long, value_name = "PERCENT", default_value_t = 20, help_heading = LOAD)]
    queries: u8,
    /// The profile of the approver of disbursements (not the requester).
    #[arg(long, default_value = "approver", value_name = "NAME", help_heading = PEOPLE)]
    approver_profile: String,
    /// A token for the approver, instead of the profile.
    #[arg(long, value_name = "JWT", help_heading = PEOPLE)]
    approver_token: Option<String>,
    /// The profile of the verifier of milestones (not the reporter).
    #[arg(long, default_value = "verifier", value_name = "NAME", help_heading = PEOPLE)]
    verifier_profile: String,
    /// A token for the verifier, instead of the profile.
    #[arg(long, value_name = "JWT", help_heading = PEOPLE)]
    verifier_token: Option<String>,
    /// No progress bar.
    #[arg(long, help_heading = LOAD)]
    quiet: bool,
}

/// A duration as people type it: seconds (`30`, `1.5`), or with `ms`, `s` or `m`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (number, unit) = match text.find(|c: char| c.is_ascii_alphabetic()) {
        Some(at) => text.split_at(at),
        None => (text, "s"),
    };
    let value: f64 = number
        .trim()
        .parse()
        .map_err(|_| format!("{text:?} is not a duration: 30, 30s, 500ms or 2m"))?;
    let seconds = match unit {
        "ms" => value / 1000.0,
        "s" => value,
        "m" => value * 60.0,
        _ => return Err(format!("{text:?}: the unit is ms, s or m")),
    };
    Duration::try_from_secs_f64(seconds).map_err(|_| format!("{text:?} is not a duration"))
}

/// Runs `fundtrail bench` and prints its report (JSON with `--json`).
pub async fn run_cli(args: BenchArgs) -> anyhow::Result<()> {
    let staff = credentials::resolve(args.global.token.as_deref(), args.global.profile.as_deref())
        .context("the staff's credentials (--token or --profile)")?;
    let approver = match &args.approver_token {
        Some(token) => credentials::resolve(Some(token), None),
        None => credentials::resolve(None, Some(&args.approver_profile)),
    }
    .context("the approver's credentials")?;
    let verifier = match &args.verifier_token {
        Some(token) => credentials::resolve(Some(token), None),
        None => credentials::resolve(None, Some(&args.verifier_profile)),
    }
    .context("the verifier's credentials")?;
    let options = Options {
        server: args.global.server.clone(),
        concurrency: args.concurrency,
        connections: args.connections.unwrap_or(args.concurrency),
        duration: args.duration,
        warmup: args.warmup,
        rate: args.rate,
        query_percent: args.queries,
        progress: !args.quiet,
    };
    let principals = Principals {
        staff,
        approver,
        verifier,
    };
    let report = crate::run(&options, &principals).await?;
    if args.global.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{report}");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_people_type_them() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_mins(2)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        for bad in ["", "fast", "3h", "-1s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?}");
        }
    }
}
