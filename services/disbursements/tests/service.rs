//! The disbursements service against a real in-memory store, called as a gRPC server would be.
//!
//! Longer than most files on purpose: one test per rule, each standing alone, so a failing rule
//! is found by its name; splitting would scatter one aggregate's rules.

mod common;

use common::{APPROVER, STAFF, as_actor, assert_refused, assert_violation, fund, money, usd};
use fundtrail_domain::{AccountEvent, Event};
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use tonic::Code;

const UNKNOWN: &str = "0190f3a4-7c1e-7b3a-9c1e-7b3a9c1e7b3a";

fn status(s: v1::DisbursementStatus) -> i32 {
    s.into()
}

#[tokio::test]
async fn a_disbursement_is_requested_approved_paid_refunded_and_reversed() {
    let f = fund().await;
    let project_id = f.funded_project(100_000_000).await;

    let requested = f.request(&project_id, 30_000_000, 0).await.unwrap();
    let disbursement_id = requested.created_id.clone();
    uuid::Uuid::parse_str(&disbursement_id).unwrap();
    assert_eq!(requested.stream, format!("account-{project_id}"));
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.available,
        Some(usd(70_000_000)),
        "a request holds its amount"
    );
    let d = &account.disbursements[0];
    assert_eq!(
        d.requested_by, STAFF,
        "the requester is the request's principal"
    );
    assert_eq!(d.milestone, 0);
    assert_eq!(d.status, status(v1::DisbursementStatus::Requested));

    f.approve(APPROVER, &project_id, &disbursement_id)
        .await
        .unwrap();
    f.pay(&project_id, &disbursement_id).await.unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.disbursements[0].status,
        status(v1::DisbursementStatus::Paid)
    );
    assert_eq!(account.available, Some(usd(70_000_000)));
    assert_eq!(account.credited, Some(usd(100_000_000)));

    // Without a payment currency the payment is in the account's currency, without a rate.
    let paid = f.account_events(&project_id).await.pop().unwrap();
    let Event::Account(AccountEvent::DisbursementPaid { payment, rate, .. }) =
        fundtrail_proto::decode(&paid.event_type, &paid.payload).unwrap()
    else {
        panic!("{}", paid.event_type);
    };
    assert_eq!(v1::Money::from(payment), usd(30_000_000));
    assert!(rate.is_none());

    f.refund(&project_id, &disbursement_id, 5_000_000)
        .await
        .unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.disbursements[0].refunded, Some(usd(5_000_000)));
    assert_eq!(account.available, Some(usd(75_000_000)));

    f.reverse(&project_id, &disbursement_id).await.unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.disbursements[0].status,
        status(v1::DisbursementStatus::Reversed)
    );
    assert_eq!(account.available, Some(usd(100_000_000)));

    let rejected = f
        .request(&project_id, 10_000_000, 0)
        .await
        .unwrap()
        .created_id;
    f.reject(&project_id, &rejected).await.unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.available,
        Some(usd(100_000_000)),
        "a rejection releases what it held"
    );
    assert_eq!(account.disbursements.len(), 2);
    assert_eq!(account.version, 7);
}

#[tokio::test]
async fn a_payment_in_another_currency_records_its_rate() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let id = f
        .request(&project_id, 1_000_000, 0)
        .await
        .unwrap()
        .created_id;
    f.approve(APPROVER, &project_id, &id).await.unwrap();

    let without_rate = v1::PayDisbursementRequest {
        payment_currency: "EUR".into(),
        ..f.pay_request(&project_id, &id)
    };
    assert_refused(
        f.service
            .pay_disbursement(as_actor(STAFF, without_rate))
            .await,
        Code::FailedPrecondition,
        "EXCHANGE_RATE_REQUIRED",
    );
    let in_euros = v1::PayDisbursementRequest {
        payment_currency: "EUR".into(),
        rate: Some(v1::ExchangeRate {
            base: "USD".into(),
            quote: "EUR".into(),
            rate: "0.9123".into(),
            source: "ECB reference rate".into(),
            date: "2024-06-03".into(),
        }),
        ..f.pay_request(&project_id, &id)
    };
    f.service
        .pay_disbursement(as_actor(STAFF, in_euros))
        .await
        .unwrap();
    let paid = f.account_events(&project_id).await.pop().unwrap();
    let Event::Account(AccountEvent::DisbursementPaid {
        amount,
        payment,
        rate,
        ..
    }) = fundtrail_proto::decode(&paid.event_type, &paid.payload).unwrap()
    else {
        panic!("{}", paid.event_type);
    };
    assert_eq!(v1::Money::from(amount), usd(1_000_000));
    assert_eq!(v1::Money::from(payment), money("EUR", 912_300));
    assert_eq!(rate.unwrap().source(), "ECB reference rate");
}

#[tokio::test]
async fn a_tranche_is_approved_only_after_its_milestone_is_verified() {
    let f = fund().await;
    let project_id = f.funded_project(100_000_000).await;
    let milestone = f.verified_milestone(&project_id, 40_000_000).await;
    let tranche = f
        .request(&project_id, 40_000_000, milestone)
        .await
        .unwrap()
        .created_id;
    // The verification is recorded, but the account has not learned of it yet.
    assert_refused(
        f.approve(APPROVER, &project_id, &tranche).await,
        Code::FailedPrecondition,
        "MILESTONE_NOT_VERIFIED",
    );
    f.deliver(&f.tranches).await;
    f.approve(APPROVER, &project_id, &tranche).await.unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(
        account.unlocked_tranches.get(&milestone).cloned(),
        Some(usd(40_000_000))
    );
    let d = &account.disbursements[0];
    assert_eq!(
        (d.milestone, d.status),
        (milestone, status(v1::DisbursementStatus::Approved))
    );
    assert_refused(
        f.request(&project_id, 1, milestone).await,
        Code::FailedPrecondition,
        "TRANCHE_EXCEEDS_MILESTONE",
    );
}

#[tokio::test]
async fn requests_and_approvals_refuse_broken_rules() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    assert_refused(
        f.request(&project_id, 10_000_001, 0).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_EXCEEDS_AVAILABLE",
    );
    let in_euros = v1::RequestDisbursementRequest {
        request_id: f.request_id(),
        project_id: project_id.clone(),
        amount: Some(money("EUR", 1_000)),
        partner: "The HALO Trust".into(),
        ..Default::default()
    };
    assert_refused(
        f.service
            .request_disbursement(as_actor(STAFF, in_euros))
            .await,
        Code::FailedPrecondition,
        "CURRENCY_MISMATCH",
    );
    assert_refused(
        f.request(UNKNOWN, 1_000, 0).await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );

    let id = f
        .request(&project_id, 1_000_000, 0)
        .await
        .unwrap()
        .created_id;
    // Four eyes: the requester cannot approve its own request.
    assert_refused(
        f.approve(STAFF, &project_id, &id).await,
        Code::FailedPrecondition,
        "APPROVER_IS_REQUESTER",
    );
    assert_refused(
        f.approve(APPROVER, &project_id, UNKNOWN).await,
        Code::NotFound,
        "DISBURSEMENT_NOT_FOUND",
    );
    f.approve(APPROVER, &project_id, &id).await.unwrap();
    assert_refused(
        f.approve(APPROVER, &project_id, &id).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_NOT_PENDING",
    );
}

#[tokio::test]
async fn payments_and_their_corrections_refuse_broken_rules() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let id = f
        .request(&project_id, 1_000_000, 0)
        .await
        .unwrap()
        .created_id;
    assert_refused(
        f.pay(&project_id, &id).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_NOT_APPROVED",
    );
    assert_refused(
        f.reverse(&project_id, &id).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_NOT_PAID",
    );
    assert_refused(
        f.refund(&project_id, &id, 1).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_NOT_PAID",
    );
    f.approve(APPROVER, &project_id, &id).await.unwrap();
    f.pay(&project_id, &id).await.unwrap();
    assert_refused(
        f.reject(&project_id, &id).await,
        Code::FailedPrecondition,
        "DISBURSEMENT_NOT_PENDING",
    );
    f.refund(&project_id, &id, 600_000).await.unwrap();
    assert_refused(
        f.refund(&project_id, &id, 400_001).await,
        Code::FailedPrecondition,
        "REFUND_EXCEEDS_PAID",
    );
    assert_refused(
        f.pay(UNKNOWN, &id).await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
}

#[tokio::test]
async fn allocations_are_returned_only_while_the_money_is_there() {
    let f = fund().await;
    let project_id = f.project().await;
    let allocation_id = f.allocate(&project_id, 10_000_000).await;
    f.deliver(&f.credits).await;
    assert_refused(
        f.return_allocation(&project_id, UNKNOWN).await,
        Code::NotFound,
        "ALLOCATION_NOT_FOUND",
    );
    let held = f.request(&project_id, 1, 0).await.unwrap().created_id;
    assert_refused(
        f.return_allocation(&project_id, &allocation_id).await,
        Code::FailedPrecondition,
        "RETURN_EXCEEDS_AVAILABLE",
    );
    f.reject(&project_id, &held).await.unwrap();
    f.return_allocation(&project_id, &allocation_id)
        .await
        .unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert!(account.credits[0].returned);
    assert_eq!(account.credited, Some(usd(0)));
    assert_eq!(account.available, Some(usd(0)));
    assert_refused(
        f.return_allocation(&project_id, &allocation_id).await,
        Code::FailedPrecondition,
        "ALLOCATION_ALREADY_RELEASED",
    );
}

#[tokio::test]
async fn reading_an_account() {
    let f = fund().await;
    // A registered project whose account has seen nothing yet.
    let project_id = f.project().await;
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.project_id, project_id);
    assert_eq!(account.credited, Some(usd(0)));
    assert_eq!(account.available, Some(usd(0)));
    assert!(account.credits.is_empty() && account.disbursements.is_empty());
    assert_refused(
        f.account(UNKNOWN).await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
    assert_violation(f.account("account-1").await, "project_id");
}

fn rate(rate: &str, base: &str) -> v1::ExchangeRate {
    v1::ExchangeRate {
        base: base.into(),
        quote: "EUR".into(),
        rate: rate.into(),
        source: "ECB reference rate".into(),
        date: "2024-06-03".into(),
    }
}

#[tokio::test]
async fn malformed_input_names_the_field_and_writes_nothing() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let id = f
        .request(&project_id, 1_000_000, 0)
        .await
        .unwrap()
        .created_id;
    f.approve(APPROVER, &project_id, &id).await.unwrap();
    let before = f.head().await;
    let request = |amount, partner: &str| v1::RequestDisbursementRequest {
        request_id: f.request_id(),
        project_id: project_id.clone(),
        amount,
        partner: partner.into(),
        ..Default::default()
    };
    let s = &f.service;

    let no_request_id = v1::RequestDisbursementRequest {
        request_id: String::new(),
        ..request(Some(usd(1)), "HALO")
    };
    let cases = [
        (no_request_id, "request_id"),
        (request(None, "HALO"), "amount"),
        (
            request(Some(money("usd dollars", 1)), "HALO"),
            "amount.currency",
        ),
        (request(Some(usd(0)), "HALO"), "amount"),
    ];
    for (body, field) in cases {
        assert_violation(s.request_disbursement(as_actor(STAFF, body)).await, field);
    }
    let bad_project = v1::RequestDisbursementRequest {
        project_id: "project-1".into(),
        ..request(Some(usd(1)), "HALO")
    };
    assert_violation(
        s.request_disbursement(as_actor(STAFF, bad_project)).await,
        "project_id",
    );
    assert_violation(
        f.approve(APPROVER, &project_id, "d-1").await,
        "disbursement_id",
    );
    assert_violation(f.reject(&project_id, "").await, "disbursement_id");
    assert_violation(f.reverse(&project_id, "d-1").await, "disbursement_id");

    let pay = |change: fn(&mut v1::PayDisbursementRequest)| {
        let mut body = f.pay_request(&project_id, &id);
        change(&mut body);
        as_actor(STAFF, body)
    };
    assert_violation(
        s.pay_disbursement(pay(|b| b.paid_on = "03/06/2024".into()))
            .await,
        "paid_on",
    );
    assert_violation(
        s.pay_disbursement(pay(|b| b.payment_currency = "EURO".into()))
            .await,
        "payment_currency",
    );
    assert_violation(
        s.pay_disbursement(pay(|b| b.rate = Some(rate("0.91", "US$"))))
            .await,
        "rate.base",
    );
    assert_violation(
        s.pay_disbursement(pay(|b| b.rate = Some(rate("-1", "USD"))))
            .await,
        "rate",
    );
    assert_violation(
        s.pay_disbursement(pay(|b| b.bank_reference = String::new()))
            .await,
        "bank_reference",
    );

    let refund = |amount, refunded_on: &str| v1::RefundDisbursementRequest {
        request_id: f.request_id(),
        project_id: project_id.clone(),
        disbursement_id: id.clone(),
        amount,
        refunded_on: refunded_on.into(),
        reason: "Unspent".into(),
        ..Default::default()
    };
    assert_violation(
        s.refund_disbursement(as_actor(STAFF, refund(None, "2024-07-01")))
            .await,
        "amount",
    );
    assert_violation(
        s.refund_disbursement(as_actor(STAFF, refund(Some(usd(1)), "July")))
            .await,
        "refunded_on",
    );
    assert_violation(
        f.return_allocation(&project_id, "a-1").await,
        "allocation_id",
    );

    assert_eq!(f.head().await, before, "nothing was written");
}

#[tokio::test]
async fn a_retried_request_returns_the_original_result_and_writes_nothing() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let body = v1::RequestDisbursementRequest {
        request_id: "request-once".into(),
        project_id: project_id.clone(),
        amount: Some(usd(1_000_000)),
        partner: "The HALO Trust".into(),
        ..Default::default()
    };
    let first = f
        .service
        .request_disbursement(as_actor(STAFF, body.clone()))
        .await
        .unwrap()
        .into_inner();
    let head = f.head().await;
    let again = f
        .service
        .request_disbursement(as_actor(STAFF, body.clone()))
        .await
        .unwrap()
        .into_inner();
    assert!(again.replayed);
    assert_eq!(
        again.created_id, first.created_id,
        "the same disbursement, not a second one"
    );
    assert_eq!(
        v1::CommandResult {
            replayed: false,
            ..again
        },
        first
    );
    assert_eq!(f.head().await, head);
    let account = f.account(&project_id).await.unwrap();
    assert_eq!(account.disbursements.len(), 1);
    assert_eq!(account.available, Some(usd(9_000_000)));

    let approve = v1::ApproveDisbursementRequest {
        request_id: "approve-once".into(),
        project_id: project_id.clone(),
        disbursement_id: first.created_id.clone(),
        ..Default::default()
    };
    let approved = f
        .service
        .approve_disbursement(as_actor(APPROVER, approve.clone()))
        .await
        .unwrap()
        .into_inner();
    let head = f.head().await;
    // A retry is answered with the original result even though approving again is now refused.
    let again = f
        .service
        .approve_disbursement(as_actor(APPROVER, approve))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        v1::CommandResult {
            replayed: false,
            ..again
        },
        approved
    );
    assert_eq!(f.head().await, head);

    let different = v1::RequestDisbursementRequest {
        amount: Some(usd(2_000_000)),
        ..body
    };
    assert_refused(
        f.service
            .request_disbursement(as_actor(STAFF, different))
            .await,
        Code::AlreadyExists,
        "REQUEST_ID_REUSED",
    );
}

#[tokio::test]
async fn a_stale_expected_version_is_aborted() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let id = f.request(&project_id, 1_000, 0).await.unwrap().created_id;
    let stale = v1::ApproveDisbursementRequest {
        request_id: f.request_id(),
        expected_version: Some(0),
        project_id: project_id.clone(),
        disbursement_id: id,
    };
    assert_refused(
        f.service
            .approve_disbursement(as_actor(APPROVER, stale))
            .await,
        Code::Aborted,
        "WRONG_EXPECTED_VERSION",
    );
}
