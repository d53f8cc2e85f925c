//! The telemetry configuration `docker-compose.yml` mounts (the collector's, Grafana's
//! provisioning), once it is in the repository: it names the services of the stack and the
//! ports they use.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml_ng::Value;

use crate::compose::{
    compose, compose_environment, compose_mounts, compose_services, is_bind_source,
    repository_path, under,
};
use crate::{
    COLLECTOR_CONFIG, COMPOSE, documents, entries, host, items, port_of, root, scalar, text,
    url_hosts,
};

/// The collector's service in the stack and its configuration file, when both are there.
fn collector(compose: &Value) -> Option<(String, Value)> {
    let (name, _) = compose_services(compose).into_iter().find(|(_, service)| {
        compose_mounts(service)
            .iter()
            .any(|(source, _)| repository_path(source) == COLLECTOR_CONFIG)
    })?;
    let mut documents = documents(COLLECTOR_CONFIG);
    assert_eq!(documents.len(), 1, "{COLLECTOR_CONFIG} is one document");
    Some((name, documents.remove(0)))
}

/// Whether an endpoint names the container it is in (or every interface) rather than another
/// container.
fn is_local(host: &str) -> bool {
    host.is_empty()
        || host == "0.0.0.0"
        || host == "localhost"
        || host == "127.0.0.1"
        || host == "[::]"
        || host.contains("${")
}

#[test]
fn names_the_services_and_ports_of_the_stack() {
    let compose = compose();
    let services: BTreeMap<String, &Value> = compose_services(&compose).into_iter().collect();
    let Some((collector_name, config)) = collector(&compose) else {
        return;
    };
    // The receivers listen on every interface (the collector's default is localhost, which
    // no other container reaches), on the ports the services send to.
    for (protocol, port) in [("grpc", 4317), ("http", 4318)] {
        let Some(endpoint) = text(
            &config,
            &["receivers", "otlp", "protocols", protocol, "endpoint"],
        ) else {
            continue;
        };
        let host = host(endpoint);
        assert!(
            host != "localhost" && host != "127.0.0.1",
            "{COLLECTOR_CONFIG}: the OTLP {protocol} receiver listens on {endpoint}, out of the other containers' reach"
        );
        assert_eq!(
            port_of(endpoint),
            Some(port),
            "{COLLECTOR_CONFIG}: the OTLP {protocol} receiver is not on {port}"
        );
    }
    for (name, service) in &services {
        if let Some(endpoint) = compose_environment(service).get("OTEL_EXPORTER_OTLP_ENDPOINT")
            && url_hosts(endpoint).first() == Some(&collector_name)
        {
            assert!(
                matches!(port_of(endpoint), Some(4317 | 4318)),
                "{COMPOSE} service {name} sends to {endpoint}, not an OTLP port of the collector"
            );
        }
    }
    // Exporters send to services of the stack; a Prometheus exporter is scraped where it
    // listens.
    let scraped = scrape_targets(&compose);
    for (exporter, settings) in entries(&config, &["exporters"]) {
        let Some(endpoint) = text(settings, &["endpoint"]) else {
            continue;
        };
        let target_host = url_hosts(endpoint)
            .pop()
            .unwrap_or_else(|| host(endpoint).to_owned());
        if exporter == "prometheus" || exporter.starts_with("prometheus/") {
            let port = port_of(endpoint).expect("the Prometheus exporter's port");
            if !scraped.is_empty() {
                assert!(
                    scraped.contains(&format!("{collector_name}:{port}")),
                    "{COLLECTOR_CONFIG}: the Prometheus exporter listens on {port}, but Prometheus scrapes {scraped:?}"
                );
            }
        } else if !is_local(&target_host) {
            assert!(
                services.contains_key(&target_host),
                "{COLLECTOR_CONFIG}: exporter {exporter} sends to {endpoint}, but {target_host} is not a service of {COMPOSE}"
            );
        }
    }
    grafana_provisioning_matches(&compose, &services);
}

/// The `host:port` targets of the Prometheus configuration given inline in docker-compose.yml.
fn scrape_targets(compose: &Value) -> Vec<String> {
    let mut targets = Vec::new();
    for (_, config) in entries(compose, &["configs"]) {
        let Some(content) = text(config, &["content"]) else {
            continue;
        };
        let Ok(prometheus) = serde_yaml_ng::from_str::<Value>(content) else {
            continue;
        };
        for job in items(&prometheus, &["scrape_configs"]) {
            for group in items(job, &["static_configs"]) {
                targets.extend(items(group, &["targets"]).iter().filter_map(scalar));
            }
        }
    }
    targets
}

/// Grafana's provisioning, where it is mounted from the repository: its data sources are
/// services of the stack, and its dashboard folders are mounted.
fn grafana_provisioning_matches(compose: &Value, services: &BTreeMap<String, &Value>) {
    for (name, service) in compose_services(compose) {
        let mounts: Vec<(String, String)> = compose_mounts(service)
            .into_iter()
            .filter(|(source, _)| is_bind_source(source))
            .map(|(source, target)| (repository_path(&source), target))
            .collect();
        let Some((provisioning, _)) = mounts
            .iter()
            .find(|(_, target)| target.trim_end_matches('/') == "/etc/grafana/provisioning")
        else {
            continue;
        };
        let files = |folder: &str| -> Vec<PathBuf> {
            std::fs::read_dir(root().join(provisioning).join(folder))
                .map(|dir| {
                    dir.filter_map(Result::ok)
                        .map(|e| e.path())
                        .filter(|p| {
                            matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
                        })
                        .collect()
                })
                .unwrap_or_default()
        };
        for file in files("datasources") {
            for document in documents(&file) {
                for source in items(&document, &["datasources"]) {
                    let Some(url) = text(source, &["url"]) else {
                        continue;
                    };
                    let host = url_hosts(url).pop().unwrap_or_default();
                    assert!(
                        is_local(&host) || services.contains_key(&host),
                        "{}: data source {url} is not a service of {COMPOSE}",
                        file.display()
                    );
                }
            }
        }
        for file in files("dashboards") {
            for document in documents(&file) {
                for provider in items(&document, &["providers"]) {
                    let Some(path) = text(provider, &["options", "path"]) else {
                        continue;
                    };
                    let mounted = mounts.iter().find(|(_, target)| under(path, target));
                    let Some((source, target)) = mounted else {
                        panic!(
                            "{}: dashboards are read from {path}, which {COMPOSE} service {name} does not mount",
                            file.display()
                        );
                    };
                    let inside = path
                        .trim_start_matches(target.trim_end_matches('/'))
                        .trim_start_matches('/');
                    let repository = if inside.is_empty() {
                        source.clone()
                    } else {
                        format!("{source}/{inside}")
                    };
                    assert!(
                        root().join(&repository).exists(),
                        "{}: dashboards are read from {path}, which is {repository}, not in the repository",
                        file.display()
                    );
                }
            }
        }
    }
}
