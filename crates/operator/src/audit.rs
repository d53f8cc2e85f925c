//! `fundtrail audit …`: what auditors run, against a server, a store or an export file.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use chrono::{SecondsFormat, Utc};
use clap::{Args, Subcommand};
use fundtrail_audit::{Source, audit};
use fundtrail_client::Session;
use fundtrail_identity::Credentials;
use fundtrail_proto::v1;
use fundtrail_reports::views::{self, AsOf};
use fundtrail_verifier::{InclusionProof, SignedCheckpoint, parse_public_key};

#[derive(Debug, Args)]
pub struct AuditCommand {
    #[command(subcommand)]
    command: AuditSubcommand,
}

#[derive(Debug, Subcommand)]
enum AuditSubcommand {
    /// Write every event with its hash, the signed checkpoints and the public key to a file
    /// (newline-delimited JSON; docs/audit.md describes it).
    Export(ExportArgs),
    /// Recompute the hash chain from its definition and check every signed checkpoint; exits
    /// non-zero on any sign of tampering.
    Verify(VerifyArgs),
    /// Sign the server's current head now and print the checkpoint.
    Checkpoint(ServerArg),
    /// Fetch and check an inclusion proof: the events from a position to a signed checkpoint.
    Prove(ProveArgs),
    /// Fetch and check the Merkle inclusion proof of one event under a signed tree checkpoint.
    Include(crate::tree::IncludeArgs),
    /// Fetch and check that a signed tree extends a smaller one (a consistency proof).
    Consistency(crate::tree::ConsistencyArgs),
    /// Fetch and check a donor's own events, each with its inclusion proof.
    Receipts(crate::tree::ReceiptsArgs),
    /// Witness the fund's tree: check the latest checkpoint extends the one accepted before,
    /// refuse a fork, cosign it and hand the cosignature to the fund.
    Witness(crate::tree::WitnessArgs),
    /// Read the fund's signed tree checkpoints from the log (Kafka or NATS), keeping only
    /// those of its key and origin; with `--consistency`, check each extends the one before.
    Checkpoints(crate::tree::CheckpointsArgs),
    /// Make a store's Merkle tree again from its events.
    RebuildTree(crate::tree::RebuildTreeArgs),
    /// Write IATI 2.03 XML: an activity file per project and the fund's organisation file.
    Iati(IatiArgs),
    /// Write CSV of the per-country view and of the donor statements.
    Csv(CsvArgs),
    /// Print the per-country views as they were known at a position or a date.
    Replay(ReplayArgs),
    /// List the events that changed a country's figures between two positions, and by how much.
    Diff(DiffArgs),
}

/// The fund's reporting currency, which the events' reporting amounts are in.
#[derive(Debug, Clone, Args)]
pub struct Reporting {
    #[arg(long, env = "FUNDTRAIL_REPORTING_CURRENCY", default_value = "USD")]
    reporting_currency: String,
}

impl Reporting {
    fn currency(&self) -> anyhow::Result<fundtrail_domain::Currency> {
        fundtrail_domain::Currency::new(&self.reporting_currency)
            .with_context(|| format!("reporting currency {:?}", self.reporting_currency))
    }
}

#[derive(Debug, Args)]
pub struct IatiArgs {
    /// The directory to write into.
    #[arg(long)]
    out: PathBuf,
    /// The fund's IATI organisation identifier, the reporting organisation of every file.
    #[arg(
        long,
        env = "FUNDTRAIL_IATI_REPORTING_ORG",
        default_value = "XI-IATI-FUNDTRAIL"
    )]
    reporting_org: String,
    #[arg(
        long,
        env = "FUNDTRAIL_IATI_REPORTING_ORG_NAME",
        default_value = "fundtrail trust fund"
    )]
    reporting_org_name: String,
    /// IATI `OrganisationType` code of the fund (40: multilateral).
    #[arg(long, default_value = "40")]
    reporting_org_type: String,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Debug, Args)]
struct CsvArgs {
    /// The directory to write into.
    #[arg(long)]
    out: PathBuf,
    /// As known at a position, a date (YYYY-MM-DD) or an RFC 3339 time; default: now.
    #[arg(long)]
    as_of: Option<String>,
    #[command(flatten)]
    reporting: Reporting,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Debug, Args)]
struct ReplayArgs {
    /// A position, a date (YYYY-MM-DD, the end of that day UTC) or an RFC 3339 time.
    #[arg(long)]
    as_of: String,
    /// Only this country (ISO 3166-1 alpha-2).
    #[arg(long)]
    country: Option<String>,
    #[command(flatten)]
    reporting: Reporting,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Debug, Args)]
struct DiffArgs {
    /// The position the comparison starts after.
    #[arg(long)]
    from: u64,
    /// The last position compared.
    #[arg(long)]
    to: u64,
    #[arg(long)]
    country: String,
    #[command(flatten)]
    reporting: Reporting,
    #[command(flatten)]
    source: SourceArgs,
}

/// Where the history is read from; a server by default.
#[derive(Debug, Clone, Args)]
#[group(multiple = false)]
pub struct SourceArgs {
    /// A fundtrail server (default: `FUNDTRAIL_SERVER`, else <http://127.0.0.1:50051>).
    #[arg(long)]
    server: Option<String>,
    /// An event store, read directly: `sqlite://path` or `postgres://…`.
    #[arg(long)]
    store: Option<String>,
    /// An export file written by `fundtrail audit export`.
    #[arg(long)]
    file: Option<PathBuf>,
    /// What a server is called with; without them, what the environment names
    /// (`FUNDTRAIL_TOKEN`, `FUNDTRAIL_TOKEN_FILE`, the staff profile).
    #[arg(skip)]
    credentials: Option<Credentials>,
}

#[derive(Debug, Clone, Args)]
pub struct ServerArg {
    /// The fundtrail server (default: `FUNDTRAIL_SERVER`, else <http://127.0.0.1:50051>).
    #[arg(long)]
    server: Option<String>,
}

impl ServerArg {
    /// The server named, or the default one.
    pub fn url(&self) -> String {
        server_url(self.server.as_ref())
    }
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// The file to write (replaced only once the export is complete).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    source: SourceArgs,
}

#[derive(Debug, Args)]
struct VerifyArgs {
    #[command(flatten)]
    source: SourceArgs,
    /// The fund's published checkpoint key (64 hex digits). Without it, checkpoints are only
    /// checked against the key the history itself declares.
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
}

#[derive(Debug, Args)]
struct ProveArgs {
    /// The position whose inclusion to prove.
    #[arg(long)]
    position: u64,
    /// The checkpoint to prove it against (default: the latest).
    #[arg(long, default_value_t = 0)]
    checkpoint: u64,
    /// The fund's published checkpoint key (64 hex digits).
    #[arg(long, value_name = "HEX")]
    public_key: Option<String>,
    #[command(flatten)]
    server: ServerArg,
}

fn server_url(given: Option<&String>) -> String {
    given
        .cloned()
        .or_else(|| std::env::var("FUNDTRAIL_SERVER").ok())
        .unwrap_or_else(|| fundtrail_client::DEFAULT_SERVER.to_owned())
}

impl SourceArgs {
    pub fn for_server(url: &str) -> Self {
        Self {
            server: Some(url.to_owned()),
            store: None,
            file: None,
            credentials: None,
        }
    }

    /// These arguments, calling a server with `credentials`.
    #[must_use]
    pub fn with_credentials(self, credentials: Credentials) -> Self {
        Self {
            credentials: Some(credentials),
            ..self
        }
    }

    pub fn for_store(url: &str) -> Self {
        Self {
            server: None,
            store: Some(url.to_owned()),
            file: None,
            credentials: None,
        }
    }

    pub fn for_file(path: &Path) -> Self {
        Self {
            server: None,
            store: None,
            file: Some(path.to_owned()),
            credentials: None,
        }
    }

    /// Opens the source and says what it is, without credentials.
    pub async fn open(&self) -> anyhow::Result<(Source, String)> {
        if let Some(path) = &self.file {
            return Ok((Source::file(path), format!("file {}", path.display())));
        }
        if let Some(url) = &self.store {
            let label = format!("store {}", fundtrail_telemetry::redact_url(url));
            let source = Source::store(url)
                .await
                .with_context(|| format!("opening {label}"))?;
            return Ok((source, label));
        }
        let url = server_url(self.server.as_ref());
        let session = match &self.credentials {
            Some(credentials) => Session::connect_with(&url, credentials.clone()).await?,
            None => Session::connect(&url).await?,
        };
        let source = Source::server(session.audit());
        Ok((source, format!("server {url}")))
    }
}

/// Runs one audit command; an error (tampering included) makes the process exit non-zero.
pub async fn run(command: AuditCommand) -> anyhow::Result<()> {
    let lines: Vec<String> = match command.command {
        AuditSubcommand::Export(args) => vec![export(&args.source, &args.out).await?],
        AuditSubcommand::Verify(args) => {
            let key = args
                .public_key
                .as_deref()
                .map(parse_public_key)
                .transpose()?;
            verify(&args.source, key).await?
        }
        AuditSubcommand::Checkpoint(args) => {
            let session = Session::connect(&server_url(args.server.as_ref())).await?;
            let cp = create_checkpoint(&session).await?;
            let mut lines = vec![describe_checkpoint(&cp)];
            // The tree checkpoint signed with it, as the note a verifier is given.
            if let Ok(tree) = session
                .audit()
                .get_tree_checkpoint(v1::GetTreeCheckpointRequest {
                    tree_size: cp.position,
                })
                .await
            {
                lines.push(format!(
                    "tree checkpoint (C2SP signed note):\n{}",
                    tree.into_inner().note.trim_end()
                ));
            }
            lines
        }
        AuditSubcommand::Include(args) => crate::tree::run_include(&args).await?,
        AuditSubcommand::Consistency(args) => crate::tree::run_consistency(&args).await?,
        AuditSubcommand::Receipts(args) => crate::tree::run_receipts(&args).await?,
        AuditSubcommand::Witness(args) => crate::tree::run_witness(&args).await?,
        AuditSubcommand::Checkpoints(args) => crate::tree::run_checkpoints(&args).await?,
        AuditSubcommand::RebuildTree(args) => crate::tree::run_rebuild(&args).await?,
        AuditSubcommand::Prove(args) => {
            let key = args
                .public_key
                .as_deref()
                .map(parse_public_key)
                .transpose()?;
            let session = Session::connect(&server_url(args.server.server.as_ref())).await?;
            vec![prove(&session, args.position, args.checkpoint, key).await?]
        }
        AuditSubcommand::Iati(args) => wrote(&iati(&args).await?),
        AuditSubcommand::Csv(args) => {
            let (source, _) = args.source.open().await?;
            let as_of = args.as_of.as_deref().map(AsOf::parse).transpose();
            let views = views::fold(
                source.events().await?,
                args.reporting.currency()?,
                as_of.map_err(anyhow::Error::msg)?,
            )
            .await?;
            wrote(&fundtrail_reports::csv::write(&views, &args.out)?)
        }
        AuditSubcommand::Replay(args) => {
            let (source, _) = args.source.open().await?;
            let as_of = AsOf::parse(&args.as_of).map_err(anyhow::Error::msg)?;
            let currency = args.reporting.currency()?;
            let views = views::fold(source.events().await?, currency, Some(as_of)).await?;
            let reports = match &args.country {
                Some(code) => vec![views.country.report(country(code)?)],
                None => views.country.reports(),
            };
            vec![serde_json::to_string_pretty(&reports)?]
        }
        AuditSubcommand::Diff(args) => {
            if args.to < args.from {
                bail!("--to {} is before --from {}", args.to, args.from);
            }
            let (source, _) = args.source.open().await?;
            let code = country(&args.country)?;
            let currency = args.reporting.currency()?;
            let events = source.events().await?;
            let (_, changes, _) = views::diff(events, currency, code, args.from, args.to).await?;
            views::describe_changes(&changes, currency)
        }
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        match writeln!(out, "{line}") {
            // A reader that went away (`| head`) is not a failure of the command.
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(()),
            written => written?,
        }
    }
    Ok(())
}

fn wrote(files: &[PathBuf]) -> Vec<String> {
    files
        .iter()
        .map(|f| format!("wrote {}", f.display()))
        .collect()
}

fn country(code: &str) -> anyhow::Result<fundtrail_domain::CountryCode> {
    fundtrail_domain::CountryCode::new(code.trim()).with_context(|| format!("country {code:?}"))
}

/// Writes the IATI files of a history into `args.out`.
pub async fn iati(args: &IatiArgs) -> anyhow::Result<Vec<PathBuf>> {
    let (source, _) = args.source.open().await?;
    let mut fund = fundtrail_reports::iati::Fund::default();
    let mut events = source.events().await?;
    while let Some(event) = futures::StreamExt::next(&mut events).await {
        fund.apply(&event?)?;
    }
    let publisher = fundtrail_reports::iati::Publisher {
        identifier: args.reporting_org.trim().to_owned(),
        name: args.reporting_org_name.trim().to_owned(),
        org_type: args.reporting_org_type.trim().to_owned(),
    };
    Ok(fundtrail_reports::iati::write(
        &fund,
        &publisher,
        &args.out,
        Utc::now().timestamp_micros(),
    )?)
}

impl IatiArgs {
    pub fn new(source: SourceArgs, out: &Path, reporting_org: &str) -> Self {
        Self {
            out: out.to_owned(),
            reporting_org: reporting_org.to_owned(),
            reporting_org_name: "fundtrail trust fund".to_owned(),
            reporting_org_type: "40".to_owned(),
            source,
        }
    }
}

/// Writes the export to `out` (through a temporary file beside it) and describes it.
pub async fn export(source: &SourceArgs, out: &Path) -> anyhow::Result<String> {
    let (source, label) = source.open().await?;
    let partial = out.with_extension("partial");
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let exported_at = Utc::now().to_rfc3339_opts(SecondsFormat::Micros, true);
    let result = audit::export(&source, std::io::BufWriter::new(file), &label, &exported_at).await;
    let (summary, writer) = match result {
        Ok(done) => done,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error).context("exporting");
        }
    };
    writer
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)
        .and_then(|file| file.sync_all())
        .with_context(|| format!("writing {}", partial.display()))?;
    std::fs::rename(&partial, out).with_context(|| format!("writing {}", out.display()))?;
    Ok(format!(
        "exported {} events (to position {}), {} checkpoints{} from {label} to {}",
        summary.events,
        summary.last_position,
        summary.checkpoints,
        summary
            .public_key
            .map(|k| format!(" and the public key {}", hex::encode(k)))
            .unwrap_or_default(),
        out.display()
    ))
}

/// Verifies a history; `Ok` holds the report for people, `Err` says what was found.
pub async fn verify(source: &SourceArgs, key: Option<[u8; 32]>) -> anyhow::Result<Vec<String>> {
    let (source, label) = source.open().await?;
    let verification = audit::verify(&source, key).await?;
    let mut lines = fundtrail_verifier::summary(&verification.report, verification.trust, &label);
    if verification.report.is_ok() {
        return Ok(lines);
    }
    let first = &verification.report.findings[0];
    lines.push(format!(
        "the history does not verify: {} problem(s), the first at position {}",
        verification.report.findings.len(),
        first.position
    ));
    bail!("{}", lines.join("\n"))
}

/// Signs the head of the history now, through the Audit API.
pub async fn create_checkpoint(session: &Session) -> anyhow::Result<SignedCheckpoint> {
    let cp = session
        .audit()
        .create_checkpoint(v1::CreateCheckpointRequest {})
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    Ok(SignedCheckpoint::try_from(cp)?)
}

fn describe_checkpoint(cp: &SignedCheckpoint) -> String {
    format!(
        "checkpoint at position {}\n  hash       {}\n  signature  {}\n  public key {}\n  signed at  {}",
        cp.position,
        hex::encode(cp.hash),
        hex::encode(cp.signature),
        hex::encode(cp.public_key),
        cp.signed_at
    )
}

/// Fetches an inclusion proof and checks it: that it verifies, and that it proves `position`
/// (against `checkpoint`, when one is named) rather than something else.
pub async fn prove(
    session: &Session,
    position: u64,
    checkpoint: u64,
    key: Option<[u8; 32]>,
) -> anyhow::Result<String> {
    let proof = session
        .audit()
        .prove_inclusion(v1::ProveInclusionRequest {
            position,
            checkpoint_position: checkpoint,
        })
        .await
        .map_err(|s| anyhow::anyhow!("{}: {}", s.code(), s.message()))?
        .into_inner();
    let proof = InclusionProof::try_from(proof)?;
    proof
        .verify(key)
        .with_context(|| format!("the proof of position {position} does not verify"))?;
    // A proof shows that its first envelope is in the signed history; any later position's
    // proof verifies as well, so what it proves must be checked to be what was asked.
    let Some(first) = proof.envelopes.first() else {
        bail!("the proof of position {position} holds no events");
    };
    if first.position != position {
        bail!(
            "the server answered with a proof of position {} instead of position {position}: \
             position {position} is not proven",
            first.position
        );
    }
    if checkpoint != 0 && proof.checkpoint.position != checkpoint {
        bail!(
            "the server proved position {position} against the checkpoint at position {} \
             instead of the one at {checkpoint}",
            proof.checkpoint.position
        );
    }
    Ok(format!(
        "position {position} ({} v{} {}) is included in the history signed at position {} \
         ({}), by {}{}",
        first.stream,
        first.version,
        first.event_type,
        proof.checkpoint.position,
        hex::encode(proof.checkpoint.hash),
        hex::encode(proof.checkpoint.public_key),
        if key.is_some() {
            ""
        } else {
            " (not compared with a published key: pass --public-key)"
        }
    ))
}
