//! `cargo xtask test`: the one test command, for learners and CI alike.
//!
//! Steps: rustfmt, clippy (warnings denied), every crate's tests, sqlx's offline query data
//! (current?), `verify`, the book. Tests
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
    steps.push(sqlx_step(&plan, require));
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
    /// Tests skipped by name, and why.
    skipped: Vec<Skip>,
    /// Docker answers and a service is down: let testkit start containers.
    containers: bool,
}

/// A group of tests the run leaves out: those whose names contain `marker`.
#[derive(Clone)]
struct Skip {
    /// The service that is missing (or not the real thing).
    service: Service,
    marker: &'static str,
    reason: String,
    /// What would let them run.
    remedy: Vec<String>,
}

impl Skip {
    fn service_down(service: Service) -> Self {
        Skip {
            service,
            marker: service.test_marker(),
            reason: format!("{service} is not reachable"),
            remedy: discover::how_to_start(service)
                .into_iter()
                .map(|c| format!("start {service} with: {c}"))
                .collect(),
        }
    }

    /// True when the service is down, false when it answers but not well enough (the stand-in).
    fn is_service_down(&self) -> bool {
        self.marker == self.service.test_marker()
    }

    fn mongodb_stand_in(what: &str) -> Self {
        Skip {
            service: Service::MongoDb,
            marker: testkit::standin::REAL_SERVER_MARKER,
            reason: format!(
                "they need a real MongoDB server, and the MongoDB stand-in ({what}) answers"
            ),
            remedy: vec![
                "run a real MongoDB: `docker compose up -d mongodb`, or install MongoDB Community \
                 Server, after `cargo xtask services down` stops the stand-in"
                    .to_owned(),
            ],
        }
    }
}

fn check_services(require: &[Service]) -> (Step, Plan) {
    let start = Instant::now();
    ui::heading("services");
    let crate::services::Report {
        missing,
        mongodb_stand_in,
    } = crate::services::report();
    let (mut plan, mut detail) = if missing.is_empty() {
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
                skipped: missing.into_iter().map(Skip::service_down).collect(),
                containers: false,
            },
            detail,
        )
    };
    if let Some(what) = &mongodb_stand_in {
        plan.skipped.push(Skip::mongodb_stand_in(what));
        detail.push_str("; MongoDB is the stand-in");
    }
    // A required service that is down fails this step, but its tests are still skipped and
    // listed, and every other step still runs, so one run reports everything.
    let required_missing: Vec<_> = plan
        .skipped
        .iter()
        .filter(|s| s.is_service_down() && require.contains(&s.service))
        .map(|s| s.service.display_name())
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
    for skip in &plan.skipped {
        skip_args.push("--skip".to_owned());
        skip_args.push(skip.marker.to_owned());
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
    counts.passed = cargo::count(&outcomes, Outcome::Passed);
    counts.failed = cargo::count(&outcomes, Outcome::Failed);
    counts.skipped += cargo::count(&outcomes, Outcome::Ignored);
    let detail = format!("{} passed, {} failed", counts.passed, counts.failed);
    if success {
        Ok(detail)
    } else {
        bail!("{detail}")
    }
}

/// Lists, by name, the tests that will be skipped, with what would let them run.
fn list_skipped(args: &[String], skipped: &[Skip]) -> Result<usize> {
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
    for skip in skipped {
        // Each name is counted once, under the first reason that skips it.
        let (marked, rest): (Vec<&str>, Vec<&str>) = names
            .into_iter()
            .partition(|name| name.contains(skip.marker));
        names = rest;
        if marked.is_empty() {
            continue;
        }
        total += marked.len();
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

/// Is `.sqlx/` current? Needs PostgreSQL: without it the step is skipped (and fails only when
/// PostgreSQL is required), as the tests that need it are.
fn sqlx_step(plan: &Plan, require: &[Service]) -> Step {
    let postgres_down = plan
        .skipped
        .iter()
        .any(|s| s.service == Service::Postgres && s.is_service_down());
    if postgres_down {
        return Step {
            name: "sqlx offline data",
            passed: !require.contains(&Service::Postgres),
            detail: "not checked: PostgreSQL is not reachable".to_owned(),
            seconds: 0.0,
        };
    }
    ui::heading("sqlx offline data (.sqlx/)");
    timed_step("sqlx offline data", || crate::sqlx_data::run(true))
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
