//! Matching pools: one donor matching other donors' contributions.

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::Grouped;
use fundtrail_proto::v1;

use super::input;
use super::output::{self, Table};
use super::{Global, Session, Write};

#[derive(Debug, Args)]
pub struct PoolArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: PoolCommand,
}

#[derive(Debug, Subcommand)]
enum PoolCommand {
    /// Open a matching pool: a donor matches other donors' contributions for some countries.
    Open(OpenPool),
    /// Show a matching pool: its cap, what is reserved and confirmed, every match.
    Show {
        /// The pool id.
        id: String,
    },
    /// Reserve a match by hand for a received contribution.
    Reserve(Reserve),
    /// Void a reserved match, freeing its room under the cap.
    Void(Void),
    /// Match an unearmarked contribution by decision: the full match, cut to the cap.
    Match(MatchContribution),
}

#[derive(Debug, Args)]
struct OpenPool {
    /// The matching donor's IATI organisation identifier, e.g. US-GOV-1.
    #[arg(long)]
    donor: String,
    /// The most the pool matches, in the fund's reporting currency.
    #[arg(long, allow_negative_numbers = true)]
    cap: String,
    /// The cap's currency: the fund's reporting currency.
    #[arg(long, env = "FUNDTRAIL_REPORTING_CURRENCY", default_value = "USD")]
    currency: String,
    /// Matching money per contributed money, e.g. 1:1.
    #[arg(long, default_value = "1:1")]
    ratio: String,
    /// The countries whose contributions are matched, e.g. BA,HR,RS.
    #[arg(long, value_delimiter = ',', required = true)]
    countries: Vec<String>,
    /// The last value date of contributions the pool matches, YYYY-MM-DD.
    #[arg(long)]
    expires_on: String,
    /// The first value date of contributions and funds the pool takes, YYYY-MM-DD; every
    /// value date up to the expiry when left out.
    #[arg(long)]
    starts_on: Option<String>,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Reserve {
    /// The pool id.
    id: String,
    /// The pledge the contribution was received on.
    #[arg(long)]
    pledge: String,
    /// The contribution's receipt id.
    #[arg(long)]
    receipt: String,
    /// The match, in the pool's currency; the full match cut to the cap when left out.
    #[arg(long, allow_negative_numbers = true)]
    amount: Option<String>,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct MatchContribution {
    /// The pool id.
    id: String,
    /// The pledge the unearmarked contribution was received on.
    #[arg(long)]
    pledge: String,
    /// The contribution's receipt id.
    #[arg(long)]
    receipt: String,
    /// The eligible country it is matched for; may be left out when the pool matches one.
    #[arg(long)]
    country: Option<String>,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Void {
    /// The pool id.
    id: String,
    /// The matched contribution's receipt id.
    #[arg(long)]
    receipt: String,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

/// The pledge, read before a command that needs its currency.
pub async fn run_pool(args: PoolArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        PoolCommand::Open(o) => {
            let currency = input::currency("--currency", &o.currency)?;
            let cap = input::amount("--cap", &o.cap, currency)?;
            let countries = o
                .countries
                .iter()
                .filter(|c| !c.trim().is_empty())
                .map(|c| input::country("--countries", c).map(|c| c.to_string()))
                .collect::<anyhow::Result<Vec<_>>>()?;
            if countries.is_empty() {
                bail!("--countries: name at least one country, e.g. BA,HR,RS");
            }
            let request = v1::OpenMatchingPoolRequest {
                request_id: o.write.request_id()?,
                expected_version: o.write.expected_version,
                matching_donor_id: input::donor_id("--donor", &o.donor)?,
                cap: Some(cap.into()),
                ratio: Some(input::ratio("--ratio", &o.ratio)?),
                eligible_countries: countries,
                expires_on: input::date("--expires-on", &o.expires_on)?,
                starts_on: o
                    .starts_on
                    .as_deref()
                    .map(|d| input::date("--starts-on", d))
                    .transpose()?
                    .unwrap_or_default(),
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let donor = request.matching_donor_id.clone();
            let result = session.answer(
                session
                    .pledges()
                    .open_matching_pool(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "opened matching pool {} of {donor}, cap {cap}",
                    result.created_id,
                    cap = Grouped(cap),
                ),
            )
        }
        PoolCommand::Show { id } => {
            let pool_id = input::id("ID", "pool", &id)?;
            let session = args.global.session().await?;
            let view = pool(&session, &pool_id).await?;
            output::show(json, "fundtrail.v1.MatchingPoolView", &view, describe_pool)
        }
        PoolCommand::Reserve(r) => {
            let pool_id = input::id("ID", "pool", &r.id)?;
            let pledge_id = input::id("--pledge", "pledge", &r.pledge)?;
            let receipt_id = input::id("--receipt", "receipt", &r.receipt)?;
            let request_id = r.write.request_id()?;
            let session = args.global.session().await?;
            let amount = match &r.amount {
                None => None,
                Some(text) => {
                    let view = pool(&session, &pool_id).await?;
                    let currency = output::currency_of(view.cap.as_ref(), "the pool's cap")?;
                    Some(input::amount("--amount", text, currency)?.into())
                }
            };
            let request = v1::ReserveMatchRequest {
                request_id: request_id.clone(),
                expected_version: r.write.expected_version,
                pool_id: pool_id.clone(),
                pledge_id,
                receipt_id: receipt_id.clone(),
                amount,
            };
            let result = session.answer(
                session
                    .pledges()
                    .reserve_match(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!("reserved a match in pool {pool_id} for receipt {receipt_id}"),
            )
        }
        PoolCommand::Match(m) => {
            let request = v1::MatchContributionRequest {
                request_id: m.write.request_id()?,
                expected_version: m.write.expected_version,
                pool_id: input::id("ID", "pool", &m.id)?,
                pledge_id: input::id("--pledge", "pledge", &m.pledge)?,
                receipt_id: input::id("--receipt", "receipt", &m.receipt)?,
                country: m
                    .country
                    .as_deref()
                    .map(|c| input::country("--country", c).map(|c| c.to_string()))
                    .transpose()?
                    .unwrap_or_default(),
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "matched receipt {} in pool {}",
                request.receipt_id, request.pool_id
            );
            let result = session.answer(
                session
                    .pledges()
                    .match_contribution(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        PoolCommand::Void(v) => {
            let request = v1::VoidMatchRequest {
                request_id: v.write.request_id()?,
                expected_version: v.write.expected_version,
                pool_id: input::id("ID", "pool", &v.id)?,
                receipt_id: input::id("--receipt", "receipt", &v.receipt)?,
                reason: input::required("--reason", &v.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "voided the match for receipt {} in pool {}",
                request.receipt_id, request.pool_id
            );
            let result = session.answer(
                session.pledges().void_match(session.request(request)).await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
    }
}

pub(crate) async fn pool(session: &Session, pool_id: &str) -> anyhow::Result<v1::MatchingPoolView> {
    session.answer(
        session
            .pledges()
            .get_matching_pool(session.request(v1::GetMatchingPoolRequest {
                pool_id: pool_id.to_owned(),
            }))
            .await,
        None,
    )
}

fn describe_pool(p: &v1::MatchingPoolView) -> String {
    let ratio = p.ratio.as_ref().map_or_else(
        || "1:1".to_owned(),
        |r| format!("{}:{}", r.numerator, r.denominator),
    );
    let period = if p.starts_on.is_empty() {
        format!("until {}", p.expires_on)
    } else {
        format!("from {} until {}", p.starts_on, p.expires_on)
    };
    let mut out = format!(
        "matching pool {}\n  matching donor  {}\n  cap             {} at {ratio}, \
         contributions {period}\n  countries       {}\n  reserved        {}\n  confirmed       {}\n  \
         funds received  {}\n  room under cap  {}\n  version         {}",
        p.pool_id,
        p.matching_donor_id,
        output::money(p.cap.as_ref()),
        p.eligible_countries.join(", "),
        output::money(p.reserved.as_ref()),
        output::money(p.confirmed.as_ref()),
        output::money(p.funds.as_ref()),
        output::money(p.remaining.as_ref()),
        p.version,
    );
    if !p.funding.is_empty() {
        let mut table = Table::new(&["FUNDING RECEIPT", "PLEDGE", ">FUNDS", ">APPLIED"]);
        for f in &p.funding {
            table.row(vec![
                f.receipt_id.clone(),
                f.pledge_id.clone(),
                output::money(f.amount.as_ref()),
                output::money(f.applied.as_ref()),
            ]);
        }
        out.push_str("\n\nfunds\n");
        out.push_str(&table.render());
    }
    if !p.matches.is_empty() {
        let mut table = Table::new(&[
            "RECEIPT",
            "DONOR",
            "COUNTRY",
            ">MATCH",
            "STATUS",
            "FUNDED BY",
        ]);
        for m in &p.matches {
            table.row(vec![
                m.receipt_id.clone(),
                m.contributing_donor_id.clone(),
                m.country.clone(),
                output::money(m.amount.as_ref()),
                match v1::MatchStatus::try_from(m.status) {
                    Ok(v1::MatchStatus::Reserved) => "reserved",
                    Ok(v1::MatchStatus::Confirmed) => "confirmed",
                    Ok(v1::MatchStatus::Voided) => "voided",
                    _ => "?",
                }
                .to_owned(),
                m.funding_receipt_id.clone(),
            ]);
        }
        out.push_str("\n\nmatches\n");
        out.push_str(&table.render());
    }
    out
}
