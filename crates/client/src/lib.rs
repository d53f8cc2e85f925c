//! The command-line client: the API for people without grpcurl.
//!
//! Every command checks its input locally first (amounts are parsed exactly in the currency's
//! minor unit, codes and dates are validated), so a typo never reaches the server; what only
//! the fund can judge (a pledge exceeded, an approver who requested) comes back as the
//! server's refusal, printed with its code, reason and field violations.

use clap::{Args, Subcommand};

pub mod attention;
mod contributions;
pub mod credentials;
mod disbursements;
mod donors;
mod events;
mod funding;
pub mod input;
pub mod output;
mod periods;
mod pledges;
mod pools;
mod projects;
pub mod session;
mod statement;

pub use session::{CallError, Session};

/// Where the client looks for a server unless told otherwise: `fundtrail dev`'s address.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:50051";

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Donors: the governments and institutions that pledge money to the fund.
    Donor(donors::DonorArgs),
    /// Pledges: what a donor promised, its agreement, amendments and withdrawal.
    Pledge(pledges::PledgeArgs),
    /// Contributions: money received on a pledge and its allocation to projects.
    Contribution(contributions::ContributionArgs),
    /// Matching pools: one donor matching other donors' contributions.
    Pool(pools::PoolArgs),
    /// Projects in mine-affected countries and their implementing partners.
    Project(projects::ProjectArgs),
    /// Project milestones: planning, progress reports and their verification.
    Milestone(projects::MilestoneArgs),
    /// Disbursements to implementing partners: requests, approvals, payments, corrections.
    Disbursement(disbursements::DisbursementArgs),
    /// Project accounts: money credited to a project and what it holds for disbursements.
    Account(disbursements::AccountArgs),
    /// The event history, as auditors see it.
    Events(events::EventsArgs),
    /// Funding views: per country, per donor, the fund as a whole, now or as of a past point.
    Funding(funding::FundingArgs),
    /// What needs attention: events the fund's process managers and views could not take
    /// into effect, and re-driving them.
    Attention(attention::AttentionArgs),
    /// The accounting calendar: closing periods to entries, and what is closed.
    Period(periods::PeriodArgs),
}

const GLOBAL: &str = "Connection and output";
const REQUEST: &str = "Retries and concurrency";

/// Options every command takes, before or after the command's name.
#[derive(Debug, Clone, Args)]
pub struct Global {
    /// The fundtrail server, or the entry point of the distributed shape (http://host:port, or
    /// https://host:port with the server's CA in `FUNDTRAIL_CA` unless a public CA issued its
    /// certificate); or a servers file (`….toml`) naming an address per service.
    #[arg(
        long,
        global = true,
        env = "FUNDTRAIL_SERVER",
        default_value = DEFAULT_SERVER,
        help_heading = GLOBAL
    )]
    pub server: String,
    /// A bearer token to act with (also `FUNDTRAIL_TOKEN`). Without one the client reads the
    /// file `FUNDTRAIL_TOKEN_FILE` names, or else .fundtrail/tokens/staff.jwt when `fundtrail
    /// dev` wrote it.
    #[arg(long, global = true, value_name = "JWT", help_heading = GLOBAL)]
    pub token: Option<String>,
    /// Act with the token `fundtrail dev` wrote for this profile, .fundtrail/tokens/NAME.jwt:
    /// staff, approver, verifier, auditor or donor.
    #[arg(long, global = true, value_name = "NAME", conflicts_with = "token", help_heading = GLOBAL)]
    pub profile: Option<String>,
    /// Print the response as JSON for scripts: the protobuf JSON mapping with the .proto field
    /// names, every field present, 64-bit integers (minor units, positions) as strings.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
}

impl Global {
    pub(crate) async fn session(&self) -> anyhow::Result<Session> {
        let credentials = credentials::resolve(self.token.as_deref(), self.profile.as_deref())?;
        Session::connect_with(&self.server, credentials).await
    }
}

/// Options of every command that changes something.
#[derive(Debug, Clone, Args)]
pub struct Write {
    /// Identifies this request; by default a new time-ordered UUID. Sending the same request again with
    /// the same id is safe: the server answers with the original result and records nothing
    /// twice. Reuse it to retry after a timeout or a lost connection.
    #[arg(long, value_name = "ID", help_heading = REQUEST)]
    pub request_id: Option<String>,
    /// Refuse unless the stream written is at this version (ABORTED otherwise): for changes
    /// decided on a view read earlier.
    #[arg(long, value_name = "VERSION", help_heading = REQUEST)]
    pub expected_version: Option<u64>,
}

impl Write {
    /// The request id to send: the given one, checked, or a fresh one.
    pub fn request_id(&self) -> anyhow::Result<String> {
        match &self.request_id {
            Some(id) => input::request_id(id),
            None => Ok(uuid::Uuid::now_v7().to_string()),
        }
    }
}

/// Runs one client command.
pub async fn run(command: Command) -> anyhow::Result<()> {
    let result = match command {
        Command::Donor(args) => donors::run(args).await,
        Command::Pledge(args) => pledges::run_pledge(args).await,
        Command::Contribution(args) => contributions::run_contribution(args).await,
        Command::Pool(args) => pools::run_pool(args).await,
        Command::Project(args) => projects::run_project(args).await,
        Command::Milestone(args) => projects::run_milestone(args).await,
        Command::Disbursement(args) => disbursements::run_disbursement(args).await,
        Command::Account(args) => disbursements::run_account(args).await,
        Command::Events(args) => events::run(args).await,
        Command::Funding(args) => funding::run(args).await,
        Command::Attention(args) => attention::run(args).await,
        Command::Period(args) => periods::run(args).await,
    };
    // A reader that went away (`| head`) is not a failure of the command.
    match result {
        Err(error) if output::is_broken_pipe(&error) => Ok(()),
        other => other,
    }
}
