//! One configuration: defaults that run embedded, a TOML file over them, `FUNDTRAIL_*`
//! environment variables over that, and command-line flags over everything.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use fundtrail_domain::Currency;
use fundtrail_store::StoreOptions;
use fundtrail_telemetry::LogFormat;
use serde::{Deserialize, Serialize};

use fundtrail_identity::{AuthConfig, JwksSource};

use crate::{Roles, ServerSettings, TlsFiles};

fn non_empty(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|value| !value.is_empty())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC server listens.
    pub listen: String,
    /// Where the web view listens (plain HTTP, with the projector role); empty for none.
    /// `fundtrail dev` uses [`DEV_WEB_LISTEN`] when this is empty.
    pub web_listen: String,
    /// The event store: `sqlite://path`, `sqlite::memory:` or `postgres://…`.
    pub store: String,
    /// The fund's reporting currency (ISO 4217).
    pub reporting_currency: String,
    /// The event log: `embedded`, `kafka://host:port` or `nats://host:port`.
    pub log: String,
    /// `pretty` for people, `json` for log collectors.
    pub log_format: String,
    /// The largest event payload the store accepts, in bytes.
    pub max_payload_bytes: usize,
    /// The most bytes of events the projector holds for one transaction of the views: the
    /// bound on its memory however large the events are.
    pub projector_batch_bytes: usize,
    /// A file holding the ed25519 key that signs audit checkpoints (64 hex digits); empty
    /// for none. `fundtrail dev` makes one in `.fundtrail/` when this is empty.
    pub audit_signing_key: String,
    /// How often the projector signs the head when it moved, in seconds.
    pub audit_checkpoint_seconds: u64,
    /// The origin line of the tree checkpoints (C2SP tlog-checkpoint): the log's unique
    /// name, e.g. `fund.example/ledger`. Empty: `fundtrail/` and the first 16 hex digits of
    /// the signing key, what checkpoints signed before this setting carry.
    pub audit_origin: String,
    /// The JSON Web Key Set bearer tokens are checked with: a file, or the identity
    /// provider's `https://` URL. Every server needs one; `fundtrail dev` makes its own in
    /// `.fundtrail/` when this is empty.
    pub auth_jwks: String,
    /// The `iss` bearer tokens must carry.
    pub auth_issuer: String,
    /// The `aud` bearer tokens must include.
    pub auth_audience: String,
    /// The server's certificate chain (PEM); with `tls_key`, the server speaks TLS only.
    pub tls_cert: String,
    /// The private key of `tls_cert` (PEM).
    pub tls_key: String,
    /// The CAs (PEM) whose client certificates authenticate a caller (mutual TLS); needs
    /// `tls_cert`.
    pub tls_client_ca: String,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:50051".to_owned(),
            web_listen: String::new(),
            store: "sqlite://.fundtrail/fundtrail.db".to_owned(),
            reporting_currency: "USD".to_owned(),
            log: "embedded".to_owned(),
            log_format: "pretty".to_owned(),
            max_payload_bytes: 1024 * 1024,
            projector_batch_bytes: fundtrail_projector::DEFAULT_BATCH_BYTES,
            audit_signing_key: String::new(),
            audit_checkpoint_seconds: 300,
            audit_origin: String::new(),
            auth_jwks: String::new(),
            auth_issuer: String::new(),
            auth_audience: fundtrail_identity::DEV_AUDIENCE.to_owned(),
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_client_ca: String::new(),
        }
    }
}

/// The environment variables read, and the field each sets.
pub const ENVIRONMENT: &[(&str, &str)] = &[
    ("FUNDTRAIL_LISTEN", "listen"),
    ("FUNDTRAIL_WEB_LISTEN", "web_listen"),
    ("FUNDTRAIL_STORE", "store"),
    ("FUNDTRAIL_REPORTING_CURRENCY", "reporting_currency"),
    ("FUNDTRAIL_LOG", "log"),
    ("FUNDTRAIL_LOG_FORMAT", "log_format"),
    ("FUNDTRAIL_MAX_PAYLOAD_BYTES", "max_payload_bytes"),
    ("FUNDTRAIL_PROJECTOR_BATCH_BYTES", "projector_batch_bytes"),
    ("FUNDTRAIL_AUDIT_SIGNING_KEY", "audit_signing_key"),
    (
        "FUNDTRAIL_AUDIT_CHECKPOINT_SECONDS",
        "audit_checkpoint_seconds",
    ),
    ("FUNDTRAIL_AUDIT_ORIGIN", "audit_origin"),
    ("FUNDTRAIL_AUTH_JWKS", "auth_jwks"),
    ("FUNDTRAIL_AUTH_ISSUER", "auth_issuer"),
    ("FUNDTRAIL_AUTH_AUDIENCE", "auth_audience"),
    ("FUNDTRAIL_TLS_CERT", "tls_cert"),
    ("FUNDTRAIL_TLS_KEY", "tls_key"),
    ("FUNDTRAIL_TLS_CLIENT_CA", "tls_client_ca"),
];

/// Where `fundtrail dev` serves the web view unless `web_listen` says otherwise.
pub const DEV_WEB_LISTEN: &str = "127.0.0.1:50080";

/// Where `fundtrail dev` keeps its checkpoint signing key.
pub const DEV_AUDIT_KEY: &str = ".fundtrail/audit-signing.key";

impl Config {
    /// Defaults, then the file (when given), then the environment.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Self> {
        let mut config = match file {
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .with_context(|| format!("reading configuration {}", path.display()))?;
                toml::from_str(&text)
                    .with_context(|| format!("configuration {} is not valid", path.display()))?
            }
            None => Config::default(),
        };
        config.apply_environment(|name| std::env::var(name).ok())?;
        Ok(config)
    }

    /// Applies `FUNDTRAIL_*` variables, read through `var` so tests need not touch the
    /// process environment.
    pub fn apply_environment(
        &mut self,
        var: impl Fn(&str) -> Option<String>,
    ) -> anyhow::Result<()> {
        for (name, field) in ENVIRONMENT {
            let Some(value) = var(name) else { continue };
            match *field {
                "listen" => self.listen = value,
                "web_listen" => self.web_listen = value,
                "store" => self.store = value,
                "reporting_currency" => self.reporting_currency = value,
                "log" => self.log = value,
                "log_format" => self.log_format = value,
                "max_payload_bytes" => {
                    self.max_payload_bytes = value
                        .parse()
                        .with_context(|| format!("{name}={value:?} is not a number of bytes"))?;
                }
                "projector_batch_bytes" => {
                    self.projector_batch_bytes = value
                        .parse()
                        .with_context(|| format!("{name}={value:?} is not a number of bytes"))?;
                }
                "audit_signing_key" => self.audit_signing_key = value,
                "audit_checkpoint_seconds" => {
                    self.audit_checkpoint_seconds = value
                        .parse()
                        .with_context(|| format!("{name}={value:?} is not a number of seconds"))?;
                }
                "audit_origin" => self.audit_origin = value,
                "auth_jwks" => self.auth_jwks = value,
                "auth_issuer" => self.auth_issuer = value,
                "auth_audience" => self.auth_audience = value,
                "tls_cert" => self.tls_cert = value,
                "tls_key" => self.tls_key = value,
                "tls_client_ca" => self.tls_client_ca = value,
                _ => {}
            }
        }
        Ok(())
    }

    pub fn listen_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listen
            .parse()
            .with_context(|| format!("listen address {:?} is not host:port", self.listen))
    }

    /// Where the web view listens; `None` when it is off.
    pub fn web_listen_addr(&self) -> anyhow::Result<Option<SocketAddr>> {
        non_empty(&self.web_listen)
            .map(|addr| {
                addr.parse().with_context(|| {
                    format!("web_listen address {:?} is not host:port", self.web_listen)
                })
            })
            .transpose()
    }

    /// For `fundtrail dev`: the web view on [`DEV_WEB_LISTEN`] unless configured otherwise.
    /// A server asked for any free gRPC port (port 0) gets any free web port too, so dev
    /// servers started side by side (scripts, tests) do not contend for one port.
    pub fn use_dev_web(&mut self) {
        if non_empty(&self.web_listen).is_some() {
            return;
        }
        match self.listen_addr() {
            Ok(grpc) if grpc.port() == 0 => {
                self.web_listen = SocketAddr::new(grpc.ip(), 0).to_string();
            }
            _ => DEV_WEB_LISTEN.clone_into(&mut self.web_listen),
        }
    }

    pub fn currency(&self) -> anyhow::Result<Currency> {
        Currency::new(&self.reporting_currency)
            .with_context(|| format!("reporting currency {:?}", self.reporting_currency))
    }

    pub fn log_format(&self) -> anyhow::Result<LogFormat> {
        self.log_format.parse().map_err(anyhow::Error::msg)
    }

    /// Checks everything that can be checked without connecting anywhere.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.listen_addr()?;
        self.web_listen_addr()?;
        self.currency()?;
        self.log_format()?;
        if !(self.store.starts_with("sqlite:")
            || self.store.starts_with("postgres://")
            || self.store.starts_with("postgresql://"))
        {
            bail!(
                "store {:?}: use sqlite://path, sqlite::memory: or postgres://…",
                self.store
            );
        }
        if !(self.log == "embedded"
            || self.log.starts_with("kafka://")
            || self.log.starts_with("nats://"))
        {
            bail!(
                "log {:?}: use embedded, kafka://host:port or nats://host:port",
                self.log
            );
        }
        if self.max_payload_bytes == 0 {
            bail!("max_payload_bytes must be positive");
        }
        if self.projector_batch_bytes == 0 {
            bail!("projector_batch_bytes must be positive");
        }
        if self.audit_checkpoint_seconds == 0 {
            bail!("audit_checkpoint_seconds must be positive");
        }
        if let Some(origin) = non_empty(&self.audit_origin)
            && !fundtrail_verifier::note::valid_key_name(origin)
        {
            bail!(
                "audit_origin {origin:?} is not a log origin: a name without spaces or '+', \
                 e.g. fund.example/ledger"
            );
        }
        if !self.auth_jwks.trim().is_empty() && self.auth_issuer.trim().is_empty() {
            bail!("auth_jwks is set: set auth_issuer too, the `iss` its tokens carry");
        }
        if self.auth_audience.trim().is_empty() {
            bail!("auth_audience must name the audience tokens are for");
        }
        if self.tls_cert.trim().is_empty() != self.tls_key.trim().is_empty() {
            bail!("tls_cert and tls_key go together: set both or neither");
        }
        if !self.tls_client_ca.trim().is_empty() && self.tls_cert.trim().is_empty() {
            bail!("tls_client_ca needs TLS: set tls_cert and tls_key");
        }
        Ok(())
    }

    /// For `fundtrail dev`: without a configured key set, trusts (and makes, in `.fundtrail/`)
    /// the development issuer, and returns it to sign tokens with.
    pub fn use_dev_identity(&mut self) -> anyhow::Result<Option<fundtrail_identity::Issuer>> {
        if !self.auth_jwks.trim().is_empty() {
            return Ok(None);
        }
        let issuer = crate::dev::issuer()?;
        crate::dev::JWKS.clone_into(&mut self.auth_jwks);
        fundtrail_identity::DEV_ISSUER.clone_into(&mut self.auth_issuer);
        Ok(Some(issuer))
    }

    /// Whom the server trusts; `None` when nothing is configured, which a server refuses.
    pub fn auth_config(&self) -> Option<AuthConfig> {
        let client_ca = non_empty(&self.tls_client_ca).map(PathBuf::from);
        let jwks = non_empty(&self.auth_jwks).map(|jwks| {
            if jwks.starts_with("https://") || jwks.starts_with("http://") {
                JwksSource::Url(jwks.to_owned())
            } else {
                JwksSource::File(PathBuf::from(jwks))
            }
        });
        if jwks.is_none() && client_ca.is_none() {
            return None;
        }
        Some(AuthConfig {
            jwks,
            issuer: self.auth_issuer.trim().to_owned(),
            audience: self.auth_audience.trim().to_owned(),
            leeway_seconds: AuthConfig::DEFAULT_LEEWAY_SECONDS,
            client_ca,
        })
    }

    /// The server's certificate and key, when it speaks TLS.
    pub fn tls(&self) -> Option<TlsFiles> {
        Some(TlsFiles {
            cert: PathBuf::from(non_empty(&self.tls_cert)?),
            key: PathBuf::from(non_empty(&self.tls_key)?),
        })
    }

    /// For `fundtrail dev`: without a configured key, uses (and makes, readable by its owner
    /// only) the one in `.fundtrail/`.
    pub fn use_dev_audit_key(&mut self) -> anyhow::Result<()> {
        if self.audit_signing_key.trim().is_empty() {
            DEV_AUDIT_KEY.clone_into(&mut self.audit_signing_key);
            fundtrail_audit::CheckpointSigner::load_or_generate(Path::new(DEV_AUDIT_KEY))?;
        }
        Ok(())
    }

    /// The checkpoint signing settings, with the key loaded.
    /// The settings of a server running `roles` under this configuration; creates the
    /// embedded store's folder when it is missing.
    pub fn settings(&self, roles: Roles) -> anyhow::Result<ServerSettings> {
        if let Some(path) = self.store.strip_prefix("sqlite://")
            && let Some(parent) = Path::new(path.split('?').next().unwrap_or(path)).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {} for the embedded store", parent.display()))?;
        }
        Ok(ServerSettings {
            listen: self.listen_addr()?,
            web_listen: self.web_listen_addr()?,
            store_url: self.store.clone(),
            log_url: self.log.clone(),
            reporting_currency: self.currency()?,
            roles,
            store_options: StoreOptions {
                max_payload_bytes: self.max_payload_bytes,
                ..StoreOptions::default()
            },
            projector_batch_bytes: self.projector_batch_bytes,
            audit: self.audit_settings()?,
            auth: self.auth_config(),
            tls: self.tls(),
            issuer: None,
        })
    }

    pub fn audit_settings(&self) -> anyhow::Result<fundtrail_audit::AuditSettings> {
        let path = self.audit_signing_key.trim();
        let signer = (!path.is_empty())
            .then(|| fundtrail_audit::CheckpointSigner::load(Path::new(path)))
            .transpose()?;
        let signer = match (signer, non_empty(&self.audit_origin)) {
            (Some(signer), Some(origin)) => Some(
                signer
                    .with_origin(origin)
                    .context("the audit_origin setting")?,
            ),
            (signer, _) => signer,
        };
        Ok(fundtrail_audit::AuditSettings {
            signer,
            checkpoint_interval: std::time::Duration::from_secs(self.audit_checkpoint_seconds),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_run_embedded_and_are_valid() {
        let config = Config::default();
        assert!(config.store.starts_with("sqlite://"));
        assert_eq!(config.log, "embedded");
        config.validate().unwrap();
    }

    #[test]
    fn the_file_overrides_defaults_and_the_environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("fundtrail.toml");
        std::fs::write(
            &path,
            "store = \"postgres://db/fund\"\nreporting_currency = \"EUR\"\n",
        )
        .unwrap();
        let mut config = Config::load(Some(&path)).unwrap();
        assert_eq!(config.store, "postgres://db/fund");
        assert_eq!(config.listen, Config::default().listen);
        config
            .apply_environment(|name| {
                (name == "FUNDTRAIL_REPORTING_CURRENCY").then(|| "CHF".to_owned())
            })
            .unwrap();
        assert_eq!(config.reporting_currency, "CHF");
    }

    #[test]
    fn the_web_view_is_off_unless_configured_and_on_under_dev() {
        let mut config = Config::default();
        assert_eq!(config.web_listen_addr().unwrap(), None);
        config.use_dev_web();
        assert_eq!(
            config.web_listen_addr().unwrap(),
            Some(DEV_WEB_LISTEN.parse().unwrap())
        );
        config
            .apply_environment(|name| {
                (name == "FUNDTRAIL_WEB_LISTEN").then(|| "0.0.0.0:8080".to_owned())
            })
            .unwrap();
        config.use_dev_web();
        assert_eq!(
            config.web_listen, "0.0.0.0:8080",
            "a configured address stays"
        );
        let mut ephemeral = Config {
            listen: "127.0.0.1:0".to_owned(),
            ..Config::default()
        };
        ephemeral.use_dev_web();
        assert_eq!(ephemeral.web_listen, "127.0.0.1:0");
    }

    #[test]
    fn refuses_unknown_keys_and_bad_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, "stor = \"x\"\n").unwrap();
        assert!(Config::load(Some(&path)).is_err());
        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(bad(|c| c.listen = "nowhere".into()));
        assert!(bad(|c| c.web_listen = "nowhere".into()));
        assert!(bad(|c| c.reporting_currency = "XXX".into()));
        assert!(bad(|c| c.store = "mysql://x".into()));
        assert!(bad(|c| c.log = "rabbit://x".into()));
        let mut c = Config::default();
        assert!(c
            .apply_environment(|n| (n == "FUNDTRAIL_MAX_PAYLOAD_BYTES").then(|| "lots".to_owned()))
            .is_err());
    }

    #[test]
    fn authentication_and_tls_are_read_and_checked() {
        let mut config = Config::default();
        assert_eq!(
            config.auth_config(),
            None,
            "nothing is trusted unless configured"
        );
        config
            .apply_environment(|name| match name {
                "FUNDTRAIL_AUTH_JWKS" => Some("https://login.example.org/jwks".to_owned()),
                "FUNDTRAIL_AUTH_ISSUER" => Some("https://login.example.org".to_owned()),
                "FUNDTRAIL_TLS_CERT" => Some("server.pem".to_owned()),
                "FUNDTRAIL_TLS_KEY" => Some("server.key".to_owned()),
                "FUNDTRAIL_TLS_CLIENT_CA" => Some("clients.pem".to_owned()),
                _ => None,
            })
            .unwrap();
        config.validate().unwrap();
        let auth = config.auth_config().unwrap();
        assert_eq!(
            auth.jwks,
            Some(JwksSource::Url("https://login.example.org/jwks".to_owned()))
        );
        assert_eq!(auth.audience, fundtrail_identity::DEV_AUDIENCE);
        assert_eq!(auth.client_ca, Some(PathBuf::from("clients.pem")));
        assert_eq!(config.tls().unwrap().key, PathBuf::from("server.key"));
        config.auth_jwks = "/etc/fundtrail/jwks.json".to_owned();
        assert_eq!(
            config.auth_config().unwrap().jwks,
            Some(JwksSource::File(PathBuf::from("/etc/fundtrail/jwks.json")))
        );
        config.auth_jwks = String::new();
        let certificates_only = config.auth_config().unwrap();
        assert_eq!(
            (certificates_only.jwks, certificates_only.client_ca),
            (None, Some(PathBuf::from("clients.pem"))),
            "client certificates alone are a configuration"
        );

        let bad = |f: fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            c.validate().is_err()
        };
        assert!(
            bad(|c| c.auth_jwks = "jwks.json".into()),
            "an issuer is needed"
        );
        assert!(bad(|c| c.auth_audience = " ".into()));
        assert!(bad(|c| c.tls_cert = "server.pem".into()), "a key is needed");
        assert!(
            bad(|c| c.tls_client_ca = "clients.pem".into()),
            "TLS is needed"
        );
    }

    #[test]
    fn the_audit_signing_key_is_read_from_its_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let signer = fundtrail_audit::CheckpointSigner::generate().unwrap();
        signer.save(&path).unwrap();
        let mut config = Config::default();
        assert!(config.audit_settings().unwrap().signer.is_none());
        config
            .apply_environment(|name| {
                (name == "FUNDTRAIL_AUDIT_SIGNING_KEY").then(|| path.display().to_string())
            })
            .unwrap();
        let loaded = config.audit_settings().unwrap().signer.unwrap();
        assert_eq!(loaded.public_key(), signer.public_key());
        config.audit_signing_key = dir.path().join("missing.key").display().to_string();
        assert!(config.audit_settings().is_err());
        config.audit_checkpoint_seconds = 0;
        assert!(config.validate().is_err());
    }

    #[test]
    fn the_audit_origin_names_the_tree_checkpoints_and_others_are_refused() {
        use fundtrail_verifier::note::{CheckpointError, LogKey, open_checkpoint};
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.key");
        let signer = fundtrail_audit::CheckpointSigner::generate().unwrap();
        signer.save(&path).unwrap();
        let mut config = Config {
            audit_signing_key: path.display().to_string(),
            ..Config::default()
        };
        // Unset, the origin is the one checkpoints signed before the setting carry.
        let default = config.audit_settings().unwrap().signer.unwrap();
        assert_eq!(
            default.origin(),
            fundtrail_audit::key::default_origin(&signer.public_key())
        );
        config
            .apply_environment(|name| {
                (name == "FUNDTRAIL_AUDIT_ORIGIN").then(|| "fund.example/ledger".to_owned())
            })
            .unwrap();
        config.validate().unwrap();
        let named = config.audit_settings().unwrap().signer.unwrap();
        assert_eq!(named.origin(), "fund.example/ledger");
        let note = named.sign_tree(3, [7; 32]);
        let expected = LogKey::new("fund.example/ledger", signer.public_key());
        assert_eq!(open_checkpoint(&note, &expected).unwrap().0.size, 3);
        // A verifier expecting another origin refuses it, whatever key signed it.
        let other = LogKey::new(default.origin(), signer.public_key());
        let refused = open_checkpoint(&note, &other).unwrap_err();
        assert!(
            matches!(refused, CheckpointError::NotSignedByKey { .. }),
            "{refused}"
        );
        // And the reverse: a checkpoint signed under the default origin is not the named log's.
        let old = default.sign_tree(3, [7; 32]);
        assert!(open_checkpoint(&old, &expected).is_err());
        config.audit_origin = "fund example".into();
        assert!(config.validate().is_err());
        assert!(config.audit_settings().is_err());
    }
}
