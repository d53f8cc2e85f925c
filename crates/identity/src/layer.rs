//! The tower layer that authenticates every gRPC call and enforces the access table.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tonic::Code;
use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic_types::{ErrorDetails, StatusExt};
use tower_layer::Layer;
use tower_service::Service;

use crate::authenticator::Authenticator;
use crate::error::AuthError;
use crate::policy::{Access, access};
use crate::principal::Principal;

/// The domain of the error details the layer attaches.
const ERROR_DOMAIN: &str = "fundtrail";

/// The principal the layer authenticated for this request; `None` for open methods and for
/// servers without the layer.
pub fn principal_of<T>(request: &tonic::Request<T>) -> Option<&Principal> {
    request.extensions().get::<Principal>()
}

/// Authenticates each call (a bearer token, or else the TLS client certificate), refuses it
/// unless the access table admits the principal's roles, and leaves the principal in the
/// request's extensions for [`principal_of`].
#[derive(Debug, Clone)]
pub struct AuthLayer {
    authenticator: Arc<Authenticator>,
}

impl AuthLayer {
    pub fn new(authenticator: Arc<Authenticator>) -> Self {
        Self { authenticator }
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = AuthService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            authenticator: Arc::clone(&self.authenticator),
        }
    }
}

/// The service [`AuthLayer`] wraps around a server's routes.
#[derive(Debug, Clone)]
pub struct AuthService<S> {
    inner: S,
    authenticator: Arc<Authenticator>,
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for AuthService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    ReqBody: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        // The clone that was polled ready serves this call; a fresh clone waits for the next.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let authenticator = Arc::clone(&self.authenticator);
        let call = Call::of(&request);
        Box::pin(async move {
            match admit(&authenticator, &call).await {
                Ok(Some(principal)) => {
                    request.extensions_mut().insert(principal);
                    inner.call(request).await
                }
                Ok(None) => inner.call(request).await,
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

/// What the layer needs of a request, taken out of it so the body need not be shared while
/// a key set is reloaded.
struct Call {
    method: String,
    authorization: Option<http::HeaderValue>,
    certificate: Option<Vec<u8>>,
}

impl Call {
    fn of<B>(request: &http::Request<B>) -> Self {
        Self {
            method: request.uri().path().to_owned(),
            authorization: request.headers().get(http::header::AUTHORIZATION).cloned(),
            // The leaf comes first in the presented chain.
            certificate: request
                .extensions()
                .get::<TlsConnectInfo<TcpConnectInfo>>()
                .and_then(TlsConnectInfo::peer_certs)
                .and_then(|chain| chain.first().map(|leaf| leaf.to_vec())),
        }
    }
}

/// The principal a call is admitted as (`None` for an open method), or the status refusing it.
async fn admit(
    authenticator: &Authenticator,
    call: &Call,
) -> Result<Option<Principal>, tonic::Status> {
    let method = call.method.as_str();
    let rule = access(method);
    if rule == Some(Access::Open) {
        return Ok(None);
    }
    let principal = authenticate(authenticator, call).await.map_err(|error| {
        tracing::warn!(method, reason = %error, "refused an unauthenticated call");
        tonic::Status::unauthenticated(error.to_string())
    })?;
    match rule {
        Some(rule) if rule.admits(&principal) => Ok(Some(principal)),
        Some(Access::AnyOf(roles)) => {
            let required = roles
                .iter()
                .map(|role| role.as_str())
                .collect::<Vec<_>>()
                .join(",");
            tracing::warn!(
                subject = %principal.subject,
                method,
                reason = "MISSING_ROLE",
                required,
                "refused a call"
            );
            let held = if principal.roles.is_empty() {
                "no role".to_owned()
            } else {
                principal
                    .roles
                    .iter()
                    .map(|role| role.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            Err(tonic::Status::with_error_details(
                Code::PermissionDenied,
                format!(
                    "{method} needs one of the roles {required}; {} has {held}",
                    principal.subject
                ),
                ErrorDetails::with_error_info(
                    "MISSING_ROLE",
                    ERROR_DOMAIN,
                    HashMap::from([
                        ("method".to_owned(), method.to_owned()),
                        ("required".to_owned(), required),
                    ]),
                ),
            ))
        }
        _ => {
            tracing::warn!(
                subject = %principal.subject,
                method,
                reason = "NO_ACCESS_RULE",
                "refused a call"
            );
            Err(tonic::Status::with_error_details(
                Code::PermissionDenied,
                format!("{method} is not a method anyone may call here"),
                ErrorDetails::with_error_info(
                    "NO_ACCESS_RULE",
                    ERROR_DOMAIN,
                    HashMap::from([("method".to_owned(), method.to_owned())]),
                ),
            ))
        }
    }
}

/// A bearer token wins over the connection's certificate: a gateway that holds the
/// certificate forwards the token of the person it acts for.
async fn authenticate(authenticator: &Authenticator, call: &Call) -> Result<Principal, AuthError> {
    if let Some(value) = &call.authorization {
        let value = value.to_str().map_err(|_| AuthError::NotBearer)?.trim();
        let token = value
            .split_once(' ')
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
            .ok_or(AuthError::NotBearer)?;
        return authenticator.verify_bearer_with_reload(token).await;
    }
    match &call.certificate {
        Some(der) => authenticator.from_certificate(der),
        None => Err(AuthError::Missing),
    }
}
