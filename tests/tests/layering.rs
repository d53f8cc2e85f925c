//! The crates' layering (docs/architecture.md §10), checked on the workspace's own manifests:
//! a dependency added in the wrong direction fails here, naming the edge, before code grows
//! around it.
//!
//! Only declared dependencies count, read with `cargo metadata --no-deps`: the layering is
//! about what a crate's manifest says it needs, and reading the manifests needs neither the
//! network nor a resolved lock file.
//!
//! Longer than most files on purpose: the check and the hand-made graphs that test it belong
//! together.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;

/// The layers, lowest first. A crate's normal dependencies are crates of lower layers only, so
/// the crates of one layer know nothing of each other. Dev-dependencies do not count: a test
/// may reach anything (except the binary).
///
/// A workspace crate missing from this table fails the check until it is given a place; a name
/// here that no crate has yet (a crate being moved) is allowed.
const LAYERS: &[&[&str]] = &[
    &["fundtrail-domain"],
    &["fundtrail-proto"],
    &["fundtrail-telemetry"],
    &["fundtrail-store", "fundtrail-identity"],
    &["fundtrail-verifier"],
    &["fundtrail-log", "fundtrail-projections"],
    &["fundtrail-audit", "fundtrail-reports", "fundtrail-service"],
    &[
        "fundtrail-pledges",
        "fundtrail-milestones",
        "fundtrail-disbursements",
        "fundtrail-projector",
    ],
    &["fundtrail-web"],
    &["fundtrail-server", "fundtrail-client"],
    &["fundtrail-demo", "fundtrail-operator", "fundtrail-bench"],
    &["fundtrail"],
    &["fundtrail-tests"],
];

const DOMAIN: &str = "fundtrail-domain";
const BINARY: &str = "fundtrail";
const VERIFIER: &str = "fundtrail-verifier";

/// What an auditor's verifier must not lean on, directly or through other workspace crates:
/// the code whose output it checks.
const VERIFIER_MUST_NOT_REACH: &[&str] = &["fundtrail-store", "fundtrail-projections"];

/// Crates that do I/O, run async code or speak a wire format, each standing for its family
/// (`tokio` also for `tokio-util`, `async` for `async-nats` and `async-trait`…). The domain
/// depends on none of them.
const IO_FAMILIES: &str = "async axum futures h2 http hyper libsqlite3 mio nats opentelemetry \
    postgres prost rdkafka reqwest rusqlite smol socket2 sqlx tokio tonic tower tracing-subscriber \
    ureq";

fn is_io_crate(name: &str) -> bool {
    IO_FAMILIES.split_whitespace().any(|family| {
        name.strip_prefix(family)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['-', '_']))
    })
}

fn layer_of(name: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&name))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Normal,
    Build,
    Dev,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Normal => "normal",
            Self::Build => "build",
            Self::Dev => "dev",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Dependency {
    name: String,
    kind: Kind,
}

/// The workspace's crates, each with the dependencies its manifest declares (workspace crates
/// and outside ones alike).
#[derive(Debug, Default)]
struct Graph {
    crates: BTreeMap<String, Vec<Dependency>>,
}

impl Graph {
    /// The workspace members of `cargo metadata --format-version 1` output (with or without
    /// `--no-deps`).
    fn from_metadata(metadata: &Value) -> Result<Self, String> {
        let members: BTreeSet<&str> = metadata["workspace_members"]
            .as_array()
            .ok_or("no workspace_members")?
            .iter()
            .map(|id| id.as_str().ok_or("a workspace member id is not a string"))
            .collect::<Result<_, _>>()?;
        let mut graph = Self::default();
        for package in metadata["packages"].as_array().ok_or("no packages")? {
            let id = package["id"].as_str().ok_or("a package without an id")?;
            if !members.contains(id) {
                continue;
            }
            let name = package["name"].as_str().ok_or("a package without a name")?;
            let mut dependencies = Vec::new();
            for dependency in package["dependencies"]
                .as_array()
                .ok_or_else(|| format!("{name}: no dependencies list"))?
            {
                let dependency_name = dependency["name"]
                    .as_str()
                    .ok_or_else(|| format!("{name}: a dependency without a name"))?;
                let kind = match dependency["kind"].as_str() {
                    None => Kind::Normal,
                    Some("build") => Kind::Build,
                    Some("dev") => Kind::Dev,
                    Some(other) => {
                        return Err(format!("{name} -> {dependency_name}: kind {other:?}"));
                    }
                };
                dependencies.push(Dependency {
                    name: dependency_name.to_owned(),
                    kind,
                });
            }
            graph.crates.insert(name.to_owned(), dependencies);
        }
        Ok(graph)
    }

    fn is_member(&self, name: &str) -> bool {
        self.crates.contains_key(name)
    }

    /// The workspace crates `name` needs to build its library and binaries.
    fn normal_members<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a str> {
        self.crates
            .get(name)
            .into_iter()
            .flatten()
            .filter(|d| d.kind == Kind::Normal && self.is_member(&d.name))
            .map(|d| d.name.as_str())
    }
}

/// One broken rule, naming the edge that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Violation {
    DomainDoesIo {
        dependency: String,
    },
    DomainOnWorkspace {
        dependency: String,
    },
    OnBinary {
        from: String,
        kind: Kind,
    },
    /// The shortest chain of normal dependencies from the verifier to what it must not reach.
    VerifierReaches {
        path: Vec<String>,
    },
    Upward {
        from: String,
        from_layer: usize,
        to: String,
        to_layer: usize,
    },
    Unplaced {
        name: String,
    },
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::DomainDoesIo { dependency } => write!(
                f,
                "{DOMAIN} -> {dependency}: the domain is a pure model, without I/O, async or \
                 wire types; do the I/O in the crate that calls the domain"
            ),
            Self::DomainOnWorkspace { dependency } => write!(
                f,
                "{DOMAIN} -> {dependency}: the domain depends on no other workspace crate"
            ),
            Self::OnBinary { from, kind } => write!(
                f,
                "{from} -> {BINARY} ({kind} dependency): nothing depends on the binary, whose \
                 main.rs is the command line only; move what is needed into a library crate"
            ),
            Self::VerifierReaches { path } => write!(
                f,
                "{}: the verifier must not rely on the store or the projections whose output \
                 it checks",
                path.join(" -> ")
            ),
            Self::Upward {
                from,
                from_layer,
                to,
                to_layer,
            } => write!(
                f,
                "{from} (layer {from_layer}) -> {to} (layer {to_layer}): a crate depends only on \
                 crates of lower layers"
            ),
            Self::Unplaced { name } => write!(
                f,
                "{name} has no layer: give it one in LAYERS (tests/tests/layering.rs) and in \
                 the crate table of docs/architecture.md"
            ),
        }
    }
}

/// Every broken rule of the layering in `graph`, in a stable order.
fn violations(graph: &Graph) -> Vec<Violation> {
    let mut found = BTreeSet::new();
    for (name, dependencies) in &graph.crates {
        for dependency in dependencies {
            if dependency.name == BINARY {
                found.insert(Violation::OnBinary {
                    from: name.clone(),
                    kind: dependency.kind,
                });
            }
            if name == DOMAIN && dependency.kind != Kind::Dev {
                if is_io_crate(&dependency.name) {
                    found.insert(Violation::DomainDoesIo {
                        dependency: dependency.name.clone(),
                    });
                }
                if graph.is_member(&dependency.name) {
                    found.insert(Violation::DomainOnWorkspace {
                        dependency: dependency.name.clone(),
                    });
                }
            }
        }
        let Some(from_layer) = layer_of(name) else {
            found.insert(Violation::Unplaced { name: name.clone() });
            continue;
        };
        // The domain's and the binary's own rules already name these edges.
        if name == DOMAIN {
            continue;
        }
        for to in graph.normal_members(name).filter(|to| *to != BINARY) {
            if let Some(to_layer) = layer_of(to)
                && to_layer >= from_layer
            {
                found.insert(Violation::Upward {
                    from: name.clone(),
                    from_layer,
                    to: to.to_owned(),
                    to_layer,
                });
            }
        }
    }
    found.extend(verifier_reaches(graph));
    found.into_iter().collect()
}

/// Breadth first over normal dependencies among workspace crates, so each forbidden crate is
/// reported along its shortest chain.
fn verifier_reaches(graph: &Graph) -> Vec<Violation> {
    if !graph.is_member(VERIFIER) {
        return Vec::new();
    }
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([VERIFIER]);
    let mut reached = Vec::new();
    while let Some(current) = queue.pop_front() {
        for next in graph.normal_members(current) {
            if next == VERIFIER || came_from.contains_key(next) {
                continue;
            }
            came_from.insert(next, current);
            if VERIFIER_MUST_NOT_REACH.contains(&next) {
                let mut path = vec![next.to_owned()];
                let mut at = next;
                while let Some(&before) = came_from.get(at) {
                    path.push(before.to_owned());
                    at = before;
                }
                path.reverse();
                reached.push(Violation::VerifierReaches { path });
            }
            queue.push_back(next);
        }
    }
    reached
}

fn workspace_metadata() -> Value {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| panic!("the tests package lives inside the workspace"));
    let output = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--manifest-path",
        ])
        .arg(root.join("Cargo.toml"))
        .output()
        .unwrap_or_else(|error| panic!("running cargo metadata: {error}"));
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|error| panic!("cargo metadata printed no JSON: {error}"))
}

#[test]
fn the_workspace_keeps_its_layers() {
    let graph = Graph::from_metadata(&workspace_metadata())
        .unwrap_or_else(|error| panic!("reading cargo metadata: {error}"));
    for name in [DOMAIN, BINARY, "fundtrail-tests"] {
        assert!(graph.is_member(name), "{name} is not in the workspace");
    }
    let found = violations(&graph);
    assert!(
        found.is_empty(),
        "the crate layering is broken (docs/architecture.md §10):\n  {}",
        found
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n  ")
    );
}

/// The rules on hand-made graphs, one kind of violation at a time.
mod rules {
    use super::*;

    /// A graph from `(crate, dependencies)`, a dependency written `name`, `dev:name` or
    /// `build:name`.
    fn graph(crates: &[(&str, &[&str])]) -> Graph {
        let dependency = |text: &str| {
            let (kind, name) = match text.split_once(':') {
                Some(("dev", name)) => (Kind::Dev, name),
                Some(("build", name)) => (Kind::Build, name),
                _ => (Kind::Normal, text),
            };
            Dependency {
                name: name.to_owned(),
                kind,
            }
        };
        let crates = crates
            .iter()
            .map(|(name, deps)| {
                (
                    (*name).to_owned(),
                    deps.iter().map(|d| dependency(d)).collect(),
                )
            })
            .collect();
        Graph { crates }
    }

    /// What each violation's message names, the part before its explanation.
    fn edges(crates: &[(&str, &[&str])]) -> Vec<String> {
        violations(&graph(crates))
            .iter()
            .map(|v| {
                v.to_string()
                    .split(": ")
                    .next()
                    .unwrap_or_default()
                    .to_owned()
            })
            .collect()
    }

    const DOMAIN_ALONE: (&str, &[&str]) = (DOMAIN, &["thiserror", "chrono", "dev:proptest"]);

    #[test]
    fn a_graph_that_keeps_the_layers_passes() {
        let clean = [
            DOMAIN_ALONE,
            ("fundtrail-proto", &[DOMAIN, "prost"]),
            ("fundtrail-telemetry", &["dev:fundtrail-telemetry", "tokio"]),
            ("fundtrail-store", &["fundtrail-telemetry", "sqlx"]),
            ("fundtrail-verifier", &["fundtrail-proto", "sha2"]),
            ("fundtrail-pledges", &["fundtrail-store"]),
            (
                "fundtrail-disbursements",
                &["fundtrail-store", "dev:fundtrail-pledges"],
            ),
            (BINARY, &["fundtrail-pledges", "dev:fundtrail-store"]),
            (
                "fundtrail-tests",
                &["fundtrail-pledges", "dev:fundtrail-store"],
            ),
        ];
        assert_eq!(edges(&clean), Vec::<String>::new());
    }

    #[test]
    fn the_domain_does_no_io() {
        let domain: &[&str] = &[
            "tokio",
            "tokio-util",
            "async-trait",
            "build:sqlx",
            "dev:tokio-test",
            "tokenizers",
        ];
        assert_eq!(
            edges(&[(DOMAIN, domain)]),
            [
                "fundtrail-domain -> async-trait",
                "fundtrail-domain -> sqlx",
                "fundtrail-domain -> tokio",
                "fundtrail-domain -> tokio-util",
            ]
        );
    }

    #[test]
    fn the_domain_depends_on_no_workspace_crate() {
        let found = violations(&graph(&[
            (DOMAIN, &["fundtrail-proto", "dev:fundtrail-store"]),
            ("fundtrail-proto", &[]),
            ("fundtrail-store", &[]),
        ]));
        assert_eq!(
            found.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["fundtrail-domain -> fundtrail-proto: the domain depends on no other workspace crate"]
        );
    }

    #[test]
    fn nothing_depends_on_the_binary_not_even_a_test() {
        let found = edges(&[
            (BINARY, &[]),
            ("fundtrail-server", &[BINARY]),
            ("fundtrail-tests", &["dev:fundtrail"]),
        ]);
        assert_eq!(
            found,
            [
                "fundtrail-server -> fundtrail (normal dependency)",
                "fundtrail-tests -> fundtrail (dev dependency)",
            ]
        );
    }

    #[test]
    fn the_verifier_reaches_neither_store_nor_projections() {
        // The store is a lower layer: only this rule keeps the verifier off it.
        let direct = edges(&[(VERIFIER, &["fundtrail-store"]), ("fundtrail-store", &[])]);
        assert_eq!(direct, ["fundtrail-verifier -> fundtrail-store"]);

        let through_proto = edges(&[
            (VERIFIER, &["fundtrail-proto", "dev:fundtrail-projections"]),
            ("fundtrail-proto", &["fundtrail-store"]),
            ("fundtrail-store", &[]),
            ("fundtrail-projections", &[]),
        ]);
        assert_eq!(
            through_proto,
            [
                "fundtrail-verifier -> fundtrail-proto -> fundtrail-store",
                "fundtrail-proto (layer 1) -> fundtrail-store (layer 3)",
            ],
            "a dev-dependency does not count"
        );
    }

    #[test]
    fn a_crate_depends_only_on_lower_layers() {
        let found = edges(&[
            ("fundtrail-store", &["fundtrail-log"]),
            ("fundtrail-log", &["fundtrail-projections"]),
            ("fundtrail-projections", &["dev:fundtrail-log"]),
        ]);
        assert_eq!(
            found,
            [
                "fundtrail-log (layer 5) -> fundtrail-projections (layer 5)",
                "fundtrail-store (layer 3) -> fundtrail-log (layer 5)",
            ]
        );
    }

    #[test]
    fn every_workspace_crate_has_a_layer() {
        let found = edges(&[DOMAIN_ALONE, ("fundtrail-ledger-tools", &[DOMAIN])]);
        assert_eq!(found, ["fundtrail-ledger-tools has no layer"]);
    }

    #[test]
    fn metadata_yields_the_members_and_their_declared_dependencies() {
        let metadata = serde_json::json!({
            "workspace_members": ["path+file:///w/crates/domain#fundtrail-domain@0.1.0"],
            "packages": [
                {
                    "id": "path+file:///w/crates/domain#fundtrail-domain@0.1.0",
                    "name": "fundtrail-domain",
                    "dependencies": [
                        { "name": "chrono", "kind": null },
                        { "name": "proptest", "kind": "dev" },
                        { "name": "autocfg", "kind": "build" }
                    ]
                },
                {
                    "id": "registry+https://github.com/rust-lang/crates.io-index#chrono@0.4.45",
                    "name": "chrono",
                    "dependencies": []
                }
            ]
        });
        let parsed = Graph::from_metadata(&metadata).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.crates.keys().collect::<Vec<_>>(), [DOMAIN]);
        let kinds: Vec<_> = parsed.crates[DOMAIN]
            .iter()
            .map(|d| (d.name.as_str(), d.kind))
            .collect();
        assert_eq!(
            kinds,
            [
                ("chrono", Kind::Normal),
                ("proptest", Kind::Dev),
                ("autocfg", Kind::Build)
            ]
        );
        assert!(Graph::from_metadata(&serde_json::json!({})).is_err());
    }
}
