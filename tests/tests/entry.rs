//! The gRPC entry point: nginx, configured from `deploy/nginx/fundtrail.conf.template`, in
//! front of the distributed shape — two pledges servers, milestones, disbursements and the
//! projector, on one PostgreSQL schema and one log. Through its one address: the whole demo,
//! a funding stream that follows the history, reflection (v1 and v1alpha) and health; then,
//! with one pledges server stopped, pledge commands still succeed and are recorded once each.
//! Also the client's side of one address: a servers file naming an address per service, and
//! a call to a server that does not run its service.
//!
//! nginx is the machine's (`scripts/test` installs it; `FUNDTRAIL_TEST_NGINX` names another
//! binary), run in the foreground with its own prefix and port, and stopped by its process id.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fundtrail_client::Session;
use fundtrail_proto::v1;
use fundtrail_proto::v1::audit_client::AuditClient;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_server::{Roles, RunningServer};
use fundtrail_tests::story::{self, FINANCE};
use fundtrail_tests::{
    Backend, Clients, STAFF, STAFF_ROLES, TestServer, as_actor, country_earmark, credentials,
    drop_schema, issuer, kafka, money, nats, one_service, principal, rid, unique_schema,
};
use prost::Message;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

const TEMPLATE: &str = "deploy/nginx/fundtrail.conf.template";

/// The services every server lists through reflection, whatever it runs.
const LISTED: [&str; 7] = [
    "fundtrail.v1.Pledges",
    "fundtrail.v1.Milestones",
    "fundtrail.v1.Disbursements",
    "fundtrail.v1.Funding",
    "fundtrail.v1.Audit",
    "fundtrail.v1.Attention",
    "grpc.health.v1.Health",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

/// The nginx binary: `FUNDTRAIL_TEST_NGINX`, or `nginx` on the PATH or in an sbin folder.
fn nginx_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("FUNDTRAIL_TEST_NGINX") {
        return PathBuf::from(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin".into(), "/usr/local/sbin".into()])
        .map(|dir| dir.join("nginx"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "no nginx: scripts/test installs it (scripts/lib/nginx.sh: apt-get install \
                 nginx); FUNDTRAIL_TEST_NGINX names another binary"
            )
        })
}

/// The template with its placeholders filled: a `server` line naming a placeholder of several
/// addresses is written once per address, as the template says.
fn fill(template: &str, values: &[(&str, Vec<String>)]) -> String {
    let mut out = String::new();
    for line in template.lines() {
        let named: Vec<&(&str, Vec<String>)> = values
            .iter()
            .filter(|(name, _)| line.contains(&format!("${{{name}}}")))
            .collect();
        let repeated = named
            .iter()
            .find(|(_, addresses)| addresses.len() > 1)
            .filter(|_| line.trim_start().starts_with("server "));
        if let Some((name, addresses)) = repeated {
            for address in addresses {
                out.push_str(&line.replace(&format!("${{{name}}}"), address));
                out.push('\n');
            }
        } else {
            let mut line = line.to_owned();
            for (name, addresses) in &named {
                line = line.replace(&format!("${{{name}}}"), &addresses.join(" "));
            }
            out.push_str(&line);
            out.push('\n');
        }
    }
    assert!(
        !out.contains("${ENTRY_"),
        "{TEMPLATE} has a placeholder this test does not fill"
    );
    out
}

/// An nginx running the deploy configuration in the foreground, stopped when dropped.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
    addr: SocketAddr,
}

impl Nginx {
    /// Starts nginx in front of the servers of each role.
    fn start(
        pledges: &[&RunningServer],
        milestones: &RunningServer,
        disbursements: &RunningServer,
        projector: &RunningServer,
    ) -> Self {
        Self::start_with(pledges, milestones, disbursements, projector, &[])
    }

    /// [`Nginx::start`], with `files` (name, contents) beside the configuration.
    fn start_with(
        pledges: &[&RunningServer],
        milestones: &RunningServer,
        disbursements: &RunningServer,
        projector: &RunningServer,
        files: &[(&str, String)],
    ) -> Self {
        let template = std::fs::read_to_string(root().join(TEMPLATE)).expect(TEMPLATE);
        let addresses = |servers: &[&RunningServer]| -> Vec<String> {
            servers.iter().map(|s| s.addr.to_string()).collect()
        };
        let mut last_error = String::new();
        // The port is chosen free a moment before nginx binds it; another process may take
        // it in between, so a few attempts.
        for _ in 0..3 {
            let addr = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|listener| listener.local_addr())
                .expect("a free port");
            let config = fill(
                &template,
                &[
                    ("ENTRY_LISTEN", vec![addr.to_string()]),
                    ("ENTRY_PLEDGES", addresses(pledges)),
                    ("ENTRY_MILESTONES", addresses(&[milestones])),
                    ("ENTRY_DISBURSEMENTS", addresses(&[disbursements])),
                    ("ENTRY_PROJECTOR", addresses(&[projector])),
                ],
            );
            let dir = tempfile::tempdir().expect("a folder for nginx");
            let file = dir.path().join("fundtrail.conf");
            std::fs::write(&file, config).expect("writing the configuration");
            for (name, contents) in files {
                std::fs::write(dir.path().join(name), contents).expect("writing a file for nginx");
            }
            let log = |name: &str| {
                std::fs::File::create(dir.path().join(name)).expect("a log file for nginx")
            };
            let child = Command::new(nginx_binary())
                .arg("-p")
                .arg(format!("{}/", dir.path().display()))
                .arg("-c")
                .arg(&file)
                .args(["-e", "stderr", "-g", "daemon off;"])
                .stdin(Stdio::null())
                .stdout(log("access.log"))
                .stderr(log("error.log"))
                .spawn()
                .expect("starting nginx");
            let mut nginx = Self { child, dir, addr };
            match nginx.wait_until_listening() {
                Ok(()) => return nginx,
                Err(error) => last_error = error,
            }
        }
        panic!("nginx did not start: {last_error}");
    }

    /// Waits until nginx accepts connections, or says why it exited.
    fn wait_until_listening(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("nginx exited ({status}): {}", self.error_log()));
            }
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "nginx did not listen on {} in 15 s: {}",
                    self.addr,
                    self.error_log()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// One line per call nginx handled (the template's `grpc` log format).
    fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    /// A fast shutdown of this nginx alone (SIGTERM to its master, which stops its workers).
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn only(f: fn(&mut Roles)) -> Roles {
    let mut roles = Roles::default();
    f(&mut roles);
    roles
}

async fn channel(url: &str) -> Channel {
    Channel::from_shared(url.to_owned())
        .unwrap()
        .connect()
        .await
        .unwrap_or_else(|e| panic!("connecting to {url}: {e}"))
}

/// The services reflection lists at `url`, asked in v1 and in v1alpha; both must agree.
async fn reflected_services(url: &str) -> BTreeSet<String> {
    use tonic_reflection::pb::{v1 as r1, v1alpha as r1alpha};
    let channel = channel(url).await;
    let mut v1_client = r1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let request = r1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r1::server_reflection_request::MessageRequest::ListServices(
            String::new(),
        )),
    };
    let mut answers = v1_client
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap_or_else(|e| panic!("reflection v1 at {url}: {e}"))
        .into_inner();
    let Some(r1::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("reflection v1 at {url} did not list services");
    };
    let listed_v1: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();

    let mut alpha = r1alpha::server_reflection_client::ServerReflectionClient::new(channel);
    let request = r1alpha::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(
            r1alpha::server_reflection_request::MessageRequest::ListServices(String::new()),
        ),
    };
    let mut answers = alpha
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap_or_else(|e| panic!("reflection v1alpha at {url}: {e}"))
        .into_inner();
    let Some(r1alpha::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("reflection v1alpha at {url} did not list services");
    };
    let listed_v1alpha: BTreeSet<String> = list.service.into_iter().map(|s| s.name).collect();

    for service in LISTED {
        assert!(
            listed_v1.contains(service),
            "v1 at {url}: {service} not in {listed_v1:?}"
        );
        assert!(
            listed_v1alpha.contains(service),
            "v1alpha at {url}: {service} not in {listed_v1alpha:?}"
        );
    }
    assert!(listed_v1.contains("grpc.reflection.v1.ServerReflection"));
    assert!(listed_v1alpha.contains("grpc.reflection.v1alpha.ServerReflection"));
    listed_v1
}

/// The whole distributed shape behind nginx, driven through its one address.
async fn through_one_address(log_url: &str) {
    let schema = unique_schema();
    let pledges_a = one_service(only(|r| r.pledges = true), &schema, log_url)
        .await
        .unwrap();
    let pledges_b = one_service(only(|r| r.pledges = true), &schema, log_url)
        .await
        .unwrap();
    let milestones = one_service(only(|r| r.milestones = true), &schema, log_url)
        .await
        .unwrap();
    let disbursements = one_service(only(|r| r.disbursements = true), &schema, log_url)
        .await
        .unwrap();
    let projector = one_service(only(|r| r.projector = true), &schema, log_url)
        .await
        .unwrap();
    let nginx = Nginx::start(
        &[&pledges_a, &pledges_b],
        &milestones,
        &disbursements,
        &projector,
    );
    let entry = nginx.url();

    // Health, through the entry point: whichever server it reaches answers for itself.
    let health = HealthClient::new(channel(&entry).await)
        .check(HealthCheckRequest {
            service: String::new(),
        })
        .await
        .unwrap_or_else(|e| panic!("health through the entry point: {e}\n{}", nginx.error_log()))
        .into_inner();
    assert_eq!(health.status(), ServingStatus::Serving);

    // Reflection, both versions, through the entry point and at every server.
    reflected_services(&entry).await;
    for server in [
        &pledges_a,
        &pledges_b,
        &milestones,
        &disbursements,
        &projector,
    ] {
        reflected_services(&server.url()).await;
    }

    // The whole demo, every service through one address.
    let summary = fundtrail_demo::load(&entry, &issuer())
        .await
        .unwrap_or_else(|e| {
            panic!(
                "the demo through the entry point: {e:#}\n{}",
                nginx.error_log()
            )
        });
    assert!(
        summary.starts_with("7 donors, 11 projects in 11 countries"),
        "{summary}"
    );
    assert!(summary.contains("(0 replayed)"), "{summary}");
    // Both pledges servers took calls.
    let log = nginx.access_log();
    for server in [&pledges_a, &pledges_b] {
        assert!(
            log.lines()
                .any(|l| l.contains("/fundtrail.v1.Pledges/") && l.ends_with_upstream(server)),
            "no Pledges call reached {}:\n{log}",
            server.addr
        );
    }

    // A stream through the entry point follows the history: the view as it is, then the
    // change a command made.
    let mut c = Clients::connect(&entry).await.unwrap();
    let mut funding = FundingClient::new(c.channel.clone());
    let mut watch = funding
        .watch_country_funding(v1::WatchCountryFundingRequest {
            country: "BA".to_owned(),
        })
        .await
        .unwrap()
        .into_inner();
    let first = tokio::time::timeout(Duration::from_secs(30), watch.message())
        .await
        .expect("the first view of BA within 30 s")
        .unwrap()
        .expect("a first view of BA");
    let pledge = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 1_234_500),
        country_earmark("BA"),
    )
    .await
    .unwrap();
    let updated = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            let view = watch.message().await.unwrap().expect("the stream goes on");
            if view.position >= pledge.position {
                return view;
            }
        }
    })
    .await
    .expect("an update of BA with the new pledge within 30 s");
    assert!(updated.position > first.position);
    drop(watch);

    // The command-line client's session, with one address for every service.
    let staff = credentials(&principal(STAFF, STAFF_ROLES));
    let session = Session::connect_with(&entry, staff.clone()).await.unwrap();
    let projects = session
        .answer(
            session
                .milestones()
                .list_projects(session.request(v1::ListProjectsRequest::default()))
                .await,
            None,
        )
        .unwrap();
    assert_eq!(projects.projects.len(), 11);
    // A path the entry point routes nowhere is UNIMPLEMENTED, as a server would answer.
    let mut raw = tonic::client::Grpc::new(channel(&entry).await);
    raw.ready().await.unwrap();
    let unrouted = raw
        .unary(
            tonic::Request::new(v1::ListDonorsRequest {}),
            tonic::codegen::http::uri::PathAndQuery::from_static("/fundtrail.v1.Nothing/List"),
            tonic_prost::ProstCodec::<v1::ListDonorsRequest, v1::ListDonorsResponse>::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(unrouted.code(), Code::Unimplemented, "{unrouted:?}");
    assert!(
        unrouted.message().contains("routes no service"),
        "{unrouted:?}"
    );

    // A servers file naming each service's own server works as the one address does.
    let dir = tempfile::tempdir().unwrap();
    let servers = dir.path().join("servers.toml");
    std::fs::write(
        &servers,
        format!(
            "pledges = \"{}\"\nmilestones = \"{}\"\ndisbursements = \"{}\"\nprojector = \"{}\"\n",
            pledges_b.url(),
            milestones.url(),
            disbursements.url(),
            projector.url()
        ),
    )
    .unwrap();
    let split = Session::connect_with(servers.to_str().unwrap(), staff)
        .await
        .unwrap();
    let donors = split
        .answer(
            split
                .pledges()
                .list_donors(split.request(v1::ListDonorsRequest {}))
                .await,
            None,
        )
        .unwrap();
    assert_eq!(donors.donors.len(), 7);
    let listed = split
        .answer(
            split
                .milestones()
                .list_projects(split.request(v1::ListProjectsRequest::default()))
                .await,
            None,
        )
        .unwrap();
    assert_eq!(listed.projects.len(), 11);
    let overview = split
        .answer(
            split
                .funding()
                .get_fund_overview(split.request(v1::GetFundOverviewRequest::default()))
                .await,
            None,
        )
        .unwrap();
    assert!(overview.position > 0);

    // One pledges server stops; pledges keep being recorded through the entry point, each
    // once.
    story::register_donor(&mut c, "XM-DAC-918", "Entry point trust", false)
        .await
        .unwrap();
    let before_stop = nginx.access_log().len();
    let stopped = pledges_a.addr;
    pledges_a.stop().await.unwrap();
    let mut acknowledged = BTreeSet::new();
    for n in 0..12 {
        let request = v1::RecordPledgeRequest {
            request_id: rid(),
            donor_id: "XM-DAC-918".to_owned(),
            amount: money("EUR", 100_000 + n),
            earmark: country_earmark("BA"),
            pledged_on: "2025-06-01".to_owned(),
            ..Default::default()
        };
        let mut attempt = 0;
        let result = loop {
            attempt += 1;
            match c
                .pledges
                .record_pledge(as_actor(FINANCE, request.clone()))
                .await
            {
                Ok(result) => break result.into_inner(),
                // The outcome is unknown: the same request id again is a replay if it was
                // recorded.
                Err(status) if status.code() == Code::Unavailable && attempt < 5 => {}
                Err(status) => panic!(
                    "pledge {n} through the entry point, attempt {attempt}: {status:?}\n{}",
                    nginx.error_log()
                ),
            }
        };
        assert!(
            acknowledged.insert(result.created_id.clone()),
            "pledge {n} acknowledged as an earlier one"
        );
    }
    assert_eq!(acknowledged.len(), 12);
    let after_stop = nginx.access_log()[before_stop..].to_owned();
    let calls: Vec<&str> = after_stop
        .lines()
        .filter(|l| l.contains("/fundtrail.v1.Pledges/RecordPledge"))
        .collect();
    assert!(
        calls.iter().all(|l| l.ends_with_upstream(&pledges_b)),
        "a pledge after the stop was not answered by the running server:\n{after_stop}"
    );
    assert!(
        calls
            .iter()
            .any(|l| l.contains(&format!("upstream={stopped}, "))),
        "nginx never tried the stopped server first; the failover went untested:\n{after_stop}"
    );

    // The history holds exactly the pledges acknowledged.
    let mut audit = AuditClient::new(c.channel.clone());
    let mut events = audit
        .stream_events(v1::StreamEventsRequest {
            from_position: 1,
            event_type: "fundtrail.v1.PledgeRecorded".to_owned(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut recorded = Vec::new();
    while let Some(event) = events.message().await.unwrap() {
        let envelope = event.envelope.expect("an envelope");
        let payload = v1::PledgeRecorded::decode(envelope.payload.as_slice()).unwrap();
        if payload.donor_id == "XM-DAC-918" {
            recorded.push(payload.pledge_id);
        }
    }
    assert_eq!(recorded.len(), acknowledged.len(), "{recorded:?}");
    assert_eq!(recorded.into_iter().collect::<BTreeSet<_>>(), acknowledged);

    drop(nginx);
    for server in [pledges_b, milestones, disbursements, projector] {
        server.stop().await.unwrap();
    }
    drop_schema(&schema).await.unwrap();
}

/// Reading nginx's access log lines.
trait Upstream {
    /// Whether the call was answered by `server`: the last upstream nginx tried.
    fn ends_with_upstream(&self, server: &RunningServer) -> bool;
}

impl Upstream for str {
    fn ends_with_upstream(&self, server: &RunningServer) -> bool {
        let Some((_, upstreams)) = self.split_once("upstream=") else {
            return false;
        };
        let upstreams = upstreams.split(" time=").next().unwrap_or_default();
        upstreams.rsplit(", ").next() == Some(server.addr.to_string().as_str())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_distributed_shape_answers_at_one_address_over_nats() {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("FT_ENTRY_{id}");
    let url = format!("{}?stream={stream}&prefix=entry{id}", nats());
    Box::pin(through_one_address(&url)).await;
    let jetstream = async_nats::jetstream::new(async_nats::connect(nats()).await.unwrap());
    jetstream.delete_stream(&stream).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_distributed_shape_answers_at_one_address_over_kafka() {
    let Some(brokers) = kafka() else { return };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url = format!("kafka://{brokers}?topic=fundtrail.entry.{id}&partitions=3");
    Box::pin(through_one_address(&url)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_to_a_server_without_its_service_says_where_it_is_served() {
    let server = TestServer::start_with(Backend::Sqlite, only(|r| r.pledges = true))
        .await
        .unwrap();
    let url = server.server.url();
    let session = Session::connect_with(&url, credentials(&principal(STAFF, STAFF_ROLES)))
        .await
        .unwrap();
    let error = session
        .answer(
            session
                .milestones()
                .list_projects(session.request(v1::ListProjectsRequest::default()))
                .await,
            None,
        )
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "UNIMPLEMENTED: this server at {url} does not serve fundtrail.v1.Milestones: point \
             --server at the entry point, or at a server running `fundtrail serve milestones`"
        )
    );
    // What it does serve answers as before.
    session
        .answer(
            session
                .pledges()
                .list_donors(session.request(v1::ListDonorsRequest {}))
                .await,
            None,
        )
        .unwrap();
    server.stop().await.unwrap();
}

/// TLS ends at the entry point: with the deploy folder's tls.conf in place, clients call it
/// over https, checking its certificate, and their bearer tokens reach the plaintext server
/// behind it; a client that does not trust the entry point's CA gets nowhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn tls_ends_at_the_entry_point() {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use tonic::transport::{Certificate, ClientTlsConfig};

    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let authority = |name: &str| {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, name);
        CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap()
    };
    let ca = authority("fund entry point CA");
    let key = KeyPair::generate().unwrap();
    let certificate = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    let tls_port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .unwrap()
        .port();
    let example = std::fs::read_to_string(root().join("deploy/nginx/tls.conf.example")).unwrap();
    let tls_conf = example
        .replace("0.0.0.0:50443", &format!("127.0.0.1:{tls_port}"))
        .replace("tls/entry.crt", "entry.crt")
        .replace("tls/entry.key", "entry.key");
    assert_ne!(tls_conf, example, "the example's address or files moved");
    let all = &server.server;
    let nginx = Nginx::start_with(
        &[all],
        all,
        all,
        all,
        &[
            ("tls.conf", tls_conf),
            ("entry.crt", certificate.pem()),
            ("entry.key", key.serialize_pem()),
        ],
    );
    let connect = |ca: String| async move {
        Channel::from_shared(format!("https://localhost:{tls_port}"))
            .unwrap()
            .tls_config(
                ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(ca))
                    .domain_name("localhost"),
            )
            .unwrap()
            .connect()
            .await
    };
    let channel = connect(ca.pem())
        .await
        .unwrap_or_else(|e| panic!("https to the entry point: {e}\n{}", nginx.error_log()));
    let mut pledges = v1::pledges_client::PledgesClient::new(channel.clone());
    pledges
        .register_donor(as_actor(
            FINANCE,
            v1::RegisterDonorRequest {
                request_id: rid(),
                donor_id: "XM-DAC-7".to_owned(),
                name: "Netherlands".to_owned(),
                kind: v1::DonorKind::Government.into(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_or_else(|e| panic!("a command over TLS: {e}\n{}", nginx.error_log()));
    let donor = pledges
        .get_donor(as_actor(
            FINANCE,
            v1::GetDonorRequest {
                donor_id: "XM-DAC-7".to_owned(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(donor.name, "Netherlands");
    assert!(
        nginx
            .access_log()
            .lines()
            .any(|l| l.contains("/fundtrail.v1.Pledges/RegisterDonor 200 grpc-status=0")),
        "{}",
        nginx.access_log()
    );
    // Without a token the server behind still refuses: TLS is no credential.
    let refused = pledges
        .get_donor(v1::GetDonorRequest {
            donor_id: "XM-DAC-7".to_owned(),
        })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    // A client trusting another CA does not get a connection.
    assert!(connect(authority("someone else").pem()).await.is_err());
    drop(nginx);
    server.stop().await.unwrap();
}
