//! `fundtrail disbursement …`, `fundtrail account …`

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::Grouped;
use fundtrail_proto::v1;

use super::input::{self, RateArgs};
use super::output::{self, Table};
use super::{Global, Session, Write};

#[derive(Debug, Args)]
pub struct DisbursementArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: DisbursementCommand,
}

#[derive(Debug, Subcommand)]
enum DisbursementCommand {
    /// Request a disbursement to the implementing partner; the amount is held at once.
    Request(RequestDisbursement),
    /// Approve a requested disbursement (someone other than the requester).
    Approve(Target),
    /// Reject a requested or approved disbursement, releasing what it held.
    Reject(WithReason),
    /// Record the payment of an approved disbursement.
    Pay(Pay),
    /// Reverse a payment that did not happen after all (returned by the bank, booked in
    /// error).
    Reverse(WithReason),
    /// Record money the partner paid back.
    Refund(Refund),
}

#[derive(Debug, Args)]
struct RequestDisbursement {
    /// The project whose account pays.
    #[arg(long)]
    project: String,
    /// The amount, in the account's (the project budget's) currency.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// The milestone whose tranche this is: required by a results-based project, and never
    /// more than what its verification released.
    #[arg(long)]
    milestone: Option<u32>,
    /// The partner receiving the money; the project's implementing partner when left out.
    #[arg(long)]
    partner: Option<String>,
    /// What the money is for.
    #[arg(long)]
    purpose: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Target {
    /// The disbursement id.
    id: String,
    /// The project whose account it is on.
    #[arg(long)]
    project: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct WithReason {
    #[command(flatten)]
    target: Target,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
}

#[derive(Debug, Args)]
struct Pay {
    #[command(flatten)]
    target: Target,
    /// The day the money left the fund's account, YYYY-MM-DD.
    #[arg(long)]
    paid_on: String,
    /// The bank's reference of the transfer.
    #[arg(long)]
    bank_ref: String,
    /// The currency paid in, when not the account's; needs --rate from the account's
    /// currency to it.
    #[arg(long, requires = "rate")]
    currency: Option<String>,
    #[command(flatten)]
    rate: RateArgs,
}

#[derive(Debug, Args)]
struct Refund {
    #[command(flatten)]
    target: Target,
    /// The amount paid back, in the account's currency.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    refunded_on: String,
    /// Why, for the record (unspent balance, ineligible expenditure).
    #[arg(long)]
    reason: String,
}

#[derive(Debug, Args)]
pub struct AccountArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: AccountCommand,
}

#[derive(Debug, Subcommand)]
enum AccountCommand {
    /// Show a project's account: credits, what is available, disbursements, unlocked
    /// tranches.
    Show {
        /// The project id (the account's id too).
        project_id: String,
    },
    /// Return an allocation to the fund, whole or a part; its pledge gets the money back
    /// shortly after.
    ReturnAllocation {
        /// The project id.
        project_id: String,
        /// The allocation id.
        #[arg(long)]
        allocation: String,
        /// How much to return, in the account's currency; all that remains of the allocation
        /// when left out.
        #[arg(long, allow_negative_numbers = true)]
        amount: Option<String>,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
    /// Close a project's account: what is available goes back to the fund, shared over its
    /// allocations, and the account takes no new requests.
    Close {
        /// The project id.
        project_id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
}

pub(crate) async fn account(
    session: &Session,
    project_id: &str,
) -> anyhow::Result<v1::ProjectAccountView> {
    session.answer(
        session
            .disbursements()
            .get_project_account(session.request(v1::GetProjectAccountRequest {
                project_id: project_id.to_owned(),
            }))
            .await,
        None,
    )
}

/// The ids a command on one disbursement names, checked.
fn target(t: &Target) -> anyhow::Result<(String, String, String)> {
    Ok((
        input::id("--project", "project", &t.project)?,
        input::id("ID", "disbursement", &t.id)?,
        t.write.request_id()?,
    ))
}

pub async fn run_disbursement(args: DisbursementArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        DisbursementCommand::Request(r) => {
            let project_id = input::id("--project", "project", &r.project)?;
            let milestone = match r.milestone {
                Some(0) => bail!("--milestone: milestones are numbered from 1"),
                other => other.unwrap_or_default(),
            };
            let purpose = r.purpose.trim().to_owned();
            let request_id = r.write.request_id()?;
            let partner = r
                .partner
                .as_deref()
                .map(|p| input::required("--partner", p))
                .transpose()?;
            let session = args.global.session().await?;
            let view = session.project(&project_id).await?;
            let currency = output::currency_of(view.budget.as_ref(), "the project's budget")?;
            let amount = input::amount("--amount", &r.amount, currency)?;
            let partner = partner
                .or_else(|| view.partner.as_ref().map(|p| p.name.clone()))
                .unwrap_or_default();
            let request = v1::RequestDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: r.write.expected_version,
                project_id: project_id.clone(),
                amount: Some(amount.into()),
                partner: partner.clone(),
                milestone,
                purpose,
            };
            let result = session.answer(
                session
                    .disbursements()
                    .request_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            let tranche = if milestone == 0 {
                String::new()
            } else {
                format!(" (tranche of milestone {milestone})")
            };
            output::result(
                json,
                &result,
                &format!(
                    "requested disbursement {} of {amount} to {partner}{tranche}; it awaits \
                     approval by someone else",
                    result.created_id,
                    amount = Grouped(amount),
                ),
            )
        }
        DisbursementCommand::Approve(t) => {
            let (project_id, disbursement_id, request_id) = target(&t)?;
            let request = v1::ApproveDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: t.write.expected_version,
                project_id,
                disbursement_id: disbursement_id.clone(),
            };
            let session = args.global.session().await?;
            let result = session.answer(
                session
                    .disbursements()
                    .approve_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!("approved disbursement {disbursement_id}"),
            )
        }
        DisbursementCommand::Reject(w) => {
            let (project_id, disbursement_id, request_id) = target(&w.target)?;
            let request = v1::RejectDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: w.target.write.expected_version,
                project_id,
                disbursement_id: disbursement_id.clone(),
                reason: input::required("--reason", &w.reason)?,
            };
            let session = args.global.session().await?;
            let result = session.answer(
                session
                    .disbursements()
                    .reject_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "rejected disbursement {disbursement_id}; what it held is available again"
                ),
            )
        }
        DisbursementCommand::Pay(p) => {
            let (project_id, disbursement_id, request_id) = target(&p.target)?;
            let paid_on = input::date("--paid-on", &p.paid_on)?;
            let bank_reference = input::required("--bank-ref", &p.bank_ref)?;
            let payment_currency = p
                .currency
                .as_deref()
                .map(|c| input::currency("--currency", c))
                .transpose()?;
            p.rate.check_syntax()?;
            if payment_currency.is_none() && p.rate.given() {
                bail!("--rate converts to the payment currency: name it with --currency");
            }
            let session = args.global.session().await?;
            let rate = match payment_currency {
                None => None,
                Some(target) => {
                    let view = session.project(&project_id).await?;
                    let account_currency =
                        output::currency_of(view.budget.as_ref(), "the project's budget")?;
                    p.rate.rate(account_currency, target)?
                }
            };
            let request = v1::PayDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: p.target.write.expected_version,
                project_id,
                disbursement_id: disbursement_id.clone(),
                paid_on: paid_on.clone(),
                bank_reference,
                payment_currency: payment_currency.map(|c| c.to_string()).unwrap_or_default(),
                rate,
            };
            let result = session.answer(
                session
                    .disbursements()
                    .pay_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!("paid disbursement {disbursement_id} on {paid_on}"),
            )
        }
        DisbursementCommand::Reverse(w) => {
            let (project_id, disbursement_id, request_id) = target(&w.target)?;
            let request = v1::ReverseDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: w.target.write.expected_version,
                project_id,
                disbursement_id: disbursement_id.clone(),
                reason: input::required("--reason", &w.reason)?,
            };
            let session = args.global.session().await?;
            let result = session.answer(
                session
                    .disbursements()
                    .reverse_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "reversed the payment of disbursement {disbursement_id}; the money is \
                     available on the account again"
                ),
            )
        }
        DisbursementCommand::Refund(r) => {
            let (project_id, disbursement_id, request_id) = target(&r.target)?;
            let refunded_on = input::date("--refunded-on", &r.refunded_on)?;
            let reason = input::required("--reason", &r.reason)?;
            let session = args.global.session().await?;
            let view = session.project(&project_id).await?;
            let currency = output::currency_of(view.budget.as_ref(), "the project's budget")?;
            let amount = input::amount("--amount", &r.amount, currency)?;
            let request = v1::RefundDisbursementRequest {
                request_id: request_id.clone(),
                expected_version: r.target.write.expected_version,
                project_id,
                disbursement_id: disbursement_id.clone(),
                amount: Some(amount.into()),
                refunded_on,
                reason,
            };
            let result = session.answer(
                session
                    .disbursements()
                    .refund_disbursement(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "recorded a refund of {amount} on disbursement {disbursement_id}",
                    amount = Grouped(amount)
                ),
            )
        }
    }
}

fn disbursement_status(value: i32) -> &'static str {
    match v1::DisbursementStatus::try_from(value) {
        Ok(v1::DisbursementStatus::Requested) => "requested",
        Ok(v1::DisbursementStatus::Approved) => "approved",
        Ok(v1::DisbursementStatus::Rejected) => "rejected",
        Ok(v1::DisbursementStatus::Paid) => "paid",
        Ok(v1::DisbursementStatus::Reversed) => "reversed",
        _ => "?",
    }
}

fn describe_account(a: &v1::ProjectAccountView) -> String {
    let mut out = format!(
        "account of project {}{}\n  credited   {}\n  available  {}\n  returned   {}\n  version    {}",
        a.project_id,
        if a.closed { " (closed)" } else { "" },
        output::money(a.credited.as_ref()),
        output::money(a.available.as_ref()),
        output::money(a.returned.as_ref()),
        a.version
    );
    if !a.credits.is_empty() {
        let mut table = Table::new(&["ALLOCATION", "PLEDGE", "DONOR", ">AMOUNT", ">RETURNED"]);
        for c in &a.credits {
            let returned = if c.returned {
                "all".to_owned()
            } else if output::nonzero(c.returned_amount.as_ref()) {
                output::money(c.returned_amount.as_ref())
            } else {
                String::new()
            };
            table.row(vec![
                c.allocation_id.clone(),
                c.pledge_id.clone(),
                c.donor_id.clone(),
                output::money(c.amount.as_ref()),
                returned,
            ]);
        }
        out.push_str("\n\ncredits\n");
        out.push_str(&table.render());
    }
    if !a.unlocked_tranches.is_empty() {
        let mut tranches: Vec<_> = a.unlocked_tranches.iter().collect();
        tranches.sort_by_key(|(n, _)| **n);
        let mut table = Table::new(&[">MILESTONE", ">TRANCHE", ">RELEASED"]);
        for (number, tranche) in tranches {
            // An account that has not recorded a release is one from before releases were,
            // whose verifications released the whole tranche.
            let released = a.released_tranches.get(number).unwrap_or(tranche);
            table.row(vec![
                number.to_string(),
                output::money(Some(tranche)),
                output::money(Some(released)),
            ]);
        }
        out.push_str("\n\nunlocked tranches\n");
        out.push_str(&table.render());
    }
    if !a.disbursements.is_empty() {
        let mut table = Table::new(&[
            "DISBURSEMENT",
            ">AMOUNT",
            "PARTNER",
            ">MILESTONE",
            "STATUS",
            ">REFUNDED",
            "REQUESTED BY",
        ]);
        for d in &a.disbursements {
            table.row(vec![
                d.disbursement_id.clone(),
                output::money(d.amount.as_ref()),
                d.partner.clone(),
                if d.milestone == 0 {
                    String::new()
                } else {
                    d.milestone.to_string()
                },
                disbursement_status(d.status).to_owned(),
                if output::nonzero(d.refunded.as_ref()) {
                    output::money(d.refunded.as_ref())
                } else {
                    String::new()
                },
                d.requested_by.clone(),
            ]);
        }
        out.push_str("\n\ndisbursements\n");
        out.push_str(&table.render());
    }
    out
}

pub async fn run_account(args: AccountArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        AccountCommand::Show { project_id } => {
            let project_id = input::id("PROJECT_ID", "project", &project_id)?;
            let session = args.global.session().await?;
            let view = account(&session, &project_id).await?;
            output::show(
                json,
                "fundtrail.v1.ProjectAccountView",
                &view,
                describe_account,
            )
        }
        AccountCommand::ReturnAllocation {
            project_id,
            allocation,
            amount,
            reason,
            write,
        } => {
            let project_id = input::id("PROJECT_ID", "project", &project_id)?;
            let allocation_id = input::id("--allocation", "allocation", &allocation)?;
            let reason = input::required("--reason", &reason)?;
            let session = args.global.session().await?;
            let amount = match amount {
                Some(text) => {
                    let view = session.project(&project_id).await?;
                    let currency =
                        output::currency_of(view.budget.as_ref(), "the project's budget")?;
                    Some(input::amount("--amount", &text, currency)?)
                }
                None => None,
            };
            let done = match amount {
                Some(amount) => format!(
                    "returned {amount} of allocation {allocation_id} to the fund; its pledge \
                     gets the money back shortly after",
                    amount = Grouped(amount)
                ),
                None => format!(
                    "returned what remained of allocation {allocation_id} to the fund; its \
                     pledge gets the money back shortly after"
                ),
            };
            let request = v1::ReturnAllocationRequest {
                request_id: write.request_id()?,
                expected_version: write.expected_version,
                project_id,
                allocation_id,
                reason,
                amount: amount.map(Into::into),
            };
            let id = request.request_id.clone();
            let result = session.answer(
                session
                    .disbursements()
                    .return_allocation(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        AccountCommand::Close {
            project_id,
            reason,
            write,
        } => {
            let request = v1::CloseProjectAccountRequest {
                request_id: write.request_id()?,
                expected_version: write.expected_version,
                project_id: input::id("PROJECT_ID", "project", &project_id)?,
                reason: input::required("--reason", &reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "closed the account of project {}; what was available goes back to the fund",
                request.project_id
            );
            let result = session.answer(
                session
                    .disbursements()
                    .close_project_account(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
    }
}
