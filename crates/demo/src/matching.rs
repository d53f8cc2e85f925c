//! What the pool should have matched once the demo is in, asked of the domain's pool terms.

use anyhow::{Context, bail};
use chrono::NaiveDate;
use fundtrail_domain::{
    CountryCode, Currency, DonorId, DonorKind, DonorProfile, MatchRatio, MatchingPoolId, Money,
    PoolTerms,
};

use super::script::{DONORS, PLEDGES, POOL_CAP, POOL_COUNTRIES, POOL_DONOR, POOL_EXPIRES, Step};
use super::{currency, steps};

/// How many receipts the pool matches and the funds its donor's receipts bring, from the
/// script: what the domain's pool terms admit.
pub(super) fn expected_matching() -> anyhow::Result<(usize, Money)> {
    let terms = PoolTerms {
        pool_id: MatchingPoolId::from_uuid(uuid::Uuid::nil()),
        matching_donor_id: DonorId::parse(POOL_DONOR)?,
        cap: Money::parse(Currency::USD, POOL_CAP)?,
        ratio: MatchRatio::ONE_TO_ONE,
        eligible_countries: POOL_COUNTRIES
            .iter()
            .map(|c| CountryCode::new(c))
            .collect::<Result<_, _>>()?,
        expires_on: date(POOL_EXPIRES)?,
    };
    let mut matched = 0;
    let mut funds = Money::zero(Currency::USD);
    for step in steps() {
        let Step::Receive(receipt) = step else {
            continue;
        };
        let Some(pledge) = PLEDGES.iter().find(|p| p.key == receipt.pledge) else {
            bail!("demo: receipt on unknown pledge {}", receipt.pledge);
        };
        let Some(donor) = DONORS.iter().find(|d| d.id == pledge.donor) else {
            bail!(
                "demo: pledge {} of unknown donor {}",
                pledge.key,
                pledge.donor
            );
        };
        if pledge.donor == POOL_DONOR {
            funds = funds.checked_add(Money::parse(currency(pledge.currency)?, receipt.amount)?)?;
            continue;
        }
        let profile = DonorProfile {
            donor_id: DonorId::parse(donor.id)?,
            name: donor.name.to_owned(),
            // The kind of donor plays no part in matching.
            kind: DonorKind::Government,
            matching_eligible: donor.matching_eligible,
        };
        let country = (!pledge.country.is_empty())
            .then(|| CountryCode::new(pledge.country))
            .transpose()?;
        if terms.admits(&profile, country, date(receipt.on)?).is_ok() {
            matched += 1;
        }
    }
    Ok((matched, funds))
}

fn date(text: &str) -> anyhow::Result<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").with_context(|| format!("demo: date {text:?}"))
}
