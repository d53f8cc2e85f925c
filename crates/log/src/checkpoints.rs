//! The fund's signed tree checkpoints on the log, beside the events but never among them.
//!
//! A checkpoint is published as its own message, the C2SP signed note as text, on a topic
//! or stream of its own: Kafka `<topic>.checkpoints` (one partition, so they stay in order),
//! NATS stream `<stream>_CHECKPOINTS` with the subject `checkpoints.<prefix>`. Not an event:
//! recording checkpoints in the store would change the history (and the tree) each time one
//! is signed, so a fund with nothing new would still sign forever. Not on the events' own
//! subjects either: the events' stream takes every subject under `<prefix>.`, its relay
//! names the stream sequence each message follows, and its consumers take every message as
//! an envelope.
//!
//! [`CheckpointRelay`] publishes what the store keeps ([`CheckpointFeed`]), after it was
//! stored, under a lease of its own and from a cursor in the store's database, like the
//! events' relay: a restart publishes every stored checkpoint not yet published. Publishing
//! one again is harmless; [`read_checkpoints`] keeps one note per tree size and only those
//! signed by the fund's key under the expected origin, and refuses the rest, naming why.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::GetStreamErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::stream::{Config, Stream};
use async_trait::async_trait;
use fundtrail_store::OpenedStore;
use fundtrail_verifier::note::{self, Checkpoint, LogKey, Note};
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::{Offset, TopicPartitionList};
use tokio_util::sync::CancellationToken;

use crate::config::{KafkaConfig, LogConfig, NatsConfig};
use crate::error::LogError;
use crate::lease::Lease;
use crate::relay::RelayOptions;
use crate::{kafka, nats};

/// Checkpoints read from the store per round.
const BATCH: usize = 100;

/// A stored tree checkpoint, as the log carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredNote {
    pub tree_size: u64,
    /// The C2SP signed note, with the fund's signature.
    pub note: String,
}

/// Where the signed checkpoints are kept (the audit tables beside the events).
#[async_trait]
pub trait CheckpointFeed: Send + Sync {
    /// The stored checkpoints of trees larger than `size`, smallest first, at most `limit`.
    async fn after(&self, size: u64, limit: usize) -> Result<Vec<StoredNote>, String>;
}

/// The Kafka topic the checkpoints of the events' topic go to.
pub fn kafka_topic(config: &KafkaConfig) -> String {
    format!("{}.checkpoints", config.topic)
}

/// The NATS stream and subject of the checkpoints.
pub fn nats_stream(config: &NatsConfig) -> (String, String) {
    (
        format!("{}_CHECKPOINTS", config.stream),
        format!("checkpoints.{}", config.prefix),
    )
}

/// Publishes the stored checkpoints to the log the URL names.
pub struct CheckpointRelay {
    config: LogConfig,
    store: OpenedStore,
    feed: Arc<dyn CheckpointFeed>,
    options: RelayOptions,
    poll: Duration,
}

impl std::fmt::Debug for CheckpointRelay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CheckpointRelay")
            .field("config", &self.config)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl CheckpointRelay {
    pub fn new(
        log_url: &str,
        store: impl Into<OpenedStore>,
        feed: Arc<dyn CheckpointFeed>,
    ) -> Result<Self, LogError> {
        Ok(Self {
            config: log_url.parse()?,
            store: store.into(),
            feed,
            options: RelayOptions::default(),
            // Checkpoints are signed minutes apart: a short poll costs one small query.
            poll: Duration::from_secs(2),
        })
    }

    /// Replaces the lease, timeout and retry options; refused as [`RelayOptions::check`] says.
    pub fn with_options(mut self, options: RelayOptions) -> Result<Self, LogError> {
        options.check()?;
        self.options = options;
        Ok(self)
    }

    /// How often the store is asked for new checkpoints.
    #[must_use]
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// The cursor (and lease) name: beside the events' relay's.
    fn name(&self) -> Option<String> {
        self.config
            .relay_name()
            .map(|relay| format!("{relay}.checkpoints"))
    }

    /// Runs until `shutdown`; nothing to do on the embedded log.
    pub async fn run(self, shutdown: CancellationToken) {
        let Some(name) = self.name() else {
            return;
        };
        let mut backoff = self.options.retry_min;
        while !shutdown.is_cancelled() {
            let pause = match Lease::try_acquire(&self.store, &name, self.options.lease_ttl).await {
                Ok(Some(mut lease)) => {
                    let result = self
                        .publish_while_leased(&mut lease, &name, &shutdown)
                        .await;
                    lease.release().await;
                    match result {
                        Ok(()) => break,
                        Err(error) => {
                            tracing::warn!(relay = %name, %error, ?backoff, "checkpoint relay round failed; resuming from the cursor");
                            let pause = backoff;
                            backoff = (backoff * 2).min(self.options.retry_max);
                            pause
                        }
                    }
                }
                Ok(None) => self.options.standby_poll,
                Err(error) => {
                    tracing::warn!(relay = %name, %error, "could not take the checkpoint relay's lease");
                    let pause = backoff;
                    backoff = (backoff * 2).min(self.options.retry_max);
                    pause
                }
            };
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(pause) => {}
            }
        }
    }

    async fn publish_while_leased(
        &self,
        lease: &mut Lease,
        name: &str,
        shutdown: &CancellationToken,
    ) -> Result<(), LogError> {
        let events = self.store.events();
        let publisher = NotePublisher::connect(&self.config, &self.options).await?;
        loop {
            lease.confirm().await?;
            let cursor = events.load_cursor(name).await?;
            let notes = self
                .feed
                .after(cursor, BATCH)
                .await
                .map_err(LogError::Checkpoints)?;
            if notes.is_empty() {
                tokio::select! {
                    () = shutdown.cancelled() => return Ok(()),
                    () = tokio::time::sleep(self.poll) => continue,
                }
            }
            for stored in &notes {
                publisher
                    .publish(stored, self.options.publish_timeout)
                    .await?;
                events.save_cursor(name, stored.tree_size).await?;
                tracing::info!(
                    tree_size = stored.tree_size,
                    "published a checkpoint on the log"
                );
            }
        }
    }
}

enum NotePublisher {
    Kafka {
        topic: String,
        producer: FutureProducer,
    },
    Nats {
        // Boxed: a context is several times the size of a producer.
        context: Box<jetstream::Context>,
        subject: String,
    },
}

impl NotePublisher {
    async fn connect(config: &LogConfig, options: &RelayOptions) -> Result<Self, LogError> {
        match config {
            LogConfig::Embedded => Err(LogError::Config(
                "the embedded log carries no checkpoints".into(),
            )),
            LogConfig::Kafka(config) => {
                let topic = kafka_config(config);
                kafka::ensure_topic(&topic, options.publish_timeout).await?;
                let timeout_ms = options.publish_timeout.as_millis().max(1).to_string();
                let producer = kafka::client_config(&config.brokers)
                    .set("enable.idempotence", "true")
                    .set("acks", "all")
                    .set("message.timeout.ms", &timeout_ms)
                    .create()
                    .map_err(|e| LogError::kafka("creating the checkpoint producer", e))?;
                Ok(Self::Kafka {
                    topic: topic.topic,
                    producer,
                })
            }
            LogConfig::Nats(config) => {
                let context = nats::connect(config, options.publish_timeout).await?;
                let (_, subject) = nats_stream(config);
                checkpoint_stream(&context, config).await?;
                Ok(Self::Nats {
                    context: Box::new(context),
                    subject,
                })
            }
        }
    }

    async fn publish(&self, stored: &StoredNote, timeout: Duration) -> Result<(), LogError> {
        let size = stored.tree_size.to_string();
        match self {
            Self::Kafka { topic, producer } => {
                let headers = OwnedHeaders::new()
                    .insert(Header {
                        key: "record",
                        value: Some("checkpoint"),
                    })
                    .insert(Header {
                        key: "tree-size",
                        value: Some(size.as_str()),
                    });
                // Partition 0 whatever the topic has (a broker that creates topics on first
                // use may have made more): readers read that one, in signing order.
                let record = FutureRecord::to(topic)
                    .partition(0)
                    .key(size.as_str())
                    .payload(stored.note.as_str())
                    .headers(headers);
                producer
                    .send(record, timeout)
                    .await
                    .map_err(|(e, _)| LogError::kafka("publishing a checkpoint", e))?;
            }
            Self::Nats { context, subject } => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert("record", "checkpoint");
                headers.insert("tree-size", size.as_str());
                // The same note published twice within the duplicate window is kept once.
                let id = Note::parse(&stored.note)
                    .ok()
                    .and_then(|n| Checkpoint::parse(&n.text).ok())
                    .map_or_else(
                        || format!("checkpoint-{size}"),
                        |cp| format!("checkpoint-{size}-{}", hex_prefix(&cp.root)),
                    );
                let message = PublishMessage::build()
                    .payload(stored.note.clone().into())
                    .headers(headers)
                    .message_id(id);
                context
                    .send_publish(subject.clone(), message)
                    .await
                    .map_err(|e| LogError::nats("publishing a checkpoint", e))?
                    .await
                    .map_err(|e| LogError::nats("publishing a checkpoint", e))?;
            }
        }
        Ok(())
    }
}

fn hex_prefix(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().take(8).fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn kafka_config(config: &KafkaConfig) -> KafkaConfig {
    KafkaConfig {
        topic: kafka_topic(config),
        // One partition: the checkpoints stay in the order they were signed.
        partitions: 1,
        ..config.clone()
    }
}

async fn checkpoint_stream(
    context: &jetstream::Context,
    config: &NatsConfig,
) -> Result<Stream, LogError> {
    let (name, subject) = nats_stream(config);
    context
        .get_or_create_stream(Config {
            name: name.clone(),
            subjects: vec![subject],
            storage: jetstream::stream::StorageType::File,
            duplicate_window: Duration::from_mins(2),
            ..Config::default()
        })
        .await
        .map_err(|e| LogError::nats(&format!("opening stream {name}"), e))
}

/// A message on the checkpoints' topic or subject that was not kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefusedNote {
    /// Where it lies: `offset 3` (Kafka) or `sequence 3` (NATS).
    pub at: String,
    pub reason: String,
    /// Signed by the fund's key, but of a size it signed with another root: the fund showed
    /// two histories. Every other refusal is a note the fund did not sign.
    pub fork: bool,
}

/// What the log holds of the fund's checkpoints, checked against its key and origin.
#[derive(Debug, Clone, Default)]
pub struct CheckpointsOnLog {
    /// One per tree size: the first note of that size that verified.
    pub accepted: BTreeMap<u64, (Checkpoint, String)>,
    pub refused: Vec<RefusedNote>,
}

impl CheckpointsOnLog {
    /// Keeps the note if the fund's key signed it under its origin and it does not
    /// contradict a note of the same size already kept (a fork).
    pub fn offer(&mut self, at: &str, text: &str, key: &LogKey) {
        let refuse = |reason: String, fork: bool| RefusedNote {
            at: at.to_owned(),
            reason,
            fork,
        };
        let refusal = match note::open_checkpoint(text, key) {
            Err(error) => Some(refuse(error.to_string(), false)),
            Ok((checkpoint, _)) => match self.accepted.get(&checkpoint.size) {
                Some((kept, _)) if kept.root == checkpoint.root => None,
                Some(_) => Some(refuse(
                    format!(
                        "a second checkpoint of the tree of size {} with another root, both \
                     signed by the fund's key: the fund showed two histories (a fork)",
                        checkpoint.size
                    ),
                    true,
                )),
                None => {
                    self.accepted
                        .insert(checkpoint.size, (checkpoint, text.to_owned()));
                    None
                }
            },
        };
        self.refused.extend(refusal);
    }

    /// Whether the log shows the fund signing two trees of one size.
    pub fn forked(&self) -> bool {
        self.refused.iter().any(|r| r.fork)
    }

    /// The largest tree kept.
    pub fn latest(&self) -> Option<&(Checkpoint, String)> {
        self.accepted.values().next_back()
    }
}

/// Reads every checkpoint the log holds, from its beginning to its end now, and keeps those
/// the fund's key signed under its origin. Consistency between the kept trees is for the
/// reader to check with the fund's proofs (a witness does).
pub async fn read_checkpoints(
    log_url: &str,
    key: &LogKey,
    timeout: Duration,
) -> Result<CheckpointsOnLog, LogError> {
    let mut found = CheckpointsOnLog::default();
    match log_url.parse::<LogConfig>()? {
        LogConfig::Embedded => {
            return Err(LogError::Config(
                "the embedded log carries no checkpoints: read them from the store or the \
                 Audit API"
                    .into(),
            ));
        }
        LogConfig::Kafka(config) => read_kafka(&config, key, timeout, &mut found).await?,
        LogConfig::Nats(config) => read_nats(&config, key, timeout, &mut found).await?,
    }
    Ok(found)
}

async fn read_kafka(
    config: &KafkaConfig,
    key: &LogKey,
    timeout: Duration,
    found: &mut CheckpointsOnLog,
) -> Result<(), LogError> {
    let topic = kafka_topic(config);
    let consumer: StreamConsumer = kafka::client_config(&config.brokers)
        .set("group.id", "fundtrail-checkpoint-reader")
        .set("enable.auto.commit", "false")
        .create()
        .map_err(|e| LogError::kafka("creating the checkpoint reader", e))?;
    let consumer = Arc::new(consumer);
    let watermarks = {
        let consumer = consumer.clone();
        let topic = topic.clone();
        tokio::task::spawn_blocking(move || consumer.fetch_watermarks(&topic, 0, timeout))
            .await
            .map_err(|e| LogError::kafka("reading the checkpoints' offsets", e))?
    };
    let (low, high) = match watermarks {
        Ok(marks) => marks,
        // No topic yet: nothing was ever published.
        Err(KafkaError::MetadataFetch(
            RDKafkaErrorCode::UnknownPartition | RDKafkaErrorCode::UnknownTopicOrPartition,
        )) => return Ok(()),
        Err(error) => return Err(LogError::kafka("reading the checkpoints' offsets", error)),
    };
    if high <= low {
        return Ok(());
    }
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Offset(low))
        .map_err(|e| LogError::kafka("assigning the checkpoints' partition", e))?;
    consumer
        .assign(&assignment)
        .map_err(|e| LogError::kafka("assigning the checkpoints' partition", e))?;
    loop {
        let message = tokio::time::timeout(timeout, consumer.recv())
            .await
            .map_err(|_| LogError::Kafka(format!("no checkpoint arrived within {timeout:?}")))?
            .map_err(|e| LogError::kafka("reading a checkpoint", e))?;
        let at = format!("offset {}", message.offset());
        match message.payload().map(std::str::from_utf8) {
            Some(Ok(text)) => found.offer(&at, text, key),
            _ => found.refused.push(RefusedNote {
                at,
                reason: "not a signed note (not UTF-8 text)".into(),
                fork: false,
            }),
        }
        if message.offset() + 1 >= high {
            return Ok(());
        }
    }
}

async fn read_nats(
    config: &NatsConfig,
    key: &LogKey,
    timeout: Duration,
    found: &mut CheckpointsOnLog,
) -> Result<(), LogError> {
    let context = nats::connect(config, timeout).await?;
    let (name, _) = nats_stream(config);
    let mut stream = match context.get_stream(&name).await {
        Ok(stream) => stream,
        // No stream yet: nothing was ever published.
        Err(error)
            if matches!(error.kind(), GetStreamErrorKind::JetStream(e)
                if e.error_code() == ErrorCode::STREAM_NOT_FOUND) =>
        {
            return Ok(());
        }
        Err(error) => return Err(LogError::nats("opening the checkpoints' stream", error)),
    };
    let info = stream
        .info()
        .await
        .map_err(|e| LogError::nats("reading the checkpoints' stream", e))?;
    let (first, last) = (info.state.first_sequence, info.state.last_sequence);
    if last == 0 {
        return Ok(());
    }
    for sequence in first.max(1)..=last {
        let Ok(message) = stream.get_raw_message(sequence).await else {
            // Deleted from the stream: nothing to read there.
            continue;
        };
        let at = format!("sequence {sequence}");
        match std::str::from_utf8(&message.payload) {
            Ok(text) => found.offer(&at, text, key),
            Err(_) => found.refused.push(RefusedNote {
                at,
                reason: "not a signed note (not UTF-8 text)".into(),
                fork: false,
            }),
        }
    }
    Ok(())
}
