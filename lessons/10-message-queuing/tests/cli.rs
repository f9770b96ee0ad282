//! The demo binary from the outside: `--list` and `--only` pick steps, a bad flag or step fails
//! clearly, a missing service is one sentence with the command that starts it and exit status
//! 1, and the whole story runs with RabbitMQ, Redis and PostgreSQL.
//!
//! `cargo test -p lesson-10 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-10");

/// URLs nothing answers on: port 1 refuses at once.
const NO_RABBITMQ: (&str, &str) = ("AMQP_URL", "amqp://guest:guest@127.0.0.1:1/%2f");
const NO_REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1:1");
const NO_POSTGRES: (&str, &str) = (
    "DATABASE_URL",
    "postgres://postgres:hunter2@127.0.0.1:1/postgres",
);

#[test]
fn list_names_the_seven_steps_in_order() {
    let output = run(DEMO, &["--list"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for (number, name) in [
        (1, "exchanges"),
        (2, "confirms"),
        (3, "acks"),
        (4, "retries"),
        (5, "schemas"),
        (6, "log"),
        (7, "outbox"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{number}  {name} "))),
            "{name} missing:\n{stdout}"
        );
    }
    assert_eq!(listed_steps(DEMO).len(), 7, "{stdout}");
}

#[test]
fn bad_flags_and_bad_steps_exit_2_with_a_sentence() {
    let output = run(DEMO, &["--bogus"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--bogus"));

    let output = run(DEMO, &["--only", "9"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("there is no step 9; the steps are 1 exchanges"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_schema_step_needs_no_service() {
    let output = run(DEMO, &["--only", "schemas"], &[NO_RABBITMQ, NO_REDIS]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("upcast to currency \"EUR\""), "{stdout}");
    assert!(stdout.contains("protobuf"), "{stdout}");
}

#[test]
fn without_the_services_every_step_says_what_is_missing_and_the_run_exits_1() {
    let output = run(DEMO, &[], &[NO_RABBITMQ, NO_REDIS, NO_POSTGRES]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            "RabbitMQ is not reachable at amqp://guest:***@127.0.0.1:1/%2f (from AMQP_URL)"
        ),
        "{stdout}"
    );
    assert!(stdout.contains("Redis is not reachable"), "{stdout}");
    assert!(stdout.contains("cargo xtask services up"), "{stdout}");
    assert!(
        !stdout.contains("guest:guest"),
        "no password printed:\n{stdout}"
    );
    for (number, title) in listed_steps(DEMO) {
        assert!(
            stdout.contains(&format!("Step {number} · {title}\n")),
            "{stdout}"
        );
    }
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("failed"),
        "a missing service is not a failure:\n{stderr}"
    );
}

mod needs_rabbitmq {
    use super::*;

    #[test]
    fn the_outbox_step_says_when_postgresql_is_missing_without_its_password() {
        let output = run(DEMO, &["--only", "outbox"], &[NO_POSTGRES]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("PostgreSQL is not reachable at"),
            "{stdout}"
        );
        assert!(stdout.contains("cargo xtask services up"), "{stdout}");
        assert!(
            !stdout.contains("hunter2"),
            "no password printed:\n{stdout}"
        );
    }

    mod needs_redis_needs_postgres {
        use super::*;

        /// The first thing a learner runs: it must finish on its own and tell every step.
        #[test]
        fn the_whole_story_runs_to_completion() {
            let output = run(DEMO, &[], &[]);
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
            for needle in [
                "fan-analytics",
                "312 NO_ROUTE",
                "redelivered=true",
                "→ jobs.dlq",
                "seen before, acked without sending",
                "tags 3 and 4 skipped",
                "Redis stream (XLEN)",
                "20 orders committed, 20 events lost",
                "20 events waiting, 3 attempts each",
                "20 (20 distinct)",
                "Dropped this run's database",
                "Deleted this run's queues and exchanges",
                "Done in",
            ] {
                assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
            }
        }
    }
}
