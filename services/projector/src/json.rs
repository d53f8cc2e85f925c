//! Stored payloads as JSON, decoded with nothing but the `.proto` descriptors: what an
//! auditor's or a donor's own tooling would do.

use std::sync::LazyLock;

use prost_reflect::{DescriptorPool, DynamicMessage};

static POOL: LazyLock<Result<DescriptorPool, String>> = LazyLock::new(|| {
    DescriptorPool::decode(fundtrail_proto::FILE_DESCRIPTOR_SET).map_err(|e| e.to_string())
});

/// The protobuf JSON form of a message given its full type name and bytes.
pub fn to_json(type_name: &str, bytes: &[u8]) -> Result<String, String> {
    let pool = POOL.as_ref().map_err(Clone::clone)?;
    let descriptor = pool
        .get_message_by_name(type_name)
        .ok_or_else(|| format!("unknown message type {type_name}"))?;
    let message = DynamicMessage::decode(descriptor, bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(&message).map_err(|e| e.to_string())
}
