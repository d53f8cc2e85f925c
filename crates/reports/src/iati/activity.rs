//! IATI 2.03 activity files: one `iati-activity` per project.

use chrono::{Datelike, NaiveDate};
use fundtrail_domain::Money;

use super::Publisher;
use super::history::{Activity, Fund, Party, Transaction};
use super::xml::Xml;

/// `Money` as an IATI value: a plain decimal in the currency's minor unit.
pub fn value(money: Money) -> String {
    money.to_decimal().to_string()
}

fn date(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// Splits an amount over the calendar years of a period, in proportion to their days (IATI
/// budgets cover at most a year each); the last year takes the rounding.
pub fn annual(
    start: NaiveDate,
    end: NaiveDate,
    total: Money,
) -> Vec<(NaiveDate, NaiveDate, Money)> {
    let end = end.max(start);
    let days = |a: NaiveDate, b: NaiveDate| (b - a).num_days() + 1;
    let all = days(start, end);
    let mut out = Vec::new();
    let mut given = 0i64;
    let mut from = start;
    while from <= end {
        let year_end = NaiveDate::from_ymd_opt(from.year(), 12, 31).unwrap_or(end);
        let to = year_end.min(end);
        let share = if to == end {
            total.minor_units() - given
        } else {
            fundtrail_domain::money::mul_div_half_even(total.minor_units(), days(from, to), all)
                .unwrap_or(0)
        };
        given += share;
        out.push((from, to, Money::new(total.currency(), share)));
        match to.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

fn status(a: &Activity) -> &'static str {
    if a.closed {
        "4"
    } else if a.transactions.is_empty() {
        "1"
    } else {
        "2"
    }
}

fn org(x: &mut Xml, name: &'static str, party: &Party) {
    let mut attrs = Vec::new();
    if let Some(id) = &party.iati_id {
        attrs.push(("ref", id.as_str()));
    }
    x.narrative(name, &attrs, &party.name);
}

fn transaction(x: &mut Xml, t: &Transaction) {
    let id = t.event_id.to_string();
    let code = t.kind.code().to_string();
    let on = date(t.date);
    x.open("transaction", &[("ref", &id)]);
    x.empty("transaction-type", &[("code", &code)]);
    x.empty("transaction-date", &[("iso-date", &on)]);
    x.text(
        "value",
        &[("currency", t.value.currency().code()), ("value-date", &on)],
        &value(t.value),
    );
    x.narrative("description", &[], &t.description);
    if let Some(p) = &t.provider {
        org(x, "provider-org", p);
    }
    if let Some(r) = &t.receiver {
        org(x, "receiver-org", r);
    }
    x.close();
}

fn results(x: &mut Xml, a: &Activity) {
    let mut period_start = a.starts_on;
    for m in a.milestones.values() {
        let start = period_start.min(m.due_on);
        period_start = m.due_on.succ_opt().unwrap_or(m.due_on);
        x.open("result", &[("type", "1"), ("aggregation-status", "0")]);
        x.narrative(
            "title",
            &[],
            &format!("Milestone {}: {}", m.number, m.title),
        );
        x.open("indicator", &[("measure", "1"), ("ascending", "1")]);
        x.narrative("title", &[], m.indicator.name());
        x.narrative("description", &[], &format!("Unit: {}", m.indicator.unit()));
        x.open("period", &[]);
        x.empty("period-start", &[("iso-date", &date(start))]);
        x.empty("period-end", &[("iso-date", &date(m.due_on))]);
        x.empty("target", &[("value", &m.target.to_string())]);
        match (m.verified, m.reported) {
            (Some(actual), _) => {
                x.open("actual", &[("value", &actual.to_string())]);
                let released = m.released.unwrap_or(m.tranche);
                let comment = match m.target.saturating_sub(actual) {
                    0 => format!(
                        "Verified by the fund; released {released} of the {} tranche",
                        m.tranche
                    ),
                    shortfall => format!(
                        "Verified by the fund, {shortfall} {} short of the target; \
                         released {released} of the {} tranche",
                        m.indicator.unit(),
                        m.tranche
                    ),
                };
                x.narrative("comment", &[], &comment);
                x.close();
            }
            (None, Some(actual)) => {
                x.open("actual", &[("value", &actual.to_string())]);
                x.narrative("comment", &[], "Reported by the partner, not yet verified");
                x.close();
            }
            (None, None) => {}
        }
        x.close().close().close();
    }
}

/// One activity file holding the project.
pub fn activity_file(fund: &Fund, a: &Activity, publisher: &Publisher, generated: &str) -> String {
    let mut x = Xml::new();
    x.open(
        "iati-activities",
        &[("version", "2.03"), ("generated-datetime", generated)],
    );
    let updated = super::datetime(a.updated_at);
    x.open(
        "iati-activity",
        &[
            ("last-updated-datetime", &updated),
            ("xml:lang", "en"),
            ("default-currency", a.budget.currency().code()),
        ],
    );
    x.text(
        "iati-identifier",
        &[],
        &format!("{}-{}", publisher.identifier, a.project_id),
    );
    x.narrative(
        "reporting-org",
        &[
            ("ref", &publisher.identifier),
            ("type", &publisher.org_type),
        ],
        &publisher.name,
    );
    x.narrative("title", &[], &a.title);
    x.narrative(
        "description",
        &[("type", "1")],
        &format!(
            "{} in {}, implemented by {} and funded through {}.",
            a.title,
            a.country.name(),
            a.partner.name,
            publisher.name
        ),
    );
    let fund_org = [
        ("ref", publisher.identifier.as_str()),
        ("type", publisher.org_type.as_str()),
    ];
    x.narrative(
        "participating-org",
        &[fund_org[0], fund_org[1], ("role", "1")],
        &publisher.name,
    );
    for donor in &a.donors {
        let name = fund
            .donors
            .get(donor)
            .map_or_else(|| donor.to_string(), Clone::clone);
        x.narrative(
            "participating-org",
            &[("ref", donor.as_str()), ("role", "1")],
            &name,
        );
    }
    x.narrative(
        "participating-org",
        &[fund_org[0], fund_org[1], ("role", "3")],
        &publisher.name,
    );
    let mut partner = vec![("role", "4")];
    if let Some(id) = &a.partner.iati_id {
        partner.insert(0, ("ref", id.as_str()));
    }
    x.narrative("participating-org", &partner, &a.partner.name);
    x.empty("activity-status", &[("code", status(a))]);
    x.empty(
        "activity-date",
        &[("type", "1"), ("iso-date", &date(a.starts_on))],
    );
    if let Some(paid) = a.first_paid {
        x.empty("activity-date", &[("type", "2"), ("iso-date", &date(paid))]);
    }
    x.empty(
        "activity-date",
        &[("type", "3"), ("iso-date", &date(a.ends_on))],
    );
    x.empty(
        "recipient-country",
        &[("code", a.country.code()), ("percentage", "100")],
    );
    let sector = a.sector_code.to_string();
    x.empty(
        "sector",
        &[
            ("vocabulary", "1"),
            ("code", &sector),
            ("percentage", "100"),
        ],
    );
    for (from, to, amount) in annual(a.starts_on, a.ends_on, a.budget) {
        x.open("budget", &[("type", "1"), ("status", "1")]);
        x.empty("period-start", &[("iso-date", &date(from))]);
        x.empty("period-end", &[("iso-date", &date(to))]);
        x.text(
            "value",
            &[
                ("currency", amount.currency().code()),
                ("value-date", &date(from)),
            ],
            &value(amount),
        );
        x.close();
    }
    for m in a.milestones.values() {
        // Once verified, what the fund plans to pay is what the verification released: a
        // shortfall against the target withholds the rest of the tranche.
        let planned = m.released.unwrap_or(m.tranche);
        x.open("planned-disbursement", &[("type", "1")]);
        x.empty("period-start", &[("iso-date", &date(m.due_on))]);
        x.empty("period-end", &[("iso-date", &date(m.due_on))]);
        x.text(
            "value",
            &[
                ("currency", planned.currency().code()),
                ("value-date", &date(m.due_on)),
            ],
            &value(planned),
        );
        x.close();
    }
    for t in &a.transactions {
        transaction(&mut x, t);
    }
    results(&mut x, a);
    x.finish()
}

#[cfg(test)]
mod tests {
    use fundtrail_domain::Currency;

    use super::*;

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn budgets_split_by_calendar_year_and_add_up() {
        let total = Money::new(Currency::EUR, 10_000_001);
        let years = annual(day("2025-07-01"), day("2027-06-30"), total);
        let periods: Vec<_> = years.iter().map(|(a, b, _)| (*a, *b)).collect();
        assert_eq!(
            periods,
            [
                (day("2025-07-01"), day("2025-12-31")),
                (day("2026-01-01"), day("2026-12-31")),
                (day("2027-01-01"), day("2027-06-30")),
            ]
        );
        let sum: i64 = years.iter().map(|(_, _, m)| m.minor_units()).sum();
        assert_eq!(sum, total.minor_units());
        // 184 of 730 days.
        assert_eq!(years[0].2.minor_units(), 2_520_548);
        let one = annual(day("2025-03-01"), day("2025-03-01"), total);
        assert_eq!(one, [(day("2025-03-01"), day("2025-03-01"), total)]);
    }
}
