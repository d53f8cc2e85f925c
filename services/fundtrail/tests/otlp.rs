//! The binary exports over OTLP/gRPC when `OTEL_EXPORTER_OTLP_ENDPOINT` says where, under its
//! service's name, continuing the caller's trace, and flushes what it holds when stopped.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fundtrail_identity::{DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role};
use fundtrail_proto::v1;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use tokio::net::TcpListener;
use tokio_stream::wrappers::TcpListenerStream;
use tonic::{Request, Response, Status};

/// A collector's OTLP receiver that keeps what it is sent.
#[derive(Debug, Clone, Default)]
struct Receiver {
    traces: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
    metrics: Arc<Mutex<Vec<ExportMetricsServiceRequest>>>,
}

#[async_trait::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.traces.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportTraceServiceResponse::default()))
    }
}

#[async_trait::async_trait]
impl MetricsService for Receiver {
    async fn export(
        &self,
        request: Request<ExportMetricsServiceRequest>,
    ) -> Result<Response<ExportMetricsServiceResponse>, Status> {
        self.metrics.lock().unwrap().push(request.into_inner());
        Ok(Response::new(ExportMetricsServiceResponse::default()))
    }
}

/// Stops the server however the test ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_exports_its_spans_and_metrics_and_flushes_them_when_stopped() {
    let receiver = Receiver::default();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let collector = listener.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver.clone()))
            .add_service(MetricsServiceServer::new(receiver.clone()))
            .serve_with_incoming(TcpListenerStream::new(listener)),
    );

    let dir = tempfile::tempdir().unwrap();
    let store = format!("sqlite://{}", dir.path().join("fundtrail.db").display());
    // The server trusts a key set in a file, as a deployment does; the test signs with its key.
    let keys = dir.path().join("keys");
    let issuer = Issuer::load_or_create(&keys).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_fundtrail"))
        .args([
            "serve",
            "pledges",
            "--listen",
            "127.0.0.1:0",
            "--store",
            &store,
        ])
        .current_dir(dir.path())
        .env("FUNDTRAIL_AUTH_JWKS", keys.join("jwks.json"))
        .env("FUNDTRAIL_AUTH_ISSUER", DEV_ISSUER)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        // Nothing leaves before the shutdown but for the flush this test is about.
        .env("OTEL_BSP_SCHEDULE_DELAY", "600000")
        .env("OTEL_METRIC_EXPORT_INTERVAL", "600000")
        .env_remove("OTEL_SERVICE_NAME")
        .env_remove("OTEL_SDK_DISABLED")
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let server = Server(child);
    // Read to the end, so the server never writes into a closed pipe.
    let (address, announced) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(url) = line.split(" is running at ").nth(1) {
                let _ = address.send(url.to_owned());
            }
        }
    });
    let url = tokio::task::spawn_blocking(move || announced.recv_timeout(Duration::from_mins(1)))
        .await
        .unwrap()
        .expect("the server's address");

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let mut request = tonic::Request::new(v1::RegisterDonorRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        donor_id: "XM-DAC-7".to_owned(),
        name: "Netherlands".to_owned(),
        kind: v1::DonorKind::Government.into(),
        ..Default::default()
    });
    request.metadata_mut().insert(
        "traceparent",
        format!("00-{trace_id}-00f067aa0ba902b7-01")
            .parse()
            .unwrap(),
    );
    let administrator = Principal {
        subject: "administrator@itf.si".to_owned(),
        display_name: "Administrator".to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: [Role::Administrator].into(),
        donor_id: None,
    };
    let token = issuer
        .issue(
            &administrator,
            DEV_ISSUER,
            DEV_AUDIENCE,
            Duration::from_mins(5),
        )
        .unwrap();
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let mut pledges = PledgesClient::connect(url).await.unwrap();
    pledges.register_donor(request).await.unwrap();
    assert!(
        receiver.traces.lock().unwrap().is_empty(),
        "exported before the stop"
    );

    // A graceful stop, as an orchestrator asks for one.
    let pid = server.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let mut server = server;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server did not stop");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(status.success(), "{status}");

    let traces = receiver.traces.lock().unwrap().clone();
    let spans: Vec<_> = traces
        .iter()
        .flat_map(|t| &t.resource_spans)
        .flat_map(|r| {
            let service = r
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| kv.value.as_ref()?.value.clone());
            r.scope_spans
                .iter()
                .flat_map(|s| &s.spans)
                .map(move |span| (service.clone(), span))
        })
        .collect();
    let rpc = spans
        .iter()
        .find(|(_, span)| span.name == "fundtrail.v1.Pledges/RegisterDonor")
        .expect("the call's span, flushed at the stop");
    assert_eq!(
        rpc.0,
        Some(Value::StringValue("fundtrail-pledges".to_owned()))
    );
    assert_eq!(hex::encode(&rpc.1.trace_id), trace_id);
    assert!(
        spans
            .iter()
            .any(|(_, s)| s.name == "append donor" && s.trace_id == rpc.1.trace_id)
    );

    let metrics = receiver.metrics.lock().unwrap().clone();
    let names: Vec<&str> = metrics
        .iter()
        .flat_map(|m| &m.resource_metrics)
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| m.name.as_str())
        .collect();
    for name in [
        fundtrail_telemetry::metrics::RPC_DURATION,
        fundtrail_telemetry::metrics::EVENTS_APPENDED,
    ] {
        assert!(names.contains(&name), "{name} not in {names:?}");
    }
}
