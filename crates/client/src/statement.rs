//! `fundtrail funding donor ID --csv FILE --xlsx FILE`: the statement's lines as the web view
//! downloads them, written from what the Funding API sent.

use std::path::Path;

use anyhow::Context as _;
use chrono::NaiveDate;
use fundtrail_domain::{CountryCode, DonorId, Money};
use fundtrail_projections::donor::{AllocationReport, DisbursementReport, ReceiptReport};
use fundtrail_proto::v1;
use fundtrail_reports::statement::{self, Lines};

use super::output;

fn money(value: Option<&v1::Money>, what: &str) -> anyhow::Result<Money> {
    let currency = output::currency_of(value, what)?;
    Ok(Money::new(currency, value.map_or(0, |m| m.minor_units)))
}

fn date(text: &str, what: &str) -> anyhow::Result<NaiveDate> {
    text.parse()
        .with_context(|| format!("the server sent {what} {text:?}, not a date"))
}

fn id<T: std::str::FromStr>(text: &str, what: &str) -> anyhow::Result<T> {
    text.parse()
        .map_err(|_| anyhow::anyhow!("the server sent {what} {text:?}, not an identifier"))
}

fn country(text: &str) -> anyhow::Result<CountryCode> {
    CountryCode::new(text)
        .map_err(|_| anyhow::anyhow!("the server sent a country {text:?}, not ISO 3166-1"))
}

/// The statement's lines, as the reports know them.
struct Parsed {
    donor_id: DonorId,
    receipts: Vec<ReceiptReport>,
    allocations: Vec<AllocationReport>,
    disbursements: Vec<DisbursementReport>,
}

fn parse(s: &v1::DonorStatement) -> anyhow::Result<Parsed> {
    let donor_id = DonorId::parse(&s.donor_id)
        .map_err(|_| anyhow::anyhow!("the server sent a donor id {:?}", s.donor_id))?;
    let optional = |m: Option<&v1::Money>, what: &str| m.map(|m| money(Some(m), what)).transpose();
    let receipts = s
        .receipts
        .iter()
        .map(|r| {
            Ok(ReceiptReport {
                receipt_id: id(&r.receipt_id, "a receipt id")?,
                pledge_id: id(&r.pledge_id, "a pledge id")?,
                country: (!r.country.is_empty())
                    .then(|| country(&r.country))
                    .transpose()?,
                value_date: date(&r.value_date, "a value date")?,
                amount: money(r.amount.as_ref(), "a receipt")?,
                reporting_amount: money(r.reporting_amount.as_ref(), "a receipt's value")?,
                bank_reference: r.bank_reference.clone(),
                reversed: r.reversed,
                matching_reserved: optional(r.matching_reserved.as_ref(), "a match")?,
                matching_confirmed: optional(r.matching_confirmed.as_ref(), "a match")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let allocations = s
        .allocations
        .iter()
        .map(|a| {
            Ok(AllocationReport {
                allocation_id: id(&a.allocation_id, "an allocation id")?,
                pledge_id: id(&a.pledge_id, "a pledge id")?,
                project_id: id(&a.project_id, "a project id")?,
                project_title: a.project_title.clone(),
                country: country(&a.country)?,
                recorded_on: date(&a.recorded_on, "an allocation date")?,
                amount: money(a.amount.as_ref(), "an allocation")?,
                project_amount: money(a.project_amount.as_ref(), "an allocation")?,
                reporting_amount: money(a.reporting_amount.as_ref(), "an allocation's value")?,
                returned: money(a.returned.as_ref(), "a return")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    let disbursements = s
        .disbursements
        .iter()
        .map(|d| {
            Ok(DisbursementReport {
                disbursement_id: id(&d.disbursement_id, "a disbursement id")?,
                project_id: id(&d.project_id, "a project id")?,
                project_title: d.project_title.clone(),
                country: country(&d.country)?,
                paid_on: date(&d.paid_on, "a payment date")?,
                bank_reference: d.bank_reference.clone(),
                amount: money(d.amount.as_ref(), "a payment")?,
                share: money(d.share.as_ref(), "a donor's share")?,
                share_reporting: money(d.share_reporting.as_ref(), "a share's value")?,
                reversed: money(d.reversed.as_ref(), "a reversal")?,
                refunded: money(d.refunded.as_ref(), "a refund")?,
            })
        })
        .collect::<anyhow::Result<_>>()?;
    Ok(Parsed {
        donor_id,
        receipts,
        allocations,
        disbursements,
    })
}

/// Writes the statement's lines to `csv` and `xlsx`, whichever are given; what was written, in
/// words.
pub fn write(
    s: &v1::DonorStatement,
    csv: Option<&Path>,
    xlsx: Option<&Path>,
) -> anyhow::Result<Vec<String>> {
    let parsed = parse(s)?;
    let lines = Lines {
        donor_id: &parsed.donor_id,
        receipts: &parsed.receipts,
        allocations: &parsed.allocations,
        disbursements: &parsed.disbursements,
    };
    let what = format!(
        "{} receipts, {} allocations and {} disbursements",
        parsed.receipts.len(),
        parsed.allocations.len(),
        parsed.disbursements.len()
    );
    let mut done = Vec::new();
    for (path, bytes) in [
        (csv, csv.map(|_| statement::csv(lines))),
        (xlsx, xlsx.map(|_| statement::xlsx(lines))),
    ] {
        let (Some(path), Some(bytes)) = (path, bytes) else {
            continue;
        };
        std::fs::write(path, bytes?).with_context(|| format!("writing {}", path.display()))?;
        done.push(format!("wrote {what} to {}", path.display()));
    }
    Ok(done)
}
