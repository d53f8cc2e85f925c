//! Kafka through rdkafka: the relay's idempotent producer and the consumer-group source.

mod consume;
mod publish;

pub use consume::KafkaSource;
pub(crate) use publish::KafkaPublisher;

use rdkafka::ClientConfig;

fn client_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("client.id", "fundtrail")
        // librdkafka logs through the `log` facade otherwise unheard; errors still surface in
        // results and callbacks.
        .set("log_level", "3");
    config
}
