//! A bank reference is booked once in the whole fund, not once per pledge or account: a
//! credit raced onto two pledges by several officers at once lands on one, and a payment
//! reference is not paid twice. On PostgreSQL and SQLite.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_tests::story::{self};
use fundtrail_tests::{Backend, TestServer, backend_tests, country_earmark, money, reason};

backend_tests!(
    one_bank_credit_lands_on_one_pledge,
    a_payment_reference_is_paid_once,
);

async fn one_bank_credit_lands_on_one_pledge(backend: Backend) {
    const CONTENDERS: usize = 12;
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", false)
        .await
        .unwrap();
    story::register_donor(&mut c, "XM-DAC-5", "Germany", false)
        .await
        .unwrap();
    let mut pledges = Vec::new();
    for donor in ["XM-DAC-7", "XM-DAC-5"] {
        let pledge = story::record_pledge(
            &mut c,
            donor,
            money("EUR", 100_000_00),
            country_earmark("BA"),
        )
        .await
        .unwrap();
        pledges.push(pledge.created_id);
    }
    let head = server.server.store.head().await.unwrap().position;

    // The same credit, typed as people type it, by several officers on both pledges at once.
    let spellings = ["NL-BZ-2025-0117", " nl-bz-2025-0117", "NL-BZ-2025-0117 "];
    let tasks: Vec<_> = (0..CONTENDERS)
        .map(|i| {
            let mut c = c.clone();
            let pledge = pledges[i % 2].clone();
            let reference = spellings[i % spellings.len()];
            tokio::spawn(
                async move { story::receive_eur(&mut c, &pledge, 10_000_00, reference).await },
            )
        })
        .collect();
    let mut booked = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => booked += 1,
            Err(status) => {
                assert_eq!(reason(&status), "DUPLICATE_BANK_REFERENCE", "{status:?}");
                assert!(
                    status.message().to_uppercase().contains("NL-BZ-2025-0117"),
                    "{status:?}"
                );
            }
        }
    }
    assert_eq!(booked, 1);
    assert_eq!(server.server.store.head().await.unwrap().position, head + 1);

    // Another credit is booked as before.
    story::receive_eur(&mut c, &pledges[1], 10_000_00, "BBK-2025-0303-0391")
        .await
        .unwrap();
    server.stop().await.unwrap();
}

async fn a_payment_reference_is_paid_once(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let funded = story::funded_project(&mut c, "BA", 100_000_00, 50_000_00)
        .await
        .unwrap();
    let other = story::funded_project(&mut c, "BA", 100_000_00, 50_000_00)
        .await
        .unwrap();
    let mut approved = Vec::new();
    for project in [&funded.project_id, &other.project_id] {
        let requested = story::request_disbursement(&mut c, project, 1_000_00, 0)
            .await
            .unwrap();
        story::approve(&mut c, project, &requested.created_id)
            .await
            .unwrap();
        approved.push((project.clone(), requested.created_id));
    }
    story::pay(&mut c, &approved[0].0, &approved[0].1, "ITF-PAY-2025-0311")
        .await
        .unwrap();
    let head = server.server.store.head().await.unwrap().position;
    let refused = story::pay(&mut c, &approved[1].0, &approved[1].1, "itf-pay-2025-0311")
        .await
        .unwrap_err();
    assert_eq!(
        reason(&refused),
        "DUPLICATE_PAYMENT_REFERENCE",
        "{refused:?}"
    );
    assert_eq!(server.server.store.head().await.unwrap().position, head);
    story::pay(&mut c, &approved[1].0, &approved[1].1, "ITF-PAY-2025-0312")
        .await
        .unwrap();
    server.stop().await.unwrap();
}
