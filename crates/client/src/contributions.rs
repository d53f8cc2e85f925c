//! Contributions: money received on a pledge, its correction, and its allocation to projects.

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::{Currency, Grouped};
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
    /// Reverse a receipt that bounced or was booked in error; its bank reference may then be
    /// booked again. Only while its amount is still unallocated, and not by its booker.
    Reverse(Reverse),
    /// Correct the rate a receipt was booked at to the reporting currency; allocations
    /// already made keep their value. Not by the receipt's booker.
    Rerate(Rerate),
}

#[derive(Debug, Args)]
struct Reverse {
    /// The pledge the receipt is on.
    #[arg(long)]
    pledge: String,
    /// The receipt's id, as `fundtrail pledge show` lists it.
    #[arg(long)]
    receipt: String,
    /// Why, for the record: returned by the bank, booked in error.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Rerate {
    /// The pledge the receipt is on.
    #[arg(long)]
    pledge: String,
    /// The receipt's id, as `fundtrail pledge show` lists it.
    #[arg(long)]
    receipt: String,
    /// The corrected rate from the pledge's currency to the reporting currency.
    #[command(flatten)]
    rate: RateArgs,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
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
                    result.created_id,
                    amount = Grouped(amount),
                ),
            )
        }
        ContributionCommand::Reverse(r) => {
            let request = v1::ReverseReceiptRequest {
                request_id: r.write.request_id()?,
                expected_version: r.write.expected_version,
                pledge_id: input::id("--pledge", "pledge", &r.pledge)?,
                receipt_id: input::id("--receipt", "receipt", &r.receipt)?,
                reason: input::required("--reason", &r.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "reversed receipt {} on pledge {}: it no longer counts as received",
                request.receipt_id, request.pledge_id
            );
            let result = session.answer(
                session
                    .pledges()
                    .reverse_receipt(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        ContributionCommand::Rerate(r) => {
            let pledge_id = input::id("--pledge", "pledge", &r.pledge)?;
            let receipt_id = input::id("--receipt", "receipt", &r.receipt)?;
            let reason = input::required("--reason", &r.reason)?;
            if !r.rate.given() {
                bail!("give the corrected --rate with --rate-source and --rate-date");
            }
            r.rate.check_syntax()?;
            let request_id = r.write.request_id()?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
            let Some(receipt) = view.receipts.iter().find(|x| x.receipt_id == receipt_id) else {
                bail!("pledge {pledge_id} has no receipt {receipt_id}");
            };
            let reporting =
                output::currency_of(receipt.reporting_amount.as_ref(), "the receipt's value")?;
            let before = output::money(receipt.reporting_amount.as_ref());
            let request = v1::RerateReceiptRequest {
                request_id: request_id.clone(),
                expected_version: r.write.expected_version,
                pledge_id: pledge_id.clone(),
                receipt_id: receipt_id.clone(),
                rate: r.rate.rate(currency, reporting)?,
                reason,
            };
            let result = session.answer(
                session
                    .pledges()
                    .rerate_receipt(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "re-rated receipt {receipt_id} on pledge {pledge_id}, booked at {before} \
                     until now; allocations keep their value"
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
                    project.country,
                    result.created_id,
                    amount = Grouped(amount),
                ),
            )
        }
    }
}
