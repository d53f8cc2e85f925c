//! Kafka through rdkafka: the relay's idempotent producer and the consumer-group source.

mod consume;
mod publish;

pub use consume::KafkaSource;
pub(crate) use publish::KafkaPublisher;

use std::sync::Arc;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;

use crate::config::KafkaConfig;
use crate::error::LogError;

pub(crate) fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "fundtrail")
        // librdkafka logs through the `log` facade otherwise unheard; errors still surface in
        // results and callbacks.
        .set("log_level", "3");
    config
}

/// Creates the topic if absent. Both sides do it, whichever starts first: a consumer that
/// subscribed to a missing topic would otherwise notice it only at its next metadata refresh.
pub(crate) async fn ensure_topic(config: &KafkaConfig, timeout: Duration) -> Result<(), LogError> {
    let admin: Arc<AdminClient<DefaultClientContext>> = Arc::new(
        client_config(&config.brokers)
            .create()
            .map_err(|e| LogError::kafka("creating the admin client", e))?,
    );
    let metadata = {
        let admin = admin.clone();
        let topic = config.topic.clone();
        // librdkafka's metadata call blocks its thread until the broker answers.
        tokio::task::spawn_blocking(move || admin.inner().fetch_metadata(Some(&topic), timeout))
            .await
            .map_err(|e| LogError::kafka("reading metadata", e))?
            .map_err(|e| LogError::kafka("reading metadata", e))?
    };
    let exists = metadata
        .topics()
        .iter()
        .any(|t| t.name() == config.topic && t.error().is_none() && !t.partitions().is_empty());
    if exists {
        return Ok(());
    }
    let topic = NewTopic::new(
        &config.topic,
        config.partitions,
        TopicReplication::Fixed(config.replication),
    );
    let options = AdminOptions::new().request_timeout(Some(timeout));
    let results = admin
        .create_topics([&topic], &options)
        .await
        .map_err(|e| LogError::kafka("creating the topic", e))?;
    for result in results {
        match result {
            Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => {
                return Err(LogError::kafka(&format!("creating topic {name}"), code));
            }
        }
    }
    tracing::info!(topic = %config.topic, partitions = config.partitions, "created the topic");
    Ok(())
}
