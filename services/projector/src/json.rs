//! Stored payloads as JSON, decoded with nothing but the `.proto` descriptors: what an
//! auditor's or a donor's own tooling would do.

/// The protobuf JSON form of a message given its full type name and bytes.
pub fn to_json(type_name: &str, bytes: &[u8]) -> Result<String, String> {
    let message = fundtrail_proto::reflect::decode(type_name, bytes).map_err(|e| e.to_string())?;
    serde_json::to_string(&message).map_err(|e| e.to_string())
}
