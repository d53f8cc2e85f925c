//! Consuming the Kafka topic through a consumer group named after the consumer.
//!
//! Offsets are stored only when the consumer acknowledges a delivery (after its effect
//! committed) and committed by librdkafka in the background, so the group's offsets trail the
//! database cursors: after a restart or a rebalance, a partition starts at or before what
//! was handled, and the per-partition cursors drop the repeats.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use rdkafka::ClientContext;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, Rebalance, StreamConsumer};
use rdkafka::message::Message;

use super::{client_config, ensure_topic};
use crate::config::KafkaConfig;
use crate::envelope;
use crate::error::LogError;
use crate::source::{Ack, Delivery, EventSource, Lane};

/// The Kafka log as a source. One instance serves many consumers, each its own group.
#[derive(Debug, Clone)]
pub struct KafkaSource {
    config: KafkaConfig,
    /// librdkafka settings over the defaults (session timeouts, assignment strategy…).
    settings: BTreeMap<String, String>,
}

impl KafkaSource {
    pub fn new(config: KafkaConfig) -> Self {
        Self {
            config,
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
        let topic = self.config.topic.clone();
        let open = async move {
            ensure_topic(&source.config, Duration::from_secs(10)).await?;
            source.consumer(&group)
        };
        futures::stream::once(open)
            .map(move |opened| match opened {
                Ok(kafka) => {
                    futures::stream::unfold((kafka, topic.clone()), |(kafka, topic)| async move {
                        let next = receive(&kafka, &topic).await;
                        Some((next, (kafka, topic)))
                    })
                    .boxed()
                }
                Err(error) => futures::stream::once(async { Err(error) }).boxed(),
            })
            .flatten()
            .boxed()
    }
}

async fn receive(
    kafka: &Arc<StreamConsumer<RebalanceCounter>>,
    topic: &str,
) -> Result<Delivery, LogError> {
    loop {
        let (partition, offset, value) = match kafka.recv().await {
            Ok(message) => (
                message.partition(),
                message.offset(),
                message.payload().map(<[u8]>::to_vec).unwrap_or_default(),
            ),
            Err(error) => {
                // librdkafka reconnects and rejoins by itself; these are reports, not ends.
                tracing::warn!(%error, "kafka consumer");
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
        };
        let generation = kafka.context().generation.load(Ordering::SeqCst);
        let ack = {
            let kafka = kafka.clone();
            let topic = topic.to_owned();
            Ack::new(move || {
                Box::pin(async move {
                    // Not a broker call: the offset is committed in the background.
                    kafka
                        .store_offset(&topic, partition, offset)
                        .map_err(|e| LogError::kafka("storing the offset", e))
                })
            })
        };
        match envelope::recorded(&value) {
            Ok(event) => {
                return Ok(Delivery {
                    event,
                    lane: Lane::Partition(partition),
                    generation,
                    ack,
                });
            }
            Err(error) => {
                // Not written by a relay; nothing a consumer could do with it.
                tracing::error!(partition, offset, %error, "skipping a message that is not an event envelope");
                let _ = ack.ack().await;
            }
        }
    }
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
