//! CSV of the per-country view and of donor statements, as finance staff and donors open
//! them in a spreadsheet: one row per country, per country and currency, and per donor and
//! place.

use std::path::{Path, PathBuf};

use fundtrail_domain::Money;
use fundtrail_projections::{Amount, Views};

fn decimal(money: Money) -> String {
    money.to_decimal().to_string()
}

/// The reporting value, and whether every part of it had a rate.
fn reporting(a: &Amount) -> [String; 1] {
    [decimal(a.reporting)]
}

fn originals(a: &Amount) -> String {
    a.original
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("writing {path}: {source}")]
    Csv { path: String, source: ::csv::Error },
}

fn writer(path: &Path) -> Result<::csv::Writer<std::fs::File>, ReportError> {
    ::csv::Writer::from_path(path).map_err(|source| ReportError::Csv {
        path: path.display().to_string(),
        source,
    })
}

/// Writes `countries.csv`, `country-currencies.csv` and `donor-statements.csv` into `dir`.
pub fn write(views: &Views, dir: &Path) -> Result<Vec<PathBuf>, ReportError> {
    let fail = |path: &Path| {
        let path = path.display().to_string();
        move |source: ::csv::Error| ReportError::Csv {
            path: path.clone(),
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(|e| fail(dir)(e.into()))?;
    let figures = [
        "pledged",
        "committed",
        "outstanding",
        "received",
        "matched_reserved",
        "matched_confirmed",
        "allocated",
        "disbursed",
        "refunded",
        "undisbursed",
    ];

    let countries = dir.join("countries.csv");
    let mut w = writer(&countries)?;
    let mut header = vec!["country", "country_name", "reporting_currency"];
    header.extend(figures);
    header.extend([
        "delivery_rate_bps",
        "reporting_complete",
        "projects",
        "position",
    ]);
    w.write_record(&header).map_err(fail(&countries))?;
    let currencies = dir.join("country-currencies.csv");
    let mut wc = writer(&currencies)?;
    wc.write_record([
        "country",
        "currency",
        "pledged",
        "pledged_reporting",
        "received",
        "received_reporting",
        "allocated",
        "allocated_reporting",
        "disbursed",
        "disbursed_reporting",
    ])
    .map_err(fail(&currencies))?;
    for r in views.country.reports() {
        let amounts = [
            &r.pledged,
            &r.committed,
            &r.outstanding,
            &r.received,
            &r.matched_reserved,
            &r.matched_confirmed,
            &r.allocated,
            &r.disbursed,
            &r.refunded,
            &r.undisbursed,
        ];
        let mut row = vec![
            r.country.to_string(),
            r.country_name.clone(),
            r.reporting_currency.to_string(),
        ];
        row.extend(amounts.iter().flat_map(|a| reporting(a)));
        row.push(r.delivery_rate_bps.to_string());
        row.push(amounts.iter().all(|a| a.reporting_complete).to_string());
        row.push(r.projects.len().to_string());
        row.push(r.position.to_string());
        w.write_record(&row).map_err(fail(&countries))?;
        for c in &r.currencies {
            wc.write_record([
                r.country.to_string(),
                c.currency.to_string(),
                decimal(c.pledged.amount),
                decimal(c.pledged.reporting),
                decimal(c.received.amount),
                decimal(c.received.reporting),
                decimal(c.allocated.amount),
                decimal(c.allocated.reporting),
                decimal(c.disbursed.amount),
                decimal(c.disbursed.reporting),
            ])
            .map_err(fail(&currencies))?;
        }
    }
    w.flush().map_err(|e| fail(&countries)(e.into()))?;
    wc.flush().map_err(|e| fail(&currencies)(e.into()))?;

    let donors = dir.join("donor-statements.csv");
    let mut wd = writer(&donors)?;
    wd.write_record([
        "donor_id",
        "donor_name",
        "kind",
        "place",
        "reporting_currency",
        "pledged",
        "committed",
        "received",
        "outstanding",
        "allocated",
        "pledged_original",
        "received_original",
        "position",
    ])
    .map_err(fail(&donors))?;
    let ids: Vec<_> = views.donors.donors().cloned().collect();
    for id in ids {
        let Some(d) = views.donors.report(&id) else {
            continue;
        };
        let mut row = |place: &str,
                       p: &Amount,
                       c: &Amount,
                       r: &Amount,
                       o: Option<&Amount>,
                       a: Option<&Amount>| {
            wd.write_record([
                d.donor_id.to_string(),
                d.donor_name.clone(),
                d.kind.clone(),
                place.to_owned(),
                d.reporting_currency.to_string(),
                decimal(p.reporting),
                decimal(c.reporting),
                decimal(r.reporting),
                o.map(|o| decimal(o.reporting)).unwrap_or_default(),
                a.map(|a| decimal(a.reporting)).unwrap_or_default(),
                originals(p),
                originals(r),
                d.position.to_string(),
            ])
        };
        row(
            "total",
            &d.pledged,
            &d.committed,
            &d.received,
            Some(&d.outstanding),
            Some(&d.allocated),
        )
        .map_err(fail(&donors))?;
        let u = &d.unearmarked;
        row(
            "unearmarked",
            &u.pledged,
            &u.committed,
            &u.received,
            None,
            None,
        )
        .map_err(fail(&donors))?;
        for c in &d.countries {
            row(
                c.country.code(),
                &c.pledged,
                &c.committed,
                &c.received,
                None,
                Some(&c.allocated),
            )
            .map_err(fail(&donors))?;
        }
    }
    wd.flush().map_err(|e| fail(&donors)(e.into()))?;
    Ok(vec![countries, currencies, donors])
}
