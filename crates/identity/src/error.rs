//! What can go wrong setting identity up, and why a credential is refused.

use crate::role::UnknownRole;

/// Setting up authentication or issuing a token failed.
#[derive(Debug, thiserror::Error)]
pub enum IdentityError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 private key in PKCS#8 PEM (`BEGIN PRIVATE KEY`)")]
    KeyFormat { path: String },
    #[error("no randomness for a new key: {0}")]
    Random(String),
    #[error("the JWKS from {origin} is unusable: {reason}")]
    Jwks { origin: String, reason: String },
    #[error("cannot fetch the JWKS from {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("the client CA {path} is unusable: {reason}")]
    ClientCa { path: String, reason: String },
    #[error("authentication needs {0}")]
    Config(&'static str),
    #[error("cannot issue a token for this principal: {0}")]
    Principal(#[source] AuthError),
    #[error("cannot sign the token: {0}")]
    Signing(String),
}

/// Why a credential was refused. The messages go back to the caller, so they say what is wrong
/// without repeating the credential.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error(
        "no credentials: send `authorization: Bearer <token>` or connect with a client certificate"
    )]
    Missing,
    #[error("the authorization header is not `Bearer <token>`")]
    NotBearer,
    #[error("the bearer token is malformed: {0}")]
    Malformed(String),
    #[error("the token is signed with an algorithm its key does not allow")]
    WrongAlgorithm,
    #[error("the token is signed by a key this service does not trust")]
    UnknownKey,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token comes from an issuer this service does not trust")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the credential lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the credential's `{claim}` is invalid: {reason}")]
    InvalidClaim { claim: String, reason: String },
    #[error("the credential names an unknown role: {0}")]
    UnknownRole(#[from] UnknownRole),
    #[error("a donor integration's credential must name its donor (`donor_id`)")]
    DonorIdRequired,
    #[error("only a donor integration's credential may name a donor (`donor_id`)")]
    DonorIdWithoutRole,
    #[error(
        "a credential cannot name a `process:` subject: those are the fund's own process managers"
    )]
    ProcessSubject,
    #[error("client certificates are not accepted: no client CA is configured")]
    NoClientCa,
    #[error("bearer tokens are not accepted: this server authenticates client certificates only")]
    NoTokenKeys,
    #[error("the client certificate is refused: {0}")]
    Certificate(String),
}

impl AuthError {
    pub(crate) fn invalid_claim(claim: &str, reason: impl Into<String>) -> Self {
        AuthError::InvalidClaim {
            claim: claim.to_owned(),
            reason: reason.into(),
        }
    }

    pub(crate) fn certificate(reason: impl Into<String>) -> Self {
        AuthError::Certificate(reason.into())
    }
}
