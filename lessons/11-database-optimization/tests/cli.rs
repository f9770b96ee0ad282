//! The demo binary from the outside: `--list` and `--only` pick steps, a bad flag or step fails
//! clearly, a missing PostgreSQL is one sentence per step with the command that starts it and
//! exit status 1, and the whole story runs against a real server.
//!
//! `cargo test -p lesson-11 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-11");

/// A URL nothing answers on (port 1 refuses at once), with a password that must not be printed.
const NO_POSTGRES: (&str, &str) = (
    "DATABASE_URL",
    "postgres://postgres:hunter2@127.0.0.1:1/postgres",
);

#[test]
fn list_names_the_eight_steps_in_order() {
    let output = run(DEMO, &["--list"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let stdout = text(&output.stdout);
    for (number, name) in [
        (1, "plans"),
        (2, "n-plus-one"),
        (3, "anomalies"),
        (4, "skip-locked"),
        (5, "pool-size"),
        (6, "consistent-hashing"),
        (7, "expand-contract"),
        (8, "replica"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{number}  {name} "))),
            "{name} missing:\n{stdout}"
        );
    }
    assert_eq!(listed_steps(DEMO).len(), 8, "{stdout}");
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
        stderr.contains("there is no step 9; the steps are 1 plans"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn the_hash_ring_needs_no_database() {
    let output = run(DEMO, &["--only", "consistent-hashing"], &[NO_POSTGRES]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("moved between old shards"), "{stdout}");
    assert!(!stdout.contains("PostgreSQL"), "{stdout}");
}

/// A replica URL nothing answers on, with a password that must not be printed.
const NO_REPLICA: (&str, &str) = (
    "DATABASE_REPLICA_URL",
    "postgres://postgres:hunter2@127.0.0.1:1/postgres",
);

#[test]
fn without_postgres_every_step_says_so_in_one_sentence_and_the_run_exits_1() {
    let output = run(DEMO, &[], &[NO_POSTGRES, NO_REPLICA]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let missing: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("PostgreSQL"))
        .collect();
    // Every step but the hash ring, one line each; the replica step names the replica.
    assert_eq!(missing.len(), 7, "{stdout}");
    for line in missing {
        assert!(
            (line.contains("PostgreSQL is not reachable at postgres://postgres:***@127.0.0.1:1/")
                || line.contains(
                    "PostgreSQL replica is not reachable at postgres://postgres:***@127.0.0.1:1/"
                ))
                && line.contains("cargo xtask services up"),
            "{line}"
        );
    }
    assert!(
        !stdout.contains("hunter2"),
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

#[test]
fn without_the_replica_step_8_says_so_in_one_sentence_and_exits_1() {
    // The replica is looked for first, so this holds with or without a primary.
    let output = run(DEMO, &["--only", "replica"], &[NO_REPLICA]);
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let missing: Vec<&str> = stdout
        .lines()
        .filter(|line| line.contains("not reachable"))
        .collect();
    assert_eq!(missing.len(), 1, "{stdout}");
    assert!(
        missing[0].contains(
            "The PostgreSQL replica is not reachable at postgres://postgres:***@127.0.0.1:1/postgres \
             (from DATABASE_REPLICA_URL)"
        ) && missing[0].contains("cargo xtask services up")
            && missing[0].contains("DATABASE_REPLICA_URL"),
        "{stdout}"
    );
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(stdout.contains("Step 8 · Read/write splitting"), "{stdout}");
    let stderr = text(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        !stderr.contains("failed"),
        "a missing service is not a failure:\n{stderr}"
    );
}

mod needs_postgres {
    use super::*;

    /// Every step but the replica's (tested below, where the replica answers).
    const WITHOUT_REPLICA: &str =
        "plans,n-plus-one,anomalies,skip-locked,pool-size,consistent-hashing,expand-contract";

    /// The first thing a learner runs: it must finish on its own, tell every step, and drop
    /// its schema. Its tables live in a schema of the run's own, so other tests may run beside.
    #[test]
    fn the_whole_story_runs_to_completion() {
        let output = run(DEMO, &["--only", WITHOUT_REPLICA], &[]);
        let stdout = text(&output.stdout);
        assert!(
            output.status.success(),
            "{}\n{stdout}",
            text(&output.stderr)
        );
        for (number, title) in listed_steps(DEMO).into_iter().take(7) {
            let heading = format!("Step {number} · {title}\n");
            assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
        }
        for needle in [
            "Index Only Scan",
            "GIN to_tsvector",
            "N+1 loop              101",
            "left: 9, after two sales",
            "40001 at ",
            "120/120",
            "p99",
            "moved between old shards",
            "contract: drop trigger and note",
            "Dropped this run's schema (lesson11_",
            "Done in",
        ] {
            assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
        }
    }

    mod needs_pg_replica {
        use super::*;

        /// Step 8 against the replica of `cargo xtask services up`: lag measured, both fixes
        /// without a miss, the write refused, the schema dropped.
        #[test]
        fn the_replica_step_runs_to_completion() {
            let output = run(DEMO, &["--only", "replica"], &[]);
            let stdout = text(&output.stdout);
            assert!(
                output.status.success(),
                "{}\n{stdout}",
                text(&output.stderr)
            );
            for needle in [
                "Step 8 · Read/write splitting on a streaming replica",
                "found by the first read",
                "streaming",
                "pg_last_wal_replay_lsn()",
                "naive: always the replica",
                "SQLSTATE 25006",
                "Dropped this run's schema (lesson11_",
            ] {
                assert!(stdout.contains(needle), "{needle:?} missing:\n{stdout}");
            }
            for fix in ["fix 1:", "fix 2:"] {
                let line = stdout.lines().find(|l| l.contains(fix)).unwrap_or_default();
                assert!(line.contains(" 0/100 "), "{fix} missed a write:\n{stdout}");
            }
        }
    }
}
