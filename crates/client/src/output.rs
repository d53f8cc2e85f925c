//! What the client prints: lines and tables for people, JSON for scripts.

use std::io::Write as _;

use anyhow::anyhow;
use fundtrail_domain::{Currency, Money, grouped};
use fundtrail_proto::v1;
use prost_reflect::{DescriptorPool, SerializeOptions};
use serde_json::Value;

pub(crate) fn descriptors() -> anyhow::Result<&'static DescriptorPool> {
    Ok(fundtrail_proto::reflect::descriptors()?)
}

/// A message in the protobuf JSON mapping, decoded by its full type name.
///
/// `complete` keeps fields at their default value, so scripts find every field; a summary
/// for people leaves them out.
pub fn json_of_bytes(type_name: &str, bytes: &[u8], complete: bool) -> anyhow::Result<Value> {
    let message = fundtrail_proto::reflect::decode(type_name, bytes)?;
    let options = SerializeOptions::new()
        .use_proto_field_name(true)
        .skip_default_fields(!complete);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| anyhow!("cannot render a {type_name} as JSON: {e}"))
}

pub fn json_of<M: prost::Message>(type_name: &str, message: &M) -> anyhow::Result<Value> {
    json_of_bytes(type_name, &message.encode_to_vec(), true)
}

/// Writes to standard output; a closed pipe surfaces as an error `run` recognises.
pub fn print(text: &str) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        stdout.write_all(b"\n")?;
    }
    stdout.flush()?;
    Ok(())
}

pub fn is_broken_pipe(error: &anyhow::Error) -> bool {
    error
        .downcast_ref::<std::io::Error>()
        .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
}

/// Prints a response: its JSON for scripts, or what `human` makes of it.
pub fn show<M: prost::Message>(
    json: bool,
    type_name: &str,
    message: &M,
    human: impl FnOnce(&M) -> String,
) -> anyhow::Result<()> {
    if json {
        let value = json_of(type_name, message)?;
        print(&serde_json::to_string_pretty(&value)?)
    } else {
        print(&human(message))
    }
}

/// Prints a command's result: `done` says what happened, in the domain's words.
pub fn result(json: bool, result: &v1::CommandResult, done: &str) -> anyhow::Result<()> {
    show(json, "fundtrail.v1.CommandResult", result, |r| {
        describe_result(r, done)
    })
}

/// "recorded pledge 0190… (pledge-0190…, position 17)".
pub fn describe_result(r: &v1::CommandResult, done: &str) -> String {
    let positions = if r.event_count > 1 {
        format!("positions {}–{}", r.first_position, r.position)
    } else {
        format!("position {}", r.position)
    };
    let mut line = if r.event_count == 0 {
        format!("{done} (nothing to record on {})", r.stream)
    } else {
        format!("{done} ({}, {positions})", r.stream)
    };
    if r.replayed {
        line.push_str(
            "\n  already recorded by an earlier identical request: nothing written again",
        );
    }
    line
}

/// A wire amount as people read it, thousands grouped: `1,234.56 EUR`. Only for text meant
/// for people: `--json` output keeps the server's minor units.
pub fn money(value: Option<&v1::Money>) -> String {
    match value {
        None => "–".to_owned(),
        Some(m) => match Currency::new(&m.currency) {
            Ok(currency) => grouped(Money::new(currency, m.minor_units)),
            // Shown as sent rather than guessed at: an unknown code has no known exponent.
            Err(_) => format!("{} {} (minor units)", m.minor_units, m.currency),
        },
    }
}

/// Whether an amount is present and not zero.
pub fn nonzero(value: Option<&v1::Money>) -> bool {
    value.is_some_and(|m| m.minor_units != 0)
}

/// An earmark in words.
pub fn earmark(value: Option<&v1::Earmark>) -> String {
    match value.and_then(|e| e.target.as_ref()) {
        None => "unearmarked".to_owned(),
        Some(v1::earmark::Target::Country(code)) => format!("{code} ({})", country_name(code)),
        Some(v1::earmark::Target::Project(p)) if p.country.is_empty() => {
            format!("project {}", p.project_id)
        }
        Some(v1::earmark::Target::Project(p)) => {
            format!("project {} ({})", p.project_id, p.country)
        }
    }
}

pub fn country_name(code: &str) -> &'static str {
    fundtrail_domain::CountryCode::new(code).map_or("", |c| c.name())
}

pub fn indicator(value: Option<&v1::Indicator>) -> String {
    let Some(indicator) = value else {
        return String::new();
    };
    match v1::IndicatorKind::try_from(indicator.kind) {
        Ok(v1::IndicatorKind::SquareMetresCleared) => "m² cleared".to_owned(),
        Ok(v1::IndicatorKind::DevicesDestroyed) => "devices destroyed".to_owned(),
        _ if !indicator.unit.is_empty() => format!("{} ({})", indicator.name, indicator.unit),
        _ => indicator.name.clone(),
    }
}

/// A whole number with thin grouping, as reports print quantities: 262 340.
pub fn quantity(value: u64) -> String {
    let digits = value.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// A plain-text table: columns as wide as their widest cell; amounts right-aligned.
#[derive(Debug)]
pub struct Table {
    headers: Vec<&'static str>,
    right: Vec<bool>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// Columns whose header starts with `>` are right-aligned (the `>` is not printed).
    pub fn new(headers: &[&'static str]) -> Self {
        Self {
            headers: headers.iter().map(|h| h.trim_start_matches('>')).collect(),
            right: headers.iter().map(|h| h.starts_with('>')).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    pub fn render(&self) -> String {
        let width = |s: &str| s.chars().count();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| width(h)).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(width(cell));
                }
            }
        }
        let line = |cells: &[String]| {
            let mut out = String::new();
            for (i, cell) in cells.iter().enumerate() {
                let w = widths.get(i).copied().unwrap_or(0);
                let pad = " ".repeat(w.saturating_sub(width(cell)));
                if i > 0 {
                    out.push_str("  ");
                }
                if self.right.get(i).copied().unwrap_or(false) {
                    out.push_str(&pad);
                    out.push_str(cell);
                } else {
                    out.push_str(cell);
                    out.push_str(&pad);
                }
            }
            out.trim_end().to_owned()
        };
        let headers: Vec<String> = self.headers.iter().map(|h| (*h).to_owned()).collect();
        let mut out = line(&headers);
        for row in &self.rows {
            out.push('\n');
            out.push_str(&line(row));
        }
        out
    }
}

/// A short description of an event payload (its JSON without default fields): the fields
/// that say what happened, amounts and rates as people write them.
pub fn summary(payload: &Value, stream: &str) -> String {
    let Value::Object(fields) = payload else {
        return String::new();
    };
    // Ids go last: when the line is cut, amounts and words survive.
    let mut parts = Vec::new();
    let mut ids = Vec::new();
    for (key, value) in fields {
        // The stream already names the aggregate, and the country has its own column.
        let is_stream_id = value.as_str().is_some_and(|s| stream.ends_with(s));
        if is_stream_id || key == "country" || key.ends_with("event_id") {
            continue;
        }
        let text = render(value);
        if text.is_empty() {
            continue;
        }
        let text = if text.contains(' ') && matches!(value, Value::String(_)) {
            format!("{text:?}")
        } else {
            text
        };
        let is_uuid = value
            .as_str()
            .is_some_and(|s| uuid::Uuid::parse_str(s).is_ok());
        if is_uuid { &mut ids } else { &mut parts }.push(format!("{key}={text}"));
    }
    parts.extend(ids);
    truncate(&parts.join(" "), 160)
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

fn integer(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// One payload value in words.
fn render(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => enum_words(s),
        Value::Array(items) => items.iter().map(render).collect::<Vec<_>>().join(","),
        Value::Object(map) if map.is_empty() => String::new(),
        Value::Object(map) => {
            let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
            if let (Some(currency), Some(minor)) = (
                map.get("currency").and_then(Value::as_str),
                map.get("minor_units").and_then(integer),
            ) {
                return money(Some(&v1::Money {
                    currency: currency.to_owned(),
                    minor_units: minor,
                }));
            }
            if map.contains_key("currency") && map.len() == 1 {
                return format!("0 {}", text("currency"));
            }
            if map.contains_key("base") && map.contains_key("rate") {
                return format!(
                    "1 {} = {} {} ({}, {})",
                    text("base"),
                    text("rate"),
                    text("quote"),
                    text("source"),
                    text("date")
                );
            }
            if map.contains_key("numerator") && map.contains_key("denominator") {
                let part = |k: &str| map.get(k).and_then(integer).unwrap_or_default();
                return format!("{}:{}", part("numerator"), part("denominator"));
            }
            if let Some(Value::Object(project)) = map.get("project") {
                let id = project
                    .get("project_id")
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                return format!("project:{id}");
            }
            if let Some(kind) = map.get("kind").and_then(Value::as_str) {
                return match kind {
                    "INDICATOR_KIND_SQUARE_METRES_CLEARED" => "m²-cleared".to_owned(),
                    "INDICATOR_KIND_DEVICES_DESTROYED" => "devices-destroyed".to_owned(),
                    _ => format!("{} ({})", text("name"), text("unit")),
                };
            }
            if map.len() == 1 && map.contains_key("country") {
                return text("country").to_owned();
            }
            if let Some(name) = map.get("name").and_then(Value::as_str) {
                return name.to_owned();
            }
            Value::Object(map.clone()).to_string()
        }
    }
}

/// `DONOR_KIND_GOVERNMENT` → `government`; other strings unchanged.
fn enum_words(text: &str) -> String {
    const PREFIXES: &[&str] = &[
        "DONOR_KIND_",
        "INDICATOR_KIND_",
        "MILESTONE_STATUS_",
        "DISBURSEMENT_STATUS_",
        "MATCH_STATUS_",
    ];
    PREFIXES
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .map_or_else(
            || text.to_owned(),
            |rest| rest.to_ascii_lowercase().replace('_', "-"),
        )
}

/// A donor kind in words.
pub fn donor_kind(kind: i32) -> &'static str {
    match v1::DonorKind::try_from(kind) {
        Ok(v1::DonorKind::Government) => "government",
        Ok(v1::DonorKind::Multilateral) => "multilateral",
        Ok(v1::DonorKind::Private) => "private",
        _ => "unspecified",
    }
}

/// The currency of an amount the server sent, or what is wrong with it.
pub(crate) fn currency_of(
    value: Option<&v1::Money>,
    what: &str,
) -> anyhow::Result<fundtrail_domain::Currency> {
    let Some(money) = value else {
        anyhow::bail!("the server sent {what} without an amount");
    };
    fundtrail_domain::Currency::new(&money.currency).map_err(|_| {
        anyhow::anyhow!(
            "the server sent {what} in an unknown currency {:?}",
            money.currency
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns_and_amounts() {
        let mut table = Table::new(&["ID", ">AMOUNT"]);
        table.row(vec!["a".into(), "1.00 EUR".into()]);
        table.row(vec!["long-id".into(), "1,000.00 EUR".into()]);
        assert_eq!(
            table.render(),
            "ID             AMOUNT\na            1.00 EUR\nlong-id  1,000.00 EUR"
        );
    }

    #[test]
    fn results_say_where_the_events_went() {
        let result = v1::CommandResult {
            stream: "pledge-1".into(),
            position: 18,
            first_position: 17,
            event_count: 2,
            ..Default::default()
        };
        assert_eq!(
            describe_result(&result, "recorded pledge 1"),
            "recorded pledge 1 (pledge-1, positions 17–18)"
        );
        let replayed = v1::CommandResult {
            replayed: true,
            event_count: 1,
            ..result
        };
        assert!(describe_result(&replayed, "x").contains("already recorded"));
    }

    #[test]
    fn summaries_render_money_rates_and_skip_the_stream_id() {
        let payload = serde_json::json!({
            "pledge_id": "p-1",
            "donor_id": "XM-DAC-7",
            "amount": {"currency": "EUR", "minor_units": "50000000"},
            "rate": {"base": "EUR", "quote": "USD", "rate": "1.0393", "source": "ECB reference rate", "date": "2025-01-31"},
            "earmark": {"country": "BA"},
            "bank_reference": "NL 0117",
        });
        let text = summary(&payload, "pledge-p-1");
        assert!(!text.contains("p-1"), "{text}");
        assert!(text.contains("amount=500,000.00 EUR"), "{text}");
        assert!(
            text.contains("rate=1 EUR = 1.0393 USD (ECB reference rate, 2025-01-31)"),
            "{text}"
        );
        assert!(text.contains("earmark=BA"), "{text}");
        assert!(text.contains("bank_reference=\"NL 0117\""), "{text}");
    }

    #[test]
    fn json_keeps_proto_names_and_defaults() {
        let value = json_of(
            "fundtrail.v1.CommandResult",
            &v1::CommandResult {
                stream: "donor-XM-DAC-7".into(),
                position: 3,
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(value["stream"], "donor-XM-DAC-7");
        assert_eq!(value["position"], "3");
        assert_eq!(value["replayed"], false);
        assert_eq!(value["created_id"], "");
    }

    #[test]
    fn quantities_are_grouped() {
        assert_eq!(quantity(262_340), "262 340");
        assert_eq!(quantity(1_000_000), "1 000 000");
        assert_eq!(quantity(12), "12");
    }
}
