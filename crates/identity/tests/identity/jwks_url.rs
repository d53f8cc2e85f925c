//! A key set fetched from an identity provider's endpoint, and reloaded when keys rotate.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fundtrail_identity::{
    AuthConfig, AuthError, Authenticator, DEV_AUDIENCE, DEV_ISSUER, IdentityError, Issuer,
    JwksSource, Principal, Role,
};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An HTTP endpoint on 127.0.0.1 answering every request with `document` and `status`.
struct Endpoint {
    url: String,
    document: Arc<Mutex<String>>,
    status: Arc<Mutex<u16>>,
    hits: Arc<AtomicUsize>,
}

impl Endpoint {
    async fn start(document: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
        let document = Arc::new(Mutex::new(document));
        let status = Arc::new(Mutex::new(200));
        let hits = Arc::new(AtomicUsize::new(0));
        let (served, code, counted) = (document.clone(), status.clone(), hits.clone());
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let body = served.lock().unwrap().clone();
                let code = *code.lock().unwrap();
                counted.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 1024];
                    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                        match socket.read(&mut buffer).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => request.extend_from_slice(&buffer[..n]),
                        }
                    }
                    let response = format!(
                        "HTTP/1.1 {code} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = socket.write_all(response.as_bytes()).await;
                    let _ = socket.shutdown().await;
                });
            }
        });
        Self {
            url,
            document,
            status,
            hits,
        }
    }

    fn config(&self) -> AuthConfig {
        AuthConfig {
            jwks: Some(JwksSource::Url(self.url.clone())),
            issuer: DEV_ISSUER.to_owned(),
            audience: DEV_AUDIENCE.to_owned(),
            leeway_seconds: AuthConfig::DEFAULT_LEEWAY_SECONDS,
            client_ca: None,
        }
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn both(a: &Issuer, b: &Issuer) -> String {
    let mut keys: Vec<Value> = Vec::new();
    for issuer in [a, b] {
        let set: Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
        keys.extend(set["keys"].as_array().unwrap().iter().cloned());
    }
    serde_json::json!({ "keys": keys }).to_string()
}

fn token(issuer: &Issuer) -> String {
    let principal = Principal {
        subject: "amina".to_owned(),
        display_name: "Amina".to_owned(),
        organisation: "The Fund".to_owned(),
        roles: [Role::Auditor].into(),
        donor_id: None,
    };
    issuer
        .issue(&principal, DEV_ISSUER, DEV_AUDIENCE, Duration::from_mins(1))
        .unwrap()
}

#[tokio::test]
async fn a_rotated_key_is_fetched_once_and_strangers_do_not_hammer_the_endpoint() {
    let (old, new, stranger) = (
        Issuer::generate().unwrap(),
        Issuer::generate().unwrap(),
        Issuer::generate().unwrap(),
    );
    let endpoint = Endpoint::start(old.jwks_json()).await;
    let authenticator = Authenticator::new(endpoint.config()).await.unwrap();
    assert_eq!(endpoint.hits(), 1, "fetched at start");
    assert!(authenticator.verify_bearer(&token(&old)).is_ok());

    *endpoint.document.lock().unwrap() = both(&old, &new);
    let principal = authenticator.verify_bearer_with_reload(&token(&new)).await;
    assert!(principal.is_ok(), "{principal:?}");
    assert_eq!(endpoint.hits(), 2, "reloaded for the new key");

    for _ in 0..5 {
        assert_eq!(
            authenticator
                .verify_bearer_with_reload(&token(&stranger))
                .await,
            Err(AuthError::UnknownKey)
        );
        assert_eq!(
            authenticator.verify_bearer(&token(&stranger)),
            Err(AuthError::UnknownKey)
        );
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(endpoint.hits(), 2, "reloads are rate-limited");
    assert!(authenticator.verify_bearer(&token(&old)).is_ok());
}

#[tokio::test]
async fn an_endpoint_that_fails_at_start_fails_start_up() {
    let issuer = Issuer::generate().unwrap();
    let endpoint = Endpoint::start(issuer.jwks_json()).await;
    *endpoint.status.lock().unwrap() = 500;
    assert!(matches!(
        Authenticator::new(endpoint.config()).await,
        Err(IdentityError::Fetch { .. })
    ));
    *endpoint.status.lock().unwrap() = 200;
    *endpoint.document.lock().unwrap() = "<html>sign in</html>".to_owned();
    assert!(matches!(
        Authenticator::new(endpoint.config()).await,
        Err(IdentityError::Jwks { .. })
    ));
}

#[tokio::test]
async fn plain_http_to_another_host_is_refused() {
    let config = AuthConfig {
        jwks: Some(JwksSource::Url("http://idp.example/jwks.json".to_owned())),
        ..Issuer::generate().unwrap().config(DEV_ISSUER, DEV_AUDIENCE)
    };
    assert!(matches!(
        Authenticator::new(config).await,
        Err(IdentityError::Fetch { .. })
    ));
}
