//! `fundtrail`: the ledger's one binary.
//!
//! `fundtrail dev` runs everything in one process on an embedded SQLite file;
//! `fundtrail serve <service>` runs one service for the distributed shape; `fundtrail bench`
//! loads a running one; the other commands are a client for people without grpcurl.
// Doc comments here are clap's help text, read in a terminal rather than as rustdoc.
#![allow(clippy::doc_markdown)]

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Parser, Subcommand, ValueEnum};
use fundtrail_client::DEFAULT_SERVER;
use fundtrail_operator::audit as audit_cli;
use fundtrail_server::config::Config;
use fundtrail_server::{self as server, Roles};

#[derive(Debug, Parser)]
#[command(
    name = "fundtrail",
    version,
    about = "An event-sourced donor funding ledger for humanitarian trust funds"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every service, the process managers and the views in one process, on an embedded
    /// store: the quickest way to see fundtrail work.
    Dev(DevArgs),
    /// Run one service (or all) for the distributed shape.
    Serve(ServeArgs),
    /// Load the demonstration data set into a running server through its API.
    Demo(DemoArgs),
    /// For auditors: export and verify the history, inclusion proofs, IATI and CSV reports.
    Audit(audit_cli::AuditCommand),
    /// The funding views kept by the projector.
    #[command(subcommand)]
    Projections(ProjectionsCommand),
    /// Load a running server through its API with a realistic mix of commands and queries
    /// from many clients, and report throughput, latency, errors and how far the views lag.
    Bench(fundtrail_bench::BenchArgs),
    #[command(flatten)]
    Client(fundtrail_client::Command),
}

#[derive(Debug, Subcommand)]
enum ProjectionsCommand {
    /// Replay the history from position 1 into fresh tables and swap them in; a running
    /// projector keeps serving the old ones meanwhile, then picks the new ones up.
    Rebuild(RebuildArgs),
}

#[derive(Debug, Args)]
struct RebuildArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Only this view (repeatable): `country_funding`, `donor_statements` or `fund_overview`.
    #[arg(long)]
    view: Vec<fundtrail_projector::ViewName>,
}

#[derive(Debug, Args)]
struct ServerArgs {
    /// A TOML configuration file (also FUNDTRAIL_CONFIG).
    #[arg(long, env = "FUNDTRAIL_CONFIG")]
    config: Option<PathBuf>,
    /// Where to listen, host:port (overrides the configuration).
    #[arg(long)]
    listen: Option<String>,
    /// The event store: sqlite://path, sqlite::memory: or postgres://… (overrides the
    /// configuration).
    #[arg(long)]
    store: Option<String>,
}

#[derive(Debug, Args)]
struct DevArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Load the demonstration data set once the server is up.
    #[arg(long)]
    demo: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Service {
    Pledges,
    Milestones,
    Disbursements,
    Projector,
    All,
}

/// The `service.name` of the all-in-one server.
const ALL_IN_ONE: &str = "fundtrail-dev";

impl Service {
    /// The `service.name` its traces and metrics carry (`OTEL_SERVICE_NAME` overrides it).
    fn telemetry_name(self) -> &'static str {
        match self {
            Self::Pledges => "fundtrail-pledges",
            Self::Milestones => "fundtrail-milestones",
            Self::Disbursements => "fundtrail-disbursements",
            Self::Projector => "fundtrail-projector",
            Self::All => ALL_IN_ONE,
        }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// Which service to run.
    service: Service,
    #[command(flatten)]
    server: ServerArgs,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// The server to load the data into.
    #[arg(
        long,
        env = "FUNDTRAIL_SERVER",
        default_value = DEFAULT_SERVER
    )]
    server: String,
}

fn config(args: &ServerArgs) -> anyhow::Result<Config> {
    let mut config = Config::load(args.config.as_deref())?;
    if let Some(listen) = &args.listen {
        config.listen.clone_from(listen);
    }
    if let Some(store) = &args.store {
        config.store.clone_from(store);
    }
    config.validate()?;
    Ok(config)
}

async fn dev(args: DevArgs) -> anyhow::Result<()> {
    let mut config = config(&args.server)?;
    config.use_dev_audit_key()?;
    let issuer = config.use_dev_identity()?;
    config.use_dev_web();
    let telemetry = fundtrail_telemetry::init(ALL_IN_ONE, config.log_format()?, "info")?;
    let running = server::start(config.settings(Roles::ALL)?).await?;
    let url = running.url();
    println!("fundtrail dev is running at {url}");
    if let Some(web) = running.web_url() {
        println!(
            "  web view: {web} (sign in with a token from {})",
            server::dev::TOKENS
        );
    }
    println!(
        "  store: {}",
        fundtrail_telemetry::redact_url(&config.store)
    );
    match &issuer {
        Some(issuer) => {
            let written = server::dev::write_tokens(issuer, Path::new(server::dev::TOKENS))?;
            println!("  tokens, one per profile (fundtrail … --profile NAME):");
            for (profile, path) in &written {
                println!("    {profile:<9} {}", path.display());
            }
        }
        None => println!("  tokens: from the identity provider of auth_jwks"),
    }
    if args.demo {
        let issuer = issuer.as_ref().context(
            "--demo signs its people's tokens with the development issuer: leave auth_jwks unset",
        )?;
        let summary = fundtrail_demo::load(&url, issuer)
            .await
            .context("loading the demo data")?;
        println!("  demo data loaded: {summary}");
        // An auditor's first look should find the history already under a signature.
        let staff = fundtrail_client::credentials::resolve(None, Some("staff"))?;
        let session = fundtrail_client::Session::connect_with(&url, staff).await?;
        let signed = audit_cli::create_checkpoint(&session)
            .await
            .context("signing a checkpoint")?;
        println!("  signed checkpoint at position {}", signed.position);
    }
    println!();
    println!("Try, in another terminal:");
    if url != DEFAULT_SERVER {
        println!("  export FUNDTRAIL_SERVER={url}");
    }
    println!("  fundtrail funding countries");
    println!("  fundtrail donor list");
    println!("  fundtrail project list");
    println!("  fundtrail events tail --follow");
    println!("  fundtrail audit verify");
    println!("  fundtrail attention list");
    println!("  grpcurl -plaintext {} list", running.addr);
    println!();
    println!("Stop with Ctrl-C.");
    let token = running.shutdown_token();
    tokio::spawn(async move {
        server::termination().await;
        tracing::info!("shutting down: finishing requests in flight");
        token.cancel();
    });
    let stopped = running.wait().await;
    telemetry.shutdown().await;
    stopped
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let config = config(&args.server)?;
    let telemetry =
        fundtrail_telemetry::init(args.service.telemetry_name(), config.log_format()?, "info")?;
    let roles = match args.service {
        Service::Pledges => Roles {
            pledges: true,
            ..Roles::default()
        },
        Service::Milestones => Roles {
            milestones: true,
            ..Roles::default()
        },
        Service::Disbursements => Roles {
            disbursements: true,
            ..Roles::default()
        },
        Service::Projector => Roles {
            projector: true,
            ..Roles::default()
        },
        Service::All => Roles::ALL,
    };
    let running = server::start(config.settings(roles)?).await?;
    println!(
        "fundtrail {:?} is running at {}",
        args.service,
        running.url()
    );
    if let Some(web) = running.web_url() {
        println!("  web view: {web}");
    }
    let token = running.shutdown_token();
    tokio::spawn(async move {
        server::termination().await;
        tracing::info!("shutting down: finishing requests in flight");
        token.cancel();
    });
    let stopped = running.wait().await;
    telemetry.shutdown().await;
    stopped
}

/// Loads the demo into a server that trusts the development issuer of this folder.
async fn demo(args: &DemoArgs) -> anyhow::Result<()> {
    if !Path::new(server::dev::FOLDER).join("identity.key").exists() {
        anyhow::bail!(
            "the demo signs its people's tokens with the development issuer in {}: run \
             `fundtrail dev` in this folder first",
            server::dev::FOLDER
        );
    }
    let summary = fundtrail_demo::load(&args.server, &server::dev::issuer()?).await?;
    println!("demo data loaded: {summary}");
    Ok(())
}

async fn rebuild(args: RebuildArgs) -> anyhow::Result<()> {
    for line in fundtrail_operator::rebuild::rebuild(&config(&args.server)?, &args.view).await? {
        println!("{line}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Dev(args) => dev(args).await,
        Command::Serve(args) => serve(args).await,
        Command::Demo(args) => demo(&args).await,
        Command::Audit(command) => audit_cli::run(command).await,
        Command::Projections(ProjectionsCommand::Rebuild(args)) => rebuild(args).await,
        Command::Bench(args) => fundtrail_bench::run_cli(args).await,
        Command::Client(command) => fundtrail_client::run(command).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
