//! Checking what a person typed before anything is sent.
//!
//! Each error names the option to fix. Amounts are parsed exactly: more decimals than the
//! currency's minor unit is an error, never a rounding.

use anyhow::{anyhow, bail};
use clap::Args;
use fundtrail_domain::{
    CountryCode, Currency, DomainError, DonorId, ExchangeRate, MatchRatio, Money,
};
use fundtrail_proto::v1;
use uuid::Uuid;

/// The message of a domain validation error, without the wire field name it carries.
fn message(error: DomainError) -> String {
    match error {
        DomainError::Invalid { message, .. } | DomainError::Refused { message, .. } => message,
    }
}

pub fn currency(option: &str, text: &str) -> anyhow::Result<Currency> {
    let code = text.trim().to_ascii_uppercase();
    Currency::new(&code).map_err(|_| {
        anyhow!(
            "{option} {text:?}: not an ISO 4217 currency code with a minor unit \
             (e.g. EUR, USD, CHF, CAD)"
        )
    })
}

/// A strictly positive amount, exactly as typed, in `currency`.
pub fn amount(option: &str, text: &str, currency: Currency) -> anyhow::Result<Money> {
    let money = Money::parse(currency, text).map_err(|e| match e {
        fundtrail_domain::MoneyError::InvalidAmount { reason, .. } => anyhow!(
            "{option} {text:?}: {reason} ({currency} has {} decimal places)",
            currency.exponent()
        ),
        other => anyhow!("{option} {text:?}: {other}"),
    })?;
    if !money.is_positive() {
        bail!("{option} {text:?}: the amount must be positive");
    }
    Ok(money)
}

pub fn date(option: &str, text: &str) -> anyhow::Result<String> {
    fundtrail_proto::wire::calendar_date(text.trim())
        .map(fundtrail_proto::wire::date_text)
        .ok_or_else(|| anyhow!("{option} {text:?}: not a date in the form YYYY-MM-DD"))
}

pub fn country(option: &str, text: &str) -> anyhow::Result<CountryCode> {
    CountryCode::new(&text.trim().to_ascii_uppercase()).map_err(|e| anyhow!("{option}: {e}"))
}

pub fn donor_id(option: &str, text: &str) -> anyhow::Result<String> {
    DonorId::parse(text)
        .map(|id| id.to_string())
        .map_err(|e| anyhow!("{option}: {}", message(e)))
}

/// A UUID id (pledge, project, receipt, ...), in its canonical text form.
pub fn id(option: &str, what: &str, text: &str) -> anyhow::Result<String> {
    Uuid::parse_str(text.trim())
        .map(|id| id.to_string())
        .map_err(|_| anyhow!("{option} {text:?}: not a {what} id (a UUID such as 0190f3a4-…)"))
}

/// Free text the server requires: refuse an empty one here rather than there.
pub fn required(option: &str, text: &str) -> anyhow::Result<String> {
    let text = text.trim();
    if text.is_empty() {
        bail!("{option}: must not be empty");
    }
    if text.chars().any(char::is_control) {
        bail!("{option}: must not contain control characters");
    }
    Ok(text.to_owned())
}

pub fn request_id(text: &str) -> anyhow::Result<String> {
    let id = text.trim();
    fundtrail_store::validate_request_id(id)
        .map_err(|error| anyhow!("--request-id {text:?}: {error}"))?;
    Ok(id.to_owned())
}

/// `1:1`, `2:1`: matching money per contributed money; the domain says which ratios are allowed.
pub fn ratio(option: &str, text: &str) -> anyhow::Result<v1::MatchRatio> {
    let refused = || anyhow!("{option} {text:?}: write the ratio as two whole numbers, e.g. 1:1");
    let (numerator, denominator) = text
        .split_once(':')
        .and_then(|(n, d)| Some((n.trim().parse::<u32>().ok()?, d.trim().parse::<u32>().ok()?)))
        .ok_or_else(refused)?;
    let ratio = MatchRatio::new(numerator, denominator)
        .map_err(|error| anyhow!("{option} {text:?}: {}", message(error)))?;
    Ok(v1::MatchRatio {
        numerator: ratio.numerator(),
        denominator: ratio.denominator(),
    })
}

/// An exchange rate as typed: `--rate 1.0842 --rate-source "ECB reference rate"
/// --rate-date 2025-01-31`. Its currencies come from what it converts.
#[derive(Debug, Clone, Default, Args)]
pub struct RateArgs {
    /// The exchange rate as a decimal: 1 unit of the converted currency = RATE units of the
    /// target currency.
    #[arg(long, value_name = "RATE", requires_all = ["rate_source", "rate_date"])]
    pub rate: Option<String>,
    /// Where the rate comes from, e.g. "ECB reference rate".
    #[arg(long, value_name = "SOURCE", requires = "rate")]
    pub rate_source: Option<String>,
    /// The day the rate applies to, YYYY-MM-DD.
    #[arg(long, value_name = "DATE", requires = "rate")]
    pub rate_date: Option<String>,
}

impl RateArgs {
    /// Checks what can be checked before the currencies are known.
    pub fn check_syntax(&self) -> anyhow::Result<()> {
        if let Some(rate) = &self.rate {
            let valid = rate
                .trim()
                .parse::<rust_decimal::Decimal>()
                .is_ok_and(|r| r > rust_decimal::Decimal::ZERO);
            if !valid {
                bail!("--rate {rate:?}: not a positive decimal number");
            }
        }
        if let Some(date) = &self.rate_date {
            self::date("--rate-date", date)?;
        }
        if let Some(source) = &self.rate_source {
            required("--rate-source", source)?;
        }
        Ok(())
    }

    /// The rate converting `base` into `quote`, or `None` when no rate was given.
    pub fn rate(
        &self,
        base: Currency,
        quote: Currency,
    ) -> anyhow::Result<Option<v1::ExchangeRate>> {
        let (Some(rate), Some(source), Some(date)) =
            (&self.rate, &self.rate_source, &self.rate_date)
        else {
            return Ok(None);
        };
        let date = fundtrail_proto::wire::calendar_date(date.trim())
            .ok_or_else(|| anyhow!("--rate-date {date:?}: not a date in the form YYYY-MM-DD"))?;
        let parsed = ExchangeRate::parse(base, quote, rate, source.clone(), date)
            .map_err(|e| anyhow!("--rate {rate:?} ({base} to {quote}): {e}"))?;
        Ok(Some(v1::ExchangeRate::from(&parsed)))
    }

    pub fn given(&self) -> bool {
        self.rate.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_positive_and_in_the_minor_unit() {
        let eur = Currency::EUR;
        assert_eq!(
            amount("--amount", "1000000.00", eur).unwrap(),
            Money::new(eur, 100_000_000)
        );
        assert_eq!(
            amount("--amount", "1_500", eur).unwrap(),
            Money::new(eur, 150_000)
        );
        let error = amount("--amount", "12.345", eur).unwrap_err().to_string();
        assert!(
            error.contains("--amount") && error.contains("2 decimal places"),
            "{error}"
        );
        assert!(amount("--amount", "0", eur).is_err());
        assert!(amount("--amount", "-5", eur).is_err());
        assert!(amount("--amount", "ten", eur).is_err());
        assert!(amount("--amount", "99999999999999999999", eur).is_err());
    }

    #[test]
    fn codes_are_checked_and_accepted_in_lower_case() {
        assert_eq!(currency("--currency", "eur").unwrap(), Currency::EUR);
        let error = currency("--currency", "EUX").unwrap_err().to_string();
        assert!(error.contains("ISO 4217"), "{error}");
        assert_eq!(country("--country", "xk").unwrap().to_string(), "XK");
        assert!(country("--country", "XX").is_err());
        assert!(donor_id("--donor", "Netherlands").is_err());
        assert_eq!(donor_id("--donor", " XM-DAC-7 ").unwrap(), "XM-DAC-7");
    }

    #[test]
    fn dates_ids_ratios_and_request_ids() {
        assert_eq!(date("--date", "2025-01-10").unwrap(), "2025-01-10");
        assert!(date("--date", "10.01.2025").is_err());
        assert!(date("--date", "2025-02-30").is_err());
        assert!(id("--pledge", "pledge", "p-1").is_err());
        let uuid = "0190f3a4-0000-7000-8000-000000000001";
        assert_eq!(id("--pledge", "pledge", uuid).unwrap(), uuid);
        assert_eq!(ratio("--ratio", "2:1").unwrap().numerator, 2);
        assert!(ratio("--ratio", "0:1").is_err());
        assert!(ratio("--ratio", "1").is_err());
        assert!(request_id("has space").is_err());
        assert_eq!(request_id("demo-0001").unwrap(), "demo-0001");
    }

    #[test]
    fn rates_need_two_currencies_and_a_positive_decimal() {
        let args = RateArgs {
            rate: Some("1.0842".into()),
            rate_source: Some("ECB reference rate".into()),
            rate_date: Some("2025-01-31".into()),
        };
        args.check_syntax().unwrap();
        let rate = args.rate(Currency::EUR, Currency::USD).unwrap().unwrap();
        assert_eq!((rate.base.as_str(), rate.quote.as_str()), ("EUR", "USD"));
        assert_eq!(rate.rate, "1.0842");
        assert!(args.rate(Currency::USD, Currency::USD).is_err());
        let negative = RateArgs {
            rate: Some("-1".into()),
            ..args.clone()
        };
        assert!(negative.check_syntax().is_err());
        assert_eq!(
            RateArgs::default()
                .rate(Currency::EUR, Currency::USD)
                .unwrap(),
            None
        );
    }
}
