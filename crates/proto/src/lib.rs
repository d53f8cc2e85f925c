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
}

/// The file descriptor set of every fundtrail proto, for gRPC reflection and for decoding
/// payloads by name.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("fundtrail_descriptor");

pub mod events;
pub mod reflect;
pub mod wire;

pub use events::{DecodeError, EncodedEvent, decode, encode};
