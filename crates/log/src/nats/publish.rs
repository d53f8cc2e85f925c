//! The relay's NATS side.
//!
//! Every message names the stream sequence it expects to follow
//! (`Nats-Expected-Last-Sequence`), so the server stores the relay's messages strictly one
//! after another: if one is lost (a reconnect drops it while later ones get through), every
//! later one in flight is refused and the stream never holds a hole followed by newer events.
//! A new round reads the stream's last message to learn how far the stream already is, and
//! believes it only once the store confirmed it: a forged message with a large position at
//! the end of the stream would otherwise move the relay's cursor past every real event.
//!
//! The same header fences a relay that stalled past its lease: its successor starts from the
//! stream's last sequence, and once the successor published, the stalled relay's messages
//! name a sequence that is no longer the last and the server refuses them. Until then the
//! stalled relay's messages are the next events in order, exactly what the successor would
//! publish; the successor's own are refused and it starts again from the stream's end. Either
//! way the stream never holds an event twice out of order.

use async_nats::HeaderMap;
use async_nats::jetstream::context::{PublishAckFuture, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{self, stream::Stream};
use async_trait::async_trait;

use fundtrail_store::EventStore;

use super::{connect, stream};
use crate::config::NatsConfig;
use crate::confirm;
use crate::envelope::{self, Outgoing};
use crate::error::LogError;
use crate::relay::{Partial, Publisher, RelayOptions};

pub(crate) struct NatsPublisher {
    config: NatsConfig,
    context: jetstream::Context,
    stream: Option<Stream>,
    /// The stream sequence of the last message.
    last_sequence: u64,
}

impl NatsPublisher {
    pub(crate) async fn connect(
        config: &NatsConfig,
        options: &RelayOptions,
    ) -> Result<Self, LogError> {
        Ok(Self {
            config: config.clone(),
            context: connect(config, options.publish_timeout).await?,
            stream: None,
            last_sequence: 0,
        })
    }
}

#[async_trait]
impl Publisher for NatsPublisher {
    async fn prepare(&mut self, cursor: u64, store: &dyn EventStore) -> Result<u64, LogError> {
        let stream = stream(&self.context, &self.config).await?;
        let info = stream
            .get_info()
            .await
            .map_err(|e| LogError::nats("reading the stream", e))?;
        self.last_sequence = info.state.last_sequence;
        let mut held = cursor;
        if self.last_sequence > 0 {
            let last = stream
                .get_raw_message(self.last_sequence)
                .await
                .map_err(|e| LogError::nats("reading the stream's last message", e))?;
            let confirmed = match envelope::recorded(&last.payload) {
                Ok(event) => match confirm::check_one(store, &event).await? {
                    None => Some(event.position),
                    Some(mismatch) => {
                        tracing::error!(stream = %self.config.stream, sequence = self.last_sequence, position = event.position, reason = %mismatch, "the stream ends with a message that is not the store's event; publishing on from the relay's cursor");
                        None
                    }
                },
                Err(error) => {
                    tracing::error!(stream = %self.config.stream, sequence = self.last_sequence, %error, "the stream ends with a message that is not an event envelope; publishing on from the relay's cursor");
                    None
                }
            };
            if let Some(position) = confirmed {
                if position < cursor {
                    tracing::warn!(stream = %self.config.stream, position, cursor, "the stream holds less than the relay published (purged or recreated); continuing after the cursor");
                }
                held = held.max(position);
            }
        }
        self.stream = Some(stream);
        Ok(held)
    }

    async fn publish(&mut self, batch: &[Outgoing]) -> Result<(), Partial> {
        let mut pending: Vec<PublishAckFuture> = Vec::with_capacity(batch.len());
        let mut failure = None;
        for (index, event) in batch.iter().enumerate() {
            let mut headers = HeaderMap::new();
            for (key, value) in &event.headers {
                headers.insert(*key, value.as_str());
            }
            let message = PublishMessage::build()
                .payload(event.value.clone().into())
                .headers(headers)
                .message_id(event.event_id.to_string())
                .expected_last_sequence(self.last_sequence + index as u64);
            match self
                .context
                .send_publish(event.subject(&self.config.prefix), message)
                .await
            {
                Ok(ack) => pending.push(ack),
                Err(error) => {
                    failure = Some(LogError::nats("publishing", error));
                    break;
                }
            }
        }
        let mut acknowledged = 0;
        for ack in pending {
            match ack.await {
                Ok(ack) if failure.is_none() => {
                    acknowledged += 1;
                    self.last_sequence = ack.sequence;
                }
                Ok(_) => {}
                Err(error) => {
                    let error = if error.kind() == PublishErrorKind::WrongLastSequence {
                        LogError::Nats(
                            "the stream moved under the relay (another relay took the lease \
                             over, or something else published); resynchronising"
                                .into(),
                        )
                    } else {
                        LogError::nats("publishing", error)
                    };
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
