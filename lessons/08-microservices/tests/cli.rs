//! The demo binary from the outside: `--list` and `--only` pick steps, a bad flag or step fails
//! clearly, the event-sourcing step runs without any service, and the whole story runs with
//! PostgreSQL.
//!
//! `cargo test -p lesson-08 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-08");

#[test]
fn list_names_the_six_steps_in_order() {
    let output = run(DEMO, &["--list"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for (number, name) in [
        (1, "grpc"),
        (2, "retries"),
        (3, "breaker"),
        (4, "bulkhead"),
        (5, "saga"),
        (6, "events"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{number}  {name} "))),
            "{name} missing:\n{stdout}"
        );
    }
    assert_eq!(listed_steps(DEMO).len(), 6, "{stdout}");
}

#[test]
fn bad_flags_and_bad_steps_exit_2_with_a_sentence() {
    let output = run(DEMO, &["--bogus"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--bogus"));

    let output = run(DEMO, &["--only", "7"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("there is no step 7; the steps are 1 grpc"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(DEMO, &["--database", "postgres", "--only", "events"], &[]);
    assert_eq!(output.status.code(), Some(2), "the demo drops its database");
    assert!(text(&output.stderr).contains("must start with backend_rs_lesson08"));
}

#[test]
fn the_events_step_runs_alone_without_any_service() {
    // A database URL nothing answers on: the step must not need it.
    let output = run(
        DEMO,
        &["--only", "events"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 6 · Event sourcing"), "{stdout}");
    assert!(!stdout.contains("Step 5 · "), "{stdout}");
    assert!(stdout.contains("cannot ship"), "{stdout}");
}

#[test]
fn without_postgres_the_steps_that_need_it_say_so_and_the_run_exits_1() {
    let output = run(
        DEMO,
        &["--only", "grpc,events"],
        &[("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("cargo xtask services up"), "{stdout}");
    assert!(
        stdout.contains("Step 6 · Event sourcing"),
        "the other steps still run:\n{stdout}"
    );
    assert!(!text(&output.stderr).contains("panicked"));
}

mod needs_postgres {
    use super::*;

    /// The first thing a learner runs: it must finish on its own and tell every step. Its own
    /// database name, so a learner's run (or another test) is not dropped under it.
    #[test]
    fn the_whole_story_runs_to_completion() {
        let database = format!("backend_rs_lesson08_cli_{}", std::process::id());
        let output = run(DEMO, &["--database", &database], &[]);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{}\n{stdout}",
            text(&output.stderr)
        );
        for (number, title) in listed_steps(DEMO) {
            let heading = format!("Step {number} · {title}\n");
            assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
        }
        assert!(stdout.contains("breaker OPEN"), "{stdout}");
        assert!(stdout.contains("Retry-After: 1"), "{stdout}");
        assert!(stdout.contains("recovered"), "{stdout}");
        assert!(stdout.contains("Done in"), "{stdout}");
    }
}
