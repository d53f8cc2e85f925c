//! Turning database values back into the store's types without trusting them.

use crate::error::{StoreError, corrupt};

pub(crate) fn unsigned(what: &str, value: i64) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| corrupt(format!("{what} is negative: {value}")))
}

pub(crate) fn hash(what: &str, bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes)
        .map_err(|_| corrupt(format!("{what} is {} bytes, not 32", bytes.len())))
}

/// A read limit as a SQL `LIMIT`.
pub(crate) fn limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// A position or version from a caller, clamped to what the database can hold; anything
/// beyond it cannot exist, so clamping never changes an answer.
pub(crate) fn clamp(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}
