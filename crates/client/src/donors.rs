//! `fundtrail donor …`

use clap::{ArgGroup, Args, Subcommand, ValueEnum};
use fundtrail_proto::v1;

use super::output::{self, Table};
use super::{Global, Write, input};

#[derive(Debug, Args)]
pub struct DonorArgs {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: DonorCommand,
}

#[derive(Debug, Subcommand)]
enum DonorCommand {
    /// Register a donor under its IATI organisation identifier.
    Register(Register),
    /// List every registered donor.
    List,
    /// Show one donor.
    Show {
        /// The donor's IATI organisation identifier, e.g. XM-DAC-7.
        id: String,
    },
    /// Change whether a donor's contributions may be matched by a matching pool.
    MatchingEligibility(Eligibility),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Kind {
    Government,
    Multilateral,
    Private,
}

#[derive(Debug, Args)]
struct Register {
    /// IATI organisation identifier: registration agency, hyphen, number (XM-DAC-7 is the
    /// Netherlands, US-GOV-1 the United States).
    #[arg(long)]
    id: String,
    /// The donor's name as reports print it.
    #[arg(long)]
    name: String,
    #[arg(long, value_enum)]
    kind: Kind,
    /// Its contributions may be matched by matching pools.
    #[arg(long)]
    matching_eligible: bool,
    #[command(flatten)]
    write: Write,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("choice").required(true).args(["eligible", "not_eligible"])))]
struct Eligibility {
    /// The donor's IATI organisation identifier.
    id: String,
    /// Its contributions may be matched from now on.
    #[arg(long)]
    eligible: bool,
    /// Its contributions are no longer matched.
    #[arg(long)]
    not_eligible: bool,
    /// Why, for the record.
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    write: Write,
}

pub async fn run(args: DonorArgs) -> anyhow::Result<()> {
    let json = args.global.json;
    match args.command {
        DonorCommand::Register(r) => {
            let request = v1::RegisterDonorRequest {
                request_id: r.write.request_id()?,
                expected_version: r.write.expected_version,
                donor_id: input::donor_id("--id", &r.id)?,
                name: input::required("--name", &r.name)?,
                kind: match r.kind {
                    Kind::Government => v1::DonorKind::Government,
                    Kind::Multilateral => v1::DonorKind::Multilateral,
                    Kind::Private => v1::DonorKind::Private,
                }
                .into(),
                matching_eligible: r.matching_eligible,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!("registered donor {} ({})", request.donor_id, request.name);
            let result = session.answer(
                session
                    .pledges()
                    .register_donor(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
        DonorCommand::List => {
            let session = args.global.session().await?;
            let list = session.answer(
                session
                    .pledges()
                    .list_donors(session.request(v1::ListDonorsRequest {}))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.ListDonorsResponse", &list, |list| {
                if list.donors.is_empty() {
                    return "no donors registered".to_owned();
                }
                let mut table = Table::new(&["ID", "NAME", "KIND", "MATCHING"]);
                for d in &list.donors {
                    table.row(vec![
                        d.donor_id.clone(),
                        d.name.clone(),
                        output::donor_kind(d.kind).to_owned(),
                        if d.matching_eligible {
                            "eligible"
                        } else {
                            "–"
                        }
                        .to_owned(),
                    ]);
                }
                table.render()
            })
        }
        DonorCommand::Show { id } => {
            let donor_id = input::donor_id("ID", &id)?;
            let session = args.global.session().await?;
            let donor = session.answer(
                session
                    .pledges()
                    .get_donor(session.request(v1::GetDonorRequest { donor_id }))
                    .await,
                None,
            )?;
            output::show(json, "fundtrail.v1.DonorView", &donor, |d| {
                format!(
                    "donor {}\n  name      {}\n  kind      {}\n  matching  {}\n  version   {}",
                    d.donor_id,
                    d.name,
                    output::donor_kind(d.kind),
                    if d.matching_eligible {
                        "its contributions may be matched"
                    } else {
                        "not matching-eligible"
                    },
                    d.version
                )
            })
        }
        DonorCommand::MatchingEligibility(e) => {
            let request = v1::ChangeDonorMatchingEligibilityRequest {
                request_id: e.write.request_id()?,
                expected_version: e.write.expected_version,
                donor_id: input::donor_id("ID", &e.id)?,
                matching_eligible: e.eligible && !e.not_eligible,
                reason: input::required("--reason", &e.reason)?,
            };
            let session = args.global.session().await?;
            let id = request.request_id.clone();
            let done = format!(
                "donor {} is {}",
                request.donor_id,
                if request.matching_eligible {
                    "now matching-eligible"
                } else {
                    "no longer matching-eligible"
                }
            );
            let result = session.answer(
                session
                    .pledges()
                    .change_donor_matching_eligibility(session.request(request))
                    .await,
                Some(&id),
            )?;
            output::result(json, &result, &done)
        }
    }
}
