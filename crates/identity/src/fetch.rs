//! Fetching a JWKS over HTTPS, with hyper's client and rustls (ring), both already in the
//! build through tonic.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::error::IdentityError;

/// A slow identity provider must not hold up start-up or a request for long.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// Far above any real key set; keeps a misbehaving endpoint from filling memory.
const MAX_JWKS_BYTES: usize = 1 << 20;

pub(crate) struct JwksClient {
    url: http::Uri,
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
}

impl std::fmt::Debug for JwksClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwksClient")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl JwksClient {
    pub fn new(url: &str) -> Result<Self, IdentityError> {
        let fail = |reason: &str| IdentityError::Fetch {
            url: shown(url),
            reason: reason.to_owned(),
        };
        let uri: http::Uri = url.parse().map_err(|_| fail("not a URL"))?;
        // Credentials in the URL are never sent (the key set is public), and would show in
        // every message and in the HTTP client's own logs, so they go here.
        let uri = without_userinfo(uri).ok_or_else(|| fail("not a URL"))?;
        let host = uri.host().ok_or_else(|| fail("the URL names no host"))?;
        match uri.scheme_str() {
            Some("https") => {}
            // Keys fetched in the clear could be replaced on the way; only a loopback
            // endpoint (a sidecar, a test) may be plain HTTP.
            Some("http") if is_loopback(host) => {}
            Some("http") => return Err(fail("keys are fetched over https:// only")),
            _ => return Err(fail("the URL must start with https://")),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // The system's roots let an operator trust an identity provider with a private CA;
        // the Mozilla roots cover machines that have none installed.
        let builder = match HttpsConnectorBuilder::new()
            .with_provider_and_native_roots(Arc::clone(&provider))
        {
            Ok(builder) => builder,
            Err(_) => HttpsConnectorBuilder::new()
                .with_provider_and_webpki_roots(provider)
                .map_err(|e| fail(&e.to_string()))?,
        };
        let connector = builder.https_or_http().enable_http1().build();
        Ok(Self {
            url: uri,
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    pub fn url(&self) -> String {
        self.url.to_string()
    }

    pub async fn fetch(&self) -> Result<String, IdentityError> {
        let fail = |reason: String| IdentityError::Fetch {
            url: self.url(),
            reason,
        };
        let request = http::Request::get(self.url.clone())
            .header(http::header::ACCEPT, "application/json")
            .body(Empty::new())
            .map_err(|e| fail(e.to_string()))?;
        let response = tokio::time::timeout(FETCH_TIMEOUT, self.client.request(request))
            .await
            .map_err(|_| fail(format!("no answer within {}s", FETCH_TIMEOUT.as_secs())))?
            .map_err(|e| fail(e.to_string()))?;
        if !response.status().is_success() {
            return Err(fail(format!("the server answered {}", response.status())));
        }
        let body = Limited::new(response.into_body(), MAX_JWKS_BYTES).collect();
        let body = tokio::time::timeout(FETCH_TIMEOUT, body)
            .await
            .map_err(|_| fail("the key set did not arrive in time".to_owned()))?
            .map_err(|e| fail(e.to_string()))?;
        String::from_utf8(body.to_bytes().to_vec()).map_err(|_| fail("not UTF-8".to_owned()))
    }
}

/// `url` as messages show it: everything between `://` and the last `@` (a userinfo, which
/// may hold a password) becomes `***`.
fn shown(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.rfind('@') {
            Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// `uri` without the userinfo of its authority.
fn without_userinfo(uri: http::Uri) -> Option<http::Uri> {
    let host = match uri.authority() {
        Some(authority) => match authority.as_str().rsplit_once('@') {
            Some((_, host)) => host.parse::<http::uri::Authority>().ok()?,
            None => return Some(uri),
        },
        None => return Some(uri),
    };
    let mut parts = uri.into_parts();
    parts.authority = Some(host);
    http::Uri::from_parts(parts).ok()
}

fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_http_is_for_loopback_only() {
        assert!(JwksClient::new("http://127.0.0.1:8080/jwks.json").is_ok());
        assert!(JwksClient::new("http://localhost/jwks.json").is_ok());
        assert!(JwksClient::new("http://[::1]:9/jwks.json").is_ok());
        assert!(JwksClient::new("https://login.example.org/jwks").is_ok());
        for url in [
            "http://login.example.org/jwks",
            "http://127.0.0.1.example.org/jwks",
            "ftp://login.example.org/jwks",
            "/jwks.json",
            "not a url",
        ] {
            assert!(JwksClient::new(url).is_err(), "{url}");
        }
    }

    #[test]
    fn credentials_in_the_url_are_neither_kept_nor_shown() {
        let client = JwksClient::new("http://keys:s3cret@127.0.0.1:8080/jwks.json").unwrap();
        assert_eq!(client.url(), "http://127.0.0.1:8080/jwks.json");
        assert!(!format!("{client:?}").contains("s3cret"));
        let refused = JwksClient::new("http://keys:s3cret@login.example.org/jwks")
            .unwrap_err()
            .to_string();
        assert!(!refused.contains("s3cret"), "{refused}");
        assert!(refused.contains("***@login.example.org"), "{refused}");
    }
}
