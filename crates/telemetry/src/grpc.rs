//! Trace context and latency at the gRPC boundary.
//!
//! [`ServerLayer`] wraps a tonic server: every call gets a server span, child of the caller's
//! span when the request carries `traceparent`, and the time to its response is recorded in
//! [`crate::metrics::RPC_DURATION`] with its status code. Health checks and reflection are
//! left alone: probes every few seconds would bury the traces worth reading.
//! [`InjectContext`] is the client side: it sends the current span's context along.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use opentelemetry::KeyValue;
use tracing::Instrument;
use tracing::field::Empty;

use crate::metrics::attr;
use crate::{TRACE_TARGET, propagation};

/// The tonic server layer: `Server::builder().layer(ServerLayer)`.
#[derive(Debug, Clone, Copy, Default)]
pub struct ServerLayer;

impl<S> tower_layer::Layer<S> for ServerLayer {
    type Service = TracedServer<S>;

    fn layer(&self, inner: S) -> Self::Service {
        TracedServer { inner }
    }
}

#[derive(Debug, Clone)]
pub struct TracedServer<S> {
    inner: S,
}

type Reply<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, B, R> tower_service::Service<http::Request<B>> for TracedServer<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<R>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<R>;
    type Error = S::Error;
    type Future = Reply<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        // The service that was polled ready serves this call; its clone waits for the next.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let Some((service, method)) = rpc_of(request.uri().path()) else {
            return Box::pin(inner.call(request));
        };
        let span = tracing::info_span!(
            target: TRACE_TARGET,
            "rpc",
            otel.name = %format!("{service}/{method}"),
            otel.kind = "server",
            otel.status_code = Empty,
            rpc.system = "grpc",
            rpc.service = %service,
            rpc.method = %method,
            rpc.grpc.status_code = Empty,
        );
        if let Some(remote) = propagation::from_headers(request.headers()) {
            remote.parent(&span);
        }
        let started = Instant::now();
        let call = span.in_scope(|| inner.call(request));
        Box::pin(async move {
            let result = call.instrument(span.clone()).await;
            let code = match &result {
                Ok(response) => status_of(response),
                Err(_) => UNKNOWN,
            };
            span.record("rpc.grpc.status_code", code);
            if is_server_error(code) {
                span.record("otel.status_code", "ERROR");
            }
            crate::metrics().rpc_duration.record(
                started.elapsed().as_secs_f64(),
                &[
                    KeyValue::new(attr::RPC_SERVICE, service),
                    KeyValue::new(attr::RPC_METHOD, method),
                    KeyValue::new(attr::RPC_STATUS, code_name(code)),
                ],
            );
            result
        })
    }
}

/// The service and method of a gRPC path, `None` for calls not worth a trace.
fn rpc_of(path: &str) -> Option<(String, String)> {
    let (service, method) = path.strip_prefix('/')?.split_once('/')?;
    if service.is_empty()
        || method.is_empty()
        || service.starts_with("grpc.health.")
        || service.starts_with("grpc.reflection.")
    {
        return None;
    }
    Some((service.to_owned(), method.to_owned()))
}

const UNKNOWN: i64 = 2;

/// A failed call answers at once with `grpc-status` in its headers; a successful one puts it
/// in the trailers, after the body, which a unary call's caller has by then.
fn status_of<R>(response: &http::Response<R>) -> i64 {
    match response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<i64>().ok())
    {
        Some(code) => code,
        None if response.status() == http::StatusCode::OK => 0,
        None => UNKNOWN,
    }
}

/// The codes that mean the server failed rather than the caller (OpenTelemetry's RPC
/// conventions), so the span is marked as an error.
fn is_server_error(code: i64) -> bool {
    matches!(code, 2 | 4 | 12 | 13 | 14 | 15)
}

/// The canonical name of a gRPC status code.
pub fn code_name(code: i64) -> &'static str {
    match code {
        0 => "OK",
        1 => "CANCELLED",
        3 => "INVALID_ARGUMENT",
        4 => "DEADLINE_EXCEEDED",
        5 => "NOT_FOUND",
        6 => "ALREADY_EXISTS",
        7 => "PERMISSION_DENIED",
        8 => "RESOURCE_EXHAUSTED",
        9 => "FAILED_PRECONDITION",
        10 => "ABORTED",
        11 => "OUT_OF_RANGE",
        12 => "UNIMPLEMENTED",
        13 => "INTERNAL",
        14 => "UNAVAILABLE",
        15 => "DATA_LOSS",
        16 => "UNAUTHENTICATED",
        _ => "UNKNOWN",
    }
}

/// A tonic client interceptor sending the current span's trace context with every request.
#[derive(Debug, Clone, Copy, Default)]
pub struct InjectContext;

impl tonic::service::Interceptor for InjectContext {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        propagation::inject_current(request.metadata_mut());
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_rpc_except_probes() {
        assert_eq!(
            rpc_of("/fundtrail.v1.Pledges/RecordPledge"),
            Some(("fundtrail.v1.Pledges".into(), "RecordPledge".into()))
        );
        assert_eq!(rpc_of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(
            rpc_of("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"),
            None
        );
        assert_eq!(rpc_of("/"), None);
        assert_eq!(rpc_of("/x"), None);
    }

    #[test]
    fn the_status_comes_from_the_headers_or_the_http_status() {
        let ok = http::Response::new(());
        assert_eq!(status_of(&ok), 0);
        let refused = http::Response::builder()
            .header("grpc-status", "9")
            .body(())
            .unwrap();
        assert_eq!(code_name(status_of(&refused)), "FAILED_PRECONDITION");
        let broken = http::Response::builder().status(502).body(()).unwrap();
        assert_eq!(code_name(status_of(&broken)), "UNKNOWN");
        assert!(is_server_error(14) && !is_server_error(9));
    }
}
