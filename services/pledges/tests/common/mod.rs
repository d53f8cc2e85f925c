//! A trust fund on an in-memory store: the pledges service records donors, pledges, receipts
//! and pools, the milestones and disbursements services give allocations somewhere to go and
//! come back from, and the pledges service's process managers are under test.

#![allow(dead_code, reason = "each test file uses part of the fixture")]

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fundtrail_disbursements::{CreditReaction, DisbursementsService};
use fundtrail_domain::Currency;
use fundtrail_identity::{Principal, Role};
use fundtrail_milestones::MilestonesService;
use fundtrail_pledges::{MatchingReaction, PledgesService, ReleaseReaction};
use fundtrail_proto::v1;
use fundtrail_proto::v1::disbursements_server::Disbursements;
use fundtrail_proto::v1::milestones_server::Milestones;
use fundtrail_proto::v1::pledges_server::Pledges;
use fundtrail_service::reaction::{self, EventSource, Reaction, StoreSource};
use fundtrail_service::{Handled, Ledger, ServiceError};
use fundtrail_store::{Cursor, EventStore, RecordedEvent, StoreOptions};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::Request;

pub const STAFF: &str = "finance@itf.si";
/// The matching donor: its own money funds the pools it opens.
pub const MATCHER: &str = "US-GOV-1";
/// A matching-eligible donor: its earmarked receipts are matched.
pub const DONOR: &str = "XM-DAC-7";
/// A donor that is not matching-eligible.
pub const INELIGIBLE: &str = "XM-DAC-12";

/// How long an effect of a running reaction may take to become visible.
pub const EFFECT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct Fund {
    pub store: Arc<dyn EventStore>,
    pub pledges: PledgesService,
    pub milestones: MilestonesService,
    pub disbursements: DisbursementsService,
    pub matching: MatchingReaction,
    pub releases: ReleaseReaction,
    pub credits: CreditReaction,
    next_request: std::sync::atomic::AtomicU32,
}

/// A receipt as the pledges service recorded it.
#[derive(Debug, Clone)]
pub struct Receipt {
    pub pledge_id: String,
    pub id: String,
    /// The position of its `ContributionReceived`.
    pub position: u64,
}

pub async fn fund() -> Fund {
    let store = fundtrail_store::open("sqlite::memory:", StoreOptions::default())
        .await
        .unwrap();
    let ledger = |source| Ledger::new(store.clone(), source, Currency::USD);
    let pledges = ledger("pledges");
    let disbursements = ledger("disbursements");
    let fund = Fund {
        pledges: PledgesService::new(pledges.clone()),
        milestones: MilestonesService::new(ledger("milestones")),
        disbursements: DisbursementsService::new(disbursements.clone()),
        matching: MatchingReaction::new(pledges.clone()),
        releases: ReleaseReaction::new(pledges),
        credits: CreditReaction::new(disbursements),
        store,
        next_request: 0.into(),
    };
    fund.register_donor(MATCHER, "United States", false).await;
    fund.register_donor(DONOR, "Netherlands", true).await;
    fund.register_donor(INELIGIBLE, "United Kingdom", false)
        .await;
    fund
}

/// A request as the server's authentication layer hands it on: carrying the principal it
/// authenticated, here a member of staff with every staff role.
pub fn as_actor<T>(actor: &str, body: T) -> Request<T> {
    let mut request = Request::new(body);
    request.extensions_mut().insert(Principal {
        subject: actor.to_owned(),
        display_name: actor.to_owned(),
        organisation: "ITF Enhancing Human Security".to_owned(),
        roles: [
            Role::FinanceOfficer,
            Role::Approver,
            Role::ProgrammeOfficer,
            Role::Verifier,
            Role::Administrator,
            Role::Auditor,
        ]
        .into(),
        donor_id: None,
    });
    request
}

pub fn usd(minor_units: i64) -> v1::Money {
    v1::Money {
        currency: "USD".into(),
        minor_units,
    }
}

pub fn country(code: &str) -> v1::Earmark {
    v1::Earmark {
        target: Some(v1::earmark::Target::Country(code.to_owned())),
    }
}

/// Polls `check` until it gives a value; fails naming `what` after [`EFFECT_TIMEOUT`].
pub async fn eventually<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let waiting = async {
        loop {
            if let Some(value) = check().await {
                return value;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(EFFECT_TIMEOUT, waiting)
        .await
        .unwrap_or_else(|_| panic!("timed out after {EFFECT_TIMEOUT:?} waiting for {what}"))
}

/// A reaction running on the embedded log, as a server runs it.
pub struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
}

impl Running {
    pub async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.unwrap();
    }
}

impl Fund {
    pub fn request_id(&self) -> String {
        let n = self
            .next_request
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        format!("req-{n}")
    }

    pub async fn head(&self) -> u64 {
        self.store.head().await.unwrap().position
    }

    /// Starts `reaction` over the store, from its saved cursor.
    pub fn run(&self, reaction: impl Reaction) -> Running {
        let shutdown = CancellationToken::new();
        let source: Arc<dyn EventSource> = Arc::new(StoreSource(self.store.clone()));
        let task = tokio::spawn(reaction::run(
            Arc::new(reaction),
            self.store.clone(),
            source,
            shutdown.clone(),
        ));
        Running { shutdown, task }
    }

    /// Waits until the cursor `consumer` saved has reached `position`: every event up to it
    /// was handled, whether or not it had an effect.
    pub async fn cursor_reaches(&self, consumer: &str, position: u64) {
        eventually(
            &format!("the cursor of {consumer} to reach position {position}"),
            || async move {
                let cursor = self.store.load_cursor(consumer).await.unwrap();
                (cursor >= position).then_some(())
            },
        )
        .await;
    }

    /// Hands one recorded event to a reaction, as a log delivering it (again) would.
    pub async fn deliver_one(
        &self,
        reaction: &dyn Reaction,
        event: &RecordedEvent,
    ) -> Result<Handled, ServiceError> {
        let decoded = fundtrail_proto::decode(&event.event_type, &event.payload).unwrap();
        let cursor = Cursor {
            consumer: reaction.name().to_owned(),
            position: event.position,
        };
        reaction.handle(event, &decoded, cursor).await
    }

    /// The event recorded at `position`.
    pub async fn event_at(&self, position: u64) -> RecordedEvent {
        let mut events = self.store.read_all(position, 1).await.unwrap();
        assert_eq!(events.len(), 1, "an event at position {position}");
        events.remove(0)
    }

    pub async fn stream_events(&self, stream: &str) -> Vec<RecordedEvent> {
        self.store.read_stream(stream, 0).await.unwrap()
    }

    /// The event types of a stream, in order.
    pub async fn stream_types(&self, stream: &str) -> Vec<String> {
        self.stream_events(stream)
            .await
            .into_iter()
            .map(|e| e.event_type)
            .collect()
    }

    pub async fn register_donor(&self, donor_id: &str, name: &str, matching_eligible: bool) {
        self.pledges
            .register_donor(as_actor(
                STAFF,
                v1::RegisterDonorRequest {
                    request_id: self.request_id(),
                    donor_id: donor_id.into(),
                    name: name.into(),
                    kind: v1::DonorKind::Government.into(),
                    matching_eligible,
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }

    pub async fn change_eligibility(&self, donor_id: &str, matching_eligible: bool) {
        self.pledges
            .change_donor_matching_eligibility(as_actor(
                STAFF,
                v1::ChangeDonorMatchingEligibilityRequest {
                    request_id: self.request_id(),
                    donor_id: donor_id.into(),
                    matching_eligible,
                    reason: "Matching agreement suspended".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap();
    }

    /// A 1:1 pool of [`MATCHER`]'s, capped at USD `cap`, for `countries`, matching value
    /// dates until `expires_on`.
    pub async fn open_pool(&self, cap: i64, countries: &[&str], expires_on: &str) -> String {
        self.pledges
            .open_matching_pool(as_actor(
                STAFF,
                v1::OpenMatchingPoolRequest {
                    request_id: self.request_id(),
                    matching_donor_id: MATCHER.into(),
                    cap: Some(usd(cap)),
                    ratio: Some(v1::MatchRatio {
                        numerator: 1,
                        denominator: 1,
                    }),
                    eligible_countries: countries.iter().map(|&c| c.to_owned()).collect(),
                    expires_on: expires_on.into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    pub async fn pool(&self, pool_id: &str) -> v1::MatchingPoolView {
        self.pledges
            .get_matching_pool(Request::new(v1::GetMatchingPoolRequest {
                pool_id: pool_id.into(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    /// A USD pledge of `amount` from `donor_id`.
    pub async fn pledge(
        &self,
        donor_id: &str,
        amount: i64,
        earmark: Option<v1::Earmark>,
    ) -> String {
        self.pledges
            .record_pledge(as_actor(
                STAFF,
                v1::RecordPledgeRequest {
                    request_id: self.request_id(),
                    donor_id: donor_id.into(),
                    amount: Some(usd(amount)),
                    earmark,
                    pledged_on: "2025-01-10".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    /// Receives USD `amount` on a pledge, credited on `value_date`.
    pub async fn receive(&self, pledge_id: &str, amount: i64, value_date: &str) -> Receipt {
        let result = self
            .pledges
            .receive_contribution(as_actor(
                STAFF,
                v1::ReceiveContributionRequest {
                    request_id: self.request_id(),
                    pledge_id: pledge_id.into(),
                    amount: Some(usd(amount)),
                    value_date: value_date.into(),
                    bank_reference: format!("BANK-{}", self.request_id()),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner();
        Receipt {
            pledge_id: pledge_id.to_owned(),
            id: result.created_id,
            position: result.position,
        }
    }

    /// A pledge of `amount` from `donor_id`, received whole on `value_date`.
    pub async fn receipt(
        &self,
        donor_id: &str,
        earmark: Option<v1::Earmark>,
        amount: i64,
        value_date: &str,
    ) -> Receipt {
        let pledge_id = self.pledge(donor_id, amount, earmark).await;
        self.receive(&pledge_id, amount, value_date).await
    }

    pub async fn pledge_view(&self, pledge_id: &str) -> v1::PledgeView {
        self.pledges
            .get_pledge(as_actor(
                STAFF,
                v1::GetPledgeRequest {
                    pledge_id: pledge_id.into(),
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }

    /// A registered USD project in Afghanistan.
    pub async fn project(&self) -> String {
        self.milestones
            .register_project(as_actor(
                STAFF,
                v1::RegisterProjectRequest {
                    request_id: self.request_id(),
                    country: "AF".into(),
                    partner: Some(v1::ImplementingPartner {
                        name: "The HALO Trust".into(),
                        iati_id: "GB-CHC-1001813".into(),
                    }),
                    title: "Clearance of the Kandahar canal belt".into(),
                    budget: Some(usd(100_000_000)),
                    starts_on: "2025-03-01".into(),
                    ends_on: "2026-02-28".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    /// Allocates USD `amount` of a pledge's received money to a project; the allocation id.
    pub async fn allocate(&self, pledge_id: &str, project_id: &str, amount: i64) -> String {
        self.pledges
            .allocate_contribution(as_actor(
                STAFF,
                v1::AllocateContributionRequest {
                    request_id: self.request_id(),
                    pledge_id: pledge_id.into(),
                    project_id: project_id.into(),
                    amount: Some(usd(amount)),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
            .created_id
    }

    pub async fn account(&self, project_id: &str) -> v1::ProjectAccountView {
        self.disbursements
            .get_project_account(Request::new(v1::GetProjectAccountRequest {
                project_id: project_id.into(),
            }))
            .await
            .unwrap()
            .into_inner()
    }

    /// Returns a credited allocation from the project's account to the fund.
    pub async fn return_allocation(
        &self,
        project_id: &str,
        allocation_id: &str,
    ) -> v1::CommandResult {
        self.disbursements
            .return_allocation(as_actor(
                STAFF,
                v1::ReturnAllocationRequest {
                    request_id: self.request_id(),
                    project_id: project_id.into(),
                    allocation_id: allocation_id.into(),
                    reason: "Project scope reduced".into(),
                    ..Default::default()
                },
            ))
            .await
            .unwrap()
            .into_inner()
    }
}
