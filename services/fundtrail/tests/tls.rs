//! The fund's server over TLS, as a deployment without a trusted network runs it: its own
//! certificate, client certificates as credentials beside bearer tokens (or instead of them),
//! the command-line client over `https://`, and the store's connection to PostgreSQL over TLS.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fundtrail_identity::{AuthConfig, DEV_AUDIENCE, DEV_ISSUER, Principal, Role};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use fundtrail_server::{self as server, RunningServer, ServerSettings, TlsFiles};
use fundtrail_store::{OpenedStore, StoreOptions};
use prost::Message;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};
use tonic::{Code, Request};

/// A certificate authority in a folder of its own, and the certificates it signs.
struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    dir: tempfile::TempDir,
}

impl Pki {
    fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let pki = Self {
            ca,
            dir: tempfile::tempdir().unwrap(),
        };
        pki.write("ca.pem", &pki.ca.pem());
        pki
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }

    fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    /// The server's certificate for `localhost` and 127.0.0.1, written as PEM files.
    fn server_files(&self) -> TlsFiles {
        let params =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        TlsFiles {
            cert: self.write("server.pem", &certificate.pem()),
            key: self.write("server.key", &key.serialize_pem()),
        }
    }

    /// A client certificate naming `cn` of `organisation`, granting `role`.
    fn client(&self, cn: &str, organisation: &str, role: Role) -> Identity {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        params
            .distinguished_name
            .push(DnType::OrganizationalUnitName, format!("role:{role}"));
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        Identity::from_pem(certificate.pem(), key.serialize_pem())
    }
}

/// A server on an embedded store speaking TLS only, with `auth` deciding whom it trusts.
async fn tls_server(
    pki: &Pki,
    auth: impl FnOnce(&ServerSettings) -> Option<AuthConfig>,
) -> RunningServer {
    let settings = ServerSettings::new("127.0.0.1:0".parse().unwrap(), "sqlite::memory:");
    let auth = auth(&settings);
    server::start(ServerSettings {
        tls: Some(pki.server_files()),
        auth,
        ..settings
    })
    .await
    .unwrap()
}

/// The settings' own issuer and audience, with client certificates from `pki` as well.
fn tokens_and_certificates(pki: &Pki) -> impl FnOnce(&ServerSettings) -> Option<AuthConfig> {
    let ca = pki.ca_file();
    move |settings| {
        settings.auth.clone().map(|auth| AuthConfig {
            client_ca: Some(ca),
            ..auth
        })
    }
}

async fn channel(
    running: &RunningServer,
    server_ca: &Pki,
    client: Option<Identity>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(server_ca.ca.pem()))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(client);
    }
    Channel::from_shared(format!("https://localhost:{}", running.addr.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

fn token(running: &RunningServer, subject: &str, roles: &[Role]) -> String {
    let principal = Principal {
        subject: subject.to_owned(),
        display_name: subject.to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: roles.iter().copied().collect(),
        donor_id: None,
    };
    running
        .issuer
        .as_ref()
        .unwrap()
        .issue(
            &principal,
            DEV_ISSUER,
            DEV_AUDIENCE,
            Duration::from_mins(10),
        )
        .unwrap()
}

fn bearer<T>(token: &str, message: T) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

fn rid() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn register_donor(donor_id: &str) -> v1::RegisterDonorRequest {
    v1::RegisterDonorRequest {
        request_id: rid(),
        donor_id: donor_id.to_owned(),
        name: "Netherlands".to_owned(),
        kind: v1::DonorKind::Government.into(),
        ..Default::default()
    }
}

fn record_pledge(donor_id: &str) -> v1::RecordPledgeRequest {
    v1::RecordPledgeRequest {
        request_id: rid(),
        donor_id: donor_id.to_owned(),
        amount: Some(v1::Money {
            currency: "USD".to_owned(),
            minor_units: 25_000_000,
        }),
        pledged_on: "2025-03-04".to_owned(),
        ..Default::default()
    }
}

fn metadata_of_last_event(events: &[fundtrail_store::RecordedEvent]) -> v1::EventMetadata {
    v1::EventMetadata::decode(events.last().unwrap().metadata.as_slice()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_certificate_is_a_credential_end_to_end() {
    let pki = Pki::new("ITF client and server CA");
    let running = tls_server(&pki, tokens_and_certificates(&pki)).await;
    assert!(running.url().starts_with("https://"), "{}", running.url());

    // An administrator with a token registers the donor; a finance officer with a
    // certificate records its pledge; both over TLS.
    let admin = token(&running, "admin@itf.si", &[Role::Administrator]);
    let plain_tls = channel(&running, &pki, None).await.unwrap();
    PledgesClient::new(plain_tls.clone())
        .register_donor(bearer(&admin, register_donor("XM-DAC-7")))
        .await
        .unwrap();
    let officer = pki.client(
        "Ana.Novak@ITF.si",
        "ITF Enhancing Human Security",
        Role::FinanceOfficer,
    );
    let with_certificate = channel(&running, &pki, Some(officer)).await.unwrap();
    let recorded = PledgesClient::new(with_certificate.clone())
        .record_pledge(Request::new(record_pledge("XM-DAC-7")))
        .await
        .unwrap()
        .into_inner();
    let events = running.store.read_all(1, 100).await.unwrap();
    assert_eq!(events.last().unwrap().position, recorded.position);
    let metadata = metadata_of_last_event(&events);
    assert_eq!(
        metadata.actor, "ana.novak@itf.si",
        "the certificate's CN, canonical"
    );
    assert_eq!(metadata.actor_organisation, "ITF Enhancing Human Security");
    assert_eq!(metadata.actor_roles, ["finance_officer"]);

    // The certificate grants its role and no other.
    let refused = PledgesClient::new(with_certificate)
        .register_donor(Request::new(register_donor("US-GOV-1")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");

    // Without credentials, over TLS: refused.
    let refused = PledgesClient::new(plain_tls)
        .record_pledge(Request::new(record_pledge("XM-DAC-7")))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // A certificate from another CA never gets through the handshake or the layer.
    let stranger = Pki::new("Another CA");
    let forged = stranger.client(
        "ana.novak@itf.si",
        "ITF Enhancing Human Security",
        Role::FinanceOfficer,
    );
    let head = running.store.head().await.unwrap().position;
    if let Ok(channel) = channel(&running, &pki, Some(forged)).await {
        let refused = PledgesClient::new(channel)
            .record_pledge(Request::new(record_pledge("XM-DAC-7")))
            .await
            .unwrap_err();
        assert!(
            matches!(
                refused.code(),
                // Under TLS 1.3 the server refuses the certificate after the client
                // finished its handshake, so the client sees the connection closed.
                Code::Unauthenticated | Code::Unavailable | Code::Unknown | Code::Cancelled
            ),
            "{refused:?}"
        );
    }
    assert_eq!(running.store.head().await.unwrap().position, head);

    // Plaintext towards a TLS server does not reach any service.
    let plaintext = Channel::from_shared(format!("http://{}", running.addr))
        .unwrap()
        .connect()
        .await;
    if let Ok(plaintext) = plaintext {
        let refused = FundingClient::new(plaintext)
            .get_fund_overview(bearer(&admin, v1::GetFundOverviewRequest::default()))
            .await
            .unwrap_err();
        assert_ne!(refused.code(), Code::Ok);
    }
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_may_trust_client_certificates_alone() {
    let pki = Pki::new("ITF client and server CA");
    let ca = pki.ca_file();
    let running = tls_server(&pki, |_| {
        Some(AuthConfig {
            jwks: None,
            issuer: String::new(),
            audience: String::new(),
            leeway_seconds: AuthConfig::DEFAULT_LEEWAY_SECONDS,
            client_ca: Some(ca),
        })
    })
    .await;
    let auditor = pki.client("auditor@board.example", "Audit Board", Role::Auditor);
    let overview = FundingClient::new(channel(&running, &pki, Some(auditor)).await.unwrap())
        .get_fund_overview(Request::new(v1::GetFundOverviewRequest::default()))
        .await;
    assert!(overview.is_ok(), "{overview:?}");

    // The server's own issuer signs a valid token, but no key set is trusted here.
    let anyone = token(&running, "admin@itf.si", &[Role::Administrator]);
    let refused = FundingClient::new(channel(&running, &pki, None).await.unwrap())
        .get_fund_overview(bearer(&anyone, v1::GetFundOverviewRequest::default()))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert!(
        refused.message().contains("client certificates only"),
        "{}",
        refused.message()
    );
    running.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_client_speaks_tls_to_the_server_ca_it_is_given() {
    let pki = Pki::new("ITF server CA");
    let running = tls_server(&pki, |settings| settings.auth.clone()).await;
    let auditor = token(&running, "auditor@board.example", &[Role::Auditor]);
    let url = format!("https://localhost:{}", running.addr.port());
    let run = |ca: Option<PathBuf>| {
        let url = url.clone();
        let auditor = auditor.clone();
        tokio::task::spawn_blocking(move || {
            let mut command = Command::new(env!("CARGO_BIN_EXE_fundtrail"));
            command
                .args(["funding", "overview", "--server", &url])
                .env("FUNDTRAIL_TOKEN", auditor)
                .env_remove("FUNDTRAIL_SERVER")
                .env_remove("FUNDTRAIL_TOKEN_FILE")
                .env_remove("FUNDTRAIL_CA");
            if let Some(ca) = ca {
                command.env("FUNDTRAIL_CA", ca);
            }
            command.output().unwrap()
        })
    };
    let trusted = run(Some(pki.ca_file())).await.unwrap();
    assert!(
        trusted.status.success(),
        "{}",
        String::from_utf8_lossy(&trusted.stderr)
    );
    // Without the CA the server's certificate is checked against the public roots and fails.
    let untrusted = run(None).await.unwrap();
    assert!(!untrusted.status.success());
    running.stop().await.unwrap();
}

fn database_url() -> String {
    std::env::var("FUNDTRAIL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// Whether the store's own connections to PostgreSQL are encrypted.
async fn store_connection_uses_tls(url: &str) -> bool {
    let schema = format!("tls_{}", uuid::Uuid::new_v4().simple());
    let opened = OpenedStore::open(
        url,
        StoreOptions {
            schema: Some(schema.clone()),
            ..StoreOptions::default()
        },
    )
    .await
    .unwrap();
    let OpenedStore::Postgres(store) = &opened else {
        panic!("a PostgreSQL URL opens a PostgreSQL store");
    };
    let ssl: bool = sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .fetch_one(store.pool())
        .await
        .unwrap();
    // The schema name is ours: a fixed prefix and hex digits.
    sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
        .execute(store.pool())
        .await
        .unwrap();
    ssl
}

#[tokio::test]
async fn the_store_honours_sslmode_in_its_url() {
    let url = database_url();
    let with = |mode: &str| {
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}sslmode={mode}")
    };
    let server_offers_tls = store_connection_uses_tls(&with("prefer")).await;
    if !server_offers_tls {
        // sslmode=require must then refuse to connect rather than fall back to plaintext.
        let refused = OpenedStore::open(&with("require"), StoreOptions::default()).await;
        assert!(refused.is_err(), "sslmode=require connected without TLS");
        return;
    }
    assert!(store_connection_uses_tls(&with("require")).await);
    assert!(!store_connection_uses_tls(&with("disable")).await);
}
