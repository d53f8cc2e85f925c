//! The layer on a real tonic server.

use std::collections::BTreeSet;
use std::time::Duration;

use fundtrail_identity::{DEV_AUDIENCE, DEV_ISSUER, Issuer, Principal, Role};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_proto::v1::pledges_client::PledgesClient;
use tonic::Code;
use tonic::transport::Channel;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;
use tonic_types::StatusExt;

use crate::support::{Pki, bearer, plain_channel, serve, serve_tls, subject_of, tls_channel};

fn staff(subject: &str, roles: &[Role]) -> Principal {
    Principal {
        subject: subject.to_owned(),
        display_name: subject.to_owned(),
        organisation: "The Fund".to_owned(),
        roles: roles.iter().copied().collect(),
        donor_id: None,
    }
}

fn token(issuer: &Issuer, principal: &Principal) -> String {
    issuer
        .issue(principal, DEV_ISSUER, DEV_AUDIENCE, Duration::from_mins(5))
        .unwrap()
}

async fn plain_server(issuer: &Issuer) -> Channel {
    plain_channel(serve(issuer.config(DEV_ISSUER, DEV_AUDIENCE), None).await).await
}

async fn overview(channel: Channel, token: Option<&str>) -> Result<String, tonic::Status> {
    let mut client = FundingClient::new(channel);
    let request = match token {
        Some(token) => bearer(v1::GetFundOverviewRequest::default(), token),
        None => tonic::Request::new(v1::GetFundOverviewRequest::default()),
    };
    client
        .get_fund_overview(request)
        .await
        .map(|r| subject_of(&r))
}

fn unauthenticated_saying(result: Result<String, tonic::Status>, words: &str) {
    let status = result.expect_err("the call must be refused");
    assert_eq!(status.code(), Code::Unauthenticated, "{status:?}");
    assert!(
        status.message().contains(words),
        "{:?} does not say {words:?}",
        status.message()
    );
}

#[tokio::test]
async fn health_checks_need_no_credentials() {
    let issuer = Issuer::generate().unwrap();
    let mut health = HealthClient::new(plain_server(&issuer).await);
    let reply = health.check(HealthCheckRequest::default()).await;
    assert!(reply.is_ok(), "{reply:?}");
}

#[tokio::test]
async fn a_call_without_credentials_is_unauthenticated() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    unauthenticated_saying(overview(channel, None).await, "no credentials");
}

#[tokio::test]
async fn the_principal_reaches_the_service() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    let token = token(&issuer, &staff("amina@fund.example", &[Role::Auditor]));
    assert_eq!(
        overview(channel, Some(&token)).await.unwrap(),
        "amina@fund.example"
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_saying_why_without_repeating_them() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    let auditor = staff("amina", &[Role::Auditor]);

    let elsewhere = issuer
        .issue(
            &auditor,
            DEV_ISSUER,
            "another-service",
            Duration::from_mins(1),
        )
        .unwrap();
    unauthenticated_saying(
        overview(channel.clone(), Some(&elsewhere)).await,
        "audience",
    );

    let foreign = issuer
        .issue(
            &auditor,
            "https://idp.example",
            DEV_AUDIENCE,
            Duration::from_mins(1),
        )
        .unwrap();
    unauthenticated_saying(overview(channel.clone(), Some(&foreign)).await, "issuer");

    let stranger = Issuer::generate().unwrap();
    let wrong_key = token(&stranger, &auditor);
    unauthenticated_saying(overview(channel.clone(), Some(&wrong_key)).await, "key");

    let good = token(&issuer, &auditor);
    let (message, signature) = good.rsplit_once('.').unwrap();
    let forged = format!("{message}.{}", signature.chars().rev().collect::<String>());
    let status = overview(channel.clone(), Some(&forged)).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(!status.message().contains(message), "the token is echoed");

    let mut client = FundingClient::new(channel);
    let mut request = tonic::Request::new(v1::GetFundOverviewRequest::default());
    request
        .metadata_mut()
        .insert("authorization", "Basic YWxpY2U6c2VjcmV0".parse().unwrap());
    let status = client.get_fund_overview(request).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert!(status.message().contains("Bearer"), "{}", status.message());
}

#[tokio::test]
async fn a_missing_role_is_permission_denied_with_details() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    let integration = Principal {
        donor_id: Some("GB-GOV-1".to_owned()),
        ..staff("ukaid-sync", &[Role::DonorIntegration])
    };
    let token = token(&issuer, &integration);

    let status = overview(channel.clone(), Some(&token)).await.unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    let info = status.get_details_error_info().expect("error info");
    assert_eq!(info.reason, "MISSING_ROLE");
    assert_eq!(info.domain, "fundtrail");
    assert_eq!(
        info.metadata["method"],
        "/fundtrail.v1.Funding/GetFundOverview"
    );
    let required: BTreeSet<&str> = info.metadata["required"].split(',').collect();
    assert!(required.contains("auditor") && !required.contains("donor_integration"));

    let mut client = FundingClient::new(channel);
    let statement = client
        .get_donor_statement(bearer(v1::GetDonorStatementRequest::default(), &token))
        .await
        .unwrap();
    assert_eq!(subject_of(&statement), "ukaid-sync");
}

#[tokio::test]
async fn auditors_cannot_write_and_finance_officers_can() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    let mut pledges = PledgesClient::new(channel);

    let auditor = token(&issuer, &staff("amina", &[Role::Auditor]));
    let status = pledges
        .record_pledge(bearer(v1::RecordPledgeRequest::default(), &auditor))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.get_details_error_info().unwrap().metadata["required"],
        "finance_officer,donor_integration"
    );

    // Admitted: the layer lets it through to a server that has no Pledges service.
    let officer = token(&issuer, &staff("kofi", &[Role::FinanceOfficer]));
    let status = pledges
        .record_pledge(bearer(v1::RecordPledgeRequest::default(), &officer))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
}

#[tokio::test]
async fn a_method_without_a_rule_is_refused() {
    let issuer = Issuer::generate().unwrap();
    let channel = plain_server(&issuer).await;
    let token = token(
        &issuer,
        &staff(
            "root",
            &Role::ALL
                .iter()
                .copied()
                .filter(|r| *r != Role::DonorIntegration)
                .collect::<Vec<_>>(),
        ),
    );
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.unwrap();
    let status = grpc
        .unary::<_, v1::FundOverview, _>(
            bearer(v1::GetFundOverviewRequest::default(), &token),
            http::uri::PathAndQuery::from_static("/fundtrail.v1.Funding/DeleteEverything"),
            tonic_prost::ProstCodec::default(),
        )
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::PermissionDenied);
    assert_eq!(
        status.get_details_error_info().unwrap().reason,
        "NO_ACCESS_RULE"
    );
}

#[tokio::test]
async fn a_client_certificate_authenticates_over_tls() {
    let pki = Pki::new("Fund CA");
    let issuer = Issuer::generate().unwrap();
    let config = fundtrail_identity::AuthConfig {
        client_ca: Some(pki.ca_file.clone()),
        ..issuer.config(DEV_ISSUER, DEV_AUDIENCE)
    };
    let address = serve_tls(config, &pki).await;

    let certificate = pki.client("auditor-bot", "The Fund", &["role:auditor"]);
    let channel = tls_channel(address, &pki, Some(&certificate))
        .await
        .unwrap();
    assert_eq!(
        overview(channel.clone(), None).await.unwrap(),
        "auditor-bot"
    );

    // A bearer token on the same connection speaks for the person behind it.
    let token = token(&issuer, &staff("amina", &[Role::Approver]));
    assert_eq!(overview(channel, Some(&token)).await.unwrap(), "amina");

    // TLS without a certificate still needs credentials.
    let anonymous = tls_channel(address, &pki, None).await.unwrap();
    unauthenticated_saying(overview(anonymous, None).await, "no credentials");

    // A certificate whose roles are unknown authenticates no one.
    let odd = pki.client("auditor-bot", "The Fund", &["role:superuser"]);
    let channel = tls_channel(address, &pki, Some(&odd)).await.unwrap();
    unauthenticated_saying(overview(channel, None).await, "superuser");
}

#[tokio::test]
async fn a_certificate_from_another_ca_never_gets_through() {
    let pki = Pki::new("Fund CA");
    let stranger = Pki::new("Fund CA");
    let issuer = Issuer::generate().unwrap();
    let config = fundtrail_identity::AuthConfig {
        client_ca: Some(pki.ca_file.clone()),
        ..issuer.config(DEV_ISSUER, DEV_AUDIENCE)
    };
    let address = serve_tls(config, &pki).await;
    let certificate = stranger.client("auditor-bot", "The Fund", &["role:auditor"]);
    // The handshake refuses it; depending on timing the refusal shows on connect or on the
    // first call.
    match tls_channel(address, &pki, Some(&certificate)).await {
        Err(_) => {}
        Ok(channel) => {
            overview(channel, None).await.unwrap_err();
        }
    }
}
