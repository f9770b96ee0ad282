//! The demo binary from the outside: the whole story runs and exits 0 with PostgreSQL, says
//! in one line what is missing and still runs the rest without it (exit 1), picks steps with
//! `--list` and `--only`, and refuses bad flags (exit 2).
//!
//! `cargo test -p lesson-06 --test cli`

use testkit::cli::{Served, listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-06");

/// The whole demo against a real server, in a database named after this process, so that a
/// learner's `cargo run -p lesson-06` at the same moment keeps its own.
#[test]
fn needs_postgres_the_whole_story_runs_to_completion() {
    // testkit's discovery (DATABASE_URL or the default port) decides where PostgreSQL is.
    let endpoint = testkit::discover::locate(testkit::Service::Postgres)
        .unwrap_or_else(|why| panic!("{why:?}"));
    let database = format!("backend_rs_lesson06_cli_{}", std::process::id());
    let output = run(
        DEMO,
        &["--database", &database],
        &[("DATABASE_URL", &endpoint.url)],
    );
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    let listed = listed_steps(DEMO);
    assert_eq!(listed.len(), 7, "{listed:?}");
    // Every step `--list` names runs, under the number and title `--list` gives it.
    for (number, title) in listed {
        let heading = format!("Step {number} · {title}\n");
        assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("GOT THROUGH: password hash in the"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!("fresh database {database} with")),
        "{stdout}"
    );
    assert!(stdout.contains("TLSv1_3"), "{stdout}");
    assert!(stdout.contains("Done in"), "{stdout}");
}

#[test]
fn without_postgres_it_says_so_in_one_line_runs_the_rest_and_exits_1() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = run(
        DEMO,
        &[],
        &[("DATABASE_URL", "postgres://shop:hunter2@127.0.0.1:1/x")],
    );
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cargo xtask services up"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password is never printed: {stderr}"
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("skipped: PostgreSQL not running"),
        "{stdout}"
    );
    assert!(stdout.contains("Step 7 · "), "{stdout}");
    assert!(!stdout.contains("panicked"), "{stdout}");
}

#[test]
fn list_names_the_steps_without_running_any() {
    let output = run(
        DEMO,
        &["--list"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains("1  start        Start the lab  [always runs]"),
        "{stdout}"
    );
    assert!(stdout.contains("5  rate-limits  Rate limiting"), "{stdout}");
    assert!(
        text(&output.stderr).is_empty(),
        "PostgreSQL is not even tried"
    );
}

#[test]
fn only_takes_numbers_and_names_mixed() {
    let output = run(
        DEMO,
        &["--only", "privacy,4"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    let stdout = text(&output.stdout);
    for shown in ["Step 1 · ", "Step 4 · ", "Step 7 · "] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("Step 2 · ") && !stdout.contains("Step 5 · "),
        "{stdout}"
    );
    assert_eq!(
        output.status.code(),
        Some(1),
        "still 1: PostgreSQL was missing"
    );
}

#[test]
fn one_step_runs_alone() {
    let output = run(
        DEMO,
        &["--only", "tls"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 3 · "), "{stdout}");
    assert!(!stdout.contains("Step 2 · "), "{stdout}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let output = run(DEMO, &["--only", "everything"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--only"), "{stderr}");
    assert!(
        stderr.contains("the steps are 1 start, 2 attacks"),
        "{stderr}"
    );
    let output = run(DEMO, &["--addr", "127.0.0.1:8080"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--serve"));
    // The demo drops the database it is given: only names with its own prefix.
    let output = run(DEMO, &["--database", "postgres"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        text(&output.stderr).contains("must start with backend_rs_lesson06"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn the_lab_refuses_to_listen_beyond_loopback() {
    let output = run(DEMO, &["--serve", "--addr", "0.0.0.0:3000"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("0.0.0.0 is not a loopback address"),
        "{stderr}"
    );
}

/// `--serve` answers real requests (vulnerable ones included, on loopback) until SIGINT.
#[cfg(unix)]
#[tokio::test]
async fn serve_mode_answers_until_ctrl_c() {
    let served = Served::start(DEMO, &[("DATABASE_URL", "postgres://127.0.0.1:1/x")]);
    let base = served.url();
    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client
        .get(format!("{base}/fixed/comments"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));

    let stopped = served.interrupt();
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(stopped.stdout.contains("Stopped."), "{stopped:?}");
}
