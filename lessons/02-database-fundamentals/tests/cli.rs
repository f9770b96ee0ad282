//! The demo binary from the outside: without PostgreSQL it explains itself and fails cleanly,
//! `--list` names the steps, and bad flags are usage errors. (The full run needs the services;
//! `cargo run -p lesson-02`.)
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

#[test]
fn list_names_the_steps_and_the_three_that_always_run() {
    let output = run(
        DEMO,
        &["--list"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("3  seed          Seed: a year of shop history  [always runs]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("8  reviews       Reviews as documents in MongoDB\n"),
        "{stdout}"
    );
    assert!(
        text(&output.stderr).is_empty(),
        "PostgreSQL is not even tried"
    );
}

#[test]
fn only_refuses_what_is_not_a_step_and_names_the_steps() {
    for bad in ["9", "mongo", "4,,5"] {
        let output = run(DEMO, &["--only", bad], &[]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("the steps are 1 connect, 2 migrate, 3 seed, 4 queries"),
            "{stderr}"
        );
    }
    // A good one gets as far as step 1, which needs PostgreSQL like every run.
    let output = run(
        DEMO,
        &["--only", "plans,8"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(text(&output.stderr).contains("cargo xtask services up"));
}
