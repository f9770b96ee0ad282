//! The demo binary from the outside: the whole story runs and exits 0 with PostgreSQL, says
//! in one line what is missing and still runs the rest without it (exit 1), and refuses bad
//! flags (exit 2).
//!
//! `cargo test -p lesson-06 --test cli`

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Output, Stdio};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-06");

fn demo(args: &[&str], env: &[(&str, &str)]) -> Output {
    Command::new(DEMO)
        .args(args)
        .envs(env.iter().copied())
        .env("RUST_BACKTRACE", "0")
        .output()
        .expect("the demo binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn needs_postgres_the_whole_story_runs_to_completion() {
    // testkit's discovery (DATABASE_URL or the default port) decides where PostgreSQL is.
    let endpoint = testkit::discover::locate(testkit::Service::Postgres)
        .unwrap_or_else(|why| panic!("{why:?}"));
    let output = demo(&[], &[("DATABASE_URL", &endpoint.url)]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    for step in 1..=7 {
        assert!(
            stdout.contains(&format!("Step {step} · ")),
            "step {step}:\n{stdout}"
        );
    }
    assert!(
        stdout.contains("GOT THROUGH: password hash in the"),
        "{stdout}"
    );
    assert!(stdout.contains("TLSv1_3"), "{stdout}");
    assert!(stdout.contains("Done in"), "{stdout}");
}

#[test]
fn without_postgres_it_says_so_in_one_line_runs_the_rest_and_exits_1() {
    // Port 1 on loopback: nothing listens there, so the connection is refused at once.
    let output = demo(
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
fn one_step_runs_alone() {
    let output = demo(
        &["--only", "tls"],
        &[("DATABASE_URL", "postgres://127.0.0.1:1/x")],
    );
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 3 · "), "{stdout}");
    assert!(!stdout.contains("Step 2 · "), "{stdout}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let output = demo(&["--only", "everything"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--only"));
    let output = demo(&["--addr", "127.0.0.1:8080"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--serve"));
}

#[test]
fn the_lab_refuses_to_listen_beyond_loopback() {
    let output = demo(&["--serve", "--addr", "0.0.0.0:3000"], &[]);
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
    let mut child = Command::new(DEMO)
        .args(["--serve", "--addr", "127.0.0.1:0"])
        .env("DATABASE_URL", "postgres://127.0.0.1:1/x")
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first_line = String::new();
    stdout.read_line(&mut first_line).unwrap();
    let base = first_line
        .split_whitespace()
        .find(|word| word.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {first_line:?}"))
        .trim_end_matches('.')
        .to_owned();

    let client = reqwest::Client::builder().no_proxy().build().unwrap();
    let page = client
        .get(format!("{base}/fixed/comments"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers().contains_key("content-security-policy"));

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("Stopped."), "{rest}");
}
