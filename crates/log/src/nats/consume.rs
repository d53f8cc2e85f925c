//! Consuming the stream through a durable pull consumer named after the consumer.
//!
//! Messages are acknowledged once the consumer's effect committed; the durable's
//! acknowledgement floor trails the database cursor, and the cursor drops repeats.
//! A message redelivered after newer ones (its acknowledgement deadline passed while a
//! restarted consumer went on) arrives out of order; the consumer fills such gaps from the
//! store (see `Consumer`).
//!
//! Every message is confirmed against the store before it is handed out (`crate::confirm`);
//! one that is not the store's event is rejected and terminated, so the server does not
//! deliver it to this consumer again.

use std::time::Duration;

use std::sync::Arc;

use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use async_nats::jetstream::{AckKind, Message};
use fundtrail_store::EventStore;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use super::{connect, stream};
use crate::config::NatsConfig;
use crate::confirm::Confirmation;
use crate::envelope;
use crate::error::LogError;
use crate::source::{Ack, Delivery, EventSource, Lane};

/// The NATS `JetStream` log as a source, confirming every delivery against `store` (the one
/// the relay publishes). One instance serves many consumers.
#[derive(Clone)]
pub struct NatsSource {
    config: NatsConfig,
    store: Arc<dyn EventStore>,
    timeout: Duration,
}

impl std::fmt::Debug for NatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSource")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NatsSource {
    pub fn new(config: NatsConfig, store: Arc<dyn EventStore>) -> Self {
        Self {
            config,
            store,
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
        let confirmation = Confirmation::new(self.store.clone(), consumer);
        let opened = async move {
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
            Ok::<_, LogError>((messages, confirmation))
        };
        futures::stream::once(opened)
            .flat_map(|opened| match opened {
                Ok((messages, confirmation)) => futures::stream::unfold(
                    (messages, confirmation),
                    |(mut messages, mut confirmation)| async move {
                        let next = confirmed(&mut messages, &mut confirmation).await?;
                        Some((next, (messages, confirmation)))
                    },
                )
                .boxed(),
                Err(error) => futures::stream::once(async { Err(error) }).boxed(),
            })
            .boxed()
    }
}

/// The next message the store confirms, as a delivery; rejects (and terminates) the others.
async fn confirmed<S, E>(
    messages: &mut S,
    confirmation: &mut Confirmation,
) -> Option<Result<Delivery, LogError>>
where
    S: Stream<Item = Result<Message, E>> + Unpin,
    E: std::fmt::Display,
{
    loop {
        let message = match messages.next().await? {
            Ok(message) => message,
            Err(error) => return Some(Err(LogError::nats("pulling", error))),
        };
        let event = match envelope::recorded(&message.payload) {
            Ok(event) => event,
            Err(error) => {
                confirmation.reject(Lane::Global, None, &error);
                terminate(&message).await;
                continue;
            }
        };
        match confirmation.check(&event).await {
            // Not acknowledged: the server delivers it again, to be checked again.
            Err(error) => return Some(Err(error)),
            Ok(Some(mismatch)) => {
                confirmation.reject(Lane::Global, Some(event.position), &mismatch);
                terminate(&message).await;
            }
            Ok(None) => {
                return Some(Ok(Delivery {
                    event,
                    lane: Lane::Global,
                    generation: 0,
                    ack: Ack::new(move || {
                        Box::pin(async move {
                            message
                                .ack()
                                .await
                                .map_err(|e| LogError::nats("acknowledging", e))
                        })
                    }),
                }));
            }
        }
    }
}

/// Tells the server never to deliver `message` to this consumer again.
async fn terminate(message: &Message) {
    if let Err(error) = message.ack_with(AckKind::Term).await {
        tracing::debug!(subject = %message.subject, %error, "terminating a rejected message failed");
    }
}
