//! The demo binary from the outside: bad flags fail clearly, the pipe child answers a real
//! parent process, `--list` and `--only` pick steps, and the whole story runs to completion.
//!
//! `cargo test -p lesson-01 --test cli`

use std::path::Path;

use lesson_01::pipes::price_in_child;
use lesson_01::price::{Sku, list_price};
use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-01");

#[test]
fn zero_workers_is_refused_with_a_sentence_not_a_panic() {
    let output = run(DEMO, &["--workers", "0"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = text(&output.stderr);
    assert!(
        message.contains("workers must be between 1 and 1024, got 0"),
        "{message}"
    );
    assert!(!message.contains("panicked"), "{message}");
}

#[test]
fn an_unknown_flag_gets_clap_usage_and_exit_code_2() {
    let output = run(DEMO, &["--bogus"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("unexpected argument '--bogus'"));
}

#[tokio::test]
async fn a_child_process_prices_skus_over_pipes() {
    let skus = [Sku::numbered(1), Sku::numbered(2), Sku::numbered(3)];
    let session = price_in_child(Path::new(DEMO), &skus).await.unwrap();
    let child = session.child_pid.unwrap();
    assert_ne!(child, std::process::id());
    for (answer, sku) in session.answers.iter().zip(&skus) {
        assert_eq!(
            (&answer.sku, answer.price, answer.pid),
            (sku, list_price(sku), child)
        );
    }
    assert_eq!(session.answers.len(), skus.len());
}

#[test]
fn list_numbers_and_names_the_steps() {
    let output = run(DEMO, &["--list"], &[]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("2  fan-out   Fan-out, fan-in, timeouts"),
        "{stdout}"
    );
    assert!(
        stdout.contains("8  sockets   IPC over a socket pair"),
        "{stdout}"
    );
    assert!(
        !stdout.contains("Lesson 01 ·"),
        "--list runs nothing: {stdout}"
    );
}

#[test]
fn only_takes_numbers_and_names_and_refuses_the_rest_with_the_valid_steps() {
    let output = run(DEMO, &["--only", "6,traits"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("Step 1 · ") && stdout.contains("Step 6 · "),
        "{stdout}"
    );
    assert!(!stdout.contains("Step 2 ·"), "{stdout}");

    for bad in ["9", "bogus", "2,"] {
        let output = run(DEMO, &["--only", bad], &[]);
        assert_eq!(output.status.code(), Some(2), "{bad}");
        let stderr = text(&output.stderr);
        assert!(
            stderr.contains("the steps are 1 traits, 2 fan-out"),
            "{stderr}"
        );
    }
}

#[test]
fn one_step_runs_alone() {
    let output = run(DEMO, &["--only", "fan-out", "--timeout-ms", "50"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 2 · Fan-out"), "{stdout}");
    assert!(
        !stdout.contains("Step 1 ·") && !stdout.contains("Step 3 ·"),
        "{stdout}"
    );
    assert!(stdout.contains("timed out after 50 ms"), "{stdout}");
}

/// The first thing a learner runs: it must finish on its own and tell every step.
#[test]
fn the_whole_story_runs_to_completion() {
    let output = run(DEMO, &[], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let listed = listed_steps(DEMO);
    assert_eq!(listed.len(), 8, "{listed:?}");
    // Every step `--list` names runs, under the number and title `--list` gives it.
    for (number, title) in listed {
        let heading = format!("Step {number} · {title}\n");
        assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
    }
    assert!(stdout.contains("Done in"), "{stdout}");
}
