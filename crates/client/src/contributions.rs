//! Contributions: money received on a pledge and its allocation to projects.

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::Currency;
use fundtrail_proto::v1;

use super::input::{self, RateArgs};
use super::output;
use super::{Global, Write};

use super::pledges::pledge;

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
