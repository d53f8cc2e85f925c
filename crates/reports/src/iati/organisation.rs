//! The IATI 2.03 organisation file: the fund, with its budgets per year and per recipient
//! country.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use fundtrail_domain::{CountryCode, Currency};

use super::Publisher;
use super::activity::{annual, value};
use super::history::Fund;
use super::xml::Xml;

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

type Period = (NaiveDate, NaiveDate);

pub fn organisation_file(fund: &Fund, publisher: &Publisher, generated: &str) -> String {
    // Projects' budgets by year, in each project's currency; a year is the calendar year.
    let mut total: BTreeMap<(Period, Currency), i64> = BTreeMap::new();
    let mut countries: BTreeMap<(CountryCode, Period, Currency), i64> = BTreeMap::new();
    for a in fund.activities.values() {
        for (from, to, amount) in annual(a.starts_on, a.ends_on, a.budget) {
            let year = year_of(from, to);
            *total.entry((year, amount.currency())).or_default() += amount.minor_units();
            *countries
                .entry((a.country, year, amount.currency()))
                .or_default() += amount.minor_units();
        }
    }
    let mut x = Xml::new();
    x.open(
        "iati-organisations",
        &[("version", "2.03"), ("generated-datetime", generated)],
    );
    let updated = super::datetime(fund.recorded_at);
    x.open(
        "iati-organisation",
        &[("last-updated-datetime", &updated), ("xml:lang", "en")],
    );
    x.text("organisation-identifier", &[], &publisher.identifier);
    x.narrative("name", &[], &publisher.name);
    x.narrative(
        "reporting-org",
        &[
            ("ref", &publisher.identifier),
            ("type", &publisher.org_type),
        ],
        &publisher.name,
    );
    for (((from, to), currency), minor) in &total {
        x.open("total-budget", &[("status", "1")]);
        budget_body(&mut x, *from, *to, *currency, *minor);
        x.close();
    }
    for ((country, (from, to), currency), minor) in &countries {
        x.open("recipient-country-budget", &[("status", "1")]);
        x.narrative(
            "recipient-country",
            &[("code", country.code())],
            country.name(),
        );
        budget_body(&mut x, *from, *to, *currency, *minor);
        x.close();
    }
    x.finish()
}

/// The whole calendar year a part-year budget falls in, so budgets of projects starting at
/// different dates add up per year.
fn year_of(from: NaiveDate, to: NaiveDate) -> Period {
    use chrono::Datelike;
    let start = NaiveDate::from_ymd_opt(from.year(), 1, 1).unwrap_or(from);
    let end = NaiveDate::from_ymd_opt(from.year(), 12, 31).unwrap_or(to);
    (start, end)
}

fn budget_body(x: &mut Xml, from: NaiveDate, to: NaiveDate, currency: Currency, minor: i64) {
    x.empty("period-start", &[("iso-date", &date(from))]);
    x.empty("period-end", &[("iso-date", &date(to))]);
    x.text(
        "value",
        &[("currency", currency.code()), ("value-date", &date(from))],
        &value(fundtrail_domain::Money::new(currency, minor)),
    );
}
