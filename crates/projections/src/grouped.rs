//! Amounts as finance staff and published reports print them: thousands grouped with commas,
//! exactly the currency's decimals, then the code (`10,603,490.00 USD`, `1,500 JPY`).
//!
//! `Money`'s own `Display` stays ungrouped: it is the wire and file format, which machines
//! read back. This is the one place the grouped form is written, for every screen that shows
//! amounts to people (the web view, the command line).

use std::fmt;

use fundtrail_domain::Money;

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
    use fundtrail_domain::Currency;

    use super::*;

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
