//! `fundtrail pledge …`, `fundtrail contribution …`, `fundtrail pool …`

use std::fmt::Write as _;

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::Currency;
use fundtrail_proto::v1;

use super::input::{self, RateArgs};
use super::output::{self, Table};
use super::{Global, Session, Write};

#[derive(Debug, Args)]
pub struct PledgeArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: PledgeCommand,
}

#[derive(Debug, Subcommand)]
enum PledgeCommand {
    /// Record a donor's pledge, optionally earmarked for a country or a project.
    Record(RecordPledge),
    /// Show a pledge: what was pledged, committed, received and allocated.
    Show {
        /// The pledge id.
        id: String,
    },
    /// Change the pledged amount (same currency; never below what was received).
    Amend(AmendPledge),
    /// Withdraw a pledge: the part not yet received is cancelled.
    Withdraw(WithdrawPledge),
    /// Record the signed contribution agreement (the commitment).
    SignAgreement(SignAgreement),
}

#[derive(Debug, Args)]
struct RecordPledge {
    /// The donor's IATI organisation identifier, e.g. XM-DAC-7.
    #[arg(long)]
    donor: String,
    /// The pledged amount in the currency's units, e.g. 1000000.00; never rounded.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// ISO 4217 currency code, e.g. EUR.
    #[arg(long)]
    currency: String,
    /// Earmark for projects in one country: ISO 3166-1 alpha-2 (XK for Kosovo).
    #[arg(long, conflicts_with = "project")]
    country: Option<String>,
    /// Earmark for one project, by its id.
    #[arg(long)]
    project: Option<String>,
    /// The day the pledge was made, YYYY-MM-DD.
    #[arg(long)]
    date: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct AmendPledge {
    /// The pledge id.
    id: String,
    /// The new pledged amount, in the pledge's currency.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct WithdrawPledge {
    /// The pledge id.
    id: String,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct SignAgreement {
    /// The pledge id.
    id: String,
    /// The agreement's reference.
    #[arg(long)]
    reference: String,
    /// The day it was signed, YYYY-MM-DD.
    #[arg(long)]
    signed_on: String,
    /// The amount committed, in the pledge's currency; the whole pledge when left out.
    #[arg(long, allow_negative_numbers = true)]
    amount: Option<String>,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
pub struct ContributionArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: ContributionCommand,
}

#[derive(Debug, Subcommand)]
enum ContributionCommand {
    /// Record money received on a pledge, in the pledge's currency, with the rate it was
    /// booked at when that is not the fund's reporting currency.
    Receive(Receive),
    /// Allocate received, unallocated money of a pledge to a project.
    Allocate(Allocate),
}

#[derive(Debug, Args)]
struct Receive {
    /// The pledge the money was paid on.
    #[arg(long)]
    pledge: String,
    /// The amount credited, in the pledge's currency.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// The day the money was credited to the fund's account, YYYY-MM-DD.
    #[arg(long)]
    value_date: String,
    /// The bank's reference of the credit.
    #[arg(long)]
    bank_ref: String,
    /// Accept money beyond the pledged amount.
    #[arg(long)]
    over_payment: bool,
    /// The rate from the pledge's currency to the fund's reporting currency.
    #[command(flatten)]
    rate: RateArgs,
    /// The fund's reporting currency, the rate's target, when the pledge has no receipt yet
    /// to tell it.
    #[arg(long, env = "FUNDTRAIL_REPORTING_CURRENCY", default_value = "USD")]
    reporting_currency: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Allocate {
    /// The pledge whose received money is allocated.
    #[arg(long)]
    pledge: String,
    /// The project receiving it.
    #[arg(long)]
    project: String,
    /// The amount, in the pledge's currency.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// The rate from the pledge's currency to the project's, when they differ.
    #[command(flatten)]
    rate: RateArgs,
    #[command(flatten)]
    write: Write,
}

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
pub(crate) async fn pledge(session: &Session, pledge_id: &str) -> anyhow::Result<v1::PledgeView> {
    session.answer(
        session
            .pledges()
            .get_pledge(session.request(v1::GetPledgeRequest {
                pledge_id: pledge_id.to_owned(),
            }))
            .await,
        None,
    )
}

/// The currency of an amount the server sent.
pub async fn run_pledge(args: PledgeArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        PledgeCommand::Record(r) => {
            let currency = input::currency("--currency", &r.currency)?;
            let amount = input::amount("--amount", &r.amount, currency)?;
            let earmark = match (&r.country, &r.project) {
                (Some(country), _) => Some(v1::earmark::Target::Country(
                    input::country("--country", country)?.to_string(),
                )),
                (None, Some(project)) => Some(v1::earmark::Target::Project(v1::ProjectEarmark {
                    project_id: input::id("--project", "project", project)?,
                    country: String::new(),
                })),
                (None, None) => None,
            };
            let request = v1::RecordPledgeRequest {
                request_id: r.write.request_id()?,
                expected_version: r.write.expected_version,
                donor_id: input::donor_id("--donor", &r.donor)?,
                amount: Some(amount.into()),
                earmark: Some(v1::Earmark { target: earmark }),
                pledged_on: input::date("--date", &r.date)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let what = format!(
                "of {amount} from {} for {}",
                request.donor_id,
                output::earmark(request.earmark.as_ref()).replace("unearmarked", "the fund")
            );
            let result = session.answer(
                session
                    .pledges()
                    .record_pledge(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(
                json,
                &result,
                &format!("recorded pledge {} {what}", result.created_id),
            )
        }
        PledgeCommand::Show { id } => {
            let pledge_id = input::id("ID", "pledge", &id)?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            output::show(json, "fundtrail.v1.PledgeView", &view, describe_pledge)
        }
        PledgeCommand::Amend(a) => {
            let pledge_id = input::id("ID", "pledge", &a.id)?;
            let reason = input::required("--reason", &a.reason)?;
            let request_id = a.write.request_id()?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
            let amount = input::amount("--amount", &a.amount, currency)?;
            let request = v1::AmendPledgeRequest {
                request_id: request_id.clone(),
                expected_version: a.write.expected_version,
                pledge_id: pledge_id.clone(),
                amount: Some(amount.into()),
                reason,
            };
            let result = session.answer(
                session
                    .pledges()
                    .amend_pledge(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "amended pledge {pledge_id} from {} to {amount}",
                    output::money(view.amount.as_ref())
                ),
            )
        }
        PledgeCommand::Withdraw(w) => {
            let request = v1::WithdrawPledgeRequest {
                request_id: w.write.request_id()?,
                expected_version: w.write.expected_version,
                pledge_id: input::id("ID", "pledge", &w.id)?,
                reason: input::required("--reason", &w.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "withdrew pledge {}: what was not received is cancelled",
                request.pledge_id
            );
            let result = session.answer(
                session
                    .pledges()
                    .withdraw_pledge(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        PledgeCommand::SignAgreement(s) => {
            let pledge_id = input::id("ID", "pledge", &s.id)?;
            let reference = input::required("--reference", &s.reference)?;
            let signed_on = input::date("--signed-on", &s.signed_on)?;
            let request_id = s.write.request_id()?;
            let session = args.global.session().await?;
            let amount = match &s.amount {
                None => None,
                Some(text) => {
                    let view = pledge(&session, &pledge_id).await?;
                    let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
                    Some(input::amount("--amount", text, currency)?.into())
                }
            };
            let request = v1::SignContributionAgreementRequest {
                request_id: request_id.clone(),
                expected_version: s.write.expected_version,
                pledge_id: pledge_id.clone(),
                agreement_reference: reference.clone(),
                signed_on,
                amount,
            };
            let result = session.answer(
                session
                    .pledges()
                    .sign_contribution_agreement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!("signed agreement {reference} on pledge {pledge_id}"),
            )
        }
    }
}

fn describe_pledge(p: &v1::PledgeView) -> String {
    let mut out = format!(
        "pledge {}\n  donor        {}\n  pledged      {} on {}, {}\n  status       {}",
        p.pledge_id,
        p.donor_id,
        output::money(p.amount.as_ref()),
        p.pledged_on,
        output::earmark(p.earmark.as_ref()),
        if p.withdrawn { "withdrawn" } else { "open" },
    );
    if p.agreement_reference.is_empty() {
        out.push_str("\n  agreement    none signed");
    } else {
        let _ = write!(
            out,
            "\n  agreement    {} committing {}",
            p.agreement_reference,
            output::money(p.committed.as_ref())
        );
    }
    let received = if output::nonzero(p.received_reporting.as_ref())
        && p.received_reporting.as_ref().map(|m| &m.currency)
            != p.received.as_ref().map(|m| &m.currency)
    {
        format!(
            "{} (booked at {})",
            output::money(p.received.as_ref()),
            output::money(p.received_reporting.as_ref())
        )
    } else {
        output::money(p.received.as_ref())
    };
    let _ = write!(
        out,
        "\n  received     {received}\n  unallocated  {}\n  version      {}",
        output::money(p.unallocated.as_ref()),
        p.version
    );
    if !p.receipts.is_empty() {
        let mut table = Table::new(&[
            "RECEIPT",
            ">AMOUNT",
            ">REPORTING",
            "BANK REFERENCE",
            "OVER-PAYMENT",
        ]);
        for r in &p.receipts {
            table.row(vec![
                r.receipt_id.clone(),
                output::money(r.amount.as_ref()),
                output::money(r.reporting_amount.as_ref()),
                r.bank_reference.clone(),
                if r.over_payment { "yes" } else { "" }.to_owned(),
            ]);
        }
        out.push_str("\n\nreceipts\n");
        out.push_str(&table.render());
    }
    if !p.allocations.is_empty() {
        let mut table = Table::new(&[
            "ALLOCATION",
            "PROJECT",
            "COUNTRY",
            ">AMOUNT",
            ">REPORTING",
            "RELEASED",
        ]);
        for a in &p.allocations {
            table.row(vec![
                a.allocation_id.clone(),
                a.project_id.clone(),
                a.country.clone(),
                output::money(a.amount.as_ref()),
                output::money(a.reporting_amount.as_ref()),
                if a.released { "yes" } else { "" }.to_owned(),
            ]);
        }
        out.push_str("\n\nallocations\n");
        out.push_str(&table.render());
    }
    out
}

pub async fn run_contribution(args: ContributionArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        ContributionCommand::Receive(r) => {
            let pledge_id = input::id("--pledge", "pledge", &r.pledge)?;
            let value_date = input::date("--value-date", &r.value_date)?;
            let bank_reference = input::required("--bank-ref", &r.bank_ref)?;
            let fallback_reporting =
                input::currency("--reporting-currency", &r.reporting_currency)?;
            r.rate.check_syntax()?;
            let request_id = r.write.request_id()?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
            let amount = input::amount("--amount", &r.amount, currency)?;
            // Earlier receipts tell the fund's reporting currency for certain.
            let reporting = view
                .received_reporting
                .as_ref()
                .and_then(|m| Currency::new(&m.currency).ok())
                .unwrap_or(fallback_reporting);
            let rate = r.rate.rate(currency, reporting)?;
            let request = v1::ReceiveContributionRequest {
                request_id: request_id.clone(),
                expected_version: r.write.expected_version,
                pledge_id: pledge_id.clone(),
                amount: Some(amount.into()),
                value_date,
                rate,
                bank_reference,
                over_payment: r.over_payment,
            };
            let result = session.answer(
                session
                    .pledges()
                    .receive_contribution(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "received {amount} on pledge {pledge_id}: receipt {}",
                    result.created_id
                ),
            )
        }
        ContributionCommand::Allocate(a) => {
            let pledge_id = input::id("--pledge", "pledge", &a.pledge)?;
            let project_id = input::id("--project", "project", &a.project)?;
            a.rate.check_syntax()?;
            let request_id = a.write.request_id()?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
            let amount = input::amount("--amount", &a.amount, currency)?;
            let project = session.project(&project_id).await?;
            let project_currency =
                output::currency_of(project.budget.as_ref(), "the project's budget")?;
            if project_currency != currency && !a.rate.given() {
                bail!(
                    "the pledge is in {currency} and the project's budget in {project_currency}: \
                     give --rate (1 {currency} = RATE {project_currency}) with --rate-source and \
                     --rate-date"
                );
            }
            if project_currency == currency && a.rate.given() {
                bail!("the pledge and the project are both in {currency}: no --rate is needed");
            }
            let request = v1::AllocateContributionRequest {
                request_id: request_id.clone(),
                expected_version: a.write.expected_version,
                pledge_id: pledge_id.clone(),
                project_id: project_id.clone(),
                amount: Some(amount.into()),
                rate: a.rate.rate(currency, project_currency)?,
            };
            let result = session.answer(
                session
                    .pledges()
                    .allocate_contribution(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "allocated {amount} of pledge {pledge_id} to project {project_id} ({}): \
                     allocation {}; the project's account is credited shortly after",
                    project.country, result.created_id
                ),
            )
        }
    }
}

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
                    result.created_id
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
    let mut out = format!(
        "matching pool {}\n  matching donor  {}\n  cap             {} at {ratio}, \
         contributions until {}\n  countries       {}\n  reserved        {}\n  confirmed       {}\n  \
         funds received  {}\n  room under cap  {}\n  version         {}",
        p.pool_id,
        p.matching_donor_id,
        output::money(p.cap.as_ref()),
        p.expires_on,
        p.eligible_countries.join(", "),
        output::money(p.reserved.as_ref()),
        output::money(p.confirmed.as_ref()),
        output::money(p.funds.as_ref()),
        output::money(p.remaining.as_ref()),
        p.version,
    );
    if !p.matches.is_empty() {
        let mut table = Table::new(&["RECEIPT", "DONOR", "COUNTRY", ">MATCH", "STATUS"]);
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
            ]);
        }
        out.push_str("\n\nmatches\n");
        out.push_str(&table.render());
    }
    out
}
