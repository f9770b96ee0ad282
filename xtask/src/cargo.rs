//! Running cargo (and the few other commands the runner needs) and reading what `cargo test`
//! says.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result, bail};

/// The workspace root: xtask lives one level below it.
pub fn root() -> PathBuf {
    let xtask = Path::new(env!("CARGO_MANIFEST_DIR"));
    xtask.parent().unwrap_or(xtask).to_path_buf()
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
    pub stdout: String,
    pub stderr: String,
}

impl TestRun {
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

/// `cargo test -p <package> --no-fail-fast`, captured and parsed.
pub fn test_package(package: &str) -> Result<TestRun> {
    let (_, stdout, stderr) = run_captured(cargo().args([
        "test",
        "--package",
        package,
        "--no-fail-fast",
        "--color",
        "never",
    ]))?;
    let outcomes = parse_test_lines(&stdout);
    // cargo prints "could not compile" for any build failure; tests that ran print results.
    let compiled = !stderr.contains("could not compile");
    Ok(TestRun {
        outcomes,
        compiled,
        stdout,
        stderr,
    })
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
        let run = TestRun {
            outcomes: vec![],
            compiled: true,
            stdout: "test a ... FAILED\n\nfailures:\n\n---- a stdout ----\nboom\n\n\
                     failures:\n    a\n\ntest result: FAILED. 0 passed; 1 failed\n"
                .into(),
            stderr: String::new(),
        };
        let report = run.failure_report(5);
        assert!(report.starts_with("---- a stdout ----\nboom\n"), "{report}");
        assert!(!report.contains("test result"), "{report}");
    }

    #[test]
    fn failure_report_shows_a_repeated_panic_once_per_test() {
        let run = TestRun {
            outcomes: vec![],
            compiled: true,
            stdout:
                "failures:\n\n---- p stdout ----\npanicked at x\npanicked at x\npanicked at x\n\
                     ---- q stdout ----\npanicked at x\n"
                    .into(),
            stderr: String::new(),
        };
        let report = run.failure_report(5);
        assert_eq!(report.matches("panicked at x").count(), 2, "{report}");
        assert!(report.contains("(2 repeated lines not shown)"), "{report}");
        assert!(
            run.failure_report(1)
                .ends_with("... and 1 more failing test(s)\n")
        );
    }
}
