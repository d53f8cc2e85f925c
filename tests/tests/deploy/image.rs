//! `deploy/Dockerfile` and `.dockerignore`: the image builds the locked `fundtrail` package
//! with the workspace's toolchain and runs it as a user, on the port it exposes.

use std::collections::BTreeMap;

use crate::{DOCKERFILE, check_variable, effective_config, listen_port, read, root};

/// The Dockerfile's instructions, continuation lines joined, comments dropped: (keyword,
/// arguments).
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut current = String::new();
    for line in read(DOCKERFILE).lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(head) = line.strip_suffix('\\') {
            current.push_str(head);
            current.push(' ');
            continue;
        }
        current.push_str(line);
        let (keyword, arguments) = current
            .split_once(char::is_whitespace)
            .unwrap_or((current.as_str(), ""));
        instructions.push((keyword.to_ascii_uppercase(), arguments.trim().to_owned()));
        current.clear();
    }
    instructions
}

/// The instructions of the image's last stage, the one that runs.
fn runtime_stage() -> Vec<(String, String)> {
    let all = dockerfile();
    let last_from = all
        .iter()
        .rposition(|(keyword, _)| keyword == "FROM")
        .expect("the Dockerfile has a FROM");
    all[last_from..].to_vec()
}

/// The variables the image sets (`ENV`) in its last stage.
pub(super) fn image_environment() -> BTreeMap<String, String> {
    let mut environment = BTreeMap::new();
    for (keyword, arguments) in runtime_stage() {
        if keyword != "ENV" {
            continue;
        }
        let words: Vec<&str> = arguments.split_whitespace().collect();
        if words.first().is_some_and(|w| !w.contains('=')) {
            // The old form: `ENV NAME value`.
            environment.insert(words[0].to_owned(), words[1..].join(" "));
            continue;
        }
        for word in words {
            let (name, value) = word.split_once('=').expect("ENV NAME=value");
            environment.insert(name.to_owned(), value.trim_matches('"').to_owned());
        }
    }
    environment
}

fn workspace_manifest() -> toml::Table {
    toml::from_str(&read("Cargo.toml")).expect("Cargo.toml parses")
}

#[test]
fn builds_the_locked_fundtrail_package_with_the_workspace_toolchain() {
    let instructions = dockerfile();
    let build = instructions
        .iter()
        .find(|(keyword, arguments)| keyword == "RUN" && arguments.contains("cargo build"))
        .map(|(_, arguments)| arguments.split_whitespace().collect::<Vec<_>>())
        .expect("the Dockerfile runs `cargo build`");
    for flag in ["--release", "--locked"] {
        assert!(build.contains(&flag), "`cargo build` without {flag}");
    }
    let package = build
        .windows(2)
        .any(|w| matches!(w[0], "-p" | "--package") && w[1] == "fundtrail")
        || build.contains(&"--package=fundtrail");
    assert!(package, "`cargo build` must build the package fundtrail");

    // The builder's Rust is the workspace's `rust-version`, and it runs on the Debian release
    // the runtime stage has (the binary links against the builder's glibc).
    let arguments: BTreeMap<String, String> = instructions
        .iter()
        .filter(|(keyword, _)| keyword == "ARG")
        .filter_map(|(_, a)| a.split_once('='))
        .map(|(name, value)| (name.to_owned(), value.to_owned()))
        .collect();
    let images: Vec<String> = instructions
        .iter()
        .filter(|(keyword, _)| keyword == "FROM")
        .map(|(_, a)| {
            let mut image = a.split_whitespace().next().unwrap_or_default().to_owned();
            for (name, value) in &arguments {
                image = image.replace(&format!("${{{name}}}"), value);
            }
            image
        })
        .collect();
    let rust_version = workspace_manifest()["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("the workspace has a rust-version")
        .to_owned();
    let builder = images.first().expect("a builder stage");
    assert!(
        builder.starts_with(&format!("rust:{rust_version}-"))
            || *builder == format!("rust:{rust_version}"),
        "the builder image {builder} is not Rust {rust_version}, the workspace's rust-version"
    );
    let runtime = images.last().expect("a runtime stage");
    let release = runtime
        .strip_prefix("debian:")
        .and_then(|tag| tag.split('-').next())
        .unwrap_or_else(|| panic!("the runtime image {runtime} is not a Debian image"));
    assert!(
        builder.ends_with(&format!("-{release}")),
        "the builder {builder} and the runtime {runtime} are different Debian releases"
    );

    // The binary built is the one the image runs.
    let stage = runtime_stage();
    let copied = stage
        .iter()
        .find(|(keyword, a)| keyword == "COPY" && a.starts_with("--from="))
        .and_then(|(_, a)| a.split_whitespace().last())
        .expect("the runtime stage copies the binary from the builder");
    let entrypoint = stage
        .iter()
        .rfind(|(keyword, _)| keyword == "ENTRYPOINT")
        .map(|(_, a)| serde_json::from_str::<Vec<String>>(a).expect("ENTRYPOINT in exec form"))
        .expect("the image has an ENTRYPOINT");
    assert!(
        entrypoint[0] == copied || copied.ends_with(&format!("/bin/{}", entrypoint[0])),
        "the image runs {:?} but the binary is copied to {copied}",
        entrypoint[0]
    );
}

#[test]
fn runs_as_a_user_on_the_port_it_exposes() {
    let stage = runtime_stage();
    let user = stage
        .iter()
        .rfind(|(keyword, _)| keyword == "USER")
        .map(|(_, a)| a.clone())
        .expect("the image sets a USER");
    let uid = user.split(':').next().unwrap_or_default();
    assert!(
        uid.parse::<u32>().is_ok_and(|uid| uid != 0),
        "the image's USER {user} must be a numeric non-root uid (Kubernetes checks runAsNonRoot on it)"
    );

    let environment = image_environment();
    for name in environment.keys() {
        check_variable(name, DOCKERFILE);
    }
    let config = effective_config(None, &environment, DOCKERFILE);
    let exposed: Vec<u16> = stage
        .iter()
        .filter(|(keyword, _)| keyword == "EXPOSE")
        .flat_map(|(_, a)| a.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
        .map(|port| {
            port.split('/')
                .next()
                .unwrap_or_default()
                .parse()
                .expect("EXPOSE port")
        })
        .collect();
    assert_eq!(
        exposed,
        vec![listen_port(&config, DOCKERFILE)],
        "the image exposes a port it does not listen on"
    );
}

/// Whether `pattern` (a `.dockerignore` line) matches `path`, `*` within a segment and `**`
/// across segments.
fn ignore_matches(pattern: &str, path: &str) -> bool {
    fn segments(pattern: &[&str], path: &[&str]) -> bool {
        match (pattern.first(), path.first()) {
            (None, None) => true,
            (Some(&"**"), _) => {
                segments(&pattern[1..], path) || (!path.is_empty() && segments(pattern, &path[1..]))
            }
            (Some(p), Some(s)) => {
                wildcard(p.as_bytes(), s.as_bytes()) && segments(&pattern[1..], &path[1..])
            }
            _ => false,
        }
    }
    fn wildcard(pattern: &[u8], text: &[u8]) -> bool {
        match (pattern.first(), text.first()) {
            (None, None) => true,
            (Some(b'*'), _) => {
                wildcard(&pattern[1..], text) || (!text.is_empty() && wildcard(pattern, &text[1..]))
            }
            (Some(p), Some(t)) => (p == t || *p == b'?') && wildcard(&pattern[1..], &text[1..]),
            _ => false,
        }
    }
    let pattern: Vec<&str> = pattern.trim_matches('/').split('/').collect();
    let path: Vec<&str> = path.split('/').collect();
    segments(&pattern, &path)
}

#[test]
fn the_build_context_keeps_what_the_build_needs() {
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let manifest = workspace_manifest();
    let members = manifest["workspace"]["members"]
        .as_array()
        .expect("workspace members")
        .iter()
        .map(|member| member.as_str().expect("a member path").to_owned());
    let needed: Vec<String> = ["Cargo.toml", "Cargo.lock", "proto"]
        .into_iter()
        .map(str::to_owned)
        .chain(members)
        .collect();
    for path in &needed {
        assert!(
            root().join(path).exists(),
            "{path} is not in the repository"
        );
        // A path is left out when the last pattern matching it, or a folder above it, is not
        // an exception (`!`).
        let parts: Vec<&str> = path.split('/').collect();
        for depth in 1..=parts.len() {
            let prefix = parts[..depth].join("/");
            let last = patterns
                .iter()
                .rfind(|p| ignore_matches(p.trim_start_matches('!'), &prefix));
            assert!(
                last.is_none_or(|p| p.starts_with('!')),
                ".dockerignore leaves out {path} (pattern {last:?}), which the image build needs"
            );
        }
    }
}
