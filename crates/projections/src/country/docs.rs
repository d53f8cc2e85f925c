//! The documents the per-country view keeps.

use std::collections::{BTreeMap, BTreeSet};

use fundtrail_domain::{CountryCode, DonorId, Indicator, Money, ProjectId};
use serde::{Deserialize, Serialize};

use crate::codec;
use crate::figure::Figure;
use crate::rates::RateBook;

/// One donor's share of a country's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonorShare {
    pub pledged: Figure,
    pub committed: Figure,
    pub outstanding: Figure,
    pub received: Figure,
    /// In the pledges' currencies: the donor's money as they gave it.
    pub allocated: Figure,
    pub matched_reserved: Figure,
    pub matched_confirmed: Figure,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CountryDoc {
    pub pledged: Figure,
    pub committed: Figure,
    pub outstanding: Figure,
    pub received: Figure,
    pub matched_reserved: Figure,
    pub matched_confirmed: Figure,
    /// In the projects' currencies.
    pub allocated: Figure,
    /// Net of reversals and refunds, in the project accounts' currencies.
    pub disbursed: Figure,
    /// Refunded by implementing partners to the fund.
    pub refunded: Figure,
    /// Unallocated money earmarked for the country paid back to its donors.
    #[serde(default)]
    pub refunded_to_donors: Figure,
    #[serde(with = "codec::text_keys")]
    pub donors: BTreeMap<DonorId, DonorShare>,
    pub rates: RateBook,
    /// The last position that changed this country.
    pub changed_at: u64,
    /// Derived from the project documents when the view is restored.
    #[serde(skip)]
    pub projects: BTreeSet<ProjectId>,
}

/// What a milestone measures, as a key.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IndicatorKey {
    SquareMetresCleared,
    DevicesDestroyed,
    Other { name: String, unit: String },
}

impl From<&Indicator> for IndicatorKey {
    fn from(indicator: &Indicator) -> Self {
        match indicator {
            Indicator::SquareMetresCleared => Self::SquareMetresCleared,
            Indicator::DevicesDestroyed => Self::DevicesDestroyed,
            Indicator::Other { name, unit } => Self::Other {
                name: name.clone(),
                unit: unit.clone(),
            },
        }
    }
}

impl IndicatorKey {
    pub fn indicator(&self) -> Indicator {
        match self {
            Self::SquareMetresCleared => Indicator::SquareMetresCleared,
            Self::DevicesDestroyed => Indicator::DevicesDestroyed,
            Self::Other { name, unit } => Indicator::Other {
                name: name.clone(),
                unit: unit.clone(),
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MilestoneDoc {
    pub indicator: IndicatorKey,
    pub target: u64,
    /// The latest progress report not rejected since (the verified figure once verified).
    pub reported: Option<u64>,
    pub verified: Option<u64>,
    /// What the verification released; absent until verified (and in documents written
    /// before releases were kept, which a rebuild fills in).
    #[serde(default)]
    pub release: Option<ReleaseDoc>,
}

/// A verified milestone's tranche and what its verification released of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseDoc {
    /// The release rule's name: `proportional`, `all-or-nothing`, `whole on verification`.
    pub rule: String,
    #[serde(with = "codec::money")]
    pub tranche: Money,
    #[serde(with = "codec::money")]
    pub released: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDoc {
    #[serde(with = "codec::text")]
    pub country: CountryCode,
    pub title: String,
    pub partner: String,
    pub closed: bool,
    pub allocated: Figure,
    pub disbursed: Figure,
    pub milestones: BTreeMap<u32, MilestoneDoc>,
}

impl ProjectDoc {
    pub(crate) fn unregistered(country: CountryCode) -> Self {
        Self {
            country,
            title: String::new(),
            partner: String::new(),
            closed: false,
            allocated: Figure::default(),
            disbursed: Figure::default(),
            milestones: BTreeMap::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DonorName {
    pub name: String,
}
