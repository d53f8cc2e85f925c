//! How a server is told whom to trust.

use std::path::PathBuf;

/// The development issuer's name, in the `iss` claim of the tokens it signs.
pub const DEV_ISSUER: &str = "fundtrail-dev";
/// The audience fundtrail's servers accept tokens for unless configured otherwise.
pub const DEV_AUDIENCE: &str = "fundtrail";

/// What an [`Authenticator`](crate::Authenticator) trusts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthConfig {
    /// The public keys bearer tokens are signed with; `None` when only client certificates
    /// authenticate (then `client_ca` is required).
    pub jwks: Option<JwksSource>,
    /// The `iss` tokens must carry (required with `jwks`).
    pub issuer: String,
    /// The `aud` tokens must include (required with `jwks`).
    pub audience: String,
    /// Clock skew allowed on `exp`, `nbf` and certificate validity, in seconds.
    pub leeway_seconds: u64,
    /// PEM file of the CAs that issue client certificates directly; without it client
    /// certificates are not accepted.
    pub client_ca: Option<PathBuf>,
}

impl AuthConfig {
    /// The skew tolerated between the identity provider's clock and ours.
    pub const DEFAULT_LEEWAY_SECONDS: u64 = 60;
}

/// Where the JSON Web Key Set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JwksSource {
    /// A file, read at start and again when a token names a key it lacks.
    File(PathBuf),
    /// An identity provider's JWKS endpoint: `https://`, or `http://` on a loopback address
    /// only. Fetched at start and again when a token names a key it lacks.
    Url(String),
    /// The JWKS document itself.
    Keys(String),
}
