//! Reading a query's `as_of`: a position, an RFC 3339 time, or a day.

use chrono::{DateTime, NaiveDate};
use fundtrail_proto::v1;
use fundtrail_service::ServiceError;

/// A point in the history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Point {
    Position(u64),
    /// Microseconds since the Unix epoch: the last event recorded at or before it.
    Time(i64),
}

/// The point an `as_of` names; `None` when the request has none (the live view).
pub fn parse_as_of(as_of: Option<&v1::AsOf>) -> Result<Option<Point>, ServiceError> {
    let Some(point) = as_of.and_then(|a| a.point.as_ref()) else {
        return Ok(None);
    };
    match point {
        v1::as_of::Point::Position(position) => Ok(Some(Point::Position(*position))),
        v1::as_of::Point::Time(text) => parse_time(text).map(|t| Some(Point::Time(t))),
    }
}

/// RFC 3339 (`2025-12-31T23:59:59Z`), or a day (`2025-12-31`) meaning its last microsecond
/// in UTC.
pub fn parse_time(text: &str) -> Result<i64, ServiceError> {
    let text = text.trim();
    if let Ok(time) = DateTime::parse_from_rfc3339(text) {
        return Ok(time.timestamp_micros());
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(end) = day.and_hms_micro_opt(23, 59, 59, 999_999)
    {
        return Ok(end.and_utc().timestamp_micros());
    }
    Err(ServiceError::invalid(
        "as_of.time",
        format!(
            "{text:?} is neither an RFC 3339 time (2025-12-31T23:59:59Z) nor a day (2025-12-31)"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_mean_their_end_and_times_are_exact() {
        let end = parse_time("2024-01-01").unwrap();
        assert_eq!(end, 1_704_153_599_999_999);
        assert_eq!(
            parse_time("2024-01-01T00:00:00Z").unwrap(),
            1_704_067_200_000_000
        );
        assert_eq!(
            parse_time("2024-01-01T01:00:00+01:00").unwrap(),
            1_704_067_200_000_000
        );
        for bad in ["", "yesterday", "2024-13-01", "2024-01-01 10:00"] {
            let status = tonic::Status::from(parse_time(bad).unwrap_err());
            assert_eq!(status.code(), tonic::Code::InvalidArgument);
            assert!(
                status.message().starts_with("as_of.time"),
                "{}",
                status.message()
            );
        }
    }
}
