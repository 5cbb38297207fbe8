//! Compiles `proto/payments.proto` without a system `protoc`: protox (a protobuf compiler in
//! Rust) parses it into a file descriptor set, tonic-prost-build generates the messages, the
//! client and the server trait from that set, and the encoded set is written beside them for
//! the reflection service, so `grpcurl` can discover the API without the .proto file.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let root = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("../../proto");
    let proto = root.join("payments.proto");
    println!("cargo:rerun-if-changed={}", proto.display());

    let mut compiler = protox::Compiler::new([&root])?;
    compiler
        .include_source_info(true)
        .open_file("payments.proto")?;
    let out_dir = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(
        out_dir.join("payments_descriptor.bin"),
        compiler.encode_file_descriptor_set(),
    )?;
    tonic_prost_build::configure().compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}
