//! The demo binary from the outside: without PostgreSQL it explains itself and exits 1, bad
//! flags are usage errors (exit 2), `--help` and `--list` work, and with PostgreSQL the whole
//! story runs, or the steps `--only` picks.
//!
//! `cargo test -p lesson-05 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-05");

#[test]
fn an_unreachable_postgres_is_explained_and_exits_1_without_a_panic() {
    let output = run(
        DEMO,
        &[],
        &[("DATABASE_URL", "postgres://postgres:hunter2@127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("PostgreSQL is not reachable"), "{stderr}");
    assert!(stderr.contains("cargo xtask services up"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    let all = format!("{}{stderr}", text(&output.stdout));
    assert!(
        !all.contains("hunter2"),
        "the password is never printed: {all}"
    );
    assert!(!all.contains("Step 2"), "nothing runs after step 1: {all}");
}

#[test]
fn bad_flags_are_usage_errors() {
    for args in [
        &["--products", "3"][..],
        &["--page-size", "0"],
        &["--frobnicate"],
        // The demo drops the database it is given: only names with its own prefix.
        &["--database", "postgres"],
        &["--database", "backend_rs_lesson05; DROP TABLE x"],
        &["--only", "8"],
        &["--only", "keyset"],
    ] {
        let output = run(DEMO, args, &[]);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = text(&output.stderr);
        assert!(stderr.contains(args[0]), "{stderr}");
    }
}

#[test]
fn help_lists_the_options() {
    let output = run(DEMO, &["--help"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for flag in ["--products", "--page-size", "--keep", "--database"] {
        assert!(stdout.contains(flag), "{stdout}");
    }
}

#[test]
fn list_names_the_steps_and_what_each_needs() {
    let output = run(
        DEMO,
        &["--list"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("1  setup       A catalog to work with  [always runs]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("6  patch       PATCH: absent, null, or a value  [needs 5]"),
        "{stdout}"
    );
    assert!(
        text(&output.stderr).is_empty(),
        "PostgreSQL is not even tried"
    );
}

/// The whole demo against a real server, in a database named after this process, so that a
/// learner's `cargo run -p lesson-05` at the same moment keeps its own.
#[test]
fn needs_postgres_the_demo_runs_every_step_and_cleans_up() {
    let database = format!("backend_rs_lesson05_cli_{}", std::process::id());
    let output = run(
        DEMO,
        &[
            "--products",
            "300",
            "--page-size",
            "10",
            "--database",
            &database,
        ],
        &[],
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    let listed = listed_steps(DEMO);
    assert_eq!(listed.len(), 7, "{listed:?}");
    // Every step `--list` names runs, under the number and title `--list` gives it.
    for (number, title) in listed {
        let heading = format!("Step {number} · {title}\n");
        assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
    }
    assert!(
        stdout.contains(&format!("The demo database {database} was dropped again")),
        "{stdout}"
    );
}

/// `--only patch` brings step 5 along, which creates the product step 6 patches.
#[test]
fn needs_postgres_only_runs_a_step_with_what_it_needs() {
    let database = format!("backend_rs_lesson05_only_{}", std::process::id());
    let output = run(
        DEMO,
        &[
            "--products",
            "100",
            "--only",
            "patch,2",
            "--database",
            &database,
        ],
        &[],
    );
    let stdout = text(&output.stdout);
    let stderr = text(&output.stderr);
    assert_eq!(output.status.code(), Some(0), "{stdout}\n{stderr}");
    for shown in ["Step 1 ·", "Step 2 ·", "Step 5 ·", "Step 6 ·"] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    for skipped in ["Step 3 ·", "Step 4 ·", "Step 7 ·"] {
        assert!(!stdout.contains(skipped), "{skipped} ran:\n{stdout}");
    }
}
