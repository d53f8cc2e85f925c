//! The funding views of `fundtrail-projections`, folded from any history (a store, a server or
//! an export file): "as of" a position or a time, and what changed a country between two
//! positions.

use std::pin::pin;

use chrono::{DateTime, NaiveDate, NaiveTime};
use fundtrail_domain::{CountryCode, Currency, Money};
use fundtrail_projections::country::CountryReport;
use fundtrail_projections::{Amount, Mark, Reporting, Views, decode_parts};
use fundtrail_verifier::Envelope;
use futures::{Stream, StreamExt};

/// A point in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AsOf {
    /// Every event up to and including this position.
    Position(u64),
    /// Every event recorded at or before this time, microseconds since the Unix epoch.
    Time(i64),
}

impl AsOf {
    /// A position (digits), a date (`YYYY-MM-DD`: the end of that day, UTC) or an RFC 3339
    /// time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
            return text
                .parse()
                .map(Self::Position)
                .map_err(|_| format!("position {text} is too large"));
        }
        if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            let end = day
                .and_time(NaiveTime::from_hms_micro_opt(23, 59, 59, 999_999).unwrap_or_default());
            return Ok(Self::Time(end.and_utc().timestamp_micros()));
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Self::Time(t.timestamp_micros()))
            .map_err(|_| {
                format!("{text:?} is neither a position, a date (YYYY-MM-DD) nor an RFC 3339 time")
            })
    }

    fn admits(self, e: &Envelope) -> bool {
        match self {
            Self::Position(p) => e.position <= p,
            Self::Time(t) => e.recorded_at <= t,
        }
    }
}

/// Why the views could not be folded: the history could not be read (`E`, the reader's
/// error), or an event in it could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ViewsError<E> {
    #[error(transparent)]
    Source(E),
    #[error(transparent)]
    Fold(#[from] fundtrail_projections::FoldError),
}

/// Folds one event into the views, which are not persisted: their changes are forgotten.
fn apply<E>(views: &mut Views, e: &Envelope) -> Result<(), ViewsError<E>> {
    let mark = Mark {
        position: e.position,
        recorded_at: e.recorded_at,
    };
    views.apply(&decode_parts(mark, &e.event_type, &e.payload)?);
    views.clear_changes();
    Ok(())
}

/// The views as they were known at `as_of` (`None`: the whole history), from the history's
/// events in position order.
pub async fn fold<E>(
    events: impl Stream<Item = Result<Envelope, E>>,
    reporting: Currency,
    as_of: Option<AsOf>,
) -> Result<Views, ViewsError<E>> {
    let mut views = Views::new(Reporting(reporting));
    let mut events = pin!(events);
    while let Some(event) = events.next().await {
        let event = event.map_err(ViewsError::Source)?;
        if as_of.is_some_and(|a| !a.admits(&event)) {
            break;
        }
        apply(&mut views, &event)?;
    }
    Ok(views)
}

/// How one figure of a country moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delta {
    pub figure: &'static str,
    /// In the reporting currency.
    pub reporting: i64,
    /// In each original currency that moved.
    pub original: Vec<Money>,
}

/// An event that changed a country's figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub position: u64,
    pub recorded_at: i64,
    pub stream: String,
    pub event_type: String,
    pub deltas: Vec<Delta>,
}

fn figures(r: &CountryReport) -> [(&'static str, &Amount); 10] {
    [
        ("pledged", &r.pledged),
        ("committed", &r.committed),
        ("outstanding", &r.outstanding),
        ("received", &r.received),
        ("matched_reserved", &r.matched_reserved),
        ("matched_confirmed", &r.matched_confirmed),
        ("allocated", &r.allocated),
        ("disbursed", &r.disbursed),
        ("refunded", &r.refunded),
        ("undisbursed", &r.undisbursed),
    ]
}

fn delta(figure: &'static str, before: &Amount, after: &Amount) -> Option<Delta> {
    let mut original = Vec::new();
    let currencies: std::collections::BTreeSet<Currency> = before
        .original
        .iter()
        .chain(&after.original)
        .map(Money::currency)
        .collect();
    for c in currencies {
        let of = |a: &Amount| {
            a.original
                .iter()
                .filter(|m| m.currency() == c)
                .map(Money::minor_units)
                .sum::<i64>()
        };
        let moved = of(after) - of(before);
        if moved != 0 {
            original.push(Money::new(c, moved));
        }
    }
    let reporting = after.reporting.minor_units() - before.reporting.minor_units();
    (reporting != 0 || !original.is_empty()).then_some(Delta {
        figure,
        reporting,
        original,
    })
}

/// The events after position `from` up to `to` that changed the country's figures, with
/// how much each moved them, from the history's events in position order.
pub async fn diff<E>(
    events: impl Stream<Item = Result<Envelope, E>>,
    reporting: Currency,
    country: CountryCode,
    from: u64,
    to: u64,
) -> Result<(CountryReport, Vec<Change>, CountryReport), ViewsError<E>> {
    let mut views = Views::new(Reporting(reporting));
    let mut events = pin!(events);
    let mut before: Option<CountryReport> = None;
    // The country's report as of its last change: between changes it stays the same, so a
    // report is computed once per change rather than once per event.
    let mut current: Option<CountryReport> = None;
    let mut changes = Vec::new();
    while let Some(event) = events.next().await {
        let event = event.map_err(ViewsError::Source)?;
        let position = event.position;
        if position > to {
            break;
        }
        if position > from && current.is_none() {
            let report = views.country.report(country);
            before = Some(report.clone());
            current = Some(report);
        }
        apply(&mut views, &event)?;
        if let Some(previous) = current.as_mut()
            && views.country.changed_at(country) == position
        {
            let now = views.country.report(country);
            let deltas: Vec<Delta> = figures(previous)
                .into_iter()
                .zip(figures(&now))
                .filter_map(|((name, b), (_, a))| delta(name, b, a))
                .collect();
            if !deltas.is_empty() {
                changes.push(Change {
                    position,
                    recorded_at: event.recorded_at,
                    stream: event.stream,
                    event_type: event.event_type,
                    deltas,
                });
            }
            *previous = now;
        }
    }
    let after = views.country.report(country);
    Ok((before.unwrap_or_else(|| after.clone()), changes, after))
}

/// One line per event that moved the country's figures.
pub fn describe_changes(changes: &[Change], reporting: Currency) -> Vec<String> {
    let money = |minor: i64| Money::new(reporting, minor);
    let signed = |m: Money| {
        if m.minor_units() >= 0 {
            format!("+{m}")
        } else {
            m.to_string()
        }
    };
    let mut lines: Vec<String> = changes
        .iter()
        .map(|c| {
            let deltas: Vec<String> = c
                .deltas
                .iter()
                .map(|d| {
                    let original: Vec<String> = d.original.iter().copied().map(signed).collect();
                    let reporting = signed(money(d.reporting));
                    if original.is_empty() {
                        // Only the reporting value moved: a rate arrived for money already
                        // counted.
                        format!("{} {reporting}", d.figure)
                    } else {
                        format!("{} {reporting} ({})", d.figure, original.join(", "))
                    }
                })
                .collect();
            format!(
                "position {} {} {}: {}",
                c.position,
                c.stream,
                c.event_type,
                deltas.join("; ")
            )
        })
        .collect();
    if lines.is_empty() {
        lines.push("no event changed the country's figures in that range".to_owned());
    }
    lines
}
