//! Partial returns and closing a project account, through the disbursements service on a real
//! in-memory store.

mod common;

use common::{APPROVER, STAFF, as_actor, assert_refused, assert_violation, fund, money, usd};
use fundtrail_domain::{AccountEvent, Event};
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use tonic::Code;

fn give_back(
    f: &common::Fund,
    project_id: &str,
    allocation_id: &str,
    amount: Option<v1::Money>,
) -> tonic::Request<v1::ReturnAllocationRequest> {
    as_actor(
        STAFF,
        v1::ReturnAllocationRequest {
            request_id: f.request_id(),
            project_id: project_id.into(),
            allocation_id: allocation_id.into(),
            reason: "Unspent balance".into(),
            amount,
            ..Default::default()
        },
    )
}

fn close(f: &common::Fund, project_id: &str) -> tonic::Request<v1::CloseProjectAccountRequest> {
    as_actor(
        STAFF,
        v1::CloseProjectAccountRequest {
            request_id: f.request_id(),
            project_id: project_id.into(),
            reason: "Project completed".into(),
            ..Default::default()
        },
    )
}

#[tokio::test]
async fn an_allocation_is_returned_in_parts() {
    let f = fund().await;
    let project_id = f.project().await;
    let allocation_id = f.allocate(&project_id, 10_000_000).await;
    f.deliver(&f.credits).await;
    f.service
        .return_allocation(give_back(
            &f,
            &project_id,
            &allocation_id,
            Some(usd(2_500_000)),
        ))
        .await
        .unwrap();
    assert_refused(
        f.service
            .return_allocation(give_back(
                &f,
                &project_id,
                &allocation_id,
                Some(usd(7_500_001)),
            ))
            .await,
        Code::FailedPrecondition,
        "RETURN_EXCEEDS_ALLOCATION",
    );
    assert_refused(
        f.service
            .return_allocation(give_back(
                &f,
                &project_id,
                &allocation_id,
                Some(money("EUR", 1)),
            ))
            .await,
        Code::FailedPrecondition,
        "CURRENCY_MISMATCH",
    );
    assert_violation(
        f.service
            .return_allocation(give_back(&f, &project_id, &allocation_id, Some(usd(-1))))
            .await,
        "amount",
    );
    let account = f.account(&project_id).await.unwrap();
    assert!(!account.credits[0].returned);
    assert_eq!(account.credits[0].returned_amount, Some(usd(2_500_000)));
    assert_eq!(account.returned, Some(usd(2_500_000)));
    assert_eq!(account.available, Some(usd(7_500_000)));
    // Left out, the amount is the rest; the event says nothing remains.
    f.service
        .return_allocation(give_back(&f, &project_id, &allocation_id, None))
        .await
        .unwrap();
    let returns: Vec<_> = f
        .account_events(&project_id)
        .await
        .iter()
        .filter_map(
            |e| match fundtrail_proto::decode(&e.event_type, &e.payload) {
                Ok(Event::Account(AccountEvent::AllocationReturned {
                    amount, remaining, ..
                })) => Some((amount.minor_units(), remaining.map(|r| r.minor_units()))),
                _ => None,
            },
        )
        .collect();
    assert_eq!(
        returns,
        [(2_500_000, Some(7_500_000)), (7_500_000, Some(0))]
    );
    assert_refused(
        f.service
            .return_allocation(give_back(&f, &project_id, &allocation_id, Some(usd(1))))
            .await,
        Code::FailedPrecondition,
        "ALLOCATION_ALREADY_RELEASED",
    );
}

#[tokio::test]
async fn closing_an_account_returns_what_is_left_and_stops_requests() {
    let f = fund().await;
    let project_id = f.funded_project(10_000_000).await;
    let held = f
        .request(&project_id, 4_000_000, 0)
        .await
        .unwrap()
        .created_id;
    assert_refused(
        f.service
            .close_project_account(close(&f, &project_id))
            .await,
        Code::FailedPrecondition,
        "DISBURSEMENTS_PENDING",
    );
    f.approve(APPROVER, &project_id, &held).await.unwrap();
    assert_refused(
        f.service
            .close_project_account(close(&f, &project_id))
            .await,
        Code::FailedPrecondition,
        "DISBURSEMENTS_PENDING",
    );
    f.pay(&project_id, &held).await.unwrap();
    f.service
        .close_project_account(close(&f, &project_id))
        .await
        .unwrap();
    let account = f.account(&project_id).await.unwrap();
    assert!(account.closed);
    assert_eq!(account.returned, Some(usd(6_000_000)));
    assert_eq!(account.available, Some(usd(0)));
    assert_eq!(account.credits[0].returned_amount, Some(usd(6_000_000)));
    assert_refused(
        f.request(&project_id, 1, 0).await,
        Code::FailedPrecondition,
        "ACCOUNT_CLOSED",
    );
    assert_refused(
        f.service
            .close_project_account(close(&f, &project_id))
            .await,
        Code::FailedPrecondition,
        "ACCOUNT_CLOSED",
    );
    // An allocation reaching the closed account is recorded and returned in the same write.
    f.allocate(&project_id, 500_000).await;
    f.deliver(&f.credits).await;
    let account = f.account(&project_id).await.unwrap();
    let late = account
        .credits
        .iter()
        .find(|c| c.amount == Some(usd(500_000)))
        .unwrap();
    assert!(late.returned);
    assert_eq!(account.available, Some(usd(0)));
}

#[tokio::test]
async fn an_unknown_project_has_no_account_to_close() {
    let f = fund().await;
    assert_refused(
        f.service
            .close_project_account(close(&f, "0190f3a4-7c1e-7b3a-9c1e-7b3a9c1e7b3a"))
            .await,
        Code::NotFound,
        "PROJECT_NOT_FOUND",
    );
}
