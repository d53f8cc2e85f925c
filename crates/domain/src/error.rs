//! Refusals of the domain: every one is typed and carries a stable reason code.
//!
//! Reason codes are part of the API: clients branch on them, so they never change meaning.
//! Each maps to one gRPC status code (docs/architecture.md §8) through [`ErrorKind`].

use crate::money::MoneyError;
use crate::rate::RateError;

/// The class of a refusal, which decides its gRPC status code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// Malformed input: `INVALID_ARGUMENT` with a field violation.
    InvalidArgument,
    /// A broken business rule: `FAILED_PRECONDITION` with the reason code.
    FailedPrecondition,
    /// The thing the command names does not exist: `NOT_FOUND`.
    NotFound,
    /// The thing the command would create exists already: `ALREADY_EXISTS`.
    AlreadyExists,
}

macro_rules! reasons {
    ($($variant:ident => $code:literal, $kind:ident;)*) => {
        /// Why a command was refused, as a stable machine-readable code.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Reason {
            $($variant,)*
        }

        impl Reason {
            pub const ALL: &'static [Reason] = &[$(Reason::$variant,)*];

            pub const fn code(self) -> &'static str {
                match self {
                    $(Reason::$variant => $code,)*
                }
            }

            pub const fn kind(self) -> ErrorKind {
                match self {
                    $(Reason::$variant => ErrorKind::$kind,)*
                }
            }
        }
    };
}

reasons! {
    DonorNotFound => "DONOR_NOT_FOUND", NotFound;
    PledgeNotFound => "PLEDGE_NOT_FOUND", NotFound;
    ProjectNotFound => "PROJECT_NOT_FOUND", NotFound;
    MatchingPoolNotFound => "MATCHING_POOL_NOT_FOUND", NotFound;
    MilestoneNotFound => "MILESTONE_NOT_FOUND", NotFound;
    AllocationNotFound => "ALLOCATION_NOT_FOUND", NotFound;
    MatchNotFound => "MATCH_NOT_FOUND", NotFound;
    DisbursementNotFound => "DISBURSEMENT_NOT_FOUND", NotFound;
    ReceiptNotFound => "RECEIPT_NOT_FOUND", NotFound;
    DonorAlreadyRegistered => "DONOR_ALREADY_REGISTERED", AlreadyExists;
    PledgeAlreadyRecorded => "PLEDGE_ALREADY_RECORDED", AlreadyExists;
    ProjectAlreadyRegistered => "PROJECT_ALREADY_REGISTERED", AlreadyExists;
    MatchingPoolAlreadyOpened => "MATCHING_POOL_ALREADY_OPENED", AlreadyExists;
    DisbursementAlreadyRequested => "DISBURSEMENT_ALREADY_REQUESTED", AlreadyExists;
    NothingToChange => "NOTHING_TO_CHANGE", FailedPrecondition;
    AmountOverflow => "AMOUNT_OVERFLOW", FailedPrecondition;
    CurrencyMismatch => "CURRENCY_MISMATCH", FailedPrecondition;
    ExchangeRateRequired => "EXCHANGE_RATE_REQUIRED", FailedPrecondition;
    ExchangeRateMismatch => "EXCHANGE_RATE_MISMATCH", FailedPrecondition;
    PledgeWithdrawn => "PLEDGE_WITHDRAWN", FailedPrecondition;
    PledgeBelowReceived => "PLEDGE_BELOW_RECEIVED", FailedPrecondition;
    AgreementAlreadySigned => "AGREEMENT_ALREADY_SIGNED", FailedPrecondition;
    AgreementExceedsPledge => "AGREEMENT_EXCEEDS_PLEDGE", FailedPrecondition;
    ReceiptExceedsPledge => "RECEIPT_EXCEEDS_PLEDGE", FailedPrecondition;
    DuplicateBankReference => "DUPLICATE_BANK_REFERENCE", FailedPrecondition;
    ReceiptAlreadyReversed => "RECEIPT_ALREADY_REVERSED", FailedPrecondition;
    ReversalExceedsUnallocated => "REVERSAL_EXCEEDS_UNALLOCATED", FailedPrecondition;
    RefundExceedsUnallocated => "REFUND_EXCEEDS_UNALLOCATED", FailedPrecondition;
    DuplicatePaymentReference => "DUPLICATE_PAYMENT_REFERENCE", FailedPrecondition;
    CorrectorIsBooker => "CORRECTOR_IS_BOOKER", FailedPrecondition;
    AllocationExceedsUnallocated => "ALLOCATION_EXCEEDS_UNALLOCATED", FailedPrecondition;
    EarmarkMismatch => "EARMARK_MISMATCH", FailedPrecondition;
    AllocationAlreadyReleased => "ALLOCATION_ALREADY_RELEASED", FailedPrecondition;
    ProjectClosed => "PROJECT_CLOSED", FailedPrecondition;
    PartnerUnchanged => "PARTNER_UNCHANGED", FailedPrecondition;
    PayeeNotImplementingPartner => "PAYEE_NOT_IMPLEMENTING_PARTNER", FailedPrecondition;
    MatchingCapExceeded => "MATCHING_CAP_EXCEEDED", FailedPrecondition;
    MatchingPoolExpired => "MATCHING_POOL_EXPIRED", FailedPrecondition;
    MatchAlreadyReserved => "MATCH_ALREADY_RESERVED", FailedPrecondition;
    MatchNotReserved => "MATCH_NOT_RESERVED", FailedPrecondition;
    CountryNotEligible => "COUNTRY_NOT_ELIGIBLE", FailedPrecondition;
    DonorNotMatchingEligible => "DONOR_NOT_MATCHING_ELIGIBLE", FailedPrecondition;
    SelfMatch => "SELF_MATCH", FailedPrecondition;
    MatchingPoolNotStarted => "MATCHING_POOL_NOT_STARTED", FailedPrecondition;
    NoMatchingPoolFits => "NO_MATCHING_POOL_FITS", FailedPrecondition;
    MilestoneNotReported => "MILESTONE_NOT_REPORTED", FailedPrecondition;
    MilestoneAlreadyVerified => "MILESTONE_ALREADY_VERIFIED", FailedPrecondition;
    VerifierIsReporter => "VERIFIER_IS_REPORTER", FailedPrecondition;
    TranchesExceedBudget => "TRANCHES_EXCEED_BUDGET", FailedPrecondition;
    DisbursementExceedsAvailable => "DISBURSEMENT_EXCEEDS_AVAILABLE", FailedPrecondition;
    ReturnExceedsAvailable => "RETURN_EXCEEDS_AVAILABLE", FailedPrecondition;
    ReturnExceedsAllocation => "RETURN_EXCEEDS_ALLOCATION", FailedPrecondition;
    AccountClosed => "ACCOUNT_CLOSED", FailedPrecondition;
    DisbursementsPending => "DISBURSEMENTS_PENDING", FailedPrecondition;
    MilestoneNotVerified => "MILESTONE_NOT_VERIFIED", FailedPrecondition;
    TrancheExceedsMilestone => "TRANCHE_EXCEEDS_MILESTONE", FailedPrecondition;
    MilestoneRequired => "MILESTONE_REQUIRED", FailedPrecondition;
    DisbursementNotPending => "DISBURSEMENT_NOT_PENDING", FailedPrecondition;
    DisbursementNotApproved => "DISBURSEMENT_NOT_APPROVED", FailedPrecondition;
    DisbursementNotPaid => "DISBURSEMENT_NOT_PAID", FailedPrecondition;
    RefundExceedsPaid => "REFUND_EXCEEDS_PAID", FailedPrecondition;
    ApproverIsRequester => "APPROVER_IS_REQUESTER", FailedPrecondition;
    PeriodClosed => "PERIOD_CLOSED", FailedPrecondition;
    PeriodAlreadyClosed => "PERIOD_ALREADY_CLOSED", FailedPrecondition;
    PeriodNotEnded => "PERIOD_NOT_ENDED", FailedPrecondition;
}

/// A command refused by the domain. Nothing was written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Malformed input, named by the request field that must be fixed.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// A rule of the trust fund refused the command.
    #[error("{message}")]
    Refused { reason: Reason, message: String },
}

impl DomainError {
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.into(),
            message: message.into(),
        }
    }

    pub fn refused(reason: Reason, message: impl Into<String>) -> Self {
        Self::Refused {
            reason,
            message: message.into(),
        }
    }

    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Invalid { .. } => ErrorKind::InvalidArgument,
            Self::Refused { reason, .. } => reason.kind(),
        }
    }

    /// The stable code a client branches on (`INVALID_ARGUMENT` for malformed input).
    pub fn reason_code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "INVALID_ARGUMENT",
            Self::Refused { reason, .. } => reason.code(),
        }
    }

    pub fn reason(&self) -> Option<Reason> {
        match self {
            Self::Invalid { .. } => None,
            Self::Refused { reason, .. } => Some(*reason),
        }
    }
}

impl From<MoneyError> for DomainError {
    fn from(error: MoneyError) -> Self {
        match error {
            MoneyError::CurrencyMismatch { .. } => {
                Self::refused(Reason::CurrencyMismatch, error.to_string())
            }
            MoneyError::Overflow => Self::refused(
                Reason::AmountOverflow,
                "the amount is out of the range the ledger can hold",
            ),
            MoneyError::UnknownCurrency(_) | MoneyError::InvalidAmount { .. } => {
                Self::invalid("amount", error.to_string())
            }
        }
    }
}

impl From<RateError> for DomainError {
    fn from(error: RateError) -> Self {
        match error {
            RateError::Money(money) => money.into(),
            RateError::WrongBase { .. } => {
                Self::refused(Reason::ExchangeRateMismatch, error.to_string())
            }
            RateError::InvalidRate(_)
            | RateError::SameCurrency(_)
            | RateError::MissingSource
            | RateError::SourceTooLong => Self::invalid("exchange_rate", error.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn reason_codes_are_unique_upper_snake_case() {
        let mut seen = HashSet::new();
        for reason in Reason::ALL {
            let code = reason.code();
            assert!(seen.insert(code), "duplicate {code}");
            assert!(
                code.chars().all(|c| c.is_ascii_uppercase() || c == '_'),
                "{code}"
            );
        }
    }

    #[test]
    fn money_errors_become_typed_refusals() {
        let err: DomainError = MoneyError::Overflow.into();
        assert_eq!(err.reason_code(), "AMOUNT_OVERFLOW");
        let err: DomainError = MoneyError::UnknownCurrency("XYZ".into()).into();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    }
}
