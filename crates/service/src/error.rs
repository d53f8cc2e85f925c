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

use std::collections::HashMap;
use std::time::Duration;

use fundtrail_domain::{DomainError, ErrorKind};
use fundtrail_proto::DecodeError;
use fundtrail_store::{InvalidInput, StoreError};

use crate::context::request_id_of;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every fundtrail error.
pub const ERROR_DOMAIN: &str = "fundtrail.org";

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

fn status(code: Code, message: String, reason: &str, metadata: HashMap<String, String>) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata),
    )
}

impl From<ServiceError> for Status {
    fn from(error: ServiceError) -> Self {
        match error {
            ServiceError::Domain(DomainError::Invalid { field, message }) => {
                let mut details = ErrorDetails::with_bad_request_violation(&field, &message);
                details.set_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, HashMap::new());
                Status::with_error_details(
                    Code::InvalidArgument,
                    format!("{field}: {message}"),
                    details,
                )
            }
            ServiceError::Domain(DomainError::Refused { reason, message }) => {
                let code = match reason.kind() {
                    ErrorKind::InvalidArgument => Code::InvalidArgument,
                    ErrorKind::FailedPrecondition => Code::FailedPrecondition,
                    ErrorKind::NotFound => Code::NotFound,
                    ErrorKind::AlreadyExists => Code::AlreadyExists,
                };
                status(code, message, reason.code(), HashMap::new())
            }
            ServiceError::Store(error) => store_status(error),
            ServiceError::Decode(error) => {
                tracing::error!(%error, "stored event cannot be decoded");
                status(
                    Code::Internal,
                    error.to_string(),
                    "CORRUPT_HISTORY",
                    HashMap::new(),
                )
            }
            ServiceError::Contended { stream } => status(
                Code::Aborted,
                format!("stream {stream} kept changing under the command; retry"),
                "CONTENDED",
                HashMap::from([("stream".to_owned(), stream)]),
            ),
            ServiceError::BeyondHead {
                field,
                position,
                head,
            } => {
                let message = format!("{position} is beyond the last recorded position, {head}");
                let mut details = ErrorDetails::with_bad_request_violation(field, &message);
                details.set_error_info(
                    "BEYOND_HEAD",
                    ERROR_DOMAIN,
                    HashMap::from([("head".to_owned(), head.to_string())]),
                );
                Status::with_error_details(Code::OutOfRange, format!("{field}: {message}"), details)
            }
            ServiceError::Behind {
                view,
                at,
                min_position: _,
                waited: _,
            } => status(
                Code::DeadlineExceeded,
                error.to_string(),
                "VIEW_BEHIND",
                HashMap::from([
                    ("view".to_owned(), view.to_owned()),
                    ("position".to_owned(), at.to_string()),
                ]),
            ),
            ServiceError::Stopping(what) => status(
                Code::Unavailable,
                what.to_owned(),
                "STOPPING",
                HashMap::new(),
            ),
            ServiceError::Unfoldable(_) => {
                let message = error.to_string();
                tracing::error!(%message, "a view could not be folded for a query");
                status(
                    Code::Internal,
                    message,
                    "UNFOLDABLE_HISTORY",
                    HashMap::new(),
                )
            }
            ServiceError::Audit(refusal) => audit_status(&refusal),
            ServiceError::Unauthenticated => status(
                Code::Unauthenticated,
                "no credentials: send `authorization: Bearer <token>` or connect with a client \
                 certificate"
                    .to_owned(),
                "UNAUTHENTICATED",
                HashMap::new(),
            ),
            ServiceError::DonorMismatch { requested, own } => {
                tracing::warn!(%requested, %own, reason = "DONOR_MISMATCH", "refused a call");
                status(
                    Code::PermissionDenied,
                    format!("this credential acts for donor {own}, not for donor {requested}"),
                    "DONOR_MISMATCH",
                    HashMap::from([("donor_id".to_owned(), requested)]),
                )
            }
        }
    }
}

fn audit_status(refusal: &AuditRefusal) -> Status {
    let message = refusal.to_string();
    let (code, reason, metadata) = match refusal {
        AuditRefusal::NoCheckpoints => (
            Code::Unimplemented,
            "CHECKPOINTS_NOT_CONFIGURED",
            HashMap::new(),
        ),
        AuditRefusal::NoSigningKey => (Code::FailedPrecondition, "NO_SIGNING_KEY", HashMap::new()),
        AuditRefusal::NoCheckpointYet => (Code::NotFound, "CHECKPOINT_NOT_FOUND", HashMap::new()),
        &AuditRefusal::NoCheckpointAt(position) => (
            Code::NotFound,
            "CHECKPOINT_NOT_FOUND",
            HashMap::from([("position".to_owned(), position.to_string())]),
        ),
        AuditRefusal::NothingToSign => {
            (Code::FailedPrecondition, "NOTHING_TO_SIGN", HashMap::new())
        }
        &AuditRefusal::AfterCheckpoint {
            position: _,
            checkpoint,
        } => (
            Code::FailedPrecondition,
            "AFTER_CHECKPOINT",
            HashMap::from([("checkpoint".to_owned(), checkpoint.to_string())]),
        ),
        AuditRefusal::Altered(_) => (Code::DataLoss, "HISTORY_ALTERED", HashMap::new()),
        AuditRefusal::ProofTooLarge(_) => {
            (Code::ResourceExhausted, "PROOF_TOO_LARGE", HashMap::new())
        }
    };
    status(code, message, reason, metadata)
}

fn store_status(error: StoreError) -> Status {
    let message = error.to_string();
    match error {
        StoreError::WrongExpectedVersion {
            stream,
            expected,
            actual,
        } => status(
            Code::Aborted,
            message,
            "WRONG_EXPECTED_VERSION",
            HashMap::from([
                ("stream".to_owned(), stream),
                ("expected_version".to_owned(), expected.to_string()),
                (
                    "actual_version".to_owned(),
                    actual.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                ),
            ]),
        ),
        StoreError::RequestConflict { request_id } => {
            // The store knows the request by its idempotency key; the caller by its request id.
            let request_id = request_id_of(&request_id).to_owned();
            status(
                Code::AlreadyExists,
                format!(
                    "request_id {request_id:?} was already used for a different request; \
                 use a new request_id for a new request"
                ),
                "REQUEST_ID_REUSED",
                HashMap::from([("request_id".to_owned(), request_id)]),
            )
        }
        StoreError::InvalidInput(input) => {
            let field = match &input {
                InvalidInput::ExpectedVersion(_) => "expected_version",
                _ => "request",
            };
            let mut details = ErrorDetails::with_bad_request_violation(field, input.to_string());
            details.set_error_info("INVALID_ARGUMENT", ERROR_DOMAIN, HashMap::new());
            Status::with_error_details(Code::InvalidArgument, message, details)
        }
        StoreError::Unavailable(_) => {
            tracing::warn!(%message, "event store unavailable");
            status(
                Code::Unavailable,
                "the event store is unavailable; retry with the same request_id".to_owned(),
                "STORE_UNAVAILABLE",
                HashMap::new(),
            )
        }
        StoreError::Corrupt(_) => {
            tracing::error!(%message, "event store data is corrupt");
            status(Code::Internal, message, "CORRUPT_HISTORY", HashMap::new())
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
