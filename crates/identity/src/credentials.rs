//! The client's side: presenting a bearer token on every call.

use tonic::metadata::AsciiMetadataValue;
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry the caller's credentials.
pub type AuthorizedChannel = InterceptedService<Channel, Credentials>;

/// What a client presents with each call: a bearer token, or nothing (for a server that
/// authenticates the connection's client certificate). A call that already carries an
/// `authorization` header keeps it.
#[derive(Clone, Default)]
pub struct Credentials {
    authorization: Option<AsciiMetadataValue>,
}

impl std::fmt::Debug for Credentials {
    // The token is a secret; only whether there is one shows.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("bearer", &self.authorization.is_some())
            .finish()
    }
}

/// A token that cannot travel in a header.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token is not a bearer token: it must be printable ASCII without spaces")]
pub struct MalformedToken;

impl Credentials {
    /// No token: the server sees only the connection (its client certificate, if any).
    pub fn none() -> Self {
        Self::default()
    }

    /// `token`, sent as `authorization: Bearer <token>`.
    pub fn bearer(token: &str) -> Result<Self, MalformedToken> {
        let token = token.trim();
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(MalformedToken);
        }
        let value =
            AsciiMetadataValue::try_from(format!("Bearer {token}")).map_err(|_| MalformedToken)?;
        Ok(Self {
            authorization: Some(value),
        })
    }

    pub fn has_token(&self) -> bool {
        self.authorization.is_some()
    }

    /// `channel`, presenting these credentials on every call.
    pub fn authorize(self, channel: Channel) -> AuthorizedChannel {
        InterceptedService::new(channel, self)
    }
}

impl Interceptor for Credentials {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.authorization
            && !request.metadata().contains_key("authorization")
        {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_becomes_a_bearer_header_unless_the_call_has_one() {
        let mut credentials = Credentials::bearer(" abc.def.ghi\n").unwrap();
        let request = credentials.call(tonic::Request::new(())).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer abc.def.ghi"
        );
        let mut own = tonic::Request::new(());
        own.metadata_mut()
            .insert("authorization", "Bearer mine".parse().unwrap());
        let request = credentials.call(own).unwrap();
        assert_eq!(
            request.metadata().get("authorization").unwrap(),
            "Bearer mine"
        );
        assert!(!format!("{credentials:?}").contains("abc"));
    }

    #[test]
    fn tokens_that_cannot_be_headers_are_refused() {
        for bad in ["", "  ", "a b", "é"] {
            assert_eq!(
                Credentials::bearer(bad).unwrap_err(),
                MalformedToken,
                "{bad:?}"
            );
        }
        let mut none = Credentials::none();
        let request = none.call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
    }
}
