//! `cargo xtask test`: the one test command, for learners and CI alike.
//!
//! Steps: rustfmt, clippy (warnings denied), every crate's tests, `verify`, the book. Tests
//! whose service is down are skipped by their `needs_<service>` marker and listed by name;
//! `--require` turns a missing service into a failure instead. Every step runs even when an
//! earlier one failed, so one run shows everything that needs fixing.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use testkit::discover::{self, Service};

use crate::cargo::{self, Outcome};
use crate::{book, exercise, ui, verify};

struct Step {
    name: &'static str,
    passed: bool,
    detail: String,
    seconds: f64,
}

#[derive(Default)]
struct Counts {
    passed: usize,
    failed: usize,
    skipped: usize,
}

pub fn run(require: &[Service], with_book: bool) -> Result<()> {
    let started = Instant::now();
    let mut steps = Vec::new();
    let mut counts = Counts::default();

    let (services, plan) = check_services(require);
    steps.push(services);

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
    // The containers feature is off by default (it compiles a Docker client); lint it anyway so
    // the learners who rely on it never find it broken.
    steps.push(cargo_step(
        "clippy (testkit containers)",
        &[
            &["clippy", "--package", "testkit", "--all-features"][..],
            &deny,
        ]
        .concat(),
        "fix the warnings above",
    ));
    steps.push(timed_step("tests", || run_tests(&plan, &mut counts)));
    steps.push(timed_step("verify", || {
        verify::run(None)?;
        Ok(format!("{} exercise(s) sound", exercise::all()?.len()))
    }));
    if with_book {
        steps.push(timed_step("book", || {
            book::run(book::Mode::Build)?;
            Ok("built, links checked".to_owned())
        }));
    }

    ui::heading("summary");
    let rows: Vec<Vec<String>> = steps
        .iter()
        .map(|s| {
            vec![
                if s.passed {
                    ui::green("✔")
                } else {
                    ui::red("✘")
                },
                s.name.to_owned(),
                format!("{:>6.1}s", s.seconds),
                s.detail.clone(),
            ]
        })
        .collect();
    print!("{}", ui::table(&rows));
    println!(
        "\ntests: {} passed, {} failed, {} skipped",
        counts.passed, counts.failed, counts.skipped
    );
    println!("total time: {:.0}s", started.elapsed().as_secs_f64());
    let failed: Vec<_> = steps.iter().filter(|s| !s.passed).map(|s| s.name).collect();
    if failed.is_empty() {
        println!("{}", ui::green("All checks passed."));
        Ok(())
    } else {
        bail!("failed: {}", failed.join(", "))
    }
}

/// What the services step decided for the tests step.
#[derive(Clone, Default)]
struct Plan {
    /// Services that are down and whose tests are skipped.
    skipped: Vec<Service>,
    /// Docker answers and a service is down: let testkit start containers.
    containers: bool,
}

fn check_services(require: &[Service]) -> (Step, Plan) {
    let start = Instant::now();
    ui::heading("services");
    let missing = crate::services::report();
    let (plan, detail) = if missing.is_empty() {
        (Plan::default(), "all reachable".to_owned())
    } else if discover::docker_engine_answers() {
        println!("  A Docker engine answers: testkit will start containers for the missing ones.");
        let plan = Plan {
            skipped: vec![],
            containers: true,
        };
        (plan, "containers for the missing ones".to_owned())
    } else {
        let names: Vec<_> = missing.iter().map(|s| s.display_name()).collect();
        let detail = format!("not reachable, tests skipped: {}", names.join(", "));
        (
            Plan {
                skipped: missing,
                containers: false,
            },
            detail,
        )
    };
    // A required service that is down fails this step, but its tests are still skipped and
    // listed, and every other step still runs, so one run reports everything.
    let required_missing: Vec<_> = plan
        .skipped
        .iter()
        .filter(|s| require.contains(s))
        .map(|s| s.display_name())
        .collect();
    let step = Step {
        name: "services",
        passed: required_missing.is_empty(),
        detail: if required_missing.is_empty() {
            detail
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

fn run_tests(plan: &Plan, counts: &mut Counts) -> Result<String> {
    let mut args: Vec<String> = vec!["test".into(), "--workspace".into()];
    // Exercise stubs fail until the learner finishes them; `verify` covers them instead.
    for exercise in exercise::all()? {
        args.push("--exclude".into());
        args.push(exercise.package());
    }
    if plan.containers {
        args.push("--features".into());
        args.push("testkit/containers".into());
    }
    let mut skip_args = Vec::new();
    for service in &plan.skipped {
        skip_args.push("--skip".to_owned());
        skip_args.push(service.test_marker().to_owned());
    }

    if !plan.skipped.is_empty() {
        counts.skipped = list_skipped(&args, &plan.skipped)?;
    }

    ui::heading("cargo test --workspace");
    let mut child = cargo::cargo()
        .args(&args)
        .args(["--no-fail-fast", "--"])
        .args(&skip_args)
        .stdout(Stdio::piped())
        .spawn()
        .context("could not start cargo test")?;
    let mut stdout = String::new();
    if let Some(pipe) = child.stdout.take() {
        // Tee: the learner sees the usual output live, we keep it to count the results.
        for line in BufReader::new(pipe).lines() {
            let line = line?;
            println!("{line}");
            stdout.push_str(&line);
            stdout.push('\n');
        }
    }
    let success = child.wait()?.success();
    let outcomes = cargo::parse_test_lines(&stdout);
    counts.passed = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Passed)
        .count();
    counts.failed = outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Failed)
        .count();
    counts.skipped += outcomes
        .iter()
        .filter(|(_, o)| *o == Outcome::Ignored)
        .count();
    let detail = format!("{} passed, {} failed", counts.passed, counts.failed);
    if success {
        Ok(detail)
    } else {
        bail!("{detail}")
    }
}

/// Lists, by name, the tests that will be skipped, with the command that starts their service.
fn list_skipped(args: &[String], skipped: &[Service]) -> Result<usize> {
    let (ok, stdout, stderr) =
        cargo::run_captured(cargo::cargo().args(args).args(["--", "--list"]))?;
    if !ok {
        bail!("could not list the tests:\n{stderr}");
    }
    let names: Vec<&str> = stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .collect();
    let mut total = 0;
    for service in skipped {
        let marked: Vec<_> = names
            .iter()
            .filter(|name| name.contains(service.test_marker()))
            .collect();
        if marked.is_empty() {
            continue;
        }
        total += marked.len();
        println!(
            "\n{} {} test(s) skipped: {} is not reachable",
            ui::yellow("SKIPPED"),
            marked.len(),
            service
        );
        for name in marked {
            println!("    {name}");
        }
        println!("  start {service} with:");
        for command in discover::how_to_start(*service) {
            println!("    {command}");
        }
    }
    Ok(total)
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
            passed: true,
            detail,
            seconds,
        },
        Err(e) => {
            let detail = format!("{e:#}");
            eprintln!("{} {name}: {detail}", ui::red("✘"));
            Step {
                name,
                passed: false,
                detail,
                seconds,
            }
        }
    }
}
