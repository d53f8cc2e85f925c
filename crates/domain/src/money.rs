//! Money in integer minor units, the ISO 4217 currencies and their exponents.
//!
//! Every amount is an `i64` count of the currency's minor unit (cents for EUR, yen for JPY,
//! fils for KWD) with the currency beside it. Arithmetic is checked: an overflow or a mix of
//! currencies is an error, never a panic and never a silent wrap.
//!
//! Longer than most files on purpose: money, currencies and their exact arithmetic are one
//! small algebra whose rules are checked together.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;

/// Why a money value or operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("unknown ISO 4217 currency code {0:?}")]
    UnknownCurrency(String),
    #[error("currencies differ: {left} and {right}")]
    CurrencyMismatch { left: Currency, right: Currency },
    #[error("amount out of range")]
    Overflow,
    #[error("{amount:?} is not a valid {currency} amount: {reason}")]
    InvalidAmount {
        amount: String,
        currency: Currency,
        reason: &'static str,
    },
}

/// An ISO 4217 currency with a minor unit (funds codes and precious metals are not money here).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency([u8; 3]);

/// ISO 4217 active currencies with their minor-unit exponent (ISO 4217 amendment 176).
const CURRENCIES: &[(&str, u32)] = &[
    ("AED", 2),
    ("AFN", 2),
    ("ALL", 2),
    ("AMD", 2),
    ("ANG", 2),
    ("AOA", 2),
    ("ARS", 2),
    ("AUD", 2),
    ("AWG", 2),
    ("AZN", 2),
    ("BAM", 2),
    ("BBD", 2),
    ("BDT", 2),
    ("BGN", 2),
    ("BHD", 3),
    ("BIF", 0),
    ("BMD", 2),
    ("BND", 2),
    ("BOB", 2),
    ("BRL", 2),
    ("BSD", 2),
    ("BTN", 2),
    ("BWP", 2),
    ("BYN", 2),
    ("BZD", 2),
    ("CAD", 2),
    ("CDF", 2),
    ("CHF", 2),
    ("CLF", 4),
    ("CLP", 0),
    ("CNY", 2),
    ("COP", 2),
    ("CRC", 2),
    ("CUP", 2),
    ("CVE", 2),
    ("CZK", 2),
    ("DJF", 0),
    ("DKK", 2),
    ("DOP", 2),
    ("DZD", 2),
    ("EGP", 2),
    ("ERN", 2),
    ("ETB", 2),
    ("EUR", 2),
    ("FJD", 2),
    ("FKP", 2),
    ("GBP", 2),
    ("GEL", 2),
    ("GHS", 2),
    ("GIP", 2),
    ("GMD", 2),
    ("GNF", 0),
    ("GTQ", 2),
    ("GYD", 2),
    ("HKD", 2),
    ("HNL", 2),
    ("HTG", 2),
    ("HUF", 2),
    ("IDR", 2),
    ("ILS", 2),
    ("INR", 2),
    ("IQD", 3),
    ("IRR", 2),
    ("ISK", 0),
    ("JMD", 2),
    ("JOD", 3),
    ("JPY", 0),
    ("KES", 2),
    ("KGS", 2),
    ("KHR", 2),
    ("KMF", 0),
    ("KPW", 2),
    ("KRW", 0),
    ("KWD", 3),
    ("KYD", 2),
    ("KZT", 2),
    ("LAK", 2),
    ("LBP", 2),
    ("LKR", 2),
    ("LRD", 2),
    ("LSL", 2),
    ("LYD", 3),
    ("MAD", 2),
    ("MDL", 2),
    ("MGA", 2),
    ("MKD", 2),
    ("MMK", 2),
    ("MNT", 2),
    ("MOP", 2),
    ("MRU", 2),
    ("MUR", 2),
    ("MVR", 2),
    ("MWK", 2),
    ("MXN", 2),
    ("MYR", 2),
    ("MZN", 2),
    ("NAD", 2),
    ("NGN", 2),
    ("NIO", 2),
    ("NOK", 2),
    ("NPR", 2),
    ("NZD", 2),
    ("OMR", 3),
    ("PAB", 2),
    ("PEN", 2),
    ("PGK", 2),
    ("PHP", 2),
    ("PKR", 2),
    ("PLN", 2),
    ("PYG", 0),
    ("QAR", 2),
    ("RON", 2),
    ("RSD", 2),
    ("RUB", 2),
    ("RWF", 0),
    ("SAR", 2),
    ("SBD", 2),
    ("SCR", 2),
    ("SDG", 2),
    ("SEK", 2),
    ("SGD", 2),
    ("SHP", 2),
    ("SLE", 2),
    ("SOS", 2),
    ("SRD", 2),
    ("SSP", 2),
    ("STN", 2),
    ("SVC", 2),
    ("SYP", 2),
    ("SZL", 2),
    ("THB", 2),
    ("TJS", 2),
    ("TMT", 2),
    ("TND", 3),
    ("TOP", 2),
    ("TRY", 2),
    ("TTD", 2),
    ("TWD", 2),
    ("TZS", 2),
    ("UAH", 2),
    ("UGX", 0),
    ("USD", 2),
    ("UYU", 2),
    ("UYW", 4),
    ("UZS", 2),
    ("VED", 2),
    ("VES", 2),
    ("VND", 0),
    ("VUV", 0),
    ("WST", 2),
    ("XAF", 0),
    ("XCD", 2),
    ("XCG", 2),
    ("XOF", 0),
    ("XPF", 0),
    ("YER", 2),
    ("ZAR", 2),
    ("ZMW", 2),
    ("ZWG", 2),
];

impl Currency {
    pub const USD: Currency = Currency(*b"USD");
    pub const EUR: Currency = Currency(*b"EUR");
    pub const CHF: Currency = Currency(*b"CHF");
    pub const CAD: Currency = Currency(*b"CAD");

    /// Parses an upper-case ISO 4217 code that has a minor unit.
    pub fn new(code: &str) -> Result<Self, MoneyError> {
        Self::lookup(code)
            .map(|(c, _)| c)
            .ok_or_else(|| MoneyError::UnknownCurrency(code.to_owned()))
    }

    fn lookup(code: &str) -> Option<(Self, u32)> {
        let index = CURRENCIES.binary_search_by(|(c, _)| (*c).cmp(code)).ok()?;
        let (c, exponent) = CURRENCIES[index];
        let bytes: [u8; 3] = c.as_bytes().try_into().ok()?;
        Some((Currency(bytes), exponent))
    }

    pub fn code(&self) -> &str {
        // The bytes come from the table above, which is ASCII.
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// The number of decimal places of the minor unit (2 for EUR, 0 for JPY, 3 for KWD).
    pub fn exponent(self) -> u32 {
        Self::lookup(self.code()).map_or(2, |(_, e)| e)
    }

    /// Every currency this crate knows, in code order.
    pub fn all() -> impl Iterator<Item = Currency> {
        CURRENCIES
            .iter()
            .filter_map(|(code, _)| Currency::new(code).ok())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::new(s)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: integer minor units of one currency.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    currency: Currency,
    minor_units: i64,
}

impl Money {
    pub const fn new(currency: Currency, minor_units: i64) -> Self {
        Self {
            currency,
            minor_units,
        }
    }

    pub const fn zero(currency: Currency) -> Self {
        Self::new(currency, 0)
    }

    /// Parses a decimal amount such as `1234.56` exactly; more decimals than the currency's
    /// minor unit allows are refused rather than rounded, because a receipt is never rounded.
    pub fn parse(currency: Currency, amount: &str) -> Result<Self, MoneyError> {
        let invalid = |reason| MoneyError::InvalidAmount {
            amount: amount.to_owned(),
            currency,
            reason,
        };
        let cleaned: String = amount.trim().chars().filter(|c| *c != '_').collect();
        let value = Decimal::from_str(&cleaned).map_err(|_| invalid("not a decimal number"))?;
        let scaled = value
            .checked_mul(Decimal::from(10_i64.pow(currency.exponent())))
            .ok_or(MoneyError::Overflow)?;
        if !scaled.fract().is_zero() {
            return Err(invalid(
                "more decimal places than the currency's minor unit",
            ));
        }
        let minor = scaled.trunc().to_i64().ok_or(MoneyError::Overflow)?;
        Ok(Self::new(currency, minor))
    }

    pub const fn currency(&self) -> Currency {
        self.currency
    }

    pub const fn minor_units(&self) -> i64 {
        self.minor_units
    }

    pub const fn is_zero(&self) -> bool {
        self.minor_units == 0
    }

    pub const fn is_positive(&self) -> bool {
        self.minor_units > 0
    }

    pub const fn is_negative(&self) -> bool {
        self.minor_units < 0
    }

    fn same_currency(&self, other: &Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }

    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.minor_units
            .checked_add(other.minor_units)
            .map(|m| Money::new(self.currency, m))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(&other)?;
        self.minor_units
            .checked_sub(other.minor_units)
            .map(|m| Money::new(self.currency, m))
            .ok_or(MoneyError::Overflow)
    }

    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        self.minor_units
            .checked_neg()
            .map(|m| Money::new(self.currency, m))
            .ok_or(MoneyError::Overflow)
    }

    /// Compares two amounts of the same currency.
    pub fn checked_cmp(&self, other: &Money) -> Result<std::cmp::Ordering, MoneyError> {
        self.same_currency(other)?;
        Ok(self.minor_units.cmp(&other.minor_units))
    }

    /// `self × numerator ÷ denominator`, rounded half-even to the minor unit, in `currency`.
    ///
    /// Used for matching ratios and for carrying an amount at the historical rate of the money
    /// it came from (a part of a receipt keeps the receipt's rate).
    pub fn mul_div(
        self,
        numerator: i64,
        denominator: i64,
        currency: Currency,
    ) -> Result<Money, MoneyError> {
        mul_div_half_even(self.minor_units, numerator, denominator)
            .map(|m| Money::new(currency, m))
            .ok_or(MoneyError::Overflow)
    }

    /// The amount as an exact decimal in major units (`12.34` for 1234 EUR cents).
    pub fn to_decimal(&self) -> Decimal {
        Decimal::from_i128_with_scale(i128::from(self.minor_units), self.currency.exponent())
    }

    /// The sum of amounts in one currency; an empty input sums to zero in `currency`.
    pub fn sum<'a>(
        currency: Currency,
        amounts: impl IntoIterator<Item = &'a Money>,
    ) -> Result<Money, MoneyError> {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), |acc, m| acc.checked_add(*m))
    }
}

/// `a × b ÷ c` computed in 128 bits and rounded half-even; `None` on division by zero or when
/// the result does not fit an `i64`.
pub fn mul_div_half_even(a: i64, b: i64, c: i64) -> Option<i64> {
    if c == 0 {
        return None;
    }
    let product = i128::from(a) * i128::from(b);
    let divisor = i128::from(c);
    let quotient = product / divisor;
    let remainder = product % divisor;
    let twice = remainder.abs() * 2;
    let away = match twice.cmp(&divisor.abs()) {
        std::cmp::Ordering::Less => false,
        std::cmp::Ordering::Greater => true,
        std::cmp::Ordering::Equal => quotient % 2 != 0,
    };
    let rounded = if away {
        if (product < 0) == (divisor < 0) {
            quotient + 1
        } else {
            quotient - 1
        }
    } else {
        quotient
    };
    i64::try_from(rounded).ok()
}

impl fmt::Display for Money {
    /// `1234.56 EUR`, `1500 JPY`: the amount in major units with exactly the currency's
    /// decimals, then the code.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let exponent = self.currency.exponent();
        let sign = if self.minor_units < 0 { "-" } else { "" };
        let abs = self.minor_units.unsigned_abs();
        if exponent == 0 {
            write!(f, "{sign}{abs} {}", self.currency)
        } else {
            let factor = 10_u64.pow(exponent);
            write!(
                f,
                "{sign}{}.{:0width$} {}",
                abs / factor,
                abs % factor,
                self.currency,
                width = exponent as usize
            )
        }
    }
}

impl fmt::Debug for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

// Amounts as finance staff and published reports print them: thousands grouped with commas,
// exactly the currency's decimals, then the code (`10,603,490.00 USD`, `1,500 JPY`). `Money`'s
// own `Display` stays ungrouped: it is the wire and file format, which machines read back.
// This is the one place the grouped form is written, for every screen that shows amounts to
// people (the web view, the command line); it lives beside `Money` so that every layer can
// reach it.

/// `money` with its thousands grouped: `-1,234,567.89 EUR`.
pub fn grouped(money: Money) -> String {
    Grouped(money).to_string()
}

/// Displays an amount with its thousands grouped; see [`grouped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Grouped(pub Money);

impl fmt::Display for Grouped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let money = self.0;
        let exponent = money.currency().exponent();
        let minor = money.minor_units();
        // Unsigned, so the most negative amount has a magnitude too.
        let magnitude = minor.unsigned_abs();
        let factor = 10_u64.pow(exponent);
        let sign = if minor < 0 { "-" } else { "" };
        write!(f, "{sign}{}", grouped_count(magnitude / factor))?;
        if exponent > 0 {
            write!(
                f,
                ".{:0width$}",
                magnitude % factor,
                width = exponent as usize
            )?;
        }
        write!(f, " {}", money.currency())
    }
}

/// A count with its thousands grouped: `1234567` as `1,234,567`.
pub fn grouped_count(units: u64) -> String {
    let digits = units.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_so_lookups_find_every_code() {
        assert!(CURRENCIES.windows(2).all(|w| w[0].0 < w[1].0));
        for (code, exponent) in CURRENCIES {
            assert_eq!(Currency::new(code).map(Currency::exponent), Ok(*exponent));
        }
    }

    #[test]
    fn exponents_follow_iso_4217() {
        let exp = |c: &str| Currency::new(c).map(Currency::exponent);
        assert_eq!(exp("EUR"), Ok(2));
        assert_eq!(exp("JPY"), Ok(0));
        assert_eq!(exp("KWD"), Ok(3));
        assert_eq!(exp("CLF"), Ok(4));
        assert!(matches!(exp("XAU"), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(exp("usd"), Err(MoneyError::UnknownCurrency(_))));
        assert!(matches!(exp(""), Err(MoneyError::UnknownCurrency(_))));
    }

    #[test]
    fn parse_is_exact_and_refuses_hidden_rounding() {
        let eur = Currency::EUR;
        assert_eq!(Money::parse(eur, "1234.56"), Ok(Money::new(eur, 123_456)));
        assert_eq!(Money::parse(eur, "1_000"), Ok(Money::new(eur, 100_000)));
        assert_eq!(Money::parse(eur, "0.10"), Ok(Money::new(eur, 10)));
        assert_eq!(Money::parse(eur, "-2.5"), Ok(Money::new(eur, -250)));
        assert_eq!(Money::parse(eur, "1.000"), Ok(Money::new(eur, 100)));
        assert!(Money::parse(eur, "1.005").is_err());
        assert!(Money::parse(eur, "abc").is_err());
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(Money::parse(jpy, "1500"), Ok(Money::new(jpy, 1500)));
        assert!(Money::parse(jpy, "1500.5").is_err());
        assert_eq!(
            Money::parse(eur, "99999999999999999999"),
            Err(MoneyError::Overflow)
        );
    }

    #[test]
    fn display_uses_the_minor_unit() {
        assert_eq!(
            Money::new(Currency::EUR, 123_456).to_string(),
            "1234.56 EUR"
        );
        assert_eq!(Money::new(Currency::EUR, -5).to_string(), "-0.05 EUR");
        let kwd = Currency::new("KWD").unwrap();
        assert_eq!(Money::new(kwd, 1_005).to_string(), "1.005 KWD");
        let jpy = Currency::new("JPY").unwrap();
        assert_eq!(Money::new(jpy, 1_500).to_string(), "1500 JPY");
    }

    #[test]
    fn arithmetic_refuses_mixed_currencies_and_overflow() {
        let a = Money::new(Currency::EUR, 100);
        let b = Money::new(Currency::USD, 100);
        assert!(matches!(
            a.checked_add(b),
            Err(MoneyError::CurrencyMismatch { .. })
        ));
        assert_eq!(
            Money::new(Currency::EUR, i64::MAX).checked_add(Money::new(Currency::EUR, 1)),
            Err(MoneyError::Overflow)
        );
        assert_eq!(
            Money::new(Currency::EUR, i64::MIN).checked_neg(),
            Err(MoneyError::Overflow)
        );
        assert_eq!(a.checked_sub(a), Ok(Money::zero(Currency::EUR)));
    }

    #[test]
    fn mul_div_rounds_half_to_even() {
        assert_eq!(mul_div_half_even(5, 1, 2), Some(2));
        assert_eq!(mul_div_half_even(15, 1, 10), Some(2));
        assert_eq!(mul_div_half_even(25, 1, 10), Some(2));
        assert_eq!(mul_div_half_even(26, 1, 10), Some(3));
        assert_eq!(mul_div_half_even(-25, 1, 10), Some(-2));
        assert_eq!(mul_div_half_even(-35, 1, 10), Some(-4));
        assert_eq!(mul_div_half_even(7, 1, 0), None);
        assert_eq!(mul_div_half_even(i64::MAX, 2, 1), None);
        assert_eq!(mul_div_half_even(i64::MAX, 2, 2), Some(i64::MAX));
    }

    mod grouped {
        use super::super::*;

        fn text(currency: &str, minor: i64) -> String {
            grouped(Money::new(Currency::new(currency).unwrap(), minor))
        }

        #[test]
        fn thousands_are_grouped_with_the_currency_decimals() {
            assert_eq!(text("USD", 1_060_349_000), "10,603,490.00 USD");
            assert_eq!(text("USD", 123_456), "1,234.56 USD");
            assert_eq!(text("USD", 99_999), "999.99 USD");
            assert_eq!(text("USD", 100_000), "1,000.00 USD");
            assert_eq!(text("EUR", 5), "0.05 EUR");
            assert_eq!(text("EUR", 0), "0.00 EUR");
        }

        #[test]
        fn negative_amounts_keep_their_sign_before_the_digits() {
            assert_eq!(text("EUR", -123_456_789), "-1,234,567.89 EUR");
            assert_eq!(text("EUR", -7), "-0.07 EUR");
            assert_eq!(
                text("USD", i64::MIN),
                "-92,233,720,368,547,758.08 USD",
                "the most negative amount has a magnitude too"
            );
            assert_eq!(text("USD", i64::MAX), "92,233,720,368,547,758.07 USD");
        }

        #[test]
        fn currencies_without_or_with_more_decimals() {
            assert_eq!(text("JPY", 1_500), "1,500 JPY");
            assert_eq!(text("JPY", 999), "999 JPY");
            assert_eq!(text("JPY", -1_234_567), "-1,234,567 JPY");
            assert_eq!(text("JPY", 0), "0 JPY");
            assert_eq!(text("KWD", 1_234_567), "1,234.567 KWD");
        }

        #[test]
        fn counts_are_grouped_too() {
            assert_eq!(grouped_count(0), "0");
            assert_eq!(grouped_count(355_800), "355,800");
            assert_eq!(grouped_count(u64::MAX), "18,446,744,073,709,551,615");
        }

        #[test]
        fn the_grouped_form_reads_back_without_its_commas() {
            for minor in [0, 1, 999, 1_000, 123_456_789, -42, -1_000_000] {
                let money = Money::new(Currency::USD, minor);
                assert_eq!(grouped(money).replace(',', ""), money.to_string());
            }
        }
    }
}
