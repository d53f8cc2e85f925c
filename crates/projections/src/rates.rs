//! The exchange rates a view's figures were converted at, with their sources.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fundtrail_domain::{Currency, ExchangeRate};
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

impl RatePurpose {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Receipt => "receipt",
            Self::Allocation => "allocation",
            Self::Payment => "payment",
        }
    }
}

/// A rate as recorded on an event: `1 base = rate quote`, its source and its day.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct RateUsed {
    pub purpose: RatePurpose,
    #[serde(with = "codec::text")]
    pub base: Currency,
    #[serde(with = "codec::text")]
    pub quote: Currency,
    /// The decimal as recorded, e.g. `0.9123`.
    pub rate: String,
    pub source: String,
    #[serde(with = "codec::text")]
    pub date: NaiveDate,
}

impl RateUsed {
    pub fn of(purpose: RatePurpose, rate: &ExchangeRate) -> Self {
        Self {
            purpose,
            base: rate.base(),
            quote: rate.quote(),
            rate: rate.rate().to_string(),
            source: rate.source().to_owned(),
            date: rate.date(),
        }
    }
}

/// A rate and how many events recorded it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateUses {
    #[serde(flatten)]
    pub rate: RateUsed,
    pub uses: u32,
}

/// The rates a view used, each counted once per event that recorded it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "Vec<RateUses>", into = "Vec<RateUses>")]
pub struct RateBook {
    uses: BTreeMap<RateUsed, u32>,
}

impl RateBook {
    pub fn record(&mut self, purpose: RatePurpose, rate: Option<&ExchangeRate>) {
        if let Some(rate) = rate {
            let uses = self.uses.entry(RateUsed::of(purpose, rate)).or_default();
            *uses = uses.saturating_add(1);
        }
    }

    /// By purpose, then currencies, then rate, source and day.
    pub fn list(&self) -> Vec<RateUses> {
        self.uses
            .iter()
            .map(|(rate, uses)| RateUses {
                rate: rate.clone(),
                uses: *uses,
            })
            .collect()
    }
}

impl From<Vec<RateUses>> for RateBook {
    fn from(list: Vec<RateUses>) -> Self {
        Self {
            uses: list.into_iter().map(|r| (r.rate, r.uses)).collect(),
        }
    }
}

impl From<RateBook> for Vec<RateUses> {
    fn from(book: RateBook) -> Self {
        book.list()
    }
}
