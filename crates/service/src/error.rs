//! Every error a service can meet, and the one place they become gRPC statuses.
//!
//! docs/architecture.md §8: malformed input is `INVALID_ARGUMENT` with field violations; a broken
//! rule is `FAILED_PRECONDITION` with the reason code; an expected-version conflict is
//! `ABORTED` with the actual version; a reused request id is `ALREADY_EXISTS`; a missing thing
//! is `NOT_FOUND`; an unreachable store is `UNAVAILABLE`; a request without an authenticated
//! principal is `UNAUTHENTICATED`; a donor integration reaching for another donor's data is
//! `PERMISSION_DENIED` (`DONOR_MISMATCH`). Every status carries a
//! `google.rpc.ErrorInfo` whose reason is the stable code, so clients branch on codes, never
//! on messages.
//!
//! The read side answers through the same mapping: a position past the head is
//! `OUT_OF_RANGE`, a view that did not reach a query's `min_position` in time is
//! `DEADLINE_EXCEEDED`, and the Audit API's refusals ([`AuditRefusal`]) have codes of their own.
//!
//! A malformed header the command would record (correlation id, trace context) is
//! `INVALID_ARGUMENT` naming the header. Whatever a status repeats of the input is bounded
//! ([`bounded`]), so a refusal of an overlong value still fits the trailers a client accepts.

use std::collections::HashMap;
use std::time::Duration;

use fundtrail_domain::{DomainError, ErrorKind};
use fundtrail_proto::DecodeError;
use fundtrail_store::{InvalidInput, StoreError};

use crate::context::request_id_of;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every fundtrail error.
pub use fundtrail_proto::ERROR_DOMAIN;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Domain(#[from] DomainError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored event could not be read: {0}")]
    Decode(#[from] DecodeError),
    /// The command was retried too often against concurrent writers.
    #[error("stream {stream} kept changing under the command; retry")]
    Contended { stream: String },
    /// A query named a position the history has not reached.
    #[error("{field}: {position} is beyond the last recorded position, {head}")]
    BeyondHead {
        field: &'static str,
        position: u64,
        head: u64,
    },
    /// A view did not reach a query's `min_position` within the wait.
    #[error(
        "min_position: the {view} view is at position {at} and did not reach {min_position} \
         within {} s; retry later",
        .waited.as_secs()
    )]
    Behind {
        view: &'static str,
        at: u64,
        min_position: u64,
        waited: Duration,
    },
    /// What a query needs is going away with the server.
    #[error("{0}")]
    Stopping(&'static str),
    /// The history could not be folded into the view a query asked for.
    #[error("the history could not be folded: {0}")]
    Unfoldable(String),
    #[error(transparent)]
    Audit(#[from] AuditRefusal),
    /// The request reached a service without an authenticated principal.
    #[error("the request carries no authenticated principal")]
    Unauthenticated,
    /// A donor integration named a donor other than its own.
    #[error("this credential acts for donor {own}, not for donor {requested}")]
    DonorMismatch { requested: String, own: String },
    /// No item of the "needs attention" queue has this id.
    #[error("there is no attention item {0} (ListAttentionItems lists them)")]
    AttentionItemNotFound(u64),
    /// A request header the command records (correlation id, trace context) is malformed.
    #[error("header {header}: {message}")]
    Header {
        header: &'static str,
        message: String,
    },
}

/// What the Audit API refuses besides malformed input and the store's own failures.
#[derive(Debug, thiserror::Error)]
pub enum AuditRefusal {
    #[error("signed checkpoints are not configured on this server")]
    NoCheckpoints,
    #[error(
        "this server has no audit signing key (set audit_signing_key or \
         FUNDTRAIL_AUDIT_SIGNING_KEY)"
    )]
    NoSigningKey,
    #[error("no checkpoint has been signed yet (CreateCheckpoint signs one)")]
    NoCheckpointYet,
    #[error("no checkpoint at position {0} (ListCheckpoints lists them)")]
    NoCheckpointAt(u64),
    #[error("the store is empty: there is no head to sign")]
    NothingToSign,
    #[error(
        "position {position} is after the checkpoint at {checkpoint}: sign a newer one \
         (CreateCheckpoint) or wait for the next"
    )]
    AfterCheckpoint { position: u64, checkpoint: u64 },
    /// The stored history no longer is what was signed: an event changed or is gone.
    #[error("{0}")]
    Altered(String),
    #[error("{0}")]
    ProofTooLarge(String),
}

impl ServiceError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Domain(DomainError::invalid(field, message))
    }
}

/// The most of its message a refusal repeats, in bytes. A refusal often quotes the input it
/// refuses, and the status travels in the response's trailers, which common gRPC clients cap
/// at 16 KiB (8 KiB for some): past that they report `RESOURCE_EXHAUSTED` instead of the
/// refusal. The message is sent twice (`grpc-message`, percent-encoded, up to three times its
/// size, and inside `grpc-status-details-bin`, base64), so this keeps the whole status a few
/// KiB whatever the caller sent.
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// The most a refusal's details repeat of each value: a field violation's field and
/// description, each `ErrorInfo` metadata value.
pub const MAX_DETAIL_BYTES: usize = 256;

/// `text` cut to about `max` bytes: its beginning and end, with how many bytes were left out
/// between them. Both ends are kept because a refusal names the field first and says what is
/// wrong last, with the quoted input in between.
pub fn bounded(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let tail = max / 4;
    let head_end = text.floor_char_boundary(max - tail);
    let tail_start = text.ceil_char_boundary(text.len() - tail);
    format!(
        "{}…({} more bytes)…{}",
        &text[..head_end],
        tail_start - head_end,
        &text[tail_start..]
    )
}

/// A refusal as the caller will receive it, before its values are bounded.
struct Refusal {
    code: Code,
    message: String,
    reason: &'static str,
    metadata: HashMap<String, String>,
    /// The request field to fix, and what is wrong with it.
    violation: Option<(String, String)>,
}

impl Refusal {
    fn new(code: Code, message: impl Into<String>, reason: &'static str) -> Self {
        Self {
            code,
            message: message.into(),
            reason,
            metadata: HashMap::new(),
            violation: None,
        }
    }

    fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.metadata.insert(key.to_owned(), value.into());
        self
    }

    fn violating(mut self, field: impl Into<String>, description: impl Into<String>) -> Self {
        self.violation = Some((field.into(), description.into()));
        self
    }

    /// The status, with everything it repeats bounded.
    fn into_status(self) -> Status {
        let metadata: HashMap<String, String> = self
            .metadata
            .into_iter()
            .map(|(key, value)| (key, bounded(&value, MAX_DETAIL_BYTES)))
            .collect();
        let mut details = match &self.violation {
            Some((field, description)) => ErrorDetails::with_bad_request_violation(
                bounded(field, MAX_DETAIL_BYTES),
                bounded(description, MAX_DETAIL_BYTES),
            ),
            None => ErrorDetails::new(),
        };
        details.set_error_info(self.reason, ERROR_DOMAIN, metadata);
        Status::with_error_details(
            self.code,
            bounded(&self.message, MAX_MESSAGE_BYTES),
            details,
        )
    }
}

/// A malformed request field: `INVALID_ARGUMENT`, naming the field.
fn invalid_field(field: &str, message: &str) -> Refusal {
    Refusal::new(
        Code::InvalidArgument,
        format!("{field}: {message}"),
        "INVALID_ARGUMENT",
    )
    .violating(field, message)
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        refusal(error).into_status()
    }
}

fn refusal(error: ServiceError) -> Refusal {
    match error {
        ServiceError::Domain(DomainError::Invalid { field, message }) => {
            invalid_field(&field, &message)
        }
        ServiceError::Domain(DomainError::Refused { reason, message }) => {
            let code = match reason.kind() {
                ErrorKind::InvalidArgument => Code::InvalidArgument,
                ErrorKind::FailedPrecondition => Code::FailedPrecondition,
                ErrorKind::NotFound => Code::NotFound,
                ErrorKind::AlreadyExists => Code::AlreadyExists,
            };
            Refusal::new(code, message, reason.code())
        }
        ServiceError::Header { header, message } => Refusal::new(
            Code::InvalidArgument,
            format!("header {header}: {message}"),
            "INVALID_ARGUMENT",
        )
        .with("header", header),
        ServiceError::Store(error) => store_refusal(error),
        ServiceError::Decode(error) => {
            tracing::error!(%error, "stored event cannot be decoded");
            Refusal::new(Code::Internal, error.to_string(), "CORRUPT_HISTORY")
        }
        ServiceError::Contended { stream } => Refusal::new(
            Code::Aborted,
            format!("stream {stream} kept changing under the command; retry"),
            "CONTENDED",
        )
        .with("stream", stream),
        ServiceError::BeyondHead {
            field,
            position,
            head,
        } => {
            let message = format!("{position} is beyond the last recorded position, {head}");
            Refusal::new(
                Code::OutOfRange,
                format!("{field}: {message}"),
                "BEYOND_HEAD",
            )
            .with("head", head.to_string())
            .violating(field, message)
        }
        ServiceError::Behind {
            view,
            at,
            min_position: _,
            waited: _,
        } => Refusal::new(Code::DeadlineExceeded, error.to_string(), "VIEW_BEHIND")
            .with("view", view)
            .with("position", at.to_string()),
        ServiceError::Stopping(what) => Refusal::new(Code::Unavailable, what, "STOPPING"),
        ServiceError::Unfoldable(_) => {
            let message = error.to_string();
            tracing::error!(%message, "a view could not be folded for a query");
            Refusal::new(Code::Internal, message, "UNFOLDABLE_HISTORY")
        }
        ServiceError::Audit(refusal) => audit_refusal(&refusal),
        ServiceError::AttentionItemNotFound(id) => Refusal::new(
            Code::NotFound,
            error.to_string(),
            "ATTENTION_ITEM_NOT_FOUND",
        )
        .with("id", id.to_string()),
        ServiceError::Unauthenticated => Refusal::new(
            Code::Unauthenticated,
            "no credentials: send `authorization: Bearer <token>` or connect with a client \
             certificate",
            "UNAUTHENTICATED",
        ),
        ServiceError::DonorMismatch { requested, own } => {
            let requested = bounded(&requested, MAX_DETAIL_BYTES);
            tracing::warn!(%requested, %own, reason = "DONOR_MISMATCH", "refused a call");
            Refusal::new(
                Code::PermissionDenied,
                format!("this credential acts for donor {own}, not for donor {requested}"),
                "DONOR_MISMATCH",
            )
            .with("donor_id", requested)
        }
    }
}

fn audit_refusal(refusal: &AuditRefusal) -> Refusal {
    let message = refusal.to_string();
    match refusal {
        AuditRefusal::NoCheckpoints => {
            Refusal::new(Code::Unimplemented, message, "CHECKPOINTS_NOT_CONFIGURED")
        }
        AuditRefusal::NoSigningKey => {
            Refusal::new(Code::FailedPrecondition, message, "NO_SIGNING_KEY")
        }
        AuditRefusal::NoCheckpointYet => {
            Refusal::new(Code::NotFound, message, "CHECKPOINT_NOT_FOUND")
        }
        &AuditRefusal::NoCheckpointAt(position) => {
            Refusal::new(Code::NotFound, message, "CHECKPOINT_NOT_FOUND")
                .with("position", position.to_string())
        }
        AuditRefusal::NothingToSign => {
            Refusal::new(Code::FailedPrecondition, message, "NOTHING_TO_SIGN")
        }
        &AuditRefusal::AfterCheckpoint {
            position: _,
            checkpoint,
        } => Refusal::new(Code::FailedPrecondition, message, "AFTER_CHECKPOINT")
            .with("checkpoint", checkpoint.to_string()),
        AuditRefusal::Altered(_) => Refusal::new(Code::DataLoss, message, "HISTORY_ALTERED"),
        AuditRefusal::ProofTooLarge(_) => {
            Refusal::new(Code::ResourceExhausted, message, "PROOF_TOO_LARGE")
        }
    }
}

fn store_refusal(error: StoreError) -> Refusal {
    let message = error.to_string();
    match error {
        StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => Refusal::new(Code::Aborted, message, "WRONG_EXPECTED_VERSION")
            .with("stream", stream)
            .with("expected_version", expected.to_string())
            .with(
                "actual_version",
                actual.map_or_else(|| "none".to_owned(), |v| v.to_string()),
            ),
        StoreError::RequestConflict { request_id } => {
            // The store knows the request by its idempotency key; the caller by its request id.
            let request_id = request_id_of(&request_id).to_owned();
            Refusal::new(
                Code::AlreadyExists,
                format!(
                    "request_id {request_id:?} was already used for a different request; \
                     use a new request_id for a new request"
                ),
                "REQUEST_ID_REUSED",
            )
            .with("request_id", request_id)
        }
        StoreError::Claimed { .. } => {
            Refusal::new(Code::FailedPrecondition, message, "ALREADY_CLAIMED")
        }
        StoreError::InvalidInput(input) => {
            let field = match &input {
                InvalidInput::ExpectedVersion(_) => "expected_version",
                _ => "request",
            };
            Refusal::new(Code::InvalidArgument, message, "INVALID_ARGUMENT")
                .violating(field, input.to_string())
        }
        StoreError::Unavailable(_) => {
            tracing::warn!(%message, "event store unavailable");
            Refusal::new(
                Code::Unavailable,
                "the event store is unavailable; retry with the same request_id",
                "STORE_UNAVAILABLE",
            )
        }
        StoreError::Corrupt(_) => {
            tracing::error!(%message, "event store data is corrupt");
            Refusal::new(Code::Internal, message, "CORRUPT_HISTORY")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fundtrail_domain::Reason;
    use fundtrail_store::ExpectedVersion;

    fn info(status: &Status) -> (String, HashMap<String, String>) {
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.domain, ERROR_DOMAIN);
        (info.reason, info.metadata)
    }

    #[test]
    fn refusals_repeat_a_bounded_part_of_what_they_quote() {
        assert_eq!(bounded("short", 10), "short");
        let cut = bounded(&format!("head {} tail", "é".repeat(5000)), 100);
        assert!(cut.len() < 140, "{cut}");
        assert!(cut.starts_with("head "), "{cut}");
        assert!(cut.ends_with(" tail"), "{cut}");
        assert!(cut.contains("more bytes)…"), "{cut}");

        let huge = "x".repeat(100_000);
        let status = Status::from(ServiceError::invalid(
            huge.clone(),
            format!("{huge:?} is not a UUID"),
        ));
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().len() <= MAX_MESSAGE_BYTES + 40);
        assert!(
            status.message().ends_with("is not a UUID"),
            "{}",
            status.message()
        );
        let bad = status.get_details_bad_request().expect("field violations");
        assert!(bad.field_violations[0].field.len() <= MAX_DETAIL_BYTES + 40);
        assert!(bad.field_violations[0].description.len() <= MAX_DETAIL_BYTES + 40);
        assert!(status.details().len() < 4096, "{}", status.details().len());

        let status = Status::from(ServiceError::DonorMismatch {
            requested: huge,
            own: "XM-DAC-7".into(),
        });
        let (_, metadata) = info(&status);
        assert!(metadata["donor_id"].len() <= MAX_DETAIL_BYTES + 40);
        assert!(status.details().len() < 4096, "{}", status.details().len());
    }

    #[test]
    fn malformed_headers_are_named() {
        let status = Status::from(ServiceError::Header {
            header: "traceparent",
            message: "must be lowercase hex".into(),
        });
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(status.message().starts_with("header traceparent: "));
        let (reason, metadata) = info(&status);
        assert_eq!(reason, "INVALID_ARGUMENT");
        assert_eq!(metadata["header"], "traceparent");
    }

    #[test]
    fn malformed_input_names_the_field() {
        let status = Status::from(ServiceError::invalid("amount.currency", "unknown code"));
        assert_eq!(status.code(), Code::InvalidArgument);
        let bad = status.get_details_bad_request().expect("field violations");
        assert_eq!(bad.field_violations[0].field, "amount.currency");
        assert_eq!(info(&status).0, "INVALID_ARGUMENT");
    }

    #[test]
    fn rules_carry_their_reason_code() {
        let refused =
            |reason| Status::from(ServiceError::Domain(DomainError::refused(reason, "no")));
        let status = refused(Reason::DisbursementExceedsAvailable);
        assert_eq!(status.code(), Code::FailedPrecondition);
        assert_eq!(info(&status).0, "DISBURSEMENT_EXCEEDS_AVAILABLE");
        assert_eq!(refused(Reason::PledgeNotFound).code(), Code::NotFound);
        assert_eq!(
            refused(Reason::DonorAlreadyRegistered).code(),
            Code::AlreadyExists
        );
    }

    #[test]
    fn conflicts_carry_the_actual_version() {
        let status = Status::from(ServiceError::Store(StoreError::WrongExpectedVersion {
            stream: "pledge-x".into(),
            expected: ExpectedVersion::Exact(3),
            actual: Some(5),
        }));
        assert_eq!(status.code(), Code::Aborted);
        let (reason, metadata) = info(&status);
        assert_eq!(reason, "WRONG_EXPECTED_VERSION");
        assert_eq!(
            metadata.get("actual_version").map(String::as_str),
            Some("5")
        );
    }

    #[test]
    fn queries_past_the_head_or_the_wait_say_where_things_stand() {
        let status = Status::from(ServiceError::BeyondHead {
            field: "as_of.position",
            position: 9,
            head: 7,
        });
        assert_eq!(status.code(), Code::OutOfRange);
        assert!(status.message().starts_with("as_of.position: 9 is beyond"));
        let bad = status.get_details_bad_request().expect("field violations");
        assert_eq!(bad.field_violations[0].field, "as_of.position");
        let (reason, metadata) = info(&status);
        assert_eq!(reason, "BEYOND_HEAD");
        assert_eq!(metadata.get("head").map(String::as_str), Some("7"));
        let status = Status::from(ServiceError::Behind {
            view: "fund_overview",
            at: 3,
            min_position: 5,
            waited: Duration::from_secs(10),
        });
        assert_eq!(status.code(), Code::DeadlineExceeded);
        assert!(
            status.message().contains("within 10 s"),
            "{}",
            status.message()
        );
        assert_eq!(info(&status).0, "VIEW_BEHIND");
    }

    #[test]
    fn callers_without_credentials_or_for_another_donor_are_refused() {
        let status = Status::from(ServiceError::Unauthenticated);
        assert_eq!(status.code(), Code::Unauthenticated);
        let status = Status::from(ServiceError::DonorMismatch {
            requested: "US-GOV-1".into(),
            own: "XM-DAC-7".into(),
        });
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(info(&status).0, "DONOR_MISMATCH");
    }

    #[test]
    fn audit_refusals_have_their_codes() {
        let cases = [
            (AuditRefusal::NoCheckpoints, Code::Unimplemented),
            (AuditRefusal::NoSigningKey, Code::FailedPrecondition),
            (AuditRefusal::NoCheckpointAt(4), Code::NotFound),
            (AuditRefusal::Altered("gone".into()), Code::DataLoss),
            (
                AuditRefusal::ProofTooLarge("big".into()),
                Code::ResourceExhausted,
            ),
        ];
        for (refusal, code) in cases {
            let status = Status::from(ServiceError::from(refusal));
            assert_eq!(status.code(), code, "{status:?}");
            assert!(!info(&status).0.is_empty());
        }
    }

    #[test]
    fn reused_request_ids_and_outages_have_their_codes() {
        let status = Status::from(ServiceError::Store(StoreError::RequestConflict {
            request_id: "r-1".into(),
        }));
        assert_eq!(status.code(), Code::AlreadyExists);
        assert_eq!(info(&status).0, "REQUEST_ID_REUSED");
        let scoped = Status::from(ServiceError::Store(StoreError::RequestConflict {
            request_id: "clerk@itf.si r-1".into(),
        }));
        assert_eq!(
            info(&scoped).1.get("request_id").map(String::as_str),
            Some("r-1")
        );
        assert!(!scoped.message().contains("clerk"), "{}", scoped.message());
        let status = Status::from(ServiceError::Store(StoreError::Unavailable("down".into())));
        assert_eq!(status.code(), Code::Unavailable);
    }
}
