//! Matching pools chosen by their rules, once on PostgreSQL and once on SQLite: a matching
//! donor with a pool for 2025 and one for 2026, whose 2026 money funds the 2026 pool alone; an
//! eligible 2026 receipt matched there; an unearmarked receipt matched by a decision of the
//! finance staff; every confirmation naming the matching donor's receipt that funded it; and a
//! receipt of the matching donor that fits no pool parked for staff rather than put anywhere.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_identity::Role;
use fundtrail_proto::v1;
use fundtrail_proto::v1::attention_client::AttentionClient;
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, as_principal, backend_tests, country_earmark,
    eventually, money, principal, rate, reason, rid,
};
use tonic::Code;

backend_tests!(
    pools_take_the_receipts_their_period_and_countries_fit,
    an_unearmarked_contribution_is_matched_by_decision,
    a_matching_donors_receipt_fitting_no_pool_needs_attention,
);

const MATCHER: &str = "US-GOV-1";

/// The matching donor, an eligible donor and the two pools: 2025 (Bosnia, capped at USD
/// `cap_2025`) and 2026 (Bosnia and Croatia, USD 100 000.00).
async fn two_pools(c: &mut Clients, cap_2025: i64) -> (String, String) {
    story::register_donor(c, MATCHER, "United States", false)
        .await
        .unwrap();
    story::register_donor(c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let y2025 = open_pool(c, cap_2025, &["BA"], "2025-01-01", "2025-12-31").await;
    let y2026 = open_pool(c, 100_000_00, &["BA", "HR"], "2026-01-01", "2026-12-31").await;
    (y2025, y2026)
}

async fn open_pool(
    c: &mut Clients,
    cap: i64,
    countries: &[&str],
    starts_on: &str,
    expires_on: &str,
) -> String {
    c.pledges
        .open_matching_pool(as_actor(
            FINANCE,
            v1::OpenMatchingPoolRequest {
                request_id: rid(),
                matching_donor_id: MATCHER.to_owned(),
                cap: money("USD", cap),
                ratio: Some(v1::MatchRatio {
                    numerator: 1,
                    denominator: 1,
                }),
                eligible_countries: countries.iter().map(|c| (*c).to_owned()).collect(),
                expires_on: expires_on.to_owned(),
                starts_on: starts_on.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .created_id
}

/// The matching donor's unearmarked USD pledge.
async fn matcher_pledge(c: &mut Clients) -> String {
    story::record_pledge(c, MATCHER, money("USD", 1_000_000_00), None)
        .await
        .unwrap()
        .created_id
}

async fn receive_usd(c: &mut Clients, pledge_id: &str, cents: i64, on: &str, bank: &str) -> String {
    c.pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                amount: money("USD", cents),
                value_date: on.to_owned(),
                bank_reference: bank.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .created_id
}

/// Receives EUR at 1 EUR = 1.0842 USD; the result (receipt id and position).
async fn receive_eur(
    c: &mut Clients,
    pledge_id: &str,
    cents: i64,
    on: &str,
    bank: &str,
) -> v1::CommandResult {
    c.pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: pledge_id.to_owned(),
                amount: money("EUR", cents),
                value_date: on.to_owned(),
                rate: rate("EUR", "USD", "1.0842", "2025-01-31"),
                bank_reference: bank.to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner()
}

async fn get_pool(c: &mut Clients, pool_id: &str) -> v1::MatchingPoolView {
    c.pledges
        .get_matching_pool(v1::GetMatchingPoolRequest {
            pool_id: pool_id.to_owned(),
        })
        .await
        .unwrap()
        .into_inner()
}

/// Waits until `pool_id` holds a match for `receipt_id` with `status`.
async fn match_of(
    c: &mut Clients,
    pool_id: &str,
    receipt_id: &str,
    status: v1::MatchStatus,
) -> v1::MatchView {
    eventually(
        &format!("receipt {receipt_id} to be {status:?} in pool {pool_id}"),
        EFFECT_TIMEOUT,
        || {
            let mut c = c.clone();
            let pool_id = pool_id.to_owned();
            let receipt_id = receipt_id.to_owned();
            async move {
                let pool = c
                    .pledges
                    .get_matching_pool(v1::GetMatchingPoolRequest { pool_id })
                    .await?
                    .into_inner();
                Ok(pool
                    .matches
                    .into_iter()
                    .find(|m| m.receipt_id == receipt_id && m.status() == status))
            }
        },
    )
    .await
    .unwrap()
}

/// Waits until the pool's funds are `cents`.
async fn funded(c: &mut Clients, pool_id: &str, cents: i64) -> v1::MatchingPoolView {
    eventually(
        &format!("pool {pool_id} to hold {cents}"),
        EFFECT_TIMEOUT,
        || {
            let mut c = c.clone();
            let pool_id = pool_id.to_owned();
            async move {
                let pool = c
                    .pledges
                    .get_matching_pool(v1::GetMatchingPoolRequest { pool_id })
                    .await?
                    .into_inner();
                Ok((pool.funds == money("USD", cents)).then_some(pool))
            }
        },
    )
    .await
    .unwrap()
}

fn decide(
    pool_id: &str,
    pledge_id: &str,
    receipt_id: &str,
    country: &str,
) -> v1::MatchContributionRequest {
    v1::MatchContributionRequest {
        request_id: rid(),
        pool_id: pool_id.to_owned(),
        pledge_id: pledge_id.to_owned(),
        receipt_id: receipt_id.to_owned(),
        country: country.to_owned(),
        ..Default::default()
    }
}

async fn pools_take_the_receipts_their_period_and_countries_fit(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let (y2025, y2026) = two_pools(&mut c, 100_000_00).await;
    let us = matcher_pledge(&mut c).await;

    // The matching donor's 2026 money is the 2026 pool's, though the 2025 pool was opened
    // first and is the donor's too.
    let us_2026 = receive_usd(&mut c, &us, 50_000_00, "2026-02-10", "FRBNY-2026-1").await;
    let pool = funded(&mut c, &y2026, 50_000_00).await;
    assert_eq!(pool.starts_on, "2026-01-01");
    assert_eq!(pool.funding.len(), 1);
    assert_eq!(pool.funding[0].receipt_id, us_2026);
    assert_eq!(pool.funding[0].pledge_id, us);
    assert_eq!(pool.funding[0].amount, money("USD", 50_000_00));

    // An eligible 2026 receipt for Bosnia fits both pools' countries but only 2026's period.
    let nl = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 100_000_00),
        country_earmark("BA"),
    )
    .await
    .unwrap()
    .created_id;
    let nl_2026 = receive_eur(&mut c, &nl, 10_000_00, "2026-03-02", "NL-2026-1").await;
    let m = match_of(
        &mut c,
        &y2026,
        &nl_2026.created_id,
        v1::MatchStatus::Confirmed,
    )
    .await;
    assert_eq!(m.amount, money("USD", 10_842_00));
    // The confirmation names the matching donor's receipt whose money confirmed it.
    assert_eq!(m.funding_receipt_id, us_2026);
    assert_eq!(m.funding_pledge_id, us);
    let pool = get_pool(&mut c, &y2026).await;
    assert_eq!(pool.confirmed, money("USD", 10_842_00));
    assert_eq!(pool.funding[0].applied, money("USD", 10_842_00));

    // A 2025 receipt goes to the 2025 pool, which has no funds yet: reserved there.
    let nl_2025 = receive_eur(&mut c, &nl, 1_000_00, "2025-05-05", "NL-2025-1").await;
    match_of(
        &mut c,
        &y2025,
        &nl_2025.created_id,
        v1::MatchStatus::Reserved,
    )
    .await;
    let pool = get_pool(&mut c, &y2025).await;
    assert_eq!(pool.funds, money("USD", 0));
    assert_eq!(pool.matches.len(), 1);
    assert!(pool.funding.is_empty());
    // The 2025 money then confirms it, naming its own receipt.
    let us_2025 = receive_usd(&mut c, &us, 2_000_00, "2025-11-28", "FRBNY-2025-1").await;
    let m = match_of(
        &mut c,
        &y2025,
        &nl_2025.created_id,
        v1::MatchStatus::Confirmed,
    )
    .await;
    assert_eq!(m.funding_receipt_id, us_2025);
    assert_eq!(
        get_pool(&mut c, &y2026).await.funds,
        money("USD", 50_000_00)
    );
    server.stop().await.unwrap();
}

async fn an_unearmarked_contribution_is_matched_by_decision(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    // The 2025 pool matches at most USD 100.00.
    let (y2025, y2026) = two_pools(&mut c, 100_00).await;
    let us = matcher_pledge(&mut c).await;
    let us_2026 = receive_usd(&mut c, &us, 50_000_00, "2026-02-10", "FRBNY-2026-1").await;
    funded(&mut c, &y2026, 50_000_00).await;
    let open = story::record_pledge(&mut c, "XM-DAC-7", money("EUR", 100_000_00), None)
        .await
        .unwrap()
        .created_id;
    let unearmarked = receive_eur(&mut c, &open, 5_000_00, "2026-04-01", "NL-OPEN-1").await;
    // An earmarked receipt after it: once its match is in, the reaction has passed the
    // unearmarked one, which it left alone.
    let earmarked = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 100_000_00),
        country_earmark("HR"),
    )
    .await
    .unwrap()
    .created_id;
    let hr = receive_eur(&mut c, &earmarked, 1_000_00, "2026-04-02", "NL-HR-1").await;
    match_of(&mut c, &y2026, &hr.created_id, v1::MatchStatus::Confirmed).await;
    let pool = get_pool(&mut c, &y2026).await;
    assert!(
        pool.matches
            .iter()
            .all(|m| m.receipt_id != unearmarked.created_id),
        "an unearmarked receipt is not matched on its own"
    );

    // Only finance officers decide.
    let programme = principal("programme@itf.si", &[Role::ProgrammeOfficer]);
    let denied = c
        .pledges
        .match_contribution(as_principal(
            &programme,
            decide(&y2026, &open, &unearmarked.created_id, "BA"),
        ))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);

    // The 2026 pool covers two countries: the decision names the one it is matched for.
    let unnamed = c
        .pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2026, &open, &unearmarked.created_id, ""),
        ))
        .await
        .unwrap_err();
    assert_eq!(unnamed.code(), Code::InvalidArgument);
    c.pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2026, &open, &unearmarked.created_id, "BA"),
        ))
        .await
        .unwrap();
    let m = match_of(
        &mut c,
        &y2026,
        &unearmarked.created_id,
        v1::MatchStatus::Confirmed,
    )
    .await;
    assert_eq!(m.country, "BA");
    assert_eq!(m.amount, money("USD", 5_421_00));
    assert_eq!(m.funding_receipt_id, us_2026);
    assert_eq!(m.funding_pledge_id, us);

    // Matched once, in whichever pool.
    for pool in [&y2026, &y2025] {
        let again = c
            .pledges
            .match_contribution(as_actor(
                FINANCE,
                decide(pool, &open, &unearmarked.created_id, "BA"),
            ))
            .await
            .unwrap_err();
        assert_eq!(
            reason(&again),
            "MATCH_ALREADY_RESERVED",
            "{pool}: {again:?}"
        );
    }
    // Earmarked money is the process manager's to match.
    let earmarked_decision = c
        .pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2026, &earmarked, &hr.created_id, "HR"),
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&earmarked_decision), "EARMARK_MISMATCH");
    // A 2026 receipt does not fit the 2025 pool's period.
    let late = receive_eur(&mut c, &open, 1_000_00, "2026-05-01", "NL-OPEN-2").await;
    let outside = c
        .pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2025, &open, &late.created_id, "BA"),
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&outside), "MATCHING_POOL_EXPIRED");
    // The 2025 pool has one country, so the decision may leave it out; its cap cuts the
    // match, and refuses the next one once exhausted.
    let early = receive_eur(&mut c, &open, 1_000_00, "2025-06-01", "NL-OPEN-3").await;
    c.pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2025, &open, &early.created_id, ""),
        ))
        .await
        .unwrap();
    let pool = get_pool(&mut c, &y2025).await;
    assert_eq!(pool.reserved, money("USD", 100_00));
    let early_2 = receive_eur(&mut c, &open, 1_000_00, "2025-06-02", "NL-OPEN-4").await;
    let exhausted = c
        .pledges
        .match_contribution(as_actor(
            FINANCE,
            decide(&y2025, &open, &early_2.created_id, ""),
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&exhausted), "MATCHING_CAP_EXCEEDED");
    server.stop().await.unwrap();
}

async fn a_matching_donors_receipt_fitting_no_pool_needs_attention(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let (y2025, y2026) = two_pools(&mut c, 100_000_00).await;
    let us = matcher_pledge(&mut c).await;
    // Money from 2024: before either pool's period.
    let stray = c
        .pledges
        .receive_contribution(as_actor(
            FINANCE,
            v1::ReceiveContributionRequest {
                request_id: rid(),
                pledge_id: us.clone(),
                amount: money("USD", 7_000_00),
                value_date: "2024-12-20".to_owned(),
                bank_reference: "FRBNY-2024-1".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let item = eventually("the receipt to be parked", EFFECT_TIMEOUT, || {
        let c = c.clone();
        let position = stray.position;
        async move {
            let items = AttentionClient::new(c.channel.clone())
                .list_attention_items(v1::ListAttentionItemsRequest {
                    consumer: "pledges.matching".to_owned(),
                    ..Default::default()
                })
                .await?
                .into_inner()
                .items;
            Ok(items.into_iter().find(|i| i.position == position))
        }
    })
    .await
    .unwrap();
    assert_eq!(item.kind(), v1::AttentionKind::Refused);
    assert_eq!(item.reason, "NO_MATCHING_POOL_FITS");
    assert!(item.cause.contains(&stray.created_id), "{}", item.cause);
    // Later money still flows: the next receipt funds its pool; the stray one funds none.
    receive_usd(&mut c, &us, 1_000_00, "2026-01-05", "FRBNY-2026-1").await;
    funded(&mut c, &y2026, 1_000_00).await;
    assert_eq!(get_pool(&mut c, &y2025).await.funds, money("USD", 0));
    server.stop().await.unwrap();
}
