//! A connection to a fundtrail server, acting as one principal, and what its refusals mean.

use std::fmt;
use std::time::Duration;

use anyhow::{Context, anyhow};
use fundtrail_identity::{AuthorizedChannel, Credentials};
use fundtrail_proto::v1;
use fundtrail_proto::v1::audit_client::AuditClient;
use fundtrail_proto::v1::disbursements_client::DisbursementsClient;
use fundtrail_proto::v1::milestones_client::MilestonesClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};
use tonic::{Code, Status};
use tonic_types::StatusExt;

/// How long a connection attempt may take before the server counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one unary call may take; the server stops working on it after that too.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// A PEM file of the CA that issued an `https://` server's certificate, when the public roots
/// do not cover it.
pub const CA_ENV: &str = "FUNDTRAIL_CA";

/// A channel to one server, presenting one principal's credentials on every call.
#[derive(Debug, Clone)]
pub struct Session {
    url: String,
    connection: Channel,
    channel: AuthorizedChannel,
}

impl Session {
    /// Connects now with the credentials the environment names (`FUNDTRAIL_TOKEN`,
    /// `FUNDTRAIL_TOKEN_FILE`, or the staff profile `fundtrail dev` wrote), so an unreachable
    /// server is reported as such before anything else.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_with(url, crate::credentials::resolve(None, None)?).await
    }

    /// Connects now, presenting `credentials` on every call.
    pub async fn connect_with(url: &str, credentials: Credentials) -> anyhow::Result<Self> {
        let url = url.trim();
        // People type host:port; the transport needs a scheme.
        let full = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        let mut endpoint = Endpoint::from_shared(full.clone())
            .map_err(|_| anyhow!("server {url:?} is not a URL; use http://host:port"))?
            .connect_timeout(CONNECT_TIMEOUT)
            .tcp_nodelay(true);
        if full.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tls(std::env::var(CA_ENV).ok().as_deref())?)
                .context("setting up TLS")?;
        }
        let channel = endpoint.connect().await.map_err(|e| {
            anyhow!(
                "cannot reach a fundtrail server at {full}: {}. Is one running? \
                 (`fundtrail dev` starts one; --server or FUNDTRAIL_SERVER choose another)",
                error_chain(&e)
            )
        })?;
        Ok(Self {
            url: full,
            channel: credentials.authorize(channel.clone()),
            connection: channel,
        })
    }

    /// The same connection, presenting `credentials` instead.
    #[must_use]
    pub fn acting_with(&self, credentials: Credentials) -> Self {
        Self {
            url: self.url.clone(),
            channel: credentials.authorize(self.connection.clone()),
            connection: self.connection.clone(),
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// A unary request carrying the principal and a deadline.
    pub fn request<T>(&self, message: T) -> tonic::Request<T> {
        let mut request = self.streaming_request(message);
        request.set_timeout(CALL_TIMEOUT);
        request
    }

    /// A request without a deadline, for streams that may follow the history indefinitely.
    pub fn streaming_request<T>(&self, message: T) -> tonic::Request<T> {
        tonic::Request::new(message)
    }

    pub fn pledges(&self) -> PledgesClient<AuthorizedChannel> {
        PledgesClient::new(self.channel.clone())
    }

    pub fn milestones(&self) -> MilestonesClient<AuthorizedChannel> {
        MilestonesClient::new(self.channel.clone())
    }

    pub fn disbursements(&self) -> DisbursementsClient<AuthorizedChannel> {
        DisbursementsClient::new(self.channel.clone())
    }

    pub fn audit(&self) -> AuditClient<AuthorizedChannel> {
        AuditClient::new(self.channel.clone())
    }

    pub fn funding(&self) -> fundtrail_proto::v1::funding_client::FundingClient<AuthorizedChannel> {
        fundtrail_proto::v1::funding_client::FundingClient::new(self.channel.clone())
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
        CallError {
            status,
            request_id: request_id.map(str::to_owned),
            url: self.url.clone(),
        }
        .into()
    }
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
}
