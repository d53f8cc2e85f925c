//! Exchange rates as recorded on the events that used them.
//!
//! A rate says `1 base = rate quote`, with where it came from and for which day
//! (`1 USD = 0.9123 EUR, ECB reference rate, 2024-03-05`). It is a decimal, never a float, and
//! converting rounds half-even to the quote currency's minor unit.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::{Decimal, RoundingStrategy};

use crate::money::{Currency, Money, MoneyError};

/// Why an exchange rate was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    #[error("rate {0:?} is not a positive decimal number")]
    InvalidRate(String),
    #[error("a rate needs two different currencies, got {0} twice")]
    SameCurrency(Currency),
    #[error("a rate needs its source (for example \"ECB reference rate\")")]
    MissingSource,
    #[error("the rate converts {rate_base}, not {amount}")]
    WrongBase {
        rate_base: Currency,
        amount: Currency,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

#[derive(Clone, PartialEq, Eq, Hash)]
pub struct ExchangeRate {
    base: Currency,
    quote: Currency,
    rate: Decimal,
    source: String,
    date: NaiveDate,
}

impl ExchangeRate {
    pub fn new(
        base: Currency,
        quote: Currency,
        rate: Decimal,
        source: impl Into<String>,
        date: NaiveDate,
    ) -> Result<Self, RateError> {
        let source = source.into().trim().to_owned();
        if base == quote {
            return Err(RateError::SameCurrency(base));
        }
        if rate <= Decimal::ZERO {
            return Err(RateError::InvalidRate(rate.to_string()));
        }
        if source.is_empty() {
            return Err(RateError::MissingSource);
        }
        Ok(Self {
            base,
            quote,
            rate: rate.normalize(),
            source,
            date,
        })
    }

    /// Parses the rate from its decimal text, as it travels on the wire.
    pub fn parse(
        base: Currency,
        quote: Currency,
        rate: &str,
        source: impl Into<String>,
        date: NaiveDate,
    ) -> Result<Self, RateError> {
        let value =
            Decimal::from_str(rate.trim()).map_err(|_| RateError::InvalidRate(rate.to_owned()))?;
        Self::new(base, quote, value, source, date)
    }

    pub fn base(&self) -> Currency {
        self.base
    }

    pub fn quote(&self) -> Currency {
        self.quote
    }

    pub fn rate(&self) -> Decimal {
        self.rate
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn date(&self) -> NaiveDate {
        self.date
    }

    /// Converts an amount in the base currency to the quote currency, rounding half-even to
    /// the quote's minor unit.
    pub fn convert(&self, amount: Money) -> Result<Money, RateError> {
        if amount.currency() != self.base {
            return Err(RateError::WrongBase {
                rate_base: self.base,
                amount: amount.currency(),
            });
        }
        let converted = amount
            .to_decimal()
            .checked_mul(self.rate)
            .ok_or(MoneyError::Overflow)?
            .round_dp_with_strategy(self.quote.exponent(), RoundingStrategy::MidpointNearestEven);
        let minor = converted
            .checked_mul(Decimal::from(10_i64.pow(self.quote.exponent())))
            .and_then(|d| d.to_i64())
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(self.quote, minor))
    }
}

impl fmt::Display for ExchangeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "1 {} = {} {}, {}, {}",
            self.base, self.rate, self.quote, self.source, self.date
        )
    }
}

impl fmt::Debug for ExchangeRate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, 5).unwrap()
    }

    fn usd_eur(rate: &str) -> ExchangeRate {
        ExchangeRate::parse(
            Currency::USD,
            Currency::EUR,
            rate,
            "ECB reference rate",
            day(),
        )
        .unwrap()
    }

    #[test]
    fn converts_with_half_even_rounding_to_the_quote_minor_unit() {
        let rate = usd_eur("0.9123");
        // 100.00 USD × 0.9123 = 91.23 EUR exactly.
        assert_eq!(
            rate.convert(Money::new(Currency::USD, 10_000)),
            Ok(Money::new(Currency::EUR, 9_123))
        );
        // 0.50 USD × 0.5 = 0.25; 0.05 × 0.5 = 0.025 → 0.02 (half to even).
        let half = usd_eur("0.5");
        assert_eq!(
            half.convert(Money::new(Currency::USD, 5)),
            Ok(Money::new(Currency::EUR, 2))
        );
        // 0.07 × 0.5 = 0.035 → 0.04 (half to even).
        assert_eq!(
            half.convert(Money::new(Currency::USD, 7)),
            Ok(Money::new(Currency::EUR, 4))
        );
    }

    #[test]
    fn converts_between_exponents() {
        let jpy = Currency::new("JPY").unwrap();
        let rate = ExchangeRate::parse(Currency::USD, jpy, "151.37", "BoJ", day()).unwrap();
        // 10.01 USD × 151.37 = 1515.2137 → 1515 JPY.
        assert_eq!(
            rate.convert(Money::new(Currency::USD, 1_001)),
            Ok(Money::new(jpy, 1_515))
        );
        let kwd = Currency::new("KWD").unwrap();
        let rate = ExchangeRate::parse(jpy, kwd, "0.002035", "CBK", day()).unwrap();
        // 1515 JPY × 0.002035 = 3.083025 → 3.083 KWD.
        assert_eq!(
            rate.convert(Money::new(jpy, 1_515)),
            Ok(Money::new(kwd, 3_083))
        );
    }

    #[test]
    fn refuses_bad_rates_and_wrong_currencies() {
        let bad =
            |r: &str| ExchangeRate::parse(Currency::USD, Currency::EUR, r, "ECB", day()).is_err();
        assert!(bad("0"));
        assert!(bad("-1.2"));
        assert!(bad("one"));
        assert!(bad("NaN"));
        assert_eq!(
            ExchangeRate::parse(Currency::USD, Currency::USD, "1", "ECB", day()),
            Err(RateError::SameCurrency(Currency::USD))
        );
        assert_eq!(
            ExchangeRate::parse(Currency::USD, Currency::EUR, "1", "  ", day()),
            Err(RateError::MissingSource)
        );
        assert!(matches!(
            usd_eur("0.9").convert(Money::new(Currency::CHF, 1)),
            Err(RateError::WrongBase { .. })
        ));
        assert!(matches!(
            usd_eur("1000000").convert(Money::new(Currency::USD, i64::MAX)),
            Err(RateError::Money(MoneyError::Overflow))
        ));
    }
}
