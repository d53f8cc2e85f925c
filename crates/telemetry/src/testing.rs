//! For tests: the same subscriber and providers as [`crate::init`], exporting into memory.
//!
//! The providers are process-wide, so a test binary installs the recorder once, before it
//! starts anything, and tells its tests' spans apart by trace id.

use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Duration;

use opentelemetry::{Key, KeyValue, Value};
use opentelemetry_sdk::metrics::data::{AggregatedMetrics, Metric, MetricData, ResourceMetrics};
use opentelemetry_sdk::metrics::{InMemoryMetricExporter, PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider};

use crate::LogFormat;
use crate::setup::{Installed, install};

pub use opentelemetry::trace::{SpanId, SpanKind, TraceId};
pub use opentelemetry_sdk::trace::SpanData;

/// What the process's spans and metrics were.
#[derive(Debug)]
pub struct Recorder {
    spans: InMemorySpanExporter,
    metrics: InMemoryMetricExporter,
    meter: SdkMeterProvider,
    reading: Mutex<()>,
}

static RECORDER: OnceLock<Recorder> = OnceLock::new();

/// Installs the recorder (once per process) and returns it. Logs go to the test harness's
/// captured output.
pub fn recorder() -> &'static Recorder {
    install_recorder(LogFormat::Pretty, tracing_subscriber::fmt::TestWriter::new)
}

/// Installs the recorder with logs in `format` written to `writer`, unless one is installed.
pub fn install_recorder<W>(format: LogFormat, writer: W) -> &'static Recorder
where
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + Send + Sync + 'static,
{
    RECORDER.get_or_init(|| {
        let spans = InMemorySpanExporter::default();
        let metrics = InMemoryMetricExporter::default();
        let resource = crate::setup::resource("fundtrail-test", &|_| None);
        // Spans are exported as they end, so a test sees them without flushing.
        let tracer = SdkTracerProvider::builder()
            .with_simple_exporter(spans.clone())
            .with_resource(resource.clone())
            .build();
        let meter = SdkMeterProvider::builder()
            .with_reader(
                PeriodicReader::builder(metrics.clone())
                    .with_interval(Duration::from_hours(1))
                    .build(),
            )
            .with_resource(resource)
            .build();
        let installed = install(
            Installed {
                tracer: Some(tracer),
                meter: Some(meter.clone()),
                format,
                default_filter: "info",
            },
            writer,
        );
        assert!(
            matches!(installed, Ok(true)),
            "another subscriber was installed before the recorder"
        );
        Recorder {
            spans,
            metrics,
            meter,
            reading: Mutex::new(()),
        }
    })
}

impl Recorder {
    /// Every span that ended so far.
    pub fn spans(&self) -> Vec<SpanData> {
        self.spans.get_finished_spans().unwrap_or_default()
    }

    /// The spans of one trace (32 hex digits).
    pub fn trace(&self, trace_id: &str) -> Vec<SpanData> {
        self.spans()
            .into_iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace_id)
            .collect()
    }

    /// The metrics as they stand now (cumulative since the start of the process).
    pub fn metrics(&self) -> Vec<ResourceMetrics> {
        let _turn = self.reading.lock().unwrap_or_else(PoisonError::into_inner);
        self.metrics.reset();
        let _ = self.meter.force_flush();
        self.metrics.get_finished_metrics().unwrap_or_default()
    }

    /// The data points of the metric `name` whose attributes include `with`, as
    /// `(attributes, value)`; a histogram's value is its count.
    pub fn points(&self, name: &str, with: &[(&str, &str)]) -> Vec<(Vec<KeyValue>, f64)> {
        let mut found = Vec::new();
        for resource in self.metrics() {
            for scope in resource.scope_metrics() {
                for metric in scope.metrics().filter(|m| m.name() == name) {
                    found.extend(points_of(metric));
                }
            }
        }
        found.retain(|(attributes, _)| {
            with.iter().all(|(key, value)| {
                attributes
                    .iter()
                    .any(|kv| kv.key == Key::new(key.to_string()) && kv.value.as_str() == *value)
            })
        });
        found
    }

    /// The sum of the values of [`Recorder::points`].
    pub fn total(&self, name: &str, with: &[(&str, &str)]) -> f64 {
        self.points(name, with).iter().map(|(_, v)| v).sum()
    }
}

#[allow(clippy::cast_precision_loss, reason = "test counts are small")]
fn points_of(metric: &Metric) -> Vec<(Vec<KeyValue>, f64)> {
    fn collect<T: Copy>(
        data: &MetricData<T>,
        value: impl Fn(T) -> f64,
    ) -> Vec<(Vec<KeyValue>, f64)> {
        match data {
            MetricData::Gauge(gauge) => gauge
                .data_points()
                .map(|p| (p.attributes().cloned().collect(), value(p.value())))
                .collect(),
            MetricData::Sum(sum) => sum
                .data_points()
                .map(|p| (p.attributes().cloned().collect(), value(p.value())))
                .collect(),
            MetricData::Histogram(histogram) => histogram
                .data_points()
                .map(|p| (p.attributes().cloned().collect(), p.count() as f64))
                .collect(),
            MetricData::ExponentialHistogram(histogram) => histogram
                .data_points()
                .map(|p| (p.attributes().cloned().collect(), p.count() as f64))
                .collect(),
        }
    }
    match metric.data() {
        AggregatedMetrics::F64(data) => collect(data, |v| v),
        AggregatedMetrics::U64(data) => collect(data, |v| v as f64),
        AggregatedMetrics::I64(data) => collect(data, |v| v as f64),
    }
}

/// A span attribute's value as text.
pub fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| match &kv.value {
            Value::String(s) => s.to_string(),
            other => other.to_string(),
        })
}
