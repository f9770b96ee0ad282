//! The demo binary from the outside: without PostgreSQL it explains itself and fails cleanly,
//! and bad flags are usage errors. (The full run needs the services; `cargo run -p lesson-02`.)
//!
//! `cargo test -p lesson-02 --test cli`

use testkit::cli::{run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-02");

#[test]
fn an_unreachable_postgres_is_explained_and_exits_1_without_a_panic() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = run(
        DEMO,
        &[],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("PostgreSQL is not reachable at postgres://postgres@127.0.0.1:1/x"),
        "{stderr}"
    );
    assert!(stderr.contains("cargo xtask services up"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let stdout = text(&output.stdout);
    assert!(
        !stdout.contains("Step 2"),
        "nothing runs after step 1: {stdout}"
    );
}

#[test]
fn a_password_in_database_url_is_never_printed() {
    let output = run(
        DEMO,
        &[],
        &[("DATABASE_URL", "postgres://shop:hunter2@127.0.0.1:1/x")],
    );
    let all = format!("{}{}", text(&output.stdout), text(&output.stderr));
    assert!(!all.contains("hunter2"), "{all}");
    assert!(all.contains("postgres://shop:***@127.0.0.1:1/x"), "{all}");
}

#[test]
fn a_product_count_out_of_range_is_a_usage_error() {
    let output = run(DEMO, &["--products", "3"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--products"), "{stderr}");
}
