//! Helpers for the end-to-end tests in `tests/tests`: they start real fundtrail servers on
//! 127.0.0.1:0, on PostgreSQL and on SQLite, and drive them through gRPC clients.

pub mod story;

use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use anyhow::Context;
use fundtrail_identity::{
    AuthorizedChannel, Credentials, DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role,
};
use fundtrail_proto::v1;
use fundtrail_proto::v1::audit_client::AuditClient;
use fundtrail_proto::v1::disbursements_client::DisbursementsClient;
use fundtrail_proto::v1::milestones_client::MilestonesClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use fundtrail_server::{self as server, Roles, RunningServer, ServerSettings};
use fundtrail_store::StoreOptions;
use tonic::transport::Channel;
use tonic_types::StatusExt;

/// The event store a test server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs one async test body once per backend: `backend_tests!(name, name, …)` makes
/// `sqlite::name` and `postgres::name` calling `name(Backend)`.
#[macro_export]
macro_rules! backend_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $test() {
                    super::$test($crate::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// The PostgreSQL server the tests use.
pub fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// The Kafka broker the suite provides. Without one a Kafka test fails, as one without
/// PostgreSQL or NATS does, unless skipping was asked for with `FUNDTRAIL_TEST_SKIP_KAFKA=1`:
/// a test that passes without running proves nothing.
pub fn kafka() -> Option<String> {
    if let Ok(brokers) = std::env::var("FUNDTRAIL_TEST_KAFKA") {
        return Some(brokers);
    }
    if std::net::TcpStream::connect("127.0.0.1:9092").is_ok() {
        return Some("127.0.0.1:9092".into());
    }
    assert!(
        std::env::var_os("FUNDTRAIL_TEST_SKIP_KAFKA").is_some(),
        "no Kafka broker: scripts/test starts one and sets FUNDTRAIL_TEST_KAFKA; \
         set FUNDTRAIL_TEST_SKIP_KAFKA=1 to skip the Kafka tests on purpose"
    );
    eprintln!("SKIPPED on request (FUNDTRAIL_TEST_SKIP_KAFKA): no Kafka broker");
    None
}

/// The NATS server with JetStream the suite uses.
pub fn nats() -> String {
    std::env::var("FUNDTRAIL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

/// The issuer every test server trusts, so a token minted here is accepted by all of them.
static ISSUER: LazyLock<Arc<Issuer>> = LazyLock::new(|| {
    Arc::new(Issuer::generate().expect("the operating system provides randomness"))
});

/// The subject of requests sent without naming anyone.
pub const STAFF: &str = "dev@fundtrail.local";

/// Every role of the fund's staff: what a test that is not about access control acts with.
pub const STAFF_ROLES: &[Role] = &[
    Role::FinanceOfficer,
    Role::Approver,
    Role::ProgrammeOfficer,
    Role::Verifier,
    Role::Administrator,
    Role::Auditor,
];

pub fn issuer() -> Arc<Issuer> {
    Arc::clone(&ISSUER)
}

/// Settings of a server on `store_url` trusting [`issuer`].
pub fn settings(store_url: impl Into<String>) -> anyhow::Result<ServerSettings> {
    Ok(ServerSettings::new("127.0.0.1:0".parse()?, store_url).trusting(issuer()))
}

/// A member of the fund's staff holding `roles`.
pub fn principal(subject: &str, roles: &[Role]) -> Principal {
    Principal {
        subject: subject.to_owned(),
        display_name: subject.to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: roles.iter().copied().collect(),
        donor_id: None,
    }
}

/// A donor's system acting for `donor_id`.
pub fn donor_integration(subject: &str, donor_id: &str) -> Principal {
    Principal {
        donor_id: Some(donor_id.to_owned()),
        organisation: donor_id.to_owned(),
        ..principal(subject, &[Role::DonorIntegration])
    }
}

/// A bearer token for `principal`, signed by [`issuer`].
pub fn token(principal: &Principal) -> String {
    issuer()
        .issue(principal, DEV_ISSUER, DEV_AUDIENCE, Duration::from_hours(1))
        .expect("test principals are valid")
}

/// The credentials of `principal`.
pub fn credentials(principal: &Principal) -> Credentials {
    Credentials::bearer(&token(principal)).expect("a signed token is a header value")
}

/// A server running only `roles`, on a PostgreSQL schema shared with other servers, fed by
/// `log_url`: one service of the distributed shape.
pub async fn one_service(
    roles: Roles,
    schema: &str,
    log_url: &str,
) -> anyhow::Result<RunningServer> {
    server::start(ServerSettings {
        roles,
        log_url: log_url.to_owned(),
        store_options: StoreOptions {
            schema: Some(schema.to_owned()),
            ..StoreOptions::default()
        },
        ..settings(database_url())?
    })
    .await
}

/// A fundtrail server with every service, on its own store.
#[derive(Debug)]
pub struct TestServer {
    pub server: RunningServer,
    // Kept so the SQLite file outlives the server.
    _dir: tempfile::TempDir,
    pub schema: Option<String>,
}

impl TestServer {
    pub async fn start(backend: Backend) -> anyhow::Result<Self> {
        Self::start_with(backend, Roles::ALL).await
    }

    pub async fn start_with(backend: Backend, roles: Roles) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let (store_url, schema) = match backend {
            Backend::Sqlite => (
                format!("sqlite://{}", dir.path().join("fundtrail.db").display()),
                None,
            ),
            Backend::Postgres => (database_url(), Some(unique_schema())),
        };
        let server = server::start(ServerSettings {
            roles,
            store_options: StoreOptions {
                schema: schema.clone(),
                ..StoreOptions::default()
            },
            ..settings(store_url)?
        })
        .await?;
        Ok(Self {
            server,
            _dir: dir,
            schema,
        })
    }

    pub async fn clients(&self) -> anyhow::Result<Clients> {
        Clients::connect(&self.server.url()).await
    }

    /// Clients acting as `principal`.
    pub async fn clients_as(&self, principal: &Principal) -> anyhow::Result<Clients> {
        Clients::connect_as(&self.server.url(), principal).await
    }

    /// Stops the server and drops its PostgreSQL schema.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server.stop().await?;
        if let Some(schema) = &self.schema {
            drop_schema(schema).await?;
        }
        Ok(())
    }
}

/// A schema for one test on the test PostgreSQL server.
pub fn unique_schema() -> String {
    format!("e2e_{}", uuid::Uuid::new_v4().simple())
}

/// Removes a test's schema and everything in it.
pub async fn drop_schema(schema: &str) -> anyhow::Result<()> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(&database_url()).await?;
    // Test schemas are named by `unique_schema`, never by input.
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS \"{schema}\" CASCADE"
    )))
    .execute(&mut conn)
    .await?;
    Ok(())
}

/// gRPC clients of one server.
#[derive(Debug, Clone)]
pub struct Clients {
    pub channel: AuthorizedChannel,
    pub pledges: PledgesClient<AuthorizedChannel>,
    pub milestones: MilestonesClient<AuthorizedChannel>,
    pub disbursements: DisbursementsClient<AuthorizedChannel>,
    pub audit: AuditClient<AuthorizedChannel>,
}

impl Clients {
    /// Clients acting as [`STAFF`], with every staff role.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        Self::connect_as(url, &principal(STAFF, STAFF_ROLES)).await
    }

    /// Clients acting as `principal`.
    pub async fn connect_as(url: &str, principal: &Principal) -> anyhow::Result<Self> {
        let channel = Channel::from_shared(url.to_owned())?
            .connect()
            .await
            .with_context(|| format!("connecting to {url}"))?;
        let channel = credentials(principal).authorize(channel);
        Ok(Self {
            pledges: PledgesClient::new(channel.clone()),
            milestones: MilestonesClient::new(channel.clone()),
            disbursements: DisbursementsClient::new(channel.clone()),
            audit: AuditClient::new(channel.clone()),
            channel,
        })
    }

    /// Clients of the services where they run: one server each in the distributed shape.
    pub async fn split(
        pledges: &str,
        milestones: &str,
        disbursements: &str,
        read_side: &str,
    ) -> anyhow::Result<Self> {
        let pledges = Self::connect(pledges).await?;
        let milestones = Self::connect(milestones).await?;
        let disbursements = Self::connect(disbursements).await?;
        let read_side = Self::connect(read_side).await?;
        Ok(Self {
            pledges: pledges.pledges,
            milestones: milestones.milestones,
            disbursements: disbursements.disbursements,
            audit: read_side.audit,
            channel: read_side.channel,
        })
    }

    /// Every event in the store, in order.
    pub async fn events(&mut self) -> anyhow::Result<Vec<v1::AuditEvent>> {
        let mut stream = self
            .audit
            .stream_events(v1::StreamEventsRequest {
                from_position: 1,
                ..Default::default()
            })
            .await?
            .into_inner();
        let mut events = Vec::new();
        while let Some(event) = stream.message().await? {
            events.push(event);
        }
        Ok(events)
    }
}

/// A request sent as `actor`, a member of staff with every staff role: its own bearer token
/// overrides the one the clients carry.
pub fn as_actor<T>(actor: &str, message: T) -> tonic::Request<T> {
    as_principal(&principal(actor, STAFF_ROLES), message)
}

/// A request sent with `principal`'s token.
pub fn as_principal<T>(principal: &Principal, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    let value = format!("Bearer {}", token(principal))
        .parse()
        .expect("a signed token is a header value");
    request.metadata_mut().insert("authorization", value);
    request
}

/// A fresh request id.
pub fn rid() -> String {
    uuid::Uuid::now_v7().to_string()
}

pub fn money(currency: &str, minor_units: i64) -> Option<v1::Money> {
    Some(v1::Money {
        currency: currency.to_owned(),
        minor_units,
    })
}

pub fn rate(base: &str, quote: &str, rate: &str, date: &str) -> Option<v1::ExchangeRate> {
    Some(v1::ExchangeRate {
        base: base.to_owned(),
        quote: quote.to_owned(),
        rate: rate.to_owned(),
        source: "ECB reference rate".to_owned(),
        date: date.to_owned(),
    })
}

pub fn country_earmark(country: &str) -> Option<v1::Earmark> {
    Some(v1::Earmark {
        target: Some(v1::earmark::Target::Country(country.to_owned())),
    })
}

/// The `ErrorInfo.reason` of a refusal.
pub fn reason(status: &tonic::Status) -> String {
    status
        .get_details_error_info()
        .map(|info| info.reason)
        .unwrap_or_default()
}

/// The fields a refusal's field violations name.
pub fn violated_fields(status: &tonic::Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// Polls `check` until it returns `Some`, for effects that process managers make
/// asynchronously; fails after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await? {
            return Ok(value);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
