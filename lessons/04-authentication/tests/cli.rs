//! The demo binary from the outside: bad flags and bad configuration fail clearly, the story
//! runs to completion, `--list` and `--only` pick steps, and `--serve` serves until Ctrl-C.
//!
//! `cargo test -p lesson-04 --test cli`

use std::process::Output;

use testkit::cli::{Served, command, listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-04");

/// The demo without the secrets a learner may have exported: it makes up its own.
fn demo(args: &[&str]) -> Output {
    command(DEMO)
        .args(args)
        .env_remove("LESSON04_JWT_SECRET")
        .env_remove("LESSON04_PEPPER")
        .output()
        .expect("the demo binary runs")
}

/// The first thing a learner runs: it must finish on its own and tell every step.
#[test]
fn the_whole_story_runs_to_completion() {
    let output = demo(&[]);
    let stdout = text(&output.stdout);
    assert!(
        output.status.success(),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    let listed = listed_steps(DEMO);
    assert_eq!(listed.len(), 8, "{listed:?}");
    // Every step `--list` names runs, under the number and title `--list` gives it.
    for (number, title) in listed {
        let heading = format!("Step {number} · {title}\n");
        assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
    }
    for claim in [
        "rehashed: true",
        "ReuseDetected",
        "403 Forbidden",
        "404 Not Found",
        "nonce does not match",
    ] {
        assert!(stdout.contains(claim), "{claim:?} missing:\n{stdout}");
    }
    assert!(
        stdout.contains("absent: a random value for this run"),
        "{stdout}"
    );
}

#[test]
fn no_secret_is_ever_printed_whole() {
    let secret = "a-jwt-secret-that-is-long-enough-for-hs256";
    let output = run(
        DEMO,
        &[],
        &[
            ("LESSON04_JWT_SECRET", secret),
            (
                "LESSON04_PEPPER",
                "a-pepper-that-is-long-enough-for-argon2id",
            ),
        ],
    );
    assert!(output.status.success(), "{}", text(&output.stderr));
    let all = text(&output.stdout) + &text(&output.stderr);
    assert!(!all.contains(secret));
    assert!(!all.contains("pepper-that"));
    assert!(
        !all.contains("alice's long passphrase"),
        "passwords print as •••"
    );
    assert!(all.contains("read from the environment"));
}

#[test]
fn list_names_the_steps_and_what_always_runs() {
    let stdout = text(&demo(&["--list"]).stdout);
    assert!(
        stdout.contains("1  start          Configuration and start-up  [always runs]"),
        "{stdout}"
    );
    assert!(stdout.contains("6  api-keys       API keys"), "{stdout}");
    assert!(
        stdout.contains("8  shutdown       Shut down  [always runs]"),
        "{stdout}"
    );
}

#[test]
fn only_takes_numbers_and_names_mixed() {
    let output = demo(&["--only", "oidc,2"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for shown in ["Step 1 · ", "Step 2 · ", "Step 7 · ", "Step 8 · "] {
        assert!(stdout.contains(shown), "{shown} missing:\n{stdout}");
    }
    assert!(
        !stdout.contains("Step 3 · ") && !stdout.contains("Step 6 · "),
        "{stdout}"
    );
}

#[test]
fn one_step_runs_on_its_own() {
    let output = demo(&["--only", "api-keys"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 6 · "), "{stdout}");
    assert!(!stdout.contains("Step 3 · "), "{stdout}");
    assert!(stdout.contains("Step 8 · Shut down"), "{stdout}");
}

#[test]
fn a_short_secret_stops_the_program_with_advice() {
    let output = run(DEMO, &[], &[("LESSON04_JWT_SECRET", "hunter2")]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("LESSON04_JWT_SECRET must be at least 32 bytes"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("hunter2"),
        "the value itself is never echoed"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn bad_flags_are_usage_errors() {
    let output = demo(&["--only", "everything"]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(stderr.contains("--only"), "{stderr}");
    assert!(
        stderr.contains("the steps are 1 start, 2 passwords"),
        "{stderr}"
    );
    let output = demo(&["--only", "0"]);
    assert_eq!(output.status.code(), Some(2));
    let output = demo(&["--addr", "127.0.0.1:8080"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--serve"));
}

/// `--serve` answers real requests; SIGINT (Ctrl-C) stops it gracefully.
#[cfg(unix)]
#[tokio::test]
async fn serve_mode_answers_until_ctrl_c() {
    let served = Served::start(DEMO, &[]);
    let base = served.url();
    let http = reqwest::Client::builder().no_proxy().build().unwrap();
    let login = http
        .post(format!("{base}/auth/login"))
        .json(&serde_json::json!({ "email": "root@shop.test", "password": "administrator passphrase" }))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200, "the seeded admin can log in");
    let token = login.json::<serde_json::Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let users = http
        .get(format!("{base}/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(users.status(), 200);

    let stopped = served.interrupt();
    assert!(stopped.status.success(), "{stopped:?}");
    assert!(stopped.stdout.contains("Stopped."), "{stopped:?}");
}
