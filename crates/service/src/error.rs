//! Every error a service can meet, and the one place they become gRPC statuses.
//!
//! ARCHITECTURE.md §8: malformed input is `INVALID_ARGUMENT` with field violations; a broken
//! rule is `FAILED_PRECONDITION` with the reason code; an expected-version conflict is
//! `ABORTED` with the actual version; a reused request id is `ALREADY_EXISTS`; a missing thing
//! is `NOT_FOUND`; an unreachable store is `UNAVAILABLE`. Every status carries a
//! `google.rpc.ErrorInfo` whose reason is the stable code, so clients branch on codes, never
//! on messages.

use std::collections::HashMap;

use fundtrail_domain::{DomainError, ErrorKind};
use fundtrail_proto::DecodeError;
use fundtrail_store::{InvalidInput, StoreError};
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
        }
    }
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
        StoreError::RequestConflict { request_id } => status(
            Code::AlreadyExists,
            format!(
                "request_id {request_id:?} was already used for a different request; \
                 use a new request_id for a new request"
            ),
            "REQUEST_ID_REUSED",
            HashMap::from([("request_id".to_owned(), request_id)]),
        ),
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
    fn reused_request_ids_and_outages_have_their_codes() {
        let status = Status::from(ServiceError::Store(StoreError::RequestConflict {
            request_id: "r-1".into(),
        }));
        assert_eq!(status.code(), Code::AlreadyExists);
        assert_eq!(info(&status).0, "REQUEST_ID_REUSED");
        let status = Status::from(ServiceError::Store(StoreError::Unavailable("down".into())));
        assert_eq!(status.code(), Code::Unavailable);
    }
}
