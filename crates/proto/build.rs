//! Compiles `proto/fundtrail/v1` with protox (no protoc needed) and generates the prost
//! messages and tonic services, plus the file descriptor set served by gRPC reflection.
//!
//! The servers are generated apart from the messages and clients, because they read requests
//! with a codec of their own (`crate::codec::RequestCodec`): a request body that is not the
//! method's message is the caller's mistake (`INVALID_ARGUMENT`), while a client that cannot
//! read a server's answer has met the server's fault, which gRPC calls `INTERNAL` and tonic's
//! codec already says.

use std::path::PathBuf;

use prost::Message;
use prost_types::FileDescriptorSet;

const FILES: &[&str] = &[
    "fundtrail/v1/common.proto",
    "fundtrail/v1/events.proto",
    "fundtrail/v1/pledges.proto",
    "fundtrail/v1/milestones.proto",
    "fundtrail/v1/disbursements.proto",
    "fundtrail/v1/funding.proto",
    "fundtrail/v1/audit.proto",
    "fundtrail/v1/attention.proto",
];

/// Where the servers are written, under `OUT_DIR`; `src/lib.rs` includes them into `v1`.
const SERVERS_DIR: &str = "servers";

/// The same files with their services alone: the messages they name are already generated,
/// in `crate::v1`.
fn services_only(descriptors: &FileDescriptorSet) -> FileDescriptorSet {
    let mut services = descriptors.clone();
    for file in &mut services.file {
        file.message_type.clear();
        file.enum_type.clear();
        file.extension.clear();
    }
    services
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    println!("cargo:rerun-if-changed={}", root.display());
    let descriptors = protox::compile(FILES, [&root])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out.join("fundtrail_descriptor.bin"),
        descriptors.encode_to_vec(),
    )?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(false)
        .compile_fds(descriptors.clone())?;
    let servers = out.join(SERVERS_DIR);
    std::fs::create_dir_all(&servers)?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(true)
        .codec_path("crate::codec::RequestCodec")
        .extern_path(".fundtrail.v1", "crate::v1")
        .out_dir(&servers)
        .compile_fds(services_only(&descriptors))?;
    Ok(())
}
