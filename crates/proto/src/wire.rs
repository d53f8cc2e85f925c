//! Wire values to domain values and back.
//!
//! Reading from the wire validates: every failure names the request field to fix, so the
//! services can answer `INVALID_ARGUMENT` with a field violation. Writing to the wire cannot
//! fail.

use chrono::NaiveDate;
use fundtrail_domain::{
    Actor, CountryCode, Currency, DomainError, DonorKind, Earmark, ExchangeRate, Indicator,
    MatchRatio, Money, Partner, ProjectId,
};

use crate::v1;

/// The wire's date format.
pub const DATE_FORMAT: &str = "%Y-%m-%d";

pub fn currency(field: &str, code: &str) -> Result<Currency, DomainError> {
    Currency::new(code.trim()).map_err(|e| DomainError::invalid(field, e.to_string()))
}

/// A required amount.
pub fn money(field: &str, value: Option<&v1::Money>) -> Result<Money, DomainError> {
    let value = value.ok_or_else(|| DomainError::invalid(field, "an amount is required"))?;
    Ok(Money::new(
        currency(&format!("{field}.currency"), &value.currency)?,
        value.minor_units,
    ))
}

/// An optional amount: absent stays absent.
pub fn opt_money(field: &str, value: Option<&v1::Money>) -> Result<Option<Money>, DomainError> {
    value.map(|m| money(field, Some(m))).transpose()
}

/// A calendar date written exactly `YYYY-MM-DD` (ISO 8601, four-digit year): chrono alone also
/// takes a signed or unpadded year (`-2025-01-01`, `+2025-01-01`, `2025-1-1`) and a stored
/// date must be what the client meant, so anything else is refused rather than rewritten.
pub fn calendar_date(text: &str) -> Option<NaiveDate> {
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            _ => b.is_ascii_digit(),
        });
    if !shaped {
        return None;
    }
    NaiveDate::parse_from_str(text, DATE_FORMAT).ok()
}

pub fn date(field: &str, text: &str) -> Result<NaiveDate, DomainError> {
    calendar_date(text).ok_or_else(|| {
        DomainError::invalid(
            field,
            format!("{text:?} is not a date in the form YYYY-MM-DD"),
        )
    })
}

pub fn country(field: &str, code: &str) -> Result<CountryCode, DomainError> {
    CountryCode::new(code.trim()).map_err(|e| DomainError::invalid(field, e.to_string()))
}

pub fn countries(field: &str, codes: &[String]) -> Result<Vec<CountryCode>, DomainError> {
    codes
        .iter()
        .enumerate()
        .map(|(i, c)| country(&format!("{field}[{i}]"), c))
        .collect()
}

/// An optional rate: an absent message means "no rate".
pub fn rate(
    field: &str,
    value: Option<&v1::ExchangeRate>,
) -> Result<Option<ExchangeRate>, DomainError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let parsed = ExchangeRate::parse(
        currency(&format!("{field}.base"), &value.base)?,
        currency(&format!("{field}.quote"), &value.quote)?,
        &value.rate,
        value.source.clone(),
        date(&format!("{field}.date"), &value.date)?,
    )
    .map_err(|e| DomainError::invalid(field, e.to_string()))?;
    Ok(Some(parsed))
}

/// The earmark as a request states it: a project earmark names only the project, whose
/// country the service looks up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestedEarmark {
    None,
    Country(CountryCode),
    Project(ProjectId),
}

pub fn requested_earmark(
    field: &str,
    value: Option<&v1::Earmark>,
) -> Result<RequestedEarmark, DomainError> {
    match value.and_then(|e| e.target.as_ref()) {
        None => Ok(RequestedEarmark::None),
        Some(v1::earmark::Target::Country(code)) => Ok(RequestedEarmark::Country(country(
            &format!("{field}.country"),
            code,
        )?)),
        Some(v1::earmark::Target::Project(project)) => Ok(RequestedEarmark::Project(
            ProjectId::parse(&project.project_id).map_err(|_| {
                DomainError::invalid(
                    format!("{field}.project.project_id"),
                    format!("{:?} is not a project id (UUID)", project.project_id),
                )
            })?,
        )),
    }
}

/// A recorded earmark, project country included.
pub fn earmark(field: &str, value: Option<&v1::Earmark>) -> Result<Earmark, DomainError> {
    match value.and_then(|e| e.target.as_ref()) {
        None => Ok(Earmark::None),
        Some(v1::earmark::Target::Country(code)) => Ok(Earmark::Country(country(
            &format!("{field}.country"),
            code,
        )?)),
        Some(v1::earmark::Target::Project(project)) => Ok(Earmark::Project {
            project_id: ProjectId::parse(&project.project_id)?,
            country: country(&format!("{field}.project.country"), &project.country)?,
        }),
    }
}

pub fn ratio(field: &str, value: Option<&v1::MatchRatio>) -> Result<MatchRatio, DomainError> {
    match value {
        None
        | Some(v1::MatchRatio {
            numerator: 0,
            denominator: 0,
        }) => Ok(MatchRatio::ONE_TO_ONE),
        Some(r) => MatchRatio::new(r.numerator, r.denominator)
            .map_err(|e| DomainError::invalid(field, e.to_string())),
    }
}

pub fn indicator(field: &str, value: Option<&v1::Indicator>) -> Result<Indicator, DomainError> {
    let value = value.ok_or_else(|| DomainError::invalid(field, "an indicator is required"))?;
    match v1::IndicatorKind::try_from(value.kind) {
        Ok(v1::IndicatorKind::SquareMetresCleared) => Ok(Indicator::SquareMetresCleared),
        Ok(v1::IndicatorKind::DevicesDestroyed) => Ok(Indicator::DevicesDestroyed),
        Ok(v1::IndicatorKind::Other) => Ok(Indicator::Other {
            name: value.name.clone(),
            unit: value.unit.clone(),
        }),
        Ok(v1::IndicatorKind::Unspecified) | Err(_) => Err(DomainError::invalid(
            format!("{field}.kind"),
            "choose SQUARE_METRES_CLEARED, DEVICES_DESTROYED or OTHER (with name and unit)",
        )),
    }
}

pub fn partner(
    field: &str,
    value: Option<&v1::ImplementingPartner>,
) -> Result<Partner, DomainError> {
    let value =
        value.ok_or_else(|| DomainError::invalid(field, "the implementing partner is required"))?;
    Ok(Partner {
        name: value.name.clone(),
        iati_id: Some(value.iati_id.clone()).filter(|id| !id.trim().is_empty()),
    })
}

pub fn donor_kind(field: &str, value: i32) -> Result<DonorKind, DomainError> {
    match v1::DonorKind::try_from(value) {
        Ok(v1::DonorKind::Government) => Ok(DonorKind::Government),
        Ok(v1::DonorKind::Multilateral) => Ok(DonorKind::Multilateral),
        Ok(v1::DonorKind::Private) => Ok(DonorKind::Private),
        Ok(v1::DonorKind::Unspecified) | Err(_) => Err(DomainError::invalid(
            field,
            "choose GOVERNMENT, MULTILATERAL or PRIVATE",
        )),
    }
}

pub fn actor(field: &str, value: &str) -> Result<Actor, DomainError> {
    Actor::parse(value).map_err(|e| DomainError::invalid(field, e.to_string()))
}

/// A milestone number on the wire, where 0 means "none".
pub fn milestone(value: u32) -> Option<u32> {
    (value != 0).then_some(value)
}

impl From<Money> for v1::Money {
    fn from(m: Money) -> Self {
        v1::Money {
            currency: m.currency().code().to_owned(),
            minor_units: m.minor_units(),
        }
    }
}

impl From<&ExchangeRate> for v1::ExchangeRate {
    fn from(r: &ExchangeRate) -> Self {
        v1::ExchangeRate {
            base: r.base().to_string(),
            quote: r.quote().to_string(),
            rate: r.rate().to_string(),
            source: r.source().to_owned(),
            date: date_text(r.date()),
        }
    }
}

impl From<&Earmark> for v1::Earmark {
    fn from(e: &Earmark) -> Self {
        let target = match e {
            Earmark::None => None,
            Earmark::Country(c) => Some(v1::earmark::Target::Country(c.to_string())),
            Earmark::Project {
                project_id,
                country,
            } => Some(v1::earmark::Target::Project(v1::ProjectEarmark {
                project_id: project_id.to_string(),
                country: country.to_string(),
            })),
        };
        v1::Earmark { target }
    }
}

impl From<MatchRatio> for v1::MatchRatio {
    fn from(r: MatchRatio) -> Self {
        v1::MatchRatio {
            numerator: r.numerator(),
            denominator: r.denominator(),
        }
    }
}

impl From<&Indicator> for v1::Indicator {
    fn from(i: &Indicator) -> Self {
        match i {
            Indicator::SquareMetresCleared => v1::Indicator {
                kind: v1::IndicatorKind::SquareMetresCleared.into(),
                ..Default::default()
            },
            Indicator::DevicesDestroyed => v1::Indicator {
                kind: v1::IndicatorKind::DevicesDestroyed.into(),
                ..Default::default()
            },
            Indicator::Other { name, unit } => v1::Indicator {
                kind: v1::IndicatorKind::Other.into(),
                name: name.clone(),
                unit: unit.clone(),
            },
        }
    }
}

impl From<&Partner> for v1::ImplementingPartner {
    fn from(p: &Partner) -> Self {
        v1::ImplementingPartner {
            name: p.name.clone(),
            iati_id: p.iati_id.clone().unwrap_or_default(),
        }
    }
}

impl From<DonorKind> for v1::DonorKind {
    fn from(k: DonorKind) -> Self {
        match k {
            DonorKind::Government => v1::DonorKind::Government,
            DonorKind::Multilateral => v1::DonorKind::Multilateral,
            DonorKind::Private => v1::DonorKind::Private,
        }
    }
}

pub fn date_text(date: NaiveDate) -> String {
    date.format(DATE_FORMAT).to_string()
}

#[cfg(test)]
mod dates {
    use super::{calendar_date, date};

    #[test]
    fn only_four_digit_padded_dates_are_dates() {
        assert_eq!(
            calendar_date("2025-01-31")
                .map(|d| d.to_string())
                .as_deref(),
            Some("2025-01-31")
        );
        for refused in [
            "-2025-01-01",
            "+2025-01-01",
            "2025-1-1",
            "02025-01-01",
            " 2025-01-01",
            "2025-01-01 ",
            "2025-02-30",
            "2025/01/01",
            "",
            "２０２５-01-01",
        ] {
            assert!(
                calendar_date(refused).is_none(),
                "{refused:?} was taken as a date"
            );
            let error = date("pledged_on", refused).unwrap_err().to_string();
            assert!(error.starts_with("pledged_on:"), "{error}");
        }
    }
}
