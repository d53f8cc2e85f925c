//! Unspent balances going back to the fund through gRPC, once on PostgreSQL and once on SQLite:
//! an allocation returned in two parts and never beyond its amount, the pledge's unallocated
//! money growing by exactly what was returned, and a project account closed with what was left,
//! after which it takes no requests and gives a late allocation straight back.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_proto::v1;
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, backend_tests, eventually, money, reason, rid,
};

backend_tests!(unspent_balances_go_back_to_the_fund);

fn give_back(
    project_id: &str,
    allocation_id: &str,
    cents: Option<i64>,
) -> v1::ReturnAllocationRequest {
    v1::ReturnAllocationRequest {
        request_id: rid(),
        project_id: project_id.to_owned(),
        allocation_id: allocation_id.to_owned(),
        reason: "unspent at the end of the phase".to_owned(),
        amount: cents.and_then(|c| money("EUR", c)),
        ..Default::default()
    }
}

async fn return_part(
    c: &mut Clients,
    project_id: &str,
    allocation_id: &str,
    cents: Option<i64>,
) -> Result<v1::CommandResult, tonic::Status> {
    c.disbursements
        .return_allocation(as_actor(
            FINANCE,
            give_back(project_id, allocation_id, cents),
        ))
        .await
        .map(tonic::Response::into_inner)
}

async fn close(c: &mut Clients, project_id: &str) -> Result<v1::CommandResult, tonic::Status> {
    c.disbursements
        .close_project_account(as_actor(
            FINANCE,
            v1::CloseProjectAccountRequest {
                request_id: rid(),
                project_id: project_id.to_owned(),
                reason: "the project's work is complete".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .map(tonic::Response::into_inner)
}

/// Waits until the pledge's unallocated money is `cents`: the release manager works
/// asynchronously.
async fn unallocated(c: &mut Clients, pledge_id: &str, cents: i64) -> v1::PledgeView {
    eventually("the pledge to take the money back", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let pledge_id = pledge_id.to_owned();
        async move {
            let pledge = c
                .pledges
                .get_pledge(v1::GetPledgeRequest { pledge_id })
                .await?
                .into_inner();
            let now = pledge.unallocated.as_ref().map_or(0, |m| m.minor_units);
            Ok((now == cents).then_some(pledge))
        }
    })
    .await
    .unwrap()
}

fn minor(m: Option<&v1::Money>) -> i64 {
    m.map_or(0, |m| m.minor_units)
}

async fn unspent_balances_go_back_to_the_fund(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // 100 000.00 EUR received; 60 000.00 allocated to the project, then 20 000.00 more.
    let funded = story::funded_project(&mut c, "BA", 100_000_00, 60_000_00)
        .await
        .unwrap();
    let (pledge_id, project_id) = (funded.pledge_id, funded.project_id);
    story::allocate(&mut c, &pledge_id, &project_id, 20_000_00)
        .await
        .unwrap();
    let account = story::credited(&mut c, &project_id, 80_000_00)
        .await
        .unwrap();
    let first = account
        .credits
        .iter()
        .find(|credit| minor(credit.amount.as_ref()) == 60_000_00)
        .unwrap()
        .allocation_id
        .clone();
    let second = account
        .credits
        .iter()
        .find(|credit| minor(credit.amount.as_ref()) == 20_000_00)
        .unwrap()
        .allocation_id
        .clone();
    unallocated(&mut c, &pledge_id, 20_000_00).await;

    // A part, then the rest asked for explicitly; a third return finds nothing left.
    return_part(&mut c, &project_id, &first, Some(15_000_00))
        .await
        .unwrap();
    unallocated(&mut c, &pledge_id, 35_000_00).await;
    let beyond = return_part(&mut c, &project_id, &first, Some(45_000_01))
        .await
        .unwrap_err();
    assert_eq!(reason(&beyond), "RETURN_EXCEEDS_ALLOCATION");
    return_part(&mut c, &project_id, &first, Some(45_000_00))
        .await
        .unwrap();
    unallocated(&mut c, &pledge_id, 80_000_00).await;
    let third = return_part(&mut c, &project_id, &first, Some(1))
        .await
        .unwrap_err();
    assert_eq!(reason(&third), "ALLOCATION_ALREADY_RELEASED");
    let account = story::account(&mut c, &project_id).await.unwrap();
    let credit = account
        .credits
        .iter()
        .find(|credit| credit.allocation_id == first)
        .unwrap();
    assert!(credit.returned);
    assert_eq!(minor(credit.returned_amount.as_ref()), 60_000_00);
    assert_eq!(minor(account.available.as_ref()), 20_000_00);

    // 5 000.00 EUR of the second allocation is spent; the account closes once nothing is
    // pending, giving back the 15 000.00 EUR left.
    let requested = story::request_disbursement(&mut c, &project_id, 5_000_00, 0)
        .await
        .unwrap();
    let pending = close(&mut c, &project_id).await.unwrap_err();
    assert_eq!(reason(&pending), "DISBURSEMENTS_PENDING");
    story::approve(&mut c, &project_id, &requested.created_id)
        .await
        .unwrap();
    story::pay(&mut c, &project_id, &requested.created_id, "BA-PAY-1")
        .await
        .unwrap();
    close(&mut c, &project_id).await.unwrap();
    let pledge = unallocated(&mut c, &pledge_id, 95_000_00).await;
    assert_eq!(minor(pledge.received.as_ref()), 100_000_00);
    let account = story::account(&mut c, &project_id).await.unwrap();
    assert!(account.closed);
    assert_eq!(minor(account.available.as_ref()), 0);
    assert_eq!(minor(account.returned.as_ref()), 75_000_00);
    let credit = account
        .credits
        .iter()
        .find(|credit| credit.allocation_id == second)
        .unwrap();
    assert_eq!(minor(credit.returned_amount.as_ref()), 15_000_00);
    assert!(!credit.returned, "the 5 000.00 EUR paid stays allocated");

    // A closed account takes no request, and is not closed twice.
    let refused = story::request_disbursement(&mut c, &project_id, 1_00, 0)
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "ACCOUNT_CLOSED");
    let again = close(&mut c, &project_id).await.unwrap_err();
    assert_eq!(reason(&again), "ACCOUNT_CLOSED");

    // The project is still open, so an allocation can still be made to it: the closed account
    // records it and gives it straight back to the pledge.
    story::allocate(&mut c, &pledge_id, &project_id, 1_000_00)
        .await
        .unwrap();
    let late = eventually("the late allocation to be returned", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let project_id = project_id.clone();
        async move {
            let account = story::account(&mut c, &project_id).await?;
            Ok(account
                .credits
                .iter()
                .find(|credit| minor(credit.amount.as_ref()) == 1_000_00)
                .filter(|credit| credit.returned)
                .cloned())
        }
    })
    .await
    .unwrap();
    assert_eq!(minor(late.returned_amount.as_ref()), 1_000_00);
    unallocated(&mut c, &pledge_id, 95_000_00).await;
    server.stop().await.unwrap();
}
