//! A horizontal grouped bar chart drawn as SVG on the server: one group per row (a country),
//! one bar per series (received, allocated, disbursed), on one scale.

use fundtrail_domain::Money;
use fundtrail_projections::Grouped;
use maud::{Markup, html};

/// One series of the chart: its name and its colour.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    pub name: &'static str,
    pub colour: &'static str,
}

/// One group of bars: its label and one value per series, in the reporting currency.
#[derive(Debug, Clone)]
pub struct Row {
    pub label: String,
    pub values: Vec<Money>,
}

const WIDTH: i64 = 760;
const LABEL: i64 = 170;
const VALUE_SPACE: i64 = 170;
const BAR: i64 = 14;
const GAP: i64 = 12;
const LEGEND: i64 = 28;

/// The chart, titled `title`; bars scale to the largest value, negative values draw as none.
pub fn bars(title: &str, series: &[Series], rows: &[Row]) -> Markup {
    let plot = WIDTH - LABEL - VALUE_SPACE;
    let largest = rows
        .iter()
        .flat_map(|r| r.values.iter().map(Money::minor_units))
        .max()
        .unwrap_or(0)
        .max(1);
    let bars_per_row = i64::try_from(series.len()).unwrap_or(i64::MAX);
    let row_height = bars_per_row.saturating_mul(BAR).saturating_add(GAP);
    let count = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let height = LEGEND
        .saturating_add(count.saturating_mul(row_height))
        .saturating_add(GAP);
    let length = |value: i64| -> i64 {
        if value <= 0 {
            return 0;
        }
        // Widened so the product cannot overflow; a visible sliver for any positive value.
        let scaled = i128::from(value) * i128::from(plot) / i128::from(largest);
        i64::try_from(scaled).unwrap_or(plot).max(1)
    };
    html! {
        svg.chart xmlns="http://www.w3.org/2000/svg" role="img" aria-labelledby="chart-title"
            width=(WIDTH) height=(height) viewBox={ "0 0 " (WIDTH) " " (height) } {
            title #chart-title { (title) }
            @for (i, s) in series.iter().enumerate() {
                @let x = LABEL + i64::try_from(i).unwrap_or(0) * 150;
                rect x=(x) y="6" width="12" height="12" fill=(s.colour) {}
                text x=(x + 18) y="16" font-size="12" { (s.name) }
            }
            @if rows.is_empty() {
                text x=(LABEL) y=(LEGEND + 14) font-size="12" { "Nothing to show yet." }
            }
            @for (r, row) in rows.iter().enumerate() {
                @let top = LEGEND + i64::try_from(r).unwrap_or(0) * row_height;
                text.label x=(LABEL - 8) y=(top + bars_per_row * BAR / 2 + 4) text-anchor="end" font-size="12" { (row.label) }
                @for (i, (s, value)) in series.iter().zip(&row.values).enumerate() {
                    @let y = top + i64::try_from(i).unwrap_or(0) * BAR;
                    @let w = length(value.minor_units());
                    rect.bar x=(LABEL) y=(y) width=(w) height=(BAR - 2) fill=(s.colour)
                        data-series=(s.name) data-minor-units=(value.minor_units()) {
                        title { (row.label) ", " (s.name) ": " (Grouped(*value)) }
                    }
                    text.value x=(LABEL + w + 6) y=(y + BAR - 4) font-size="11" { (Grouped(*value)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use fundtrail_domain::Currency;

    use super::*;

    const SERIES: [Series; 2] = [
        Series {
            name: "received",
            colour: "#1b6ca8",
        },
        Series {
            name: "disbursed",
            colour: "#2e7d32",
        },
    ];

    #[test]
    fn bars_scale_to_the_largest_value_and_labels_are_escaped() {
        let rows = vec![
            Row {
                label: "Bosnia <and> Herzegovina".to_owned(),
                values: vec![
                    Money::new(Currency::USD, 200_000),
                    Money::new(Currency::USD, 50_000),
                ],
            },
            Row {
                label: "Ukraine".to_owned(),
                values: vec![
                    Money::new(Currency::USD, 100_000),
                    Money::new(Currency::USD, -5),
                ],
            },
        ];
        let svg = bars("Per country", &SERIES, &rows).into_string();
        let plot = WIDTH - LABEL - VALUE_SPACE;
        assert!(svg.contains(&format!(r#"width="{plot}""#)), "{svg}");
        assert!(svg.contains(&format!(r#"width="{}""#, plot / 2)), "{svg}");
        assert!(svg.contains(&format!(r#"width="{}""#, plot / 4)), "{svg}");
        assert!(svg.contains(r#"data-minor-units="-5""#) && svg.contains(r#"width="0""#));
        assert!(svg.contains("Bosnia &lt;and&gt; Herzegovina"), "{svg}");
        assert!(!svg.contains("<and>"));
        assert!(svg.contains("2,000.00 USD"));
    }

    #[test]
    fn an_empty_chart_says_so() {
        let svg = bars("Per country", &SERIES, &[]).into_string();
        assert!(svg.contains("Nothing to show yet."));
    }
}
