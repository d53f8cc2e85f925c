//! The Attention gRPC API: the "needs attention" queue every consumer of the log writes to,
//! listed for staff and re-driven by an administrator (docs/architecture.md §1).
//!
//! It is served next to the Funding and Audit APIs by the server running the projector role:
//! the one server every deployment has that reads the whole history. The queue is a table of
//! the store's database, so this server answers for the consumers of every server on the
//! store, and a re-drive reaches the consumer that parked the item through the same table:
//! the consumer looks for requests between events, wherever it runs. Who may list and who may
//! re-drive is the access table's (crates/identity); this service sees only admitted calls.

use std::sync::Arc;

use chrono::DateTime;
use fundtrail_proto::v1;
use fundtrail_proto::v1::attention_server::{Attention, AttentionServer};
use fundtrail_service::ServiceError;
use fundtrail_store::{AttentionItem, AttentionKind, AttentionQuery, AttentionState, EventStore};
use tonic::{Request, Response, Status};

/// The most items one page lists.
pub const MAX_PAGE: usize = 1000;

/// The Attention service over a store.
#[derive(Debug, Clone)]
pub struct AttentionService {
    store: Arc<dyn EventStore>,
}

impl AttentionService {
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self { store }
    }

    pub fn into_server(self) -> AttentionServer<Self> {
        AttentionServer::new(self)
    }

    async fn list(
        &self,
        r: &v1::ListAttentionItemsRequest,
    ) -> Result<v1::ListAttentionItemsResponse, ServiceError> {
        let query = query(r)?;
        let items = self.store.attention().attention_items(&query).await?;
        Ok(v1::ListAttentionItemsResponse {
            items: items.iter().map(wire).collect(),
        })
    }

    async fn get(&self, id: u64) -> Result<v1::AttentionItem, ServiceError> {
        let id = checked_id(id)?;
        let item = self.store.attention().attention_item(id).await?;
        item.as_ref()
            .map(wire)
            .ok_or(ServiceError::AttentionItemNotFound(id))
    }

    async fn redrive(&self, id: u64) -> Result<v1::AttentionItem, ServiceError> {
        let id = checked_id(id)?;
        let item = self.store.attention().request_redrive(id).await?;
        let item = item.ok_or(ServiceError::AttentionItemNotFound(id))?;
        tracing::info!(
            item = item.id,
            consumer = %item.consumer,
            position = item.position,
            "re-drive requested"
        );
        Ok(wire(&item))
    }
}

fn checked_id(id: u64) -> Result<u64, ServiceError> {
    if id == 0 {
        return Err(ServiceError::invalid(
            "id",
            "name the item by its id (ListAttentionItems lists them)",
        ));
    }
    Ok(id)
}

/// What a list request asks for, checked.
pub fn query(r: &v1::ListAttentionItemsRequest) -> Result<AttentionQuery, ServiceError> {
    let kind = match v1::AttentionKind::try_from(r.kind) {
        Ok(v1::AttentionKind::Unspecified) => None,
        Ok(v1::AttentionKind::Undecodable) => Some(AttentionKind::Undecodable),
        Ok(v1::AttentionKind::Failed) => Some(AttentionKind::Failed),
        Ok(v1::AttentionKind::Refused) => Some(AttentionKind::Refused),
        Err(_) => {
            return Err(ServiceError::invalid(
                "kind",
                format!("{} is not an attention kind", r.kind),
            ));
        }
    };
    let states = match v1::AttentionState::try_from(r.state) {
        Ok(v1::AttentionState::Unspecified) if r.include_resolved => AttentionState::ALL.to_vec(),
        Ok(v1::AttentionState::Unspecified) => AttentionState::PENDING.to_vec(),
        Ok(v1::AttentionState::Open) => vec![AttentionState::Open],
        Ok(v1::AttentionState::RedriveRequested) => vec![AttentionState::RedriveRequested],
        Ok(v1::AttentionState::Resolved) => vec![AttentionState::Resolved],
        Err(_) => {
            return Err(ServiceError::invalid(
                "state",
                format!("{} is not an attention state", r.state),
            ));
        }
    };
    let limit = usize::try_from(r.limit).unwrap_or(usize::MAX);
    if limit > MAX_PAGE {
        return Err(ServiceError::invalid(
            "limit",
            format!("at most {MAX_PAGE} items a page; page on with after_id"),
        ));
    }
    let consumer = r.consumer.trim();
    Ok(AttentionQuery {
        consumer: (!consumer.is_empty()).then(|| consumer.to_owned()),
        kind,
        states,
        after_id: r.after_id,
        limit,
    })
}

fn time(micros: i64) -> String {
    DateTime::from_timestamp_micros(micros).map_or_else(String::new, |t| {
        t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
    })
}

/// An item as the API shows it.
pub fn wire(item: &AttentionItem) -> v1::AttentionItem {
    v1::AttentionItem {
        id: item.id,
        consumer: item.consumer.clone(),
        position: item.position,
        event_id: item.event_id.to_string(),
        stream: item.stream.clone(),
        event_type: item.event_type.clone(),
        kind: match item.kind {
            AttentionKind::Undecodable => v1::AttentionKind::Undecodable,
            AttentionKind::Failed => v1::AttentionKind::Failed,
            AttentionKind::Refused => v1::AttentionKind::Refused,
        }
        .into(),
        reason: item.reason.clone(),
        cause: item.cause.clone(),
        attempts: item.attempts,
        first_seen: time(item.first_seen),
        last_seen: time(item.last_seen),
        state: match item.state {
            AttentionState::Open => v1::AttentionState::Open,
            AttentionState::RedriveRequested => v1::AttentionState::RedriveRequested,
            AttentionState::Resolved => v1::AttentionState::Resolved,
        }
        .into(),
    }
}

#[tonic::async_trait]
impl Attention for AttentionService {
    async fn list_attention_items(
        &self,
        request: Request<v1::ListAttentionItemsRequest>,
    ) -> Result<Response<v1::ListAttentionItemsResponse>, Status> {
        fundtrail_service::respond(self.list(request.get_ref()).await)
    }

    async fn get_attention_item(
        &self,
        request: Request<v1::GetAttentionItemRequest>,
    ) -> Result<Response<v1::AttentionItem>, Status> {
        fundtrail_service::respond(self.get(request.get_ref().id).await)
    }

    async fn redrive_attention_item(
        &self,
        request: Request<v1::RedriveAttentionItemRequest>,
    ) -> Result<Response<v1::AttentionItem>, Status> {
        fundtrail_service::respond(self.redrive(request.get_ref().id).await)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn by_default_the_queue_lists_what_still_needs_someone() {
        let q = query(&v1::ListAttentionItemsRequest::default()).unwrap();
        assert_eq!(q.states, AttentionState::PENDING);
        assert_eq!((q.consumer, q.kind, q.limit), (None, None, 0));
        let all = query(&v1::ListAttentionItemsRequest {
            include_resolved: true,
            consumer: " pledges.matching ".into(),
            kind: v1::AttentionKind::Refused.into(),
            ..Default::default()
        })
        .unwrap();
        assert_eq!(all.states, AttentionState::ALL);
        assert_eq!(all.consumer.as_deref(), Some("pledges.matching"));
        assert_eq!(all.kind, Some(AttentionKind::Refused));
    }

    #[test]
    fn bad_filters_name_their_field() {
        for (request, field) in [
            (
                v1::ListAttentionItemsRequest {
                    kind: 9,
                    ..Default::default()
                },
                "kind",
            ),
            (
                v1::ListAttentionItemsRequest {
                    state: 9,
                    ..Default::default()
                },
                "state",
            ),
            (
                v1::ListAttentionItemsRequest {
                    limit: 1001,
                    ..Default::default()
                },
                "limit",
            ),
        ] {
            let status = Status::from(query(&request).unwrap_err());
            assert_eq!(status.code(), tonic::Code::InvalidArgument, "{field}");
            assert!(status.message().starts_with(field), "{}", status.message());
        }
        assert!(checked_id(0).is_err());
    }
}
