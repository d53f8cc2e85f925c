//! `fundtrail pledge …`: what a donor promised, its agreement, amendments and withdrawal.

use std::fmt::Write as _;

use clap::{Args, Subcommand};
use fundtrail_domain::Grouped;
use fundtrail_proto::v1;

use super::input;
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
    /// Change the pledged amount (same currency; never below what was received, net of
    /// reversed receipts).
    Amend(AmendPledge),
    /// Withdraw a pledge: the part not yet received is cancelled.
    Withdraw(WithdrawPledge),
    /// Record the signed contribution agreement (the commitment).
    SignAgreement(SignAgreement),
    /// Record unallocated money paid back to the donor.
    Refund(RefundPledge),
}

#[derive(Debug, Args)]
struct RefundPledge {
    /// The pledge id.
    id: String,
    /// The amount paid back, in the pledge's currency; at most what is unallocated.
    #[arg(long, allow_negative_numbers = true)]
    amount: String,
    /// The bank's reference of the payment to the donor.
    #[arg(long)]
    payment_ref: String,
    /// The day the payment left the fund's account, YYYY-MM-DD.
    #[arg(long)]
    value_date: String,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
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
                output::earmark(request.earmark.as_ref()).replace("unearmarked", "the fund"),
                amount = Grouped(amount),
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
                    output::money(view.amount.as_ref()),
                    amount = Grouped(amount),
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
        PledgeCommand::Refund(r) => {
            let pledge_id = input::id("ID", "pledge", &r.id)?;
            let payment_reference = input::required("--payment-ref", &r.payment_ref)?;
            let value_date = input::date("--value-date", &r.value_date)?;
            let reason = input::required("--reason", &r.reason)?;
            let request_id = r.write.request_id()?;
            let session = args.global.session().await?;
            let view = pledge(&session, &pledge_id).await?;
            let currency = output::currency_of(view.amount.as_ref(), "the pledge")?;
            let amount = input::amount("--amount", &r.amount, currency)?;
            let request = v1::RefundToDonorRequest {
                request_id: request_id.clone(),
                expected_version: r.write.expected_version,
                pledge_id: pledge_id.clone(),
                amount: Some(amount.into()),
                payment_reference: payment_reference.clone(),
                value_date,
                reason,
            };
            let result = session.answer(
                session
                    .pledges()
                    .refund_to_donor(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "refunded {amount} of pledge {pledge_id} to donor {} (payment \
                     {payment_reference})",
                    view.donor_id,
                    amount = Grouped(amount),
                ),
            )
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
        "\n  received     {received}\n  unallocated  {}",
        output::money(p.unallocated.as_ref()),
    );
    if output::nonzero(p.refunded.as_ref()) {
        let _ = write!(
            out,
            "\n  refunded     {}",
            output::money(p.refunded.as_ref())
        );
    }
    let _ = write!(out, "\n  version      {}", p.version);
    if !p.receipts.is_empty() {
        let mut table = Table::new(&[
            "RECEIPT",
            ">AMOUNT",
            ">REPORTING",
            "BANK REFERENCE",
            "OVER-PAYMENT",
            "RATE",
            "REVERSED",
        ]);
        for r in &p.receipts {
            table.row(vec![
                r.receipt_id.clone(),
                output::money(r.amount.as_ref()),
                output::money(r.reporting_amount.as_ref()),
                r.bank_reference.clone(),
                if r.over_payment { "yes" } else { "" }.to_owned(),
                r.rate.as_ref().map(|x| x.rate.clone()).unwrap_or_default(),
                if r.reversed { "yes" } else { "" }.to_owned(),
            ]);
        }
        out.push_str("\n\nreceipts\n");
        out.push_str(&table.render());
    }
    if !p.refunds.is_empty() {
        let mut table = Table::new(&["PAYMENT REFERENCE", "VALUE DATE", ">AMOUNT", ">REPORTING"]);
        for r in &p.refunds {
            table.row(vec![
                r.payment_reference.clone(),
                r.value_date.clone(),
                output::money(r.amount.as_ref()),
                output::money(r.reporting_amount.as_ref()),
            ]);
        }
        out.push_str("\n\nrefunds to the donor\n");
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
