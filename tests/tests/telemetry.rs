//! One trace from a command to everything it causes, across four servers and a broker — once
//! over NATS JetStream, once over Kafka — and the metrics that move while it runs.
//!
//! The tracer and meter providers are process-wide, so these tests live in a binary of their
//! own, install the in-memory recorder before anything else, and tell their spans apart by
//! trace id.
#![allow(
    clippy::inconsistent_digit_grouping,
    reason = "amounts in cents read as major units and cents: 100_000_00 is 100 000.00"
)]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_domain::Event;
use fundtrail_log::{Consumer, ConsumerOptions, Delivery, EventSource, LogError};
use fundtrail_proto::v1;
use fundtrail_proto::v1::funding_client::FundingClient;
use fundtrail_server::Roles;
use fundtrail_service::ServiceError;
use fundtrail_service::reaction::{self, Handled, Reaction};
use fundtrail_store::{Cursor, EventStore, RecordedEvent};
use fundtrail_telemetry::metrics::{self as names, attr};
use fundtrail_telemetry::testing::{Recorder, SpanData, SpanId, SpanKind, attribute, recorder};
use fundtrail_tests::story::{self, EFFECT_TIMEOUT, FINANCE};
use fundtrail_tests::{
    Backend, Clients, TestServer, as_actor, country_earmark, drop_schema, eventually, kafka, money,
    nats, one_service, rid, unique_schema,
};
use futures::StreamExt;
use futures::stream::BoxStream;
use tokio_util::sync::CancellationToken;

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn children<'a>(spans: &'a [SpanData], parent: &SpanData, name: &str) -> Vec<&'a SpanData> {
    named(spans, name)
        .into_iter()
        .filter(|s| s.parent_span_id == parent.span_context.span_id())
        .collect()
}

/// The trace of an allocation once every hop has ended: the command's append, the relay's
/// publish, the credit it causes in the disbursements service, and the projector's apply.
fn complete(spans: &[SpanData]) -> bool {
    let Some(append) = named(spans, "append pledge").into_iter().next() else {
        return false;
    };
    let credited = named(spans, "append account");
    [
        "process disbursements.credits",
        "apply projector",
        "process pledges.matching",
    ]
    .iter()
    .all(|name| !children(spans, append, name).is_empty())
        && spans.iter().any(|s| {
            s.span_kind == SpanKind::Producer && s.parent_span_id == append.span_context.span_id()
        })
        && credited.iter().any(|effect| {
            !children(spans, effect, "apply projector").is_empty()
                && spans.iter().any(|s| {
                    s.span_kind == SpanKind::Producer
                        && s.parent_span_id == effect.span_context.span_id()
                })
        })
}

/// Runs an allocation across four servers on `log_url`, with `incoming` as the caller's
/// traceparent, and checks that one trace holds it from the RPC to every consumer.
async fn one_trace_through(log_url: &str, incoming: Option<(&str, &str)>) {
    let recorder = recorder();
    let schema = unique_schema();
    let only = |f: fn(&mut Roles)| {
        let mut roles = Roles::default();
        f(&mut roles);
        roles
    };
    let pledges = one_service(only(|r| r.pledges = true), &schema, log_url)
        .await
        .unwrap();
    let milestones = one_service(only(|r| r.milestones = true), &schema, log_url)
        .await
        .unwrap();
    let disbursements = one_service(only(|r| r.disbursements = true), &schema, log_url)
        .await
        .unwrap();
    let projector = one_service(only(|r| r.projector = true), &schema, log_url)
        .await
        .unwrap();
    let mut c = Clients::split(
        &pledges.url(),
        &milestones.url(),
        &disbursements.url(),
        &projector.url(),
    )
    .await
    .unwrap();
    let appended_before = recorder.total(names::EVENTS_APPENDED, &[]);

    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let pledge_id = story::record_pledge(
        &mut c,
        "XM-DAC-7",
        money("EUR", 100_000_00),
        country_earmark("BA"),
    )
    .await
    .unwrap()
    .created_id;
    story::receive_eur(&mut c, &pledge_id, 50_000_00, "NL-OTEL-1")
        .await
        .unwrap();
    let project_id = story::register_project(&mut c, "BA", 200_000_00)
        .await
        .unwrap();
    let request_id = rid();
    let mut request = as_actor(
        FINANCE,
        v1::AllocateContributionRequest {
            request_id: request_id.clone(),
            pledge_id,
            project_id: project_id.clone(),
            amount: money("EUR", 40_000_00),
            ..Default::default()
        },
    );
    if let Some((trace_id, span_id)) = incoming {
        let traceparent = format!("00-{trace_id}-{span_id}-01");
        request
            .metadata_mut()
            .insert("traceparent", traceparent.parse().unwrap());
    }
    let allocated = c
        .pledges
        .allocate_contribution(request)
        .await
        .unwrap()
        .into_inner();
    story::credited(&mut c, &project_id, 40_000_00)
        .await
        .unwrap();
    let mut read = tonic::Request::new(v1::GetCountryFundingRequest {
        country: "BA".to_owned(),
        min_position: allocated.position,
        as_of: None,
    });
    read.set_timeout(Duration::from_secs(30));
    FundingClient::new(c.channel.clone())
        .get_country_funding(read)
        .await
        .unwrap();

    // The command span names the request, which tells this test's trace from the others'.
    let command = recorder
        .spans()
        .into_iter()
        .find(|s| attribute(s, "fundtrail.request_id").as_deref() == Some(request_id.as_str()))
        .expect("the allocation's command span");
    let trace_id = command.span_context.trace_id().to_string();
    let spans = eventually("every hop of the trace to end", EFFECT_TIMEOUT, || {
        let spans = recorder.trace(&trace_id);
        async move { Ok(complete(&spans).then_some(spans)) }
    })
    .await
    .unwrap_or_else(|error| {
        let seen: Vec<_> = recorder
            .trace(&trace_id)
            .into_iter()
            .map(|s| s.name)
            .collect();
        panic!("{error}; the trace holds {seen:?}")
    });

    let rpc = named(&spans, "fundtrail.v1.Pledges/AllocateContribution");
    assert_eq!(rpc.len(), 1, "one server span for the call");
    let rpc = rpc[0];
    assert_eq!(rpc.span_kind, SpanKind::Server);
    assert_eq!(attribute(rpc, "rpc.grpc.status_code").as_deref(), Some("0"));
    match incoming {
        Some((trace, span)) => {
            assert_eq!(trace_id, trace, "the caller's trace is continued");
            assert_eq!(rpc.parent_span_id, SpanId::from_hex(span).unwrap());
            assert!(rpc.parent_span_is_remote);
        }
        None => assert_eq!(
            rpc.parent_span_id,
            SpanId::INVALID,
            "the server starts the trace"
        ),
    }
    assert_eq!(command.parent_span_id, rpc.span_context.span_id());
    let append = children(&spans, &command, "append pledge");
    assert_eq!(append.len(), 1);
    let append = append[0];
    assert_eq!(
        attribute(append, "fundtrail.position").as_deref(),
        Some(allocated.position.to_string().as_str())
    );
    // Every consumer continues the trace as a child of the span that recorded the event.
    for consumer in ["process disbursements.credits", "apply projector"] {
        let found = children(&spans, append, consumer);
        assert!(!found.is_empty(), "{consumer}");
        assert!(found.iter().all(|s| s.span_kind == SpanKind::Consumer));
    }
    let credit = children(&spans, append, "process disbursements.credits")[0];
    assert_eq!(
        attribute(credit, "fundtrail.outcome").as_deref(),
        Some("written")
    );
    let publish = spans
        .iter()
        .find(|s| {
            s.span_kind == SpanKind::Producer && s.parent_span_id == append.span_context.span_id()
        })
        .unwrap();
    assert_eq!(
        attribute(publish, "fundtrail.position").as_deref(),
        Some(allocated.position.to_string().as_str())
    );
    // The credit's own command runs inside the reaction's span, and its events carry on.
    let effect = named(&spans, "command account");
    assert!(
        effect
            .iter()
            .any(|s| s.parent_span_id == credit.span_context.span_id())
    );

    let appended_after = recorder.total(names::EVENTS_APPENDED, &[]);
    assert!(
        appended_after >= appended_before + 5.0,
        "{appended_before} → {appended_after}"
    );
    for server in [pledges, milestones, disbursements, projector] {
        server.stop().await.unwrap();
    }
    drop_schema(&schema).await.unwrap();
}

/// The metrics the story moved, as the recorder saw them.
fn check_story_metrics(recorder: &Recorder, relay: &str) {
    let ok = recorder.total(
        names::RPC_DURATION,
        &[
            (attr::RPC_METHOD, "AllocateContribution"),
            (attr::RPC_STATUS, "OK"),
        ],
    );
    assert!(ok >= 1.0, "allocations timed: {ok}");
    let pledges = recorder.total(names::EVENTS_APPENDED, &[(attr::SOURCE, "pledges")]);
    assert!(pledges >= 4.0, "pledge events appended: {pledges}");
    let credits = recorder.total(names::EVENTS_APPENDED, &[(attr::SOURCE, "disbursements")]);
    assert!(credits >= 1.0, "credits appended: {credits}");
    let published = recorder.total(names::RELAY_PUBLISHED, &[(attr::RELAY, relay)]);
    assert!(published >= 6.0, "published by {relay}: {published}");
    assert!(
        !recorder
            .points(names::RELAY_LAG, &[(attr::RELAY, relay)])
            .is_empty()
    );
    assert!(
        !recorder
            .points(names::RELAY_OLDEST_UNPUBLISHED_AGE, &[(attr::RELAY, relay)])
            .is_empty()
    );
    for view in ["country_funding", "donor_statements", "fund_overview"] {
        assert!(
            !recorder
                .points(names::PROJECTION_LAG, &[(attr::VIEW, view)])
                .is_empty(),
            "{view}"
        );
    }
    let written = recorder.total(
        names::CONSUMER_EVENTS,
        &[
            (attr::CONSUMER, "disbursements.credits"),
            (attr::OUTCOME, "written"),
        ],
    );
    assert!(written >= 1.0, "credits written: {written}");
    let applied = recorder.total(names::CONSUMER_EVENTS, &[(attr::CONSUMER, "projector")]);
    assert!(applied >= 6.0, "events applied by the projector: {applied}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_spans_command_relay_and_consumers_over_nats() {
    let recorder = recorder();
    let id = uuid::Uuid::new_v4().simple().to_string();
    let stream = format!("FT_OTEL_{id}");
    let url = format!("{}?stream={stream}&prefix=otel{id}", nats());
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let span_id = &uuid::Uuid::new_v4().simple().to_string()[..16];
    one_trace_through(&url, Some((&trace_id, span_id))).await;
    check_story_metrics(recorder, "relay.nats");
    let client = async_nats::connect(nats()).await.unwrap();
    async_nats::jetstream::new(client)
        .delete_stream(&stream)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_trace_spans_command_relay_and_consumers_over_kafka() {
    let recorder = recorder();
    let Some(brokers) = kafka() else { return };
    let id = uuid::Uuid::new_v4().simple().to_string();
    let url = format!("kafka://{brokers}?topic=fundtrail.otel.{id}&partitions=3");
    one_trace_through(&url, None).await;
    check_story_metrics(recorder, "relay.kafka");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refusals_are_timed_under_their_status_code() {
    let recorder = recorder();
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let mut c = server.clients().await.unwrap();
    let before = recorder.total(
        names::RPC_DURATION,
        &[
            (attr::RPC_METHOD, "RegisterDonor"),
            (attr::RPC_STATUS, "INVALID_ARGUMENT"),
        ],
    );
    let refused = c
        .pledges
        .register_donor(v1::RegisterDonorRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::InvalidArgument);
    let after = recorder.total(
        names::RPC_DURATION,
        &[
            (attr::RPC_METHOD, "RegisterDonor"),
            (attr::RPC_STATUS, "INVALID_ARGUMENT"),
        ],
    );
    assert!((after - before - 1.0).abs() < 0.5, "{before} → {after}");
    // Health probes are neither traced nor timed.
    let probes = || {
        recorder.points(
            names::RPC_DURATION,
            &[(attr::RPC_SERVICE, "grpc.health.v1.Health")],
        )
    };
    assert!(probes().is_empty());
    server.stop().await.unwrap();
}

/// Delivers the store's first event twice.
struct Twice(Arc<dyn EventStore>);

impl EventSource for Twice {
    fn deliveries(&self, _: &str, _: u64) -> BoxStream<'static, Result<Delivery, LogError>> {
        let store = self.0.clone();
        futures::stream::iter([1_u64, 1])
            .then(move |position| {
                let store = store.clone();
                async move {
                    Ok(Delivery::global(
                        store.read_all(position, 1).await?.remove(0),
                    ))
                }
            })
            .boxed()
    }
}

/// A broken log: every delivery stream fails at once.
struct Broken;

impl EventSource for Broken {
    fn deliveries(&self, _: &str, _: u64) -> BoxStream<'static, Result<Delivery, LogError>> {
        futures::stream::once(async { Err(LogError::Config("the broker is gone".into())) }).boxed()
    }
}

struct Idle;

#[async_trait]
impl Reaction for Idle {
    fn name(&self) -> &'static str {
        "telemetry.idle"
    }

    async fn handle(
        &self,
        _: &RecordedEvent,
        _: &Event,
        _: Cursor,
    ) -> Result<Handled, ServiceError> {
        Ok(Handled::Skipped)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redeliveries_and_failures_are_counted_per_consumer() {
    let recorder = recorder();
    let server = TestServer::start(Backend::Sqlite).await.unwrap();
    let mut c = server.clients().await.unwrap();
    story::register_donor(&mut c, "XM-DAC-7", "Netherlands", true)
        .await
        .unwrap();
    let store = server.server.store.clone();

    let dropped = || {
        recorder.total(
            names::CONSUMER_DUPLICATES,
            &[(attr::CONSUMER, "telemetry.duplicates")],
        )
    };
    let source = Twice(store.clone());
    let mut consumer = Consumer::open(
        "telemetry.duplicates",
        store.clone(),
        &source,
        ConsumerOptions::default(),
    )
    .await
    .unwrap();
    let mut handled = 0;
    while let Some(next) = consumer.next().await {
        handled += 1;
        consumer.done(next.unwrap(), false).await.unwrap();
    }
    assert_eq!(handled, 1);
    assert!((dropped() - 1.0).abs() < f64::EPSILON, "{}", dropped());

    let shutdown = CancellationToken::new();
    let running = tokio::spawn(reaction::run(
        Arc::new(Idle),
        store.clone(),
        Arc::new(Broken),
        shutdown.clone(),
    ));
    eventually("the failure to be counted", EFFECT_TIMEOUT, || {
        let failures = recorder.total(
            names::CONSUMER_ERRORS,
            &[(attr::CONSUMER, "telemetry.idle")],
        );
        async move { Ok((failures >= 1.0).then_some(())) }
    })
    .await
    .unwrap();
    shutdown.cancel();
    running.await.unwrap();
    server.stop().await.unwrap();
}
