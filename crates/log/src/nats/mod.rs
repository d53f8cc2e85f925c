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

pub(crate) async fn connect(
    config: &NatsConfig,
    timeout: Duration,
) -> Result<jetstream::Context, LogError> {
    // The client logs the addresses it connects to, credentials included, so they travel in
    // the options and the addresses it sees carry none.
    let (servers, credentials) = without_credentials(&config.url);
    let options = match credentials {
        Some(Credentials::UserPassword(user, password)) => {
            async_nats::ConnectOptions::with_user_and_password(user, password)
        }
        Some(Credentials::Token(token)) => async_nats::ConnectOptions::with_token(token),
        None => async_nats::ConnectOptions::new(),
    };
    let client = options
        .connection_timeout(timeout)
        .connect(servers.as_str())
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

#[derive(Debug, PartialEq, Eq)]
enum Credentials {
    UserPassword(String, String),
    Token(String),
}

/// The server list with the `user:password@` (or `token@`) of each address taken out, and
/// the first credentials found.
fn without_credentials(urls: &str) -> (String, Option<Credentials>) {
    let mut found = None;
    let servers: Vec<String> = urls
        .split(',')
        .map(|url| {
            let url = url.trim();
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let authority_end = rest.find('/').unwrap_or(rest.len());
            let Some(at) = rest[..authority_end].rfind('@') else {
                return url.to_owned();
            };
            let userinfo = &rest[..at];
            if found.is_none() {
                found = Some(match userinfo.split_once(':') {
                    Some((user, password)) => {
                        Credentials::UserPassword(percent_decoded(user), percent_decoded(password))
                    }
                    None => Credentials::Token(percent_decoded(userinfo)),
                });
            }
            let host = &rest[at + 1..];
            if scheme.is_empty() {
                host.to_owned()
            } else {
                format!("{scheme}://{host}")
            }
        })
        .collect();
    (servers.join(","), found)
}

fn percent_decoded(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_addresses() {
        assert_eq!(
            without_credentials(
                "nats://relay:s3cr%40t@nats-1:4222,nats://relay:s3cr%40t@nats-2:4222"
            ),
            (
                "nats://nats-1:4222,nats://nats-2:4222".to_owned(),
                Some(Credentials::UserPassword("relay".into(), "s3cr@t".into()))
            )
        );
        assert_eq!(
            without_credentials("nats://tok3n@127.0.0.1:4222"),
            (
                "nats://127.0.0.1:4222".to_owned(),
                Some(Credentials::Token("tok3n".into()))
            )
        );
        assert_eq!(
            without_credentials("nats://127.0.0.1:4222"),
            ("nats://127.0.0.1:4222".to_owned(), None)
        );
        assert_eq!(
            without_credentials("127.0.0.1:4222"),
            ("127.0.0.1:4222".to_owned(), None)
        );
    }
}
