//! A period closed between a receipt's decision and its append: the append is refused because
//! the calendar moved, the receipt is decided again on the calendar as it now is, and refused
//! as `PERIOD_CLOSED`. Nothing dated in the closed period is written.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use fundtrail_domain::{Actor, Calendar, CalendarEvent, Event};
use fundtrail_identity::{Principal, Role};
use fundtrail_pledges::PledgesService;
use fundtrail_proto::v1;
use fundtrail_proto::v1::pledges_server::Pledges;
use fundtrail_service::Ledger;
use fundtrail_store::attention::AttentionStore;
use fundtrail_store::{
    AppendRequest, AppendResult, EventStore, ExpectedVersion, Head, NewEvent, RecordedEvent,
    RequestRecord, StoreError, StoreOptions, StoreStats, StreamInfo, VerifyReport,
};
use futures::stream::BoxStream;
use tonic::Request;

/// A store that closes June just before the first receipt it is asked to append.
#[derive(Debug)]
struct CloseFirst {
    inner: Arc<dyn EventStore>,
    closed: AtomicBool,
}

#[async_trait]
impl EventStore for CloseFirst {
    async fn append(&self, request: AppendRequest) -> Result<AppendResult, StoreError> {
        let receipt = request
            .events
            .iter()
            .any(|e| e.event_type == "fundtrail.v1.ContributionReceived");
        if receipt && !self.closed.swap(true, Ordering::SeqCst) {
            let close = fundtrail_proto::encode(&Event::Calendar(CalendarEvent::PeriodClosed {
                through: "2025-06-30".parse().unwrap(),
                reason: "June close".into(),
                closed_by: Actor::parse("director@itf.si").unwrap(),
            }));
            self.inner
                .append(AppendRequest::new(
                    Calendar::STREAM,
                    ExpectedVersion::NoStream,
                    vec![NewEvent::new(
                        uuid::Uuid::now_v7(),
                        close.event_type,
                        close.payload,
                        Vec::new(),
                    )],
                ))
                .await?;
        }
        self.inner.append(request).await
    }
    async fn read_stream(&self, s: &str, from: u64) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_stream(s, from).await
    }
    async fn read_all(&self, from: u64, limit: usize) -> Result<Vec<RecordedEvent>, StoreError> {
        self.inner.read_all(from, limit).await
    }
    fn subscribe(&self, from: u64) -> BoxStream<'static, Result<RecordedEvent, StoreError>> {
        self.inner.subscribe(from)
    }
    async fn head(&self) -> Result<Head, StoreError> {
        self.inner.head().await
    }
    async fn verify(&self, from: u64, to: Option<u64>) -> Result<VerifyReport, StoreError> {
        self.inner.verify(from, to).await
    }
    async fn find_request(&self, id: &str) -> Result<Option<RequestRecord>, StoreError> {
        self.inner.find_request(id).await
    }
    async fn stream_version(&self, stream: &str) -> Result<Option<u64>, StoreError> {
        self.inner.stream_version(stream).await
    }
    async fn list_streams(&self, category: &str) -> Result<Vec<StreamInfo>, StoreError> {
        self.inner.list_streams(category).await
    }
    async fn load_cursor(&self, consumer: &str) -> Result<u64, StoreError> {
        self.inner.load_cursor(consumer).await
    }
    async fn save_cursor(&self, consumer: &str, position: u64) -> Result<(), StoreError> {
        self.inner.save_cursor(consumer, position).await
    }
    fn stats(&self) -> StoreStats {
        self.inner.stats()
    }
    fn attention(&self) -> &dyn AttentionStore {
        self.inner.attention()
    }
}

fn staff<T>(body: T) -> Request<T> {
    let mut request = Request::new(body);
    request.extensions_mut().insert(Principal {
        subject: "finance@itf.si".to_owned(),
        display_name: "finance".to_owned(),
        organisation: "ITF".to_owned(),
        roles: [Role::FinanceOfficer, Role::Administrator].into(),
        donor_id: None,
    });
    request
}

fn usd(minor_units: i64) -> v1::Money {
    v1::Money {
        currency: "USD".into(),
        minor_units,
    }
}

#[tokio::test]
async fn a_close_between_decision_and_append_makes_the_receipt_decide_again() {
    let inner = fundtrail_store::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let store: Arc<dyn EventStore> = Arc::new(CloseFirst {
        inner,
        closed: AtomicBool::new(false),
    });
    let pledges = PledgesService::new(Ledger::new(
        store.clone(),
        "pledges",
        "USD".parse().unwrap(),
    ));
    pledges
        .register_donor(staff(v1::RegisterDonorRequest {
            request_id: "r1".into(),
            donor_id: "XM-DAC-7".into(),
            name: "Netherlands".into(),
            kind: v1::DonorKind::Government.into(),
            ..Default::default()
        }))
        .await
        .unwrap();
    let pledge_id = pledges
        .record_pledge(staff(v1::RecordPledgeRequest {
            request_id: "r2".into(),
            donor_id: "XM-DAC-7".into(),
            amount: Some(usd(100_000)),
            pledged_on: "2025-06-01".into(),
            ..Default::default()
        }))
        .await
        .unwrap()
        .into_inner()
        .created_id;
    // Decided while June was open; the close lands before the append.
    let refused = pledges
        .receive_contribution(staff(v1::ReceiveContributionRequest {
            request_id: "r3".into(),
            pledge_id: pledge_id.clone(),
            amount: Some(usd(1_000)),
            value_date: "2025-06-30".into(),
            bank_reference: "NL-1".into(),
            ..Default::default()
        }))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        format!("{refused:?}").contains("PERIOD_CLOSED"),
        "{refused:?}"
    );
    let written = store.read_all(1, 100).await.unwrap();
    assert!(
        written
            .iter()
            .all(|e| e.event_type != "fundtrail.v1.ContributionReceived")
    );
    // July is open.
    pledges
        .receive_contribution(staff(v1::ReceiveContributionRequest {
            request_id: "r4".into(),
            pledge_id,
            amount: Some(usd(1_000)),
            value_date: "2025-07-01".into(),
            bank_reference: "NL-2".into(),
            ..Default::default()
        }))
        .await
        .unwrap();
}
