//! The demo binary from the outside: without PostgreSQL it explains itself and fails cleanly,
//! and bad flags are usage errors. (The full run needs the services; `cargo run -p lesson-02`.)
//!
//! `cargo test -p lesson-02 --test cli`

use std::process::{Command, Output};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-02");

fn demo(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(DEMO)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the demo binary runs")
}

#[test]
fn an_unreachable_postgres_is_explained_and_exits_1_without_a_panic() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = demo(
        &[],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/x"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo xtask services up"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        !stdout.contains("Step 2"),
        "nothing runs after step 1: {stdout}"
    );
}

#[test]
fn a_password_in_database_url_is_never_printed() {
    let output = demo(
        &[],
        &[("DATABASE_URL", "postgres://shop:hunter2@127.0.0.1:1/x")],
    );
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("postgres://shop:***@127.0.0.1:1/x"), "{all}");
}

#[test]
fn a_product_count_out_of_range_is_a_usage_error() {
    let output = demo(&["--products", "3"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--products"), "{stderr}");
}
