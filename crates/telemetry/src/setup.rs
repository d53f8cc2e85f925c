//! Installing the process's subscriber and OpenTelemetry providers from the standard `OTEL_*`
//! variables.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use opentelemetry::KeyValue;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::resource::{EnvResourceDetector, TelemetryResourceDetector};
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::LogFormat;

pub(crate) static ENABLED: AtomicBool = AtomicBool::new(false);

/// Without `OTEL_METRIC_EXPORT_INTERVAL`, metrics leave every 15 s rather than the SDK's 60 s,
/// so lag gauges on a dashboard are about as fresh as a Prometheus scrape.
const METRIC_INTERVAL: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    #[error("telemetry configuration: {0}")]
    Config(String),
    #[error("building the OTLP {signal} exporter: {message}")]
    Exporter {
        signal: &'static str,
        message: String,
    },
}

/// Keeps the exporters of [`init`]; [`TelemetryGuard::shutdown`] sends what they still hold.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    tracer: Option<SdkTracerProvider>,
    meter: Option<SdkMeterProvider>,
}

impl TelemetryGuard {
    /// Whether anything is exported.
    pub fn exporting(&self) -> bool {
        self.tracer.is_some() || self.meter.is_some()
    }

    /// Flushes and stops the exporters. Call it once the servers stopped, inside the runtime:
    /// the OTLP client needs the runtime to send the last batch.
    pub async fn shutdown(mut self) {
        let (tracer, meter) = (self.tracer.take(), self.meter.take());
        // The SDK's shutdown blocks until the exporter thread finished its last export.
        let _ = tokio::task::spawn_blocking(move || stop(tracer, meter)).await;
    }
}

impl Drop for TelemetryGuard {
    fn drop(&mut self) {
        // The global providers hold clones, so nothing else would flush them.
        stop(self.tracer.take(), self.meter.take());
    }
}

fn stop(tracer: Option<SdkTracerProvider>, meter: Option<SdkMeterProvider>) {
    if let Some(tracer) = tracer
        && let Err(error) = tracer.shutdown()
    {
        eprintln!("telemetry: flushing traces failed: {error}");
    }
    if let Some(meter) = meter
        && let Err(error) = meter.shutdown()
    {
        eprintln!("telemetry: flushing metrics failed: {error}");
    }
}

/// What the environment asks of each signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Plan {
    pub traces: bool,
    pub metrics: bool,
}

pub(crate) fn plan(var: &impl Fn(&str) -> Option<String>) -> Result<Plan, TelemetryError> {
    Ok(Plan {
        traces: wanted(var, "TRACES")?,
        metrics: wanted(var, "METRICS")?,
    })
}

fn get(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name)
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A signal is exported when an OTLP endpoint is configured for it (or `otlp` is named as its
/// exporter, for the default endpoint), unless the SDK or the signal is switched off.
fn wanted(var: &impl Fn(&str) -> Option<String>, signal: &str) -> Result<bool, TelemetryError> {
    if get(var, "OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return Ok(false);
    }
    let exporter_var = format!("OTEL_{signal}_EXPORTER");
    let named_otlp = match get(var, &exporter_var) {
        None => false,
        Some(list) => {
            let names: Vec<&str> = list.split(',').map(str::trim).collect();
            if names.iter().all(|n| *n == "none") {
                return Ok(false);
            }
            if let Some(other) = names.iter().find(|n| !matches!(**n, "otlp" | "none")) {
                return Err(TelemetryError::Config(format!(
                    "{exporter_var} names {other:?}: this build exports over otlp only (or none)"
                )));
            }
            true
        }
    };
    let endpoint = get(var, "OTEL_EXPORTER_OTLP_ENDPOINT")
        .or_else(|| get(var, &format!("OTEL_EXPORTER_OTLP_{signal}_ENDPOINT")));
    if endpoint.is_none() && !named_otlp {
        return Ok(false);
    }
    for name in [
        "OTEL_EXPORTER_OTLP_PROTOCOL".to_owned(),
        format!("OTEL_EXPORTER_OTLP_{signal}_PROTOCOL"),
    ] {
        if let Some(protocol) = get(var, &name)
            && protocol != "grpc"
        {
            return Err(TelemetryError::Config(format!(
                "{name}={protocol:?}: fundtrail exports OTLP over gRPC only; set grpc and point \
                 the endpoint at the collector's gRPC port (4317)"
            )));
        }
    }
    Ok(true)
}

/// `service.name` is the service's own unless `OTEL_SERVICE_NAME` or `OTEL_RESOURCE_ATTRIBUTES`
/// name another; every process gets a `service.instance.id` of its own.
pub(crate) fn resource(service_name: &str, var: &impl Fn(&str) -> Option<String>) -> Resource {
    let mut builder = Resource::builder_empty()
        .with_service_name(service_name.to_owned())
        .with_attributes([
            KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
            KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
        ])
        .with_detectors(&[
            Box::new(TelemetryResourceDetector),
            Box::new(EnvResourceDetector::new()),
        ]);
    if let Some(name) = get(var, "OTEL_SERVICE_NAME") {
        builder = builder.with_service_name(name);
    }
    builder.build()
}

/// Installs the process-wide subscriber, and the OpenTelemetry providers the `OTEL_*`
/// variables ask for. `RUST_LOG` overrides `default_filter` for logs; spans opened for tracing
/// stay on. Must run inside the Tokio runtime (the OTLP client lives on it). Calling it again
/// keeps the first subscriber (tests start several servers in one process).
pub fn init(
    service_name: &str,
    format: LogFormat,
    default_filter: &str,
) -> Result<TelemetryGuard, TelemetryError> {
    let var = |name: &str| std::env::var(name).ok();
    let plan = plan(&var)?;
    let resource = resource(service_name, &var);
    let tracer = if plan.traces {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter {
                signal: "traces",
                message: e.to_string(),
            })?;
        Some(
            SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(resource.clone())
                .build(),
        )
    } else if format == LogFormat::Json {
        // No exporter, but spans with ids for the logs to carry.
        Some(
            SdkTracerProvider::builder()
                .with_resource(resource.clone())
                .build(),
        )
    } else {
        None
    };
    let meter = if plan.metrics {
        let exporter = opentelemetry_otlp::MetricExporter::builder()
            .with_tonic()
            .build()
            .map_err(|e| TelemetryError::Exporter {
                signal: "metrics",
                message: e.to_string(),
            })?;
        let mut reader = PeriodicReader::builder(exporter);
        if get(&var, "OTEL_METRIC_EXPORT_INTERVAL").is_none() {
            reader = reader.with_interval(METRIC_INTERVAL);
        }
        Some(
            SdkMeterProvider::builder()
                .with_reader(reader.build())
                .with_resource(resource)
                .build(),
        )
    } else {
        None
    };
    install(
        Installed {
            tracer: tracer.clone(),
            meter: meter.clone(),
            format,
            default_filter,
        },
        std::io::stdout,
    )?;
    if plan.traces || plan.metrics {
        tracing::info!(
            service = service_name,
            traces = plan.traces,
            metrics = plan.metrics,
            "exporting telemetry over OTLP"
        );
    }
    Ok(TelemetryGuard {
        tracer: tracer.filter(|_| plan.traces),
        meter,
    })
}

pub(crate) struct Installed<'a> {
    pub tracer: Option<SdkTracerProvider>,
    pub meter: Option<SdkMeterProvider>,
    pub format: LogFormat,
    pub default_filter: &'a str,
}

/// Sets the global providers and subscriber. `false` when a subscriber was already installed.
pub(crate) fn install<W>(installed: Installed<'_>, writer: W) -> Result<bool, TelemetryError>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new(installed.default_filter));
    let otel = installed.tracer.as_ref().map(|provider| {
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("fundtrail"))
            .with_tracked_inactivity(false)
    });
    if otel.is_some() {
        let directive = format!("{}=info", crate::TRACE_TARGET)
            .parse()
            .map_err(|e| TelemetryError::Config(format!("trace filter: {e}")))?;
        filter = filter.add_directive(directive);
    }
    let tracing = otel.is_some();
    let (pretty, json) = match installed.format {
        LogFormat::Pretty => (
            Some(
                tracing_subscriber::fmt::layer()
                    .with_target(false)
                    .with_writer(writer),
            ),
            None,
        ),
        LogFormat::Json => (
            None,
            Some(
                tracing_subscriber::fmt::layer()
                    .json()
                    .event_format(crate::json::WithTraceIds::new())
                    .with_writer(writer),
            ),
        ),
    };
    let installed_now = tracing_subscriber::registry()
        .with(filter)
        .with(otel)
        .with(pretty)
        .with(json)
        .try_init()
        .is_ok();
    if installed_now {
        if let Some(provider) = installed.tracer {
            opentelemetry::global::set_tracer_provider(provider);
        }
        if let Some(provider) = installed.meter {
            opentelemetry::global::set_meter_provider(provider);
            crate::metrics::reset();
        }
        ENABLED.store(tracing, Ordering::Relaxed);
    }
    Ok(installed_now)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| {
            pairs
                .iter()
                .find(|(k, _)| k == name)
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        let none = plan(&env(&[])).unwrap();
        assert_eq!(
            none,
            Plan {
                traces: false,
                metrics: false
            }
        );
        let sampler_only = plan(&env(&[("OTEL_TRACES_SAMPLER", "always_on")])).unwrap();
        assert!(!sampler_only.traces);
    }

    #[test]
    fn an_endpoint_exports_both_signals_unless_one_is_switched_off() {
        let both = plan(&env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317")])).unwrap();
        assert!(both.traces && both.metrics);
        let traces_only = plan(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_METRICS_EXPORTER", "none"),
        ]))
        .unwrap();
        assert!(traces_only.traces && !traces_only.metrics);
        let metrics_only = plan(&env(&[(
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            "http://c:4317",
        )]))
        .unwrap();
        assert!(!metrics_only.traces && metrics_only.metrics);
        let named = plan(&env(&[("OTEL_TRACES_EXPORTER", "otlp")])).unwrap();
        assert!(named.traces && !named.metrics);
        let disabled = plan(&env(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
            ("OTEL_SDK_DISABLED", "true"),
        ]))
        .unwrap();
        assert!(!disabled.traces && !disabled.metrics);
    }

    #[test]
    fn unsupported_exporters_and_protocols_are_refused() {
        assert!(plan(&env(&[("OTEL_TRACES_EXPORTER", "zipkin")])).is_err());
        assert!(
            plan(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ]))
            .is_err()
        );
        assert!(
            plan(&env(&[
                ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4317"),
                ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ]))
            .is_ok()
        );
    }

    #[test]
    fn the_service_name_is_ours_unless_the_environment_names_one() {
        let name = |r: &Resource| {
            r.get(&opentelemetry::Key::new("service.name"))
                .map(|v| v.to_string())
        };
        assert_eq!(
            name(&resource("fundtrail-pledges", &env(&[]))).as_deref(),
            Some("fundtrail-pledges")
        );
        assert_eq!(
            name(&resource(
                "fundtrail-pledges",
                &env(&[("OTEL_SERVICE_NAME", "pledges-eu")])
            ))
            .as_deref(),
            Some("pledges-eu")
        );
        let instance = |r: &Resource| r.get(&opentelemetry::Key::new("service.instance.id"));
        let (a, b) = (resource("a", &env(&[])), resource("a", &env(&[])));
        assert!(instance(&a).is_some());
        assert_ne!(instance(&a), instance(&b));
    }
}
