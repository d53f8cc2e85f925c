//! Tracing and OpenTelemetry setup shared by every fundtrail server, and the carriers that move
//! W3C trace context through gRPC metadata, event metadata, Kafka headers and NATS headers.
//!
//! - [`init`] installs the process's `tracing` subscriber and, when the standard `OTEL_*`
//!   variables ask for it, the OpenTelemetry SDK exporting traces and metrics over OTLP/gRPC.
//!   It returns a [`TelemetryGuard`] whose [`TelemetryGuard::shutdown`] flushes the exporters.
//! - [`grpc`]: the tonic server layer that opens each RPC's span under the caller's trace and
//!   records its latency, and a client interceptor that sends the current trace along.
//! - [`propagation`]: W3C `traceparent`/`tracestate` to and from spans.
//! - [`metrics`]: every metric's name, unit and kind in one place, and the instruments.
//! - [`redact_url`]: a URL as it may be logged, with its credentials hidden.
//!
//! A process without `OTEL_*` settings exports nothing and creates no OpenTelemetry spans;
//! [`enabled`] tells code on hot paths whether per-event spans are worth making.

pub mod grpc;
mod json;
pub mod metrics;
pub mod propagation;
mod redact;
mod setup;
#[cfg(feature = "testing")]
pub mod testing;

pub use metrics::{Metrics, metrics};
pub use propagation::W3c;
pub use redact::redact_url;
pub use setup::{TelemetryError, TelemetryGuard, init};

/// The target of every span fundtrail opens for tracing, so that `RUST_LOG` tuned for quieter
/// logs does not switch traces off: [`init`] always enables it at `info`.
pub const TRACE_TARGET: &str = "fundtrail::trace";

/// How logs are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Readable lines for a person at a terminal.
    #[default]
    Pretty,
    /// One JSON object per line, for log collectors, with the `trace_id` and `span_id` of the
    /// span it was written in.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "pretty" | "text" => Ok(Self::Pretty),
            "json" => Ok(Self::Json),
            other => Err(format!("log format {other:?}: use pretty or json")),
        }
    }
}

/// Whether spans reach OpenTelemetry in this process (an exporter, a test recorder, or JSON
/// logs that carry trace ids). Consumers skip their per-event spans when it is not.
pub fn enabled() -> bool {
    setup::ENABLED.load(std::sync::atomic::Ordering::Relaxed)
}
