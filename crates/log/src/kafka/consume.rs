//! Consuming the Kafka topic through a consumer group named after the consumer.
//!
//! Offsets are stored only when the consumer acknowledges a delivery (after its effect
//! committed) and committed by librdkafka in the background, so the group's offsets trail the
//! database cursors: after a restart or a rebalance, a partition starts at or before what
//! was handled, and the per-partition cursors drop the repeats.
//!
//! Every message is confirmed against the store before it is handed out (`crate::confirm`).
//! A rejected one is not acknowledged: storing its offset would also commit the offsets of the
//! messages before it, which may not have been handled yet; the next acknowledged message of
//! its partition moves the offset past it.
//!
//! Kafka cannot refuse a publish from a relay that lost its lease, so each message carries the
//! lease generation of the relay that published it (`relay_generation`) and a partition drops
//! a message of a lower generation once it delivered a higher one: it comes from a relay that
//! stalled past its lease, and the successor publishes every event from the relay's cursor on
//! anyway. A generation above any the store ever leased (`relay.kafka.generation`) is forged
//! and rejected, so a forged header cannot make a partition drop the real events.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use fundtrail_store::{EventStore, RecordedEvent};
use fundtrail_telemetry::metrics::attr;
use futures::StreamExt;
use futures::stream::BoxStream;
use opentelemetry::KeyValue;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::{Headers, Message};

use super::{client_config, ensure_topic};
use crate::config::{KAFKA_RELAY, KafkaConfig};
use crate::confirm::Confirmation;
use crate::envelope::{self, HEADER_RELAY_GENERATION};
use crate::error::LogError;
use crate::lease::generation_cursor;
use crate::source::{Ack, Delivery, EventSource, Lane};

/// The Kafka log as a source, confirming every delivery against `store` (the one the relay
/// publishes). One instance serves many consumers, each its own group.
#[derive(Clone)]
pub struct KafkaSource {
    config: KafkaConfig,
    store: Arc<dyn EventStore>,
    /// librdkafka settings over the defaults (session timeouts, assignment strategy…).
    settings: BTreeMap<String, String>,
}

impl std::fmt::Debug for KafkaSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KafkaSource")
            .field("config", &self.config)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

impl KafkaSource {
    pub fn new(config: KafkaConfig, store: Arc<dyn EventStore>) -> Self {
        Self {
            config,
            store,
            settings: BTreeMap::new(),
        }
    }

    #[must_use]
    pub fn with_setting(mut self, key: &str, value: &str) -> Self {
        self.settings.insert(key.to_owned(), value.to_owned());
        self
    }

    fn consumer(&self, group: &str) -> Result<Arc<StreamConsumer<RebalanceCounter>>, LogError> {
        let mut config = client_config(&self.config.brokers);
        config
            .set("group.id", group)
            .set("enable.auto.commit", "true")
            .set("enable.auto.offset.store", "false")
            .set("auto.commit.interval.ms", "1000")
            .set("auto.offset.reset", "earliest")
            // Partitions added to the topic are noticed within this, not the default 5 min.
            .set("topic.metadata.refresh.interval.ms", "10000");
        for (key, value) in &self.settings {
            config.set(key, value);
        }
        let consumer: StreamConsumer<RebalanceCounter> = config
            .create_with_context(RebalanceCounter::default())
            .map_err(|e| LogError::kafka("creating the consumer", e))?;
        consumer
            .subscribe(&[&self.config.topic])
            .map_err(|e| LogError::kafka("subscribing", e))?;
        Ok(Arc::new(consumer))
    }
}

impl EventSource for KafkaSource {
    fn deliveries(
        &self,
        consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let source = self.clone();
        let group = consumer.to_owned();
        let open = async move {
            ensure_topic(&source.config, Duration::from_secs(10)).await?;
            let kafka = source.consumer(&group)?;
            Ok::<_, LogError>(Partitions {
                kafka,
                topic: source.config.topic.clone(),
                confirmation: Confirmation::new(source.store.clone(), &group),
                fences: HashMap::new(),
                leased: 0,
            })
        };
        futures::stream::once(open)
            .flat_map(|opened| match opened {
                Ok(partitions) => {
                    futures::stream::unfold(partitions, |mut partitions| async move {
                        let next = partitions.receive().await;
                        Some((next, partitions))
                    })
                    .boxed()
                }
                Err(error) => futures::stream::once(async { Err(error) }).boxed(),
            })
            .boxed()
    }
}

/// One consumer's view of the topic's partitions.
struct Partitions {
    kafka: Arc<StreamConsumer<RebalanceCounter>>,
    topic: String,
    confirmation: Confirmation,
    /// The highest relay generation each partition delivered.
    fences: HashMap<i32, u64>,
    /// The highest generation the store is known to have leased.
    leased: u64,
}

impl Partitions {
    async fn receive(&mut self) -> Result<Delivery, LogError> {
        loop {
            let (partition, offset, value, generation) = match self.kafka.recv().await {
                Ok(message) => (
                    message.partition(),
                    message.offset(),
                    message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
                    relay_generation(&message),
                ),
                Err(error) => {
                    // librdkafka reconnects and rejoins by itself; these are reports, not ends.
                    tracing::warn!(%error, "kafka consumer");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
            };
            let lane = Lane::Partition(partition);
            let event = match envelope::recorded(&value) {
                Ok(event) => event,
                Err(error) => {
                    self.confirmation.reject(lane, None, &error);
                    continue;
                }
            };
            if let Some(mismatch) = self.confirmation.check(&event).await? {
                self.confirmation
                    .reject(lane, Some(event.position), &mismatch);
                continue;
            }
            if let Some(generation) = generation
                && !self.admit_generation(partition, generation, &event).await?
            {
                continue;
            }
            let rebalances = self.kafka.context().generation.load(Ordering::SeqCst);
            let ack = {
                let kafka = self.kafka.clone();
                let topic = self.topic.clone();
                Ack::new(move || {
                    Box::pin(async move {
                        // Not a broker call: the offset is committed in the background.
                        kafka
                            .store_offset(&topic, partition, offset)
                            .map_err(|e| LogError::kafka("storing the offset", e))
                    })
                })
            };
            return Ok(Delivery {
                event,
                lane,
                generation: rebalances,
                ack,
            });
        }
    }

    /// Whether a confirmed event published under relay `generation` may be handed out: not
    /// when a later relay already published to the partition, nor when no relay ever held
    /// that generation.
    async fn admit_generation(
        &mut self,
        partition: i32,
        generation: u64,
        event: &RecordedEvent,
    ) -> Result<bool, LogError> {
        if generation > self.leased {
            self.leased = self
                .confirmation
                .store()
                .load_cursor(&generation_cursor(KAFKA_RELAY))
                .await?;
        }
        if generation > self.leased {
            let why = format!(
                "published under relay generation {generation}, but no relay has held one above {}",
                self.leased
            );
            self.confirmation
                .reject(Lane::Partition(partition), Some(event.position), &why);
            return Ok(false);
        }
        let fence = self.fences.entry(partition).or_insert(0);
        if generation < *fence {
            fundtrail_telemetry::metrics().consumer_duplicates.add(
                1,
                &[KeyValue::new(
                    attr::CONSUMER,
                    self.confirmation.consumer().to_owned(),
                )],
            );
            tracing::warn!(
                consumer = %self.confirmation.consumer(),
                partition,
                position = event.position,
                generation,
                current = *fence,
                "dropped a message published by a relay that had lost its lease"
            );
            return Ok(false);
        }
        *fence = generation;
        Ok(true)
    }
}

/// The `relay_generation` header, when the message has a readable one.
fn relay_generation<M: Message>(message: &M) -> Option<u64> {
    let headers = message.headers()?;
    headers
        .iter()
        .find(|header| header.key == HEADER_RELAY_GENERATION)
        .and_then(|header| header.value)
        .and_then(|value| std::str::from_utf8(value).ok())
        .and_then(|value| value.parse().ok())
}

/// Counts rebalances, so consumers reload the cursors of partitions that may have been
/// handled elsewhere meanwhile.
#[derive(Debug, Default)]
struct RebalanceCounter {
    generation: AtomicU64,
}

impl ClientContext for RebalanceCounter {}

impl ConsumerContext for RebalanceCounter {
    fn post_rebalance(&self, _consumer: &BaseConsumer<Self>, rebalance: &Rebalance<'_>) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        tracing::debug!(?rebalance, "kafka partitions reassigned");
    }
}
