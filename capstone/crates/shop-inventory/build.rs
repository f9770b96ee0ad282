//! Compiles `proto/inventory.proto` into Rust: the messages, the `Inventory` server trait and
//! the generated client, which `src/lib.rs` includes as `proto`.
//!
//! protox parses the file in Rust, so building needs no system `protoc`.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    let proto_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?).join("proto");
    // Without these, Cargo reruns the script on any change in the package: every edit of a
    // source file would regenerate the code and rebuild all that sits on it.
    println!(
        "cargo:rerun-if-changed={}",
        proto_dir.join("inventory.proto").display()
    );
    println!("cargo:rerun-if-changed=build.rs");

    let descriptors = protox::compile(["inventory.proto"], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
