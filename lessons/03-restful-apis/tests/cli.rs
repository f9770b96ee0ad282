//! The demo binary from the outside: bad flags fail clearly, the story runs to completion, and
//! `--serve` serves until Ctrl-C, then stops gracefully.
//!
//! `cargo test -p lesson-03 --test cli`

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use lesson_03::client::{ApiClient, Protocol};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-03");

fn demo(args: &[&str]) -> Output {
    Command::new(DEMO)
        .args(args)
        .output()
        .expect("the demo binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn out_of_range_values_are_refused_with_a_sentence() {
    let output = demo(&["--timeout-ms", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(message.contains("--timeout-ms"), "{message}");
    assert!(message.contains("100..=8000"), "{message}");
    assert!(!message.contains("panicked"), "{message}");

    let output = demo(&["--serve", "--addr", "localhost"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("invalid socket address"));
}

#[test]
fn addr_without_serve_is_a_usage_error() {
    let output = demo(&["--addr", "127.0.0.1:8080"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--serve"), "{}", stderr(&output));
}

#[test]
fn a_port_in_use_is_reported_with_what_to_do() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let output = demo(&["--serve", "--addr", &addr]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = stderr(&output);
    assert!(
        stderr.contains(&format!("could not listen on {addr}")),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// The first thing a learner runs: it must finish on its own and tell every step.
#[test]
fn the_whole_story_runs_to_completion() {
    let output = demo(&[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    for step in 1..=7 {
        assert!(
            stdout.contains(&format!("Step {step} · ")),
            "step {step} missing:\n{stdout}"
        );
    }
    assert!(stdout.contains("HTTP/2.0"), "{stdout}");
    assert!(stdout.contains("Done in"), "{stdout}");
}

#[test]
fn one_step_runs_between_start_and_shutdown() {
    let output = demo(&["--only", "errors"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("Step 3 · "), "{stdout}");
    assert!(!stdout.contains("Step 2 · "), "{stdout}");
    assert!(stdout.contains("Step 7 · Graceful shutdown"), "{stdout}");
}

/// `--serve` on a free port answers real requests; SIGINT (Ctrl-C) stops it gracefully.
#[cfg(unix)]
#[tokio::test]
async fn serve_mode_answers_until_ctrl_c() {
    let mut child = Command::new(DEMO)
        .args(["--serve", "--addr", "127.0.0.1:0"])
        .env("RUST_LOG", "off")
        .stdout(Stdio::piped())
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

    let client = ApiClient::new(base, Protocol::Http1KeepAlive).unwrap();
    let products: serde_json::Value = client
        .get("/products")
        .send()
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(products["items"].as_array().unwrap().len(), 3, "seeded");

    let interrupted = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(interrupted.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status}");
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(rest.contains("Stopped."), "{rest}");
}
