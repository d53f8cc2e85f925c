//! The Audit gRPC API: the raw history, filtered, with every envelope as stored; signed
//! checkpoints of its hash chain; and inclusion proofs against them.

use std::pin::Pin;
use std::sync::Arc;

use chrono::DateTime;
use fundtrail_audit::proof::{self, ProveError};
use fundtrail_audit::signer::{self, SignError};
use fundtrail_audit::storage::StorageError;
use fundtrail_audit::{CheckpointSigner, CheckpointStore};
use fundtrail_domain::CountryCode;
use fundtrail_log::envelope::envelope;
use fundtrail_proto::v1::audit_server::{Audit, AuditServer};
use fundtrail_proto::{decode, v1};
use fundtrail_service::{AuditRefusal, ServiceError};
use fundtrail_store::{EventStore, RecordedEvent, StoreError};
use fundtrail_verifier::{InclusionProof, SignedCheckpoint};
use futures::{Stream, StreamExt};
use tonic::{Request, Response, Status};

use crate::json::to_json;

/// The Audit service over a store.
#[derive(Debug, Clone)]
pub struct AuditService {
    store: Arc<dyn EventStore>,
    checkpoints: Option<CheckpointStore>,
    signer: Option<CheckpointSigner>,
}

impl AuditService {
    /// Without checkpoints: only `StreamEvents` answers.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            checkpoints: None,
            signer: None,
        }
    }

    /// Serves the checkpoints stored in `checkpoints`; signs new ones when given a key.
    #[must_use]
    pub fn with_checkpoints(
        mut self,
        checkpoints: CheckpointStore,
        signer: Option<CheckpointSigner>,
    ) -> Self {
        self.checkpoints = Some(checkpoints);
        self.signer = signer;
        self
    }

    fn checkpoints(&self) -> Result<&CheckpointStore, ServiceError> {
        self.checkpoints
            .as_ref()
            .ok_or(AuditRefusal::NoCheckpoints.into())
    }

    fn signer(&self) -> Result<&CheckpointSigner, ServiceError> {
        self.signer
            .as_ref()
            .ok_or(AuditRefusal::NoSigningKey.into())
    }

    /// The checkpoint at a position, or the latest for 0.
    async fn checkpoint(&self, position: u64) -> Result<SignedCheckpoint, ServiceError> {
        let checkpoints = self.checkpoints()?;
        let found = if position == 0 {
            checkpoints.latest().await
        } else {
            checkpoints.at(position).await
        }
        .map_err(storage)?;
        found.ok_or_else(|| {
            if position == 0 {
                AuditRefusal::NoCheckpointYet.into()
            } else {
                AuditRefusal::NoCheckpointAt(position).into()
            }
        })
    }

    pub fn into_server(self) -> AuditServer<Self> {
        AuditServer::new(self)
    }
}

/// Which events a `StreamEvents` call wants.
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    pub to_position: Option<u64>,
    pub stream: Option<String>,
    pub category: Option<String>,
    pub event_type: Option<String>,
    pub country: Option<CountryCode>,
    /// `XX`: only the events that concern no country (the code `AuditEvent.country` gives
    /// them).
    pub no_country: bool,
    pub from_micros: Option<i64>,
    pub to_micros: Option<i64>,
}

/// The checkpoints are kept in the store's database: their failures are the store's.
fn storage(error: StorageError) -> ServiceError {
    match error {
        StorageError::Store(error) => error.into(),
        StorageError::Corrupt(_) => StoreError::Corrupt(error.to_string()).into(),
        StorageError::Database(_) => StoreError::Unavailable(error.to_string()).into(),
    }
}

fn time(field: &str, text: &str) -> Result<Option<i64>, ServiceError> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    DateTime::parse_from_rfc3339(text.trim())
        .map(|t| Some(t.timestamp_micros()))
        .map_err(|_| ServiceError::invalid(field, format!("{text:?} is not an RFC 3339 time")))
}

fn non_empty(text: &str) -> Option<String> {
    Some(text.trim().to_owned()).filter(|t| !t.is_empty())
}

impl EventFilter {
    pub fn from_request(r: &v1::StreamEventsRequest) -> Result<Self, ServiceError> {
        let category = non_empty(&r.category);
        if let Some(c) = &category
            && !c.chars().all(|ch| ch.is_ascii_lowercase())
        {
            return Err(ServiceError::invalid(
                "category",
                "a category is lowercase letters, e.g. pledge",
            ));
        }
        let no_country = r.country.trim().eq_ignore_ascii_case("XX");
        Ok(Self {
            to_position: (r.to_position != 0).then_some(r.to_position),
            no_country,
            stream: non_empty(&r.stream),
            category,
            event_type: non_empty(&r.event_type),
            country: non_empty(&r.country)
                .filter(|_| !no_country)
                .map(|c| {
                    CountryCode::new(&c)
                        .map_err(|e| ServiceError::invalid("country", e.to_string()))
                })
                .transpose()?,
            from_micros: time("from_time", &r.from_time)?,
            to_micros: time("to_time", &r.to_time)?,
        })
    }

    /// Whether an event passes the filter, and its country (`XX` when it concerns none).
    pub fn admits(&self, event: &RecordedEvent) -> (bool, String) {
        let country = decode(&event.event_type, &event.payload)
            .ok()
            .and_then(|e| e.country());
        let code = country.map_or_else(|| "XX".to_owned(), |c| c.to_string());
        let category = event.stream.split('-').next().unwrap_or_default();
        let admitted = self.stream.as_ref().is_none_or(|s| *s == event.stream)
            && self.category.as_ref().is_none_or(|c| c == category)
            && self
                .event_type
                .as_ref()
                .is_none_or(|t| *t == event.event_type)
            && self.country.is_none_or(|c| Some(c) == country)
            && (!self.no_country || country.is_none())
            && self.from_micros.is_none_or(|t| event.recorded_at >= t)
            && self.to_micros.is_none_or(|t| event.recorded_at <= t);
        (admitted, code)
    }
}

pub fn audit_event(event: &RecordedEvent, country: String) -> v1::AuditEvent {
    v1::AuditEvent {
        envelope: Some(envelope(event)),
        payload_json: to_json(&event.event_type, &event.payload)
            .unwrap_or_else(|e| serde_json::json!({ "undecodable": e }).to_string()),
        metadata_json: to_json("fundtrail.v1.EventMetadata", &event.metadata)
            .unwrap_or_else(|e| serde_json::json!({ "undecodable": e }).to_string()),
        country,
    }
}

type EventStream = Pin<Box<dyn Stream<Item = Result<v1::AuditEvent, Status>> + Send>>;

#[tonic::async_trait]
impl Audit for AuditService {
    type StreamEventsStream = EventStream;

    async fn stream_events(
        &self,
        request: Request<v1::StreamEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        let r = request.into_inner();
        let filter = EventFilter::from_request(&r)?;
        let from = r.from_position.max(1);
        // Without `follow`, the call ends at the head as it is now.
        let end = if r.follow {
            filter.to_position
        } else {
            let head = self
                .store
                .head()
                .await
                .map_err(ServiceError::from)?
                .position;
            Some(filter.to_position.map_or(head, |to| to.min(head)))
        };
        if end.is_some_and(|end| end < from) {
            return Ok(Response::new(Box::pin(futures::stream::empty())));
        }
        // Positions are dense, so the subscription yields exactly `end - from + 1` events up
        // to the end; counting lets the call finish without waiting for an event past it.
        let events = self.store.subscribe(from);
        let events = match end {
            Some(end) => events
                .take(usize::try_from(end - from + 1).unwrap_or(usize::MAX))
                .boxed(),
            None => events,
        };
        let events: EventStream = Box::pin(events.filter_map(move |event| {
            let out = match event {
                Ok(event) => {
                    let (admitted, country) = filter.admits(&event);
                    admitted.then(|| Ok(audit_event(&event, country)))
                }
                Err(e) => Some(Err(ServiceError::from(e).into())),
            };
            futures::future::ready(out)
        }));
        Ok(Response::new(events))
    }

    async fn get_checkpoint(
        &self,
        request: Request<v1::GetCheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let cp = self.checkpoint(request.into_inner().position).await?;
        Ok(Response::new((&cp).into()))
    }

    async fn list_checkpoints(
        &self,
        _request: Request<v1::ListCheckpointsRequest>,
    ) -> Result<Response<v1::ListCheckpointsResponse>, Status> {
        let list = self.checkpoints()?.list().await.map_err(storage)?;
        Ok(Response::new(v1::ListCheckpointsResponse {
            checkpoints: list.iter().map(Into::into).collect(),
        }))
    }

    async fn create_checkpoint(
        &self,
        _request: Request<v1::CreateCheckpointRequest>,
    ) -> Result<Response<v1::SignedCheckpoint>, Status> {
        let checkpoints = self.checkpoints()?;
        let signer = self.signer()?;
        let refusal: ServiceError =
            match signer::sign_head(self.store.as_ref(), checkpoints, signer).await {
                Ok(cp) => return Ok(Response::new((&cp).into())),
                Err(SignError::Empty) => AuditRefusal::NothingToSign.into(),
                Err(error @ SignError::Tampered(_)) => {
                    tracing::error!(%error, "refused to sign a checkpoint over an altered history");
                    AuditRefusal::Altered(error.to_string()).into()
                }
                Err(SignError::Storage(error)) => storage(error),
                Err(SignError::Store(error)) => error.into(),
            };
        Err(refusal.into())
    }

    async fn get_public_key(
        &self,
        _request: Request<v1::GetPublicKeyRequest>,
    ) -> Result<Response<v1::PublicKey>, Status> {
        let key = self.signer()?.public_key();
        Ok(Response::new(v1::PublicKey {
            ed25519: key.to_vec(),
            hex: hex::encode(key),
        }))
    }

    async fn prove_inclusion(
        &self,
        request: Request<v1::ProveInclusionRequest>,
    ) -> Result<Response<v1::InclusionProof>, Status> {
        let r = request.into_inner();
        if r.position == 0 {
            return Err(ServiceError::invalid("position", "positions start at 1").into());
        }
        let cp = self.checkpoint(r.checkpoint_position).await?;
        if r.position > cp.position {
            return Err(ServiceError::from(AuditRefusal::AfterCheckpoint {
                position: r.position,
                checkpoint: cp.position,
            })
            .into());
        }
        let proof: InclusionProof = proof::prove(self.store.as_ref(), cp, r.position)
            .await
            .map_err(|e| match e {
                ProveError::Zero | ProveError::AfterCheckpoint { .. } => {
                    ServiceError::invalid("position", e.to_string())
                }
                ProveError::Missing(_) => AuditRefusal::Altered(e.to_string()).into(),
                ProveError::TooLarge { .. } => AuditRefusal::ProofTooLarge(e.to_string()).into(),
                ProveError::Store(error) => error.into(),
            })?;
        Ok(Response::new((&proof).into()))
    }
}
