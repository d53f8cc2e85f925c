//! Starting fundtrail servers: any set of services in one process, on one port. This is the
//! composition root: the binary and the end-to-end tests start exactly what is started here.

pub mod config;
pub mod dev;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use fundtrail_disbursements::{CreditReaction, DisbursementsService, TrancheReaction};
use fundtrail_domain::Currency;
use fundtrail_identity::{AuthConfig, AuthLayer, Authenticator, DEV_AUDIENCE, DEV_ISSUER, Issuer};
use fundtrail_milestones::MilestonesService;
use fundtrail_pledges::{MatchingReaction, PledgesService, ReleaseReaction};
use fundtrail_projector::{AttentionService, AuditService};
use fundtrail_service::Ledger;
use fundtrail_service::reaction::{self, Reaction};
use fundtrail_store::{EventStore, StoreOptions};
use fundtrail_telemetry::redact_url;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// Which services a server runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(clippy::struct_excessive_bools, reason = "one switch per service")]
pub struct Roles {
    pub pledges: bool,
    pub milestones: bool,
    pub disbursements: bool,
    /// The read side: the projector, and the Funding and Audit APIs.
    pub projector: bool,
}

impl Roles {
    pub const ALL: Roles = Roles {
        pledges: true,
        milestones: true,
        disbursements: true,
        projector: true,
    };
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub listen: SocketAddr,
    /// Where the web view listens, on a port of its own; `None` for no web view. Served with
    /// the projector role only, since it shows the projector's views.
    pub web_listen: Option<SocketAddr>,
    pub store_url: String,
    /// The event log: `embedded`, `kafka://host:port` or `nats://host:port`.
    pub log_url: String,
    pub reporting_currency: Currency,
    pub roles: Roles,
    pub store_options: StoreOptions,
    /// The most bytes of events the projector holds for one transaction.
    pub projector_batch_bytes: usize,
    /// The checkpoint signing key and how often the projector signs.
    pub audit: fundtrail_audit::AuditSettings,
    /// Whom the server trusts; a server without it refuses to start.
    pub auth: Option<AuthConfig>,
    /// The server's certificate and key; without them it speaks plaintext.
    pub tls: Option<TlsFiles>,
    /// The issuer `auth` trusts, when this process holds its key (development and tests), to
    /// sign tokens for callers with.
    pub issuer: Option<Arc<Issuer>>,
}

/// The PEM files a TLS server presents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl ServerSettings {
    /// Every service on `store_url`, on the embedded log, reporting in USD, without a
    /// checkpoint signing key, trusting a fresh issuer of its own (see
    /// [`ServerSettings::issuer`]).
    pub fn new(listen: SocketAddr, store_url: impl Into<String>) -> Self {
        // Randomness for a key is the operating system's to give; there is no server without.
        let issuer = Issuer::generate().expect("the operating system provides randomness");
        Self {
            listen,
            web_listen: None,
            store_url: store_url.into(),
            log_url: "embedded".to_owned(),
            reporting_currency: Currency::USD,
            roles: Roles::ALL,
            store_options: StoreOptions::default(),
            projector_batch_bytes: fundtrail_projector::DEFAULT_BATCH_BYTES,
            audit: fundtrail_audit::AuditSettings::default(),
            auth: None,
            tls: None,
            issuer: None,
        }
        .trusting(Arc::new(issuer))
    }

    /// These settings, trusting `issuer`'s tokens (for the development issuer and audience)
    /// and holding it to sign more.
    #[must_use]
    pub fn trusting(self, issuer: Arc<Issuer>) -> Self {
        Self {
            auth: Some(issuer.config(DEV_ISSUER, DEV_AUDIENCE)),
            issuer: Some(issuer),
            ..self
        }
    }
}

/// A server running in this process.
#[derive(Debug)]
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where the web view listens, when it runs.
    pub web_addr: Option<SocketAddr>,
    pub store: Arc<dyn EventStore>,
    /// The issuer the server trusts, when its settings held one.
    pub issuer: Option<Arc<Issuer>>,
    tls: bool,
    shutdown: CancellationToken,
    server: JoinHandle<Result<(), tonic::transport::Error>>,
    reactions: Vec<JoinHandle<()>>,
}

impl RunningServer {
    /// The token whose cancellation stops the server gracefully.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// `http://addr` (`https://` under TLS), for clients.
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// `http://addr` of the web view, when it runs.
    pub fn web_url(&self) -> Option<String> {
        self.web_addr.map(|addr| format!("http://{addr}"))
    }

    /// Stops accepting requests, lets in-flight ones finish, stops the reactions (which save
    /// their checkpoints) and waits for all of it.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.wait().await
    }

    /// Waits until the server stops (after its shutdown token is cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        let served = self.server.await.context("server task failed")?;
        self.shutdown.cancel();
        for task in self.reactions {
            task.await.context("reaction task failed")?;
        }
        served.context("gRPC server failed")
    }
}

/// Opens the store, binds the address and starts the services and their process managers.
pub async fn start(settings: ServerSettings) -> anyhow::Result<RunningServer> {
    let auth = settings.auth.clone().context(
        "no authentication is configured: set auth_jwks (a JWKS file or URL) and auth_issuer \
         (FUNDTRAIL_AUTH_JWKS, FUNDTRAIL_AUTH_ISSUER) for bearer tokens, or tls_client_ca for \
         client certificates; `fundtrail dev` makes its own",
    )?;
    let authenticator = Arc::new(
        Authenticator::new(auth)
            .await
            .context("setting up authentication")?,
    );
    let tls = settings
        .tls
        .as_ref()
        .map(|files| tls_config(files, &authenticator))
        .transpose()?;
    if tls.is_none() && authenticator.client_ca_pem().is_some() {
        anyhow::bail!("client certificates need TLS: configure tls_cert and tls_key");
    }
    // Opened with its checkpoint table, which lives in the store's own database.
    let opened =
        fundtrail_audit::storage::open(&settings.store_url, settings.store_options.clone())
            .await
            .with_context(|| {
                format!(
                    "opening the event store {}",
                    redact_url(&settings.store_url)
                )
            })?;
    let store = opened.events.clone();
    let log = fundtrail_log::open_source(&settings.log_url, store.clone())
        .with_context(|| format!("log {}", redact_url(&settings.log_url)))?;
    let embedded = settings.log_url == "embedded";
    let listener = TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("binding {}", settings.listen))?;
    let addr = listener.local_addr()?;
    // Bound before anything starts, so a port in use fails the start-up rather than a task.
    let web_listener = match settings.web_listen.filter(|_| settings.roles.projector) {
        Some(web) => Some(
            TcpListener::bind(web)
                .await
                .with_context(|| format!("binding the web view to {web}"))?,
        ),
        None => None,
    };
    let web_addr = web_listener
        .as_ref()
        .map(TcpListener::local_addr)
        .transpose()?;
    let shutdown = CancellationToken::new();
    let roles = settings.roles;
    let currency = settings.reporting_currency;
    let ledger = |source| Ledger::new(store.clone(), source, currency);

    let (health, health_service) = tonic_health::server::health_reporter();
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(fundtrail_proto::FILE_DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
    };
    // Both versions of reflection: grpcurl speaks v1, many other tools still only v1alpha.
    let reflection_v1alpha = reflection()
        .build_v1alpha()
        .context("building gRPC reflection (v1alpha)")?;
    let reflection = reflection()
        .build_v1()
        .context("building gRPC reflection")?;

    let mut reactions: Vec<Arc<dyn Reaction>> = Vec::new();
    let pledges = roles.pledges.then(|| {
        let ledger = ledger("pledges");
        reactions.push(Arc::new(MatchingReaction::new(ledger.clone())));
        reactions.push(Arc::new(ReleaseReaction::new(ledger.clone())));
        PledgesService::new(ledger).into_server()
    });
    let milestones = roles
        .milestones
        .then(|| MilestonesService::new(ledger("milestones")).into_server());
    let disbursements = roles.disbursements.then(|| {
        let ledger = ledger("disbursements");
        reactions.push(Arc::new(CreditReaction::new(ledger.clone())));
        reactions.push(Arc::new(TrancheReaction::new(ledger.clone())));
        DisbursementsService::new(ledger).into_server()
    });
    // The "needs attention" queue of every consumer on the store, next to the Audit API.
    let attention = roles
        .projector
        .then(|| AttentionService::new(store.clone()).into_server());
    let audit = roles.projector.then(|| {
        AuditService::new(store.clone())
            .with_checkpoints(opened.checkpoints.clone(), settings.audit.signer.clone())
            .into_server()
    });
    let read_side = roles.projector.then(|| {
        let db = fundtrail_projector::serve::view_db(opened.store.database());
        let options = fundtrail_projector::ProjectorOptions {
            batch_bytes: settings.projector_batch_bytes,
            ..fundtrail_projector::ProjectorOptions::default()
        };
        // The views need every event in order, so on a broker the projector reads every
        // partition under a consumer name of its own rather than sharing a group.
        fundtrail_projector::serve::start(
            currency,
            db,
            store.clone(),
            log.clone(),
            options,
            shutdown.clone(),
        )
    });

    if pledges.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::pledges_server::PledgesServer<PledgesService>>()
            .await;
    }
    if milestones.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::milestones_server::MilestonesServer<MilestonesService>>()
            .await;
    }
    if disbursements.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::disbursements_server::DisbursementsServer<DisbursementsService>>()
            .await;
    }
    if attention.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::attention_server::AttentionServer<AttentionService>>()
            .await;
    }
    if audit.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::audit_server::AuditServer<AuditService>>()
            .await;
    }
    if read_side.is_some() {
        health
            .set_serving::<fundtrail_proto::v1::funding_server::FundingServer<fundtrail_projector::FundingService>>()
            .await;
    }

    let mut reactions: Vec<JoinHandle<()>> = reactions
        .into_iter()
        .map(|r| {
            tokio::spawn(reaction::run(
                r,
                store.clone(),
                log.clone(),
                shutdown.clone(),
            ))
        })
        .collect();
    if !embedded {
        // Every server runs a relay; the lease lets one publish at a time, and another takes
        // over when that one stops.
        let url = settings.log_url.clone();
        let relayed = opened.store.clone();
        let stop = shutdown.clone();
        reactions.push(tokio::spawn(async move {
            if let Err(error) = fundtrail_log::relay(&url, relayed, stop).await {
                tracing::error!(%error, "the relay cannot run");
            }
        }));
        // The signed checkpoints follow the events onto the log, on their own topic or
        // stream, so that whoever keeps the log keeps them too.
        let feed = Arc::new(StoredCheckpoints(opened.checkpoints.clone()));
        match fundtrail_log::CheckpointRelay::new(&settings.log_url, opened.store.clone(), feed) {
            Ok(relay) => reactions.push(tokio::spawn(relay.run(shutdown.clone()))),
            Err(error) => tracing::error!(%error, "the checkpoint relay cannot run"),
        }
    }
    if let (Some(listener), Some(side)) = (web_listener, read_side.as_ref()) {
        let web = fundtrail_web::Web::new(side.shared.clone(), authenticator.clone());
        reactions.push(tokio::spawn(fundtrail_web::serve(
            listener,
            web,
            shutdown.clone(),
        )));
    }
    let funding = read_side.map(|side| {
        reactions.push(side.task);
        // One server reports the queue's size for every consumer: the table is shared.
        reactions.push(tokio::spawn(fundtrail_service::attention::watch_items(
            store.clone(),
            fundtrail_service::attention::COUNT_INTERVAL,
            shutdown.clone(),
        )));
        side.funding
    });
    // An in-memory store has one connection for everything, and the follower's writes
    // beside the events stall the commands behind it there; such a store is thrown away
    // with its process, so it goes without a tree.
    let in_memory = settings.store_url.contains(":memory:");
    if roles.projector && !in_memory {
        // Keeps the Merkle tree over the history up to date, outside the append transaction.
        reactions.push(tokio::spawn(fundtrail_audit::follower::run(
            store.clone(),
            opened.checkpoints.clone(),
            shutdown.clone(),
        )));
    }
    if roles.projector
        && let Some(signer) = settings.audit.signer.clone()
    {
        reactions.push(tokio::spawn(fundtrail_audit::signer::run_periodic(
            store.clone(),
            opened.checkpoints.clone(),
            signer,
            settings.audit.checkpoint_interval,
            shutdown.clone(),
        )));
    }

    let signal = shutdown.clone();
    let tls_enabled = tls.is_some();
    let mut builder = tonic::transport::Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).context("setting up TLS")?;
    }
    let router = builder
        .layer(fundtrail_telemetry::grpc::ServerLayer)
        .layer(AuthLayer::new(authenticator))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_v1alpha)
        .add_optional_service(pledges)
        .add_optional_service(milestones)
        .add_optional_service(disbursements)
        .add_optional_service(audit)
        .add_optional_service(attention)
        .add_optional_service(funding);
    let server = tokio::spawn(router.serve_with_incoming_shutdown(
        incoming(listener),
        async move {
            signal.cancelled().await;
        },
    ));
    tracing::info!(%addr, ?web_addr, ?roles, tls = tls_enabled, "fundtrail listening");
    Ok(RunningServer {
        addr,
        web_addr,
        store,
        issuer: settings.issuer.clone(),
        tls: tls_enabled,
        shutdown,
        server,
        reactions,
    })
}

/// The server's TLS: its certificate, and the client CAs when callers may authenticate with
/// certificates. A client certificate is optional, since bearer tokens authenticate too.
fn tls_config(files: &TlsFiles, authenticator: &Authenticator) -> anyhow::Result<ServerTlsConfig> {
    let read =
        |path: &PathBuf| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let mut config =
        ServerTlsConfig::new().identity(Identity::from_pem(read(&files.cert)?, read(&files.key)?));
    if let Some(ca) = authenticator.client_ca_pem() {
        config = config
            .client_ca_root(Certificate::from_pem(ca))
            .client_auth_optional(true);
    }
    Ok(config)
}

/// The connections a listener accepts, with `TCP_NODELAY` set on each: without it a response's
/// trailers wait for the client's delayed ACK, and every call takes about 40 ms more.
pub fn incoming(listener: TcpListener) -> TcpIncoming {
    TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// Resolves when the process receives SIGINT or SIGTERM.
pub async fn termination() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(
            tokio::signal::unix::SignalKind::terminate(),
        ) {
            Ok(signal) => signal,
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}

/// The checkpoints kept beside the events, as the log's checkpoint relay reads them.
struct StoredCheckpoints(fundtrail_audit::CheckpointStore);

#[async_trait::async_trait]
impl fundtrail_log::CheckpointFeed for StoredCheckpoints {
    async fn after(
        &self,
        size: u64,
        limit: usize,
    ) -> Result<Vec<fundtrail_log::StoredNote>, String> {
        let stored = self
            .0
            .tree_checkpoints_after(size, limit)
            .await
            .map_err(|error| error.to_string())?;
        Ok(stored
            .into_iter()
            .map(|cp| fundtrail_log::StoredNote {
                tree_size: cp.tree_size,
                note: cp.note,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::incoming;
    use tokio_stream::StreamExt;

    #[tokio::test]
    async fn accepted_connections_do_not_wait_for_delayed_acks() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut accepted = incoming(listener);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        assert!(
            !client.nodelay().unwrap(),
            "a plain socket starts without TCP_NODELAY"
        );
        let served = accepted.next().await.unwrap().unwrap();
        assert!(served.nodelay().unwrap());
    }
}
