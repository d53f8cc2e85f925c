//! Checks done before a request reaches the database, so bad input writes nothing.

use std::collections::HashSet;

use crate::error::InvalidInput;
use crate::types::{AppendRequest, ExpectedVersion, StoreOptions};

pub const MAX_STREAM_NAME: usize = 200;
pub const MAX_EVENT_TYPE: usize = 256;
/// The longest request id, in bytes (request ids are ASCII, so also in characters).
pub const MAX_REQUEST_ID: usize = 128;
pub const MAX_CONSUMER: usize = 200;
/// The longest idempotency key, in bytes. Services scope a client's request id by the caller
/// (a subject of at most 200 characters, a separator, then the request id), so a key is longer
/// than any request id a client may send.
pub const MAX_IDEMPOTENCY_KEY: usize = 1024;

/// `<category>-<id>`: category of lowercase ascii letters, id of `[A-Za-z0-9._:-]`.
pub fn stream_name(name: &str) -> Result<(), InvalidInput> {
    let invalid = || InvalidInput::StreamName {
        name: name.chars().take(MAX_STREAM_NAME + 20).collect(),
        max: MAX_STREAM_NAME,
    };
    if name.len() > MAX_STREAM_NAME {
        return Err(invalid());
    }
    let (category, id) = name.split_once('-').ok_or_else(invalid)?;
    let category_ok = !category.is_empty() && category.bytes().all(|b| b.is_ascii_lowercase());
    let id_ok = !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if category_ok && id_ok {
        Ok(())
    } else {
        Err(invalid())
    }
}

pub fn category(category: &str) -> Result<(), InvalidInput> {
    if !category.is_empty()
        && category.len() < MAX_STREAM_NAME
        && category.bytes().all(|b| b.is_ascii_lowercase())
    {
        Ok(())
    } else {
        Err(InvalidInput::Category(
            category.chars().take(MAX_STREAM_NAME).collect(),
        ))
    }
}

/// A request id is what a client resends to make a retry safe, so it must survive being typed,
/// logged and passed in a header: 1 to [`MAX_REQUEST_ID`] printable ASCII characters, no
/// spaces. A UUID is a good choice.
pub fn request_id(request_id: &str) -> Result<(), InvalidInput> {
    let len = request_id.len();
    if len == 0 || len > MAX_REQUEST_ID || !request_id.bytes().all(|b| b.is_ascii_graphic()) {
        Err(InvalidInput::RequestId {
            len,
            max: MAX_REQUEST_ID,
        })
    } else {
        Ok(())
    }
}

/// The key a request is remembered under: 1 to [`MAX_IDEMPOTENCY_KEY`] bytes without control
/// characters.
pub fn idempotency_key(key: &str) -> Result<(), InvalidInput> {
    let len = key.len();
    if len == 0 || len > MAX_IDEMPOTENCY_KEY || key.chars().any(char::is_control) {
        Err(InvalidInput::IdempotencyKey {
            len,
            max: MAX_IDEMPOTENCY_KEY,
        })
    } else {
        Ok(())
    }
}

pub fn consumer(name: &str) -> Result<(), InvalidInput> {
    if name.is_empty() || name.len() > MAX_CONSUMER {
        Err(InvalidInput::Consumer {
            len: name.len(),
            max: MAX_CONSUMER,
        })
    } else {
        Ok(())
    }
}

/// Positions and versions are stored as signed 64-bit integers.
pub fn in_db_range(what: &'static str, value: u64) -> Result<i64, InvalidInput> {
    i64::try_from(value).map_err(|_| InvalidInput::OutOfRange { what, value })
}

pub fn append(request: &AppendRequest, options: &StoreOptions) -> Result<(), InvalidInput> {
    stream_name(&request.stream)?;
    if request.events.is_empty() {
        return Err(InvalidInput::NoEvents);
    }
    for (stream, expected) in std::iter::once((&request.stream, &request.expected))
        .chain(request.unchanged.iter().map(|(s, e)| (s, e)))
    {
        stream_name(stream)?;
        if let ExpectedVersion::Exact(version) = expected {
            in_db_range("expected version", *version)?;
        }
    }
    let mut ids = HashSet::with_capacity(request.events.len());
    for event in &request.events {
        if !ids.insert(event.event_id) {
            return Err(InvalidInput::DuplicateEventId(event.event_id));
        }
        if event.event_type.is_empty() || event.event_type.len() > MAX_EVENT_TYPE {
            return Err(InvalidInput::EventType {
                len: event.event_type.len(),
                max: MAX_EVENT_TYPE,
            });
        }
        for (field, size) in [
            ("payload", event.payload.len()),
            ("metadata", event.metadata.len()),
        ] {
            if size > options.max_payload_bytes {
                return Err(InvalidInput::TooLarge {
                    event_id: event.event_id,
                    field,
                    size,
                    limit: options.max_payload_bytes,
                });
            }
        }
    }
    if let Some(idempotency) = &request.idempotency {
        idempotency_key(&idempotency.request_id)?;
    }
    if let Some(cursor) = &request.cursor {
        consumer(&cursor.consumer)?;
        in_db_range("cursor position", cursor.position)?;
    }
    for claim in request.claims_touched() {
        if claim.is_empty() || claim.len() > MAX_CLAIM || claim.chars().any(char::is_control) {
            return Err(InvalidInput::Claim {
                len: claim.len(),
                max: MAX_CLAIM,
            });
        }
    }
    Ok(())
}

/// Claims are keys of an index; a bank reference with its kind fits many times over.
pub const MAX_CLAIM: usize = 512;

/// The chain's length prefixes are 32-bit, so no field may reach 4 GiB.
pub fn options(options: &StoreOptions) -> Result<(), InvalidInput> {
    if u32::try_from(options.max_payload_bytes).is_err() {
        return Err(InvalidInput::OutOfRange {
            what: "max_payload_bytes",
            value: options.max_payload_bytes as u64,
        });
    }
    Ok(())
}

/// A schema name is spliced into identifiers (channel names, `CREATE SCHEMA`), so it is kept
/// to a set that needs no quoting.
pub fn schema(name: &str) -> Result<(), InvalidInput> {
    let ok = !name.is_empty()
        && name.len() <= 40
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        && !name.as_bytes()[0].is_ascii_digit();
    if ok {
        Ok(())
    } else {
        Err(InvalidInput::Schema(name.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_names() {
        for good in [
            "pledge-0190a1b2-c3d4",
            "donor-XM-DAC-7",
            "country-AF",
            "a-b",
            "x-a.b_c:d",
        ] {
            assert_eq!(stream_name(good), Ok(()), "{good}");
        }
        let long = format!("pledge-{}", "a".repeat(MAX_STREAM_NAME));
        for bad in [
            "",
            "pledge",
            "pledge-",
            "-abc",
            "Pledge-1",
            "pl3dge-1",
            "pledge-a b",
            "pledge-é",
            "pledge-a/b",
            long.as_str(),
        ] {
            assert!(stream_name(bad).is_err(), "{bad}");
        }
        let exactly_max = format!("p-{}", "a".repeat(MAX_STREAM_NAME - 2));
        assert_eq!(stream_name(&exactly_max), Ok(()));
    }

    #[test]
    fn request_ids() {
        for good in [
            "r-1",
            "0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b",
            &"x".repeat(MAX_REQUEST_ID),
        ] {
            assert_eq!(request_id(good), Ok(()), "{good}");
        }
        let long = "x".repeat(MAX_REQUEST_ID + 1);
        for bad in ["", " r-1", "has space", "tab\there", "é", long.as_str()] {
            assert!(request_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn idempotency_keys() {
        let longest = format!("{} {}", "é".repeat(200), "x".repeat(MAX_REQUEST_ID));
        for good in [
            "r-1",
            "alice@fund.org r-1",
            "Finance Gateway r-1",
            longest.as_str(),
        ] {
            assert_eq!(idempotency_key(good), Ok(()), "{good}");
        }
        let long = "x".repeat(MAX_IDEMPOTENCY_KEY + 1);
        for bad in ["", "a\nb", "tab\there", long.as_str()] {
            assert!(idempotency_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn schemas() {
        assert_eq!(schema("store_test_1"), Ok(()));
        for bad in ["", "1abc", "Abc", "a-b", "a;drop", &"a".repeat(41)] {
            assert!(schema(bad).is_err(), "{bad}");
        }
    }
}
