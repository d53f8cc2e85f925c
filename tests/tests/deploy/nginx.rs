//! `deploy/nginx/fundtrail.conf.template`, the gRPC entry point: every fundtrail service is
//! routed to the servers of a role that serves it, streams that follow the history are not
//! cut by the read timeout, health and reflection reach any server, every upstream is checked
//! passively and kept alive, and docker-compose.yml fills the template with the services that
//! run each role. tests/tests/entry.rs runs it for real.

use std::collections::{BTreeMap, BTreeSet};

use serde_yaml_ng::Value;

use crate::compose::{compose, compose_environment, compose_mounts, compose_services};
use crate::{
    COMPOSE, effective_config, listen_port, port_of, read, roles, serve_role, text, words,
};

const TEMPLATE: &str = "deploy/nginx/fundtrail.conf.template";

/// The placeholder naming the servers of each role.
const PLACEHOLDERS: [(&str, &str); 4] = [
    ("ENTRY_PLEDGES", "pledges"),
    ("ENTRY_MILESTONES", "milestones"),
    ("ENTRY_DISBURSEMENTS", "disbursements"),
    ("ENTRY_PROJECTOR", "projector"),
];
const LISTEN: &str = "ENTRY_LISTEN";

/// One nginx directive: its name, arguments and block.
#[derive(Debug)]
struct Directive {
    name: String,
    args: Vec<String>,
    block: Option<Vec<Directive>>,
}

impl Directive {
    fn children(&self, name: &str) -> impl Iterator<Item = &Directive> {
        self.block
            .iter()
            .flatten()
            .filter(move |child| child.name == name)
    }

    fn child(&self, name: &str) -> Option<&Directive> {
        self.children(name).next()
    }
}

/// The words of a configuration as nginx reads them: quoted strings unquoted, `{`, `}` and
/// `;` on their own, comments left out.
fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<String>| {
        if !word.is_empty() {
            out.push(std::mem::take(word));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '#' if word.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        break;
                    }
                }
            }
            '"' | '\'' if word.is_empty() => {
                let mut quoted = String::new();
                for q in chars.by_ref() {
                    if q == c {
                        break;
                    }
                    quoted.push(q);
                }
                out.push(quoted);
            }
            // `${name}` is a variable inside a word, not a block.
            '{' if word.ends_with('$') => {
                word.push(c);
                for v in chars.by_ref() {
                    word.push(v);
                    if v == '}' {
                        break;
                    }
                }
            }
            '{' | '}' | ';' => {
                flush(&mut word, &mut out);
                out.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

fn parse(tokens: &mut std::iter::Peekable<std::vec::IntoIter<String>>) -> Vec<Directive> {
    let mut directives = Vec::new();
    while let Some(name) = tokens.next() {
        if name == "}" {
            return directives;
        }
        let mut args = Vec::new();
        let mut block = None;
        for token in tokens.by_ref() {
            match token.as_str() {
                ";" => break,
                "{" => {
                    block = Some(parse(tokens));
                    break;
                }
                _ => args.push(token),
            }
        }
        directives.push(Directive { name, args, block });
    }
    directives
}

fn configuration() -> Directive {
    let mut tokens = tokens(&read(TEMPLATE)).into_iter().peekable();
    Directive {
        name: "main".to_owned(),
        args: Vec::new(),
        block: Some(parse(&mut tokens)),
    }
}

fn http(main: &Directive) -> &Directive {
    main.child("http")
        .unwrap_or_else(|| panic!("{TEMPLATE} has no http block"))
}

fn server(main: &Directive) -> &Directive {
    let servers: Vec<&Directive> = http(main).children("server").collect();
    assert_eq!(servers.len(), 1, "{TEMPLATE} has one server block");
    servers[0]
}

/// Each upstream, with the roles whose servers it lists.
fn upstreams(main: &Directive) -> BTreeMap<String, BTreeSet<&'static str>> {
    let mut out = BTreeMap::new();
    for upstream in http(main).children("upstream") {
        let name = upstream.args.first().expect("an upstream name").clone();
        let mut listed = BTreeSet::new();
        for line in upstream.children("server") {
            let address = line.args.first().expect("a server address");
            let Some((_, role)) = PLACEHOLDERS
                .iter()
                .find(|(placeholder, _)| address == &format!("${{{placeholder}}}"))
            else {
                panic!("{TEMPLATE}: upstream {name} lists {address}, no ENTRY_* placeholder")
            };
            listed.insert(*role);
            // Passive health checks: a failed server is left out for a while.
            for parameter in ["max_fails=", "fail_timeout="] {
                assert!(
                    line.args.iter().any(|a| a.starts_with(parameter)),
                    "{TEMPLATE}: upstream {name}, server {address} has no {parameter}…"
                );
            }
        }
        assert!(
            !listed.is_empty(),
            "{TEMPLATE}: upstream {name} lists no server"
        );
        assert!(
            upstream.child("keepalive").is_some(),
            "{TEMPLATE}: upstream {name} keeps no connections alive"
        );
        out.insert(name, listed);
    }
    out
}

/// The upstream a location passes its calls to.
fn passes_to(location: &Directive) -> Option<String> {
    let pass = location.child("grpc_pass")?;
    let target = pass.args.first()?;
    Some(
        target
            .strip_prefix("grpc://")
            .unwrap_or_else(|| panic!("{TEMPLATE}: grpc_pass {target} is not grpc://upstream"))
            .to_owned(),
    )
}

/// (exact, path) of each location, with the location.
fn locations(server: &Directive) -> Vec<(bool, String, &Directive)> {
    server
        .children("location")
        .filter_map(|location| match location.args.as_slice() {
            [modifier, path] if modifier == "=" => Some((true, path.clone(), location)),
            [path] if !path.starts_with('@') => Some((false, path.clone(), location)),
            _ => None,
        })
        .collect()
}

/// A duration in nginx's syntax (`60s`, `24h`, `1d`, a bare number of seconds), in seconds.
fn seconds(value: &str) -> u64 {
    let (number, unit) = value.split_at(
        value
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(value.len()),
    );
    let number: u64 = number
        .parse()
        .unwrap_or_else(|_| panic!("{TEMPLATE}: duration {value}"));
    number
        * match unit {
            "" | "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86400,
            other => panic!("{TEMPLATE}: duration unit {other}"),
        }
}

fn timeout(directive: &Directive, name: &str, inherited: u64) -> u64 {
    directive
        .child(name)
        .and_then(|d| d.args.first())
        .map_or(inherited, |value| seconds(value))
}

fn fundtrail_services() -> Vec<prost_reflect::ServiceDescriptor> {
    fundtrail_proto::reflect::descriptors()
        .expect("the descriptors")
        .services()
        .filter(|service| service.package_name() == "fundtrail.v1")
        .collect()
}

#[test]
fn every_service_goes_to_servers_of_a_role_that_serves_it() {
    let main = configuration();
    let upstreams = upstreams(&main);
    let server = server(&main);
    let locations = locations(server);
    let roles = roles();
    let route = |path: &str| -> Option<&(bool, String, &Directive)> {
        locations
            .iter()
            .find(|(exact, location, _)| !exact && location == path)
    };
    for service in fundtrail_services() {
        let name = service.full_name();
        let (_, _, location) = route(&format!("/{name}/"))
            .unwrap_or_else(|| panic!("{TEMPLATE} does not route {name}: add `location /{name}/`"));
        let upstream = passes_to(location)
            .unwrap_or_else(|| panic!("{TEMPLATE}: location /{name}/ passes nowhere"));
        let listed = upstreams.get(&upstream).unwrap_or_else(|| {
            panic!("{TEMPLATE}: /{name}/ passes to {upstream}, which is no upstream")
        });
        for role in listed {
            assert!(
                roles[*role].contains(&name),
                "{TEMPLATE}: /{name}/ goes to {upstream}, whose {role} servers do not serve it"
            );
        }
    }
    // Routes name services that exist.
    let known: BTreeSet<String> = fundtrail_services()
        .iter()
        .map(|s| format!("/{}/", s.full_name()))
        .collect();
    for (exact, path, _) in &locations {
        if !exact && path.starts_with("/fundtrail.") {
            assert!(
                known.contains(path),
                "{TEMPLATE} routes {path}, which is no service"
            );
        }
    }
}

#[test]
fn streams_that_follow_the_history_outlive_the_read_timeout() {
    let main = configuration();
    let server = server(&main);
    let locations = locations(server);
    let read = timeout(server, "grpc_read_timeout", 60);
    assert!(
        read <= 300,
        "{TEMPLATE}: unary calls wait {read} s for a server"
    );
    for service in fundtrail_services() {
        let prefix = locations
            .iter()
            .find(|(exact, path, _)| !exact && *path == format!("/{}/", service.full_name()))
            .and_then(|(_, _, location)| passes_to(location));
        for method in service
            .methods()
            .filter(prost_reflect::MethodDescriptor::is_server_streaming)
        {
            let path = format!("/{}/{}", service.full_name(), method.name());
            let (_, _, location) = locations
                .iter()
                .find(|(exact, p, _)| *exact && *p == path)
                .unwrap_or_else(|| {
                    panic!("{TEMPLATE}: the stream {path} has no `location = {path}` of its own")
                });
            assert_eq!(
                passes_to(location),
                prefix,
                "{TEMPLATE}: {path} goes elsewhere than its service"
            );
            for name in ["grpc_read_timeout", "grpc_send_timeout"] {
                let value = timeout(location, name, timeout(server, name, 60));
                assert!(
                    value >= 3600,
                    "{TEMPLATE}: {path} ends after {value} s without an update ({name})"
                );
            }
        }
    }
}

#[test]
fn health_and_reflection_reach_any_server() {
    let main = configuration();
    let upstreams = upstreams(&main);
    let locations = locations(server(&main));
    let every: BTreeSet<&str> = PLACEHOLDERS.iter().map(|(_, role)| *role).collect();
    for service in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
    ] {
        let path = format!("/{service}/");
        let (_, _, location) = locations
            .iter()
            .find(|(exact, p, _)| !exact && *p == path)
            .unwrap_or_else(|| panic!("{TEMPLATE} does not route {service}"));
        let upstream = passes_to(location).expect("a grpc_pass");
        assert_eq!(
            upstreams[&upstream], every,
            "{TEMPLATE}: {service} goes to {upstream}, which is not every server"
        );
    }
}

#[test]
fn listens_for_http2_and_skips_a_server_that_fails() {
    let main = configuration();
    let server = server(&main);
    let listen = server.child("listen").expect("a listen directive");
    assert_eq!(
        listen.args.first().map(String::as_str),
        Some("${ENTRY_LISTEN}")
    );
    assert!(
        listen.args.iter().any(|a| a == "http2"),
        "{TEMPLATE}: gRPC needs http2 on the listener"
    );
    let next = server
        .child("grpc_next_upstream")
        .expect("grpc_next_upstream");
    for condition in ["error", "timeout"] {
        assert!(
            next.args.iter().any(|a| a == condition),
            "{TEMPLATE}: grpc_next_upstream without {condition}"
        );
    }
    // Requests up to the servers' own limit get through.
    let body = server
        .child("client_max_body_size")
        .and_then(|d| d.args.first())
        .expect("client_max_body_size");
    assert_eq!(
        body, "4m",
        "{TEMPLATE}: tonic servers accept 4 MiB messages"
    );
    // Anything unrouted is answered as gRPC, UNIMPLEMENTED.
    let (_, _, fallback) = locations(server)
        .into_iter()
        .find(|(exact, path, _)| !exact && path == "/")
        .expect("a location / for what is not routed");
    assert!(
        fallback
            .children("add_header")
            .any(
                |h| h.args.first().map(String::as_str) == Some("grpc-status")
                    && h.args.get(1).map(String::as_str) == Some("12")
            ),
        "{TEMPLATE}: location / does not answer UNIMPLEMENTED"
    );
}

#[test]
fn compose_fills_the_template_with_the_servers_of_each_role() {
    let compose = compose();
    let services: BTreeMap<String, &Value> = compose_services(&compose).into_iter().collect();
    let template = read(TEMPLATE);
    let entries: Vec<(&String, &&Value)> = services
        .iter()
        .filter(|(_, service)| {
            compose_mounts(service)
                .iter()
                .any(|(source, _)| source.trim_start_matches("./") == TEMPLATE)
        })
        .collect();
    assert_eq!(
        entries.len(),
        1,
        "{COMPOSE}: one service runs the entry point"
    );
    let (name, entry) = entries[0];
    let whence = format!("{COMPOSE} service {name}");
    let (_, target) = compose_mounts(entry)
        .into_iter()
        .find(|(source, _)| source.trim_start_matches("./") == TEMPLATE)
        .expect("the mount");
    assert!(
        target.starts_with("/etc/nginx/templates/") && target.ends_with(".template"),
        "{whence}: the nginx image fills templates in /etc/nginx/templates/, not {target}"
    );
    let environment = compose_environment(entry);
    for placeholder in PLACEHOLDERS
        .iter()
        .map(|(placeholder, _)| *placeholder)
        .chain([LISTEN])
    {
        assert!(
            template.contains(&format!("${{{placeholder}}}")),
            "{TEMPLATE} no longer uses {placeholder}"
        );
        assert!(
            environment.contains_key(placeholder),
            "{whence} leaves {placeholder} unfilled"
        );
    }
    // Each role's placeholder names services running that role, where they listen.
    let image = crate::image::image_environment();
    for (placeholder, role) in PLACEHOLDERS {
        for address in environment[placeholder].split_whitespace() {
            let (host, port) = address
                .rsplit_once(':')
                .unwrap_or_else(|| panic!("{whence}: {placeholder} {address} is not host:port"));
            let target = services
                .get(host)
                .unwrap_or_else(|| panic!("{whence}: {placeholder} names {host}, no service"));
            let target_whence = format!("{COMPOSE} service {host}");
            let runs = serve_role(&words(target.get("command")), &target_whence);
            assert!(
                runs.as_deref() == Some(role) || runs.as_deref() == Some("all"),
                "{whence}: {placeholder} names {host}, which runs {runs:?}, not {role}"
            );
            let mut effective = image.clone();
            effective.extend(compose_environment(target));
            let config = effective_config(None, &effective, &target_whence);
            assert_eq!(
                port.parse::<u16>().ok(),
                Some(listen_port(&config, &target_whence)),
                "{whence}: {placeholder} {address} is not the port {host} listens on"
            );
        }
    }
    // The port it listens on is the one it publishes.
    let listen = port_of(&environment[LISTEN]).expect("ENTRY_LISTEN is host:port");
    let published: Vec<String> = crate::items(entry, &["ports"])
        .iter()
        .filter_map(crate::scalar)
        .collect();
    assert!(
        published
            .iter()
            .any(|port| port.ends_with(&format!(":{listen}"))),
        "{whence} listens on {listen} but publishes {published:?}"
    );
    // The image fills its templates only before running `nginx`.
    let command = words(entry.get("command"));
    assert!(
        command.first().is_none_or(|first| first == "nginx"),
        "{whence} runs {command:?}: the nginx image fills the template only for `nginx …`"
    );
    assert!(
        text(entry, &["image"]).is_some_and(|image| image.starts_with("nginx")),
        "{whence} does not run the nginx image"
    );
}
