//! `deploy/k8s`: the kustomization lists every manifest; every object is in the namespace;
//! the `ConfigMap` holds a configuration the binary accepts; each Deployment runs a service of
//! the distributed shape with the variables the binary reads, the Secrets and `ConfigMaps` it
//! refers to, and gRPC probes on the port it listens on; each Service reaches it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fundtrail_log::LogConfig;
use fundtrail_server::config::Config;
use serde_yaml_ng::{Mapping, Value};

use crate::image::image_environment;
use crate::{
    K8S, SHAPE, at, check_telemetry, check_variable, documents, effective_config, entries, items,
    listen_port, roles, root, scalar, serve_role, text, words,
};

/// The objects of every manifest, with the file each is in.
fn manifests() -> Vec<(String, Value)> {
    k8s_files()
        .into_iter()
        .filter(|file| file != "kustomization.yaml")
        .flat_map(|file| {
            documents(Path::new(K8S).join(&file))
                .into_iter()
                .map(move |object| (file.clone(), object))
        })
        .collect()
}

fn k8s_files() -> BTreeSet<String> {
    std::fs::read_dir(root().join(K8S))
        .expect("deploy/k8s")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            matches!(
                path.extension().and_then(|e| e.to_str()),
                Some("yaml" | "yml")
            )
        })
        .map(|path| {
            path.file_name()
                .and_then(|n| n.to_str())
                .expect("a file name")
                .to_owned()
        })
        .collect()
}

fn kustomization() -> Value {
    let mut documents = documents(Path::new(K8S).join("kustomization.yaml"));
    assert_eq!(documents.len(), 1, "kustomization.yaml is one document");
    documents.remove(0)
}

fn kind(object: &Value) -> &str {
    text(object, &["kind"]).expect("every object has a kind")
}

fn name(object: &Value) -> &str {
    text(object, &["metadata", "name"]).expect("every object has a name")
}

fn objects_of<'a>(objects: &'a [(String, Value)], wanted: &str) -> BTreeMap<String, &'a Value> {
    objects
        .iter()
        .filter(|(_, object)| kind(object) == wanted)
        .map(|(_, object)| (name(object).to_owned(), object))
        .collect()
}

/// The keys of a `ConfigMap` or Secret, with their values as text.
fn data(object: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for field in ["data", "stringData"] {
        for (key, value) in entries(object, &[field]) {
            out.insert(key, scalar(value).unwrap_or_default());
        }
    }
    out
}

fn labels(value: Option<&Value>) -> BTreeMap<String, String> {
    value
        .and_then(Value::as_mapping)
        .map(|mapping: &Mapping| {
            mapping
                .iter()
                .filter_map(|(k, v)| Some((scalar(k)?, scalar(v)?)))
                .collect()
        })
        .unwrap_or_default()
}

fn selects(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

#[test]
fn the_kustomization_lists_exactly_the_manifests() {
    let listed: Vec<String> = items(&kustomization(), &["resources"])
        .iter()
        .filter_map(scalar)
        .collect();
    let unique: BTreeSet<String> = listed.iter().cloned().collect();
    assert_eq!(
        unique.len(),
        listed.len(),
        "kustomization.yaml lists a file twice: {listed:?}"
    );
    let mut present = k8s_files();
    present.remove("kustomization.yaml");
    assert_eq!(
        unique, present,
        "kustomization.yaml must list every manifest in {K8S}, and only those"
    );
}

#[test]
fn every_object_is_named_once_in_the_namespace() {
    let objects = manifests();
    let namespaces = objects_of(&objects, "Namespace");
    assert_eq!(namespaces.len(), 1, "{K8S} defines one Namespace");
    let namespace = namespaces.keys().next().expect("one namespace");
    assert_eq!(
        text(&kustomization(), &["namespace"]),
        Some(namespace.as_str()),
        "the kustomization's namespace"
    );
    let mut seen = BTreeSet::new();
    for (file, object) in &objects {
        assert!(
            text(object, &["apiVersion"]).is_some(),
            "{file}: an object without apiVersion"
        );
        let (kind, name) = (kind(object), name(object));
        assert!(
            seen.insert((kind.to_owned(), name.to_owned())),
            "{file}: {kind} {name} is defined twice"
        );
        if kind != "Namespace" {
            assert_eq!(
                text(object, &["metadata", "namespace"]),
                Some(namespace.as_str()),
                "{file}: {kind} {name} is not in the namespace {namespace}"
            );
        }
    }
}

#[test]
fn the_config_map_holds_a_configuration_the_binary_accepts() {
    let objects = manifests();
    let mut found = 0;
    for (name, config_map) in objects_of(&objects, "ConfigMap") {
        for (key, value) in data(config_map) {
            if Path::new(&key).extension().and_then(|e| e.to_str()) != Some("toml") {
                continue;
            }
            found += 1;
            let config = toml::from_str::<Config>(&value).unwrap_or_else(|e| {
                panic!("ConfigMap {name}: {key} is not a fundtrail configuration: {e}")
            });
            config
                .validate()
                .unwrap_or_else(|e| panic!("ConfigMap {name}: {key}: {e:#}"));
            config
                .log
                .parse::<LogConfig>()
                .unwrap_or_else(|e| panic!("ConfigMap {name}: {key}: {e}"));
        }
    }
    assert!(found > 0, "{K8S} has no ConfigMap holding a fundtrail.toml");
}

/// One container's environment: literal values, values from Secrets and `ConfigMaps`, and
/// whole `ConfigMaps` or Secrets; checked against what exists.
fn container_environment(
    container: &Value,
    config_maps: &BTreeMap<String, &Value>,
    secrets: &BTreeMap<String, &Value>,
    whence: &str,
) -> BTreeMap<String, String> {
    let source = |kind: &str, name: &str| -> BTreeMap<String, String> {
        let objects = if kind == "Secret" {
            secrets
        } else {
            config_maps
        };
        let object = objects.get(name).unwrap_or_else(|| {
            panic!("{whence} uses the {kind} {name}, which {K8S} does not define")
        });
        data(object)
    };
    let mut environment = BTreeMap::new();
    for from in items(container, &["envFrom"]) {
        for (field, kind) in [("configMapRef", "ConfigMap"), ("secretRef", "Secret")] {
            if let Some(name) = text(from, &[field, "name"]) {
                let prefix = text(from, &["prefix"]).unwrap_or_default();
                for (key, value) in source(kind, name) {
                    environment.insert(format!("{prefix}{key}"), value);
                }
            }
        }
    }
    for variable in items(container, &["env"]) {
        let name = text(variable, &["name"]).expect("an env name").to_owned();
        let value = if let Some(value) = variable.get("value") {
            scalar(value).unwrap_or_default()
        } else {
            let mut found = None;
            for (field, kind) in [("secretKeyRef", "Secret"), ("configMapKeyRef", "ConfigMap")] {
                if let Some(reference) = at(variable, &["valueFrom", field]) {
                    let object = text(reference, &["name"]).expect("a name");
                    let key = text(reference, &["key"]).expect("a key");
                    let value = source(kind, object).remove(key);
                    assert!(
                        value.is_some(),
                        "{whence}: {name} comes from {kind} {object} key {key}, which it does not have"
                    );
                    found = value;
                }
            }
            // Anything else (fieldRef, resourceFieldRef) is filled in by Kubernetes.
            found.unwrap_or_default()
        };
        environment.insert(name, value);
    }
    environment
}

/// The files a container sees from its `ConfigMap` and Secret volumes: path to (kind, object,
/// key).
fn mounted_files(
    container: &Value,
    pod: &Value,
    config_maps: &BTreeMap<String, &Value>,
    secrets: &BTreeMap<String, &Value>,
    whence: &str,
) -> BTreeMap<String, (String, String, String)> {
    let volumes: BTreeMap<String, &Value> = items(pod, &["volumes"])
        .iter()
        .map(|volume| {
            (
                text(volume, &["name"]).expect("a volume name").to_owned(),
                volume,
            )
        })
        .collect();
    let mut files = BTreeMap::new();
    for mount in items(container, &["volumeMounts"]) {
        let volume_name = text(mount, &["name"]).expect("a mount name");
        let mount_path = text(mount, &["mountPath"])
            .expect("a mount path")
            .trim_end_matches('/');
        let volume = volumes.get(volume_name).unwrap_or_else(|| {
            panic!("{whence} mounts the volume {volume_name}, which the pod does not have")
        });
        for (field, name_field, kind, objects) in [
            ("configMap", "name", "ConfigMap", config_maps),
            ("secret", "secretName", "Secret", secrets),
        ] {
            let Some(source) = volume.get(field) else {
                continue;
            };
            let object = text(source, &[name_field]).expect("the volume names its object");
            let Some(defined) = objects.get(object) else {
                panic!(
                    "{whence}: volume {volume_name} is the {kind} {object}, which {K8S} does not define"
                );
            };
            let keys = data(defined);
            let projected: Vec<(String, String)> = if source.get("items").is_some() {
                items(source, &["items"])
                    .iter()
                    .map(|item| {
                        (
                            text(item, &["key"]).expect("a key").to_owned(),
                            text(item, &["path"]).expect("a path").to_owned(),
                        )
                    })
                    .collect()
            } else {
                keys.keys().map(|key| (key.clone(), key.clone())).collect()
            };
            for (key, path) in projected {
                assert!(
                    keys.contains_key(&key),
                    "{whence}: volume {volume_name} projects key {key}, which {kind} {object} does not have"
                );
                let file = match text(mount, &["subPath"]) {
                    Some(sub) if sub == path => mount_path.to_owned(),
                    Some(_) => continue,
                    None => format!("{mount_path}/{path}"),
                };
                files.insert(file, (kind.to_owned(), object.to_owned(), key));
            }
        }
    }
    files
}

#[test]
fn every_deployment_runs_a_service_configured_and_probed_as_the_binary_serves_it() {
    let objects = manifests();
    let config_maps = objects_of(&objects, "ConfigMap");
    let secrets = objects_of(&objects, "Secret");
    let deployments = objects_of(&objects, "Deployment");
    let image = image_environment();
    let images: BTreeSet<String> = items(&kustomization(), &["images"])
        .iter()
        .filter_map(|i| text(i, &["name"]))
        .map(str::to_owned)
        .collect();
    let mut deployed = BTreeSet::new();
    for (name, deployment) in &deployments {
        let pod = at(deployment, &["spec", "template", "spec"]).expect("a pod template");
        let selector = labels(at(deployment, &["spec", "selector", "matchLabels"]));
        let template = labels(at(deployment, &["spec", "template", "metadata", "labels"]));
        assert!(
            selects(&selector, &template),
            "Deployment {name}: its selector does not select its own pods"
        );
        assert!(
            at(pod, &["terminationGracePeriodSeconds"])
                .and_then(Value::as_u64)
                .is_some(),
            "Deployment {name}: no terminationGracePeriodSeconds"
        );
        assert_eq!(
            at(pod, &["enableServiceLinks"]).and_then(Value::as_bool),
            Some(false),
            "Deployment {name}: service links put variables named after Services (FUNDTRAIL_… among them) in the environment"
        );
        assert_eq!(
            at(pod, &["securityContext", "runAsNonRoot"]).and_then(Value::as_bool),
            Some(true),
            "Deployment {name}: runAsNonRoot"
        );
        let containers = items(pod, &["containers"]);
        assert!(
            !containers.is_empty(),
            "Deployment {name} has no containers"
        );
        for container in containers {
            let whence = format!(
                "Deployment {name} container {}",
                text(container, &["name"]).unwrap_or("?")
            );
            let image_name = text(container, &["image"]).expect("an image");
            assert!(
                images.contains(image_name.split(':').next().unwrap_or_default()),
                "{whence} runs {image_name}, which kustomization.yaml does not map to a registry"
            );
            for (setting, wanted) in [
                ("readOnlyRootFilesystem", true),
                ("allowPrivilegeEscalation", false),
            ] {
                assert_eq!(
                    at(container, &["securityContext", setting]).and_then(Value::as_bool),
                    Some(wanted),
                    "{whence}: securityContext.{setting}"
                );
            }
            for bound in ["requests", "limits"] {
                assert!(
                    at(container, &["resources", bound, "memory"]).is_some(),
                    "{whence}: no memory {bound}"
                );
            }
            assert!(
                text(container, &["command"]).is_none() && at(container, &["command"]).is_none(),
                "{whence} replaces the image's entrypoint"
            );
            let arguments = words(container.get("args"));
            let role = serve_role(&arguments, &whence)
                .unwrap_or_else(|| panic!("{whence} does not run `fundtrail serve`"));

            // The configuration the server starts with: the file FUNDTRAIL_CONFIG names, then
            // the image's variables, then the container's.
            let environment = container_environment(container, &config_maps, &secrets, &whence);
            for variable in environment.keys() {
                check_variable(variable, &whence);
            }
            let files = mounted_files(container, pod, &config_maps, &secrets, &whence);
            let file = environment.get("FUNDTRAIL_CONFIG").map(|path| {
                let (kind, object, key) = files.get(path).unwrap_or_else(|| {
                    panic!(
                        "{whence}: FUNDTRAIL_CONFIG is {path}, which no ConfigMap volume provides"
                    )
                });
                assert_eq!(
                    kind, "ConfigMap",
                    "{whence}: the configuration file comes from a {kind}"
                );
                data(config_maps[object])[key].clone()
            });
            let mut effective = image.clone();
            effective.extend(environment.clone());
            check_telemetry(&effective, &whence);
            let config = effective_config(file.as_deref(), &effective, &whence);
            let key = config.audit_signing_key.trim();
            if !key.is_empty() {
                let (kind, _, _) = files.get(key).unwrap_or_else(|| {
                    panic!("{whence}: the signing key {key} is not a file of a mounted Secret")
                });
                assert_eq!(
                    kind, "Secret",
                    "{whence}: the signing key comes from a {kind}, not a Secret"
                );
            }

            // It listens on its container port, and the probes ask the gRPC health service
            // there, readiness for this server's own API.
            let port = listen_port(&config, &whence);
            let ports: Vec<u64> = items(container, &["ports"])
                .iter()
                .filter_map(|p| at(p, &["containerPort"]).and_then(Value::as_u64))
                .collect();
            assert_eq!(
                ports,
                vec![u64::from(port)],
                "{whence}: the container port is not the port it listens on ({port})"
            );
            for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
                let Some(grpc) = at(container, &[probe, "grpc"]) else {
                    assert!(
                        probe == "startupProbe" && at(container, &[probe]).is_none(),
                        "{whence}: {probe} is not a gRPC probe"
                    );
                    continue;
                };
                assert_eq!(
                    at(grpc, &["port"]).and_then(Value::as_u64),
                    Some(u64::from(port)),
                    "{whence}: {probe} asks another port than {port}"
                );
                if let Some(service) = text(grpc, &["service"]) {
                    assert!(
                        roles()[role.as_str()].contains(&service),
                        "{whence}: {probe} asks for {service}, which `serve {role}` does not serve"
                    );
                }
            }
            deployed.insert(role);
        }
    }
    assert!(
        deployed.contains("all") || SHAPE.iter().all(|role| deployed.contains(*role)),
        "{K8S} runs {deployed:?}; the distributed shape needs {SHAPE:?}"
    );
}

#[test]
fn every_service_reaches_a_deployment_port() {
    let objects = manifests();
    let deployments = objects_of(&objects, "Deployment");
    for (name, service) in objects_of(&objects, "Service") {
        let selector = labels(at(service, &["spec", "selector"]));
        let targets: Vec<&Value> = deployments
            .values()
            .filter(|d| {
                selects(
                    &selector,
                    &labels(at(d, &["spec", "template", "metadata", "labels"])),
                )
            })
            .copied()
            .collect();
        assert_eq!(
            targets.len(),
            1,
            "Service {name} selects {} Deployments",
            targets.len()
        );
        let containers = items(targets[0], &["spec", "template", "spec", "containers"]);
        let container_ports: Vec<&Value> = containers
            .iter()
            .flat_map(|c| items(c, &["ports"]))
            .collect();
        for port in items(service, &["spec", "ports"]) {
            let target = port
                .get("targetPort")
                .or_else(|| port.get("port"))
                .expect("a port");
            let reached = container_ports.iter().any(|p| match target {
                Value::String(named) => text(p, &["name"]) == Some(named.as_str()),
                number => at(p, &["containerPort"]) == Some(number),
            });
            assert!(
                reached,
                "Service {name}: target port {target:?} is no container port of the Deployment it selects"
            );
        }
    }
}

/// The role a Service's pods run: `fundtrail serve <role>` in the Deployment it selects.
fn role_behind(
    service: &Value,
    deployments: &BTreeMap<String, &Value>,
    whence: &str,
) -> (String, Vec<Value>) {
    let selector = labels(at(service, &["spec", "selector"]));
    let deployment = deployments
        .values()
        .find(|d| {
            selects(
                &selector,
                &labels(at(d, &["spec", "template", "metadata", "labels"])),
            )
        })
        .unwrap_or_else(|| panic!("{whence}: the Service selects no Deployment"));
    let container = items(deployment, &["spec", "template", "spec", "containers"])
        .first()
        .expect("a container");
    let role = serve_role(&words(container.get("args")), whence)
        .unwrap_or_else(|| panic!("{whence}: its pods do not run `fundtrail serve`"));
    (role, items(service, &["spec", "ports"]).to_vec())
}

#[test]
fn the_grpc_route_sends_each_service_to_the_servers_of_a_role_serving_it() {
    let objects = manifests();
    let deployments = objects_of(&objects, "Deployment");
    let services = objects_of(&objects, "Service");
    let gateways = objects_of(&objects, "Gateway");
    let routes = objects_of(&objects, "GRPCRoute");
    assert!(!routes.is_empty(), "{K8S} has no GRPCRoute: no entry point");
    let roles = roles();
    let mut sent_somewhere = BTreeSet::new();
    for (name, route) in &routes {
        let whence = format!("GRPCRoute {name}");
        assert_eq!(
            text(route, &["apiVersion"]),
            Some("gateway.networking.k8s.io/v1"),
            "{whence}: GRPCRoute is GA in gateway.networking.k8s.io/v1"
        );
        for parent in items(route, &["spec", "parentRefs"]) {
            let gateway_name = text(parent, &["name"]).expect("a parent name");
            let gateway = gateways.get(gateway_name).unwrap_or_else(|| {
                panic!(
                    "{whence} attaches to the Gateway {gateway_name}, which {K8S} does not define"
                )
            });
            if let Some(section) = text(parent, &["sectionName"]) {
                let listener = items(gateway, &["spec", "listeners"])
                    .iter()
                    .find(|l| text(l, &["name"]) == Some(section))
                    .unwrap_or_else(|| {
                        panic!("{whence}: Gateway {gateway_name} has no listener {section}")
                    });
                assert!(
                    matches!(text(listener, &["protocol"]), Some("HTTP" | "HTTPS")),
                    "{whence}: a GRPCRoute attaches to an HTTP or HTTPS listener"
                );
            }
        }
        for rule in items(route, &["spec", "rules"]) {
            let matched: Vec<String> = items(rule, &["matches"])
                .iter()
                .map(|m| {
                    assert!(
                        text(m, &["method", "method"]).is_none(),
                        "{whence} routes single methods; the entry point routes whole services"
                    );
                    text(m, &["method", "service"])
                        .unwrap_or_else(|| panic!("{whence}: a match without a service"))
                        .to_owned()
                })
                .collect();
            let backends = items(rule, &["backendRefs"]);
            assert!(!backends.is_empty(), "{whence}: a rule without backends");
            let mut backend_roles = BTreeSet::new();
            for backend in backends {
                let service_name = text(backend, &["name"]).expect("a backend name");
                let backend_whence = format!("{whence} backend {service_name}");
                let service = services
                    .get(service_name)
                    .unwrap_or_else(|| panic!("{backend_whence}: {K8S} defines no such Service"));
                let (role, ports) = role_behind(service, &deployments, &backend_whence);
                let port = at(backend, &["port"]).expect("a backend port");
                assert!(
                    ports.iter().any(|p| at(p, &["port"]) == Some(port)),
                    "{backend_whence}: the Service has no port {port:?}"
                );
                backend_roles.insert(role);
            }
            for service in &matched {
                if service.starts_with("fundtrail.") {
                    for role in &backend_roles {
                        assert!(
                            roles[role.as_str()].contains(&service.as_str()),
                            "{whence} sends {service} to the {role} servers, which do not serve it"
                        );
                    }
                } else {
                    // Health and reflection: every server answers them.
                    assert!(
                        service.starts_with("grpc.health.")
                            || service.starts_with("grpc.reflection."),
                        "{whence} routes {service}, which no fundtrail server serves"
                    );
                }
                sent_somewhere.insert(service.clone());
            }
        }
    }
    for service in roles["all"].iter().copied().chain([
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
    ]) {
        assert!(
            sent_somewhere.contains(service),
            "{K8S}: no GRPCRoute sends {service} anywhere"
        );
    }
}
