//! The collector configuration and the Grafana dashboard in `deploy/` agree with the code:
//! they parse, the collector's pipelines are wired, and every metric and label the dashboard
//! queries is one the services emit, under the name Prometheus gives it.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use fundtrail_telemetry::metrics::{ALL, attr};
use serde_json::Value as Json;
use serde_yaml_ng::Value as Yaml;

fn deploy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy")
}

fn yaml(path: &Path) -> Yaml {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml_ng::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn at<'a>(value: &'a Yaml, path: &[&str]) -> &'a Yaml {
    path.iter().fold(value, |v, key| &v[*key])
}

fn names(value: &Yaml) -> Vec<String> {
    value
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn keys(value: &Yaml) -> BTreeSet<String> {
    value
        .as_mapping()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A component's type: `otlp/jaeger` is an `otlp` exporter named `jaeger`.
fn kind(component: &str) -> &str {
    component.split('/').next().unwrap_or_default()
}

#[test]
fn the_collector_receives_otlp_and_exports_traces_and_prometheus_metrics() {
    let config = yaml(&deploy().join("otel-collector.yaml"));
    let grpc = at(
        &config,
        &["receivers", "otlp", "protocols", "grpc", "endpoint"],
    );
    assert_eq!(
        grpc.as_str(),
        Some("0.0.0.0:4317"),
        "the services send OTLP/gRPC to 4317"
    );
    assert!(keys(&config["processors"]).contains("batch"));
    let pipelines = at(&config, &["service", "pipelines"]);
    for signal in ["traces", "metrics"] {
        let pipeline = &pipelines[signal];
        for (section, role) in [
            ("receivers", "receivers"),
            ("processors", "processors"),
            ("exporters", "exporters"),
        ] {
            let defined = keys(&config[section]);
            let used = names(&pipeline[role]);
            assert!(
                !used.is_empty() || role == "processors",
                "{signal} has no {role}"
            );
            for component in used {
                assert!(
                    defined.contains(&component),
                    "{signal} uses {component}, not defined in {section}"
                );
            }
        }
        assert!(names(&pipeline["receivers"]).contains(&"otlp".to_owned()));
        assert!(names(&pipeline["processors"]).contains(&"batch".to_owned()));
    }
    let traces = names(&pipelines["traces"]["exporters"]);
    assert!(
        traces
            .iter()
            .any(|e| matches!(kind(e), "otlp" | "otlphttp")),
        "{traces:?}"
    );
    let metrics = names(&pipelines["metrics"]["exporters"]);
    let prometheus: Vec<&String> = metrics.iter().filter(|e| kind(e) == "prometheus").collect();
    assert_eq!(prometheus.len(), 1, "{metrics:?}");
    let endpoint = config["exporters"][prometheus[0].as_str()]["endpoint"]
        .as_str()
        .unwrap();
    assert!(endpoint.ends_with(":8889"), "{endpoint}");
    // The dashboard selects services by the `service_name` label, which only this adds.
    assert_eq!(
        config["exporters"][prometheus[0].as_str()]["resource_to_telemetry_conversion"]["enabled"]
            .as_bool(),
        Some(true)
    );
    let extensions = keys(&config["extensions"]);
    for extension in names(at(&config, &["service", "extensions"])) {
        assert!(extensions.contains(&extension), "{extension}");
    }
}

/// What the `PromQL` of a panel uses: metric names, and label names (in matchers and groupings).
#[derive(Debug, Default)]
struct Used {
    metrics: BTreeSet<String>,
    labels: BTreeSet<String>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_' || c == ':'
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

const GROUPING: [&str; 6] = [
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
];
/// Words that are never metrics: binary operators, modifiers, and the aggregations, which may
/// take their grouping before their parentheses (`sum by (le) (…)`).
const KEYWORDS: [&str; 20] = [
    "and",
    "or",
    "unless",
    "bool",
    "offset",
    "atan2",
    "sum",
    "min",
    "max",
    "avg",
    "group",
    "stddev",
    "stdvar",
    "count",
    "count_values",
    "bottomk",
    "topk",
    "quantile",
    "limitk",
    "limit_ratio",
];

/// A small `PromQL` scanner: strings, ranges and Grafana variables are skipped; an identifier
/// inside `{…}` before an operator, or inside a grouping's parentheses, is a label; one
/// followed by `(` is a function; any other is a metric.
fn scan(expr: &str, used: &mut Used) {
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut braces = false;
    let mut grouping = false;
    let mut after_grouping_keyword = false;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '"' | '\'' | '`' => {
                i += 1;
                while i < chars.len() && chars[i] != c {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '[' => {
                while i < chars.len() && chars[i] != ']' {
                    i += 1;
                }
                i += 1;
            }
            '$' => {
                i += 1;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
            }
            '{' => {
                braces = true;
                i += 1;
            }
            '}' => {
                braces = false;
                i += 1;
            }
            '(' => {
                grouping = after_grouping_keyword;
                after_grouping_keyword = false;
                i += 1;
            }
            ')' => {
                grouping = false;
                i += 1;
            }
            c if c.is_ascii_digit() => {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < chars.len() && is_ident(chars[i]) {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let next = chars[i..].iter().find(|c| !c.is_whitespace()).copied();
                // `group_left` may stand without a list: only an immediate `(` is its list.
                after_grouping_keyword = false;
                if braces || grouping {
                    used.labels.insert(word);
                } else if GROUPING.contains(&word.as_str()) {
                    after_grouping_keyword = true;
                } else if next == Some('(') || KEYWORDS.contains(&word.as_str()) {
                    // A function, or an operator spelled as a word.
                } else {
                    used.metrics.insert(word);
                }
            }
            _ => i += 1,
        }
    }
}

/// Every `expr` under a JSON value.
fn exprs(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("expr", Json::String(expr)) => found.push(expr.clone()),
                    _ => exprs(value, found),
                }
            }
        }
        Json::Array(items) => items.iter().for_each(|v| exprs(v, found)),
        _ => {}
    }
}

fn dashboards() -> Vec<(PathBuf, Json)> {
    let folder = deploy().join("grafana/dashboards");
    let mut found: Vec<(PathBuf, Json)> = std::fs::read_dir(&folder)
        .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let json =
                serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            (path, json)
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(!found.is_empty(), "no dashboard in {}", folder.display());
    found
}

#[test]
fn the_dashboard_queries_only_metrics_and_labels_the_services_emit() {
    let emitted: BTreeSet<String> = ALL
        .iter()
        .flat_map(fundtrail_telemetry::metrics::MetricDef::prometheus_names)
        .collect();
    let labels: BTreeSet<String> = [
        attr::RPC_SERVICE,
        attr::RPC_METHOD,
        attr::RPC_STATUS,
        attr::SOURCE,
        attr::CATEGORY,
        attr::RELAY,
        attr::VIEW,
        attr::CONSUMER,
        attr::OUTCOME,
        attr::KIND,
        attr::STATE,
        // A histogram's bucket bound, and the resource's service name (the collector adds it).
        "le",
        "service.name",
    ]
    .iter()
    .map(|a| a.replace('.', "_"))
    .collect();
    let mut shown = BTreeSet::new();
    for (path, dashboard) in dashboards() {
        let mut found = Vec::new();
        exprs(&dashboard, &mut found);
        assert!(!found.is_empty(), "{}: no queries", path.display());
        let mut used = Used::default();
        for expr in &found {
            scan(expr, &mut used);
        }
        // Variables: `label_values(metric, label)`.
        for variable in dashboard["templating"]["list"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let query = variable["definition"].as_str().unwrap_or_default();
            if let Some(args) = query
                .strip_prefix("label_values(")
                .and_then(|q| q.strip_suffix(')'))
            {
                let (metric, label) = args.split_once(',').unwrap_or(("", args));
                used.metrics.insert(metric.trim().to_owned());
                used.labels.insert(label.trim().to_owned());
            }
        }
        for metric in &used.metrics {
            assert!(
                emitted.contains(metric),
                "{} queries {metric}, which no service emits; emitted: {emitted:?}",
                path.display()
            );
        }
        for label in &used.labels {
            assert!(
                labels.contains(label),
                "{} uses label {label}, which no metric carries",
                path.display()
            );
        }
        shown.extend(used.metrics);
        // Panels use the provisioned data sources.
        let provisioned = provisioned_datasources();
        let mut uids = Vec::new();
        datasource_uids(&dashboard, &mut uids);
        for uid in uids {
            assert!(
                provisioned.contains(&uid),
                "{} uses data source {uid}",
                path.display()
            );
        }
    }
    for def in ALL {
        assert!(
            def.prometheus_names().iter().any(|n| shown.contains(n)),
            "{} is on no dashboard",
            def.name
        );
    }
}

fn provisioned_datasources() -> BTreeSet<String> {
    let folder = deploy().join("grafana/provisioning/datasources");
    let mut uids = BTreeSet::new();
    for entry in std::fs::read_dir(&folder).unwrap().filter_map(Result::ok) {
        let config = yaml(&entry.path());
        for source in config["datasources"].as_sequence().into_iter().flatten() {
            uids.extend(source["uid"].as_str().map(str::to_owned));
        }
    }
    uids
}

fn datasource_uids(value: &Json, found: &mut Vec<String>) {
    match value {
        Json::Object(map) => {
            if let Some(Json::String(uid)) = map.get("datasource").and_then(|d| d.get("uid")) {
                found.push(uid.clone());
            }
            map.values().for_each(|v| datasource_uids(v, found));
        }
        Json::Array(items) => items.iter().for_each(|v| datasource_uids(v, found)),
        _ => {}
    }
}

#[test]
fn the_scanner_tells_metrics_from_labels_and_functions() {
    let mut used = Used::default();
    scan(
        r#"histogram_quantile(0.95, sum by (le, rpc_method) (rate(a_bucket{x=~"b.c", y!="d"}[$__rate_interval]))) / ignoring(z) group_left sum(b_total offset 5m) and on() vector(1)"#,
        &mut used,
    );
    assert_eq!(
        used.metrics.into_iter().collect::<Vec<_>>(),
        ["a_bucket", "b_total"]
    );
    assert_eq!(
        used.labels.into_iter().collect::<Vec<_>>(),
        ["le", "rpc_method", "x", "y", "z"]
    );
}
