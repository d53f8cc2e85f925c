//! The fundtrail contracts: messages and services generated from `proto/fundtrail/v1`, and the
//! conversions between them and the domain.

#[allow(
    clippy::all,
    clippy::pedantic,
    missing_debug_implementations,
    reason = "generated code"
)]
pub mod v1 {
    tonic::include_proto!("fundtrail.v1");
    // The servers, generated apart so that they decode requests with `crate::codec`.
    include!(concat!(env!("OUT_DIR"), "/servers/fundtrail.v1.rs"));
}

/// The file descriptor set of every fundtrail proto, for gRPC reflection and for decoding
/// payloads by name.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("fundtrail_descriptor");

pub mod codec;
pub mod events;
pub mod reflect;
pub mod wire;

pub use codec::ERROR_DOMAIN;
pub use events::{DecodeError, EncodedEvent, decode, encode};
