//! `docker-compose.yml`: the services of the distributed shape, configured as the binary
//! reads its configuration, waiting for what they use, on distinct host ports, with what they
//! mount and build in the repository.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use crate::image::image_environment;
use crate::{
    COMPOSE, DOCKERFILE, SHAPE, at, check_telemetry, check_variable, documents, effective_config,
    entries, items, listen_port, root, scalar, serve_role, text, url_hosts, words,
};

pub(super) fn compose() -> Value {
    let mut documents = documents(COMPOSE);
    assert_eq!(documents.len(), 1, "{COMPOSE} is one document");
    documents.remove(0)
}

pub(super) fn compose_services(compose: &Value) -> Vec<(String, &Value)> {
    let services = entries(compose, &["services"]);
    assert!(!services.is_empty(), "{COMPOSE} defines no services");
    services
}

/// A value as Compose runs it with no variables set: `${NAME:-default}` and
/// `${NAME-default}` become the default, `${NAME}` and `$NAME` nothing, `$$` a `$`.
fn interpolate(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        rest = &rest[dollar + 1..];
        if let Some(after) = rest.strip_prefix('$') {
            out.push('$');
            rest = after;
        } else if let Some(after) = rest.strip_prefix('{') {
            let end = after
                .find('}')
                .expect("an unclosed ${ in docker-compose.yml");
            let expression = &after[..end];
            if let Some((_, default)) = expression
                .split_once(":-")
                .or_else(|| expression.split_once('-'))
            {
                out.push_str(default);
            }
            rest = &after[end + 1..];
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .unwrap_or(rest.len());
            rest = &rest[end..];
        }
    }
    out.push_str(rest);
    out
}

pub(super) fn compose_environment(service: &Value) -> BTreeMap<String, String> {
    match service.get("environment") {
        Some(Value::Mapping(mapping)) => mapping
            .iter()
            .map(|(k, v)| {
                let name = scalar(k).expect("a variable name");
                (name, interpolate(&scalar(v).unwrap_or_default()))
            })
            .collect(),
        Some(Value::Sequence(list)) => list
            .iter()
            .map(|item| {
                let item = item.as_str().expect("NAME=value");
                let (name, value) = item.split_once('=').unwrap_or((item, ""));
                (name.to_owned(), interpolate(value))
            })
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// Whether a Compose service runs the image `deploy/Dockerfile` builds.
fn runs_fundtrail_image(service: &Value) -> bool {
    text(service, &["build", "dockerfile"]) == Some(DOCKERFILE)
        || text(service, &["image"]).is_some_and(|image| image.starts_with("fundtrail"))
}

/// The (service, depends-on, condition) of every `depends_on` entry.
fn compose_dependencies(compose: &Value) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    for (name, service) in compose_services(compose) {
        match service.get("depends_on") {
            Some(Value::Sequence(list)) => {
                for dependency in list {
                    let dependency = dependency.as_str().expect("a service name").to_owned();
                    out.push((name.clone(), dependency, "service_started".to_owned()));
                }
            }
            Some(Value::Mapping(mapping)) => {
                for (dependency, how) in mapping {
                    let condition = text(how, &["condition"]).unwrap_or("service_started");
                    out.push((
                        name.clone(),
                        scalar(dependency).expect("a service name"),
                        condition.to_owned(),
                    ));
                }
            }
            _ => {}
        }
    }
    out
}

/// (published host port, container port) of a service's `ports`.
fn compose_ports(service: &Value) -> Vec<(Option<u16>, u16)> {
    items(service, &["ports"])
        .iter()
        .map(|port| {
            if port.is_mapping() {
                return (
                    at(port, &["published"])
                        .and_then(scalar)
                        .map(|p| p.parse().expect("a port")),
                    at(port, &["target"])
                        .and_then(Value::as_u64)
                        .map(|p| u16::try_from(p).expect("a port"))
                        .expect("a target port"),
                );
            }
            let spec = scalar(port).expect("a port");
            let spec = spec.split('/').next().unwrap_or_default();
            let parts: Vec<&str> = spec.split(':').collect();
            let number = |p: &str| -> u16 {
                p.parse()
                    .unwrap_or_else(|_| panic!("{COMPOSE}: port {spec:?} is not host:container"))
            };
            match parts.as_slice() {
                [container] => (None, number(container)),
                [host, container] | [_, host, container] => (Some(number(host)), number(container)),
                _ => panic!("{COMPOSE}: port {spec:?} is not [ip:]host:container"),
            }
        })
        .collect()
}

/// (source, target) of a service's `volumes`; the source is a path for bind mounts.
pub(super) fn compose_mounts(service: &Value) -> Vec<(String, String)> {
    items(service, &["volumes"])
        .iter()
        .map(|volume| {
            if volume.is_mapping() {
                return (
                    text(volume, &["source"]).unwrap_or_default().to_owned(),
                    text(volume, &["target"])
                        .expect("a mount target")
                        .to_owned(),
                );
            }
            let spec = volume.as_str().expect("source:target[:mode]");
            let mut parts = spec.split(':');
            let source = parts.next().unwrap_or_default().to_owned();
            let target = parts
                .next()
                .unwrap_or_else(|| panic!("{COMPOSE}: volume {spec:?} has no target"));
            (source, target.to_owned())
        })
        .collect()
}

pub(super) fn is_bind_source(source: &str) -> bool {
    source.starts_with('.') || source.starts_with('/') || source.starts_with('~')
}

/// The repository path a bind mount's source names (relative to docker-compose.yml).
pub(super) fn repository_path(source: &str) -> String {
    source
        .trim_start_matches("./")
        .trim_end_matches('/')
        .to_owned()
}

/// Whether `path` is `directory` or inside it.
pub(super) fn under(path: &str, directory: &str) -> bool {
    let directory = directory.trim_end_matches('/');
    path == directory || path.starts_with(&format!("{directory}/"))
}

#[test]
fn runs_every_service_of_the_distributed_shape_as_the_binary_reads_it() {
    let compose = compose();
    let services: BTreeMap<String, &Value> = compose_services(&compose).into_iter().collect();
    let dependencies = compose_dependencies(&compose);
    let image = image_environment();
    let mut deployed = BTreeSet::new();
    let mut telemetry_names = BTreeSet::new();
    for (name, service) in &services {
        let whence = format!("{COMPOSE} service {name}");
        let environment = compose_environment(service);
        for variable in environment.keys() {
            check_variable(variable, &whence);
        }
        if !runs_fundtrail_image(service) {
            continue;
        }
        assert!(
            service.get("build").is_some(),
            "{whence} runs the fundtrail image without building it: Compose would try to pull it"
        );
        if service.get("entrypoint").is_some() {
            continue;
        }
        let arguments = words(service.get("command"));
        let Some(role) = serve_role(&arguments, &whence) else {
            continue;
        };
        deployed.insert(role);

        // The variables the container gets: the image's, then the service's.
        let mut effective = image.clone();
        effective.extend(environment.clone());
        let config = effective_config(None, &effective, &whence);
        let port = listen_port(&config, &whence);
        for (_, container) in compose_ports(service) {
            assert_eq!(
                container, port,
                "{whence} publishes port {container} but listens on {port}"
            );
        }
        if let Some(check) = service.get("healthcheck") {
            let check = words(check.get("test")).join(" ");
            assert!(
                check.contains(&port.to_string()),
                "{whence}: the health check {check:?} does not ask port {port}"
            );
        }
        // The store and the log it names run in the stack, and it waits until they are up.
        for url in [&config.store, &config.log] {
            for host in url_hosts(url) {
                assert!(
                    services.contains_key(&host),
                    "{whence} uses {url}, but {host} is not a service"
                );
                assert!(
                    dependencies.iter().any(|(from, to, condition)| from == name
                        && *to == host
                        && condition == "service_healthy"),
                    "{whence} uses {host} without waiting for it to be healthy"
                );
            }
        }
        check_telemetry(&effective, &whence);
        if let Some(endpoint) = environment.get("OTEL_EXPORTER_OTLP_ENDPOINT") {
            let host = url_hosts(endpoint).pop().unwrap_or_default();
            assert!(
                services.contains_key(&host),
                "{whence} sends telemetry to {endpoint}, but {host} is not a service"
            );
        }
        if let Some(service_name) = environment.get("OTEL_SERVICE_NAME") {
            assert!(
                telemetry_names.insert(service_name.clone()),
                "{whence}: OTEL_SERVICE_NAME {service_name} is used twice"
            );
        }
        // The checkpoint signing key is a file in a volume the container mounts.
        let key = config.audit_signing_key.trim();
        if !key.is_empty() {
            assert!(
                compose_mounts(service)
                    .iter()
                    .any(|(_, target)| under(key, target) && key != target),
                "{whence}: the signing key {key} is not in a volume it mounts"
            );
        }
    }
    assert!(
        deployed.contains("all") || SHAPE.iter().all(|role| deployed.contains(*role)),
        "{COMPOSE} runs {deployed:?}; the distributed shape needs {SHAPE:?}"
    );
}

#[test]
fn dependencies_name_services_that_can_satisfy_them() {
    let compose = compose();
    let services: BTreeMap<String, &Value> = compose_services(&compose).into_iter().collect();
    for (from, to, condition) in compose_dependencies(&compose) {
        let Some(target) = services.get(&to) else {
            panic!("{COMPOSE}: {from} depends on {to}, which is not a service");
        };
        match condition.as_str() {
            "service_started" => {}
            "service_healthy" => {
                let test = words(at(target, &["healthcheck", "test"]));
                assert!(
                    !test.is_empty()
                        && test[0] != "NONE"
                        && at(target, &["healthcheck", "disable"]).and_then(Value::as_bool)
                            != Some(true),
                    "{COMPOSE}: {from} waits for {to} to be healthy, but {to} has no health check"
                );
            }
            "service_completed_successfully" => {
                let restart = text(target, &["restart"]).unwrap_or("no");
                assert!(
                    restart == "no" || restart == "on-failure",
                    "{COMPOSE}: {from} waits for {to} to finish, but {to} restarts ({restart})"
                );
            }
            other => panic!("{COMPOSE}: {from} depends on {to} with an unknown condition {other}"),
        }
    }
}

#[test]
fn publishes_each_host_port_once() {
    let compose = compose();
    let mut seen: BTreeMap<u16, String> = BTreeMap::new();
    for (name, service) in compose_services(&compose) {
        for (host, _) in compose_ports(service) {
            let Some(host) = host else { continue };
            if let Some(other) = seen.insert(host, name.clone()) {
                panic!("{COMPOSE}: {other} and {name} both publish host port {host}");
            }
        }
    }
}

#[test]
fn mounts_and_builds_what_is_in_the_repository() {
    let compose = compose();
    let volumes: BTreeSet<String> = entries(&compose, &["volumes"])
        .into_iter()
        .map(|(name, _)| name)
        .collect();
    let configs: BTreeMap<String, &Value> = entries(&compose, &["configs"]).into_iter().collect();
    for (name, config) in &configs {
        if let Some(file) = text(config, &["file"]) {
            assert!(
                root().join(repository_path(file)).exists(),
                "{COMPOSE}: config {name} is {file}, which does not exist"
            );
        } else {
            assert!(
                config.get("content").is_some(),
                "{COMPOSE}: config {name} has neither file nor content"
            );
        }
    }
    for (name, service) in compose_services(&compose) {
        let whence = format!("{COMPOSE} service {name}");
        for (source, _) in compose_mounts(service) {
            if is_bind_source(&source) {
                let path = repository_path(&source);
                assert!(
                    root().join(&path).exists(),
                    "{whence} mounts {path}, which is not in the repository"
                );
            } else if !source.is_empty() {
                assert!(
                    volumes.contains(&source),
                    "{whence} mounts the volume {source}, which is not declared"
                );
            }
        }
        for config in items(service, &["configs"]) {
            let source = config
                .as_str()
                .or_else(|| text(config, &["source"]))
                .expect("a config name");
            assert!(
                configs.contains_key(source),
                "{whence} uses the config {source}, which is not declared"
            );
        }
        if let Some(build) = service.get("build") {
            let context = build
                .as_str()
                .or_else(|| text(build, &["context"]))
                .unwrap_or(".");
            let context = repository_path(context);
            let dockerfile = text(build, &["dockerfile"]).unwrap_or("Dockerfile");
            let dockerfile = if context.is_empty() {
                dockerfile.to_owned()
            } else {
                format!("{context}/{dockerfile}")
            };
            assert!(
                root().join(&dockerfile).is_file(),
                "{whence} builds {dockerfile}, which does not exist"
            );
        }
    }
}
