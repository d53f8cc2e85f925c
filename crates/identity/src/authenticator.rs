//! Turning credentials into principals.

use std::sync::Arc;

use crate::certificate::ClientCas;
use crate::config::AuthConfig;
use crate::error::{AuthError, IdentityError};
use crate::keys::KeyStore;
use crate::principal::Principal;
use crate::token::{self, Expectations};

/// Checks bearer tokens against the configured key set and client certificates against the
/// configured client CAs.
#[derive(Debug)]
pub struct Authenticator {
    /// `None` when only client certificates authenticate.
    keys: Option<Arc<KeyStore>>,
    expect: Expectations,
    client_cas: Option<ClientCas>,
}

impl Authenticator {
    /// Loads the key set (fetching it when it is a URL) and the client CAs.
    pub async fn new(config: AuthConfig) -> Result<Self, IdentityError> {
        let keys = match &config.jwks {
            Some(jwks) => {
                if config.issuer.trim().is_empty() {
                    return Err(IdentityError::Config("the issuer tokens must name"));
                }
                if config.audience.trim().is_empty() {
                    return Err(IdentityError::Config("the audience tokens must be for"));
                }
                Some(KeyStore::open(jwks).await?)
            }
            None if config.client_ca.is_none() => {
                return Err(IdentityError::Config(
                    "a key set for bearer tokens or a CA for client certificates",
                ));
            }
            None => None,
        };
        let client_cas = config
            .client_ca
            .as_deref()
            .map(ClientCas::load)
            .transpose()?;
        Ok(Self {
            keys,
            expect: Expectations {
                issuer: config.issuer,
                audience: config.audience,
                leeway_seconds: config.leeway_seconds,
            },
            client_cas,
        })
    }

    /// The principal a bearer token names. A token signed by a key not (yet) known starts a
    /// reload of the key set in the background and is refused; see
    /// [`verify_bearer_with_reload`](Self::verify_bearer_with_reload) to wait for it instead.
    pub fn verify_bearer(&self, token: &str) -> Result<Principal, AuthError> {
        let keys = self.keys.as_ref().ok_or(AuthError::NoTokenKeys)?;
        let verified = token::verify(token, &keys.current(), &self.expect);
        match &verified {
            Err(AuthError::UnknownKey) => keys.reload_in_background(),
            _ => keys.refresh_if_stale(),
        }
        verified
    }

    /// Like [`verify_bearer`](Self::verify_bearer), but a token signed by an unknown key waits
    /// for the key set to be reloaded (at most once every 30 seconds) and is checked again, so
    /// the first token under a rotated key is accepted.
    pub async fn verify_bearer_with_reload(&self, token: &str) -> Result<Principal, AuthError> {
        let keys = self.keys.as_ref().ok_or(AuthError::NoTokenKeys)?;
        match token::verify(token, &keys.current(), &self.expect) {
            Err(AuthError::UnknownKey) => {
                keys.reload_if_due().await;
                token::verify(token, &keys.current(), &self.expect)
            }
            verified => {
                keys.refresh_if_stale();
                verified
            }
        }
    }

    /// The principal a client certificate (DER, the leaf of the presented chain) names. The
    /// TLS handshake has already checked the chain; this checks again that a configured client
    /// CA issued it, so a certificate reaching here some other way gains nothing.
    pub fn from_certificate(&self, der: &[u8]) -> Result<Principal, AuthError> {
        self.client_cas
            .as_ref()
            .ok_or(AuthError::NoClientCa)?
            .principal(der, self.expect.leeway_seconds)
    }

    /// The configured client CAs as PEM, to give the TLS server as its client roots.
    pub fn client_ca_pem(&self) -> Option<&[u8]> {
        self.client_cas.as_ref().map(ClientCas::pem)
    }
}
