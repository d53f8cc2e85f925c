//! The exchange rates a view's figures were converted at, with their sources.
//!
//! Rates change daily, so listing every rate a country's receipts used would grow with the
//! history. The views keep, per purpose, currency pair and source, how many events used a
//! rate, the range of days and of rates, and the latest rate: what a reader needs to see where
//! the reporting values came from, in a list that stays as short as the pairs and sources.

use chrono::NaiveDate;
use fundtrail_domain::{Currency, ExchangeRate};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::codec;

/// What a rate converted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RatePurpose {
    /// A receipt, from the pledge's currency to the reporting currency.
    Receipt,
    /// An allocation, from the pledge's currency to the project's.
    Allocation,
    /// A payment, from the project account's currency to the currency paid out.
    Payment,
}

/// The rates of one purpose, currency pair and source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateUses {
    pub purpose: RatePurpose,
    #[serde(with = "codec::text")]
    pub base: Currency,
    #[serde(with = "codec::text")]
    pub quote: Currency,
    pub source: String,
    /// How many events recorded a rate of this pair and source.
    pub uses: u32,
    /// The rate of the latest day used: `1 base = latest quote` on `latest_date`.
    #[serde(with = "codec::text")]
    pub latest: Decimal,
    #[serde(with = "codec::text")]
    pub latest_date: NaiveDate,
    #[serde(with = "codec::text")]
    pub first_date: NaiveDate,
    #[serde(with = "codec::text")]
    pub lowest: Decimal,
    #[serde(with = "codec::text")]
    pub highest: Decimal,
}

impl RateUses {
    fn matches(&self, purpose: RatePurpose, rate: &ExchangeRate) -> bool {
        self.purpose == purpose
            && self.base == rate.base()
            && self.quote == rate.quote()
            && self.source == rate.source()
    }

    fn first(purpose: RatePurpose, rate: &ExchangeRate) -> Self {
        Self {
            purpose,
            base: rate.base(),
            quote: rate.quote(),
            source: rate.source().to_owned(),
            uses: 1,
            latest: rate.rate(),
            latest_date: rate.date(),
            first_date: rate.date(),
            lowest: rate.rate(),
            highest: rate.rate(),
        }
    }

    fn record(&mut self, rate: &ExchangeRate) {
        self.uses = self.uses.saturating_add(1);
        // Later days win; on the same day, the rate recorded last.
        if rate.date() >= self.latest_date {
            self.latest = rate.rate();
            self.latest_date = rate.date();
        }
        self.first_date = self.first_date.min(rate.date());
        self.lowest = self.lowest.min(rate.rate());
        self.highest = self.highest.max(rate.rate());
    }
}

/// The rates a view used, by purpose, currency pair and source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RateBook {
    uses: Vec<RateUses>,
}

impl RateBook {
    pub fn record(&mut self, purpose: RatePurpose, rate: Option<&ExchangeRate>) {
        let Some(rate) = rate else {
            return;
        };
        // A handful of pairs and sources: a scan finds them without allocating.
        if let Some(uses) = self.uses.iter_mut().find(|u| u.matches(purpose, rate)) {
            uses.record(rate);
        } else {
            self.uses.push(RateUses::first(purpose, rate));
            self.uses.sort_by(|a, b| {
                (a.purpose, a.base, a.quote, &a.source)
                    .cmp(&(b.purpose, b.base, b.quote, &b.source))
            });
        }
    }

    /// By purpose, currency pair and source.
    pub fn list(&self) -> Vec<RateUses> {
        self.uses.clone()
    }
}
