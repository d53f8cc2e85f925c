//! The Audit gRPC API: the raw history, filtered, with every envelope as stored; signed
//! checkpoints of its hash chain; and inclusion proofs against them. Beside them, the Merkle
//! tree over the history (docs/audit.md §1): its C2SP checkpoints with the witnesses'
//! cosignatures, inclusion and consistency proofs, a donor's own events with their proofs,
//! and the cosignatures witnesses submit.

use std::pin::Pin;
use std::sync::Arc;

use chrono::DateTime;
use fundtrail_audit::proof::{self, MAX_PROOF_BYTES, ProveError};
use fundtrail_audit::signer::{self, SignError};
use fundtrail_audit::storage::StorageError;
use fundtrail_audit::tree::{StoredCosignature, TreeCheckpoint};
use fundtrail_audit::tree_proof::{TreeProveError, TreeReader};
use fundtrail_audit::{CheckpointSigner, CheckpointStore};
use fundtrail_domain::CountryCode;
use fundtrail_log::envelope::envelope;
use fundtrail_proto::v1::audit_server::{Audit, AuditServer};
use fundtrail_proto::{decode, v1};
use fundtrail_service::context::{acts_for_donor, principal};
use fundtrail_service::{AuditRefusal, ServiceError};
use fundtrail_store::{EventStore, RecordedEvent, StoreError};
use fundtrail_verifier::note::{self, Cosignature, Note, WitnessKey};
use fundtrail_verifier::{InclusionProof, SignedCheckpoint};
use futures::{Stream, StreamExt};
use prost::Message;
use tonic::{Request, Response, Status};

use crate::json::to_json;

/// The Audit service over a store.
#[derive(Debug, Clone)]
pub struct AuditService {
    store: Arc<dyn EventStore>,
    checkpoints: Option<CheckpointStore>,
    /// The Merkle tree's proofs, from the same tables, with the subtrees read kept in memory.
    tree: Option<TreeReader>,
    signer: Option<CheckpointSigner>,
}

impl AuditService {
    /// Without checkpoints: only `StreamEvents` answers.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            checkpoints: None,
            tree: None,
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
        self.tree = Some(TreeReader::new(checkpoints.clone()));
        self.checkpoints = Some(checkpoints);
        self.signer = signer;
        self
    }

    fn checkpoints(&self) -> Result<&CheckpointStore, ServiceError> {
        self.checkpoints
            .as_ref()
            .ok_or(AuditRefusal::NoCheckpoints.into())
    }

    fn tree(&self) -> Result<&TreeReader, ServiceError> {
        self.tree.as_ref().ok_or(AuditRefusal::NoCheckpoints.into())
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

    /// The tree checkpoint of a size, or the latest for 0.
    async fn tree_checkpoint(&self, size: u64) -> Result<TreeCheckpoint, ServiceError> {
        let found = self
            .checkpoints()?
            .tree_checkpoint((size != 0).then_some(size))
            .await
            .map_err(storage)?;
        found.ok_or_else(|| {
            if size == 0 {
                AuditRefusal::NoCheckpointYet.into()
            } else {
                AuditRefusal::NoCheckpointAt(size).into()
            }
        })
    }

    /// A tree checkpoint as served: its note with every cosignature kept for it.
    async fn tree_message(&self, cp: &TreeCheckpoint) -> Result<v1::TreeCheckpoint, ServiceError> {
        let lines = self
            .checkpoints()?
            .cosignatures(cp.tree_size, &cp.public_key)
            .await
            .map_err(storage)?;
        let origin = Note::parse(&cp.note)
            .ok()
            .and_then(|n| note::Checkpoint::parse(&n.text).ok())
            .map(|c| c.origin)
            .ok_or_else(|| {
                storage(StorageError::Corrupt(format!(
                    "the tree checkpoint of size {} is not a signed note",
                    cp.tree_size
                )))
            })?;
        Ok(v1::TreeCheckpoint {
            note: cp.with_cosignatures(&lines),
            origin,
            tree_size: cp.tree_size,
            root_hash: cp.root.to_vec(),
            signed_at: cp.signed_at.clone(),
        })
    }

    /// The events of a donor's own streams up to `size`: its donor stream and the pledges it
    /// made (every pledge stream whose first event names it), and nothing of another donor.
    async fn donor_events(
        &self,
        donor_id: &str,
        size: u64,
    ) -> Result<Vec<RecordedEvent>, ServiceError> {
        let mut events = self
            .store
            .read_stream(&format!("donor-{donor_id}"), 0)
            .await?;
        for pledge in self.store.list_streams("pledge").await? {
            let stream = self.store.read_stream(&pledge.stream, 0).await?;
            let owned = stream.first().is_some_and(|first| {
                first.event_type == "fundtrail.v1.PledgeRecorded"
                    && v1::PledgeRecorded::decode(first.payload.as_slice())
                        .is_ok_and(|p| p.donor_id == donor_id)
            });
            if owned {
                events.extend(stream);
            }
        }
        events.retain(|e| e.position <= size);
        events.sort_by_key(|e| e.position);
        Ok(events)
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

/// A donor id as it names a stream (`donor-<id>`), else the field refused.
fn donor_id(text: &str) -> Result<String, ServiceError> {
    let id = text.trim();
    let valid = !id.is_empty()
        && id.len() <= 190
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
    if valid {
        Ok(id.to_owned())
    } else {
        Err(ServiceError::invalid(
            "donor_id",
            "a donor id is its IATI organisation identifier, e.g. XM-DAC-7",
        ))
    }
}

/// Failures building a tree proof: bad input, a tree or history no longer what was signed, or
/// the store's own.
fn tree_refusal(error: TreeProveError) -> ServiceError {
    match error {
        TreeProveError::Zero | TreeProveError::AfterTree { .. } => {
            ServiceError::invalid("position", error.to_string())
        }
        TreeProveError::Order { .. } => ServiceError::invalid("from_size", error.to_string()),
        TreeProveError::Missing(_) | TreeProveError::Incomplete(_) => {
            AuditRefusal::Altered(error.to_string()).into()
        }
        TreeProveError::Storage(error) => storage(error),
        TreeProveError::Store(error) => error.into(),
    }
}

/// How far in the future a cosignature's time may be, for clocks a little apart.
const COSIGNATURE_SKEW_SECONDS: u64 = 600;

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
                Err(error @ SignError::TreeAltered(_)) => {
                    tracing::error!(%error, "refused to sign a checkpoint");
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

    async fn get_tree_checkpoint(
        &self,
        request: Request<v1::GetTreeCheckpointRequest>,
    ) -> Result<Response<v1::TreeCheckpoint>, Status> {
        let cp = self.tree_checkpoint(request.into_inner().tree_size).await?;
        Ok(Response::new(self.tree_message(&cp).await?))
    }

    async fn list_tree_checkpoints(
        &self,
        _request: Request<v1::ListTreeCheckpointsRequest>,
    ) -> Result<Response<v1::ListTreeCheckpointsResponse>, Status> {
        let list = self
            .checkpoints()?
            .tree_checkpoints()
            .await
            .map_err(storage)?;
        let mut checkpoints = Vec::with_capacity(list.len());
        for cp in &list {
            checkpoints.push(self.tree_message(cp).await?);
        }
        Ok(Response::new(v1::ListTreeCheckpointsResponse {
            checkpoints,
        }))
    }

    async fn prove_tree_inclusion(
        &self,
        request: Request<v1::ProveTreeInclusionRequest>,
    ) -> Result<Response<v1::TreeInclusionProof>, Status> {
        let r = request.into_inner();
        if r.position == 0 {
            return Err(ServiceError::invalid("position", "positions start at 1").into());
        }
        let cp = self.tree_checkpoint(r.tree_size).await?;
        if r.position > cp.tree_size {
            return Err(ServiceError::from(AuditRefusal::AfterCheckpoint {
                position: r.position,
                checkpoint: cp.tree_size,
            })
            .into());
        }
        let event = self
            .tree()?
            .event_inclusion(self.store.as_ref(), r.position, cp.tree_size)
            .await
            .map_err(tree_refusal)?;
        Ok(Response::new(v1::TreeInclusionProof {
            checkpoint: Some(self.tree_message(&cp).await?),
            event: Some((&event).into()),
        }))
    }

    async fn prove_consistency(
        &self,
        request: Request<v1::ProveConsistencyRequest>,
    ) -> Result<Response<v1::ConsistencyProof>, Status> {
        let r = request.into_inner();
        let to = self.tree_checkpoint(r.to_size).await?;
        if r.from_size > to.tree_size {
            return Err(ServiceError::invalid(
                "from_size",
                format!(
                    "{} is larger than the tree of size {} it is to be proven a prefix of",
                    r.from_size, to.tree_size
                ),
            )
            .into());
        }
        let checkpoints = self.checkpoints()?;
        let hashes = self
            .tree()?
            .consistency(r.from_size, to.tree_size)
            .await
            .map_err(tree_refusal)?;
        let from = match r.from_size {
            0 => None,
            size => checkpoints
                .tree_checkpoint(Some(size))
                .await
                .map_err(storage)?,
        };
        let from = match from {
            Some(cp) => Some(self.tree_message(&cp).await?),
            None => None,
        };
        Ok(Response::new(v1::ConsistencyProof {
            from,
            to: Some(self.tree_message(&to).await?),
            from_size: r.from_size,
            hashes: hashes.iter().map(|h| h.to_vec()).collect(),
        }))
    }

    async fn prove_donor_receipts(
        &self,
        request: Request<v1::ProveDonorReceiptsRequest>,
    ) -> Result<Response<v1::DonorReceiptsProof>, Status> {
        let caller = principal(&request)?.clone();
        let r = request.into_inner();
        let donor = donor_id(&r.donor_id)?;
        acts_for_donor(&caller, &donor)?;
        let cp = self.tree_checkpoint(r.tree_size).await?;
        let mut events = self.donor_events(&donor, cp.tree_size).await?;
        events.retain(|e| e.position > r.after_position);
        // A page stays under what a client accepts in one message; the rest is asked for
        // again from where it stopped.
        let per_proof = 32 * (2 + 2 * 64 - cp.tree_size.leading_zeros() as usize);
        let mut bytes = 0usize;
        let mut next_after_position = 0;
        let mut page = Vec::new();
        for event in events {
            bytes += event.payload.len() + event.metadata.len() + event.stream.len() + 128;
            bytes += per_proof;
            if bytes > MAX_PROOF_BYTES && !page.is_empty() {
                next_after_position = page.last().map_or(0, |e: &RecordedEvent| e.position);
                break;
            }
            page.push(event);
        }
        let proofs = self
            .tree()?
            .inclusions(page, cp.tree_size)
            .await
            .map_err(tree_refusal)?;
        Ok(Response::new(v1::DonorReceiptsProof {
            checkpoint: Some(self.tree_message(&cp).await?),
            events: proofs.iter().map(Into::into).collect(),
            next_after_position,
        }))
    }

    async fn submit_cosignature(
        &self,
        request: Request<v1::SubmitCosignatureRequest>,
    ) -> Result<Response<v1::TreeCheckpoint>, Status> {
        let r = request.into_inner();
        if r.tree_size == 0 {
            return Err(
                ServiceError::invalid("tree_size", "name the tree checkpoint cosigned").into(),
            );
        }
        let cp = self.tree_checkpoint(r.tree_size).await?;
        let public_key: [u8; 32] = r.witness_public_key.as_slice().try_into().map_err(|_| {
            ServiceError::invalid(
                "witness_public_key",
                format!(
                    "{} bytes, expected a 32-byte ed25519 key",
                    r.witness_public_key.len()
                ),
            )
        })?;
        let cosignature = Cosignature::parse_line(&r.cosignature)
            .map_err(|e| ServiceError::invalid("cosignature", e.to_string()))?;
        let body = Note::parse(&cp.note)
            .map_err(|e| storage(StorageError::Corrupt(e.to_string())))?
            .text;
        let witness = WitnessKey {
            name: cosignature.name.clone(),
            public_key,
        };
        cosignature
            .verify(&witness, &body)
            .map_err(|e| ServiceError::invalid("cosignature", e.to_string()))?;
        let now = u64::try_from(chrono::Utc::now().timestamp()).unwrap_or(0);
        if cosignature.timestamp > now + COSIGNATURE_SKEW_SECONDS {
            return Err(ServiceError::invalid(
                "cosignature",
                format!(
                    "its time {} is in the future (now {now})",
                    cosignature.timestamp
                ),
            )
            .into());
        }
        self.checkpoints()?
            .save_cosignature(&StoredCosignature {
                tree_size: cp.tree_size,
                public_key: cp.public_key,
                witness_name: cosignature.name.clone(),
                witness_key: public_key,
                cosigned_at: cosignature.timestamp,
                line: cosignature.line(),
                received_at: chrono::Utc::now()
                    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            })
            .await
            .map_err(storage)?;
        tracing::info!(
            tree_size = cp.tree_size,
            witness = %cosignature.name,
            "kept a witness's cosignature"
        );
        Ok(Response::new(self.tree_message(&cp).await?))
    }
}
