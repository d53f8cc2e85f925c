//! Reading and writing the Kafka topic directly, as an outside consumer (or a relay that
//! crashed before its cursor) would.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

#[derive(Debug, Clone)]
pub struct Raw {
    pub partition: i32,
    pub key: String,
    pub headers: HashMap<String, String>,
    pub value: Vec<u8>,
}

impl Raw {
    pub fn position(&self) -> u64 {
        self.headers["position"].parse().unwrap()
    }
}

/// Every message of the topic's `partitions`, until `count` were read.
pub async fn read(brokers: &str, topic: &str, partitions: i32, count: usize) -> Vec<Raw> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", format!("raw-{topic}"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut out = Vec::new();
    while out.len() < count {
        let message = tokio::time::timeout(Duration::from_secs(20), consumer.recv())
            .await
            .expect("the topic holds the messages")
            .unwrap();
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|h| {
                        (
                            h.key.to_owned(),
                            String::from_utf8(h.value.unwrap().to_vec()).unwrap(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        out.push(Raw {
            partition: message.partition(),
            key: String::from_utf8(message.key().unwrap().to_vec()).unwrap(),
            headers,
            value: message.payload().unwrap().to_vec(),
        });
    }
    out
}

/// Publishes `messages` again, as a relay that crashed between the broker's acknowledgement
/// and its cursor does on restart.
pub async fn republish(brokers: &str, topic: &str, messages: &[Raw]) {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    for message in messages {
        let mut headers = OwnedHeaders::new();
        for (key, value) in &message.headers {
            headers = headers.insert(rdkafka::message::Header {
                key,
                value: Some(value.as_bytes()),
            });
        }
        producer
            .send(
                FutureRecord::to(topic)
                    .partition(message.partition)
                    .key(&message.key)
                    .payload(&message.value)
                    .headers(headers),
                Duration::from_secs(10),
            )
            .await
            .unwrap();
    }
}

/// Creates `topic` with `partitions` unless it exists, so messages can go to any partition
/// before the relay starts.
pub async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            [&NewTopic::new(
                topic,
                partitions,
                TopicReplication::Fixed(1),
            )],
            &AdminOptions::new().request_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for result in results {
        match result {
            Ok(_) | Err((_, rdkafka::error::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => panic!("creating topic {name}: {code}"),
        }
    }
}
