//! A donor's statement as a download: its receipts (with the matching each earned), its
//! allocations and the disbursements its money funded, as CSV or as an XLSX workbook.
//!
//! Both are for spreadsheets, so amounts are numbers and never the grouped text people read on
//! a page: in CSV a plain decimal written from the minor units (`-1234.50`), with the
//! currency's code in the next column; in XLSX a number cell shown with the currency's decimals
//! (`#,##0.00`, `#,##0` for JPY), its code in the next cell. The CSV (RFC 4180: commas, CRLF,
//! fields quoted when they hold a comma, a quote or a line break) is one table with a `section`
//! column; the workbook has a sheet per section. A disbursement row's amount is the donor's
//! share of the payment (see `fundtrail_projections::donor::lines` on how it is attributed), with the
//! whole payment beside it.

use chrono::NaiveDate;
use fundtrail_domain::{DonorId, Money};
use fundtrail_projections::donor::{
    AllocationReport, DisbursementReport, DonorReport, ReceiptReport,
};
use rust_xlsxwriter::{Format, Workbook, XlsxError};

/// Could not write a statement.
#[derive(Debug, thiserror::Error)]
pub enum StatementError {
    #[error("writing the CSV statement: {0}")]
    Csv(#[from] ::csv::Error),
    #[error("writing the XLSX statement: {0}")]
    Xlsx(#[from] XlsxError),
}

/// The sections of a statement, in their order, and the name of each one's sheet.
const SECTIONS: [(&str, &str); 3] = [
    ("receipt", "Receipts"),
    ("allocation", "Allocations"),
    ("disbursement", "Disbursements"),
];

/// One line of a statement, whatever its section; what does not apply stays empty.
#[derive(Debug, Default)]
struct Row {
    section: &'static str,
    date: Option<NaiveDate>,
    id: String,
    pledge_id: String,
    project_id: String,
    project_title: String,
    country: String,
    bank_reference: String,
    status: &'static str,
    amount: Option<Money>,
    reporting_amount: Option<Money>,
    project_amount: Option<Money>,
    taken_back: Option<Money>,
    payment: Option<Money>,
    matching_reserved: Option<Money>,
    matching_confirmed: Option<Money>,
}

/// A column: text, or an amount that takes two (the number, then its currency's code).
#[derive(Clone, Copy)]
enum Column {
    Text(&'static str, fn(&Row) -> String),
    Money(&'static str, &'static str, fn(&Row) -> Option<Money>),
}

const DATE: Column = Column::Text("date", |l| {
    l.date.map(|d| d.to_string()).unwrap_or_default()
});
const ID: Column = Column::Text("id", |l| l.id.clone());
const PLEDGE: Column = Column::Text("pledge_id", |l| l.pledge_id.clone());
const PROJECT: Column = Column::Text("project_id", |l| l.project_id.clone());
const TITLE: Column = Column::Text("project_title", |l| l.project_title.clone());
const COUNTRY: Column = Column::Text("country", |l| l.country.clone());
const BANK: Column = Column::Text("bank_reference", |l| l.bank_reference.clone());
const STATUS: Column = Column::Text("status", |l| l.status.to_owned());
const AMOUNT: Column = Column::Money("amount", "currency", |l| l.amount);
const REPORTING: Column = Column::Money("reporting_amount", "reporting_currency", |l| {
    l.reporting_amount
});
const PROJECT_AMOUNT: Column =
    Column::Money("project_amount", "project_currency", |l| l.project_amount);
const TAKEN_BACK: Column = Column::Money("taken_back", "taken_back_currency", |l| l.taken_back);
const PAYMENT: Column = Column::Money("payment_amount", "payment_currency", |l| l.payment);
const RESERVED: Column = Column::Money("matching_reserved", "matching_reserved_currency", |l| {
    l.matching_reserved
});
const CONFIRMED: Column = Column::Money("matching_confirmed", "matching_confirmed_currency", |l| {
    l.matching_confirmed
});

/// Every column, in the CSV's order.
const ALL: [Column; 15] = [
    DATE,
    ID,
    PLEDGE,
    PROJECT,
    TITLE,
    COUNTRY,
    BANK,
    STATUS,
    AMOUNT,
    REPORTING,
    PROJECT_AMOUNT,
    TAKEN_BACK,
    PAYMENT,
    RESERVED,
    CONFIRMED,
];

/// The columns of each section's sheet.
fn sheet_columns(section: &str) -> &'static [Column] {
    match section {
        "receipt" => &[
            DATE, ID, PLEDGE, COUNTRY, BANK, STATUS, AMOUNT, REPORTING, RESERVED, CONFIRMED,
        ],
        "allocation" => &[
            DATE,
            ID,
            PLEDGE,
            PROJECT,
            TITLE,
            COUNTRY,
            STATUS,
            AMOUNT,
            PROJECT_AMOUNT,
            REPORTING,
            TAKEN_BACK,
        ],
        _ => &[
            DATE, ID, PROJECT, TITLE, COUNTRY, BANK, STATUS, AMOUNT, REPORTING, TAKEN_BACK, PAYMENT,
        ],
    }
}

fn nonzero(money: Money) -> Option<Money> {
    (money.minor_units() != 0).then_some(money)
}

/// What a statement download holds: the donor and its lines, in the order to print them.
#[derive(Debug, Clone, Copy)]
pub struct Lines<'a> {
    pub donor_id: &'a DonorId,
    pub receipts: &'a [ReceiptReport],
    pub allocations: &'a [AllocationReport],
    pub disbursements: &'a [DisbursementReport],
}

impl<'a> From<&'a DonorReport> for Lines<'a> {
    fn from(report: &'a DonorReport) -> Self {
        Self {
            donor_id: &report.donor_id,
            receipts: &report.receipts,
            allocations: &report.allocations,
            disbursements: &report.disbursements,
        }
    }
}

/// The statement's rows, section by section, each in the lines' order.
fn rows(report: Lines<'_>) -> Vec<Row> {
    let mut lines = Vec::new();
    for r in report.receipts {
        lines.push(Row {
            section: "receipt",
            date: Some(r.value_date),
            id: r.receipt_id.to_string(),
            pledge_id: r.pledge_id.to_string(),
            country: r.country.map(|c| c.to_string()).unwrap_or_default(),
            bank_reference: r.bank_reference.clone(),
            status: if r.reversed { "reversed" } else { "received" },
            amount: Some(r.amount),
            reporting_amount: Some(r.reporting_amount),
            matching_reserved: r.matching_reserved,
            matching_confirmed: r.matching_confirmed,
            ..Row::default()
        });
    }
    for a in report.allocations {
        let back = a.returned.minor_units();
        lines.push(Row {
            section: "allocation",
            date: Some(a.recorded_on),
            id: a.allocation_id.to_string(),
            pledge_id: a.pledge_id.to_string(),
            project_id: a.project_id.to_string(),
            project_title: a.project_title.clone(),
            country: a.country.to_string(),
            status: if back == 0 {
                "allocated"
            } else if back < a.amount.minor_units() {
                "partly returned"
            } else {
                "returned"
            },
            amount: Some(a.amount),
            project_amount: Some(a.project_amount),
            reporting_amount: Some(a.reporting_amount),
            taken_back: nonzero(a.returned),
            ..Row::default()
        });
    }
    for d in report.disbursements {
        let back = d
            .reversed
            .minor_units()
            .saturating_add(d.refunded.minor_units());
        lines.push(Row {
            section: "disbursement",
            date: Some(d.paid_on),
            id: d.disbursement_id.to_string(),
            project_id: d.project_id.to_string(),
            project_title: d.project_title.clone(),
            country: d.country.to_string(),
            bank_reference: d.bank_reference.clone(),
            status: match (d.reversed.minor_units() != 0, d.refunded.minor_units() != 0) {
                (true, _) => "reversed",
                (false, true) if back < d.share.minor_units() => "partly refunded",
                (false, true) => "refunded",
                (false, false) => "paid",
            },
            amount: Some(d.share),
            reporting_amount: Some(d.share_reporting),
            taken_back: nonzero(Money::new(d.share.currency(), back)),
            payment: Some(d.amount),
            ..Row::default()
        });
    }
    lines
}

/// The amount as a plain decimal from its minor units: `-1234.50`, `1500` for JPY.
fn decimal(money: Money) -> String {
    money.to_decimal().to_string()
}

/// The statement as one CSV table.
pub fn csv(report: Lines<'_>) -> Result<Vec<u8>, StatementError> {
    let mut w = ::csv::WriterBuilder::new()
        .terminator(::csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let mut header = vec!["section", "donor_id"];
    for column in ALL {
        match column {
            Column::Text(name, _) => header.push(name),
            Column::Money(name, currency, _) => header.extend([name, currency]),
        }
    }
    w.write_record(&header)?;
    for line in rows(report) {
        let mut record = vec![line.section.to_owned(), report.donor_id.to_string()];
        for column in ALL {
            match column {
                Column::Text(_, text) => record.push(text(&line)),
                Column::Money(_, _, money) => match money(&line) {
                    Some(m) => record.extend([decimal(m), m.currency().to_string()]),
                    None => record.extend([String::new(), String::new()]),
                },
            }
        }
        w.write_record(&record)?;
    }
    w.into_inner()
        .map_err(|e| StatementError::Csv(e.into_error().into()))
}

/// The number format that shows `decimals` places with thousands grouped.
fn number_format(decimals: u32) -> Format {
    let mut pattern = String::from("#,##0");
    if decimals > 0 {
        pattern.push('.');
        pattern.extend(std::iter::repeat_n('0', decimals as usize));
    }
    Format::new().set_num_format(pattern)
}

/// The statement as a workbook: a sheet per section, each with a header row.
pub fn xlsx(report: Lines<'_>) -> Result<Vec<u8>, StatementError> {
    let mut workbook = Workbook::new();
    let bold = Format::new().set_bold();
    let lines = rows(report);
    for (section, sheet_name) in SECTIONS {
        let sheet = workbook.add_worksheet();
        sheet.set_name(sheet_name)?;
        let columns = sheet_columns(section);
        let mut col: u16 = 0;
        for column in columns {
            let names: &[&str] = match column {
                Column::Text(name, _) => &[name],
                Column::Money(name, currency, _) => &[name, currency],
            };
            for name in names {
                sheet.write_string_with_format(0, col, *name, &bold)?;
                col = col.saturating_add(1);
            }
        }
        sheet.set_freeze_panes(1, 0)?;
        let mut row: u32 = 0;
        for line in lines.iter().filter(|l| l.section == section) {
            row = row.saturating_add(1);
            let mut col: u16 = 0;
            for column in columns {
                match column {
                    Column::Text(_, text) => {
                        let text = text(line);
                        if !text.is_empty() {
                            sheet.write_string(row, col, text)?;
                        }
                        col = col.saturating_add(1);
                    }
                    Column::Money(_, _, money) => {
                        if let Some(m) = money(line) {
                            // The nearest double to the exact decimal: what a spreadsheet holds
                            // for any number typed in; exact to the minor unit below 2^53.
                            let value: f64 = decimal(m).parse().unwrap_or_default();
                            let format = number_format(m.currency().exponent());
                            sheet.write_number_with_format(row, col, value, &format)?;
                            sheet.write_string(
                                row,
                                col.saturating_add(1),
                                m.currency().to_string(),
                            )?;
                        }
                        col = col.saturating_add(2);
                    }
                }
            }
        }
        sheet.autofit();
    }
    Ok(workbook.save_to_buffer()?)
}

#[cfg(test)]
mod tests {
    use std::io::{Cursor, Read};

    use calamine::{Data, Reader, Xlsx};
    use fundtrail_domain::{CountryCode, Currency};
    use fundtrail_projections::Amount;
    use fundtrail_projections::donor::{MatchingReport, PlaceReport};

    use super::*;

    fn zero() -> Amount {
        Amount {
            original: Vec::new(),
            reporting: Money::zero(Currency::USD),
            reporting_complete: true,
        }
    }

    fn money(code: &str, minor: i64) -> Money {
        Money::new(Currency::new(code).unwrap(), minor)
    }

    fn date(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 3, day).unwrap()
    }

    fn id<T: std::str::FromStr>(n: u32) -> T
    where
        T::Err: std::fmt::Debug,
    {
        format!("01900000-0000-7000-8000-{n:012x}").parse().unwrap()
    }

    fn report() -> DonorReport {
        let matching = || MatchingReport {
            reserved: zero(),
            confirmed: zero(),
            funds: zero(),
        };
        let ba = CountryCode::new("BA").unwrap();
        DonorReport {
            donor_id: DonorId::parse("XM-DAC-7").unwrap(),
            donor_name: "Netherlands".to_owned(),
            kind: "government".to_owned(),
            reporting_currency: Currency::USD,
            pledged: zero(),
            committed: zero(),
            received: zero(),
            outstanding: zero(),
            allocated: zero(),
            refunded: zero(),
            unearmarked: PlaceReport {
                pledged: zero(),
                committed: zero(),
                received: zero(),
            },
            countries: Vec::new(),
            open_pledges: Vec::new(),
            matching_earned: matching(),
            matching_provided: matching(),
            rates: Vec::new(),
            receipts: vec![
                ReceiptReport {
                    receipt_id: id(1),
                    pledge_id: id(2),
                    country: Some(ba),
                    value_date: date(1),
                    amount: money("EUR", 1_060_349_005),
                    reporting_amount: money("USD", 1_149_626_390),
                    // Every character RFC 4180 quotes.
                    bank_reference: "NL \"01\", 17\r\nsecond line".to_owned(),
                    reversed: false,
                    matching_reserved: Some(money("USD", 50_000)),
                    matching_confirmed: Some(money("USD", 0)),
                },
                ReceiptReport {
                    receipt_id: id(3),
                    pledge_id: id(4),
                    country: None,
                    value_date: date(2),
                    amount: money("JPY", 1_500_000),
                    reporting_amount: money("USD", 1_003_412),
                    bank_reference: String::new(),
                    reversed: true,
                    matching_reserved: None,
                    matching_confirmed: None,
                },
            ],
            allocations: vec![AllocationReport {
                allocation_id: id(5),
                pledge_id: id(2),
                project_id: id(6),
                project_title: "Survey, Una-Sana".to_owned(),
                country: ba,
                recorded_on: date(3),
                amount: money("EUR", 100_000),
                project_amount: money("KWD", 330_123),
                reporting_amount: money("USD", 108_420),
                returned: money("EUR", 100_000),
            }],
            disbursements: vec![DisbursementReport {
                disbursement_id: id(7),
                project_id: id(6),
                project_title: "Survey, Una-Sana".to_owned(),
                country: ba,
                paid_on: date(4),
                bank_reference: "PAY-1".to_owned(),
                amount: money("KWD", 1_000_000),
                share: money("KWD", 330_123),
                share_reporting: money("USD", 107_300),
                reversed: money("KWD", 0),
                refunded: money("KWD", 1_000),
            }],
            position: 42,
            recorded_at: 0,
            changed_at: 41,
        }
    }

    #[test]
    fn csv_is_rfc_4180_with_plain_decimals_and_their_currencies() {
        let report = report();
        let bytes = csv((&report).into()).unwrap();
        let text = String::from_utf8(bytes.clone()).unwrap();
        assert!(text.starts_with("section,donor_id,date,id,"), "{text}");
        assert!(text.ends_with("\r\n"), "records end in CRLF");
        assert!(
            text.contains("\"NL \"\"01\"\", 17\r\nsecond line\""),
            "a field with a quote, a comma or a line break is quoted: {text}"
        );
        assert!(!text.contains("10,603,490"), "never grouped: {text}");
        let mut reader = ::csv::Reader::from_reader(bytes.as_slice());
        let header = reader.headers().unwrap().clone();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        let rows: Vec<::csv::StringRecord> = reader.records().map(Result::unwrap).collect();
        assert_eq!(rows.len(), 4);
        assert_eq!(&rows[0][column("section")], "receipt");
        assert_eq!(
            &rows[0][column("bank_reference")],
            "NL \"01\", 17\r\nsecond line"
        );
        assert_eq!(&rows[0][column("amount")], "10603490.05");
        assert_eq!(&rows[0][column("currency")], "EUR");
        assert_eq!(&rows[0][column("reporting_amount")], "11496263.90");
        assert_eq!(&rows[0][column("matching_reserved")], "500.00");
        assert_eq!(&rows[0][column("matching_reserved_currency")], "USD");
        assert_eq!(&rows[1][column("amount")], "1500000", "JPY has no decimals");
        assert_eq!(&rows[1][column("status")], "reversed");
        assert_eq!(&rows[1][column("matching_reserved")], "");
        assert_eq!(&rows[2][column("status")], "returned");
        assert_eq!(
            &rows[2][column("project_amount")],
            "330.123",
            "KWD has three"
        );
        assert_eq!(&rows[2][column("project_title")], "Survey, Una-Sana");
        assert_eq!(&rows[3][column("section")], "disbursement");
        assert_eq!(&rows[3][column("amount")], "330.123", "the donor's share");
        assert_eq!(&rows[3][column("payment_amount")], "1000.000");
        assert_eq!(&rows[3][column("taken_back")], "1.000");
        assert_eq!(&rows[3][column("status")], "partly refunded");
    }

    #[test]
    fn xlsx_has_a_sheet_per_section_with_numbers_in_the_currency_format() {
        let report = report();
        let bytes = xlsx((&report).into()).unwrap();
        let mut workbook: Xlsx<_> = Xlsx::new(Cursor::new(bytes.clone())).unwrap();
        assert_eq!(
            workbook.sheet_names(),
            ["Receipts", "Allocations", "Disbursements"]
        );
        let receipts = workbook.worksheet_range("Receipts").unwrap();
        assert_eq!(receipts.height(), 3, "a header row and two receipts");
        let header: Vec<String> = (0..receipts.width())
            .map(|c| receipts.get((0, c)).unwrap().to_string())
            .collect();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(
            receipts.get((1, column("amount"))),
            Some(&Data::Float(10_603_490.05)),
            "a number, not text"
        );
        assert_eq!(
            receipts.get((1, column("currency"))),
            Some(&Data::String("EUR".to_owned()))
        );
        assert_eq!(
            receipts.get((2, column("amount"))),
            Some(&Data::Float(1_500_000.0))
        );
        let disbursements = workbook.worksheet_range("Disbursements").unwrap();
        let header: Vec<String> = (0..disbursements.width())
            .map(|c| disbursements.get((0, c)).unwrap().to_string())
            .collect();
        let column = |name: &str| header.iter().position(|h| h == name).unwrap();
        assert_eq!(
            disbursements.get((1, column("amount"))),
            Some(&Data::Float(330.123))
        );

        // The number formats show each currency's decimals.
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
        let mut styles = String::new();
        archive
            .by_name("xl/styles.xml")
            .unwrap()
            .read_to_string(&mut styles)
            .unwrap();
        for format in ["#,##0.00", "#,##0.000"] {
            assert!(
                styles.contains(&format!("formatCode=\"{format}\"")),
                "{format} in {styles}"
            );
        }
    }
}
