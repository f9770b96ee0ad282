//! Running cargo (and the few other commands the runner needs) and reading what `cargo test`
//! says.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use anyhow::{Context, Result, bail};

/// The workspace root, found at run time.
///
/// Not `env!("CARGO_MANIFEST_DIR")`: that is baked in at compile time, and with a shared
/// `CARGO_TARGET_DIR` (a common global setting) cargo may run an xtask binary built from
/// another checkout, which would then judge that checkout's exercises instead of yours.
/// `cargo xtask` is `cargo run -p xtask`, which sets `CARGO_MANIFEST_DIR` in the environment
/// of the process it starts, for the checkout it was run in; the directory we were started
/// from is the fallback.
pub fn root() -> &'static Path {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let from_cargo = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
        let here = std::env::current_dir().unwrap_or_default();
        find_root(from_cargo.as_deref(), &here).unwrap_or(here)
    })
}

/// The workspace root above `xtask_dir` (this package's directory, as cargo says at run
/// time), or else the nearest directory above `start` holding `xtask/` and a workspace
/// `Cargo.toml`.
fn find_root(xtask_dir: Option<&Path>, start: &Path) -> Option<PathBuf> {
    let is_root = |dir: &Path| {
        dir.join("xtask").join("Cargo.toml").is_file()
            && std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|manifest| manifest.contains("[workspace]"))
    };
    if let Some(parent) = xtask_dir.and_then(Path::parent)
        && is_root(parent)
    {
        return Some(parent.to_path_buf());
    }
    start
        .ancestors()
        .find(|dir| is_root(dir))
        .map(Path::to_path_buf)
}

/// `path` relative to the workspace root with `/` between its parts, as git wants it on every
/// OS (a Windows path's backslash is not a separator to git).
pub fn git_path(path: &Path) -> String {
    let relative = path.strip_prefix(root()).unwrap_or(path);
    relative
        .components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// `cargo` as the one that started us (`CARGO` is set by `cargo run`), at the workspace root.
pub fn cargo() -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut command = Command::new(program);
    command.current_dir(root());
    command
}

/// Runs with the output going straight to the terminal; Ok(true) when it succeeded.
pub fn run_visible(command: &mut Command) -> Result<bool> {
    let status = command
        .status()
        .with_context(|| format!("could not start {command:?}"))?;
    Ok(status.success())
}

/// Runs quietly, returning (success, stdout, stderr).
pub fn run_captured(command: &mut Command) -> Result<(bool, String, String)> {
    let output = command
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("could not start {command:?}"))?;
    Ok((
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    ))
}

/// Runs quietly; true when the command could start and succeeded.
pub fn succeeds(command: &mut Command) -> bool {
    run_captured(command).is_ok_and(|(ok, _, _)| ok)
}

/// What `<tool> --version` printed, or `None` when the tool is missing or failed.
pub fn version_of(command: &mut Command) -> Option<String> {
    match run_captured(command) {
        Ok((true, stdout, _)) => Some(stdout.trim().to_owned()),
        _ => None,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    Failed,
    Ignored,
}

/// What one `cargo test` run said.
pub struct TestRun {
    pub outcomes: Vec<(String, Outcome)>,
    /// False when nothing ran because the code did not compile.
    pub compiled: bool,
    /// cargo's own verdict: false when any test binary failed, *including* one that aborted
    /// before it could report (a stack overflow, an abort, a `process::exit`).
    pub exit_ok: bool,
    /// Test binaries cargo started (`Running ...` and `Doc-tests ...` lines).
    pub binaries_started: usize,
    /// Test binaries that printed libtest's closing `test result:` line.
    pub binaries_finished: usize,
    pub stdout: String,
    pub stderr: String,
}

impl TestRun {
    /// Reads a finished `cargo test` run.
    pub fn parse(exit_ok: bool, stdout: String, stderr: String) -> Self {
        let binaries_started = stderr
            .lines()
            .map(str::trim_start)
            .filter(|l| l.starts_with("Running ") || l.starts_with("Doc-tests "))
            .count();
        let binaries_finished = stdout
            .lines()
            .filter(|l| l.starts_with("test result: "))
            .count();
        TestRun {
            outcomes: parse_test_lines(&stdout),
            // cargo prints "could not compile" for any build failure.
            compiled: !stderr.contains("could not compile"),
            exit_ok,
            binaries_started,
            binaries_finished,
            stdout,
            stderr,
        }
    }

    /// Why this run cannot count as "everything passed" although no reported test failed:
    /// a test binary died before libtest's summary, so its tests never reported. `None` when
    /// every binary cargo started finished and cargo agrees.
    pub fn crash(&self) -> Option<String> {
        if !self.compiled {
            return None;
        }
        let unreported = self.binaries_started.saturating_sub(self.binaries_finished);
        // Every binary reported: cargo's failure is explained by the failed tests, if any.
        if unreported == 0 && (self.exit_ok || self.count(Outcome::Failed) > 0) {
            return None;
        }
        // cargo names the process that died and how; a stack overflow also says so itself.
        let evidence: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| {
                l.contains("process didn't exit successfully")
                    || l.contains("has overflowed its stack")
                    || l.contains("fatal runtime error")
            })
            .map(str::trim)
            .collect();
        let what = if unreported > 0 {
            format!(
                "{unreported} test binary(ies) stopped before reporting their results, so their \
                 tests never all ran"
            )
        } else {
            "cargo test failed although every test that reported passed".to_owned()
        };
        Some(if evidence.is_empty() {
            what
        } else {
            format!("{what}:\n    {}", evidence.join("\n    "))
        })
    }

    pub fn count(&self, outcome: Outcome) -> usize {
        count(&self.outcomes, outcome)
    }

    pub fn names(&self, outcome: Outcome) -> Vec<&str> {
        self.outcomes
            .iter()
            .filter(|(_, o)| *o == outcome)
            .map(|(name, _)| name.as_str())
            .collect()
    }

    /// The first `limit` failing tests' own output (for a stub, the `todo!` that names the
    /// chapter to read), one block per test as libtest prints it. A property test panics once
    /// per case it tries while shrinking, so a line repeated within one block is shown once.
    pub fn failure_report(&self, limit: usize) -> String {
        let mut report = String::new();
        let mut seen = std::collections::HashSet::new();
        let mut hidden = 0;
        let mut blocks = 0;
        let mut inside = false;
        for line in self.stdout.lines() {
            if line.starts_with("---- ") && line.ends_with(" ----") {
                flush_hidden(&mut report, &mut hidden);
                seen.clear();
                blocks += 1;
                inside = blocks <= limit;
            } else if line == "failures:" || line.starts_with("test result:") {
                flush_hidden(&mut report, &mut hidden);
                inside = false;
                continue;
            }
            if !inside {
                continue;
            }
            if !line.trim().is_empty() && !seen.insert(line) {
                hidden += 1;
                continue;
            }
            report.push_str(line);
            report.push('\n');
        }
        if blocks > limit {
            report.push_str(&format!(
                "... and {} more failing test(s)\n",
                blocks - limit
            ));
        }
        report
    }
}

fn flush_hidden(report: &mut String, hidden: &mut usize) {
    if *hidden > 0 {
        report.push_str(&format!("({hidden} repeated lines not shown)\n"));
        *hidden = 0;
    }
}

/// What to add to a `cargo test` run: cargo features, and libtest arguments (`--skip`).
#[derive(Clone, Debug, Default)]
pub struct TestArgs {
    pub features: Vec<String>,
    pub libtest: Vec<String>,
}

/// `cargo test -p <package> --no-fail-fast`, captured and parsed.
pub fn test_package(package: &str, extra: &TestArgs) -> Result<TestRun> {
    let mut command = cargo();
    command.args([
        "test",
        "--package",
        package,
        "--no-fail-fast",
        "--color",
        "never",
    ]);
    // A backtrace of a todo!() is dozens of lines of the runtime's frames under each failure;
    // the runner shows the message, and `cargo test` by hand still honours the variable.
    command.env("RUST_BACKTRACE", "0");
    if !extra.features.is_empty() {
        command.args(["--features", &extra.features.join(",")]);
    }
    command.arg("--").args(&extra.libtest);
    let (ok, stdout, stderr) = run_captured(&mut command)?;
    Ok(TestRun::parse(ok, stdout, stderr))
}

/// The names of the tests `cargo test -p <package>` would run (`-- --list`), without running
/// them. Empty when the package does not compile.
pub fn list_tests(package: &str, extra: &TestArgs) -> Result<Vec<String>> {
    let mut command = cargo();
    command.args(["test", "--package", package, "--color", "never"]);
    if !extra.features.is_empty() {
        command.args(["--features", &extra.features.join(",")]);
    }
    command.args(["--", "--list"]);
    let (_, stdout, _) = run_captured(&mut command)?;
    Ok(stdout
        .lines()
        .filter_map(|line| line.strip_suffix(": test"))
        .map(str::to_owned)
        .collect())
}

/// How many of `outcomes` are `wanted`.
pub fn count(outcomes: &[(String, Outcome)], wanted: Outcome) -> usize {
    outcomes.iter().filter(|(_, o)| *o == wanted).count()
}

/// Reads libtest's `test <name> ... ok|FAILED|ignored` lines.
pub fn parse_test_lines(stdout: &str) -> Vec<(String, Outcome)> {
    stdout
        .lines()
        .filter_map(|line| {
            let rest = line.strip_prefix("test ")?;
            let (name, result) = rest.rsplit_once(" ... ")?;
            let outcome = match result.trim() {
                "ok" => Outcome::Passed,
                "FAILED" => Outcome::Failed,
                r if r.starts_with("ignored") => Outcome::Ignored,
                _ => return None,
            };
            Some((name.to_owned(), outcome))
        })
        .collect()
}

/// `cargo xtask bench`: the criterion benchmarks of every crate that has them. Only those
/// packages are built (in release mode, which is slow): `cargo bench --workspace` would
/// compile the whole workspace optimised just to find there is nothing to run.
pub fn bench(args: &[String]) -> Result<()> {
    let packages = packages_with_benches()?;
    if packages.is_empty() {
        println!(
            "No benchmarks yet: lesson 19 (performance) adds criterion benches, and the capstone's \
             hot paths get theirs there."
        );
        return Ok(());
    }
    let mut command = cargo();
    command.arg("bench");
    for package in &packages {
        command.args(["--package", package]);
    }
    if !run_visible(command.args(args))? {
        bail!("cargo bench failed");
    }
    Ok(())
}

/// The workspace's own packages, as `cargo metadata --no-deps` describes them.
pub fn workspace_packages() -> Result<Vec<serde_json::Value>> {
    let (ok, stdout, stderr) =
        run_captured(cargo().args(["metadata", "--no-deps", "--format-version", "1"]))?;
    if !ok {
        bail!("cargo metadata failed:\n{stderr}");
    }
    let metadata: serde_json::Value =
        serde_json::from_str(&stdout).context("cargo metadata printed something unexpected")?;
    Ok(metadata["packages"].as_array().cloned().unwrap_or_default())
}

/// Does workspace package `package` depend on `dependency` (in any section)?
pub fn depends_on(package: &str, dependency: &str) -> Result<bool> {
    Ok(workspace_packages()?.iter().any(|p| {
        p["name"] == package
            && p["dependencies"]
                .as_array()
                .is_some_and(|deps| deps.iter().any(|d| d["name"] == dependency))
    }))
}

/// Workspace packages with at least one `[[bench]]` target.
fn packages_with_benches() -> Result<Vec<String>> {
    let packages = workspace_packages()?;
    Ok(packages
        .iter()
        .filter(|package| {
            package["targets"].as_array().is_some_and(|targets| {
                targets.iter().any(|target| {
                    target["kind"]
                        .as_array()
                        .is_some_and(|kinds| kinds.iter().any(|k| k == "bench"))
                })
            })
        })
        .filter_map(|package| package["name"].as_str().map(str::to_owned))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_kind_of_result_line_and_nothing_else() {
        let stdout = "\
running 4 tests
test money::adds ... ok
test money::parses ... FAILED
test slow_one ... ignored, needs a database
test src/lib.rs - Money (line 12) ... ok
test result: FAILED. 2 passed; 1 failed; 1 ignored
";
        assert_eq!(
            parse_test_lines(stdout),
            vec![
                ("money::adds".to_owned(), Outcome::Passed),
                ("money::parses".to_owned(), Outcome::Failed),
                ("slow_one".to_owned(), Outcome::Ignored),
                ("src/lib.rs - Money (line 12)".to_owned(), Outcome::Passed),
            ]
        );
    }

    #[test]
    fn failure_report_keeps_each_failing_tests_output_and_nothing_else() {
        let run = TestRun::parse(
            false,
            "test a ... FAILED\n\nfailures:\n\n---- a stdout ----\nboom\n\n\
             failures:\n    a\n\ntest result: FAILED. 0 passed; 1 failed\n"
                .into(),
            String::new(),
        );
        let report = run.failure_report(5);
        assert!(report.starts_with("---- a stdout ----\nboom\n"), "{report}");
        assert!(!report.contains("test result"), "{report}");
    }

    #[test]
    fn failure_report_shows_a_repeated_panic_once_per_test() {
        let run = TestRun::parse(
            false,
            "failures:\n\n---- p stdout ----\npanicked at x\npanicked at x\npanicked at x\n\
             ---- q stdout ----\npanicked at x\n"
                .into(),
            String::new(),
        );
        let report = run.failure_report(5);
        assert_eq!(report.matches("panicked at x").count(), 2, "{report}");
        assert!(report.contains("(2 repeated lines not shown)"), "{report}");
        assert!(
            run.failure_report(1)
                .ends_with("... and 1 more failing test(s)\n")
        );
    }

    /// What cargo prints around a test binary that aborts: the first binary reports, the
    /// second (a recursive `Display`) overflows its stack before its summary.
    fn aborted_run() -> TestRun {
        let stderr = "\
     Running tests/part_a.rs (target/debug/deps/part_a-1)
     Running tests/part_b.rs (target/debug/deps/part_b-2)

thread 'shows_a_price' has overflowed its stack
fatal runtime error: stack overflow
error: test failed, to rerun pass `--test part_b`

Caused by:
  process didn't exit successfully: `/t/part_b-2` (signal: 6, SIGABRT: process abort signal)
error: 1 target failed:
    `--test part_b`
";
        let stdout = "\
running 2 tests
test adds ... ok
test parses ... ok

test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out

running 1 test
";
        TestRun::parse(false, stdout.into(), stderr.into())
    }

    #[test]
    fn a_binary_that_aborts_is_a_crash_even_when_every_reported_test_passed() {
        let run = aborted_run();
        assert_eq!(run.count(Outcome::Passed), run.outcomes.len());
        let crash = run.crash().expect("an aborted binary must be reported");
        assert!(crash.contains("1 test binary(ies) stopped"), "{crash}");
        assert!(crash.contains("overflowed its stack"), "{crash}");
    }

    #[test]
    fn ordinary_failures_and_clean_runs_are_not_crashes() {
        let clean = TestRun::parse(
            true,
            "test a ... ok\ntest result: ok. 1 passed\n".into(),
            "     Running tests/a.rs (x)\n".into(),
        );
        assert_eq!(clean.crash(), None);
        let failing = TestRun::parse(
            false,
            "test a ... FAILED\ntest result: FAILED. 0 passed; 1 failed\n".into(),
            "     Running tests/a.rs (x)\nerror: test failed\n".into(),
        );
        assert_eq!(failing.crash(), None);
        let silent = TestRun::parse(
            false,
            "test a ... ok\ntest result: ok. 1 passed\n".into(),
            "     Running tests/a.rs (x)\n".into(),
        );
        assert!(
            silent.crash().is_some(),
            "cargo failed: the run is not clean"
        );
    }

    #[test]
    fn the_root_is_the_checkout_cargo_ran_in_not_the_one_xtask_was_built_in() {
        let base = std::env::temp_dir().join(format!("xtask-root-{}", std::process::id()));
        let make = |name: &str| {
            let dir = base.join(name);
            std::fs::create_dir_all(dir.join("xtask").join("src")).unwrap();
            std::fs::write(
                dir.join("Cargo.toml"),
                "[workspace]\nmembers = [\"xtask\"]\n",
            )
            .unwrap();
            std::fs::write(dir.join("xtask").join("Cargo.toml"), "[package]\n").unwrap();
            dir
        };
        let (mine, other) = (make("mine"), make("other"));
        // cargo says which checkout it ran: that wins over where we were started from.
        assert_eq!(
            find_root(Some(&mine.join("xtask")), &other.join("xtask/src")),
            Some(mine.clone())
        );
        // Without cargo's word, the nearest checkout above the current directory.
        assert_eq!(
            find_root(None, &other.join("xtask/src")),
            Some(other.clone())
        );
        // A stale or foreign CARGO_MANIFEST_DIR is ignored.
        assert_eq!(
            find_root(Some(&base.join("nowhere/xtask")), &mine),
            Some(mine.clone())
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
