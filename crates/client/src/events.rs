//! `fundtrail events tail`: the history over the Audit service, one line per event.

use anyhow::{anyhow, bail};
use chrono::DateTime;
use clap::{Args, Subcommand};
use fundtrail_proto::v1;
use serde_json::{Value, json};

use super::output;
use super::{Global, input};

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: EventsCommand,
}

#[derive(Debug, Subcommand)]
enum EventsCommand {
    /// Print events in position order, one line each (one JSON object per line with
    /// --json); --follow keeps printing new ones as they are recorded.
    Tail(Tail),
}

/// The categories of streams the history holds.
const CATEGORIES: &[&str] = &["donor", "pledge", "matching", "project", "account"];

#[derive(Debug, Args)]
#[allow(
    clippy::doc_markdown,
    reason = "the doc comments are the command's help, where type names read without backticks"
)]
struct Tail {
    /// The first position to print.
    #[arg(long, default_value_t = 1)]
    from: u64,
    /// The last position to print.
    #[arg(long)]
    to: Option<u64>,
    /// Keep printing events as they are recorded (stop with Ctrl-C).
    #[arg(long)]
    follow: bool,
    /// Only events concerning this country (ISO 3166-1 alpha-2).
    #[arg(long)]
    country: Option<String>,
    /// Only this event type, e.g. DisbursementPaid (or fundtrail.v1.DisbursementPaid).
    #[arg(long = "type", value_name = "TYPE")]
    event_type: Option<String>,
    /// Only this stream, e.g. pledge-0190f3a4-….
    #[arg(long)]
    stream: Option<String>,
    /// Only streams of this category: donor, pledge, matching, project, account.
    #[arg(long)]
    category: Option<String>,
}

/// The full name of an event type, checked against the event contracts.
fn event_type(text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    let full = if text.contains('.') {
        text.to_owned()
    } else {
        format!("fundtrail.v1.{text}")
    };
    let pool = output::descriptors()?;
    let is_event = pool
        .get_message_by_name(&full)
        .is_some_and(|m| m.parent_file().name() == "fundtrail/v1/events.proto")
        && full != "fundtrail.v1.EventMetadata"
        && full != "fundtrail.v1.EventEnvelope";
    if !is_event {
        bail!("--type {text:?}: not an event type (e.g. PledgeRecorded, DisbursementPaid)");
    }
    Ok(full)
}

fn request(tail: &Tail) -> anyhow::Result<v1::StreamEventsRequest> {
    if tail.from == 0 {
        bail!("--from: positions start at 1");
    }
    if tail.to.is_some_and(|to| to < tail.from) {
        bail!("--to must not be before --from");
    }
    let category = match tail.category.as_deref().map(str::trim) {
        None => String::new(),
        Some(c) if CATEGORIES.contains(&c) => c.to_owned(),
        Some(c) => bail!("--category {c:?}: one of {}", CATEGORIES.join(", ")),
    };
    Ok(v1::StreamEventsRequest {
        from_position: tail.from,
        to_position: tail.to.unwrap_or_default(),
        stream: tail
            .stream
            .as_deref()
            .map(str::trim)
            .unwrap_or_default()
            .to_owned(),
        category,
        event_type: tail
            .event_type
            .as_deref()
            .map(event_type)
            .transpose()?
            .unwrap_or_default(),
        country: tail
            .country
            .as_deref()
            .map(|c| input::country("--country", c).map(|c| c.to_string()))
            .transpose()?
            .unwrap_or_default(),
        from_time: String::new(),
        to_time: String::new(),
        follow: tail.follow,
    })
}

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let EventsCommand::Tail(tail) = args.command;
    let request = request(&tail)?;
    let session = args.global.session().await?;
    let mut events = session.answer(
        session
            .audit()
            .stream_events(session.streaming_request(request))
            .await,
        None,
    )?;
    let mut printed = 0_u64;
    loop {
        let event = events.message().await.map_err(|s| session.error(s, None))?;
        let Some(event) = event else { break };
        let line = if args.global.json {
            json_line(&event)?
        } else {
            human_line(&event)
        };
        output::print(&line)?;
        printed += 1;
    }
    if printed == 0 && !args.global.json {
        // Said on standard error so a script reading the lines reads none.
        eprintln!("no events match");
    }
    Ok(())
}

fn time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(
        || micros.to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
    )
}

fn short_type(event_type: &str) -> &str {
    event_type
        .strip_prefix("fundtrail.v1.")
        .unwrap_or(event_type)
}

/// The payload decoded here with the .proto field names; the server's own rendering when
/// this client does not know the type (a newer server).
fn payload(envelope: &v1::EventEnvelope, server_json: &str, complete: bool) -> Value {
    output::json_of_bytes(&envelope.event_type, &envelope.payload, complete)
        .ok()
        .or_else(|| serde_json::from_str(server_json).ok())
        .unwrap_or(Value::Null)
}

fn human_line(event: &v1::AuditEvent) -> String {
    let Some(envelope) = &event.envelope else {
        return "(an event without its envelope)".to_owned();
    };
    let summary = output::summary(
        &payload(envelope, &event.payload_json, false),
        &envelope.stream,
    );
    format!(
        "{:>6}  {}  {:<2}  {:<43}  {:<28}  {summary}",
        envelope.position,
        time(envelope.recorded_at),
        event.country,
        envelope.stream,
        short_type(&envelope.event_type),
    )
    .trim_end()
    .to_owned()
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

fn json_line(event: &v1::AuditEvent) -> anyhow::Result<String> {
    let envelope = event
        .envelope
        .as_ref()
        .ok_or_else(|| anyhow!("the server sent an event without its envelope"))?;
    let metadata = output::json_of_bytes("fundtrail.v1.EventMetadata", &envelope.metadata, true)
        .ok()
        .or_else(|| serde_json::from_str(&event.metadata_json).ok())
        .unwrap_or(Value::Null);
    let event_id = uuid::Uuid::from_slice(&envelope.event_id)
        .map_or_else(|_| hex(&envelope.event_id), |id| id.to_string());
    let recorded_at = DateTime::from_timestamp_micros(envelope.recorded_at)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true));
    let line = json!({
        "position": envelope.position,
        "event_id": event_id,
        "stream": envelope.stream,
        "version": envelope.version,
        "event_type": envelope.event_type,
        "recorded_at": recorded_at,
        "recorded_at_micros": envelope.recorded_at,
        "country": event.country,
        "payload": payload(envelope, &event.payload_json, true),
        "metadata": metadata,
        "prev_hash": hex(&envelope.prev_hash),
        "hash": hex(&envelope.hash),
    });
    Ok(line.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_types_are_checked_against_the_contracts() {
        assert_eq!(
            event_type("PledgeRecorded").unwrap(),
            "fundtrail.v1.PledgeRecorded"
        );
        assert_eq!(
            event_type("fundtrail.v1.DisbursementPaid").unwrap(),
            "fundtrail.v1.DisbursementPaid"
        );
        assert!(event_type("PledgeRecordedd").is_err());
        assert!(event_type("CommandResult").is_err());
        assert!(event_type("EventMetadata").is_err());
    }
}
