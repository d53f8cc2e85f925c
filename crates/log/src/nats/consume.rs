//! Consuming the stream through a durable pull consumer named after the consumer.
//!
//! Messages are acknowledged once the consumer's effect committed; the durable's
//! acknowledgement floor trails the database cursor, and the cursor drops repeats.
//! A message redelivered after newer ones (its acknowledgement deadline passed while a
//! restarted consumer went on) arrives out of order; the consumer fills such gaps from the
//! store (see `Consumer`).

use std::time::Duration;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};

use super::{connect, stream};
use crate::config::NatsConfig;
use crate::envelope;
use crate::error::LogError;
use crate::source::{Ack, Delivery, EventSource, Lane};

/// The NATS `JetStream` log as a source. One instance serves many consumers.
#[derive(Debug, Clone)]
pub struct NatsSource {
    config: NatsConfig,
    timeout: Duration,
}

impl NatsSource {
    pub fn new(config: NatsConfig) -> Self {
        Self {
            config,
            timeout: Duration::from_secs(10),
        }
    }
}

/// Durable names may not contain `.`, `*`, `>` or whitespace; consumer names have dots.
pub fn durable_name(consumer: &str) -> String {
    consumer
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl EventSource for NatsSource {
    fn deliveries(
        &self,
        consumer: &str,
        _from: u64,
    ) -> BoxStream<'static, Result<Delivery, LogError>> {
        let config = self.config.clone();
        let timeout = self.timeout;
        let durable = durable_name(consumer);
        let messages = async move {
            let context = connect(&config, timeout).await?;
            let stream = stream(&context, &config).await?;
            let pull = stream
                .get_or_create_consumer(
                    &durable,
                    pull::Config {
                        durable_name: Some(durable.clone()),
                        filter_subject: format!("{}.>", config.prefix),
                        deliver_policy: DeliverPolicy::All,
                        ack_policy: AckPolicy::Explicit,
                        ack_wait: Duration::from_secs(30),
                        max_ack_pending: 10_000,
                        ..pull::Config::default()
                    },
                )
                .await
                .map_err(|e| LogError::nats(&format!("opening consumer {durable}"), e))?;
            let messages = pull
                .messages()
                .await
                .map_err(|e| LogError::nats("pulling", e))?;
            Ok::<_, LogError>(messages.map_err(|e| LogError::nats("pulling", e)))
        };
        futures::stream::once(messages)
            .try_flatten()
            .filter_map(|message| async move {
                let message = match message {
                    Ok(message) => message,
                    Err(error) => return Some(Err(error)),
                };
                match envelope::recorded(&message.payload) {
                    Ok(event) => Some(Ok(Delivery {
                        event,
                        lane: Lane::Global,
                        generation: 0,
                        ack: Ack::new(move || {
                            Box::pin(async move {
                                message.ack().await.map_err(|e| LogError::nats("acknowledging", e))
                            })
                        }),
                    })),
                    Err(error) => {
                        // Not written by a relay; nothing a consumer could do with it.
                        tracing::error!(subject = %message.subject, %error, "skipping a message that is not an event envelope");
                        let _ = message.ack().await;
                        None
                    }
                }
            })
            .boxed()
    }
}
