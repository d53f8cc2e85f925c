//! Small pieces of text the pages share: amounts, rates, times, links.

use chrono::DateTime;
use fundtrail_projections::{Amount, Grouped};
use maud::{Markup, html};

/// A commit time for people: `2026-12-04 18:29:18 UTC`; "no events yet" before any.
pub fn time(micros: i64) -> String {
    if micros == 0 {
        return "no events yet".to_owned();
    }
    DateTime::from_timestamp_micros(micros).map_or_else(
        || format!("{micros} µs after the epoch"),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// Basis points as a percentage with two decimals: `6325` as `63.25%`.
pub fn percent(bps: i64) -> String {
    let sign = if bps < 0 { "-" } else { "" };
    let magnitude = bps.unsigned_abs();
    format!("{sign}{}.{:02}%", magnitude / 100, magnitude % 100)
}

/// A figure's cell: its value in the reporting currency, with the original currencies below
/// when there are others, and a mark when part of it has no recorded rate.
pub fn amount(a: &Amount) -> Markup {
    let foreign: Vec<_> = a
        .original
        .iter()
        .filter(|m| m.currency() != a.reporting.currency())
        .collect();
    html! {
        span.amount { (Grouped(a.reporting)) }
        @if !a.reporting_complete {
            " " abbr.incomplete title="Part of this figure has no recorded exchange rate yet: the value covers only the rest." { "(part unvalued)" }
        }
        @if !foreign.is_empty() {
            br;
            small.original {
                @for (i, m) in a.original.iter().enumerate() {
                    @if i > 0 { " + " }
                    (Grouped(*m))
                }
            }
        }
    }
}

/// A path segment with everything but unreserved characters percent-encoded, so an id makes a
/// link to itself whatever it contains.
pub fn segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use fundtrail_domain::{Currency, Money};

    use super::*;

    #[test]
    fn rates_read_as_percentages() {
        assert_eq!(percent(6325), "63.25%");
        assert_eq!(percent(0), "0.00%");
        assert_eq!(percent(15_000), "150.00%");
        assert_eq!(percent(-5), "-0.05%");
    }

    #[test]
    fn times_are_utc_to_the_second() {
        assert_eq!(time(0), "no events yet");
        assert_eq!(time(1_796_408_958_000_000), "2026-12-04 18:29:18 UTC");
    }

    #[test]
    fn segments_are_escaped_for_links() {
        assert_eq!(segment("XM-DAC-7"), "XM-DAC-7");
        assert_eq!(segment("a/b c<"), "a%2Fb%20c%3C");
        assert_eq!(segment("é"), "%C3%A9");
    }

    #[test]
    fn amounts_show_the_reporting_value_and_the_foreign_originals() {
        let usd = Money::new(Currency::USD, 1_060_349_000);
        let eur = Money::new(Currency::EUR, 50_000);
        let only_usd = Amount {
            original: vec![usd],
            reporting: usd,
            reporting_complete: true,
        };
        assert_eq!(
            amount(&only_usd).into_string(),
            r#"<span class="amount">10,603,490.00 USD</span>"#
        );
        let mixed = Amount {
            original: vec![eur, usd],
            reporting: usd,
            reporting_complete: false,
        }
        .clone();
        let text = amount(&mixed).into_string();
        assert!(text.contains("500.00 EUR + 10,603,490.00 USD"), "{text}");
        assert!(text.contains("part unvalued"), "{text}");
    }
}
