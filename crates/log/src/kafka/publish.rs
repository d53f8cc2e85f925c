//! The relay's Kafka side: an idempotent producer with `acks=all`, so the broker writes each
//! partition's messages once and in the order they were sent, retries included.

use std::time::Duration;

use async_trait::async_trait;
use fundtrail_store::EventStore;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

use super::{client_config, ensure_topic};
use crate::config::KafkaConfig;
use crate::envelope::Outgoing;
use crate::error::LogError;
use crate::relay::{Partial, Publisher, RelayOptions};

pub(crate) struct KafkaPublisher {
    config: KafkaConfig,
    producer: FutureProducer,
    timeout: Duration,
}

impl KafkaPublisher {
    pub(crate) fn new(config: &KafkaConfig, options: &RelayOptions) -> Result<Self, LogError> {
        let timeout_ms = options.publish_timeout.as_millis().max(1).to_string();
        let producer = client_config(&config.brokers)
            .set("enable.idempotence", "true")
            .set("acks", "all")
            .set("message.timeout.ms", &timeout_ms)
            .set("linger.ms", "5")
            .create()
            .map_err(|e| LogError::kafka("creating the producer", e))?;
        Ok(Self {
            config: config.clone(),
            producer,
            timeout: options.publish_timeout,
        })
    }
}

#[async_trait]
impl Publisher for KafkaPublisher {
    async fn prepare(&mut self, cursor: u64, _store: &dyn EventStore) -> Result<u64, LogError> {
        ensure_topic(&self.config, self.timeout).await?;
        Ok(cursor)
    }

    async fn publish(&mut self, batch: &[Outgoing]) -> Result<(), Partial> {
        let mut pending: Vec<DeliveryFuture> = Vec::with_capacity(batch.len());
        let mut acknowledged = 0;
        let mut failure = None;
        for event in batch {
            let mut headers = OwnedHeaders::new_with_capacity(event.headers.len());
            for (key, value) in &event.headers {
                headers = headers.insert(Header {
                    key,
                    value: Some(value.as_bytes()),
                });
            }
            let mut record = FutureRecord::to(&self.config.topic)
                .key(event.country.as_str())
                .payload(event.value.as_slice())
                .headers(headers);
            loop {
                match self.producer.send_result(record) {
                    Ok(delivery) => {
                        pending.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                        if !pending.is_empty() =>
                    {
                        // Wait for the oldest send rather than sleeping, so nothing overtakes
                        // the message that did not fit.
                        record = back;
                        let oldest = pending.remove(0);
                        match delivered(oldest).await {
                            Ok(()) => acknowledged += 1,
                            Err(error) => {
                                failure = Some(error);
                                break;
                            }
                        }
                    }
                    Err((error, _)) => {
                        failure = Some(LogError::kafka("queueing a message", error));
                        break;
                    }
                }
            }
            if failure.is_some() {
                break;
            }
        }
        // Await even after a failure: counting what did get through spares republishing it.
        for delivery in pending {
            match delivered(delivery).await {
                Ok(()) if failure.is_none() => acknowledged += 1,
                Ok(()) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        match failure {
            None => Ok(()),
            Some(error) => Err(Partial {
                acknowledged,
                error,
            }),
        }
    }
}

async fn delivered(delivery: DeliveryFuture) -> Result<(), LogError> {
    match delivery.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err((error, _))) => Err(LogError::kafka("publishing", error)),
        Err(_canceled) => Err(LogError::Kafka("the producer was dropped".into())),
    }
}
