//! A connection to fundtrail, acting as one principal, and what its refusals mean.
//!
//! One address serves everything: a server running every service, or the entry point in
//! front of the distributed shape (deploy/nginx). A servers file may name an address per
//! service instead (`servers`). A call that reaches a server not running its service is told
//! so, with the service and where it is served, rather than a bare UNIMPLEMENTED.

mod servers;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, anyhow};
use fundtrail_identity::{AuthorizedChannel, Credentials};
use fundtrail_proto::v1;
use fundtrail_proto::v1::attention_client::AttentionClient;
use fundtrail_proto::v1::audit_client::AuditClient;
use fundtrail_proto::v1::disbursements_client::DisbursementsClient;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_proto::v1::milestones_client::MilestonesClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

pub use servers::{Role, is_servers_file, role_of};

/// How long a connection attempt may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one unary call may take; the server stops working on it after that too.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A PEM file of the CA that issued an `https://` server's certificate, when the public roots
/// do not cover it.
pub const CA_ENV: &str = "FUNDTRAIL_CA";

/// Where one role's services are called.
#[derive(Debug, Clone)]
struct Route {
    url: String,
    channel: Channel,
}

/// Channels to fundtrail, presenting one principal's credentials on every call.
#[derive(Debug)]
pub struct Session {
    /// What the session was asked to connect to: a URL, or a servers file.
    address: String,
    /// By role, in the order of [`Role::ALL`]; all four the same with one address.
    routes: Arc<[Route; 4]>,
    credentials: Credentials,
    /// The service of the request this session made last, to name it when the server turns
    /// out not to serve it: the answer itself does not say which call it answers.
    last_service: Mutex<Option<&'static str>>,
}

impl Clone for Session {
    /// The same channels; the copy keeps its own record of the service it called last, so
    /// copies used side by side never name each other's.
    fn clone(&self) -> Self {
        Self {
            address: self.address.clone(),
            routes: Arc::clone(&self.routes),
            credentials: self.credentials.clone(),
            last_service: Mutex::new(None),
        }
    }
}

impl Session {
    /// Connects now with the credentials the environment names (`FUNDTRAIL_TOKEN`,
    /// `FUNDTRAIL_TOKEN_FILE`, or the staff profile `fundtrail dev` wrote), so an unreachable
    /// server is reported as such before anything else.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, crate::credentials::resolve(None, None)?).await
    }

    /// Connects, presenting `credentials` on every call. `server` is the address of a server
    /// (or of the entry point) for every service, connected now; or the path of a servers
    /// file (`….toml`) naming an address per service, each connected at its first call, so
    /// one server down does not stop the calls to the others.
    pub async fn connect_with(server: &str, credentials: Credentials) -> anyhow::Result<Self> {
        let server = server.trim();
        let routes = if servers::is_servers_file(server) {
            let addresses = servers::read(server)?;
            let mut routes: Vec<Route> = Vec::with_capacity(4);
            for address in addresses {
                let url = full_url(&address);
                // Services served at one address share its connection.
                let channel = match routes.iter().find(|route| route.url == url) {
                    Some(route) => route.channel.clone(),
                    None => endpoint(&address)?.connect_lazy(),
                };
                routes.push(Route { url, channel });
            }
            routes
                .try_into()
                .map_err(|_| anyhow!("a servers file names four services"))?
        } else {
            let url = full_url(server);
            let channel = endpoint(server)?.connect().await.map_err(|e| {
                anyhow!(
                    "cannot reach a fundtrail server at {url}: {}. Is one running? \
                     (`fundtrail dev` starts one; --server or FUNDTRAIL_SERVER choose another)",
                    error_chain(&e)
                )
            })?;
            let route = Route { url, channel };
            [route.clone(), route.clone(), route.clone(), route]
        };
        Ok(Self {
            address: if servers::is_servers_file(server) {
                server.to_owned()
            } else {
                full_url(server)
            },
            routes: Arc::new(routes),
            credentials,
            last_service: Mutex::new(None),
        })
    }

    /// The same connections, presenting `credentials` instead.
    #[must_use]
    pub fn acting_with(&self, credentials: Credentials) -> Self {
        Self {
            credentials,
            ..self.clone()
        }
    }

    /// The server's URL; with a servers file, the file's path.
    pub fn url(&self) -> &str {
        &self.address
    }

    /// The URL a role's services are called at.
    pub fn url_of(&self, role: Role) -> &str {
        &self.routes[role.index()].url
    }

    /// A unary request carrying the principal and a deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = self.streaming_request(message);
        request.set_timeout(CALL_TIMEOUT);
        request
    }

    /// A request without a deadline, for streams that may follow the history indefinitely.
    pub fn streaming_request<T>(&self, message: T) -> tonic::Request<T> {
        if let Some(service) = servers::service_of_request::<T>()
            && let Ok(mut last) = self.last_service.lock()
        {
            *last = Some(service);
        }
        tonic::Request::new(message)
    }

    fn channel(&self, role: Role) -> AuthorizedChannel {
        self.credentials
            .clone()
            .authorize(self.routes[role.index()].channel.clone())
    }

    pub fn pledges(&self) -> PledgesClient<AuthorizedChannel> {
        PledgesClient::new(self.channel(Role::Pledges))
    }

    pub fn milestones(&self) -> MilestonesClient<AuthorizedChannel> {
        MilestonesClient::new(self.channel(Role::Milestones))
    }

    pub fn disbursements(&self) -> DisbursementsClient<AuthorizedChannel> {
        DisbursementsClient::new(self.channel(Role::Disbursements))
    }

    pub fn audit(&self) -> AuditClient<AuthorizedChannel> {
        AuditClient::new(self.channel(Role::Projector))
    }

    pub fn attention(&self) -> AttentionClient<AuthorizedChannel> {
        AttentionClient::new(self.channel(Role::Projector))
    }

    pub fn funding(&self) -> FundingClient<AuthorizedChannel> {
        FundingClient::new(self.channel(Role::Projector))
    }

    /// The response of a call, or the error saying why there is none.
    pub fn answer<T>(
        &self,
        result: Result<tonic::Response<T>, Status>,
        request_id: Option<&str>,
    ) -> anyhow::Result<T> {
        result
            .map(tonic::Response::into_inner)
            .map_err(|status| self.error(status, request_id))
    }

    /// The error for a refused or failed call; `request_id` is the id of a state-changing
    /// request, named in the message when retrying it is the way out.
    pub fn error(&self, status: Status, request_id: Option<&str>) -> anyhow::Error {
        let service = self.last_service.lock().ok().and_then(|last| *last);
        let url = service.and_then(servers::role_of).map_or_else(
            || self.routes[0].url.clone(),
            |role| self.url_of(role).to_owned(),
        );
        let status = not_served(&status, service, &url).unwrap_or(status);
        CallError {
            status,
            request_id: request_id.map(str::to_owned),
            url,
        }
        .into()
    }
}

/// The status to show for a call that reached a server not running its service: tonic
/// answers such a call UNIMPLEMENTED with nothing else, while fundtrail's own UNIMPLEMENTED
/// refusals carry an `ErrorInfo`.
fn not_served(status: &Status, service: Option<&str>, url: &str) -> Option<Status> {
    if status.code() != Code::Unimplemented || !status.details().is_empty() {
        return None;
    }
    let mut message = match service.and_then(|s| Some((s, servers::role_of(s)?))) {
        Some((service, role)) => format!(
            "this server at {url} does not serve {service}: point --server at the entry point, \
             or at a server running `fundtrail serve {}`",
            role.name()
        ),
        None => format!(
            "this server at {url} does not serve this call's service: point --server at the \
             entry point, or at a server running that service"
        ),
    };
    let said = status.message().trim();
    if !said.is_empty() {
        message = format!("{message} (the server said: {said})");
    }
    Some(Status::with_metadata(
        Code::Unimplemented,
        message,
        status.metadata().clone(),
    ))
}

/// `server` with the scheme the transport needs: people type host:port.
fn full_url(server: &str) -> String {
    let server = server.trim();
    if server.contains("://") {
        server.to_owned()
    } else {
        format!("http://{server}")
    }
}

/// How to reach `server`: over TLS for `https://`.
fn endpoint(server: &str) -> anyhow::Result<Endpoint> {
    let full = full_url(server);
    let mut endpoint = Endpoint::from_shared(full.clone())
        .map_err(|_| anyhow!("server {server:?} is not a URL; use http://host:port"))?
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true);
    if full.starts_with("https://") {
        endpoint = endpoint
            .tls_config(tls(std::env::var(CA_ENV).ok().as_deref())?)
            .context("setting up TLS")?;
    }
    Ok(endpoint)
}

impl Session {
    /// A project as the milestones service knows it.
    pub(crate) async fn project(&self, project_id: &str) -> anyhow::Result<v1::ProjectView> {
        self.answer(
            self.milestones()
                .get_project(self.request(v1::GetProjectRequest {
                    project_id: project_id.to_owned(),
                }))
                .await,
            None,
        )
    }
}

/// A call the server refused or that did not complete.
#[derive(Debug)]
pub struct CallError {
    pub status: Status,
    pub request_id: Option<String>,
    pub url: String,
}

impl CallError {
    /// The machine-readable reason the server gave (`ErrorInfo.reason`), if any.
    pub fn reason(&self) -> Option<String> {
        self.status
            .get_error_details()
            .error_info()
            .map(|info| info.reason.clone())
    }

    /// Whether the outcome is unknown: the request may or may not have been recorded.
    fn outcome_unknown(&self) -> bool {
        matches!(
            self.status.code(),
            Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled | Code::Unknown
        )
    }
}

impl fmt::Display for CallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let code = code_name(self.status.code());
        let message = self.status.message().trim();
        if message.is_empty() {
            write!(f, "{code}")?;
        } else {
            write!(f, "{code}: {message}")?;
        }
        let details = self.status.get_error_details();
        if let Some(info) = details.error_info() {
            // INVALID_ARGUMENT repeats the code; the field violations below say more.
            if !info.reason.is_empty() && info.reason != code {
                write!(f, "\n  reason: {}", info.reason)?;
            }
            let mut metadata: Vec<_> = info.metadata.iter().collect();
            metadata.sort();
            for (key, value) in metadata {
                write!(f, "\n  {key}: {value}")?;
            }
        }
        if let Some(bad) = details.bad_request() {
            for violation in &bad.field_violations {
                write!(
                    f,
                    "\n  field {}: {}",
                    violation.field, violation.description
                )?;
            }
        }
        if self.status.code() == Code::Unavailable {
            write!(f, "\n  (is the server at {} running?)", self.url)?;
        }
        if let Some(id) = self
            .request_id
            .as_deref()
            .filter(|_| self.outcome_unknown())
        {
            write!(
                f,
                "\n  the request may or may not have been recorded: send it again with \
                 --request-id {id} to retry safely"
            )?;
        }
        Ok(())
    }
}

impl std::error::Error for CallError {}

/// The canonical gRPC name of a status code, as the protocol and grpcurl spell it.
pub fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// TLS towards an `https://` server: its certificate checked against `ca` (a PEM file) when
/// given, else against the public roots.
fn tls(ca: Option<&str>) -> anyhow::Result<ClientTlsConfig> {
    let config = ClientTlsConfig::new();
    match ca.map(str::trim).filter(|path| !path.is_empty()) {
        Some(path) => {
            let pem = std::fs::read(path)
                .with_context(|| format!("reading the server CA {path} ({CA_ENV})"))?;
            Ok(config.ca_certificate(Certificate::from_pem(pem)))
        }
        None => Ok(config.with_webpki_roots()),
    }
}

/// An error and its causes on one line: transport errors hide the useful part in a source.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    fn shown(status: Status, request_id: Option<&str>) -> String {
        CallError {
            status,
            request_id: request_id.map(str::to_owned),
            url: "http://127.0.0.1:1".into(),
        }
        .to_string()
    }

    #[test]
    fn refusals_show_code_reason_metadata_and_fields() {
        let mut details = ErrorDetails::with_error_info(
            "WRONG_EXPECTED_VERSION",
            "fundtrail.org",
            HashMap::from([("actual_version".to_owned(), "3".to_owned())]),
        );
        details.add_bad_request_violation("amount", "must be positive");
        let status = Status::with_error_details(Code::Aborted, "stream moved on", details);
        let text = shown(status, Some("r-1"));
        assert!(text.starts_with("ABORTED: stream moved on"), "{text}");
        assert!(text.contains("reason: WRONG_EXPECTED_VERSION"), "{text}");
        assert!(text.contains("actual_version: 3"), "{text}");
        assert!(text.contains("field amount: must be positive"), "{text}");
        assert!(!text.contains("--request-id"), "{text}");
    }

    #[test]
    fn unknown_outcomes_name_the_request_id_to_retry_with() {
        let text = shown(Status::unavailable("store down"), Some("r-7"));
        assert!(text.contains("UNAVAILABLE: store down"), "{text}");
        assert!(text.contains("--request-id r-7"), "{text}");
        let read = shown(Status::deadline_exceeded("slow"), None);
        assert!(!read.contains("--request-id"), "{read}");
    }

    #[test]
    fn a_bare_unimplemented_names_the_service_and_where_it_is_served() {
        let shown = not_served(
            &Status::unimplemented(""),
            Some("fundtrail.v1.Milestones"),
            "http://127.0.0.1:7",
        )
        .unwrap();
        assert_eq!(shown.code(), Code::Unimplemented);
        assert_eq!(
            shown.message(),
            "this server at http://127.0.0.1:7 does not serve fundtrail.v1.Milestones: point \
             --server at the entry point, or at a server running `fundtrail serve milestones`"
        );
        let funding = not_served(
            &Status::unimplemented("no route"),
            Some("fundtrail.v1.Funding"),
            "http://e:1",
        )
        .unwrap();
        assert!(
            funding.message().contains("`fundtrail serve projector`")
                && funding.message().ends_with("(the server said: no route)"),
            "{}",
            funding.message()
        );
        let unknown = not_served(&Status::unimplemented(""), None, "http://e:1").unwrap();
        assert!(
            unknown
                .message()
                .contains("does not serve this call's service")
        );
    }

    #[test]
    fn fundtrail_refusals_and_other_codes_are_shown_as_they_are() {
        let refusal = Status::with_error_details(
            Code::Unimplemented,
            "no checkpoints",
            ErrorDetails::with_error_info(
                "CHECKPOINTS_NOT_CONFIGURED",
                "fundtrail.org",
                HashMap::new(),
            ),
        );
        assert!(not_served(&refusal, Some("fundtrail.v1.Audit"), "http://e:1").is_none());
        let denied = Status::permission_denied("");
        assert!(not_served(&denied, Some("fundtrail.v1.Audit"), "http://e:1").is_none());
    }

    #[tokio::test]
    async fn a_session_names_the_service_of_its_last_request_and_its_address() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("servers.toml");
        std::fs::write(
            &file,
            "default = \"http://127.0.0.1:9\"\nmilestones = \"127.0.0.1:8\"\n",
        )
        .unwrap();
        // Each address is connected at its first call: nothing listens on these.
        let session = Session::connect_with(file.to_str().unwrap(), Credentials::none())
            .await
            .unwrap();
        assert_eq!(session.url_of(Role::Milestones), "http://127.0.0.1:8");
        assert_eq!(session.url_of(Role::Projector), "http://127.0.0.1:9");
        let _ = session.request(v1::ListProjectsRequest::default());
        let text = session.error(Status::unimplemented(""), None).to_string();
        assert!(
            text.starts_with(
                "UNIMPLEMENTED: this server at http://127.0.0.1:8 does not serve \
                 fundtrail.v1.Milestones"
            ),
            "{text}"
        );
        let _ = session.streaming_request(v1::StreamEventsRequest::default());
        let text = session
            .error(Status::unavailable("down"), Some("r-1"))
            .to_string();
        assert!(
            text.contains("is the server at http://127.0.0.1:9 running?"),
            "{text}"
        );
        // A copy has made no request yet.
        let copy = session.clone();
        let text = copy.error(Status::unimplemented(""), None).to_string();
        assert!(text.contains("this call's service"), "{text}");
    }

    #[tokio::test]
    async fn a_missing_servers_file_is_named() {
        let error = Session::connect_with("/nonexistent/servers.toml", Credentials::none())
            .await
            .unwrap_err();
        assert!(
            format!("{error:#}").contains("reading the servers file /nonexistent/servers.toml"),
            "{error:#}"
        );
    }
}
