//! `cargo xtask test`: the one test command, for learners and CI alike.
//!
//! Steps: the services (which answer decides the plan every later step follows), every
//! crate's tests, the alert rules (`promtool check rules` and `promtool test rules` over
//! `observability/prometheus/`), sqlx's offline query data (current?), `verify`, and the
//! book. Tests whose
//! service is down are skipped by their `needs_<service>` marker and listed by name, in every
//! step; `--require` turns a missing service into a failure instead. Every step runs even when
//! an earlier one failed, so one run shows everything that needs fixing.
//!
//! What a learner runs needs no network and does not judge style: formatting and clippy run
//! with `--lint` (CI passes it), and the book is built only where mdBook is installed, unless
//! `--book` asks for it (then it is installed when missing, and a failure fails the run).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use testkit::discover::Service;

use crate::cargo::{self, Outcome};
use crate::plan::{Ledger, Plan};
use crate::{book, exercise, prometheus, ui, verify};

/// What to run besides the tests.
pub struct Options {
    /// Fail (instead of skipping their tests) when these services are not reachable.
    pub require: Vec<Service>,
    /// Run rustfmt and clippy too.
    pub lint: bool,
    /// Let verify run cargo-mutants over each reference solution.
    pub mutants: bool,
    pub book: BookStep,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum BookStep {
    /// Build it where mdBook is installed; otherwise say so and skip.
    IfInstalled,
    /// Install what is missing and build it; failing to is a failure.
    Required,
    Off,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum StepStatus {
    Passed,
    Failed,
    Skipped,
}

struct Step {
    name: &'static str,
    status: StepStatus,
    detail: String,
    seconds: f64,
}

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

pub fn run(options: &Options) -> Result<()> {
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut counts = Counts::default();
    let mut ledger = Ledger::default();

    let (services, plan) = check_services(&options.require);
    steps.push(services);

    if options.lint {
        steps.push(cargo_step(
            "rustfmt",
            &["fmt", "--all", "--check"],
            "run `cargo fmt --all`",
        ));
        let deny = ["--", "-D", "warnings"];
        steps.push(cargo_step(
            "clippy",
            &[&["clippy", "--workspace", "--all-targets"][..], &deny].concat(),
            "fix the warnings above",
        ));
        // The containers feature is off by default (it compiles a Docker client); lint it
        // anyway so the learners who rely on it never find it broken.
        steps.push(cargo_step(
            "clippy (testkit containers)",
            &[
                &["clippy", "--package", "testkit", "--all-features"][..],
                &deny,
            ]
            .concat(),
            "fix the warnings above",
        ));
    }
    steps.push(timed_step("tests", || {
        run_tests(&plan, &mut counts, &mut ledger)
    }));
    steps.push(alert_rules_step(&plan, &options.require, &mut ledger));
    steps.push(sqlx_step(&plan, &options.require));
    steps.push(timed_step("verify", || {
        let report = verify::run(
            None,
            &plan,
            verify::Options {
                mutants: options.mutants,
            },
        )?;
        for (what, why) in report.ledger.entries {
            ledger.add(what, why);
        }
        Ok(report.summary)
    }));
    if let Some(step) = book_step(options.book) {
        steps.push(step);
    }

    ui::heading("summary");
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                match s.status {
                    StepStatus::Passed => ui::green("✔"),
                    StepStatus::Failed => ui::red("✘"),
                    StepStatus::Skipped => ui::yellow("-"),
                },
                s.name.to_owned(),
                format!("{:>6.1}s", s.seconds),
                s.detail.clone(),
            ]
        })
        .collect();
    print!("{}", ui::table(&rows));
    if !ledger.entries.is_empty() {
        println!(
            "\n{} (not done in this run, so not counted as passed):",
            ui::yellow("Skipped")
        );
        for (what, why) in &ledger.entries {
            println!("  - {what}: {why}");
        }
    }
    println!(
        "\ntests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.skipped
    );
    println!("total time: {:.0}s", started.elapsed().as_secs_f64());
    let failed: Vec<_> = steps
        .iter()
        .filter(|s| s.status == StepStatus::Failed)
        .map(|s| s.name)
        .collect();
    if failed.is_empty() {
        println!("{}", ui::green("All checks passed."));
        Ok(())
    } else {
        bail!("failed: {}", failed.join(", "))
    }
}

fn check_services(require: &[Service]) -> (Step, Plan) {
    let start = Instant::now();
    ui::heading("services");
    let plan = Plan::detect();
    // A required service that is down fails this step, but its tests are still skipped and
    // listed, and every other step still runs, so one run reports everything.
    let required_missing: Vec<_> = require
        .iter()
        .filter(|s| plan.is_down(**s))
        .map(|s| s.display_name())
        .collect();
    let step = Step {
        name: "services",
        status: if required_missing.is_empty() {
            StepStatus::Passed
        } else {
            StepStatus::Failed
        },
        detail: if required_missing.is_empty() {
            plan.describe()
        } else {
            format!(
                "required but not reachable: {}",
                required_missing.join(", ")
            )
        },
        seconds: start.elapsed().as_secs_f64(),
    };
    (step, plan)
}

fn run_tests(plan: &Plan, counts: &mut Counts, ledger: &mut Ledger) -> Result<String> {
    let mut args: Vec<String> = vec!["test".into(), "--workspace".into()];
    // Exercise stubs fail until the learner finishes them; `verify` covers them instead.
    for exercise in exercise::all()? {
        args.push("--exclude".into());
        args.push(exercise.package());
    }
    // The whole workspace depends on testkit, so its feature can always be named here.
    let extra = plan.test_args(true);
    if !extra.features.is_empty() {
        args.push("--features".into());
        args.push(extra.features.join(","));
    }

    if !plan.skips.is_empty() {
        counts.skipped = list_skipped(&args, plan, ledger)?;
    }

    ui::heading("cargo test --workspace");
    let mut child = cargo::cargo()
        .args(&args)
        .args(["--no-fail-fast", "--"])
        .args(&extra.libtest)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("could not start cargo test")?;
    // Tee both streams: the learner sees the usual output live, we keep it to judge the run
    // (stderr says which test binaries started, stdout which finished).
    let stderr_pipe = child.stderr.take();
    let stderr_thread = std::thread::spawn(move || {
        let mut kept = String::new();
        if let Some(pipe) = stderr_pipe {
            for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                eprintln!("{line}");
                kept.push_str(&line);
                kept.push('\n');
            }
        }
        kept
    });
    let mut stdout = String::new();
    if let Some(pipe) = child.stdout.take() {
        for line in BufReader::new(pipe).lines() {
            let line = line?;
            println!("{line}");
            stdout.push_str(&line);
            stdout.push('\n');
        }
    }
    let success = child.wait()?.success();
    let stderr = stderr_thread.join().unwrap_or_default();
    let run = cargo::TestRun::parse(success, stdout, stderr);
    counts.passed = run.count(Outcome::Passed);
    counts.failed = run.count(Outcome::Failed);
    counts.skipped += run.count(Outcome::Ignored);
    let detail = format!("{} passed, {} failed", counts.passed, counts.failed);
    if let Some(crash) = run.crash() {
        bail!("{detail}; {crash}")
    }
    if success {
        Ok(detail)
    } else {
        bail!("{detail}")
    }
}

/// Lists, by name, the tests that will be skipped, with what would let them run.
fn list_skipped(args: &[String], plan: &Plan, ledger: &mut Ledger) -> Result<usize> {
    let (ok, stdout, stderr) =
        cargo::run_captured(cargo::cargo().args(args).args(["--", "--list"]))?;
    if !ok {
        bail!("could not list the tests:\n{stderr}");
    }
    let mut names: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .collect();
    let mut total = 0;
    for skip in &plan.skips {
        // Each name is counted once, under the first reason that skips it.
        let (marked, rest): (Vec<&str>, Vec<&str>) = names
            .into_iter()
            .partition(|name| name.contains(skip.marker));
        names = rest;
        if marked.is_empty() {
            continue;
        }
        total += marked.len();
        ledger.add(
            format!("tests: {} test(s) marked `{}`", marked.len(), skip.marker),
            skip.reason.clone(),
        );
        println!(
            "\n{} {} test(s) skipped: {}",
            ui::yellow("SKIPPED"),
            marked.len(),
            skip.reason
        );
        for name in marked {
            println!("    {name}");
        }
        for line in &skip.remedy {
            println!("  {line}");
        }
    }
    Ok(total)
}

/// The recording and alerting rules: valid (`promtool check rules`) and doing what their unit
/// tests say (`promtool test rules`). Needs promtool, which comes with Prometheus: without it
/// the step is skipped and listed (and fails only when Prometheus is required), as the tests
/// that need Prometheus are.
fn alert_rules_step(plan: &Plan, require: &[Service], ledger: &mut Ledger) -> Step {
    const NAME: &str = "alert rules";
    let promtool = if plan.is_down(Service::Prometheus) {
        None
    } else {
        prometheus::promtool()
    };
    let Some(promtool) = promtool else {
        let why = "promtool is not installed (it comes with Prometheus: `cargo xtask services \
                   up`, or `sudo apt-get install -y prometheus`)";
        ledger.add(
            "alert rules: promtool check and test of observability/prometheus/",
            why,
        );
        return Step {
            name: NAME,
            status: if require.contains(&Service::Prometheus) {
                StepStatus::Failed
            } else {
                StepStatus::Skipped
            },
            detail: format!("not checked: {why}"),
            seconds: 0.0,
        };
    };
    ui::heading("alert rules (promtool)");
    timed_step(NAME, || check_rules(&promtool))
}

fn check_rules(promtool: &Path) -> Result<String> {
    let dir = cargo::root().join("observability").join("prometheus");
    let rules = yaml_files(&dir, "rules")?;
    let tests = yaml_files(&dir, "tests")?;
    if rules.is_empty() || tests.is_empty() {
        bail!(
            "{} should hold rules/*.yml and tests/*.yml",
            cargo::git_path(&dir)
        );
    }
    // Relative paths from there, so promtool's output names the files as the repository does.
    let promtool_in_dir = |args: &[&str], files: &[String]| {
        cargo::run_visible(
            Command::new(promtool)
                .current_dir(&dir)
                .args(args)
                .args(files),
        )
    };
    if !promtool_in_dir(&["check", "rules"], &rules)? {
        bail!("promtool check rules found errors (see above)");
    }
    if !promtool_in_dir(&["test", "rules"], &tests)? {
        bail!("promtool test rules failed (see above)");
    }
    Ok(format!(
        "{} rule file(s) valid, {} test file(s) pass",
        rules.len(),
        tests.len()
    ))
}

/// `<sub>/*.yml` under `dir`, as `<sub>/<name>`, sorted.
fn yaml_files(dir: &Path, sub: &str) -> Result<Vec<String>> {
    let read = std::fs::read_dir(dir.join(sub))
        .with_context(|| format!("could not read {}", dir.join(sub).display()))?;
    let mut files: Vec<String> = read
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".yml"))
        .map(|name| format!("{sub}/{name}"))
        .collect();
    files.sort();
    Ok(files)
}

/// Is `.sqlx/` current? Needs PostgreSQL: without it the step is skipped (and fails only when
/// PostgreSQL is required), as the tests that need it are.
fn sqlx_step(plan: &Plan, require: &[Service]) -> Step {
    if !plan.answers(Service::Postgres) {
        // With Docker, each test starts its own PostgreSQL container and stops it after; the
        // check needs one server for its whole run, so it waits for a PostgreSQL that answers.
        return Step {
            name: "sqlx offline data",
            status: if require.contains(&Service::Postgres) {
                StepStatus::Failed
            } else {
                StepStatus::Skipped
            },
            detail: "not checked: no PostgreSQL server answers (`cargo xtask services up`)"
                .to_owned(),
            seconds: 0.0,
        };
    }
    ui::heading("sqlx offline data (.sqlx/)");
    timed_step("sqlx offline data", || crate::sqlx_data::run(true))
}

/// The book, as `mode` asks; `None` when it is off.
fn book_step(mode: BookStep) -> Option<Step> {
    match mode {
        BookStep::Off => None,
        BookStep::IfInstalled if !book::tools_installed() => Some(Step {
            name: "book",
            status: StepStatus::Skipped,
            detail: "not built: mdBook is not installed (`cargo xtask book` installs it, \
                     which needs the network once)"
                .to_owned(),
            seconds: 0.0,
        }),
        BookStep::IfInstalled | BookStep::Required => Some(timed_step("book", || {
            book::run(book::Mode::Build)?;
            Ok("built, links checked".to_owned())
        })),
    }
}

/// A step that is one cargo command, its output shown as it runs.
fn cargo_step(name: &'static str, args: &[&str], on_failure: &str) -> Step {
    timed_step(name, || {
        if cargo::run_visible(cargo::cargo().args(args))? {
            Ok("ok".to_owned())
        } else {
            bail!("{on_failure}")
        }
    })
}

fn timed_step(name: &'static str, f: impl FnOnce() -> Result<String>) -> Step {
    let start = Instant::now();
    let outcome = f();
    let seconds = start.elapsed().as_secs_f64();
    match outcome {
        Ok(detail) => Step {
            name,
            status: StepStatus::Passed,
            detail,
            seconds,
        },
        Err(e) => {
            let detail = format!("{e:#}");
            eprintln!("{} {name}: {detail}", ui::red("✘"));
            Step {
                name,
                status: StepStatus::Failed,
                detail,
                seconds,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_files_and_their_tests_are_found() {
        let dir = cargo::root().join("observability").join("prometheus");
        let rules = yaml_files(&dir, "rules").unwrap();
        assert!(rules.contains(&"rules/slo.yml".to_owned()), "{rules:?}");
        assert!(rules.contains(&"rules/red.yml".to_owned()), "{rules:?}");
        let tests = yaml_files(&dir, "tests").unwrap();
        assert!(
            tests
                .iter()
                .all(|t| t.starts_with("tests/") && t.ends_with(".yml"))
        );
        assert!(!tests.is_empty());
    }

    /// The step's real path: promtool checks and unit-tests the repository's rules. Named
    /// `needs_prometheus`, so a run without the program skips it.
    #[test]
    fn needs_prometheus_the_repository_rules_pass_promtool() {
        let promtool = prometheus::promtool().expect("promtool is installed with Prometheus");
        let detail = check_rules(&promtool).unwrap();
        assert!(detail.contains("rule file(s) valid"), "{detail}");
    }

    #[test]
    fn without_promtool_the_step_is_skipped_and_listed_unless_required() {
        let plan = Plan::decide(&[Service::Prometheus], None, false);
        let mut ledger = Ledger::default();
        let step = alert_rules_step(&plan, &[], &mut ledger);
        assert!(step.status == StepStatus::Skipped, "{}", step.detail);
        assert_eq!(ledger.entries.len(), 1);
        assert!(ledger.entries[0].0.starts_with("alert rules"));

        let mut ledger = Ledger::default();
        let step = alert_rules_step(&plan, &[Service::Prometheus], &mut ledger);
        assert!(step.status == StepStatus::Failed, "{}", step.detail);
        assert!(step.detail.contains("promtool is not installed"));
    }
}
