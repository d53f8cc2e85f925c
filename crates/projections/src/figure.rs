//! Figures: money in every currency it arose in, with its value in the reporting currency.
//!
//! A [`Figure`] keeps, per original currency, a [`Part`]: the amount in that currency's minor
//! units, the reporting-currency value of the portion that has a recorded rate, and the
//! portion that has none. Every event adds or subtracts parts, so a figure is an exact integer
//! sum whatever order the corrections come in, and "incomplete" is a fact about the figure
//! (some portion has no rate) rather than a guess.

use std::collections::BTreeMap;

use fundtrail_domain::{Currency, Money};
use serde::{Deserialize, Serialize};

use crate::codec;

/// One currency's share of a figure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "[i64; 3]", into = "[i64; 3]")]
pub struct Part {
    /// In the currency's minor units.
    pub amount: i64,
    /// The value of the rated portion, in the reporting currency's minor units.
    pub reporting: i64,
    /// The portion of `amount` that has no reporting value, in the currency's minor units.
    pub unrated: i64,
}

impl From<[i64; 3]> for Part {
    fn from([amount, reporting, unrated]: [i64; 3]) -> Self {
        Self {
            amount,
            reporting,
            unrated,
        }
    }
}

impl From<Part> for [i64; 3] {
    fn from(part: Part) -> Self {
        [part.amount, part.reporting, part.unrated]
    }
}

impl Part {
    /// An amount whose reporting value is known.
    pub const fn rated(amount: i64, reporting: i64) -> Self {
        Self {
            amount,
            reporting,
            unrated: 0,
        }
    }

    /// An amount with no reporting value yet.
    pub const fn unrated(amount: i64) -> Self {
        Self {
            amount,
            reporting: 0,
            unrated: amount,
        }
    }

    pub const fn is_zero(&self) -> bool {
        self.amount == 0 && self.reporting == 0 && self.unrated == 0
    }

    // Folding never fails: history is a fact. Sums that `decide` checked cannot overflow, and a
    // foreign history that would is kept saturated rather than dropped.
    #[must_use]
    pub const fn plus(self, other: Part) -> Part {
        Part {
            amount: self.amount.saturating_add(other.amount),
            reporting: self.reporting.saturating_add(other.reporting),
            unrated: self.unrated.saturating_add(other.unrated),
        }
    }

    #[must_use]
    pub const fn minus(self, other: Part) -> Part {
        Part {
            amount: self.amount.saturating_sub(other.amount),
            reporting: self.reporting.saturating_sub(other.reporting),
            unrated: self.unrated.saturating_sub(other.unrated),
        }
    }
}

/// The fund's reporting currency, and how an event's money gets its reporting value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reporting(pub Currency);

impl Reporting {
    pub const fn currency(self) -> Currency {
        self.0
    }

    /// Money booked on an event together with its reporting-currency value. A value in another
    /// currency than the fund reports in (a history recorded under another configuration) is
    /// not silently mixed in: that portion counts as unrated.
    pub fn booked(self, amount: Money, reporting: Money) -> Part {
        if reporting.currency() == self.0 {
            Part::rated(amount.minor_units(), reporting.minor_units())
        } else if amount.currency() == self.0 {
            Part::rated(amount.minor_units(), amount.minor_units())
        } else {
            Part::unrated(amount.minor_units())
        }
    }

    /// Money that carries no rate of its own: rated only when it is in the reporting currency.
    pub fn own(self, amount: Money) -> Part {
        if amount.currency() == self.0 {
            Part::rated(amount.minor_units(), amount.minor_units())
        } else {
            Part::unrated(amount.minor_units())
        }
    }

    pub const fn money(self, minor_units: i64) -> Money {
        Money::new(self.0, minor_units)
    }
}

/// A figure in every currency it arose in.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Figure {
    #[serde(with = "codec::text_keys")]
    parts: BTreeMap<Currency, Part>,
}

impl Figure {
    pub fn add(&mut self, currency: Currency, part: Part) {
        if part.is_zero() {
            return;
        }
        let entry = self.parts.entry(currency).or_default();
        *entry = entry.plus(part);
        if entry.is_zero() {
            self.parts.remove(&currency);
        }
    }

    pub fn sub(&mut self, currency: Currency, part: Part) {
        self.add(currency, Part::default().minus(part));
    }

    /// Replaces a contribution `before` by `after` (a pledge whose amount or rate changed).
    pub fn shift(&mut self, currency: Currency, before: Part, after: Part) {
        self.add(currency, after.minus(before));
    }

    pub fn add_figure(&mut self, other: &Figure) {
        for (currency, part) in &other.parts {
            self.add(*currency, *part);
        }
    }

    pub fn sub_figure(&mut self, other: &Figure) {
        for (currency, part) in &other.parts {
            self.sub(*currency, *part);
        }
    }

    pub fn parts(&self) -> impl Iterator<Item = (Currency, Part)> + '_ {
        self.parts.iter().map(|(c, p)| (*c, *p))
    }

    pub fn part(&self, currency: Currency) -> Part {
        self.parts.get(&currency).copied().unwrap_or_default()
    }

    pub fn is_zero(&self) -> bool {
        self.parts.is_empty()
    }

    /// The reporting-currency value of the rated portions.
    pub fn reporting(&self) -> i64 {
        self.parts
            .values()
            .fold(0_i64, |sum, p| sum.saturating_add(p.reporting))
    }

    /// Whether every portion has a reporting value.
    pub fn complete(&self) -> bool {
        self.parts.values().all(|p| p.unrated == 0)
    }

    pub fn amount(&self, reporting: Reporting) -> Amount {
        Amount {
            original: self
                .parts
                .iter()
                .filter(|(_, p)| p.amount != 0)
                .map(|(c, p)| Money::new(*c, p.amount))
                .collect(),
            reporting: reporting.money(self.reporting()),
            reporting_complete: self.complete(),
        }
    }
}

/// A figure as reported: its amounts in their original currencies and its value in the
/// reporting currency.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Amount {
    /// One entry per currency with a non-zero amount, by currency code.
    #[serde(serialize_with = "display_all")]
    pub original: Vec<Money>,
    #[serde(serialize_with = "display")]
    pub reporting: Money,
    /// False when some portion has no recorded rate, so `reporting` covers only the rest.
    pub reporting_complete: bool,
}

/// One currency's portion of a figure, as reported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CurrencyAmount {
    #[serde(serialize_with = "display")]
    pub amount: Money,
    #[serde(serialize_with = "display")]
    pub reporting: Money,
    pub reporting_complete: bool,
}

impl CurrencyAmount {
    pub fn of(figure: &Figure, currency: Currency, reporting: Reporting) -> Self {
        let part = figure.part(currency);
        Self {
            amount: Money::new(currency, part.amount),
            reporting: reporting.money(part.reporting),
            reporting_complete: part.unrated == 0,
        }
    }
}

pub(crate) fn display<S: serde::Serializer>(money: &Money, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(money)
}

pub(crate) fn display_all<S: serde::Serializer>(money: &[Money], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(money.iter().map(ToString::to_string))
}

/// `numerator ÷ denominator` in basis points, rounded half-even; 0 when the denominator is not
/// positive (nothing allocated yet), so a rate is always defined.
pub fn basis_points(numerator: i64, denominator: i64) -> i64 {
    if denominator <= 0 {
        return 0;
    }
    fundtrail_domain::money::mul_div_half_even(numerator, 10_000, denominator).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_net_out_and_vanish() {
        let mut figure = Figure::default();
        figure.add(Currency::EUR, Part::rated(100, 110));
        figure.add(Currency::CHF, Part::unrated(50));
        assert!(!figure.complete());
        assert_eq!(figure.reporting(), 110);
        figure.sub(Currency::CHF, Part::unrated(50));
        assert!(figure.complete());
        assert_eq!(figure.parts().count(), 1);
        figure.shift(Currency::EUR, Part::rated(100, 110), Part::rated(100, 108));
        assert_eq!(figure.part(Currency::EUR), Part::rated(100, 108));
    }

    #[test]
    fn basis_points_never_divide_by_zero() {
        assert_eq!(basis_points(5, 0), 0);
        assert_eq!(basis_points(5, -3), 0);
        assert_eq!(basis_points(1, 3), 3333);
        assert_eq!(basis_points(3, 2), 15_000);
    }

    #[test]
    fn figures_round_trip_through_json() {
        let mut figure = Figure::default();
        figure.add(Currency::EUR, Part::rated(100, 110));
        let json = serde_json::to_string(&figure).unwrap();
        assert_eq!(json, r#"{"EUR":[100,110,0]}"#);
        assert_eq!(serde_json::from_str::<Figure>(&json).unwrap(), figure);
    }
}
