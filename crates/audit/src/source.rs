//! Where a history is read from: a live store, a server's Audit API, or an export file.
//!
//! A server is read through a client the caller connected (the command line connects with
//! `fundtrail_client::Session`, which owns how a connection is made and what its failure
//! says).

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use fundtrail_identity::AuthorizedChannel;
use fundtrail_proto::v1;
use fundtrail_proto::v1::audit_client::AuditClient;
use fundtrail_store::StoreOptions;
use fundtrail_verifier::export::{self, Record};
use fundtrail_verifier::{Envelope, SignedCheckpoint};
use futures::stream::{self, BoxStream, StreamExt, TryStreamExt};

use crate::storage::{self, OpenedStore};
use crate::stored;

/// Events read per store query.
const BATCH: usize = 1000;

/// Why a history could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error(transparent)]
    Storage(#[from] storage::StorageError),
    #[error(transparent)]
    Store(#[from] fundtrail_store::StoreError),
    #[error("the server refused: {}: {}", .0.code(), .0.message())]
    Status(#[from] tonic::Status),
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("malformed history: {0}")]
    Malformed(String),
}

/// A history to read.
#[derive(Debug, Clone)]
pub enum Source {
    Store(OpenedStore),
    Server(AuditClient<AuthorizedChannel>),
    File(PathBuf),
}

impl Source {
    pub async fn store(url: &str) -> Result<Self, SourceError> {
        Self::store_with(url, StoreOptions::default()).await
    }

    pub async fn store_with(url: &str, options: StoreOptions) -> Result<Self, SourceError> {
        Ok(Self::Store(storage::open(url, options).await?))
    }

    /// A server's history, read through a connected Audit API client.
    pub fn server(client: AuditClient<AuthorizedChannel>) -> Self {
        // Exports carry whole payloads; the default 4 MiB per message is a per-event bound.
        Self::Server(client.max_decoding_message_size(64 * 1024 * 1024))
    }

    pub fn file(path: &Path) -> Self {
        Self::File(path.to_owned())
    }

    /// Every event from position 1 up to the head as it is when the call starts, in order.
    pub async fn events(
        &self,
    ) -> Result<BoxStream<'static, Result<Envelope, SourceError>>, SourceError> {
        match self {
            Self::Store(opened) => {
                let store = opened.events.clone();
                let head = store.head().await?.position;
                Ok(stream::try_unfold(1u64, move |next| {
                    let store = store.clone();
                    async move {
                        if next > head {
                            return Ok(None);
                        }
                        let batch = store.read_all(next, BATCH).await?;
                        let batch: Vec<Envelope> = batch
                            .into_iter()
                            .take_while(|e| e.position <= head)
                            .map(stored::envelope)
                            .collect();
                        // A hole at the end of the table ends the read; the verifier names it.
                        let after = batch.last().map_or(head + 1, |e| e.position + 1);
                        Ok::<_, SourceError>(Some((stream::iter(batch.into_iter().map(Ok)), after)))
                    }
                })
                .try_flatten()
                .boxed())
            }
            Self::Server(client) => {
                let mut client = client.clone();
                let events = client
                    .stream_events(v1::StreamEventsRequest {
                        from_position: 1,
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                Ok(events
                    .map(|item| {
                        let event = item?;
                        let envelope = event.envelope.ok_or_else(|| {
                            SourceError::Malformed("an audit event without its envelope".into())
                        })?;
                        Envelope::try_from(envelope)
                            .map_err(|e| SourceError::Malformed(e.to_string()))
                    })
                    .boxed())
            }
            Self::File(path) => {
                let records = read_file(path)?;
                Ok(stream::iter(records.filter_map(|r| {
                    match r {
                        Ok((line, Record::Event(event))) => Some(
                            Envelope::try_from(&event)
                                .map_err(|e| SourceError::Malformed(format!("line {line}: {e}"))),
                        ),
                        Ok(_) => None,
                        Err(e) => Some(Err(SourceError::Malformed(e))),
                    }
                }))
                .boxed())
            }
        }
    }

    /// The signed checkpoints the source holds.
    pub async fn checkpoints(&self) -> Result<Vec<SignedCheckpoint>, SourceError> {
        match self {
            Self::Store(opened) => Ok(opened.checkpoints.list().await?),
            Self::Server(client) => {
                let listed = client
                    .clone()
                    .list_checkpoints(v1::ListCheckpointsRequest {})
                    .await;
                match listed {
                    Ok(list) => list
                        .into_inner()
                        .checkpoints
                        .into_iter()
                        .map(|c| {
                            SignedCheckpoint::try_from(c)
                                .map_err(|e| SourceError::Malformed(e.to_string()))
                        })
                        .collect(),
                    Err(status) if unsupported(&status) => Ok(Vec::new()),
                    Err(status) => Err(status.into()),
                }
            }
            Self::File(path) => {
                let mut out = Vec::new();
                for record in read_file(path)? {
                    if let (line, Record::Checkpoint(c)) = record.map_err(SourceError::Malformed)? {
                        out.push(
                            SignedCheckpoint::try_from(&c)
                                .map_err(|e| SourceError::Malformed(format!("line {line}: {e}")))?,
                        );
                    }
                }
                Ok(out)
            }
        }
    }

    /// The key the source says its checkpoints are signed with (not proof of anything by
    /// itself: an auditor compares it with the key the fund published).
    pub async fn public_key(&self) -> Result<Option<[u8; 32]>, SourceError> {
        match self {
            Self::Store(_) => Ok(None),
            Self::Server(client) => match client
                .clone()
                .get_public_key(v1::GetPublicKeyRequest {})
                .await
            {
                Ok(key) => Ok(key.into_inner().ed25519.as_slice().try_into().ok()),
                Err(status) if unsupported(&status) => Ok(None),
                Err(status) => Err(status.into()),
            },
            Self::File(path) => {
                let mut key = None;
                for record in read_file(path)? {
                    if let (line, Record::PublicKey { ed25519 }) =
                        record.map_err(SourceError::Malformed)?
                    {
                        let mut bytes = [0u8; 32];
                        hex::decode_to_slice(&ed25519, &mut bytes).map_err(|_| {
                            SourceError::Malformed(format!("line {line}: public key is not hex"))
                        })?;
                        key = Some(bytes);
                    }
                }
                Ok(key)
            }
        }
    }
}

fn unsupported(status: &tonic::Status) -> bool {
    matches!(
        status.code(),
        tonic::Code::Unimplemented | tonic::Code::FailedPrecondition
    )
}

fn read_file(
    path: &Path,
) -> Result<impl Iterator<Item = Result<(usize, Record), String>> + Send + 'static, SourceError> {
    let file = File::open(path).map_err(|e| SourceError::File {
        path: path.display().to_string(),
        reason: e.to_string(),
    })?;
    Ok(export::records(BufReader::new(file)))
}
