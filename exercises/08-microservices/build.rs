//! Compiles `proto/stock.proto` into Rust for part (c): given code, shared by the stub and the
//! reference solution (whose Cargo.toml says `build = "../build.rs"`).
//!
//! protox parses the `.proto` file into descriptors, in Rust, so no system `protoc` is needed;
//! tonic-prost-build writes the messages, the server trait and the client into `OUT_DIR`, where
//! `tonic::include_proto!("stock.v1")` in `src/given.rs` finds them.

use std::error::Error;
use std::path::PathBuf;

fn main() -> Result<(), Box<dyn Error>> {
    // The stub's package is the exercise's directory; the solution's is `.solution/`, one level
    // down. Either way the exercise's directory is the one that holds `proto/`.
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let exercise_dir = if manifest_dir.join("proto").is_dir() {
        manifest_dir
    } else {
        manifest_dir.join("..")
    };
    let proto_dir = exercise_dir.join("proto");

    // Without these lines Cargo reruns a build script whenever any file of its package changes,
    // src/lib.rs included: every edit of the exercise would regenerate the code and rebuild
    // everything on it. With them, only the proto file and this script count.
    println!(
        "cargo:rerun-if-changed={}",
        proto_dir.join("stock.proto").display()
    );
    println!(
        "cargo:rerun-if-changed={}",
        exercise_dir.join("build.rs").display()
    );

    let descriptors = protox::compile(["stock.proto"], [&proto_dir])?;
    tonic_prost_build::configure()
        .build_server(true)
        .build_client(true)
        .compile_fds(descriptors)?;
    Ok(())
}
