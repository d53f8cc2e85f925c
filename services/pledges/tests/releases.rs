//! The release manager with partial returns: each part the project account gives back grows
//! the pledge's unallocated money by exactly that part, once however often it is delivered.

mod common;

use common::{DONOR, STAFF, as_actor, eventually, fund, usd};
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use fundtrail_service::Handled;

#[tokio::test]
async fn each_returned_part_goes_back_to_the_pledge_once() {
    let f = fund().await;
    let project_id = f.project().await;
    let pledge_id = f.pledge(DONOR, 50_000_000, None).await;
    f.receive(&pledge_id, 50_000_000, "2025-03-01").await;
    let allocation_id = f.allocate(&pledge_id, &project_id, 20_000_000).await;
    let credits = f.run(f.credits.clone());
    eventually("the allocation credited to the account", || async {
        (!f.account(&project_id).await.credits.is_empty()).then_some(())
    })
    .await;
    credits.stop().await;

    let give_back = |cents: i64| {
        as_actor(
            STAFF,
            v1::ReturnAllocationRequest {
                request_id: f.request_id(),
                project_id: project_id.clone(),
                allocation_id: allocation_id.clone(),
                reason: "Unspent balance".into(),
                amount: Some(usd(cents)),
                ..Default::default()
            },
        )
    };
    let first = f
        .disbursements
        .return_allocation(give_back(7_500_000))
        .await
        .unwrap()
        .into_inner();
    let releases = f.run(f.releases.clone());
    eventually("the first part back on the pledge", || async {
        (f.pledge_view(&pledge_id).await.unallocated == Some(usd(37_500_000))).then_some(())
    })
    .await;
    releases.stop().await;

    // Delivered again, the first part changes nothing.
    let head = f.head().await;
    let event = f.event_at(first.position).await;
    assert_eq!(
        f.deliver_one(&f.releases, &event).await.unwrap(),
        Handled::Written
    );
    assert_eq!(f.head().await, head, "nothing new was written");

    f.disbursements
        .return_allocation(give_back(12_500_000))
        .await
        .unwrap();
    let releases = f.run(f.releases.clone());
    let pledge = eventually("the rest back on the pledge", || async {
        let pledge = f.pledge_view(&pledge_id).await;
        (pledge.unallocated == Some(usd(50_000_000))).then_some(pledge)
    })
    .await;
    releases.stop().await;
    let allocation = pledge
        .allocations
        .iter()
        .find(|a| a.allocation_id == allocation_id)
        .unwrap();
    assert!(allocation.released, "released once all of it is back");
    let parts = f
        .stream_types(&format!("pledge-{pledge_id}"))
        .await
        .into_iter()
        .filter(|t| t == "fundtrail.v1.AllocationReleased")
        .count();
    assert_eq!(parts, 2);
}
