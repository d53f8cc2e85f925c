//! The event log: the relay that publishes the store's events in position order to Kafka or
//! NATS `JetStream`, and one consumer abstraction over Kafka, NATS and the embedded store.
//!
//! The log is chosen by a URL, never by code: `embedded`, `kafka://host:port` or
//! `nats://host:port` ([`config`]). [`relay`] publishes a store to that log; [`open_source`]
//! gives consumers (process managers, projections) an [`EventSource`] over it, and
//! [`Consumer`] turns any source into events to handle exactly once.
//!
//! # Delivery and cursors
//!
//! Every log delivers at least once. Consumers keep their cursors in the store's database
//! and commit each cursor with the effect it covers, so an event takes effect once however
//! often it arrives. A cursor covers a [`Lane`]: the store and a NATS stream deliver in
//! global position order (one lane, cursor named after the consumer); Kafka orders only
//! within a partition (one lane per partition, cursor `<consumer>/p<partition>`). A
//! delivery at or below its lane's cursor was handled already and is dropped. Broker-side
//! progress (Kafka offsets, NATS acknowledgements) is recorded after the database cursor
//! and only saves work; the database is the truth. A consumer whose decisions depend on the
//! order of events across countries reads through [`InPositionOrder`], which makes any log a
//! single ordered lane (what a partition has not delivered yet is read from the store). The
//! wire format is docs/log-format.md.
//!
//! The fund's signed tree checkpoints travel beside the events, on a topic or stream of
//! their own, never as events ([`checkpoints`]).
//!
//! # Trust
//!
//! The store is the truth and a broker only carries copies: the Kafka and NATS sources hand
//! out a delivery only once the store confirmed it (same position, same hash, contents that
//! hash to it), and reject anything else with an alarm (`confirm`). The relay's lease has a
//! generation that fences a relay which stalled past it (`lease`).

pub mod checkpoints;
pub mod config;
mod confirm;
mod consumer;
pub mod envelope;
mod error;
mod kafka;
mod lease;
mod nats;
mod relay;
mod source;

use std::sync::Arc;

use fundtrail_store::{EventStore, OpenedStore};
use tokio_util::sync::CancellationToken;

pub use checkpoints::{
    CheckpointFeed, CheckpointRelay, CheckpointsOnLog, StoredNote, read_checkpoints,
};
pub use config::LogConfig;
pub use consumer::{Consumer, ConsumerOptions, Next};
pub use error::LogError;
pub use kafka::KafkaSource;
pub use nats::NatsSource;
pub use relay::{PublishGate, Relay, RelayOptions, RelayStats};
pub use source::{Ack, Delivery, EventSource, InPositionOrder, Lane, StoreSource};

/// The source the log URL names, shared by any number of consumers.
pub fn open_source(
    log_url: &str,
    store: Arc<dyn EventStore>,
) -> Result<Arc<dyn EventSource>, LogError> {
    Ok(match log_url.parse::<LogConfig>()? {
        LogConfig::Embedded => Arc::new(StoreSource(store)),
        LogConfig::Kafka(config) => Arc::new(KafkaSource::new(config, store)),
        LogConfig::Nats(config) => Arc::new(NatsSource::new(config, store)),
    })
}

/// Relays `store` to the log the URL names until `shutdown` (returns at once for the
/// embedded log). Broker and database failures are retried; only a bad URL (or relay options
/// refused by [`RelayOptions::check`]) is an error.
pub async fn relay(
    log_url: &str,
    store: impl Into<OpenedStore>,
    shutdown: CancellationToken,
) -> Result<(), LogError> {
    Relay::new(log_url, store)?.run(shutdown).await;
    Ok(())
}
