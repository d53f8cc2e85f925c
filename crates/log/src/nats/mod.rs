//! NATS `JetStream` through async-nats: the relay's publisher and durable pull consumers.

mod consume;
mod publish;

pub use consume::NatsSource;
pub(crate) use publish::NatsPublisher;

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream::{Config, Stream};

use crate::config::NatsConfig;
use crate::error::LogError;

async fn connect(config: &NatsConfig, timeout: Duration) -> Result<jetstream::Context, LogError> {
    let client = async_nats::ConnectOptions::new()
        .connection_timeout(timeout)
        .connect(&config.url)
        .await
        .map_err(|e| LogError::nats("connecting", e))?;
    let mut context = jetstream::new(client);
    context.set_timeout(timeout);
    Ok(context)
}

/// The stream, created with the log's subjects if absent (by whichever side comes first).
async fn stream(context: &jetstream::Context, config: &NatsConfig) -> Result<Stream, LogError> {
    context
        .get_or_create_stream(Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.prefix)],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_mins(2),
            ..Config::default()
        })
        .await
        .map_err(|e| LogError::nats(&format!("opening stream {}", config.stream), e))
}
