//! The demo binary from the outside: `--help` hides the internal flag, `--list` and `--only`
//! pick steps, a bad flag fails clearly, the logs step shows redacted lines, and the traces
//! step (which runs this binary a second time) leaves no process behind.
//!
//! `cargo test -p lesson-07 --test cli`

use testkit::cli::{listed_steps, run, text};

const DEMO: &str = env!("CARGO_BIN_EXE_lesson-07");

#[test]
fn help_lists_the_step_flags_but_not_the_internal_one() {
    let output = run(DEMO, &["--help"], &[]);
    assert_eq!(output.status.code(), Some(0));
    let help = text(&output.stdout);
    assert!(help.contains("--only"), "{help}");
    assert!(help.contains("--list"), "{help}");
    assert!(!help.contains("as-stock-service"), "{help}");
    assert!(!help.contains("--otlp"), "{help}");
}

#[test]
fn list_names_the_five_steps_in_order() {
    let listed = listed_steps(DEMO);
    let names: Vec<&str> = listed.iter().map(|(number, _)| number.as_str()).collect();
    assert_eq!(names, ["1", "2", "3", "4", "5"], "{listed:?}");
    let output = run(DEMO, &["--list"], &[]);
    let stdout = text(&output.stdout);
    for (number, name) in [
        (1, "logs"),
        (2, "metrics"),
        (3, "traces"),
        (4, "prometheus"),
        (5, "alerts"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{number}  {name} "))),
            "{name} missing:\n{stdout}"
        );
    }
}

#[test]
fn bad_flags_and_bad_steps_exit_2_with_a_sentence() {
    let output = run(DEMO, &["--bogus"], &[]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("--bogus"));

    let output = run(DEMO, &["--only", "6"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("there is no step 6; the steps are 1 logs"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");

    let output = run(DEMO, &["--otlp", "http://127.0.0.1:1/v1/traces"], &[]);
    assert_eq!(
        output.status.code(),
        Some(2),
        "--otlp belongs to the stock process"
    );
}

#[test]
fn the_logs_step_runs_alone_and_shows_redacted_json() {
    let output = run(DEMO, &["--only", "logs"], &[("RUST_LOG", "")]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("Step 1 · Structured logs"), "{stdout}");
    assert!(!stdout.contains("Step 2 · "), "{stdout}");
    assert!(stdout.contains(r#""password": "[redacted]""#), "{stdout}");
    assert!(stdout.contains("[card ending 4242]"), "{stdout}");
    assert!(stdout.contains(r#""order_id": "ord-2291""#), "{stdout}");
    assert!(!stdout.contains("hunter2"), "{stdout}");
    assert!(!stdout.contains("ada.lovelace@example.com"), "{stdout}");
}

#[test]
fn the_metrics_step_counts_what_the_client_saw() {
    let output = run(DEMO, &["--only", "metrics"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(
        stdout.contains(
            r#"http_server_requests_total{method="GET",route="/stock/{sku}",status="503"} 15"#
        ),
        "{stdout}"
    );
    assert!(stdout.contains("within 250 ms"), "{stdout}");
}

/// Runs the binary twice over (the stock process); the tree must join both services.
#[test]
fn the_traces_step_joins_two_processes_in_one_trace() {
    let output = run(DEMO, &["--only", "traces"], &[]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    let tree: Vec<&str> = stdout
        .lines()
        .skip_while(|line| !line.trim_start().starts_with("trace "))
        .skip(1)
        .take(3)
        .collect();
    assert_eq!(tree.len(), 3, "{stdout}");
    assert!(
        tree[0].contains("    GET /products/{id}  [storefront]"),
        "{stdout}"
    );
    assert!(
        tree[1].contains("      GET /stock/{sku}  [storefront]"),
        "{stdout}"
    );
    assert!(
        tree[2].contains("        GET /stock/{sku}  [stock]"),
        "{stdout}"
    );
}

mod needs_prometheus {
    use super::*;

    /// The first thing a learner runs: it must finish on its own and tell every step.
    #[test]
    fn the_whole_story_runs_to_completion() {
        let output = run(DEMO, &[], &[]);
        assert!(output.status.success(), "{}", text(&output.stderr));
        let stdout = text(&output.stdout);
        for (number, title) in listed_steps(DEMO) {
            let heading = format!("Step {number} · {title}\n");
            assert!(stdout.contains(&heading), "{heading:?} missing:\n{stdout}");
        }
        assert!(stdout.contains("SUCCESS"), "promtool's verdict:\n{stdout}");
        assert!(stdout.contains("Done in"), "{stdout}");
    }
}

#[test]
fn without_prometheus_the_step_says_so_and_the_run_exits_1() {
    let output = run(
        DEMO,
        &["--only", "prometheus,alerts"],
        &[("PROMETHEUS_BIN", "/nonexistent/prometheus")],
    );
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    assert!(stdout.contains("apt-get install prometheus"), "{stdout}");
    assert!(
        stdout.contains("Step 5 · Alerts"),
        "the other steps still run:\n{stdout}"
    );
    assert!(!text(&output.stderr).contains("panicked"));
}
