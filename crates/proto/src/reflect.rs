//! Messages decoded with nothing but the `.proto` descriptors compiled into this crate, as a
//! donor's or an auditor's own tooling would decode them: for JSON renderings of payloads.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage};

static POOL: LazyLock<Result<DescriptorPool, String>> =
    LazyLock::new(|| DescriptorPool::decode(crate::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string()));

/// Why a message could not be decoded by its type name.
#[derive(Debug, thiserror::Error)]
pub enum ReflectError {
    #[error("the built-in protobuf descriptors are unreadable: {0}")]
    Descriptors(String),
    #[error("unknown message type {0}")]
    UnknownType(String),
    #[error("cannot decode a {type_name}: {message}")]
    Decode { type_name: String, message: String },
}

/// Every message and service of fundtrail's contracts.
pub fn descriptors() -> Result<&'static DescriptorPool, ReflectError> {
    POOL.as_ref()
        .map_err(|e| ReflectError::Descriptors(e.clone()))
}

/// `bytes` decoded as the message named `type_name` (its protobuf full name).
pub fn decode(type_name: &str, bytes: &[u8]) -> Result<DynamicMessage, ReflectError> {
    let descriptor = descriptors()?
        .get_message_by_name(type_name)
        .ok_or_else(|| ReflectError::UnknownType(type_name.to_owned()))?;
    DynamicMessage::decode(descriptor, bytes).map_err(|e| ReflectError::Decode {
        type_name: type_name.to_owned(),
        message: e.to_string(),
    })
}
