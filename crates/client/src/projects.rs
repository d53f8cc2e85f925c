//! `fundtrail project …`, `fundtrail milestone …`

use anyhow::bail;
use clap::{Args, Subcommand, ValueEnum};
use fundtrail_domain::{Grouped, Indicator};
use fundtrail_proto::v1;

use super::input;
use super::output::{self, Table};
use super::{Global, Write};

#[derive(Debug, Args)]
pub struct ProjectArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: ProjectCommand,
}

#[derive(Debug, Subcommand)]
enum ProjectCommand {
    /// Register a project with its country, implementing partner and budget.
    Register(RegisterProject),
    /// List projects, optionally in one country.
    List {
        /// Only projects in this country (ISO 3166-1 alpha-2).
        #[arg(long)]
        country: Option<String>,
    },
    /// Show a project and its milestones.
    Show {
        /// The project id.
        id: String,
    },
    /// Record a new implementing partner: disbursements requested from now on go to it.
    ChangePartner {
        /// The project id.
        id: String,
        /// The new partner's name.
        #[arg(long)]
        partner: String,
        /// The new partner's IATI organisation identifier, if it has one.
        #[arg(long)]
        partner_iati: Option<String>,
        /// Why, for the record (a novated contract, say).
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
    /// Close a project: nothing more can change it.
    Close {
        /// The project id.
        id: String,
        /// Why, for the record.
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        write: Write,
    },
}

#[derive(Debug, Args)]
struct RegisterProject {
    /// ISO 3166-1 alpha-2 country code (XK for Kosovo).
    #[arg(long)]
    country: String,
    /// The implementing partner's name, e.g. "Norwegian People's Aid".
    #[arg(long)]
    partner: String,
    /// The partner's IATI organisation identifier, if it has one.
    #[arg(long)]
    partner_iati: Option<String>,
    #[arg(long)]
    title: String,
    /// DAC 5 sector code; 15250 (mine action) when left out.
    #[arg(long)]
    sector: Option<u32>,
    /// The budget, e.g. 2000000; its currency is the project account's.
    #[arg(long, allow_negative_numbers = true)]
    budget: String,
    /// ISO 4217 currency of the budget.
    #[arg(long)]
    currency: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    starts_on: String,
    /// YYYY-MM-DD.
    #[arg(long)]
    ends_on: String,
    /// Pay only for verified results: every disbursement names a verified milestone and stays
    /// within what its verification released. Without it the project is advance-funded.
    #[arg(long)]
    results_based: bool,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
pub struct MilestoneArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: MilestoneCommand,
}

#[derive(Debug, Subcommand)]
enum MilestoneCommand {
    /// Plan a milestone: a target and the tranche released once it is verified.
    Plan(Plan),
    /// Report progress on a milestone, with where the evidence is (as the partner).
    Report(Report),
    /// Verify reported progress (someone other than the reporter); the tranche unlocks.
    Verify(Review),
    /// Reject reported progress; the partner may report again.
    Reject(Reject),
}

/// How verified output releases a milestone's tranche.
#[derive(Debug, Clone, Copy, ValueEnum)]
enum Release {
    /// The tranche in proportion to the output verified against the target (at most all).
    Proportional,
    /// The whole tranche when the target is met, nothing otherwise.
    AllOrNothing,
}

impl From<Release> for v1::ReleaseRule {
    fn from(release: Release) -> Self {
        match release {
            Release::Proportional => v1::ReleaseRule::Proportional,
            Release::AllOrNothing => v1::ReleaseRule::AllOrNothing,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum IndicatorKind {
    /// Square metres of land cleared and released.
    SquareMetresCleared,
    /// Mines and explosive remnants of war destroyed.
    DevicesDestroyed,
    /// Another indicator, named with --indicator-name and --indicator-unit.
    Other,
}

#[derive(Debug, Args)]
struct Plan {
    /// The project id.
    #[arg(long)]
    project: String,
    #[arg(long)]
    title: String,
    #[arg(long, value_enum)]
    indicator: IndicatorKind,
    /// What an `other` indicator measures.
    #[arg(long)]
    indicator_name: Option<String>,
    /// The unit of an `other` indicator.
    #[arg(long)]
    indicator_unit: Option<String>,
    /// The target, in the indicator's unit.
    #[arg(long)]
    target: u64,
    /// Released once the milestone is verified, in the project's budget currency.
    #[arg(long, allow_negative_numbers = true)]
    tranche: String,
    /// How verified output releases the tranche.
    #[arg(long, value_enum)]
    release: Release,
    /// YYYY-MM-DD.
    #[arg(long)]
    due_on: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Report {
    /// The project id.
    #[arg(long)]
    project: String,
    /// The milestone's number (1, 2, ...).
    #[arg(long)]
    milestone: u32,
    /// The cumulative actual, in the indicator's unit.
    #[arg(long)]
    actual: u64,
    /// Where the evidence is: a survey report, a completion certificate.
    #[arg(long)]
    evidence: String,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Review {
    /// The project id.
    #[arg(long)]
    project: String,
    /// The milestone's number (1, 2, ...).
    #[arg(long)]
    milestone: u32,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
struct Reject {
    #[command(flatten)]
    review: Review,
    /// Why, so the partner knows what to fix.
    #[arg(long)]
    reason: String,
}

fn milestone_number(number: u32) -> anyhow::Result<u32> {
    if number == 0 {
        bail!("--milestone: milestones are numbered from 1");
    }
    Ok(number)
}

pub async fn run_project(args: ProjectArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        ProjectCommand::Register(r) => {
            let currency = input::currency("--currency", &r.currency)?;
            let budget = input::amount("--budget", &r.budget, currency)?;
            let country = input::country("--country", &r.country)?;
            let request = v1::RegisterProjectRequest {
                request_id: r.write.request_id()?,
                expected_version: r.write.expected_version,
                country: country.to_string(),
                partner: Some(v1::ImplementingPartner {
                    name: input::required("--partner", &r.partner)?,
                    iati_id: match &r.partner_iati {
                        Some(id) => input::donor_id("--partner-iati", id)?,
                        None => String::new(),
                    },
                }),
                title: input::required("--title", &r.title)?,
                sector_code: r.sector.unwrap_or_default(),
                budget: Some(budget.into()),
                starts_on: input::date("--starts-on", &r.starts_on)?,
                ends_on: input::date("--ends-on", &r.ends_on)?,
                funding: if r.results_based {
                    v1::FundingModality::ResultsBased
                } else {
                    v1::FundingModality::AdvanceFunded
                }
                .into(),
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let result = session.answer(
                session
                    .milestones()
                    .register_project(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "registered project {} in {country} ({}), budget {budget}, {}",
                    result.created_id,
                    country.name(),
                    if r.results_based {
                        "results-based"
                    } else {
                        "advance-funded"
                    },
                    budget = Grouped(budget),
                ),
            )
        }
        ProjectCommand::List { country } => {
            let country = match &country {
                Some(c) => input::country("--country", c)?.to_string(),
                None => String::new(),
            };
            let session = args.global.session().await?;
            let list = session.answer(
                session
                    .milestones()
                    .list_projects(session.request(v1::ListProjectsRequest { country }))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.ListProjectsResponse", &list, |list| {
                if list.projects.is_empty() {
                    return "no projects".to_owned();
                }
                let mut table =
                    Table::new(&["ID", "COUNTRY", "PARTNER", "TITLE", ">BUDGET", "MILESTONES"]);
                for p in &list.projects {
                    let verified = p
                        .milestones
                        .iter()
                        .filter(|m| m.status == i32::from(v1::MilestoneStatus::Verified))
                        .count();
                    table.row(vec![
                        p.project_id.clone(),
                        p.country.clone(),
                        p.partner
                            .as_ref()
                            .map(|x| x.name.clone())
                            .unwrap_or_default(),
                        p.title.clone(),
                        output::money(p.budget.as_ref()),
                        format!(
                            "{verified}/{} verified{}",
                            p.milestones.len(),
                            if p.closed { ", closed" } else { "" }
                        ),
                    ]);
                }
                table.render()
            })
        }
        ProjectCommand::Show { id } => {
            let project_id = input::id("ID", "project", &id)?;
            let session = args.global.session().await?;
            let view = session.project(&project_id).await?;
            output::show(json, "fundtrail.v1.ProjectView", &view, describe_project)
        }
        ProjectCommand::ChangePartner {
            id,
            partner,
            partner_iati,
            reason,
            write,
        } => {
            let request = v1::ChangeImplementingPartnerRequest {
                request_id: write.request_id()?,
                expected_version: write.expected_version,
                project_id: input::id("ID", "project", &id)?,
                partner: Some(v1::ImplementingPartner {
                    name: input::required("--partner", &partner)?,
                    iati_id: match &partner_iati {
                        Some(id) => input::donor_id("--partner-iati", id)?,
                        None => String::new(),
                    },
                }),
                reason: input::required("--reason", &reason)?,
            };
            let session = args.global.session().await?;
            let request_id = request.request_id.clone();
            let done = format!("project {} is now paid to {partner}", request.project_id);
            let result = session.answer(
                session
                    .milestones()
                    .change_implementing_partner(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(json, &result, &done)
        }
        ProjectCommand::Close { id, reason, write } => {
            let request = v1::CloseProjectRequest {
                request_id: write.request_id()?,
                expected_version: write.expected_version,
                project_id: input::id("ID", "project", &id)?,
                reason: input::required("--reason", &reason)?,
            };
            let session = args.global.session().await?;
            let request_id = request.request_id.clone();
            let done = format!("closed project {}", request.project_id);
            let result = session.answer(
                session
                    .milestones()
                    .close_project(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(json, &result, &done)
        }
    }
}

fn status(value: i32) -> &'static str {
    match v1::MilestoneStatus::try_from(value) {
        Ok(v1::MilestoneStatus::Planned) => "planned",
        Ok(v1::MilestoneStatus::Reported) => "reported",
        Ok(v1::MilestoneStatus::Verified) => "verified",
        Ok(v1::MilestoneStatus::Rejected) => "rejected",
        _ => "?",
    }
}

fn release_rule(value: i32) -> &'static str {
    match v1::ReleaseRule::try_from(value) {
        Ok(v1::ReleaseRule::Proportional) => "proportional",
        Ok(v1::ReleaseRule::AllOrNothing) => "all-or-nothing",
        // Planned before rules were chosen: the whole tranche on verification.
        Ok(v1::ReleaseRule::Unspecified) => "whole",
        Err(_) => "?",
    }
}

fn funding(value: i32) -> &'static str {
    match v1::FundingModality::try_from(value) {
        Ok(v1::FundingModality::ResultsBased) => "results-based",
        Ok(v1::FundingModality::AdvanceFunded | v1::FundingModality::Unspecified) => {
            "advance-funded"
        }
        Err(_) => "?",
    }
}

fn describe_project(p: &v1::ProjectView) -> String {
    let partner = p.partner.as_ref().map_or_else(String::new, |x| {
        if x.iati_id.is_empty() {
            x.name.clone()
        } else {
            format!("{} ({})", x.name, x.iati_id)
        }
    });
    let mut out = format!(
        "project {}\n  title    {}\n  country  {} ({})\n  partner  {partner}\n  sector   {}\n  \
         budget   {}\n  funding  {}\n  period   {} to {}\n  status   {}\n  version  {}",
        p.project_id,
        p.title,
        p.country,
        output::country_name(&p.country),
        p.sector_code,
        output::money(p.budget.as_ref()),
        funding(p.funding),
        p.starts_on,
        p.ends_on,
        if p.closed { "closed" } else { "open" },
        p.version,
    );
    if !p.milestones.is_empty() {
        let mut table = Table::new(&[
            ">N",
            "TITLE",
            "INDICATOR",
            ">TARGET",
            ">ACTUAL",
            ">SHORTFALL",
            ">TRANCHE",
            "RELEASE",
            ">RELEASED",
            ">WITHHELD",
            "DUE",
            "STATUS",
            "REPORTED BY",
        ]);
        for m in &p.milestones {
            table.row(vec![
                m.milestone.to_string(),
                m.title.clone(),
                output::indicator(m.indicator.as_ref()),
                output::quantity(m.target),
                m.actual.map(output::quantity).unwrap_or_default(),
                m.shortfall.map(output::quantity).unwrap_or_default(),
                output::money(m.tranche.as_ref()),
                release_rule(m.release_rule).to_owned(),
                m.released
                    .as_ref()
                    .map(|r| output::money(Some(r)))
                    .unwrap_or_default(),
                m.withheld
                    .as_ref()
                    .map(|w| output::money(Some(w)))
                    .unwrap_or_default(),
                m.due_on.clone(),
                status(m.status).to_owned(),
                m.reported_by.clone(),
            ]);
        }
        out.push_str("\n\nmilestones\n");
        out.push_str(&table.render());
    }
    out
}

pub async fn run_milestone(args: MilestoneArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        MilestoneCommand::Plan(p) => {
            let project_id = input::id("--project", "project", &p.project)?;
            let indicator = match p.indicator {
                IndicatorKind::SquareMetresCleared => Indicator::SquareMetresCleared,
                IndicatorKind::DevicesDestroyed => Indicator::DevicesDestroyed,
                IndicatorKind::Other => Indicator::Other {
                    name: input::required(
                        "--indicator-name",
                        p.indicator_name.as_deref().unwrap_or_default(),
                    )?,
                    unit: input::required(
                        "--indicator-unit",
                        p.indicator_unit.as_deref().unwrap_or_default(),
                    )?,
                },
            };
            let indicator = v1::Indicator::from(&indicator);
            if p.target == 0 {
                bail!("--target: a milestone's target must be positive");
            }
            let title = input::required("--title", &p.title)?;
            let due_on = input::date("--due-on", &p.due_on)?;
            let request_id = p.write.request_id()?;
            let session = args.global.session().await?;
            let view = session.project(&project_id).await?;
            let currency = output::currency_of(view.budget.as_ref(), "the project's budget")?;
            let tranche = input::amount("--tranche", &p.tranche, currency)?;
            let request = v1::PlanMilestoneRequest {
                request_id: request_id.clone(),
                expected_version: p.write.expected_version,
                project_id: project_id.clone(),
                title,
                indicator: Some(indicator),
                target: p.target,
                tranche: Some(tranche.into()),
                due_on,
                release_rule: v1::ReleaseRule::from(p.release).into(),
            };
            let result = session.answer(
                session
                    .milestones()
                    .plan_milestone(session.request(request))
                    .await,
                Some(&request_id),
            )?;
            output::result(
                json,
                &result,
                &format!(
                    "planned milestone {} of project {project_id}, releasing {} of {tranche}",
                    result.created_id,
                    match p.release {
                        Release::Proportional => "verified output's share",
                        Release::AllOrNothing => "all, once the target is met,",
                    },
                    tranche = Grouped(tranche),
                ),
            )
        }
        MilestoneCommand::Report(r) => {
            let request = v1::ReportProgressRequest {
                request_id: r.write.request_id()?,
                expected_version: r.write.expected_version,
                project_id: input::id("--project", "project", &r.project)?,
                milestone: milestone_number(r.milestone)?,
                actual: r.actual,
                evidence_reference: input::required("--evidence", &r.evidence)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "reported {} on milestone {} of project {}",
                output::quantity(request.actual),
                request.milestone,
                request.project_id
            );
            let result = session.answer(
                session
                    .milestones()
                    .report_progress(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        MilestoneCommand::Verify(v) => {
            let request = v1::VerifyMilestoneRequest {
                request_id: v.write.request_id()?,
                expected_version: v.write.expected_version,
                project_id: input::id("--project", "project", &v.project)?,
                milestone: milestone_number(v.milestone)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "verified milestone {} of project {}; what it releases of its tranche (see \
                 `project show`) unlocks on the project's account shortly after",
                request.milestone, request.project_id
            );
            let result = session.answer(
                session
                    .milestones()
                    .verify_milestone(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        MilestoneCommand::Reject(r) => {
            let request = v1::RejectMilestoneRequest {
                request_id: r.review.write.request_id()?,
                expected_version: r.review.write.expected_version,
                project_id: input::id("--project", "project", &r.review.project)?,
                milestone: milestone_number(r.review.milestone)?,
                reason: input::required("--reason", &r.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "rejected the progress reported on milestone {} of project {}",
                request.milestone, request.project_id
            );
            let result = session.answer(
                session
                    .milestones()
                    .reject_milestone(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
    }
}
