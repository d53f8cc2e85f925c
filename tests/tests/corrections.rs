//! Correcting receipts through gRPC, once on PostgreSQL and once on SQLite: a receipt booked at
//! a mistyped rate re-rated, a bounced receipt reversed, unspent money refunded to the donor,
//! and the views, the pledge and the matching pool following each correction. A refused
//! correction writes nothing.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, as_principal, backend_tests, country_earmark,
    donor_integration, eventually, money, rate, reason, rid,
};
use tonic::Code;

backend_tests!(
    a_receipt_booked_at_a_wrong_rate_is_rerated,
    a_bounced_receipt_is_reversed_and_its_reference_booked_again,
    unspent_money_is_refunded_to_the_donor,
    a_reversed_receipt_loses_its_match,
);

/// A second finance officer: corrections are made by someone other than the booker.
const CHECKER: &str = "checker@itf.si";

async fn pledge(c: &mut Clients, matching_eligible: bool) -> String {
    story::register_donor(c, "XM-DAC-7", "Netherlands", matching_eligible)
        .await
        .unwrap();
    story::record_pledge(
        c,
        "XM-DAC-7",
        money("EUR", 100_000_00),
        country_earmark("BA"),
    )
    .await
    .unwrap()
    .created_id
}

async fn receive_at(
    c: &mut Clients,
    pledge_id: &str,
    cents: i64,
    at: &str,
    bank_reference: &str,
) -> v1::CommandResult {
    c.pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                amount: money("EUR", cents),
                value_date: "2025-02-03".to_owned(),
                rate: rate("EUR", "USD", at, "2025-01-31"),
                bank_reference: bank_reference.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn get_pledge(c: &mut Clients, pledge_id: &str) -> v1::PledgeView {
    c.pledges
        .get_pledge(v1::GetPledgeRequest {
            pledge_id: pledge_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

fn reverse(pledge_id: &str, receipt_id: &str) -> v1::ReverseReceiptRequest {
    v1::ReverseReceiptRequest {
        request_id: rid(),
        pledge_id: pledge_id.to_owned(),
        receipt_id: receipt_id.to_owned(),
        reason: "returned unpaid by the donor's bank".to_owned(),
        ..Default::default()
    }
}

fn refund(pledge_id: &str, cents: i64, reference: &str) -> v1::RefundToDonorRequest {
    v1::RefundToDonorRequest {
        request_id: rid(),
        pledge_id: pledge_id.to_owned(),
        amount: money("EUR", cents),
        payment_reference: reference.to_owned(),
        value_date: "2025-12-19".to_owned(),
        reason: "unspent at the end of the programme".to_owned(),
        ..Default::default()
    }
}

async fn head(server: &TestServer) -> u64 {
    server.server.store.head().await.unwrap().position
}

async fn country(c: &Clients, code: &str, at: u64) -> v1::CountryFunding {
    FundingClient::new(c.channel.clone())
        .get_country_funding(v1::GetCountryFundingRequest {
            country: code.to_owned(),
            min_position: at,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

async fn statement(c: &Clients, donor_id: &str, at: u64) -> v1::DonorStatement {
    FundingClient::new(c.channel.clone())
        .get_donor_statement(v1::GetDonorStatementRequest {
            donor_id: donor_id.to_owned(),
            min_position: at,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

fn reporting(amount: Option<&v1::Amount>) -> Option<v1::Money> {
    amount.and_then(|a| a.reporting.clone())
}

async fn a_receipt_booked_at_a_wrong_rate_is_rerated(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let pledge_id = pledge(&mut c, false).await;
    // 40 000.00 EUR booked at 1084.2 instead of 1.0842: 43 368 000.00 USD.
    let receipt = receive_at(&mut c, &pledge_id, 40_000_00, "1084.2", "NL-2025-0017").await;
    let project_id = story::register_project(&mut c, "BA", 250_000_00)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge_id, &project_id, 10_000_00)
        .await
        .unwrap();
    // The account's credit is the last event written before the refusal is tried.
    story::credited(&mut c, &project_id, 10_000_00)
        .await
        .unwrap();

    let rerate = |by: &str| {
        as_actor(
            by,
            v1::RerateReceiptRequest {
                request_id: rid(),
                pledge_id: pledge_id.clone(),
                receipt_id: receipt.created_id.clone(),
                rate: rate("EUR", "USD", "1.0842", "2025-01-31"),
                reason: "the rate was typed without its decimal point".to_owned(),
                ..Default::default()
            },
        )
    };
    // The booker does not correct their own receipt; nothing is written.
    let before = head(&server).await;
    let refused = c.pledges.rerate_receipt(rerate(FINANCE)).await.unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "CORRECTOR_IS_BOOKER");
    assert_eq!(head(&server).await, before);

    let corrected = c
        .pledges
        .rerate_receipt(rerate(CHECKER))
        .await
        .unwrap()
        .into_inner();
    let view = get_pledge(&mut c, &pledge_id).await;
    assert_eq!(view.received_reporting, money("USD", 43_368_00));
    // The allocation keeps the value it was booked at; the unallocated 30 000.00 EUR are now
    // worth 30 000.00 × 1.0842.
    assert_eq!(
        view.allocations[0].reporting_amount,
        money("USD", 10_842_000_00)
    );
    assert_eq!(view.unallocated_reporting, money("USD", 32_526_00));
    assert_eq!(view.receipts[0].reporting_amount, money("USD", 43_368_00));
    assert_eq!(
        view.receipts[0].rate.as_ref().map(|r| r.rate.as_str()),
        Some("1.0842")
    );

    // The same rate again changes nothing.
    let same = c.pledges.rerate_receipt(rerate(CHECKER)).await.unwrap_err();
    assert_eq!(reason(&same), "NOTHING_TO_CHANGE");

    let ba = country(&c, "BA", corrected.position).await;
    assert_eq!(reporting(ba.received.as_ref()), money("USD", 43_368_00));
    let nl = statement(&c, "XM-DAC-7", corrected.position).await;
    assert_eq!(reporting(nl.received.as_ref()), money("USD", 43_368_00));
    assert_eq!(
        reporting(nl.allocated.as_ref()),
        money("USD", 10_842_000_00)
    );
    server.stop().await.unwrap();
}

async fn a_bounced_receipt_is_reversed_and_its_reference_booked_again(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let pledge_id = pledge(&mut c, false).await;
    let first = receive_at(&mut c, &pledge_id, 10_000_00, "1.0842", "NL-A").await;
    let bounced = receive_at(&mut c, &pledge_id, 5_000_00, "1.0842", "NL-B").await;

    let reversed = c
        .pledges
        .reverse_receipt(as_actor(CHECKER, reverse(&pledge_id, &bounced.created_id)))
        .await
        .unwrap()
        .into_inner();
    let view = get_pledge(&mut c, &pledge_id).await;
    assert_eq!(view.received, money("EUR", 10_000_00));
    assert_eq!(view.received_reporting, money("USD", 10_842_00));
    assert!(view.receipts.iter().any(|r| r.reversed));
    let ba = country(&c, "BA", reversed.position).await;
    assert_eq!(reporting(ba.received.as_ref()), money("USD", 10_842_00));
    assert_eq!(
        ba.received.as_ref().map(|a| a.original.clone()),
        Some(vec![money("EUR", 10_000_00).unwrap()])
    );
    // Outstanding again: the bounced money is still expected.
    assert_eq!(
        ba.outstanding.as_ref().map(|a| a.original.clone()),
        Some(vec![money("EUR", 90_000_00).unwrap()])
    );

    // Reversed twice: refused, nothing written.
    let before = head(&server).await;
    let again = c
        .pledges
        .reverse_receipt(as_actor(CHECKER, reverse(&pledge_id, &bounced.created_id)))
        .await
        .unwrap_err();
    assert_eq!(reason(&again), "RECEIPT_ALREADY_REVERSED");
    assert_eq!(head(&server).await, before);

    // The donor's bank sends it again under the same reference.
    receive_at(&mut c, &pledge_id, 5_000_00, "1.0842", "NL-B").await;

    // Money already allocated is not reversed: the account must return it first.
    let project_id = story::register_project(&mut c, "BA", 250_000_00)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge_id, &project_id, 12_000_00)
        .await
        .unwrap();
    // The account's credit follows the allocation; the head is read once it is in.
    story::credited(&mut c, &project_id, 12_000_00)
        .await
        .unwrap();
    let before = head(&server).await;
    let refused = c
        .pledges
        .reverse_receipt(as_actor(CHECKER, reverse(&pledge_id, &first.created_id)))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "REVERSAL_EXCEEDS_UNALLOCATED");
    assert!(refused.message().contains("3000.00 EUR"), "{refused:?}");
    assert_eq!(head(&server).await, before);
    // An unknown receipt is NOT_FOUND.
    let unknown = c
        .pledges
        .reverse_receipt(as_actor(
            CHECKER,
            reverse(&pledge_id, &uuid::Uuid::now_v7().to_string()),
        ))
        .await
        .unwrap_err();
    assert_eq!(unknown.code(), Code::NotFound);
    assert_eq!(reason(&unknown), "RECEIPT_NOT_FOUND");
    server.stop().await.unwrap();
}

async fn unspent_money_is_refunded_to_the_donor(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let pledge_id = pledge(&mut c, false).await;
    receive_at(&mut c, &pledge_id, 10_000_00, "1.0842", "NL-A").await;
    let project_id = story::register_project(&mut c, "BA", 250_000_00)
        .await
        .unwrap();
    story::allocate(&mut c, &pledge_id, &project_id, 6_000_00)
        .await
        .unwrap();
    story::credited(&mut c, &project_id, 6_000_00)
        .await
        .unwrap();

    let before = head(&server).await;
    let refused = c
        .pledges
        .refund_to_donor(as_actor(FINANCE, refund(&pledge_id, 4_000_01, "PAY-1")))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "REFUND_EXCEEDS_UNALLOCATED");
    assert_eq!(head(&server).await, before);
    // A donor's system does not record refunds.
    let donor = donor_integration("erp@minbuza.nl", "XM-DAC-7");
    let denied = c
        .pledges
        .refund_to_donor(as_principal(&donor, refund(&pledge_id, 1_00, "PAY-0")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    assert_eq!(head(&server).await, before);

    let refunded = c
        .pledges
        .refund_to_donor(as_actor(FINANCE, refund(&pledge_id, 3_000_00, "PAY-1")))
        .await
        .unwrap()
        .into_inner();
    let view = get_pledge(&mut c, &pledge_id).await;
    assert_eq!(view.refunded, money("EUR", 3_000_00));
    assert_eq!(view.unallocated, money("EUR", 1_000_00));
    assert_eq!(view.refunds[0].reporting_amount, money("USD", 3_252_60));
    assert_eq!(view.refunds[0].payment_reference, "PAY-1");
    // received = allocated + unallocated + refunded
    assert_eq!(view.received, money("EUR", 10_000_00));

    let duplicate = c
        .pledges
        .refund_to_donor(as_actor(FINANCE, refund(&pledge_id, 1_00, "PAY-1")))
        .await
        .unwrap_err();
    assert_eq!(reason(&duplicate), "DUPLICATE_PAYMENT_REFERENCE");

    let nl = statement(&c, "XM-DAC-7", refunded.position).await;
    assert_eq!(reporting(nl.refunded.as_ref()), money("USD", 3_252_60));
    assert_eq!(reporting(nl.received.as_ref()), money("USD", 10_842_00));
    let ba = country(&c, "BA", refunded.position).await;
    assert_eq!(
        reporting(ba.refunded_to_donors.as_ref()),
        money("USD", 3_252_60)
    );
    let overview = FundingClient::new(c.channel.clone())
        .get_fund_overview(v1::GetFundOverviewRequest {
            min_position: refunded.position,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    // Received 10 000.00, allocated 6 000.00, refunded 3 000.00: 1 000.00 with the fund.
    assert_eq!(
        overview
            .balance_with_fund
            .as_ref()
            .map(|a| a.original.clone()),
        Some(vec![money("EUR", 1_000_00).unwrap()])
    );
    assert_eq!(
        reporting(overview.refunds_to_donors.as_ref()),
        money("USD", 3_252_60)
    );
    server.stop().await.unwrap();
}

async fn a_reversed_receipt_loses_its_match(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "US-GOV-1", "United States", false)
        .await
        .unwrap();
    let pool_id = story::open_pool(&mut c, "US-GOV-1", 50_000_000, &["BA"])
        .await
        .unwrap();
    let pledge_id = pledge(&mut c, true).await;
    let receipt = receive_at(&mut c, &pledge_id, 10_000_00, "1.0842", "NL-A").await;
    let pool = story::matched(&mut c, &pool_id).await.unwrap();
    assert_eq!(pool.reserved, money("USD", 10_842_00));

    c.pledges
        .reverse_receipt(as_actor(CHECKER, reverse(&pledge_id, &receipt.created_id)))
        .await
        .unwrap();
    let pool = eventually("the match to be voided", EFFECT_TIMEOUT, || {
        let mut c = c.clone();
        let pool_id = pool_id.clone();
        async move {
            let pool = c
                .pledges
                .get_matching_pool(v1::GetMatchingPoolRequest { pool_id })
                .await?
                .into_inner();
            Ok((pool.matches[0].status() == v1::MatchStatus::Voided).then_some(pool))
        }
    })
    .await
    .unwrap();
    assert_eq!(pool.reserved, money("USD", 0));
    server.stop().await.unwrap();
}
