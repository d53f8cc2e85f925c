//! Closing periods through gRPC, once on PostgreSQL and once on SQLite: once June is closed a
//! receipt dated in June is refused with nothing written, one dated in July is booked, and a
//! June receipt is still corrected by a reversal made now, the adjustment naming it. A close
//! racing receipts never lets one into the closed period.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use fundtrail_domain::{CalendarEvent, Event, PledgeEvent};
use fundtrail_identity::Role;
use fundtrail_proto::v1;
use fundtrail_tests::story::{self, DIRECTOR, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, as_principal, backend_tests, country_earmark, money,
    principal, rate, reason, rid,
};
use tonic::Code;

backend_tests!(
    a_closed_month_takes_no_entries_but_its_receipts_are_still_corrected,
    a_close_racing_receipts_never_lets_one_into_the_closed_period,
    payments_and_their_refunds_are_dated_in_the_open_period,
);

/// A second finance officer: corrections are made by someone other than the booker.
const CHECKER: &str = "checker@itf.si";

async fn pledge(c: &mut Clients) -> String {
    story::register_donor(c, "XM-DAC-7", "Netherlands", false)
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

fn receipt(
    pledge_id: &str,
    value_date: &str,
    bank_reference: &str,
) -> v1::ReceiveContributionRequest {
    v1::ReceiveContributionRequest {
        request_id: rid(),
        pledge_id: pledge_id.to_owned(),
        amount: money("EUR", 1_000_00),
        value_date: value_date.to_owned(),
        rate: rate("EUR", "USD", "1.0842", value_date),
        bank_reference: bank_reference.to_owned(),
        ..Default::default()
    }
}

fn close(through: &str) -> v1::ClosePeriodRequest {
    v1::ClosePeriodRequest {
        request_id: rid(),
        through: through.to_owned(),
        reason: "month-end close".to_owned(),
        ..Default::default()
    }
}

async fn head(server: &TestServer) -> u64 {
    server.server.store.head().await.unwrap().position
}

async fn a_closed_month_takes_no_entries_but_its_receipts_are_still_corrected(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let pledge_id = pledge(&mut c).await;
    let june = c
        .pledges
        .receive_contribution(as_actor(
            FINANCE,
            receipt(&pledge_id, "2025-06-12", "NL-JUN-1"),
        ))
        .await
        .unwrap()
        .into_inner();

    // Closing is an approver's act, not the bookers'.
    let officer = principal("clerk@itf.si", &[Role::FinanceOfficer]);
    let denied = c
        .pledges
        .close_period(as_principal(&officer, close("2025-06-30")))
        .await
        .unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    // Only a month end closes, and only once it has passed.
    let not_month_end = c
        .pledges
        .close_period(as_actor(DIRECTOR, close("2025-06-29")))
        .await
        .unwrap_err();
    assert_eq!(not_month_end.code(), Code::InvalidArgument);
    let future = c
        .pledges
        .close_period(as_actor(DIRECTOR, close("2999-12-31")))
        .await
        .unwrap_err();
    assert_eq!(reason(&future), "PERIOD_NOT_ENDED");

    c.pledges
        .close_period(as_actor(DIRECTOR, close("2025-06-30")))
        .await
        .unwrap();
    let calendar = c
        .pledges
        .get_calendar(v1::GetCalendarRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(calendar.closed_through, "2025-06-30");
    assert_eq!(calendar.closes.len(), 1);
    assert_eq!(calendar.closes[0].closed_by, DIRECTOR);
    // Never reopened, never moved back.
    for through in ["2025-06-30", "2025-05-31"] {
        let again = c
            .pledges
            .close_period(as_actor(DIRECTOR, close(through)))
            .await
            .unwrap_err();
        assert_eq!(reason(&again), "PERIOD_ALREADY_CLOSED", "{through}");
    }

    // A receipt dated in June is refused, and nothing is written.
    let before = head(&server).await;
    let refused = c
        .pledges
        .receive_contribution(as_actor(
            FINANCE,
            receipt(&pledge_id, "2025-06-30", "NL-JUN-2"),
        ))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert_eq!(reason(&refused), "PERIOD_CLOSED");
    let refund = c
        .pledges
        .refund_to_donor(as_actor(
            CHECKER,
            v1::RefundToDonorRequest {
                request_id: rid(),
                pledge_id: pledge_id.clone(),
                amount: money("EUR", 100_00),
                payment_reference: "REFUND-JUN".to_owned(),
                value_date: "2025-06-20".to_owned(),
                reason: "paid twice".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap_err();
    assert_eq!(reason(&refund), "PERIOD_CLOSED");
    assert_eq!(head(&server).await, before);

    // July is open.
    c.pledges
        .receive_contribution(as_actor(
            FINANCE,
            receipt(&pledge_id, "2025-07-01", "NL-JUL-1"),
        ))
        .await
        .unwrap();

    // The June receipt bounced: reversed now, in the open period, naming the receipt.
    c.pledges
        .reverse_receipt(as_actor(
            CHECKER,
            v1::ReverseReceiptRequest {
                request_id: rid(),
                pledge_id: pledge_id.clone(),
                receipt_id: june.created_id.clone(),
                reason: "returned unpaid by the donor's bank".to_owned(),
                ..Default::default()
            },
        ))
        .await
        .unwrap();
    let view = c
        .pledges
        .get_pledge(v1::GetPledgeRequest {
            pledge_id: pledge_id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.received, money("EUR", 1_000_00));
    let reversal = server
        .server
        .store
        .read_stream(&format!("pledge-{pledge_id}"), 0)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|r| fundtrail_proto::decode(&r.event_type, &r.payload).ok())
        .find_map(|e| match e {
            Event::Pledge(PledgeEvent::ReceiptReversed {
                receipt_id,
                corrects_version,
                ..
            }) => Some((receipt_id.to_string(), corrects_version)),
            _ => None,
        });
    assert_eq!(reversal, Some((june.created_id.clone(), june.version)));
    server.stop().await.unwrap();
}

async fn a_close_racing_receipts_never_lets_one_into_the_closed_period(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let pledge_id = pledge(&mut c).await;

    let mut tasks = Vec::new();
    for n in 0..24 {
        let mut booker = c.clone();
        let request = receipt(&pledge_id, "2025-06-30", &format!("NL-RACE-{n}"));
        tasks.push(tokio::spawn(async move {
            booker
                .pledges
                .receive_contribution(as_actor(FINANCE, request))
                .await
        }));
        if n == 8 {
            let mut closer = c.clone();
            tasks.push(tokio::spawn(async move {
                closer
                    .pledges
                    .close_period(as_actor(DIRECTOR, close("2025-06-30")))
                    .await
                    .map(|_| tonic::Response::new(v1::CommandResult::default()))
            }));
        }
    }
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => {}
            Err(status) => assert_eq!(reason(&status), "PERIOD_CLOSED", "{status:?}"),
        }
    }

    // In the one order of the store, every June receipt comes before the close.
    let events = server.server.store.read_all(1, 10_000).await.unwrap();
    let mut closed_at = None;
    let mut booked = 0;
    for recorded in &events {
        match fundtrail_proto::decode(&recorded.event_type, &recorded.payload).unwrap() {
            Event::Calendar(CalendarEvent::PeriodClosed { .. }) => {
                closed_at = Some(recorded.position);
            }
            Event::Pledge(PledgeEvent::ContributionReceived { .. }) => {
                booked += 1;
                assert!(
                    closed_at.is_none(),
                    "a June receipt at position {} follows the close at {closed_at:?}",
                    recorded.position
                );
            }
            _ => {}
        }
    }
    assert!(closed_at.is_some(), "the close was recorded");
    let view = c
        .pledges
        .get_pledge(v1::GetPledgeRequest { pledge_id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(view.receipts.len(), booked);
    server.stop().await.unwrap();
}

async fn payments_and_their_refunds_are_dated_in_the_open_period(backend: Backend) {
    let server = TestServer::start(backend).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let funded = story::funded_project(&mut c, "BA", 100_000_00, 50_000_00)
        .await
        .unwrap();
    let project_id = funded.project_id;
    let requested = story::request_disbursement(&mut c, &project_id, 10_000_00, 0)
        .await
        .unwrap();
    story::approve(&mut c, &project_id, &requested.created_id)
        .await
        .unwrap();
    c.pledges
        .close_period(as_actor(DIRECTOR, close("2025-06-30")))
        .await
        .unwrap();

    let pay = |paid_on: &str| {
        as_actor(
            DIRECTOR,
            v1::PayDisbursementRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                disbursement_id: requested.created_id.clone(),
                paid_on: paid_on.to_owned(),
                bank_reference: format!("PAY-{paid_on}"),
                ..Default::default()
            },
        )
    };
    let before = head(&server).await;
    let refused = c
        .disbursements
        .pay_disbursement(pay("2025-06-15"))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PERIOD_CLOSED");
    assert_eq!(head(&server).await, before);
    c.disbursements
        .pay_disbursement(pay("2025-07-15"))
        .await
        .unwrap();

    // The partner's refund names the payment; it is dated when the money came back.
    let refund = |refunded_on: &str| {
        as_actor(
            FINANCE,
            v1::RefundDisbursementRequest {
                request_id: rid(),
                project_id: project_id.clone(),
                disbursement_id: requested.created_id.clone(),
                amount: money("EUR", 1_000_00),
                refunded_on: refunded_on.to_owned(),
                reason: "unspent".to_owned(),
                ..Default::default()
            },
        )
    };
    let refused = c
        .disbursements
        .refund_disbursement(refund("2025-06-30"))
        .await
        .unwrap_err();
    assert_eq!(reason(&refused), "PERIOD_CLOSED");
    c.disbursements
        .refund_disbursement(refund("2025-08-01"))
        .await
        .unwrap();
    server.stop().await.unwrap();
}
