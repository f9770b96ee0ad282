//! The demo binary from the outside: bad flags fail clearly, the story runs to completion,
//! `--list` and `--only` pick steps, and `--serve` serves until Ctrl-C, then stops gracefully.
//!
//! `cargo test -p lesson-03 --test cli`

use lesson_03::client::{ApiClient, Protocol};
use testkit::cli::{Served, listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-03");

#[test]
fn out_of_range_values_are_refused_with_a_sentence() {
    let output = run(DEMO, &["--timeout-ms", "0"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let message = text(&output.stderr);
    assert!(message.contains("--timeout-ms"), "{message}");
    assert!(message.contains("100..=8000"), "{message}");
    assert!(!message.contains("panicked"), "{message}");

    let output = run(DEMO, &["--serve", "--addr", "localhost"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("invalid socket address"));
}

#[test]
fn addr_without_serve_is_a_usage_error() {
    let output = run(DEMO, &["--addr", "127.0.0.1:8080"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("--serve"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn a_port_in_use_is_reported_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = run(DEMO, &["--serve", "--addr", &addr], &[]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(&format!("could not listen on {addr}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The first thing a learner runs: it must finish on its own and tell every step.
#[test]
fn the_whole_story_runs_to_completion() {
    let output = run(DEMO, &[], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let listed = listed_steps(DEMO);
    assert_eq!(listed.len(), 7, "{listed:?}");
    // Every step `--list` names runs, under the number and title `--list` gives it.
    for (number, title) in listed {
        let heading = format!("Step {number} · {title}\n");
        assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
    }
    assert!(stdout.contains("HTTP/2.0"), "{stdout}");
    assert!(stdout.contains("Done in"), "{stdout}");
}

#[test]
fn list_shows_the_steps_that_always_run() {
    let output = run(DEMO, &["--list"], &[]);
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("1  start       Start the server  [always runs]"),
        "{stdout}"
    );
    assert!(
        stdout.contains("3  errors      One error format"),
        "{stdout}"
    );
    assert!(
        stdout.contains("7  shutdown    Graceful shutdown  [always runs]"),
        "{stdout}"
    );
}

#[test]
fn only_takes_numbers_and_names_and_refuses_the_rest() {
    let output = run(DEMO, &["--only", "4,errors"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for shown in ["Step 1 · ", "Step 3 · ", "Step 4 · ", "Step 7 · "] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("Step 2 · ") && !stdout.contains("Step 5 · "),
        "{stdout}"
    );

    let output = run(DEMO, &["--only", "8"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("there is no step 8; the steps are 1 start"),
        "{stderr}"
    );
    let output = run(DEMO, &["--serve", "--only", "2"], &[]);
    assert_eq!(output.status.code(), Some(2), "--serve runs no steps");
}

#[test]
fn one_step_runs_between_start_and_shutdown() {
    let output = run(DEMO, &["--only", "errors"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 3 · "), "{stdout}");
    assert!(!stdout.contains("Step 2 · "), "{stdout}");
    assert!(stdout.contains("Step 7 · Graceful shutdown"), "{stdout}");
}

/// `--serve` on a free port answers real requests; SIGINT (Ctrl-C) stops it gracefully.
#[cfg(unix)]
#[tokio::test]
async fn serve_mode_answers_until_ctrl_c() {
    let served = Served::start(DEMO, &[]);
    let client = ApiClient::new(served.url().to_owned(), Protocol::Http1KeepAlive).unwrap();
    let products: serde_json::Value = client
        .get("/products")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(products["items"].as_array().unwrap().len(), 3, "seeded");

    let stopped = served.interrupt();
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(stopped.stdout.contains("Stopped."), "{stopped:?}");
}
