//! The deployment files agree with the binary and with each other: `docker-compose.yml`,
//! `deploy/Dockerfile`, `.dockerignore`, the Kubernetes manifests in `deploy/k8s` and the
//! gRPC entry point's nginx configuration in `deploy/nginx`. Nothing
//! here starts a container; it catches what would otherwise fail only once deployed: a
//! variable the binary does not read, a service `fundtrail serve` does not know, a probe on
//! the wrong port, a reference to a Secret that is not there, a mount of a missing file.

#[path = "deploy/compose.rs"]
mod compose;
#[path = "deploy/image.rs"]
mod image;
#[path = "deploy/k8s.rs"]
mod k8s;
#[path = "deploy/nginx.rs"]
mod nginx;
#[path = "deploy/telemetry.rs"]
mod telemetry;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use fundtrail_log::LogConfig;
use fundtrail_proto::v1;
use fundtrail_server::config::{Config, ENVIRONMENT};
use serde::Deserialize;
use serde_yaml_ng::Value;

const COMPOSE: &str = "docker-compose.yml";
const DOCKERFILE: &str = "deploy/Dockerfile";
const K8S: &str = "deploy/k8s";
const COLLECTOR_CONFIG: &str = "deploy/otel-collector.yaml";

/// The services of the distributed shape: each must run somewhere (or `serve all` must).
const SHAPE: [&str; 4] = ["pledges", "milestones", "disbursements", "projector"];

// ---------------------------------------------------------------------------------------------
// The binary: what `fundtrail serve` takes, and what it reads from the environment.

/// Each service `fundtrail serve` takes, and the gRPC services a server of it answers.
fn roles() -> BTreeMap<&'static str, Vec<&'static str>> {
    let pledges = v1::pledges_server::SERVICE_NAME;
    let milestones = v1::milestones_server::SERVICE_NAME;
    let disbursements = v1::disbursements_server::SERVICE_NAME;
    let funding = v1::funding_server::SERVICE_NAME;
    let audit = v1::audit_server::SERVICE_NAME;
    let attention = v1::attention_server::SERVICE_NAME;
    BTreeMap::from([
        ("pledges", vec![pledges]),
        ("milestones", vec![milestones]),
        ("disbursements", vec![disbursements]),
        ("projector", vec![funding, audit, attention]),
        (
            "all",
            vec![
                pledges,
                milestones,
                disbursements,
                funding,
                audit,
                attention,
            ],
        ),
    ])
}

/// The values of `fundtrail serve <service>`, read from the binary's `enum Service` as clap
/// names them (kebab case).
fn serve_values_of_the_binary() -> BTreeSet<String> {
    let main = read("services/fundtrail/src/main.rs");
    let header = "enum Service {";
    let start = main.find(header).unwrap_or_else(|| {
        panic!("services/fundtrail/src/main.rs no longer declares `{header}`: update this test")
    });
    let body = &main[start + header.len()..];
    let body = &body[..body.find('}').expect("the enum ends")];
    body.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with("//") && !line.starts_with('#'))
        .map(|variant| kebab(variant.trim_end_matches(',')))
        .collect()
}

fn kebab(ident: &str) -> String {
    let mut out = String::new();
    for (i, c) in ident.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('-');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

#[test]
fn the_roles_are_the_services_fundtrail_serve_takes() {
    assert_eq!(
        roles()
            .keys()
            .map(|r| (*r).to_owned())
            .collect::<BTreeSet<_>>(),
        serve_values_of_the_binary(),
        "the services `fundtrail serve` takes changed: update roles() in this test"
    );
}

/// The `FUNDTRAIL_*` variables the server reads: the configuration's, and the file's path.
fn variables_the_binary_reads() -> BTreeSet<&'static str> {
    ENVIRONMENT
        .iter()
        .map(|(name, _)| *name)
        .chain(["FUNDTRAIL_CONFIG"])
        .collect()
}

fn check_variable(name: &str, whence: &str) {
    assert!(
        !name.starts_with("FUNDTRAIL_") || variables_the_binary_reads().contains(name),
        "{whence} sets {name}, which fundtrail does not read; it reads {:?}",
        variables_the_binary_reads()
    );
}

/// The configuration a server starts with: the file (when given), then the environment; it
/// must pass the checks the binary makes before it connects anywhere.
fn effective_config(
    file: Option<&str>,
    environment: &BTreeMap<String, String>,
    whence: &str,
) -> Config {
    let mut config = match file {
        Some(text) => toml::from_str::<Config>(text)
            .unwrap_or_else(|e| panic!("{whence}: the configuration file is not valid: {e}")),
        None => Config::default(),
    };
    config
        .apply_environment(|name| environment.get(name).cloned())
        .unwrap_or_else(|e| panic!("{whence}: {e:#}"));
    config
        .validate()
        .unwrap_or_else(|e| panic!("{whence}: {e:#}"));
    config
        .log
        .parse::<LogConfig>()
        .unwrap_or_else(|e| panic!("{whence}: {e}"));
    config
}

/// The telemetry variables as the servers accept them: OTLP over gRPC, to a collector's
/// gRPC port.
fn check_telemetry(environment: &BTreeMap<String, String>, whence: &str) {
    let Some(endpoint) = environment.get("OTEL_EXPORTER_OTLP_ENDPOINT") else {
        return;
    };
    if let Some(protocol) = environment.get("OTEL_EXPORTER_OTLP_PROTOCOL") {
        assert_eq!(
            protocol, "grpc",
            "{whence}: fundtrail exports OTLP over gRPC only"
        );
    }
    assert_eq!(
        port_of(endpoint),
        Some(4317),
        "{whence}: OTEL_EXPORTER_OTLP_ENDPOINT {endpoint} is not a collector's OTLP gRPC port"
    );
}

fn listen_port(config: &Config, whence: &str) -> u16 {
    config
        .listen_addr()
        .unwrap_or_else(|e| panic!("{whence}: {e:#}"))
        .port()
}

/// The hosts a store or log URL names (none for `embedded` and SQLite).
fn url_hosts(url: &str) -> Vec<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    if scheme == "sqlite" {
        return Vec::new();
    }
    let authority = rest.split(['/', '?']).next().unwrap_or_default();
    let authority = authority.rsplit('@').next().unwrap_or_default();
    authority
        .split(',')
        .map(|host_port| host(host_port).to_owned())
        .collect()
}

fn host(host_port: &str) -> &str {
    host_port
        .rsplit_once(':')
        .map_or(host_port, |(host, _)| host)
}

fn port_of(host_port: &str) -> Option<u16> {
    let authority = host_port
        .split_once("://")
        .map_or(host_port, |(_, rest)| rest);
    let authority = authority.split(['/', '?']).next().unwrap_or_default();
    authority.rsplit_once(':')?.1.parse().ok()
}

/// `fundtrail serve <service>`: the service, for a container that runs the image's
/// entrypoint with `serve`.
fn serve_role(arguments: &[String], whence: &str) -> Option<String> {
    if arguments.first().map(String::as_str) != Some("serve") {
        return None;
    }
    let role = arguments
        .get(1)
        .unwrap_or_else(|| panic!("{whence}: `serve` without a service"));
    assert!(
        roles().contains_key(role.as_str()),
        "{whence} runs `fundtrail serve {role}`, which is not a service; use one of {:?}",
        roles().keys()
    );
    Some(role.clone())
}

// ---------------------------------------------------------------------------------------------
// Reading files.

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ is in the workspace")
        .to_path_buf()
}

fn read(path: impl AsRef<Path>) -> String {
    let path = root().join(path);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// Every document of a YAML file, with merge keys (`<<: *anchor`) resolved as Compose and
/// kubectl resolve them, nested ones included.
fn documents(path: impl AsRef<Path>) -> Vec<Value> {
    let path = path.as_ref();
    let text = read(path);
    serde_yaml_ng::Deserializer::from_str(&text)
        .map(|document| {
            let mut value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
            resolve_merges(&mut value);
            value
        })
        .filter(|value| !value.is_null())
        .collect()
}

fn resolve_merges(value: &mut Value) {
    match value {
        Value::Mapping(mapping) => {
            for child in mapping.values_mut() {
                resolve_merges(child);
            }
            if let Some(merged) = mapping.remove("<<") {
                let sources = match merged {
                    Value::Sequence(sources) => sources,
                    source => vec![source],
                };
                for source in sources {
                    let Value::Mapping(source) = source else {
                        panic!("a merge key takes a mapping or a list of mappings");
                    };
                    for (key, value) in source {
                        mapping.entry(key).or_insert(value);
                    }
                }
            }
        }
        Value::Sequence(items) => items.iter_mut().for_each(resolve_merges),
        Value::Tagged(tagged) => resolve_merges(&mut tagged.value),
        _ => {}
    }
}

fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| value.get(*key))
}

fn text<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

/// A scalar as the text a container sees.
fn scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn items<'a>(value: &'a Value, path: &[&str]) -> &'a [Value] {
    at(value, path)
        .and_then(Value::as_sequence)
        .map_or(&[], Vec::as_slice)
}

fn entries<'a>(value: &'a Value, path: &[&str]) -> Vec<(String, &'a Value)> {
    at(value, path)
        .and_then(Value::as_mapping)
        .map(|mapping| {
            mapping
                .iter()
                .filter_map(|(k, v)| Some((scalar(k)?, v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A list of words, from the list or string form of a command.
fn words(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Sequence(list)) => list.iter().filter_map(scalar).collect(),
        Some(Value::String(line)) => line.split_whitespace().map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}
