//! Where each service is served: one address for everything (a server running every service,
//! or the entry point in front of the distributed shape), or a servers file naming an address
//! per service.
//!
//! A servers file is TOML, named by `--server` / `FUNDTRAIL_SERVER` in place of an address
//! (any value ending in `.toml`). Its keys are the services `fundtrail serve` takes; `default`
//! stands for any it leaves out:
//!
//! ```toml
//! pledges = "http://10.0.0.5:50051"
//! milestones = "http://10.0.0.6:50051"
//! disbursements = "http://10.0.0.7:50051"
//! projector = "http://10.0.0.8:50051"     # Funding, Audit, Attention
//! ```

use std::collections::HashMap;
use std::path::Path;
use std::sync::LazyLock;

use anyhow::{Context, anyhow};
use fundtrail_proto::v1;

/// A service `fundtrail serve` runs: the gRPC services of one server of the distributed shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Pledges,
    Milestones,
    Disbursements,
    Projector,
}

impl Role {
    pub const ALL: [Role; 4] = [
        Role::Pledges,
        Role::Milestones,
        Role::Disbursements,
        Role::Projector,
    ];

    /// The name `fundtrail serve` takes, and the servers file's key.
    pub fn name(self) -> &'static str {
        match self {
            Role::Pledges => "pledges",
            Role::Milestones => "milestones",
            Role::Disbursements => "disbursements",
            Role::Projector => "projector",
        }
    }

    pub(super) fn index(self) -> usize {
        self as usize
    }
}

/// Each fundtrail gRPC service and the role whose servers answer it.
const SERVICES: [(&str, Role); 6] = [
    (v1::pledges_server::SERVICE_NAME, Role::Pledges),
    (v1::milestones_server::SERVICE_NAME, Role::Milestones),
    (v1::disbursements_server::SERVICE_NAME, Role::Disbursements),
    (v1::funding_server::SERVICE_NAME, Role::Projector),
    (v1::audit_server::SERVICE_NAME, Role::Projector),
    (v1::attention_server::SERVICE_NAME, Role::Projector),
];

/// The role serving `service` (a full gRPC service name), if it is fundtrail's.
pub fn role_of(service: &str) -> Option<Role> {
    SERVICES
        .iter()
        .find(|(name, _)| *name == service)
        .map(|(_, role)| *role)
}

/// The request message of each method, by its full name, to the service the method is of:
/// every RPC has a request message of its own, so a request names its service.
static SERVICE_OF_REQUEST: LazyLock<HashMap<String, &'static str>> = LazyLock::new(|| {
    let mut out = HashMap::new();
    let Ok(pool) = fundtrail_proto::reflect::descriptors() else {
        return out;
    };
    for service in pool.services() {
        let Some((name, _)) = SERVICES
            .iter()
            .find(|(name, _)| *name == service.full_name())
        else {
            continue;
        };
        for method in service.methods() {
            out.insert(method.input().full_name().to_owned(), *name);
        }
    }
    out
});

/// The fundtrail service a request message of type `T` is sent to, when `T` is one of the
/// generated request messages.
pub fn service_of_request<T>() -> Option<&'static str> {
    // The generated messages are `fundtrail_proto::v1::<Message>`, named as in the .proto.
    let message = std::any::type_name::<T>().strip_prefix("fundtrail_proto::v1::")?;
    if message.contains(':') || message.contains('<') {
        return None;
    }
    SERVICE_OF_REQUEST
        .get(&format!("fundtrail.v1.{message}"))
        .copied()
}

/// Whether `server` (a `--server` value) names a servers file rather than an address.
pub fn is_servers_file(server: &str) -> bool {
    let server = server.trim();
    !server.contains("://")
        && Path::new(server)
            .extension()
            .is_some_and(|extension| extension.eq_ignore_ascii_case("toml"))
}

/// The address of every role, in the order of [`Role::ALL`], from a servers file's text.
pub fn parse(text: &str, whence: &str) -> anyhow::Result<[String; 4]> {
    let table: toml::Table = text
        .parse()
        .map_err(|e| anyhow!("the servers file {whence} is not TOML: {e}"))?;
    let keys = || {
        Role::ALL
            .iter()
            .map(|role| role.name())
            .chain(["default"])
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut named: HashMap<&str, String> = HashMap::new();
    for (key, value) in &table {
        let Some(key) = Role::ALL
            .iter()
            .map(|role| role.name())
            .chain(["default"])
            .find(|name| name == key)
        else {
            return Err(anyhow!(
                "the servers file {whence} names {key:?}, which is no service; its keys are {}",
                keys()
            ));
        };
        let Some(address) = value.as_str().map(str::trim).filter(|a| !a.is_empty()) else {
            return Err(anyhow!(
                "the servers file {whence}: {key} must be an address, e.g. {key} = \"http://host:50051\""
            ));
        };
        if is_servers_file(address) {
            return Err(anyhow!(
                "the servers file {whence}: {key} names another servers file; give an address"
            ));
        }
        named.insert(key, address.to_owned());
    }
    let default = named.get("default").cloned();
    let address = |role: Role| -> anyhow::Result<String> {
        named
            .get(role.name())
            .cloned()
            .or_else(|| default.clone())
            .ok_or_else(|| {
                anyhow!(
                    "the servers file {whence} names no address for {name}: add \
                     `{name} = \"http://host:port\"`, or `default = …` for every service it \
                     leaves out",
                    name = role.name()
                )
            })
    };
    Ok([
        address(Role::Pledges)?,
        address(Role::Milestones)?,
        address(Role::Disbursements)?,
        address(Role::Projector)?,
    ])
}

/// The servers file at `path`, read.
pub fn read(path: &str) -> anyhow::Result<[String; 4]> {
    let path = path.trim();
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the servers file {path} (--server, FUNDTRAIL_SERVER)"))?;
    parse(&text, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_request_message_names_its_service() {
        assert_eq!(
            service_of_request::<v1::ListProjectsRequest>(),
            Some("fundtrail.v1.Milestones")
        );
        assert_eq!(
            service_of_request::<v1::RecordPledgeRequest>(),
            Some("fundtrail.v1.Pledges")
        );
        assert_eq!(
            service_of_request::<v1::WatchCountryFundingRequest>(),
            Some("fundtrail.v1.Funding")
        );
        assert_eq!(
            service_of_request::<v1::StreamEventsRequest>(),
            Some("fundtrail.v1.Audit")
        );
        // A response, or anything else, names none.
        assert_eq!(service_of_request::<v1::CommandResult>(), None);
        assert_eq!(service_of_request::<String>(), None);
    }

    #[test]
    fn every_fundtrail_service_has_a_role() {
        let pool = fundtrail_proto::reflect::descriptors().unwrap();
        for service in pool.services() {
            if service.package_name() == "fundtrail.v1" {
                assert!(
                    role_of(service.full_name()).is_some(),
                    "{} has no role: add it to SERVICES",
                    service.full_name()
                );
            }
        }
        assert_eq!(role_of("fundtrail.v1.Audit"), Some(Role::Projector));
        assert_eq!(role_of("grpc.health.v1.Health"), None);
    }

    #[test]
    fn a_servers_file_is_a_toml_path_and_an_address_is_not() {
        assert!(is_servers_file(".fundtrail/servers.toml"));
        assert!(is_servers_file(" /etc/fundtrail/servers.TOML "));
        assert!(!is_servers_file("http://127.0.0.1:50051"));
        assert!(!is_servers_file("127.0.0.1:50051"));
        assert!(!is_servers_file("https://servers.toml"));
    }

    #[test]
    fn a_servers_file_names_every_role_or_a_default() {
        let all = parse(
            "pledges = \"http://p:1\"\nmilestones = \"http://m:1\"\n\
             disbursements = \"http://d:1\"\nprojector = \"http://r:1\"\n",
            "s.toml",
        )
        .unwrap();
        assert_eq!(
            all,
            ["http://p:1", "http://m:1", "http://d:1", "http://r:1"]
        );
        let defaulted = parse(
            "default = \"http://entry:8080\"\npledges = \"p:1\"",
            "s.toml",
        )
        .unwrap();
        assert_eq!(
            defaulted,
            [
                "p:1",
                "http://entry:8080",
                "http://entry:8080",
                "http://entry:8080"
            ]
        );
    }

    #[test]
    fn a_servers_file_with_a_gap_a_typo_or_a_wrong_value_is_refused() {
        let missing = parse("pledges = \"http://p:1\"", "s.toml").unwrap_err();
        assert!(
            missing.to_string().contains("no address for milestones"),
            "{missing}"
        );
        let typo = parse(
            "default = \"http://e:1\"\nmilestone = \"http://m:1\"",
            "s.toml",
        )
        .unwrap_err();
        assert!(
            typo.to_string()
                .contains("\"milestone\", which is no service"),
            "{typo}"
        );
        let number = parse("default = 50051", "s.toml").unwrap_err();
        assert!(
            number.to_string().contains("must be an address"),
            "{number}"
        );
        let nested = parse("default = \"other.toml\"", "s.toml").unwrap_err();
        assert!(
            nested.to_string().contains("another servers file"),
            "{nested}"
        );
        let broken = parse("pledges = ", "s.toml").unwrap_err();
        assert!(broken.to_string().contains("not TOML"), "{broken}");
    }
}
