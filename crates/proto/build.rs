//! Compiles `proto/fundtrail/v1` with protox (no protoc needed) and generates the prost
//! messages and tonic services, plus the file descriptor set served by gRPC reflection.

use std::path::PathBuf;

use prost::Message;

const FILES: &[&str] = &[
    "fundtrail/v1/common.proto",
    "fundtrail/v1/events.proto",
    "fundtrail/v1/pledges.proto",
    "fundtrail/v1/milestones.proto",
    "fundtrail/v1/disbursements.proto",
    "fundtrail/v1/funding.proto",
    "fundtrail/v1/audit.proto",
];

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
        .build_server(true)
        .compile_fds(descriptors)?;
    Ok(())
}
