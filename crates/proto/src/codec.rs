//! How the services read a request: tonic's prost codec, except that a body that is not the
//! method's message is refused as the caller's mistake.
//!
//! tonic answers a body it cannot decode with `INTERNAL`, the code gRPC keeps for a server's
//! own faults; a client that sends a truncated or foreign message must hear `INVALID_ARGUMENT`
//! (docs/architecture.md §8), with the `ErrorInfo` every fundtrail refusal carries. The
//! generated servers use [`RequestCodec`] (selected in `build.rs`); the clients keep tonic's,
//! because an answer they cannot read is the server's fault.

use std::collections::HashMap;
use std::marker::PhantomData;

use prost::Message;
use tonic::codec::{Codec, DecodeBuf, Decoder};
use tonic::{Code, Status};
use tonic_prost::{ProstCodec, ProstEncoder};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of every fundtrail error.
pub const ERROR_DOMAIN: &str = "fundtrail.org";

/// The protobuf package the generated messages belong to.
const PACKAGE: &str = "fundtrail.v1";

/// The longest decoding explanation repeated to the caller. prost's are short (the path of
/// message and field names down to the failure, and a fixed description), so this only guards
/// against a surprise.
const MAX_EXPLANATION: usize = 512;

/// A server's codec: encodes answers as tonic's prost codec does and decodes requests with
/// [`RequestDecoder`].
#[derive(Debug, Clone)]
pub struct RequestCodec<T, U> {
    encoding: ProstCodec<T, U>,
    _decoding: PhantomData<U>,
}

impl<T, U> Default for RequestCodec<T, U> {
    fn default() -> Self {
        Self {
            encoding: ProstCodec::default(),
            _decoding: PhantomData,
        }
    }
}

impl<T, U> Codec for RequestCodec<T, U>
where
    T: Message + Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = T;
    type Decode = U;
    type Encoder = ProstEncoder<T>;
    type Decoder = RequestDecoder<U>;

    fn encoder(&mut self) -> Self::Encoder {
        self.encoding.encoder()
    }

    fn decoder(&mut self) -> Self::Decoder {
        RequestDecoder(PhantomData)
    }
}

/// Decodes a request of type `U`; a body that is not one is `INVALID_ARGUMENT`.
#[derive(Debug, Clone)]
pub struct RequestDecoder<U>(PhantomData<U>);

impl<U: Message + Default> Decoder for RequestDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|error| malformed(&message_name::<U>(), &error))
    }
}

/// The protobuf name of a generated message: `fundtrail.v1.RecordPledgeRequest`.
fn message_name<U>() -> String {
    let rust = std::any::type_name::<U>();
    let name = rust.rsplit("::").next().unwrap_or(rust);
    format!("{PACKAGE}.{name}")
}

/// The refusal of a body that does not decode as `message`.
pub fn malformed(message: &str, error: &prost::DecodeError) -> Status {
    let mut explanation = error.to_string();
    if explanation.len() > MAX_EXPLANATION {
        let mut end = MAX_EXPLANATION;
        while !explanation.is_char_boundary(end) {
            end -= 1;
        }
        explanation.truncate(end);
        explanation.push('…');
    }
    let details = ErrorDetails::with_error_info(
        "INVALID_ARGUMENT",
        ERROR_DOMAIN,
        HashMap::from([("message".to_owned(), message.to_owned())]),
    );
    Status::with_error_details(
        Code::InvalidArgument,
        format!(
            "the request body is not a valid {message} (protobuf encoding): {explanation}; \
             send the method's request message"
        ),
        details,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1;

    #[test]
    fn a_request_that_does_not_decode_is_the_callers_mistake() {
        let error = v1::RecordPledgeRequest::decode(&[0xff, 0xff, 0xff][..]).unwrap_err();
        let status = malformed(&message_name::<v1::RecordPledgeRequest>(), &error);
        assert_eq!(status.code(), Code::InvalidArgument);
        assert!(
            status
                .message()
                .contains("not a valid fundtrail.v1.RecordPledgeRequest"),
            "{}",
            status.message()
        );
        let info = status.get_details_error_info().expect("error info");
        assert_eq!(info.reason, "INVALID_ARGUMENT");
        assert_eq!(info.domain, ERROR_DOMAIN);
        assert_eq!(
            info.metadata.get("message").map(String::as_str),
            Some("fundtrail.v1.RecordPledgeRequest")
        );
    }
}
