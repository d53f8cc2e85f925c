//! Exchange rates as recorded on the events that used them.
//!
//! A rate says `1 base = rate quote`, with where it came from and for which day
//! (`1 USD = 0.9123 EUR, ECB reference rate, 2024-03-05`). It is a decimal, never a float, and
//! converting rounds half-even to the quote currency's minor unit.

use std::fmt;
use std::str::FromStr;

use chrono::NaiveDate;
use rust_decimal::Decimal;

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
    #[error("a rate's source is at most {MAX_SOURCE_CHARS} characters")]
    SourceTooLong,
    #[error("the rate converts {rate_base}, not {amount}")]
    WrongBase {
        rate_base: Currency,
        amount: Currency,
    },
    #[error(transparent)]
    Money(#[from] MoneyError),
}

/// A rate's source names a publication ("ECB reference rate", a bank's fixing), not a text.
pub const MAX_SOURCE_CHARS: usize = 200;

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
        if source.chars().count() > MAX_SOURCE_CHARS {
            return Err(RateError::SourceTooLong);
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
        let minor = convert_minor(
            amount.minor_units(),
            self.rate,
            self.base.exponent(),
            self.quote.exponent(),
        )
        .ok_or(MoneyError::Overflow)?;
        Ok(Money::new(self.quote, minor))
    }
}

/// `amount × rate` from minor units with `from` decimals to minor units with `to` decimals,
/// rounded half-even exactly once; `None` when the result does not fit an `i64`.
///
/// The rate is used as its integer mantissa and scale, and the product is kept whole in 192
/// bits: a `Decimal` product keeps only 28–29 significant digits and would round a first time
/// before the rounding to the minor unit (a long rate, such as an inverse computed as `1 / r`,
/// then lands a result just below a tie onto the tie, and half-even picks the wrong side).
// Casts to `u64` take the low limb of a 128-bit intermediate on purpose.
#[allow(clippy::cast_possible_truncation)]
fn convert_minor(amount: i64, rate: Decimal, from: u32, to: u32) -> Option<i64> {
    // A rate is positive, and a `Decimal` mantissa has at most 96 bits.
    let mantissa = u128::try_from(rate.mantissa()).ok()?;
    let magnitude = u128::from(amount.unsigned_abs());
    // |amount| × mantissa < 2^64 × 2^96: three 64-bit limbs, least significant first.
    let low = magnitude * (mantissa & u128::from(u64::MAX));
    let high = magnitude * (mantissa >> 64) + (low >> 64);
    let mut limbs = [low as u64, high as u64, (high >> 64) as u64];
    let (up, down) = (to, rate.scale() + from);
    if up >= down {
        for _ in down..up {
            let mut carry = 0_u128;
            for limb in &mut limbs {
                let product = u128::from(*limb) * 10 + carry;
                *limb = product as u64;
                carry = product >> 64;
            }
            if carry != 0 {
                return None;
            }
        }
    } else {
        // Divide by 10 one digit at a time, keeping the last digit dropped and whether any
        // digit before it was non-zero.
        let (mut last, mut sticky) = (0_u128, false);
        for _ in up..down {
            sticky |= last != 0;
            let mut remainder = 0_u128;
            for limb in limbs.iter_mut().rev() {
                let current = (remainder << 64) | u128::from(*limb);
                *limb = (current / 10) as u64;
                remainder = current % 10;
            }
            last = remainder;
        }
        let odd = limbs[0] & 1 == 1;
        if last > 5 || (last == 5 && (sticky || odd)) {
            for limb in &mut limbs {
                let (sum, carried) = limb.overflowing_add(1);
                *limb = sum;
                if !carried {
                    break;
                }
            }
        }
    }
    if limbs[1] != 0 || limbs[2] != 0 {
        return None;
    }
    let magnitude = i128::from(limbs[0]);
    i64::try_from(if amount < 0 { -magnitude } else { magnitude }).ok()
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
