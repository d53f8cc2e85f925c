//! A certificate authority, a tiny gRPC service behind the layer, and clients for it.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use fundtrail_identity::{AuthConfig, AuthLayer, Authenticator, principal_of};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_server::{Funding, FundingServer};
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair,
};
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity, Server, ServerTlsConfig};
use tonic::{Request, Response, Status};

/// The response header the test service names its caller's subject in.
pub const SUBJECT_HEADER: &str = "x-test-subject";

/// A CA and the certificates it signs.
pub struct Pki {
    ca: CertifiedIssuer<'static, KeyPair>,
    _dir: tempfile::TempDir,
    pub ca_file: PathBuf,
}

/// A client certificate and its key.
pub struct ClientCertificate {
    pub pem: String,
    pub key_pem: String,
    pub der: Vec<u8>,
}

impl Pki {
    pub fn new(name: &str) -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, name);
        let ca = CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let ca_file = dir.path().join("client-ca.pem");
        std::fs::write(&ca_file, ca.pem()).unwrap();
        Self {
            ca,
            _dir: dir,
            ca_file,
        }
    }

    pub fn ca_pem(&self) -> String {
        self.ca.pem()
    }

    /// A client certificate for `cn` of `organisation`, with up to two OUs (the generator
    /// keeps one value per attribute type; the second OU is written under OU's OID by hand).
    pub fn client(&self, cn: &str, organisation: &str, units: &[&str]) -> ClientCertificate {
        self.client_with(cn, organisation, units, |_| {})
    }

    pub fn client_with(
        &self,
        cn: &str,
        organisation: &str,
        units: &[&str],
        adjust: impl FnOnce(&mut CertificateParams),
    ) -> ClientCertificate {
        assert!(units.len() <= 2, "at most two OUs");
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = DistinguishedName::new();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organisation);
        if let Some(unit) = units.first() {
            params
                .distinguished_name
                .push(DnType::OrganizationalUnitName, *unit);
        }
        if let Some(unit) = units.get(1) {
            params
                .distinguished_name
                .push(DnType::CustomDnType(vec![2, 5, 4, 11]), *unit);
        }
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        adjust(&mut params);
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        ClientCertificate {
            pem: certificate.pem(),
            key_pem: key.serialize_pem(),
            der: certificate.der().to_vec(),
        }
    }

    /// The DER of the CA's own certificate.
    pub fn ca_der(&self) -> Vec<u8> {
        self.ca.der().to_vec()
    }

    /// The server's certificate for `localhost`, as a TLS identity.
    pub fn server_identity(&self) -> Identity {
        let params = CertificateParams::new(vec!["localhost".to_owned()]).unwrap();
        let key = KeyPair::generate().unwrap();
        let certificate = params.signed_by(&key, &self.ca).unwrap();
        Identity::from_pem(certificate.pem(), key.serialize_pem())
    }
}

/// Answers two reads, naming the caller it was handed.
struct TestFunding;

fn named<T>(request: &Request<()>, message: T) -> Result<Response<T>, Status> {
    let subject = principal_of(request)
        .map(|principal| principal.subject.clone())
        .unwrap_or_default();
    let mut response = Response::new(message);
    response.metadata_mut().insert(
        SUBJECT_HEADER,
        subject.parse().map_err(|_| Status::internal("subject"))?,
    );
    Ok(response)
}

fn bodiless<T>(request: Request<T>) -> Request<()> {
    let (metadata, extensions, _) = request.into_parts();
    Request::from_parts(metadata, extensions, ())
}

#[tonic::async_trait]
impl Funding for TestFunding {
    type WatchCountryFundingStream = tokio_stream::Empty<Result<v1::CountryFunding, Status>>;

    async fn get_country_funding(
        &self,
        _: Request<v1::GetCountryFundingRequest>,
    ) -> Result<Response<v1::CountryFunding>, Status> {
        Err(Status::unimplemented("not in the test service"))
    }

    async fn list_countries(
        &self,
        _: Request<v1::ListCountriesRequest>,
    ) -> Result<Response<v1::ListCountriesResponse>, Status> {
        Err(Status::unimplemented("not in the test service"))
    }

    async fn get_donor_statement(
        &self,
        request: Request<v1::GetDonorStatementRequest>,
    ) -> Result<Response<v1::DonorStatement>, Status> {
        named(&bodiless(request), v1::DonorStatement::default())
    }

    async fn get_fund_overview(
        &self,
        request: Request<v1::GetFundOverviewRequest>,
    ) -> Result<Response<v1::FundOverview>, Status> {
        named(&bodiless(request), v1::FundOverview::default())
    }

    async fn watch_country_funding(
        &self,
        _: Request<v1::WatchCountryFundingRequest>,
    ) -> Result<Response<Self::WatchCountryFundingStream>, Status> {
        Err(Status::unimplemented("not in the test service"))
    }
}

/// Serves the health service and the test service behind the layer, on a free port.
pub async fn serve(config: AuthConfig, tls: Option<ServerTlsConfig>) -> SocketAddr {
    let authenticator = Arc::new(Authenticator::new(config).await.unwrap());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let mut builder = Server::builder();
    if let Some(tls) = tls {
        builder = builder.tls_config(tls).unwrap();
    }
    let (_, health) = tonic_health::server::health_reporter();
    let router = builder
        .layer(AuthLayer::new(authenticator))
        .add_service(health)
        .add_service(FundingServer::new(TestFunding));
    tokio::spawn(router.serve_with_incoming(TcpListenerStream::new(listener)));
    address
}

/// A TLS server trusting `pki` for client certificates, which it does not require.
pub async fn serve_tls(config: AuthConfig, pki: &Pki) -> SocketAddr {
    let tls = ServerTlsConfig::new()
        .identity(pki.server_identity())
        .client_ca_root(Certificate::from_pem(pki.ca_pem()))
        .client_auth_optional(true);
    serve(config, Some(tls)).await
}

pub async fn plain_channel(address: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{address}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A TLS channel trusting `server_ca`, presenting `client` when given.
pub async fn tls_channel(
    address: SocketAddr,
    server_ca: &Pki,
    client: Option<&ClientCertificate>,
) -> Result<Channel, tonic::transport::Error> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(server_ca.ca_pem()))
        .domain_name("localhost");
    if let Some(client) = client {
        tls = tls.identity(Identity::from_pem(&client.pem, &client.key_pem));
    }
    Channel::from_shared(format!("https://localhost:{}", address.port()))
        .unwrap()
        .tls_config(tls)?
        .connect()
        .await
}

pub fn bearer<T>(message: T, token: &str) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    request
}

pub fn subject_of<T>(response: &Response<T>) -> String {
    response
        .metadata()
        .get(SUBJECT_HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned()
}
