//! `cargo xtask verify`: the proof that every exercise judges fairly, four ways.
//!
//! 1. **The stub fails.** The stub as shipped (its recorded git object, see
//!    [`Exercise::recorded_stub_id`]) compiles without warnings, and every test fails on it: a
//!    test that passes on a stub cannot tell finished from unfinished.
//! 2. **The reference passes** every test, and is clippy- and rustfmt-clean.
//! 3. **An alternative passes**: `.solution/alternative.rs`, written differently on purpose, so
//!    a test that only accepts the reference's spelling of the answer is caught.
//! 4. **Planted bugs are caught**: each entry of `.solution/planted.toml` edits the reference
//!    into a plausible wrong solution, and one of the tests it names must fail.
//!
//! Candidates other than the reference are built from `.solution/candidate.rs` with the
//! `verify-candidate` feature (see `.solution/root.rs`), so the learner's own file is never
//! touched. Tests the plan skips (their service is down) prove nothing: they are listed, not
//! counted, and a proof that rests only on skipped tests is reported as not done.

use std::collections::BTreeSet;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use crate::cargo::{self, Outcome, TestArgs, TestRun};
use crate::exercise::{self, Exercise};
use crate::mutation_record;
use crate::plan::{Ledger, Plan};
use crate::ui;

/// The fewest planted bugs an exercise may have.
const MIN_PLANTED: usize = 3;

/// The cargo-mutants release `--mutants` is tested with (what CI installs).
pub const MUTANTS_VERSION: &str = "27.1.0";

/// What `verify` proved, and what it could not try.
pub struct Report {
    pub summary: String,
    pub ledger: Ledger,
}

/// What `verify` runs besides the four proofs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Also let cargo-mutants mutate each reference: every mutant must be caught, or listed in
    /// planted.toml as equivalent, with why.
    pub mutants: bool,
}

pub fn run(only: Option<&str>, plan: &Plan, options: Options) -> Result<Report> {
    let exercises = match only {
        Some(wanted) => vec![exercise::find(wanted)?],
        None => exercise::all()?,
    };
    let mut failures = Vec::new();
    let mut ledger = Ledger::default();
    for exercise in &exercises {
        ui::heading(&format!(
            "verify exercise {} ({})",
            exercise.id(),
            exercise.topic()
        ));
        let mut verifier = Verifier::new(exercise, plan)?;
        verifier.verify()?;
        if options.mutants {
            verifier.check_mutants()?;
        }
        let Verifier {
            problems,
            ledger: own,
            ..
        } = verifier;
        if problems.is_empty() {
            println!("  {}", ui::green("✔ sound"));
        }
        for problem in &problems {
            println!("  {} {problem}", ui::red("✘"));
        }
        failures.extend(
            problems
                .into_iter()
                .map(|p| format!("exercise {}: {p}", exercise.id())),
        );
        ledger.entries.extend(own.entries);
    }
    if !failures.is_empty() {
        bail!(
            "verify found {} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )
    }
    let ways = if options.mutants {
        "four ways and under mutation"
    } else {
        "four ways"
    };
    let summary = if ledger.entries.is_empty() {
        format!("{} exercise(s) sound, {ways}", exercises.len())
    } else {
        format!(
            "{} exercise(s) sound where checked; {} check(s) skipped (listed)",
            exercises.len(),
            ledger.entries.len()
        )
    };
    println!("\nverify: {summary}");
    for (what, why) in &ledger.entries {
        println!("  {} {what}: {why}", ui::yellow("skipped:"));
    }
    Ok(Report { summary, ledger })
}

/// `cargo xtask verify NN --record-stub`: the learner's file becomes the recorded stub.
pub fn record_stub(wanted: &str) -> Result<()> {
    let exercise = exercise::find(wanted)?;
    let id = exercise.record_stub()?;
    println!(
        "Recorded {} as the stub of exercise {} (git object {id}); commit {}.",
        exercise.relative(&exercise.learner_file()),
        exercise.id(),
        exercise.relative(&exercise.dir.join("Cargo.toml")),
    );
    Ok(())
}

/// One planted bug of `planted.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Bug {
    name: String,
    find: String,
    replace: String,
    caught_by: Vec<String>,
}

/// A mutant cargo-mutants makes that no test can kill, because it behaves like the original.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Equivalent {
    /// cargo-mutants' description, without its `file:line:col: ` prefix.
    mutant: String,
    why: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Planted {
    #[serde(default)]
    bug: Vec<Bug>,
    #[serde(default)]
    equivalent_mutant: Vec<Equivalent>,
}

struct Verifier<'a> {
    exercise: &'a Exercise,
    plan: &'a Plan,
    problems: Vec<String>,
    ledger: Ledger,
    /// The tests that exist (found by listing the reference's), before any skip.
    all_tests: Vec<String>,
    uses_testkit: bool,
}

impl<'a> Verifier<'a> {
    fn new(exercise: &'a Exercise, plan: &'a Plan) -> Result<Self> {
        let uses_testkit = cargo::depends_on(&exercise.solution_package(), "testkit")?;
        Ok(Verifier {
            exercise,
            plan,
            problems: Vec::new(),
            ledger: Ledger::default(),
            all_tests: Vec::new(),
            uses_testkit,
        })
    }

    fn problem(&mut self, text: impl Into<String>) {
        self.problems.push(text.into());
    }

    fn skipped(&mut self, what: impl Into<String>, why: impl Into<String>) {
        self.ledger.add(
            format!("exercise {}: {}", self.exercise.id(), what.into()),
            why,
        );
    }

    fn args(&self, candidate: bool) -> TestArgs {
        let mut args = self.plan.test_args(self.uses_testkit);
        if candidate {
            args.features.push("verify-candidate".to_owned());
        }
        args
    }

    fn verify(&mut self) -> Result<()> {
        let solution = self.exercise.solution_package();
        self.all_tests = cargo::list_tests(&solution, &TestArgs::default())?;
        let skipped: Vec<String> = self
            .all_tests
            .iter()
            .filter_map(|t| self.plan.skip_for(t).map(|s| format!("{t} ({})", s.reason)))
            .collect();
        if !skipped.is_empty() {
            let count = skipped.len();
            self.skipped(
                format!("{count} test(s) not run against any candidate"),
                skipped.join(", "),
            );
        }

        step("the reference passes every test");
        let reference = cargo::test_package(&solution, &self.args(false))?;
        self.must_pass("the reference solution", &reference);
        if self.all_tests.is_empty() {
            self.problem("the exercise has no tests");
        }

        self.check_stub(&reference)?;

        step("a differently written solution (alternative.rs) passes every test");
        match std::fs::read_to_string(self.solution_file("alternative.rs")) {
            Ok(alternative) => {
                let run = self.run_candidate(&alternative, &[])?;
                self.must_pass("the alternative solution", &run);
            }
            Err(_) => self.problem(
                "needs .solution/alternative.rs: a correct solution written differently, which \
                 every test must accept",
            ),
        }

        step("every planted bug is caught");
        self.check_planted()?;

        step("clean code: clippy, rustfmt, proptest without persisted failures");
        self.check_style()?;

        step("todo!s name the chapter; hints per part");
        self.check_hints_and_todos()?;
        println!();
        Ok(())
    }

    fn solution_file(&self, name: &str) -> PathBuf {
        self.exercise.solution_dir().join(name)
    }

    /// Every test that ran passed, and the run is clean (nothing crashed).
    fn must_pass(&mut self, who: &str, run: &TestRun) {
        if !run.compiled {
            self.problem(format!(
                "{who} does not compile:\n{}",
                tail(&run.stderr, 40)
            ));
            return;
        }
        for name in run.names(Outcome::Failed) {
            self.problems.push(format!("test `{name}` fails on {who}"));
        }
        if let Some(crash) = run.crash() {
            self.problem(format!("on {who}: {crash}"));
        }
    }

    /// Runs the shared tests against `source` as the crate, with libtest `filters`.
    fn run_candidate(&self, source: &str, filters: &[String]) -> Result<TestRun> {
        let _candidate = Candidate::write(self.solution_file("candidate.rs"), source)?;
        let mut args = self.args(true);
        args.libtest.extend(filters.iter().cloned());
        cargo::test_package(&self.exercise.solution_package(), &args)
    }

    fn check_stub(&mut self, reference: &TestRun) -> Result<()> {
        step("the stub as shipped compiles without warnings, and every test fails on it");
        let learner_file = self.exercise.relative(&self.exercise.learner_file());
        let stub = match self.exercise.pristine_stub() {
            Ok(stub) => stub,
            Err(e) => {
                // No git, or an unrecorded stub: the first is the learner's situation (a
                // download, not a clone), the second a maintainer's mistake.
                if self.exercise.recorded_stub_id()?.is_none() {
                    self.problem(format!("{e:#}"));
                } else {
                    self.skipped("the stub checks", format!("{e:#}"));
                }
                return Ok(());
            }
        };
        let untouched = self.exercise.is_untouched()?.unwrap_or(false);
        if !untouched && std::env::var_os("CI").is_some() {
            self.problem(format!(
                "{learner_file} is not the recorded stub. If you changed the stub on purpose, \
                 run `cargo xtask verify {} --record-stub` and commit the exercise's Cargo.toml",
                self.exercise.id()
            ));
        }
        // The learner's own package when it holds the stub (its Cargo.toml is what a learner
        // builds with); otherwise the recorded text, as a candidate, leaving their work alone.
        let (warnings, run) = if untouched {
            let package = self.exercise.package();
            (
                clippy(&package, &[])?,
                cargo::test_package(&package, &self.args(false))?,
            )
        } else {
            println!(
                "  {} {learner_file} holds your work: the stub is checked from its recorded copy",
                ui::dim("·")
            );
            let _candidate = Candidate::write(self.solution_file("candidate.rs"), &stub)?;
            (
                clippy(&self.exercise.solution_package(), &["verify-candidate"])?,
                cargo::test_package(&self.exercise.solution_package(), &self.args(true))?,
            )
        };
        if let Some(output) = warnings {
            self.problem(format!(
                "the stub is not warning-free:\n{}",
                tail(&output, 40)
            ));
        }
        if !run.compiled {
            self.problem(format!(
                "the stub's tests do not compile:\n{}",
                tail(&run.stderr, 40)
            ));
            return Ok(());
        }
        for name in run.names(Outcome::Passed) {
            self.problems.push(format!(
                "test `{name}` passes on the stub: it cannot tell a finished exercise from an \
                 unfinished one (make it call the code the learner writes)"
            ));
        }
        for name in run.names(Outcome::Ignored) {
            self.problems
                .push(format!("test `{name}` is ignored: every test must run"));
        }
        let on_stub: BTreeSet<&str> = run.outcomes.iter().map(|(n, _)| n.as_str()).collect();
        let on_reference: BTreeSet<&str> =
            reference.outcomes.iter().map(|(n, _)| n.as_str()).collect();
        if reference.compiled && on_stub != on_reference {
            self.problem(format!(
                "the stub runs {} tests and the reference {}: they must run the same tests",
                on_stub.len(),
                on_reference.len()
            ));
        }
        if on_stub.is_empty() && !self.all_tests.is_empty() {
            self.skipped(
                "the stub proof",
                "every test was skipped, so nothing showed that the stub fails",
            );
        }
        Ok(())
    }

    fn check_planted(&mut self) -> Result<()> {
        let path = self.solution_file("planted.toml");
        let Ok(text) = std::fs::read_to_string(&path) else {
            self.problem(format!(
                "needs .solution/planted.toml with at least {MIN_PLANTED} planted bugs"
            ));
            return Ok(());
        };
        let planted: Planted = match toml::from_str(&text) {
            Ok(planted) => planted,
            Err(e) => {
                self.problem(format!("planted.toml is not valid: {e}"));
                return Ok(());
            }
        };
        if planted.bug.len() < MIN_PLANTED {
            self.problem(format!(
                "planted.toml has {} bug(s); at least {MIN_PLANTED} are needed",
                planted.bug.len()
            ));
        }
        let reference = std::fs::read_to_string(self.solution_file("lib.rs"))?;
        for bug in &planted.bug {
            self.check_bug(&reference, bug)?;
        }
        Ok(())
    }

    fn check_bug(&mut self, reference: &str, bug: &Bug) -> Result<()> {
        let name = &bug.name;
        let Some(source) = plant(reference, &bug.find, &bug.replace) else {
            self.problem(format!(
                "planted bug \"{name}\": its `find` text occurs {} times in lib.rs (once is needed)",
                reference.matches(bug.find.as_str()).count()
            ));
            return Ok(());
        };
        let unknown: Vec<&String> = bug
            .caught_by
            .iter()
            .filter(|t| !self.all_tests.iter().any(|name| test_matches(name, t)))
            .collect();
        if bug.caught_by.is_empty() || !unknown.is_empty() {
            self.problem(format!(
                "planted bug \"{name}\": caught_by names no test that exists ({unknown:?})"
            ));
            return Ok(());
        }
        let runnable: Vec<String> = bug
            .caught_by
            .iter()
            .filter(|t| {
                self.all_tests
                    .iter()
                    .any(|n| test_matches(n, t) && self.plan.skip_for(n).is_none())
            })
            .cloned()
            .collect();
        if runnable.is_empty() {
            self.skipped(
                format!("planted bug \"{name}\""),
                "every test that catches it is skipped by the plan",
            );
            return Ok(());
        }
        let run = self.run_candidate(&source, &runnable)?;
        if !run.compiled {
            self.problem(format!(
                "planted bug \"{name}\" does not compile (a planted bug must be a wrong solution \
                 that builds):\n{}",
                tail(&run.stderr, 20)
            ));
            return Ok(());
        }
        let caught: Vec<&str> = run
            .names(Outcome::Failed)
            .into_iter()
            .filter(|n| runnable.iter().any(|t| test_matches(n, t)))
            .collect();
        if caught.is_empty() && run.crash().is_none() {
            self.problem(format!(
                "planted bug \"{name}\" passes {}: no test catches it",
                runnable.join(", ")
            ));
        } else {
            println!(
                "    {} \"{name}\" caught by {}",
                ui::green("✔"),
                caught.join(", ")
            );
        }
        Ok(())
    }

    /// cargo-mutants' mechanical mutations of the reference (an operator swapped, a body
    /// replaced by a default, a condition forced): each must make a test fail, or be listed in
    /// planted.toml's `[[equivalent_mutant]]` with why no test can tell it apart.
    fn check_mutants(&mut self) -> Result<()> {
        step("every mutant cargo-mutants makes of the reference is caught (or explained)");
        let (ok, version, _) = cargo::run_captured(cargo::cargo().args(["mutants", "--version"]))?;
        if !ok {
            bail!(
                "--mutants needs cargo-mutants: cargo install cargo-mutants --locked --version \
                 {MUTANTS_VERSION}"
            );
        }
        let version = version.trim().to_owned();
        println!("    {}", ui::dim(&version));
        // Unchanged since cargo-mutants last proved it: say so instead of mutating again.
        let fingerprint = mutation_record::fingerprint(self.exercise)?;
        if let Some(record) = mutation_record::load(self.exercise)
            && record.fingerprint == fingerprint
            && record.cargo_mutants == version
        {
            println!(
                "    {} unchanged since {} proved it: {} (delete it to mutate again)",
                ui::green("✔"),
                self.exercise
                    .relative(&mutation_record::path(self.exercise)),
                record.summary
            );
            return Ok(());
        }
        let problems_before = self.problems.len();
        let output = cargo::root()
            .join("target")
            .join("xtask")
            .join("mutants")
            .join(self.exercise.id());
        std::fs::create_dir_all(&output)?;
        let lib = cargo::git_path(&self.solution_file("lib.rs"));
        let mut command = cargo::cargo();
        command
            .args(["mutants", "--no-shuffle", "--jobs", "1", "--package"])
            .arg(self.exercise.solution_package())
            .args(["--file", &lib, "--output"])
            .arg(&output);
        let extra = self.args(false);
        if !extra.features.is_empty() {
            command.args(["--features", &extra.features.join(",")]);
        }
        // After `--`: arguments for `cargo test`; after the second, for libtest (the plan's
        // skips, so a service that is down does not make every mutant look caught).
        if !extra.libtest.is_empty() {
            command.args(["--", "--"]).args(&extra.libtest);
        }
        let (_, stdout, stderr) = cargo::run_captured(&mut command)?;
        let summary = stdout
            .lines()
            .rev()
            .find(|l| l.contains("mutants tested"))
            .unwrap_or("")
            .to_owned();
        let read = |name: &str| {
            std::fs::read_to_string(output.join("mutants.out").join(name)).unwrap_or_default()
        };
        let outcomes = read("outcomes.json");
        if outcomes.is_empty() {
            self.problem(format!(
                "cargo-mutants did not run:\n{}",
                tail(&format!("{stdout}{stderr}"), 20)
            ));
            return Ok(());
        }
        if stdout.contains("baseline") && stdout.contains("FAILED") {
            self.problem("cargo-mutants: the unmutated baseline fails its tests");
        }
        let planted: Planted = std::fs::read_to_string(self.solution_file("planted.toml"))
            .ok()
            .and_then(|t| toml::from_str(&t).ok())
            .unwrap_or_default();
        let missed: Vec<String> = read("missed.txt")
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| mutant_description(l).to_owned())
            .collect();
        let mut explained = 0;
        for mutant in &missed {
            match planted
                .equivalent_mutant
                .iter()
                .find(|e| e.mutant == *mutant)
            {
                Some(equivalent) if !equivalent.why.trim().is_empty() => explained += 1,
                _ => self.problems.push(format!(
                    "mutant not caught by any test: {mutant} (kill it with a test, or list it \
                     in planted.toml as an [[equivalent_mutant]] with why)"
                )),
            }
        }
        for equivalent in &planted.equivalent_mutant {
            if !missed.contains(&equivalent.mutant) {
                self.problems.push(format!(
                    "planted.toml lists an equivalent mutant cargo-mutants no longer misses: {}",
                    equivalent.mutant
                ));
            }
        }
        println!(
            "    {} {summary} ({explained} explained as equivalent)",
            ui::green("✔")
        );
        // Only a complete proof is recorded: with some of this exercise's tests skipped (a
        // service down), a mutant those tests would have caught looks missed. A skip that
        // names none of its tests (MongoDB for an exercise without MongoDB) takes nothing.
        let skips: Vec<&str> = extra
            .libtest
            .windows(2)
            .filter(|pair| pair[0] == "--skip")
            .map(|pair| pair[1].as_str())
            .collect();
        let none_skipped = !self
            .all_tests
            .iter()
            .any(|test| skips.iter().any(|skip| test.contains(skip)));
        if self.problems.len() == problems_before && none_skipped {
            mutation_record::save(
                self.exercise,
                &mutation_record::Record {
                    fingerprint,
                    cargo_mutants: version,
                    summary: summary.trim().to_owned(),
                },
            )?;
        }
        Ok(())
    }

    fn check_style(&mut self) -> Result<()> {
        let solution = self.exercise.solution_package();
        if let Some(output) = clippy(&solution, &[])? {
            self.problem(format!(
                "the reference has clippy warnings:\n{}",
                tail(&output, 40)
            ));
        }
        let (formatted, out, err) = cargo::run_captured(cargo::cargo().args([
            "fmt",
            "--check",
            "--package",
            &self.exercise.package(),
            "--package",
            &solution,
        ]))?;
        if !formatted {
            self.problem(format!("rustfmt would change these files:\n{out}{err}"));
        }
        let alternative = self.solution_file("alternative.rs");
        if alternative.is_file() {
            let (formatted, out, _) = cargo::run_captured(
                std::process::Command::new("rustfmt")
                    .args(["--check", "--edition", "2024"])
                    .arg(&alternative),
            )?;
            if !formatted {
                self.problem(format!("rustfmt would change alternative.rs:\n{out}"));
            }
        }
        for problem in proptest_hygiene(self.exercise)? {
            self.problem(problem);
        }
        Ok(())
    }

    fn check_hints_and_todos(&mut self) -> Result<()> {
        let learner_file = self.exercise.relative(&self.exercise.learner_file());
        let source = match self.exercise.pristine_stub() {
            Ok(stub) => stub,
            Err(_) => std::fs::read_to_string(self.exercise.learner_file())?,
        };
        for (line, snippet) in todos_without_chapter(&source) {
            self.problem(format!(
                "{learner_file}:{line}: `{snippet}` does not name the book chapter"
            ));
        }
        let parts = self.exercise.parts();
        if parts.is_empty() {
            self.problem("no tests/part_<letter>_<topic>.rs files: the parts cannot be told");
        }
        // Every part's file must be a module of the one test binary, or its tests never run.
        let binary =
            std::fs::read_to_string(self.exercise.tests_dir().join("parts.rs")).unwrap_or_default();
        let manifest = std::fs::read_to_string(self.exercise.solution_dir().join("Cargo.toml"))?;
        if !manifest.contains("\"../tests/parts.rs\"") {
            self.problem(
                "tests/parts.rs is not a [[test]] of .solution/Cargo.toml (add path = \
                 \"../tests/parts.rs\")",
            );
        }
        for part in parts {
            if !binary.contains(&format!("mod {};", part.module)) {
                self.problem(format!(
                    "tests/{}.rs is not a module of tests/parts.rs (add `mod {};`), so its tests \
                     never run",
                    part.module, part.module
                ));
            }
            let levels = self.exercise.hints(part.letter).len();
            if levels < 2 {
                self.problem(format!(
                    "part ({}) needs graded hints: hints/{}/1.md, 2.md (and 3.md)",
                    part.letter, part.letter
                ));
            }
        }
        Ok(())
    }
}

/// The candidate file, removed again when dropped (also when a check fails half-way).
struct Candidate(PathBuf);

impl Candidate {
    fn write(path: PathBuf, source: &str) -> Result<Self> {
        std::fs::write(&path, source)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(Candidate(path))
    }
}

impl Drop for Candidate {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `reference` with the one occurrence of `find` replaced; `None` unless it occurs once.
fn plant(reference: &str, find: &str, replace: &str) -> Option<String> {
    (!find.is_empty() && reference.matches(find).count() == 1)
        .then(|| reference.replacen(find, replace, 1))
}

/// `replace f -> bool with true` from cargo-mutants' `src/lib.rs:12:5: replace f -> bool with
/// true`: the description without where it is, which moves whenever lib.rs is edited.
fn mutant_description(line: &str) -> &str {
    let mut rest = line.trim();
    // `path:line:col: ` — skip three colons, the last two after numbers.
    for _ in 0..3 {
        match rest.split_once(':') {
            Some((_, after)) => rest = after,
            None => return line.trim(),
        }
    }
    rest.trim_start()
}

/// Does libtest's `name` (`part_a_money::adds`, or `adds`) answer to `wanted`?
fn test_matches(name: &str, wanted: &str) -> bool {
    name == wanted || name.ends_with(&format!("::{wanted}"))
}

/// Problems with the property tests: persisted failures dirty the learner's tree (and replay
/// stale cases), so every `proptest!` block says `failure_persistence: None`.
fn proptest_hygiene(exercise: &Exercise) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(exercise.tests_dir())? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.ends_with(".proptest-regressions") {
            problems.push(format!(
                "tests/{name}: persisted proptest failures; delete it"
            ));
            continue;
        }
        if !name.ends_with(".rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let blocks = text.matches("proptest! {").count() + text.matches("proptest!{").count();
        let configured = text.matches("failure_persistence: None").count();
        if configured < blocks {
            problems.push(format!(
                "tests/{name}: {blocks} proptest! block(s), {configured} with \
                 `failure_persistence: None` (failures must not be written into tests/)"
            ));
        }
    }
    Ok(problems)
}

fn step(what: &str) {
    println!("  {} {what}", ui::dim("·"));
}

/// The last `lines` lines of `text`.
fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `Some(output)` when clippy reports anything for `package` (warnings denied).
fn clippy(package: &str, features: &[&str]) -> Result<Option<String>> {
    let mut command = cargo::cargo();
    command.args([
        "clippy",
        "--package",
        package,
        "--all-targets",
        "--color",
        "never",
    ]);
    if !features.is_empty() {
        command.args(["--features", &features.join(",")]);
    }
    command.args(["--", "-D", "warnings"]);
    let (ok, _, stderr) = cargo::run_captured(&mut command)?;
    Ok((!ok).then_some(stderr))
}

/// `(line number, snippet)` of each `todo!(...)` whose message lacks the word "chapter".
fn todos_without_chapter(source: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    for (start, _) in source.match_indices("todo!(") {
        let line = source[..start].matches('\n').count() + 1;
        let rest = &source[start..];
        let call = &rest[..call_end(rest)];
        // Skip mentions in comments and docs ("replace each todo!() ...").
        let line_start = source[..start].rfind('\n').map_or(0, |i| i + 1);
        if source[line_start..start].contains("//") {
            continue;
        }
        if !call.to_lowercase().contains("chapter") {
            found.push((line, call.chars().take(60).collect()));
        }
    }
    found
}

/// Length of the macro call at the start of `text` (`todo!(...)`), up to its closing
/// parenthesis: parentheses inside the string message, like "(part a)", do not end it.
fn call_end(text: &str) -> usize {
    let (mut depth, mut in_string, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '(' if !in_string => depth += 1,
            ')' if !in_string => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            _ => {}
        }
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ci_installs_the_cargo_mutants_release_verify_is_tested_with() {
        let script = std::fs::read_to_string(cargo::root().join(".ci/run")).unwrap();
        assert!(
            script.contains(&format!("MUTANTS_VERSION={MUTANTS_VERSION}\n")),
            ".ci/run must install cargo-mutants {MUTANTS_VERSION}"
        );
    }

    #[test]
    fn finds_todos_that_do_not_point_to_the_book() {
        let source = "\
fn a() { todo!(\"see book chapter 01, Exercise\") }
/// replace the todo!() below
fn b() { todo!() }
fn d() { todo!(\"part (a), \\\"quoted\\\" (x): see book chapter 01\") }
fn c() {
    todo!(
        \"multi-line, Chapter 01\"
    )
}
";
        let found = todos_without_chapter(source);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, 3);
    }

    #[test]
    fn a_planted_bug_must_name_exactly_one_place() {
        let reference = "fn f(n: u32) -> u32 { n + 1 }\nfn g() {}\n";
        assert_eq!(
            plant(reference, "n + 1", "n.wrapping_add(1)").as_deref(),
            Some("fn f(n: u32) -> u32 { n.wrapping_add(1) }\nfn g() {}\n")
        );
        assert_eq!(plant(reference, "fn ", "x"), None, "two places: ambiguous");
        assert_eq!(plant(reference, "n - 1", "x"), None, "no place: stale");
        assert_eq!(plant(reference, "", "x"), None);
    }

    #[test]
    fn planted_bugs_are_named_by_test_or_by_module_path() {
        assert!(test_matches(
            "part_b_discount::survives_max",
            "survives_max"
        ));
        assert!(test_matches("survives_max", "survives_max"));
        assert!(test_matches(
            "part_b_discount::survives_max",
            "part_b_discount::survives_max"
        ));
        assert!(!test_matches(
            "part_b_discount::survives_max_too",
            "survives_max"
        ));
    }

    #[test]
    fn a_mutant_is_known_by_what_it_changes_not_where() {
        assert_eq!(
            mutant_description(
                "exercises/04-authentication/.solution/lib.rs:295:13: replace fmt -> fmt::Result \
                 with Ok(Default::default())"
            ),
            "replace fmt -> fmt::Result with Ok(Default::default())"
        );
    }

    #[test]
    fn planted_toml_is_read_strictly() {
        let good: Planted = toml::from_str(
            "[[bug]]\nname = \"x\"\nfind = '''a'''\nreplace = '''b'''\ncaught_by = [\"t\"]\n",
        )
        .unwrap();
        assert_eq!(good.bug.len(), 1);
        let typo = toml::from_str::<Planted>(
            "[[bug]]\nname = \"x\"\nfind = \"a\"\nreplace = \"b\"\ncaugth_by = [\"t\"]\n",
        );
        assert!(
            typo.is_err(),
            "a misspelt key must not silently drop the check"
        );
    }
}
