//! Every metric fundtrail emits: its name, unit and kind ([`ALL`]), the name Prometheus shows
//! it under once the collector translates it ([`MetricDef::prometheus_names`]), and the
//! instruments ([`metrics`]).
//!
//! Dashboards and alerts are written against the Prometheus names; a test checks that every
//! name they use is one of these.

use std::sync::{Arc, PoisonError, RwLock};

use opentelemetry::metrics::{Counter, Gauge, Histogram, Meter};

pub const RPC_DURATION: &str = "fundtrail.rpc.server.duration";
pub const EVENTS_APPENDED: &str = "fundtrail.events.appended";
pub const RELAY_PUBLISHED: &str = "fundtrail.relay.published";
pub const RELAY_LAG: &str = "fundtrail.relay.lag";
pub const RELAY_OLDEST_UNPUBLISHED_AGE: &str = "fundtrail.relay.oldest_unpublished.age";
pub const PROJECTION_LAG: &str = "fundtrail.projection.lag";
pub const CONSUMER_EVENTS: &str = "fundtrail.consumer.events";
pub const CONSUMER_DUPLICATES: &str = "fundtrail.consumer.duplicates";
pub const CONSUMER_ERRORS: &str = "fundtrail.consumer.errors";
pub const CONSUMER_UNKNOWN_EVENTS: &str = "fundtrail.consumer.unknown_events";
pub const ATTENTION_ITEMS: &str = "fundtrail.attention.items";

/// Attribute keys the metrics carry.
pub mod attr {
    /// `fundtrail.v1.Pledges`.
    pub const RPC_SERVICE: &str = "rpc.service";
    /// `RecordPledge`.
    pub const RPC_METHOD: &str = "rpc.method";
    /// The gRPC status code's name: `OK`, `FAILED_PRECONDITION`…
    pub const RPC_STATUS: &str = "rpc.response.status_code";
    /// The service that appended: `pledges`, `milestones`, `disbursements`.
    pub const SOURCE: &str = "fundtrail.source";
    /// The stream category: `pledge`, `project`…
    pub const CATEGORY: &str = "fundtrail.category";
    /// The relay's name: `relay.kafka`, `relay.nats`.
    pub const RELAY: &str = "fundtrail.relay";
    /// `country_funding`, `donor_statements`, `fund_overview`.
    pub const VIEW: &str = "fundtrail.view";
    /// A process manager's name or `projector`.
    pub const CONSUMER: &str = "fundtrail.consumer";
    /// What a consumer did with an event: `written`, `skipped`, `applied`, `unknown` (a type
    /// this version does not know), or why it parked it: `undecodable`, `failed`, `refused`.
    pub const OUTCOME: &str = "fundtrail.outcome";
    /// Why an event needs attention: `undecodable`, `failed`, `refused`.
    pub const KIND: &str = "fundtrail.attention.kind";
    /// Where an item needing attention stands: `open`, `redrive_requested`.
    pub const STATE: &str = "fundtrail.attention.state";
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Histogram,
    Gauge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDef {
    pub name: &'static str,
    /// UCUM, as OpenTelemetry wants it: `s`, or an annotation like `{event}`.
    pub unit: &'static str,
    pub kind: Kind,
    pub description: &'static str,
}

pub const ALL: &[MetricDef] = &[
    MetricDef {
        name: RPC_DURATION,
        unit: "s",
        kind: Kind::Histogram,
        description: "Time to answer a gRPC call (to the first response for streams), by service, method and status code.",
    },
    MetricDef {
        name: EVENTS_APPENDED,
        unit: "{event}",
        kind: Kind::Counter,
        description: "Events appended to the store by commands and process managers (not replays).",
    },
    MetricDef {
        name: RELAY_PUBLISHED,
        unit: "{event}",
        kind: Kind::Counter,
        description: "Events the broker acknowledged from this relay, republished ones included.",
    },
    MetricDef {
        name: RELAY_LAG,
        unit: "{position}",
        kind: Kind::Gauge,
        description: "Positions stored but not yet published by the relay.",
    },
    MetricDef {
        name: RELAY_OLDEST_UNPUBLISHED_AGE,
        unit: "s",
        kind: Kind::Gauge,
        description: "How long the oldest event not yet published has been stored (0 when none).",
    },
    MetricDef {
        name: PROJECTION_LAG,
        unit: "{position}",
        kind: Kind::Gauge,
        description: "Positions stored but not yet in the view.",
    },
    MetricDef {
        name: CONSUMER_EVENTS,
        unit: "{event}",
        kind: Kind::Counter,
        description: "Events a consumer handled, by outcome.",
    },
    MetricDef {
        name: CONSUMER_DUPLICATES,
        unit: "{event}",
        kind: Kind::Counter,
        description: "Redelivered events a consumer dropped because it had handled them already.",
    },
    MetricDef {
        name: CONSUMER_ERRORS,
        unit: "{error}",
        kind: Kind::Counter,
        description: "Failures after which a consumer resumed from its cursor.",
    },
    MetricDef {
        name: CONSUMER_UNKNOWN_EVENTS,
        unit: "{event}",
        kind: Kind::Counter,
        description: "Events of a type this version does not know, which a consumer skipped.",
    },
    MetricDef {
        name: ATTENTION_ITEMS,
        unit: "{item}",
        kind: Kind::Gauge,
        description: "Events consumers parked that still need attention, by consumer, kind and state.",
    },
];

impl MetricDef {
    /// The base name the collector's Prometheus exporter gives it: dots become underscores,
    /// the unit is spelled out (`_seconds`; annotations in braces add nothing), and counters
    /// end in `_total`.
    pub fn prometheus_name(&self) -> String {
        let mut name: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        let unit = match self.unit {
            "s" => "seconds",
            "ms" => "milliseconds",
            "By" => "bytes",
            "1" if self.kind == Kind::Gauge => "ratio",
            _ => "",
        };
        if !unit.is_empty() && !name.ends_with(unit) {
            name.push('_');
            name.push_str(unit);
        }
        if self.kind == Kind::Counter {
            name.push_str("_total");
        }
        name
    }

    /// Every series name a query may use: a histogram's `_bucket`, `_sum` and `_count` too.
    pub fn prometheus_names(&self) -> Vec<String> {
        let base = self.prometheus_name();
        match self.kind {
            Kind::Histogram => ["", "_bucket", "_sum", "_count"]
                .iter()
                .map(|suffix| format!("{base}{suffix}"))
                .collect(),
            Kind::Counter | Kind::Gauge => vec![base],
        }
    }
}

/// Latency buckets in seconds, from a cached read to a contended command.
const DURATION_BOUNDARIES: [f64; 14] = [
    0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The instruments, made from the global meter provider.
#[derive(Debug)]
pub struct Metrics {
    pub rpc_duration: Histogram<f64>,
    pub events_appended: Counter<u64>,
    pub relay_published: Counter<u64>,
    pub relay_lag: Gauge<u64>,
    pub relay_oldest_unpublished_age: Gauge<f64>,
    pub projection_lag: Gauge<u64>,
    pub consumer_events: Counter<u64>,
    pub consumer_duplicates: Counter<u64>,
    pub consumer_errors: Counter<u64>,
    pub consumer_unknown_events: Counter<u64>,
    pub attention_items: Gauge<u64>,
}

fn def(name: &str) -> &'static MetricDef {
    ALL.iter().find(|d| d.name == name).unwrap_or(&ALL[0])
}

impl Metrics {
    fn new(meter: &Meter) -> Self {
        let counter = |name| {
            let d = def(name);
            meter
                .u64_counter(d.name)
                .with_unit(d.unit)
                .with_description(d.description)
                .build()
        };
        let gauge = |name| {
            let d = def(name);
            meter
                .u64_gauge(d.name)
                .with_unit(d.unit)
                .with_description(d.description)
                .build()
        };
        let rpc = def(RPC_DURATION);
        let age = def(RELAY_OLDEST_UNPUBLISHED_AGE);
        Self {
            rpc_duration: meter
                .f64_histogram(rpc.name)
                .with_unit(rpc.unit)
                .with_description(rpc.description)
                .with_boundaries(DURATION_BOUNDARIES.to_vec())
                .build(),
            events_appended: counter(EVENTS_APPENDED),
            relay_published: counter(RELAY_PUBLISHED),
            relay_lag: gauge(RELAY_LAG),
            relay_oldest_unpublished_age: meter
                .f64_gauge(age.name)
                .with_unit(age.unit)
                .with_description(age.description)
                .build(),
            projection_lag: gauge(PROJECTION_LAG),
            consumer_events: counter(CONSUMER_EVENTS),
            consumer_duplicates: counter(CONSUMER_DUPLICATES),
            consumer_errors: counter(CONSUMER_ERRORS),
            consumer_unknown_events: counter(CONSUMER_UNKNOWN_EVENTS),
            attention_items: gauge(ATTENTION_ITEMS),
        }
    }
}

static INSTRUMENTS: RwLock<Option<Arc<Metrics>>> = RwLock::new(None);

/// The instruments on the meter provider installed now; without one they record nothing.
/// Fetch them where they are used rather than keeping them: a provider installed later (a
/// test's recorder) replaces them.
pub fn metrics() -> Arc<Metrics> {
    if let Some(metrics) = INSTRUMENTS
        .read()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
    {
        return metrics.clone();
    }
    INSTRUMENTS
        .write()
        .unwrap_or_else(PoisonError::into_inner)
        .get_or_insert_with(|| Arc::new(Metrics::new(&opentelemetry::global::meter("fundtrail"))))
        .clone()
}

/// Instruments made before a provider was installed would record into the no-op one.
pub(crate) fn reset() {
    *INSTRUMENTS.write().unwrap_or_else(PoisonError::into_inner) = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_translate_as_the_collector_does() {
        let mut names: Vec<&str> = ALL.iter().map(|d| d.name).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
        assert_eq!(
            def(RPC_DURATION).prometheus_names(),
            [
                "fundtrail_rpc_server_duration_seconds",
                "fundtrail_rpc_server_duration_seconds_bucket",
                "fundtrail_rpc_server_duration_seconds_sum",
                "fundtrail_rpc_server_duration_seconds_count",
            ]
        );
        assert_eq!(
            def(EVENTS_APPENDED).prometheus_name(),
            "fundtrail_events_appended_total"
        );
        assert_eq!(
            def(PROJECTION_LAG).prometheus_name(),
            "fundtrail_projection_lag"
        );
        assert_eq!(
            def(RELAY_OLDEST_UNPUBLISHED_AGE).prometheus_name(),
            "fundtrail_relay_oldest_unpublished_age_seconds"
        );
    }
}
