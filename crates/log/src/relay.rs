//! The relay: tails the store in position order and publishes every event to the log.
//!
//! It holds the lease ([`crate::lease`]) while it publishes, reads from its cursor on,
//! publishes in batches (as many events as are ready, up to [`RelayOptions::batch`]) and moves
//! its cursor only after the broker acknowledged the batch. Any failure — broker down,
//! database down, lease lost — ends the round: the relay waits (with growing backoff), takes
//! the lease again and resumes from its cursor. Events acknowledged by the broker but not
//! yet under its cursor are published again; consumers drop them by position. So delivery is at
//! least once, in position order, and nothing is lost.
//!
//! A relay can stall after confirming its lease (a long pause of the process or the host) and
//! wake up after a successor took over. Its messages carry the lease's generation and the
//! brokers fence it: see [`crate::lease`]. Without a stall a batch always ends while the lease
//! holds: the publish is bounded by [`RelayOptions::publish_timeout`], and the options are
//! refused unless the lease outlives that with room to spare ([`RelayOptions::check`]).
//!
//! Each event goes out with the trace context of the command that recorded it, and its publish
//! is a span in that trace. The relay's lag is measured for the metrics by every relay, leased
//! or not, so it keeps growing while none can publish.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use fundtrail_store::{EventStore, OpenedStore, RecordedEvent, StoreError};
use fundtrail_telemetry::metrics::attr;
use fundtrail_telemetry::{TRACE_TARGET, W3c};
use futures::StreamExt;
use opentelemetry::KeyValue;
use tokio_util::sync::CancellationToken;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::config::LogConfig;
use crate::envelope::{self, Outgoing};
use crate::error::LogError;
use crate::lease::Lease;
use crate::{kafka, nats};

#[derive(Debug, Clone)]
pub struct RelayOptions {
    /// Most events in one batch.
    pub batch: usize,
    /// How long the broker may take to acknowledge a batch before the round fails (also
    /// Kafka's `message.timeout.ms` and the `JetStream` publish-ack timeout).
    pub publish_timeout: Duration,
    /// `SQLite` leases only: how long a lease outlives its last renewal. At least twice
    /// `publish_timeout` ([`RelayOptions::check`]).
    pub lease_ttl: Duration,
    /// How often a relay without the lease tries to take it.
    pub standby_poll: Duration,
    pub retry_min: Duration,
    pub retry_max: Duration,
    /// How often the relay's lag is measured for the metrics, whether or not it holds the
    /// lease (so the figure keeps growing while no relay can publish).
    pub lag_interval: Duration,
    /// Holds the relay between confirming its lease and publishing each batch, as a stall
    /// would. For tests of the fencing; `None` everywhere else.
    pub gate: Option<Arc<PublishGate>>,
}

impl Default for RelayOptions {
    fn default() -> Self {
        Self {
            batch: 500,
            publish_timeout: Duration::from_secs(10),
            lease_ttl: Duration::from_secs(30),
            standby_poll: Duration::from_secs(1),
            retry_min: Duration::from_millis(100),
            retry_max: Duration::from_secs(5),
            lag_interval: Duration::from_secs(5),
            gate: None,
        }
    }
}

impl RelayOptions {
    /// Refuses options under which a relay that does not stall could still be publishing
    /// after its lease expired. A batch starts at most a third of a time-to-live after the
    /// lease's last renewal and may take the whole publish timeout, so the time-to-live must
    /// be at least twice the publish timeout.
    pub fn check(&self) -> Result<(), LogError> {
        if self.publish_timeout.is_zero() {
            return Err(LogError::Config(
                "the relay's publish timeout is zero".into(),
            ));
        }
        if self.lease_ttl < self.publish_timeout * 2 {
            return Err(LogError::Config(format!(
                "the relay lease's time-to-live ({:?}) must be at least twice the publish \
                 timeout ({:?}), or a relay could still be publishing when another takes over",
                self.lease_ttl, self.publish_timeout
            )));
        }
        Ok(())
    }
}

/// Holds a relay between confirming its lease and publishing a batch, until opened: what a
/// stalled process looks like to the others. Only tests of the fencing use one.
#[derive(Debug)]
pub struct PublishGate {
    state: tokio::sync::watch::Sender<GateState>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateState {
    Open,
    Closed,
    /// Closed, with a relay waiting at it.
    Holding,
}

impl Default for PublishGate {
    fn default() -> Self {
        Self {
            state: tokio::sync::watch::Sender::new(GateState::Open),
        }
    }
}

impl PublishGate {
    /// The next batch waits at the gate.
    pub fn close(&self) {
        self.state.send_if_modified(|state| {
            let was_open = *state == GateState::Open;
            if was_open {
                *state = GateState::Closed;
            }
            was_open
        });
    }

    /// Lets a waiting batch go on, and every later one.
    pub fn open(&self) {
        self.state.send_replace(GateState::Open);
    }

    /// Returns once a relay waits at the closed gate, its lease confirmed and its batch read.
    pub async fn holding(&self) {
        let mut state = self.state.subscribe();
        let _ = state.wait_for(|state| *state == GateState::Holding).await;
    }

    async fn pass(&self) {
        let mut state = self.state.subscribe();
        self.state.send_if_modified(|state| {
            let closed = *state == GateState::Closed;
            if closed {
                *state = GateState::Holding;
            }
            closed
        });
        let _ = state.wait_for(|state| *state == GateState::Open).await;
    }
}

/// What a relay has done so far, for health checks and tests.
#[derive(Debug, Default)]
pub struct RelayStats {
    published: AtomicU64,
    cursor: AtomicU64,
    failures: AtomicU64,
    leased: AtomicBool,
    generation: AtomicU64,
    waited: AtomicU64,
}

impl RelayStats {
    /// Events the broker acknowledged (republished ones counted again).
    pub fn published(&self) -> u64 {
        self.published.load(Ordering::Relaxed)
    }
    /// The relay's last saved cursor.
    pub fn cursor(&self) -> u64 {
        self.cursor.load(Ordering::Relaxed)
    }
    /// Rounds that ended in an error and were retried.
    pub fn failures(&self) -> u64 {
        self.failures.load(Ordering::Relaxed)
    }
    /// Whether this relay holds the lease now.
    pub fn leased(&self) -> bool {
        self.leased.load(Ordering::Relaxed)
    }
    /// The generation of the lease this relay holds or last held (0: never).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }
    /// Times this relay found the lease held by another.
    pub fn waited(&self) -> u64 {
        self.waited.load(Ordering::Relaxed)
    }
}

/// Publishes to one broker; made afresh for every round.
#[async_trait]
pub(crate) trait Publisher: Send {
    /// Makes sure the topic or stream exists. Returns the last position the log is known to
    /// hold contiguously (at least `cursor`), so the relay can skip what is there; what the
    /// log holds counts only once `store` confirmed it.
    async fn prepare(&mut self, cursor: u64, store: &dyn EventStore) -> Result<u64, LogError>;

    /// Publishes the batch in order and waits for the broker's acknowledgements.
    async fn publish(&mut self, batch: &[Outgoing]) -> Result<(), Partial>;
}

/// A batch that failed after its first `acknowledged` events were acknowledged.
#[derive(Debug)]
pub(crate) struct Partial {
    pub acknowledged: usize,
    pub error: LogError,
}

/// A relay for one store and one log.
#[derive(Debug)]
pub struct Relay {
    config: LogConfig,
    store: OpenedStore,
    options: RelayOptions,
    stats: Arc<RelayStats>,
}

impl Relay {
    pub fn new(log_url: &str, store: impl Into<OpenedStore>) -> Result<Self, LogError> {
        let options = RelayOptions::default();
        options.check()?;
        Ok(Self {
            config: log_url.parse()?,
            store: store.into(),
            options,
            stats: Arc::default(),
        })
    }

    /// Replaces the options; refused as [`RelayOptions::check`] says.
    pub fn with_options(mut self, options: RelayOptions) -> Result<Self, LogError> {
        options.check()?;
        self.options = options;
        Ok(self)
    }

    pub fn stats(&self) -> Arc<RelayStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown`. On the embedded log there is nothing to do.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(name) = self.config.relay_name() else {
            return;
        };
        let store = self.store.events();
        let relaying = self.relay_rounds(name, &store, &shutdown);
        let watching = watch_lag(name, &*store, self.options.lag_interval, &shutdown);
        tokio::join!(relaying, watching);
        tracing::debug!(relay = name, "relay stopped");
    }

    async fn relay_rounds(
        &self,
        name: &'static str,
        store: &Arc<dyn EventStore>,
        shutdown: &CancellationToken,
    ) {
        let mut backoff = self.options.retry_min;
        while !shutdown.is_cancelled() {
            let lease = tokio::select! {
                () = shutdown.cancelled() => break,
                lease = Lease::try_acquire(&self.store, name, self.options.lease_ttl) => lease,
            };
            let pause = match lease {
                Ok(Some(lease)) => {
                    self.stats.leased.store(true, Ordering::Relaxed);
                    self.stats
                        .generation
                        .store(lease.generation(), Ordering::Relaxed);
                    tracing::info!(relay = name, log = %self.config, generation = lease.generation(), "relay holds the lease");
                    let before = self.stats.published();
                    let outcome = self.round(lease, &**store, name, shutdown).await;
                    if self.stats.published() > before {
                        backoff = self.options.retry_min;
                    }
                    self.stats.leased.store(false, Ordering::Relaxed);
                    match outcome {
                        Ok(()) => break,
                        Err(error) => {
                            self.stats.failures.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(relay = name, %error, ?backoff, "relay round failed; resuming from the cursor");
                            let pause = backoff;
                            backoff = (backoff * 2).min(self.options.retry_max);
                            pause
                        }
                    }
                }
                Ok(None) => {
                    self.stats.waited.fetch_add(1, Ordering::Relaxed);
                    self.options.standby_poll
                }
                Err(error) => {
                    tracing::warn!(relay = name, %error, "could not take the relay lease");
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.options.retry_max);
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    /// Publishes while the lease holds; `Ok` only on shutdown.
    async fn round(
        &self,
        mut lease: Lease,
        store: &dyn EventStore,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), LogError> {
        let result = self
            .publish_while_leased(&mut lease, store, name, shutdown)
            .await;
        lease.release().await;
        result
    }

    async fn publish_while_leased(
        &self,
        lease: &mut Lease,
        store: &dyn EventStore,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), LogError> {
        let mut publisher = self.publisher().await?;
        let saved = store.load_cursor(name).await?;
        let held = publisher.prepare(saved, store).await?;
        if held > saved {
            store.save_cursor(name, held).await?;
        }
        self.stats.cursor.store(held, Ordering::Relaxed);
        let mut next = held + 1;
        let mut renew = tokio::time::interval(self.options.lease_ttl / 4);
        loop {
            let batch = store.read_all(next, self.options.batch.max(1)).await?;
            if batch.is_empty() {
                // A subscription only as a wake-up, dropped before the store is used again:
                // polled no further, it could sit on a connection mid-read, and on a pool of
                // one (an in-memory `SQLite` store) the next query would wait for it forever.
                let mut wake = store.subscribe(next);
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    _ = renew.tick() => {
                        drop(wake);
                        lease.confirm().await?;
                    }
                    event = wake.next() => {
                        drop(wake);
                        if let Some(Err(error)) = event {
                            return Err(error.into());
                        }
                    }
                }
                continue;
            }
            if let Some(hole) = batch.iter().zip(next..).find(|(e, p)| e.position != *p) {
                // Positions are dense; publishing past a missing one would hide it for good.
                return Err(LogError::Store(fundtrail_store::StoreError::Corrupt(
                    format!(
                        "position {} is missing (the next stored event is at {})",
                        hole.1, hole.0.position
                    ),
                )));
            }
            lease.confirm().await?;
            let generation = lease.generation();
            let outgoing: Vec<Outgoing> = batch
                .iter()
                .map(|event| Outgoing::of(event).published_under(generation))
                .collect();
            let spans = self.publish_spans(&batch, &outgoing);
            if let Some(gate) = &self.options.gate {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = gate.pass() => {}
                }
            }
            let timeout = self.options.publish_timeout;
            let result = tokio::select! {
                // Abandoned mid-batch: the next relay publishes it again from the cursor.
                () = shutdown.cancelled() => return Ok(()),
                result = tokio::time::timeout(timeout, publisher.publish(&outgoing)) => {
                    result.unwrap_or_else(|_| Err(Partial {
                        // What did get through is published again; consumers drop repeats.
                        acknowledged: 0,
                        error: LogError::Lease(format!(
                            "the batch was not acknowledged within the publish timeout \
                             ({timeout:?}); publishing on could outlive the lease"
                        )),
                    }))
                }
            };
            let acknowledged = match &result {
                Ok(()) => outgoing.len(),
                Err(partial) => partial.acknowledged.min(outgoing.len()),
            };
            fundtrail_telemetry::metrics().relay_published.add(
                acknowledged as u64,
                &[KeyValue::new(attr::RELAY, name.to_owned())],
            );
            for (position, span) in spans {
                if outgoing
                    .get(acknowledged)
                    .is_some_and(|e| position >= e.position)
                {
                    span.record("otel.status_code", "ERROR");
                }
            }
            if let Some(last) = acknowledged.checked_sub(1).map(|i| outgoing[i].position) {
                store.save_cursor(name, last).await?;
                self.stats.cursor.store(last, Ordering::Relaxed);
                self.stats
                    .published
                    .fetch_add(acknowledged as u64, Ordering::Relaxed);
                next = last + 1;
            }
            if let Err(partial) = result {
                return Err(partial.error);
            }
        }
    }

    /// One producer span per event, child of the span that recorded it: so the hop through the
    /// broker shows in the command's trace. Events recorded outside any sampled trace get
    /// none.
    fn publish_spans(
        &self,
        batch: &[RecordedEvent],
        outgoing: &[Outgoing],
    ) -> Vec<(u64, tracing::Span)> {
        if !fundtrail_telemetry::enabled() {
            return Vec::new();
        }
        let (system, topic) = match &self.config {
            LogConfig::Embedded => return Vec::new(),
            LogConfig::Kafka(kafka) => ("kafka", Some(kafka.topic.as_str())),
            LogConfig::Nats(_) => ("nats", None),
        };
        batch
            .iter()
            .zip(outgoing)
            .filter_map(|(event, out)| {
                let trace = envelope::trace_context(&event.metadata).filter(W3c::is_sampled)?;
                let destination = match (&self.config, topic) {
                    (LogConfig::Nats(nats), _) => out.subject(&nats.prefix),
                    (_, topic) => topic.unwrap_or_default().to_owned(),
                };
                let span = tracing::info_span!(
                    target: TRACE_TARGET,
                    parent: None,
                    "publish",
                    otel.name = %format!("publish {destination}"),
                    otel.kind = "producer",
                    otel.status_code = Empty,
                    messaging.system = system,
                    messaging.destination.name = %destination,
                    messaging.message.id = %event.event_id,
                    fundtrail.position = event.position,
                    fundtrail.stream = %event.stream,
                );
                trace.parent(&span);
                span.set_attribute("messaging.operation.type", "send");
                Some((event.position, span))
            })
            .collect()
    }

    async fn publisher(&self) -> Result<Box<dyn Publisher>, LogError> {
        match &self.config {
            LogConfig::Embedded => Err(LogError::Config("the embedded log has no relay".into())),
            LogConfig::Kafka(config) => {
                Ok(Box::new(kafka::KafkaPublisher::new(config, &self.options)?))
            }
            LogConfig::Nats(config) => Ok(Box::new(
                nats::NatsPublisher::connect(config, &self.options).await?,
            )),
        }
    }
}

/// Measures, every `interval` until `shutdown`, how far the relay's cursor trails the
/// store's head and how long the first event after it has waited.
async fn watch_lag(
    name: &'static str,
    store: &dyn EventStore,
    interval: Duration,
    shutdown: &CancellationToken,
) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let relay = [KeyValue::new(attr::RELAY, name)];
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        match lag(name, store).await {
            Ok((behind, waited)) => {
                let metrics = fundtrail_telemetry::metrics();
                metrics.relay_lag.record(behind, &relay);
                metrics.relay_oldest_unpublished_age.record(waited, &relay);
            }
            Err(error) => {
                tracing::debug!(relay = name, %error, "could not measure the relay's lag");
            }
        }
    }
}

/// Positions behind the head, and seconds the oldest unpublished event has been stored.
async fn lag(name: &str, store: &dyn EventStore) -> Result<(u64, f64), StoreError> {
    let head = store.head().await?.position;
    let published = store.load_cursor(name).await?;
    if head <= published {
        return Ok((0, 0.0));
    }
    let oldest = store.read_all(published + 1, 1).await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX));
    #[allow(clippy::cast_precision_loss, reason = "seconds for a gauge")]
    let waited = oldest
        .first()
        .map_or(0.0, |e| (now - e.recorded_at).max(0) as f64 / 1e6);
    Ok((head - published, waited))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_lease_that_could_expire_during_a_publish_is_refused() {
        assert!(RelayOptions::default().check().is_ok());
        let short = RelayOptions {
            lease_ttl: Duration::from_secs(15),
            publish_timeout: Duration::from_secs(30),
            ..RelayOptions::default()
        };
        let Err(LogError::Config(message)) = short.check() else {
            panic!("a 15 s lease with a 30 s publish timeout was accepted")
        };
        assert!(message.contains("at least twice"), "{message}");
        let tight = RelayOptions {
            lease_ttl: Duration::from_secs(19),
            publish_timeout: Duration::from_secs(10),
            ..RelayOptions::default()
        };
        assert!(tight.check().is_err(), "not comfortably longer");
        let zero = RelayOptions {
            publish_timeout: Duration::ZERO,
            ..RelayOptions::default()
        };
        assert!(zero.check().is_err());
        let store = fundtrail_store::SqliteStore::connect(
            "sqlite::memory:",
            fundtrail_store::StoreOptions::default(),
        )
        .await
        .unwrap();
        let relay = Relay::new("nats://127.0.0.1:4222", store).unwrap();
        assert!(matches!(
            relay.with_options(short),
            Err(LogError::Config(_))
        ));
    }
}
