//! Which log, from one URL: `embedded`, `kafka://host:port[,host:port…][?…]` or
//! `nats://host:port[?…]`.
//!
//! The query sets what a deployment (or a test that must not share a topic) may change:
//! `kafka://h:9092?topic=fundtrail.events.v1&partitions=6&replication=3` and
//! `nats://h:4222?stream=FUNDTRAIL&prefix=fundtrail.v1`. Everything else is fixed by the log
//! format (docs/log-format.md).

use std::fmt;
use std::str::FromStr;

use fundtrail_telemetry::redact_url;

use crate::error::LogError;

pub const DEFAULT_TOPIC: &str = "fundtrail.events.v1";
pub const DEFAULT_PARTITIONS: i32 = 6;
pub const DEFAULT_STREAM: &str = "FUNDTRAIL";
pub const DEFAULT_PREFIX: &str = "fundtrail.v1";

/// The names the relays keep their cursors and leases under.
pub(crate) const KAFKA_RELAY: &str = "relay.kafka";
pub(crate) const NATS_RELAY: &str = "relay.nats";

/// A parsed log URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogConfig {
    /// Consumers read the store itself; there is nothing to relay.
    Embedded,
    Kafka(KafkaConfig),
    Nats(NatsConfig),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaConfig {
    /// `bootstrap.servers`: comma-separated `host:port`.
    pub brokers: String,
    pub topic: String,
    /// Used only when the relay creates the topic.
    pub partitions: i32,
    /// Used only when the relay creates the topic.
    pub replication: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// `nats://host:port`, as async-nats takes it.
    pub url: String,
    pub stream: String,
    /// Subjects are `<prefix>.<country>.<category>.<event>`.
    pub prefix: String,
}

impl LogConfig {
    /// The consumer name the relay keeps its cursor (and its lease) under; `None` when
    /// there is nothing to relay.
    pub fn relay_name(&self) -> Option<&'static str> {
        match self {
            Self::Embedded => None,
            Self::Kafka(_) => Some(KAFKA_RELAY),
            Self::Nats(_) => Some(NATS_RELAY),
        }
    }
}

impl FromStr for LogConfig {
    type Err = LogError;

    fn from_str(url: &str) -> Result<Self, Self::Err> {
        let url = url.trim();
        if url == "embedded" || url == "embedded://" {
            return Ok(Self::Embedded);
        }
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad(url, "no scheme"))?;
        let (hosts, query) = rest.split_once('?').unwrap_or((rest, ""));
        let hosts = hosts.trim_end_matches('/');
        if hosts.is_empty() {
            return Err(bad(url, "no host"));
        }
        let params = Params::parse(url, query)?;
        match scheme {
            "kafka" => {
                let config = KafkaConfig {
                    brokers: hosts.to_owned(),
                    topic: params.text("topic", DEFAULT_TOPIC),
                    partitions: params.number("partitions", DEFAULT_PARTITIONS)?,
                    replication: params.number("replication", 1)?,
                };
                params.only(&["topic", "partitions", "replication"])?;
                if !name_ok(&config.topic, |c| {
                    c.is_ascii_alphanumeric() || "._-".contains(c)
                }) {
                    return Err(bad(url, "topic must be [A-Za-z0-9._-]"));
                }
                Ok(Self::Kafka(config))
            }
            "nats" => {
                let config = NatsConfig {
                    url: format!("nats://{hosts}"),
                    stream: params.text("stream", DEFAULT_STREAM),
                    prefix: params.text("prefix", DEFAULT_PREFIX),
                };
                params.only(&["stream", "prefix"])?;
                if !name_ok(&config.stream, |c| {
                    c.is_ascii_alphanumeric() || "_-".contains(c)
                }) {
                    return Err(bad(url, "stream must be [A-Za-z0-9_-]"));
                }
                let token_ok =
                    |t: &str| name_ok(t, |c| c.is_ascii_alphanumeric() || "_-".contains(c));
                if !config.prefix.split('.').all(token_ok) {
                    return Err(bad(
                        url,
                        "prefix must be dot-separated [A-Za-z0-9_-] tokens",
                    ));
                }
                Ok(Self::Nats(config))
            }
            other => Err(bad(url, &format!("unknown scheme {other:?}"))),
        }
    }
}

/// The log's URL with its credentials hidden: this is what logs and messages show.
impl fmt::Display for LogConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let url = match self {
            Self::Embedded => "embedded".to_owned(),
            Self::Kafka(k) => format!(
                "kafka://{}?topic={}&partitions={}&replication={}",
                k.brokers, k.topic, k.partitions, k.replication
            ),
            Self::Nats(n) => format!("{}?stream={}&prefix={}", n.url, n.stream, n.prefix),
        };
        f.write_str(&redact_url(&url))
    }
}

fn name_ok(name: &str, allowed: impl Fn(char) -> bool) -> bool {
    !name.is_empty() && name.len() <= 200 && name.chars().all(allowed)
}

fn bad(url: &str, why: &str) -> LogError {
    LogError::Config(format!(
        "{why} in log url {:?}: use embedded, kafka://host:port or nats://host:port",
        redact_url(url)
    ))
}

struct Params<'a> {
    url: &'a str,
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Params<'a> {
    fn parse(url: &'a str, query: &'a str) -> Result<Self, LogError> {
        let mut pairs = Vec::new();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(url, &format!("query part {pair:?} is not key=value")))?;
            pairs.push((key, value));
        }
        Ok(Self { url, pairs })
    }

    fn get(&self, key: &str) -> Option<&'a str> {
        self.pairs
            .iter()
            .rev()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| *v)
    }

    fn text(&self, key: &str, default: &str) -> String {
        self.get(key).unwrap_or(default).to_owned()
    }

    fn number(&self, key: &str, default: i32) -> Result<i32, LogError> {
        match self.get(key) {
            None => Ok(default),
            Some(text) => text
                .parse()
                .ok()
                .filter(|n| *n >= 1)
                .ok_or_else(|| bad(self.url, &format!("{key} must be a positive number"))),
        }
    }

    fn only(&self, known: &[&str]) -> Result<(), LogError> {
        match self.pairs.iter().find(|(k, _)| !known.contains(k)) {
            Some((key, _)) => Err(bad(self.url, &format!("unknown option {key:?}"))),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_log_and_its_options() {
        assert_eq!(
            "embedded".parse::<LogConfig>().unwrap(),
            LogConfig::Embedded
        );
        let LogConfig::Kafka(k) = "kafka://a:9092,b:9092".parse().unwrap() else {
            panic!("kafka")
        };
        assert_eq!(k.brokers, "a:9092,b:9092");
        assert_eq!(k.topic, DEFAULT_TOPIC);
        assert_eq!(k.partitions, DEFAULT_PARTITIONS);
        let LogConfig::Kafka(k) = "kafka://a:1?topic=t.x&partitions=3".parse().unwrap() else {
            panic!("kafka")
        };
        assert_eq!((k.topic.as_str(), k.partitions), ("t.x", 3));
        let LogConfig::Nats(n) = "nats://127.0.0.1:4222?stream=S1&prefix=t.a"
            .parse()
            .unwrap()
        else {
            panic!("nats")
        };
        assert_eq!(n.url, "nats://127.0.0.1:4222");
        assert_eq!((n.stream.as_str(), n.prefix.as_str()), ("S1", "t.a"));
        for wrong in [
            "",
            "kafka://",
            "amqp://h:1",
            "kafka://h:1?partitions=0",
            "kafka://h:1?topic=a b",
            "nats://h:1?stream=a.b",
            "nats://h:1?prefix=a..b",
            "nats://h:1?colour=red",
        ] {
            assert!(
                matches!(wrong.parse::<LogConfig>(), Err(LogError::Config(_))),
                "{wrong}"
            );
        }
        assert!(
            !"kafka://user:secret@h:1?x"
                .parse::<LogConfig>()
                .unwrap_err()
                .to_string()
                .contains("secret")
        );
    }

    #[test]
    fn shown_urls_keep_credentials_out() {
        for (url, shown) in [
            (
                "nats://relay:s3cret@nats:4222",
                "nats://relay:***@nats:4222?stream=FUNDTRAIL&prefix=fundtrail.v1",
            ),
            (
                "nats://s3cret@nats:4222",
                "nats://***@nats:4222?stream=FUNDTRAIL&prefix=fundtrail.v1",
            ),
            (
                "kafka://alice:s3cret@a:9092,b:9092",
                "kafka://alice:***@a:9092,b:9092?topic=fundtrail.events.v1&partitions=6&replication=1",
            ),
        ] {
            assert_eq!(url.parse::<LogConfig>().unwrap().to_string(), shown);
        }
        assert_eq!(
            "nats://127.0.0.1:4222"
                .parse::<LogConfig>()
                .unwrap()
                .to_string(),
            "nats://127.0.0.1:4222?stream=FUNDTRAIL&prefix=fundtrail.v1"
        );
        let refused = "nats://relay:s3cret@nats:4222?colour=red"
            .parse::<LogConfig>()
            .unwrap_err()
            .to_string();
        assert!(
            refused.contains("colour") && !refused.contains("s3cret"),
            "{refused}"
        );
    }
}
