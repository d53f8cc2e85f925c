//! Bearer tokens end to end: issued, tampered with, and checked.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::{
    AuthConfig, AuthError, Authenticator, DEV_AUDIENCE, DEV_ISSUER, IdentityError, Issuer,
    JwksSource, Principal, Role,
};

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims() -> Value {
    json!({
        "iss": DEV_ISSUER,
        "aud": DEV_AUDIENCE,
        "sub": "amina@fund.example",
        "name": "Amina Diallo",
        "org": "The Fund",
        "roles": ["approver", "auditor"],
        "iat": now(),
        "exp": now() + 300,
    })
}

fn with(mut claims: Value, name: &str, value: Value) -> Value {
    claims[name] = value;
    claims
}

fn without(mut claims: Value, name: &str) -> Value {
    claims.as_object_mut().unwrap().remove(name);
    claims
}

async fn setup() -> (Issuer, Authenticator) {
    let issuer = Issuer::generate().unwrap();
    let authenticator = Authenticator::new(issuer.config(DEV_ISSUER, DEV_AUDIENCE))
        .await
        .unwrap();
    (issuer, authenticator)
}

async fn verify(claims: &Value) -> Result<Principal, AuthError> {
    let (issuer, authenticator) = setup().await;
    authenticator.verify_bearer(&issuer.sign_as(claims, Some(issuer.key_id())).unwrap())
}

fn donor(donor_id: Option<&str>) -> Principal {
    Principal {
        subject: "ukaid-integration".to_owned(),
        display_name: "UK aid integration".to_owned(),
        organisation: "FCDO".to_owned(),
        roles: BTreeSet::from([Role::DonorIntegration]),
        donor_id: donor_id.map(str::to_owned),
    }
}

#[tokio::test]
async fn an_issued_token_yields_its_principal() {
    let (issuer, authenticator) = setup().await;
    let principal = Principal {
        subject: "amina@fund.example".to_owned(),
        display_name: "Amina Diallo".to_owned(),
        organisation: "The Fund".to_owned(),
        roles: BTreeSet::from([Role::Approver, Role::Auditor]),
        donor_id: None,
    };
    let token = issuer
        .issue(&principal, DEV_ISSUER, DEV_AUDIENCE, Duration::from_mins(1))
        .unwrap();
    assert_eq!(authenticator.verify_bearer(&token), Ok(principal.clone()));
    assert_eq!(
        authenticator.verify_bearer_with_reload(&token).await,
        Ok(principal)
    );

    let donor = donor(Some("GB-GOV-1"));
    let token = issuer
        .issue(&donor, DEV_ISSUER, DEV_AUDIENCE, Duration::from_mins(1))
        .unwrap();
    assert_eq!(authenticator.verify_bearer(&token), Ok(donor));
}

#[tokio::test]
async fn the_display_name_defaults_to_the_subject() {
    let principal = verify(&without(claims(), "name")).await.unwrap();
    assert_eq!(principal.display_name, "amina@fund.example");
}

#[tokio::test]
async fn a_forged_signature_is_refused() {
    let (issuer, authenticator) = setup().await;
    let token = issuer.sign_as(&claims(), Some(issuer.key_id())).unwrap();
    let (message, signature) = token.rsplit_once('.').unwrap();
    let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
    bytes[0] ^= 1;
    let forged = format!("{message}.{}", URL_SAFE_NO_PAD.encode(bytes));
    assert_eq!(
        authenticator.verify_bearer(&forged),
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_payload_changed_after_signing_is_refused() {
    let (issuer, authenticator) = setup().await;
    let token = issuer.sign_as(&claims(), Some(issuer.key_id())).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let elevated = with(claims(), "roles", json!(["administrator"]));
    let payload = URL_SAFE_NO_PAD.encode(elevated.to_string());
    let tampered = format!("{}.{payload}.{}", parts[0], parts[2]);
    assert_eq!(
        authenticator.verify_bearer(&tampered),
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_from_another_key_is_refused() {
    let (_, authenticator) = setup().await;
    let stranger = Issuer::generate().unwrap();
    let token = stranger
        .sign_as(&claims(), Some(stranger.key_id()))
        .unwrap();
    assert_eq!(
        authenticator.verify_bearer(&token),
        Err(AuthError::UnknownKey)
    );
}

#[tokio::test]
async fn a_token_from_another_key_naming_ours_is_refused() {
    let (issuer, authenticator) = setup().await;
    let stranger = Issuer::generate().unwrap();
    let token = stranger.sign_as(&claims(), Some(issuer.key_id())).unwrap();
    assert_eq!(
        authenticator.verify_bearer(&token),
        Err(AuthError::BadSignature)
    );
    let token = stranger.sign_as(&claims(), None).unwrap();
    assert_eq!(
        authenticator.verify_bearer(&token),
        Err(AuthError::BadSignature)
    );
}

#[tokio::test]
async fn a_token_without_key_id_is_checked_against_the_keys_of_its_algorithm() {
    let (issuer, authenticator) = setup().await;
    let token = issuer.sign_as(&claims(), None).unwrap();
    assert!(authenticator.verify_bearer(&token).is_ok());
}

#[tokio::test]
async fn time_limits_are_enforced_with_leeway() {
    let expired = with(claims(), "exp", json!(now() - 120));
    assert_eq!(verify(&expired).await, Err(AuthError::Expired));
    let within_leeway = with(claims(), "exp", json!(now() - 10));
    assert!(verify(&within_leeway).await.is_ok());
    let early = with(claims(), "nbf", json!(now() + 600));
    assert_eq!(verify(&early).await, Err(AuthError::NotYetValid));
    assert_eq!(
        verify(&without(claims(), "exp")).await,
        Err(AuthError::MissingClaim("exp".to_owned()))
    );
    // An `exp` that is not a number counts as none.
    assert_eq!(
        verify(&with(claims(), "exp", json!("tomorrow"))).await,
        Err(AuthError::MissingClaim("exp".to_owned()))
    );
}

#[tokio::test]
async fn issuer_and_audience_must_match() {
    assert_eq!(
        verify(&with(claims(), "aud", json!("another-service"))).await,
        Err(AuthError::WrongAudience)
    );
    assert!(
        verify(&with(claims(), "aud", json!(["another", DEV_AUDIENCE])))
            .await
            .is_ok()
    );
    assert_eq!(
        verify(&with(claims(), "iss", json!("https://evil.example"))).await,
        Err(AuthError::WrongIssuer)
    );
    assert_eq!(
        verify(&without(claims(), "aud")).await,
        Err(AuthError::MissingClaim("aud".to_owned()))
    );
    assert_eq!(
        verify(&without(claims(), "iss")).await,
        Err(AuthError::MissingClaim("iss".to_owned()))
    );
}

#[tokio::test]
async fn unknown_roles_are_refused_not_ignored() {
    let refused = verify(&with(claims(), "roles", json!(["approver", "superuser"]))).await;
    assert!(
        matches!(&refused, Err(AuthError::UnknownRole(unknown)) if unknown.0 == "superuser"),
        "{refused:?}"
    );
    assert!(matches!(
        verify(&with(claims(), "roles", json!("approver"))).await,
        Err(AuthError::InvalidClaim { .. })
    ));
    assert!(matches!(
        verify(&with(claims(), "roles", json!([7]))).await,
        Err(AuthError::InvalidClaim { .. })
    ));
    assert_eq!(
        verify(&without(claims(), "roles")).await,
        Err(AuthError::MissingClaim("roles".to_owned()))
    );
    let none = verify(&with(claims(), "roles", json!([]))).await.unwrap();
    assert!(none.roles.is_empty());
}

#[tokio::test]
async fn a_donor_integration_must_name_its_donor_and_only_it_may() {
    let integration = with(claims(), "roles", json!(["donor_integration"]));
    assert_eq!(verify(&integration).await, Err(AuthError::DonorIdRequired));
    let principal = verify(&with(integration, "donor_id", json!("GB-GOV-1")))
        .await
        .unwrap();
    assert_eq!(principal.donor_id.as_deref(), Some("GB-GOV-1"));
    assert_eq!(
        verify(&with(claims(), "donor_id", json!("GB-GOV-1"))).await,
        Err(AuthError::DonorIdWithoutRole)
    );
}

#[tokio::test]
async fn no_token_can_act_as_a_process_manager() {
    for subject in ["process:matching", "  PROCESS:matching"] {
        assert_eq!(
            verify(&with(claims(), "sub", json!(subject))).await,
            Err(AuthError::ProcessSubject)
        );
    }
    let (issuer, _) = setup().await;
    let refused = issuer.issue(
        &Principal::process("matching"),
        DEV_ISSUER,
        DEV_AUDIENCE,
        Duration::from_mins(1),
    );
    assert!(matches!(
        refused,
        Err(IdentityError::Principal(AuthError::ProcessSubject))
    ));
}

#[tokio::test]
async fn subject_and_organisation_are_required() {
    assert_eq!(
        verify(&without(claims(), "sub")).await,
        Err(AuthError::MissingClaim("sub".to_owned()))
    );
    assert_eq!(
        verify(&without(claims(), "org")).await,
        Err(AuthError::MissingClaim("org".to_owned()))
    );
    assert!(verify(&with(claims(), "sub", json!("  "))).await.is_err());
    assert!(verify(&with(claims(), "org", json!(42))).await.is_err());
}

#[tokio::test]
async fn malformed_tokens_are_refused_without_being_repeated() {
    let (_, authenticator) = setup().await;
    for token in ["", "abc", "a.b", "a.b.c", "secret-looking-token-value"] {
        let refused = authenticator.verify_bearer(token).unwrap_err();
        assert!(!refused.to_string().contains("secret-looking"), "{refused}");
    }
    assert_eq!(authenticator.verify_bearer(" "), Err(AuthError::Missing));
}

#[tokio::test]
async fn a_token_cannot_choose_a_weaker_algorithm() {
    let (issuer, authenticator) = setup().await;
    let header =
        |alg: &str| URL_SAFE_NO_PAD.encode(json!({"alg": alg, "kid": issuer.key_id()}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims().to_string());
    // Unsigned.
    let unsigned = format!("{}.{payload}.", header("none"));
    assert!(authenticator.verify_bearer(&unsigned).is_err());
    // HMAC keyed with the public key: the classic confusion of a public key for a secret.
    let jwks: Value = serde_json::from_str(&issuer.jwks_json()).unwrap();
    let public = jwks["keys"][0]["x"].as_str().unwrap().to_owned();
    let hmac = jsonwebtoken::encode(
        &jsonwebtoken::Header {
            kid: Some(issuer.key_id().to_owned()),
            ..jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256)
        },
        &claims(),
        &jsonwebtoken::EncodingKey::from_secret(public.as_bytes()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        authenticator.verify_bearer(&hmac),
        Err(AuthError::WrongAlgorithm)
    );
}

#[tokio::test]
async fn the_configuration_must_name_issuer_audience_and_usable_keys() {
    let issuer = Issuer::generate().unwrap();
    assert!(
        Authenticator::new(issuer.config("", DEV_AUDIENCE))
            .await
            .is_err()
    );
    assert!(
        Authenticator::new(issuer.config(DEV_ISSUER, " "))
            .await
            .is_err()
    );
    let empty = AuthConfig {
        jwks: Some(JwksSource::Keys("{\"keys\": []}".to_owned())),
        ..issuer.config(DEV_ISSUER, DEV_AUDIENCE)
    };
    assert!(matches!(
        Authenticator::new(empty).await,
        Err(IdentityError::Jwks { .. })
    ));
    let missing = AuthConfig {
        jwks: Some(JwksSource::File("/nonexistent/jwks.json".into())),
        ..issuer.config(DEV_ISSUER, DEV_AUDIENCE)
    };
    assert!(matches!(
        Authenticator::new(missing).await,
        Err(IdentityError::Read { .. })
    ));
}

#[tokio::test]
async fn the_development_key_is_kept_and_published() {
    let dir = tempfile::tempdir().unwrap();
    let first = Issuer::load_or_create(dir.path()).unwrap();
    let again = Issuer::load_or_create(dir.path()).unwrap();
    assert_eq!(first.key_id(), again.key_id());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("identity.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let key = std::fs::read_to_string(dir.path().join("identity.key")).unwrap();
    assert!(key.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{key}");

    let config = AuthConfig {
        jwks: Some(JwksSource::File(dir.path().join("jwks.json"))),
        ..first.config(DEV_ISSUER, DEV_AUDIENCE)
    };
    let authenticator = Authenticator::new(config).await.unwrap();
    let token = again
        .issue(
            &donor(Some("GB-GOV-1")),
            DEV_ISSUER,
            DEV_AUDIENCE,
            Duration::from_mins(1),
        )
        .unwrap();
    assert!(authenticator.verify_bearer(&token).is_ok());
}

#[tokio::test]
async fn processes_starting_together_agree_on_one_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_owned();
    let kids: Vec<String> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| Issuer::load_or_create(&path).unwrap().key_id().to_owned()))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(kids.iter().all(|kid| kid == &kids[0]), "{kids:?}");
}

#[tokio::test]
async fn a_damaged_key_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("identity.key"), "not a key").unwrap();
    assert!(matches!(
        Issuer::load_or_create(dir.path()),
        Err(IdentityError::KeyFormat { .. })
    ));
}
