//! Who sent a command, which request it is, and what it was caused by.
//!
//! The caller's correlation id and trace context are recorded with the command's events in the
//! hash-chained history, so they are checked here (W3C Trace Context level 1 for
//! `traceparent` and `tracestate`) and a malformed one is refused rather than stored.

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

/// The W3C Trace Context headers (level 1): where the caller's trace continues.
pub const TRACEPARENT_HEADER: &str = "traceparent";
pub const TRACESTATE_HEADER: &str = "tracestate";

/// The longest correlation id a caller may send, in characters (all ASCII).
pub const MAX_CORRELATION_ID: usize = 128;

/// The longest `traceparent` taken: version 00 has 55 characters; a later version may add
/// fields after them, and this leaves room without letting a header fill the record.
const MAX_TRACEPARENT: usize = 256;

/// What W3C Trace Context lets a vendor keep of `tracestate`: 512 characters, 32 members.
const MAX_TRACESTATE: usize = 512;
const MAX_TRACESTATE_MEMBERS: usize = 32;

fn bad_header(header: &'static str, message: impl Into<String>) -> ServiceError {
    ServiceError::Header {
        header,
        message: message.into(),
    }
}

/// The values of header `name`, trimmed; empty ones count as absent. Whatever the header
/// holds goes into the hash-chained record, so bytes that are not printable ASCII are refused
/// rather than dropped in silence.
fn header_values(
    metadata: &tonic::metadata::MetadataMap,
    name: &'static str,
) -> Result<Vec<String>, ServiceError> {
    metadata
        .get_all(name)
        .iter()
        .map(|value| {
            value
                .to_str()
                .map(|text| text.trim().to_owned())
                .map_err(|_| bad_header(name, "must be printable ASCII"))
        })
        .filter(|value| value.as_ref().map_or(true, |text| !text.is_empty()))
        .collect()
}

/// The one value of header `name`, if it was sent.
fn single_header(
    metadata: &tonic::metadata::MetadataMap,
    name: &'static str,
) -> Result<Option<String>, ServiceError> {
    let mut values = header_values(metadata, name)?;
    if values.len() > 1 {
        return Err(bad_header(name, "was sent more than once; send it once"));
    }
    Ok(values.pop())
}

/// A byte W3C Trace Context writes as `HEXDIGLC`.
fn lowercase_hex(bytes: &[u8]) -> bool {
    bytes.iter().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Checks a `traceparent` by W3C Trace Context level 1: `version-trace_id-parent_id-flags`,
/// all lowercase hex; version `ff` is invalid; neither id is all zeros; version `00` is exactly
/// 55 characters, and a later version is read by the same first 55, which are followed by the
/// end or by a `-` and that version's further fields.
pub fn check_traceparent(value: &str) -> Result<(), String> {
    const SHAPE: &str = "must be version-trace_id-parent_id-flags in lowercase hex, \
                         e.g. 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    let b = value.as_bytes();
    if b.len() > MAX_TRACEPARENT {
        return Err(format!(
            "is {} characters long; at most {MAX_TRACEPARENT} are taken",
            b.len()
        ));
    }
    if b.len() < 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
        return Err(SHAPE.to_owned());
    }
    let (version, trace_id, parent_id, flags) = (&b[0..2], &b[3..35], &b[36..52], &b[53..55]);
    if !lowercase_hex(version) {
        return Err(format!("version: {SHAPE}"));
    }
    if version == b"ff" {
        return Err("version ff is not a valid version".to_owned());
    }
    if !lowercase_hex(trace_id) {
        return Err(format!("trace_id is 32 lowercase hex digits; {SHAPE}"));
    }
    if trace_id.iter().all(|&d| d == b'0') {
        return Err("trace_id must not be all zeros".to_owned());
    }
    if !lowercase_hex(parent_id) {
        return Err(format!("parent_id is 16 lowercase hex digits; {SHAPE}"));
    }
    if parent_id.iter().all(|&d| d == b'0') {
        return Err("parent_id must not be all zeros".to_owned());
    }
    if !lowercase_hex(flags) {
        return Err(format!("trace_flags are 2 lowercase hex digits; {SHAPE}"));
    }
    let rest = &b[55..];
    if version == b"00" {
        if !rest.is_empty() {
            return Err("version 00 has exactly 55 characters".to_owned());
        }
    } else if !rest.is_empty() && (rest[0] != b'-' || !rest.iter().all(u8::is_ascii_graphic)) {
        return Err(
            "after the flags, a later version's fields follow a '-', without spaces".to_owned(),
        );
    }
    Ok(())
}

/// `simple-key` or `tenant-id@system-id` of W3C Trace Context level 1 (§3.3.1.3.1).
fn tracestate_key(key: &str) -> bool {
    let tail = |s: &[u8], max: usize| {
        s.len() <= max
            && s.iter()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'*' | b'/'))
    };
    let b = key.as_bytes();
    match key.split_once('@') {
        None => !b.is_empty() && b[0].is_ascii_lowercase() && tail(&b[1..], 255),
        Some((tenant, system)) => {
            let (t, s) = (tenant.as_bytes(), system.as_bytes());
            !t.is_empty()
                && (t[0].is_ascii_lowercase() || t[0].is_ascii_digit())
                && tail(&t[1..], 240)
                && !s.is_empty()
                && s[0].is_ascii_lowercase()
                && tail(&s[1..], 13)
        }
    }
}

/// A `tracestate` value: 1 to 256 printable characters without `,` or `=`, not ending in a
/// space.
fn tracestate_value(value: &str) -> bool {
    let b = value.as_bytes();
    (1..=256).contains(&b.len())
        && b.iter()
            .all(|c| matches!(c, b' '..=b'~') && *c != b',' && *c != b'=')
        && b.last() != Some(&b' ')
}

/// Checks a `tracestate` by W3C Trace Context level 1: at most 512 characters and 32
/// `key=value` members, each key once.
pub fn check_tracestate(value: &str) -> Result<(), String> {
    if value.len() > MAX_TRACESTATE {
        return Err(format!(
            "is {} characters long; at most {MAX_TRACESTATE} are taken",
            value.len()
        ));
    }
    let mut keys = Vec::new();
    for member in value.split(',').map(|m| m.trim_matches([' ', '\t'])) {
        if member.is_empty() {
            continue;
        }
        let Some((key, member_value)) = member.split_once('=') else {
            return Err("each member is key=value".to_owned());
        };
        if !tracestate_key(key) {
            return Err(
                "a key is lowercase letters, digits and _-*/ (tenant@system for a \
                 multi-tenant key), starting with a letter"
                    .to_owned(),
            );
        }
        if !tracestate_value(member_value) {
            return Err(
                "a value is 1 to 256 printable characters without ',' or '=', not ending in \
                 a space"
                    .to_owned(),
            );
        }
        if keys.contains(&key) {
            return Err("a key appears more than once".to_owned());
        }
        keys.push(key);
    }
    if keys.len() > MAX_TRACESTATE_MEMBERS {
        return Err(format!(
            "has {} members; at most {MAX_TRACESTATE_MEMBERS}",
            keys.len()
        ));
    }
    Ok(())
}

/// Checks a correlation id: 1 to 128 printable ASCII characters without spaces.
pub fn check_correlation_id(value: &str) -> Result<(), String> {
    if value.len() > MAX_CORRELATION_ID {
        return Err(format!(
            "is {} characters long; a correlation id has at most {MAX_CORRELATION_ID}",
            value.len()
        ));
    }
    if !value.bytes().all(|c| c.is_ascii_graphic()) {
        return Err("is printable ASCII without spaces".to_owned());
    }
    Ok(())
}

/// The correlation id and the trace context a caller sent, checked: they are recorded in the
/// hash-chained history as sent, so a malformed one is refused, never stored.
fn caller_headers(
    metadata: &tonic::metadata::MetadataMap,
) -> Result<(Option<String>, String, String), ServiceError> {
    let correlation_id = single_header(metadata, CORRELATION_HEADER)?;
    if let Some(id) = &correlation_id {
        check_correlation_id(id).map_err(|message| bad_header(CORRELATION_HEADER, message))?;
    }
    let traceparent = single_header(metadata, TRACEPARENT_HEADER)?.unwrap_or_default();
    if !traceparent.is_empty() {
        check_traceparent(&traceparent)
            .map_err(|message| bad_header(TRACEPARENT_HEADER, message))?;
    }
    // Several tracestate headers are one list (W3C Trace Context §3.3.1.1).
    let tracestate = header_values(metadata, TRACESTATE_HEADER)?.join(",");
    check_tracestate(&tracestate).map_err(|message| bad_header(TRACESTATE_HEADER, message))?;
    // A tracestate belongs to the traceparent it came with; without one it means nothing.
    let tracestate = if traceparent.is_empty() {
        String::new()
    } else {
        tracestate
    };
    Ok((correlation_id, traceparent, tracestate))
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
        let (correlation_id, traceparent, tracestate) = caller_headers(metadata)?;
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
            correlation_id: correlation_id.unwrap_or_else(|| Uuid::now_v7().to_string()),
            causation_id: request_id.clone(),
            request_id,
            traceparent,
            tracestate,
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
    ReverseReceiptRequest,
    RerateReceiptRequest,
    RefundToDonorRequest,
    OpenMatchingPoolRequest,
    ReserveMatchRequest,
    VoidMatchRequest,
    MatchContributionRequest,
    RegisterProjectRequest,
    PlanMilestoneRequest,
    ReportProgressRequest,
    VerifyMilestoneRequest,
    RejectMilestoneRequest,
    CloseProjectRequest,
    ChangeImplementingPartnerRequest,
    RequestDisbursementRequest,
    ApproveDisbursementRequest,
    RejectDisbursementRequest,
    PayDisbursementRequest,
    ReverseDisbursementRequest,
    RefundDisbursementRequest,
    ReturnAllocationRequest,
    CloseProjectAccountRequest,
    ClosePeriodRequest,
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

    fn with_header(name: &'static str, value: &[u8]) -> tonic::Request<v1::WithdrawPledgeRequest> {
        let mut request = by("r-1", "a");
        request.metadata_mut().append(
            name,
            tonic::metadata::MetadataValue::try_from(value).unwrap(),
        );
        request
    }

    fn refused_header(request: &tonic::Request<v1::WithdrawPledgeRequest>) -> &'static str {
        match CommandContext::from_request("m", request) {
            Err(ServiceError::Header { header, .. }) => header,
            other => panic!("not refused for a header: {other:?}"),
        }
    }

    const TRACEPARENT: &str = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

    #[test]
    fn traceparents_follow_w3c_trace_context_level_1() {
        for good in [
            TRACEPARENT,
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-ff",
            // A later version is read by its first 55 characters, and may carry more.
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "cc-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-what-the-future-will-be",
        ] {
            assert_eq!(check_traceparent(good), Ok(()), "{good}");
        }
        for bad in [
            "",
            "00",
            "garbage",
            // Upper-case hex, all-zero ids, version ff, wrong separators and lengths.
            "00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-01",
            "00-00000000000000000000000000000000-b7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
            "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "0g-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00_0af7651916cd43dd8448eb211c80319c_b7ad6b7169203331_01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-0",
            "00-0af7651916cd43dd8448eb211c80319-cb7ad6b7169203331-01",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-zz",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01x",
            "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01- spaced",
            &format!(
                "01-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01-{}",
                "x".repeat(300)
            ),
        ] {
            assert!(check_traceparent(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tracestates_follow_w3c_trace_context_level_1() {
        for good in [
            "",
            "congo=t61rcWkgMzE",
            "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE",
            " rojo=00f067aa0ba902b7 ,\tcongo=t61rcWkgMzE, ,",
            "tenant1@vendor=opaque value",
            "a*/_-1=x",
        ] {
            assert_eq!(check_tracestate(good), Ok(()), "{good}");
        }
        let many = (0..33)
            .map(|i| format!("k{i}=v"))
            .collect::<Vec<_>>()
            .join(",");
        for bad in [
            "novalue",
            "Upper=x",
            "1key=x",
            "key=",
            "key=a=b",
            "rojo=1,rojo=2",
            "t@Vendor=x",
            "t@vendorvendorvendor=x",
            &many,
            &format!("k={}", "v".repeat(600)),
        ] {
            assert!(check_tracestate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn correlation_ids_are_bounded_printable_tokens() {
        assert_eq!(check_correlation_id("order-7f3a:2025/01"), Ok(()));
        assert_eq!(check_correlation_id(&"c".repeat(128)), Ok(()));
        assert!(check_correlation_id(&"c".repeat(129)).is_err());
        assert!(check_correlation_id("two words").is_err());
    }

    #[test]
    fn headers_recorded_with_a_command_are_checked() {
        let ctx =
            CommandContext::from_request("m", &with_header("traceparent", TRACEPARENT.as_bytes()))
                .unwrap();
        assert_eq!(ctx.traceparent, TRACEPARENT);
        let ctx = CommandContext::from_request("m", &with_header(CORRELATION_HEADER, b"order-17"))
            .unwrap();
        assert_eq!(ctx.correlation_id, "order-17");

        assert_eq!(
            refused_header(&with_header("traceparent", b"00-nonsense")),
            "traceparent"
        );
        assert_eq!(
            refused_header(&with_header(CORRELATION_HEADER, "x".repeat(129).as_bytes())),
            CORRELATION_HEADER
        );
        // Bytes that are not printable ASCII are refused, not dropped.
        assert_eq!(
            refused_header(&with_header(CORRELATION_HEADER, "caf\u{e9}".as_bytes())),
            CORRELATION_HEADER
        );
        assert_eq!(
            refused_header(&with_header("tracestate", b"Bad Key=1")),
            "tracestate"
        );
        let mut twice = with_header("traceparent", TRACEPARENT.as_bytes());
        twice
            .metadata_mut()
            .append("traceparent", TRACEPARENT.parse().unwrap());
        assert_eq!(refused_header(&twice), "traceparent");

        let status = tonic::Status::from(
            CommandContext::from_request("m", &with_header("traceparent", b"garbage")).unwrap_err(),
        );
        assert_eq!(status.code(), tonic::Code::InvalidArgument);
        assert!(
            status.message().contains("traceparent"),
            "{}",
            status.message()
        );
    }

    #[test]
    fn tracestate_travels_with_its_traceparent_only() {
        let alone =
            CommandContext::from_request("m", &with_header("tracestate", b"rojo=1")).unwrap();
        assert_eq!(alone.tracestate, "");
        let mut both = with_header("traceparent", TRACEPARENT.as_bytes());
        both.metadata_mut()
            .append("tracestate", "rojo=1".parse().unwrap());
        both.metadata_mut()
            .append("tracestate", "congo=2".parse().unwrap());
        let both = CommandContext::from_request("m", &both).unwrap();
        assert_eq!(both.tracestate, "rojo=1,congo=2");
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
