//! The demo binary from the outside: `--list` and `--only` pick steps, a bad flag or step fails
//! clearly, a missing service is one sentence with the command that starts it and exit status
//! 1, and the whole story runs with PostgreSQL and Redis.
//!
//! `cargo test -p lesson-09 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-09");

/// URLs nothing answers on: port 1 refuses at once.
const NO_POSTGRES: (&str, &str) = ("DATABASE_URL", "postgres://postgres@127.0.0.1:1/postgres");
const NO_REDIS: (&str, &str) = ("REDIS_URL", "redis://127.0.0.1:1");

#[test]
fn list_names_the_six_steps_in_order() {
    let output = run(DEMO, &["--list"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for (number, name) in [
        (1, "structures"),
        (2, "latency"),
        (3, "stampede"),
        (4, "early-expiry"),
        (5, "invalidation"),
        (6, "writes"),
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
        stderr.contains("there is no step 7; the steps are 1 structures"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(DEMO, &["--database", "postgres", "--only", "1"], &[]);
    assert_eq!(output.status.code(), Some(2), "the demo drops its database");
    assert!(text(&output.stderr).contains("must start with backend_rs_lesson09"));
}

#[test]
fn without_either_service_every_step_says_what_is_missing_and_the_run_exits_1() {
    let output = run(DEMO, &[], &[NO_POSTGRES, NO_REDIS]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("Redis is not reachable at redis://127.0.0.1:1 (from REDIS_URL)"),
        "{stdout}"
    );
    assert!(stdout.contains("PostgreSQL is not reachable"), "{stdout}");
    assert!(stdout.contains("cargo xtask services up"), "{stdout}");
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

mod needs_postgres {
    use super::*;

    #[test]
    fn without_redis_a_step_that_needs_both_says_so_in_one_line() {
        let output = run(DEMO, &["--only", "stampede"], &[NO_REDIS]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        let missing: Vec<&str> = stdout
            .lines()
            .filter(|line| line.contains("not reachable"))
            .collect();
        assert_eq!(missing.len(), 1, "{stdout}");
        assert!(missing[0].contains("Redis") && missing[0].contains("cargo xtask services up"));
        assert!(!text(&output.stderr).contains("panicked"));
    }
}

mod needs_redis {
    use super::*;

    #[test]
    fn without_postgres_the_redis_tour_still_runs() {
        let output = run(DEMO, &["--only", "structures,latency"], &[NO_POSTGRES]);
        assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        assert!(
            stdout.contains("ZREVRANGE views:today 0 2 WITHSCORES"),
            "{stdout}"
        );
        assert!(stdout.contains("one pipeline"), "{stdout}");
        assert!(stdout.contains("PostgreSQL is not reachable"), "{stdout}");
        assert!(!text(&output.stderr).contains("panicked"));
    }

    mod needs_postgres {
        use super::*;

        /// The first thing a learner runs: it must finish on its own and tell every step. Its
        /// own database name, so a learner's run (or another test) is not dropped under it.
        #[test]
        fn the_whole_story_runs_to_completion() {
            let database = format!("backend_rs_lesson09_cli_{}", std::process::id());
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
            for needle in [
                "one pipeline",
                "TwoTier, memory hit",
                "TwoTier, one process",
                "XFetch, one at a time",
                "B heard it in",
                "product:v2:",
                "write-behind, flush every",
                "Deleted this run's",
                "Done in",
            ] {
                assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
            }
        }
    }
}
