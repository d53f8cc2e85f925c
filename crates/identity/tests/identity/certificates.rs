//! Client certificates read directly, without a connection.

use std::collections::BTreeSet;

use fundtrail_identity::{
    AuthConfig, AuthError, Authenticator, DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role,
};
use rcgen::{ExtendedKeyUsagePurpose, date_time_ymd};

use crate::support::Pki;

async fn trusting(pki: &Pki) -> Authenticator {
    let config = AuthConfig {
        client_ca: Some(pki.ca_file.clone()),
        ..Issuer::generate().unwrap().config(DEV_ISSUER, DEV_AUDIENCE)
    };
    Authenticator::new(config).await.unwrap()
}

fn refused_because(result: Result<Principal, AuthError>, reason: &str) {
    match result {
        Err(AuthError::Certificate(message)) => {
            assert!(
                message.contains(reason),
                "{message:?} does not say {reason:?}"
            );
        }
        other => panic!("expected a refusal saying {reason:?}, got {other:?}"),
    }
}

#[tokio::test]
async fn a_certificate_names_subject_organisation_roles_and_donor() {
    let pki = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    let staff = pki.client(
        "amina@fund.example",
        "The Fund",
        &["role:approver", "role:auditor"],
    );
    assert_eq!(
        authenticator.from_certificate(&staff.der),
        Ok(Principal {
            subject: "amina@fund.example".to_owned(),
            display_name: "amina@fund.example".to_owned(),
            organisation: "The Fund".to_owned(),
            roles: BTreeSet::from([Role::Approver, Role::Auditor]),
            donor_id: None,
        })
    );
    let integration = pki.client(
        "ukaid-sync",
        "FCDO",
        &["role:donor_integration", "donor:GB-GOV-1"],
    );
    let principal = authenticator.from_certificate(&integration.der).unwrap();
    assert_eq!(principal.donor_id.as_deref(), Some("GB-GOV-1"));
    assert!(principal.has(Role::DonorIntegration));
}

#[tokio::test]
async fn other_organisational_units_are_left_alone() {
    let pki = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    let certificate = pki.client(
        "amina",
        "The Fund",
        &["Finance Department", "role:verifier"],
    );
    let principal = authenticator.from_certificate(&certificate.der).unwrap();
    assert_eq!(principal.roles, BTreeSet::from([Role::Verifier]));
}

#[tokio::test]
async fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::new("Fund client CA");
    let stranger = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    let certificate = stranger.client("amina", "The Fund", &["role:administrator"]);
    refused_because(
        authenticator.from_certificate(&certificate.der),
        "not issued by a trusted client CA",
    );
}

#[tokio::test]
async fn the_ca_certificate_itself_is_no_client() {
    let pki = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    refused_because(
        authenticator.from_certificate(&pki.ca_der()),
        "CA certificate",
    );
}

#[tokio::test]
async fn validity_and_purpose_are_checked() {
    let pki = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    let expired = pki.client_with("amina", "The Fund", &["role:auditor"], |params| {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    });
    refused_because(authenticator.from_certificate(&expired.der), "expired");
    let early = pki.client_with("amina", "The Fund", &["role:auditor"], |params| {
        params.not_before = date_time_ymd(2090, 1, 1);
        params.not_after = date_time_ymd(2091, 1, 1);
    });
    refused_because(authenticator.from_certificate(&early.der), "not valid yet");
    let server = pki.client_with("amina", "The Fund", &["role:auditor"], |params| {
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    });
    refused_because(
        authenticator.from_certificate(&server.der),
        "client authentication",
    );
}

#[tokio::test]
async fn the_names_in_a_certificate_follow_the_rules_of_tokens() {
    let pki = Pki::new("Fund client CA");
    let authenticator = trusting(&pki).await;
    let unknown = pki.client("amina", "The Fund", &["role:superuser"]);
    assert!(matches!(
        authenticator.from_certificate(&unknown.der),
        Err(AuthError::UnknownRole(_))
    ));
    let donorless = pki.client("ukaid-sync", "FCDO", &["role:donor_integration"]);
    assert_eq!(
        authenticator.from_certificate(&donorless.der),
        Err(AuthError::DonorIdRequired)
    );
    let process = pki.client("process:matching", "The Fund", &["role:approver"]);
    assert_eq!(
        authenticator.from_certificate(&process.der),
        Err(AuthError::ProcessSubject)
    );
    let two_donors = pki.client("x", "FCDO", &["donor:GB-GOV-1", "donor:GB-GOV-3"]);
    refused_because(
        authenticator.from_certificate(&two_donors.der),
        "more than one donor",
    );
    refused_because(
        authenticator.from_certificate(b"not a certificate"),
        "not a DER",
    );
}

#[tokio::test]
async fn without_a_client_ca_no_certificate_is_accepted() {
    let pki = Pki::new("Fund client CA");
    let authenticator =
        Authenticator::new(Issuer::generate().unwrap().config(DEV_ISSUER, DEV_AUDIENCE))
            .await
            .unwrap();
    assert!(authenticator.client_ca_pem().is_none());
    let certificate = pki.client("amina", "The Fund", &["role:auditor"]);
    assert_eq!(
        authenticator.from_certificate(&certificate.der),
        Err(AuthError::NoClientCa)
    );
    assert_eq!(
        trusting(&pki).await.client_ca_pem(),
        Some(pki.ca_pem().as_bytes())
    );
}
