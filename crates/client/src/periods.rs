//! The fund's accounting calendar: closing periods and showing what is closed.

use anyhow::bail;
use clap::{Args, Subcommand};
use fundtrail_domain::calendar::is_month_end;
use fundtrail_proto::v1;

use super::input;
use super::output;
use super::{Global, Write};

#[derive(Debug, Args)]
pub struct PeriodArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: PeriodCommand,
}

#[derive(Debug, Subcommand)]
enum PeriodCommand {
    /// Close the books through a month end (a month, or a fiscal year at its last month end)
    /// that has passed: entries dated on or before it are then refused (`PERIOD_CLOSED`), and
    /// mistakes in it are corrected in the open period. Never reopened. By an approver.
    Close(Close),
    /// Show what is closed: the closed-through date and every close, by whom and why.
    Show,
}

#[derive(Debug, Args)]
struct Close {
    /// The last day to close, a month end, YYYY-MM-DD.
    #[arg(long)]
    through: String,
    /// Why, for the record: "June 2025 month-end close", "fiscal year 2025".
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

pub async fn run(args: PeriodArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        PeriodCommand::Close(c) => {
            let through = input::date("--through", &c.through)?;
            if fundtrail_proto::wire::calendar_date(&through).is_some_and(|d| !is_month_end(d)) {
                bail!("--through {through}: periods close at a month's last day");
            }
            let request = v1::ClosePeriodRequest {
                request_id: c.write.request_id()?,
                expected_version: c.write.expected_version,
                through: through.clone(),
                reason: input::required("--reason", &c.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let result = session.answer(
                session
                    .pledges()
                    .close_period(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(
                json,
                &result,
                &format!("closed the books through {through}"),
            )
        }
        PeriodCommand::Show => {
            let session = args.global.session().await?;
            let view = session.answer(
                session
                    .pledges()
                    .get_calendar(session.request(v1::GetCalendarRequest {}))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.CalendarView", &view, describe)
        }
    }
}

fn describe(view: &v1::CalendarView) -> String {
    if view.closed_through.is_empty() {
        return "no period is closed: every date is open to entries".to_owned();
    }
    let mut table = output::Table::new(&["THROUGH", "CLOSED BY", "REASON"]);
    for close in &view.closes {
        table.row(vec![
            close.through.clone(),
            close.closed_by.clone(),
            close.reason.clone(),
        ]);
    }
    format!(
        "closed through {}: entries dated on or before it are refused\n{}",
        view.closed_through,
        table.render()
    )
}
