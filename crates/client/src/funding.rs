//! `fundtrail funding …`: the views finance staff and donors read.

use clap::{Args, Subcommand};
use fundtrail_proto::v1;

use super::output::{self, Table};
use super::{Global, input};

#[derive(Debug, Args)]
pub struct FundingArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: FundingCommand,
}

/// Where in the history to read: now (after `--min-position`), or as it was known.
#[derive(Debug, Clone, Args)]
struct Point {
    /// Wait until the view reflects this position (a command's result gives it), so what you
    /// just recorded is in the figures.
    #[arg(long, value_name = "POSITION", default_value_t = 0)]
    min_position: u64,
    /// The figures as they were known at a position (a number), a time (RFC 3339) or the end
    /// of a day (YYYY-MM-DD).
    #[arg(long, value_name = "POSITION|TIME|DATE")]
    as_of: Option<String>,
}

impl Point {
    fn as_of(&self) -> anyhow::Result<Option<v1::AsOf>> {
        let Some(text) = self.as_of.as_deref().map(str::trim) else {
            return Ok(None);
        };
        let point = match text.parse::<u64>() {
            Ok(position) => v1::as_of::Point::Position(position),
            Err(_) if text.len() == 10 => v1::as_of::Point::Time(input::date("--as-of", text)?),
            Err(_) => chrono::DateTime::parse_from_rfc3339(text)
                .map(|_| v1::as_of::Point::Time(text.to_owned()))
                .map_err(|_| {
                    anyhow::anyhow!(
                        "--as-of {text:?}: a position, an RFC 3339 time or a date YYYY-MM-DD"
                    )
                })?,
        };
        Ok(Some(v1::AsOf { point: Some(point) }))
    }
}

#[derive(Debug, Subcommand)]
enum FundingCommand {
    /// One country's funding: pledged to disbursed, donors, currencies, milestone indicators.
    Country {
        /// ISO 3166-1 alpha-2 code (XK for Kosovo).
        country: String,
        #[command(flatten)]
        point: Point,
    },
    /// Every country with its main figures.
    Countries {
        #[command(flatten)]
        point: Point,
    },
    /// A donor's statement: what it pledged, paid and where its money went.
    Donor {
        /// The donor's IATI organisation identifier, e.g. XM-DAC-7.
        id: String,
        #[command(flatten)]
        point: Point,
        /// Also write its receipts, allocations and disbursements funded to FILE as CSV.
        #[arg(long, value_name = "FILE")]
        csv: Option<std::path::PathBuf>,
        /// Also write them to FILE as an Excel workbook (XLSX), a sheet per section.
        #[arg(long, value_name = "FILE")]
        xlsx: Option<std::path::PathBuf>,
    },
    /// The fund's sources and uses.
    Overview {
        #[command(flatten)]
        point: Point,
    },
    /// Follow one country's figures as events change them (Ctrl-C to stop).
    Watch { country: String },
}

pub async fn run(args: FundingArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    let session = args.global.session().await?;
    match args.command {
        FundingCommand::Country { country, point } => {
            let request = v1::GetCountryFundingRequest {
                country: input::country("COUNTRY", &country)?.to_string(),
                min_position: point.min_position,
                as_of: point.as_of()?,
            };
            let view = session.answer(
                session
                    .funding()
                    .get_country_funding(session.request(request))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.CountryFunding", &view, country_text)
        }
        FundingCommand::Countries { point } => {
            let request = v1::ListCountriesRequest {
                min_position: point.min_position,
                as_of: point.as_of()?,
            };
            let list = session.answer(
                session
                    .funding()
                    .list_countries(session.request(request))
                    .await,
                None,
            )?;
            output::show(
                json,
                "fundtrail.v1.ListCountriesResponse",
                &list,
                countries_text,
            )
        }
        FundingCommand::Donor {
            id,
            point,
            csv,
            xlsx,
        } => {
            let request = v1::GetDonorStatementRequest {
                donor_id: input::donor_id("ID", &id)?,
                min_position: point.min_position,
                as_of: point.as_of()?,
            };
            let statement = session.answer(
                session
                    .funding()
                    .get_donor_statement(session.request(request))
                    .await,
                None,
            )?;
            // On standard error, so that standard output stays the statement (or its JSON).
            for done in super::statement::write(&statement, csv.as_deref(), xlsx.as_deref())? {
                eprintln!("{done}");
            }
            output::show(json, "fundtrail.v1.DonorStatement", &statement, donor_text)
        }
        FundingCommand::Overview { point } => {
            let request = v1::GetFundOverviewRequest {
                min_position: point.min_position,
                as_of: point.as_of()?,
            };
            let overview = session.answer(
                session
                    .funding()
                    .get_fund_overview(session.request(request))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.FundOverview", &overview, overview_text)
        }
        FundingCommand::Watch { country } => {
            let request = v1::WatchCountryFundingRequest {
                country: input::country("COUNTRY", &country)?.to_string(),
            };
            let mut updates = session.answer(
                session
                    .funding()
                    .watch_country_funding(session.streaming_request(request))
                    .await,
                None,
            )?;
            while let Some(view) = updates
                .message()
                .await
                .map_err(|status| session.error(status, None))?
            {
                output::show(json, "fundtrail.v1.CountryFunding", &view, |v| {
                    format!("--- position {}\n{}", v.position, country_text(v))
                })?;
            }
            Ok(())
        }
    }
}

/// An amount in the reporting currency, with its original currencies when there are others,
/// and a mark when part of it has no recorded rate yet.
fn amount(value: Option<&v1::Amount>) -> String {
    let Some(value) = value else {
        return "–".to_owned();
    };
    let mut text = output::money(value.reporting.as_ref());
    let reporting = value.reporting.as_ref().map(|m| m.currency.as_str());
    let originals: Vec<&v1::Money> = value
        .original
        .iter()
        .filter(|m| m.minor_units != 0)
        .collect();
    if originals
        .iter()
        .any(|m| Some(m.currency.as_str()) != reporting)
    {
        let all: Vec<String> = originals.iter().map(|m| output::money(Some(m))).collect();
        text = format!("{text}  ({})", all.join(" + "));
    }
    if !value.reporting_complete {
        text.push_str("  *part without a recorded rate");
    }
    text
}

fn percent(bps: i64) -> String {
    format!("{}.{:02} %", bps / 100, (bps % 100).abs())
}

fn figures(rows: &[(&str, String)]) -> String {
    let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    rows.iter()
        .map(|(name, value)| format!("  {name:<width$}  {value}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn country_text(v: &v1::CountryFunding) -> String {
    let mut text = format!(
        "{} {} — as of position {}{}\n",
        v.country,
        v.country_name,
        v.position,
        if v.as_of_time.is_empty() {
            String::new()
        } else {
            format!(" ({})", v.as_of_time)
        }
    );
    text.push_str(&figures(&[
        ("pledged", amount(v.pledged.as_ref())),
        ("committed", amount(v.committed.as_ref())),
        ("outstanding", amount(v.outstanding.as_ref())),
        ("received", amount(v.received.as_ref())),
        ("matched, reserved", amount(v.matched_reserved.as_ref())),
        ("matched, confirmed", amount(v.matched_confirmed.as_ref())),
        ("allocated", amount(v.allocated.as_ref())),
        ("disbursed", amount(v.disbursed.as_ref())),
        ("refunded", amount(v.refunded.as_ref())),
        ("undisbursed", amount(v.undisbursed.as_ref())),
        ("delivery rate", percent(v.delivery_rate_bps)),
    ]));
    if !v.donors.is_empty() {
        let mut table = Table::new(&["DONOR", "PLEDGED", "RECEIVED", "ALLOCATED"]);
        for d in &v.donors {
            table.row(vec![
                format!("{} ({})", d.donor_name, d.donor_id),
                amount(d.pledged.as_ref()),
                amount(d.received.as_ref()),
                amount(d.allocated.as_ref()),
            ]);
        }
        text.push_str("\n\n");
        text.push_str(&table.render());
    }
    if !v.projects.is_empty() {
        let mut table = Table::new(&[
            "PROJECT",
            "PARTNER",
            "ALLOCATED",
            "DISBURSED",
            "DELIVERY",
            "MILESTONES",
        ]);
        for p in &v.projects {
            table.row(vec![
                p.title.clone(),
                p.partner.clone(),
                amount(p.allocated.as_ref()),
                amount(p.disbursed.as_ref()),
                percent(p.delivery_rate_bps),
                format!("{}/{} verified", p.milestones_verified, p.milestones),
            ]);
        }
        text.push_str("\n\n");
        text.push_str(&table.render());
    }
    if !v.indicators.is_empty() {
        let mut table = Table::new(&[
            "INDICATOR",
            "TARGET",
            "VERIFIED",
            "REPORTED",
            "COST PER UNIT",
        ]);
        for i in &v.indicators {
            table.row(vec![
                i.indicator.clone(),
                format!("{} {}", output::quantity(i.target), i.unit),
                output::quantity(i.actual_verified),
                output::quantity(i.actual_reported),
                output::money(i.cost_per_unit.as_ref()),
            ]);
        }
        text.push_str("\n\n");
        text.push_str(&table.render());
    }
    text
}

fn countries_text(list: &v1::ListCountriesResponse) -> String {
    if list.countries.is_empty() {
        return format!("no country has figures yet (position {})", list.position);
    }
    let mut table = Table::new(&[
        "COUNTRY",
        "PLEDGED",
        "RECEIVED",
        "ALLOCATED",
        "DISBURSED",
        "DELIVERY",
    ]);
    for c in &list.countries {
        table.row(vec![
            format!("{} {}", c.country, c.country_name),
            amount(c.pledged.as_ref()),
            amount(c.received.as_ref()),
            amount(c.allocated.as_ref()),
            amount(c.disbursed.as_ref()),
            percent(c.delivery_rate_bps),
        ]);
    }
    format!("as of position {}\n{}", list.position, table.render())
}

fn donor_text(s: &v1::DonorStatement) -> String {
    let mut text = format!(
        "{} ({}, {}) — as of position {}\n",
        s.donor_name, s.donor_id, s.kind, s.position
    );
    let earned = s.matching_earned.as_ref();
    let provided = s.matching_provided.as_ref();
    text.push_str(&figures(&[
        ("pledged", amount(s.pledged.as_ref())),
        ("committed", amount(s.committed.as_ref())),
        ("received", amount(s.received.as_ref())),
        ("outstanding", amount(s.outstanding.as_ref())),
        ("allocated", amount(s.allocated.as_ref())),
        (
            "matching earned",
            amount(earned.and_then(|m| m.confirmed.as_ref())),
        ),
        (
            "matching provided",
            amount(provided.and_then(|m| m.confirmed.as_ref())),
        ),
    ]));
    if !s.countries.is_empty() {
        let mut table = Table::new(&["COUNTRY", "PLEDGED", "RECEIVED", "ALLOCATED"]);
        for c in &s.countries {
            table.row(vec![
                format!("{} {}", c.country, c.country_name),
                amount(c.pledged.as_ref()),
                amount(c.received.as_ref()),
                amount(c.allocated.as_ref()),
            ]);
        }
        text.push_str("\n\n");
        text.push_str(&table.render());
    }
    text
}

fn overview_text(o: &v1::FundOverview) -> String {
    format!(
        "the fund — {} donors, {} pledges, {} projects — as of position {}\n{}",
        o.donors,
        o.pledges,
        o.projects,
        o.position,
        figures(&[
            ("pledged", amount(o.pledged.as_ref())),
            ("committed", amount(o.committed.as_ref())),
            ("contributions received", amount(o.contributions.as_ref())),
            ("  of which matched", amount(o.matching_confirmed.as_ref())),
            (
                "transfers to projects",
                amount(o.transfers_to_projects.as_ref())
            ),
            ("disbursed", amount(o.disbursed.as_ref())),
            ("refunds", amount(o.refunds.as_ref())),
            (
                "balance with the fund",
                amount(o.balance_with_fund.as_ref())
            ),
            (
                "balance with partners",
                amount(o.balance_with_partners.as_ref())
            ),
            ("delivery rate", percent(o.delivery_rate_bps)),
        ])
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn point(as_of: &str) -> anyhow::Result<Option<v1::AsOf>> {
        Point {
            min_position: 0,
            as_of: Some(as_of.to_owned()),
        }
        .as_of()
    }

    #[test]
    fn as_of_takes_positions_times_and_days() {
        assert_eq!(
            point("17").unwrap().and_then(|a| a.point),
            Some(v1::as_of::Point::Position(17))
        );
        assert_eq!(
            point("2025-06-30").unwrap().and_then(|a| a.point),
            Some(v1::as_of::Point::Time("2025-06-30".into()))
        );
        assert!(point("2025-06-30T12:00:00Z").is_ok());
        assert!(point("last tuesday").is_err());
        assert!(point("2025-13-01").is_err());
    }

    #[test]
    fn percentages_keep_two_decimals() {
        assert_eq!(percent(10_000), "100.00 %");
        assert_eq!(percent(1_234), "12.34 %");
        assert_eq!(percent(5), "0.05 %");
    }
}
