//! Who sent a command, which request it is, and what it was caused by.

use fundtrail_domain::Actor;
use fundtrail_identity::Principal;
use fundtrail_proto::v1;
use fundtrail_store::{Idempotency, RecordedEvent};
use fundtrail_telemetry::W3c;
use prost::Message;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::error::ServiceError;

/// The metadata header carrying a caller's correlation id across its requests.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// Separates the caller from its request id in an idempotency key. Request ids are printable
/// ASCII without spaces, so the key splits back at its last space whatever the subject holds.
pub const KEY_SEPARATOR: char = ' ';

/// A state-changing request: every one carries a request id and may pin a stream version.
pub trait CommandRequest: Message {
    fn request_id(&self) -> &str;
    fn expected_version(&self) -> Option<u64>;
}

/// Everything about a command that is not its business content.
#[derive(Debug, Clone)]
pub struct CommandContext {
    /// The principal's canonical subject: what four-eyes rules compare.
    pub actor: Actor,
    /// Who sent the command, as their credential says.
    pub principal: Principal,
    /// The request id as the caller sent it.
    pub request_id: String,
    /// What the store remembers the request under: the caller's canonical subject, the
    /// separator and the request id, so two callers' request ids never collide.
    pub idempotency_key: String,
    /// SHA-256 over the method, the principal's canonical subject and the request bytes: the
    /// same request id with a different fingerprint is a different request. Nothing that
    /// differs between a retry and the original (the token, the trace) goes into it.
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

/// The principal the server authenticated for `request`.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<&Principal, ServiceError> {
    fundtrail_identity::principal_of(request).ok_or(ServiceError::Unauthenticated)
}

/// Refuses a donor integration reaching for a donor other than its own; staff the access
/// table admitted may act for any donor.
pub fn acts_for_donor(principal: &Principal, donor_id: &str) -> Result<(), ServiceError> {
    match &principal.donor_id {
        Some(own) if own.trim() != donor_id.trim() => Err(ServiceError::DonorMismatch {
            requested: donor_id.trim().to_owned(),
            own: own.clone(),
        }),
        _ => Ok(()),
    }
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

// Any key fits the store: a subject of 200 characters of at most 4 bytes each, the separator
// and the longest request id.
const _: () =
    assert!(200 * 4 + 1 + fundtrail_store::MAX_REQUEST_ID <= fundtrail_store::MAX_IDEMPOTENCY_KEY);

/// The key `principal`'s request `request_id` is remembered under.
fn idempotency_key(principal: &Principal, request_id: &str) -> String {
    format!(
        "{}{KEY_SEPARATOR}{request_id}",
        principal.canonical_subject()
    )
}

/// The request id an idempotency key was made from.
pub fn request_id_of(idempotency_key: &str) -> &str {
    idempotency_key
        .rsplit_once(KEY_SEPARATOR)
        .map_or(idempotency_key, |(_, request_id)| request_id)
}

impl CommandContext {
    /// The context of a command received over gRPC as `method`.
    pub fn from_request<T: CommandRequest>(
        method: &str,
        request: &tonic::Request<T>,
    ) -> Result<Self, ServiceError> {
        let principal = principal(request)?.clone();
        let metadata = request.metadata();
        let body = request.get_ref();
        let request_id = check_request_id(body.request_id())?;
        let subject = principal.canonical_subject();
        let actor = Actor::parse(&subject)?;
        let mut hasher = Sha256::new();
        hasher.update(method.as_bytes());
        hasher.update([0]);
        hasher.update(subject.as_bytes());
        hasher.update([0]);
        hasher.update(body.encode_to_vec());
        Ok(Self {
            actor,
            idempotency_key: idempotency_key(&principal, &request_id),
            principal,
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
    /// derived from the reaction and the event, so reacting twice to one event is a replay;
    /// it acts as [`Principal::process`], whose request ids no caller can reach.
    pub fn for_reaction(reaction: &str, event: &RecordedEvent) -> Result<Self, ServiceError> {
        let cause = v1::EventMetadata::decode(event.metadata.as_slice()).unwrap_or_default();
        let principal = Principal::process(reaction);
        let request_id = format!("{reaction}:{}", event.event_id);
        Ok(Self {
            actor: Actor::parse(&principal.canonical_subject())?,
            fingerprint: Idempotency::fingerprint_of(request_id.as_bytes()),
            idempotency_key: idempotency_key(&principal, &request_id),
            principal,
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
            actor_display_name: self.principal.display_name.clone(),
            actor_organisation: self.principal.organisation.clone(),
            actor_roles: self
                .principal
                .roles
                .iter()
                .map(|role| role.as_str().to_owned())
                .collect(),
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
    use std::collections::BTreeSet;

    use fundtrail_identity::Role;

    use super::*;

    fn person(subject: &str) -> Principal {
        Principal {
            subject: subject.to_owned(),
            display_name: format!("{subject} (name)"),
            organisation: "ITF".to_owned(),
            roles: BTreeSet::from([Role::FinanceOfficer, Role::Auditor]),
            donor_id: None,
        }
    }

    fn request(
        request_id: &str,
        principal: Option<Principal>,
    ) -> tonic::Request<v1::WithdrawPledgeRequest> {
        let mut request = tonic::Request::new(v1::WithdrawPledgeRequest {
            request_id: request_id.into(),
            expected_version: None,
            pledge_id: "p".into(),
            reason: "r".into(),
        });
        if let Some(principal) = principal {
            request.extensions_mut().insert(principal);
        }
        request
    }

    fn by(request_id: &str, subject: &str) -> tonic::Request<v1::WithdrawPledgeRequest> {
        request(request_id, Some(person(subject)))
    }

    #[test]
    fn the_actor_is_the_authenticated_principal_in_canonical_form() {
        let ctx = CommandContext::from_request("m", &by("r-1", " QA@itf.si ")).unwrap();
        assert_eq!(ctx.actor.as_str(), "qa@itf.si");
        assert_eq!(ctx.principal.display_name, " QA@itf.si  (name)");
        assert_eq!(ctx.idempotency_key, "qa@itf.si r-1");
        assert_eq!(request_id_of(&ctx.idempotency_key), "r-1");
    }

    #[test]
    fn a_request_without_a_principal_is_unauthenticated() {
        let refused = CommandContext::from_request("m", &request("r-1", None)).unwrap_err();
        assert!(
            matches!(refused, ServiceError::Unauthenticated),
            "{refused:?}"
        );
        let status = tonic::Status::from(refused);
        assert_eq!(status.code(), tonic::Code::Unauthenticated);
    }

    #[test]
    fn a_header_naming_someone_else_changes_nothing() {
        let mut forged = by("r-1", "clerk@itf.si");
        forged
            .metadata_mut()
            .insert("x-fundtrail-actor", "director@itf.si".parse().unwrap());
        let ctx = CommandContext::from_request("m", &forged).unwrap();
        assert_eq!(ctx.actor.as_str(), "clerk@itf.si");
    }

    #[test]
    fn fingerprints_tell_requests_apart() {
        let a = CommandContext::from_request("m", &by("r-1", "a")).unwrap();
        let same = CommandContext::from_request("m", &by("r-1", "A")).unwrap();
        let other_actor = CommandContext::from_request("m", &by("r-1", "b")).unwrap();
        let other_method = CommandContext::from_request("n", &by("r-1", "a")).unwrap();
        assert_eq!(a.fingerprint, same.fingerprint);
        assert_ne!(a.fingerprint, other_actor.fingerprint);
        assert_ne!(a.fingerprint, other_method.fingerprint);
    }

    #[test]
    fn a_retry_with_a_new_token_or_trace_is_the_same_request() {
        let original = CommandContext::from_request("m", &by("r-1", "a")).unwrap();
        let mut retry = by("r-1", "a");
        retry
            .metadata_mut()
            .insert("authorization", "Bearer other".parse().unwrap());
        retry.metadata_mut().insert(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
                .parse()
                .unwrap(),
        );
        let retry = CommandContext::from_request("m", &retry).unwrap();
        assert_eq!(original.fingerprint, retry.fingerprint);
        assert_eq!(original.idempotency_key, retry.idempotency_key);
    }

    #[test]
    fn request_ids_are_scoped_by_principal() {
        let a = CommandContext::from_request("m", &by("r-1", "alice")).unwrap();
        let b = CommandContext::from_request("m", &by("r-1", "bob")).unwrap();
        assert_ne!(a.idempotency_key, b.idempotency_key);
        // A subject may hold the separator; the request id never does, so keys stay apart.
        let spaced = CommandContext::from_request("m", &by("x-1", "alice r-1")).unwrap();
        let plain = CommandContext::from_request("m", &by("r-1 x-1", "alice"));
        assert!(plain.is_err(), "a request id with a space is refused");
        assert_eq!(request_id_of(&spaced.idempotency_key), "x-1");
        // The longest subject and request id still make a key the store accepts.
        let ctx =
            CommandContext::from_request("m", &by(&"x".repeat(128), &"a".repeat(200))).unwrap();
        assert!(ctx.idempotency_key.len() <= fundtrail_store::MAX_IDEMPOTENCY_KEY);
    }

    #[test]
    fn reactions_act_as_process_managers_in_their_own_namespace() {
        let event = RecordedEvent {
            position: 1,
            event_id: Uuid::now_v7(),
            stream: "pledge-1".into(),
            version: 0,
            event_type: "fundtrail.v1.PledgeRecorded".into(),
            payload: vec![],
            metadata: vec![],
            recorded_at: 0,
            prev_hash: [0; 32],
            hash: [0; 32],
        };
        let ctx = CommandContext::for_reaction("matching", &event).unwrap();
        assert_eq!(ctx.actor.as_str(), "process:matching");
        assert!(ctx.principal.is_process());
        assert!(ctx.idempotency_key.starts_with("process:matching "));
        assert!(ctx.principal.roles.is_empty());
    }

    #[test]
    fn a_donor_integration_acts_for_its_own_donor_only() {
        let mut donor = person("integration@minbuza.nl");
        donor.roles = BTreeSet::from([Role::DonorIntegration]);
        donor.donor_id = Some("XM-DAC-7".to_owned());
        assert!(acts_for_donor(&donor, "XM-DAC-7").is_ok());
        assert!(matches!(
            acts_for_donor(&donor, "US-GOV-1"),
            Err(ServiceError::DonorMismatch { .. })
        ));
        assert!(acts_for_donor(&person("finance@itf.si"), "US-GOV-1").is_ok());
    }

    #[test]
    fn request_ids_are_required_and_bounded() {
        for bad in ["", "  ", "has space", &"x".repeat(129)] {
            assert!(
                CommandContext::from_request("m", &by(bad, "a")).is_err(),
                "{bad:?}"
            );
        }
        assert!(CommandContext::from_request("m", &by(&"x".repeat(128), "a")).is_ok());
    }
}
