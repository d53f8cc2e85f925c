//! Who sent a command, which request it is, and what it was caused by.

use fundtrail_domain::Actor;
use fundtrail_proto::v1;
use fundtrail_store::{Idempotency, RecordedEvent};
use fundtrail_telemetry::W3c;
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceError;

/// The metadata header naming the principal under development authentication.
pub const ACTOR_HEADER: &str = "x-fundtrail-actor";
/// The metadata header carrying a caller's correlation id across its requests.
pub const CORRELATION_HEADER: &str = "x-correlation-id";
/// The principal of requests that name none.
pub const DEVELOPMENT_PRINCIPAL: &str = "dev@fundtrail.local";

/// A state-changing request: every one carries a request id and may pin a stream version.
pub trait CommandRequest: Message {
    fn request_id(&self) -> &str;
    fn expected_version(&self) -> Option<u64>;
}

/// Everything about a command that is not its business content.
#[derive(Debug, Clone)]
pub struct CommandContext {
    pub actor: Actor,
    pub request_id: String,
    /// SHA-256 over the method, the principal and the request bytes: the same request id with
    /// a different fingerprint is a different request.
    pub fingerprint: [u8; 32],
    pub expected_version: Option<u64>,
    pub correlation_id: String,
    pub causation_id: String,
    pub traceparent: String,
    pub tracestate: String,
}

fn header(metadata: &tonic::metadata::MetadataMap, name: &str) -> Option<String> {
    metadata
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The request's principal. Development authentication trusts the actor header; without one
/// the request acts as the development principal.
pub fn principal(metadata: &tonic::metadata::MetadataMap) -> Result<Actor, ServiceError> {
    let name = header(metadata, ACTOR_HEADER).unwrap_or_else(|| DEVELOPMENT_PRINCIPAL.to_owned());
    Actor::parse(&name).map_err(|_| {
        ServiceError::invalid(
            ACTOR_HEADER,
            "the principal must be a non-empty printable name of at most 200 characters",
        )
    })
}

fn check_request_id(request_id: &str) -> Result<String, ServiceError> {
    let id = request_id.trim();
    if id.is_empty() {
        return Err(ServiceError::invalid(
            "request_id",
            "every command needs a request_id (a UUID is a good choice); \
             resending the same request with it is safe",
        ));
    }
    fundtrail_store::validate_request_id(id)
        .map_err(|invalid| ServiceError::invalid("request_id", invalid.to_string()))?;
    Ok(id.to_owned())
}

impl CommandContext {
    /// The context of a command received over gRPC as `method`.
    pub fn from_request<T: CommandRequest>(
        method: &str,
        request: &tonic::Request<T>,
    ) -> Result<Self, ServiceError> {
        let metadata = request.metadata();
        let body = request.get_ref();
        let request_id = check_request_id(body.request_id())?;
        let actor = principal(metadata)?;
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(actor.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(body.encode_to_vec());
        Ok(Self {
            actor,
            fingerprint: hasher.finalize().into(),
            expected_version: body.expected_version(),
            correlation_id: header(metadata, CORRELATION_HEADER)
                .unwrap_or_else(|| Uuid::now_v7().to_string()),
            causation_id: request_id.clone(),
            request_id,
            traceparent: header(metadata, "traceparent").unwrap_or_default(),
            tracestate: header(metadata, "tracestate").unwrap_or_default(),
        })
    }

    /// The context of a process manager's reaction to a stored event. Its request id is
    /// derived from the reaction and the event, so reacting twice to one event is a replay.
    pub fn for_reaction(reaction: &str, event: &RecordedEvent) -> Result<Self, ServiceError> {
        let cause = v1::EventMetadata::decode(event.metadata.as_slice()).unwrap_or_default();
        let request_id = format!("{reaction}:{}", event.event_id);
        Ok(Self {
            actor: Actor::parse(&format!("process:{reaction}"))?,
            fingerprint: Idempotency::fingerprint_of(request_id.as_bytes()),
            request_id,
            expected_version: None,
            correlation_id: if cause.correlation_id.is_empty() {
                event.event_id.to_string()
            } else {
                cause.correlation_id
            },
            causation_id: event.event_id.to_string(),
            traceparent: cause.traceparent,
            tracestate: cause.tracestate,
        })
    }

    /// The metadata of the events appended in `span`. They carry `span`'s trace context, so
    /// a command that came without one still starts a trace its consumers join; without
    /// OpenTelemetry, the context the request came with passes through.
    pub(crate) fn metadata(&self, source: &str, span: &tracing::Span) -> Vec<u8> {
        let trace = W3c::of_span(span).unwrap_or_else(|| W3c {
            traceparent: self.traceparent.clone(),
            tracestate: self.tracestate.clone(),
        });
        v1::EventMetadata {
            actor: self.actor.to_string(),
            correlation_id: self.correlation_id.clone(),
            causation_id: self.causation_id.clone(),
            idempotency_key: self.request_id.clone(),
            traceparent: trace.traceparent,
            source: source.to_owned(),
            tracestate: trace.tracestate,
        }
        .encode_to_vec()
    }
}

macro_rules! command_requests {
    ($($request:ident),* $(,)?) => {
        $(
            impl CommandRequest for v1::$request {
                fn request_id(&self) -> &str {
                    &self.request_id
                }

                fn expected_version(&self) -> Option<u64> {
                    self.expected_version
                }
            }
        )*
    };
}

command_requests!(
    RegisterDonorRequest,
    ChangeDonorMatchingEligibilityRequest,
    RecordPledgeRequest,
    AmendPledgeRequest,
    WithdrawPledgeRequest,
    SignContributionAgreementRequest,
    ReceiveContributionRequest,
    AllocateContributionRequest,
    OpenMatchingPoolRequest,
    ReserveMatchRequest,
    VoidMatchRequest,
    RegisterProjectRequest,
    PlanMilestoneRequest,
    ReportProgressRequest,
    VerifyMilestoneRequest,
    RejectMilestoneRequest,
    CloseProjectRequest,
    RequestDisbursementRequest,
    ApproveDisbursementRequest,
    RejectDisbursementRequest,
    PayDisbursementRequest,
    ReverseDisbursementRequest,
    RefundDisbursementRequest,
    ReturnAllocationRequest,
);

#[cfg(test)]
mod tests {
    use super::*;

    fn request(request_id: &str, actor: Option<&str>) -> tonic::Request<v1::WithdrawPledgeRequest> {
        let mut request = tonic::Request::new(v1::WithdrawPledgeRequest {
            request_id: request_id.into(),
            expected_version: None,
            pledge_id: "p".into(),
            reason: "r".into(),
        });
        if let Some(actor) = actor {
            request
                .metadata_mut()
                .insert(ACTOR_HEADER, actor.parse().unwrap());
        }
        request
    }

    #[test]
    fn the_principal_comes_from_the_header_or_is_the_development_one() {
        let ctx = CommandContext::from_request("m", &request("r-1", Some("qa@itf.si"))).unwrap();
        assert_eq!(ctx.actor.as_str(), "qa@itf.si");
        let ctx = CommandContext::from_request("m", &request("r-1", None)).unwrap();
        assert_eq!(ctx.actor.as_str(), DEVELOPMENT_PRINCIPAL);
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = CommandContext::from_request("m", &request("r-1", Some("a"))).unwrap();
        let same = CommandContext::from_request("m", &request("r-1", Some("a"))).unwrap();
        let other_actor = CommandContext::from_request("m", &request("r-1", Some("b"))).unwrap();
        let other_method = CommandContext::from_request("n", &request("r-1", Some("a"))).unwrap();
        assert_eq!(a.fingerprint, same.fingerprint);
        assert_ne!(a.fingerprint, other_actor.fingerprint);
        assert_ne!(a.fingerprint, other_method.fingerprint);
    }

    #[test]
    fn request_ids_are_required_and_bounded() {
        for bad in ["", "  ", "has space", &"x".repeat(129)] {
            assert!(
                CommandContext::from_request("m", &request(bad, None)).is_err(),
                "{bad:?}"
            );
        }
    }
}
