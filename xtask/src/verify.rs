//! `cargo xtask verify`: the proof that every exercise is sound.
//!
//! For each exercise: the stub compiles without warnings; every test is run against the stub
//! and *each one fails* (a test that passes on a stub cannot tell finished from unfinished);
//! every test passes against the reference solution; the solution is clippy- and rustfmt-clean;
//! every `todo!` names the book chapter; and there are graded hints.
//!
//! The stub checks need the stub: once a learner has started an exercise, its `src/lib.rs` holds
//! their work, which is *supposed* to pass tests. Then those checks are skipped, with a note, and
//! the rest still run; a clean checkout (CI's) always runs them all.

use anyhow::{Result, bail};

use crate::cargo::{self, Outcome, TestRun};
use crate::exercise::{self, Exercise};
use crate::ui;

pub fn run(only: Option<&str>) -> Result<()> {
    let exercises = match only {
        Some(wanted) => vec![exercise::find(wanted)?],
        None => exercise::all()?,
    };
    let mut failures = Vec::new();
    for exercise in &exercises {
        ui::heading(&format!(
            "verify exercise {} ({})",
            exercise.id(),
            exercise.topic()
        ));
        let problems = verify(exercise)?;
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
    }
    if failures.is_empty() {
        println!("\nverify: {} exercise(s) sound", exercises.len());
        Ok(())
    } else {
        bail!(
            "verify found {} problem(s):\n  {}",
            failures.len(),
            failures.join("\n  ")
        )
    }
}

/// Every problem found with one exercise (empty when it is sound).
fn verify(exercise: &Exercise) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    let stub = exercise.package();
    let solution = exercise.solution_package();

    let learner_file = exercise.relative(&exercise.learner_file());
    let on_stub = match exercise.is_untouched()? {
        Some(true) => Some(check_stub(&stub, &mut problems)?),
        Some(false) => {
            println!(
                "  {} {learner_file} holds your work, so the stub checks are skipped (a clean \
                 checkout runs them)",
                ui::yellow("·"),
            );
            None
        }
        None => {
            println!(
                "  {} not a git checkout: cannot tell whether {learner_file} is the stub, so the \
                 stub checks are skipped",
                ui::yellow("·"),
            );
            None
        }
    };

    step("the solution registers every test file");
    problems.extend(unregistered_tests(exercise)?);

    step("every test passes on the solution");
    let on_solution = cargo::test_package(&solution)?;
    if !on_solution.compiled {
        problems.push(format!(
            "the solution does not compile:\n{}",
            on_solution.stderr
        ));
    }
    for name in on_solution.names(Outcome::Failed) {
        problems.push(format!("test `{name}` fails on the reference solution"));
    }
    if on_solution.outcomes.is_empty() {
        problems.push("the exercise has no tests".to_owned());
    }
    if let Some(on_stub) = on_stub {
        let mut stub_names: Vec<_> = on_stub.outcomes.iter().map(|(n, _)| n).collect();
        let mut solution_names: Vec<_> = on_solution.outcomes.iter().map(|(n, _)| n).collect();
        stub_names.sort();
        solution_names.sort();
        if on_stub.compiled && on_solution.compiled && stub_names != solution_names {
            problems.push(format!(
                "the stub runs {} tests and the solution {}: they must run the same tests",
                stub_names.len(),
                solution_names.len()
            ));
        }
    }

    step("the solution is clippy- and rustfmt-clean");
    if let Some(output) = clippy(&solution)? {
        problems.push(format!("the solution has clippy warnings:\n{output}"));
    }
    let (formatted, out, err) = cargo::run_captured(cargo::cargo().args([
        "fmt",
        "--check",
        "--package",
        &stub,
        "--package",
        &solution,
    ]))?;
    if !formatted {
        problems.push(format!("rustfmt would change these files:\n{out}{err}"));
    }

    step("todo!s name the chapter; hints exist");
    let source = match exercise.pristine_stub() {
        Ok(stub) => stub,
        Err(_) => std::fs::read_to_string(exercise.learner_file())?,
    };
    for (line, snippet) in todos_without_chapter(&source) {
        problems.push(format!(
            "{learner_file}:{line}: `{snippet}` does not name the book chapter"
        ));
    }
    if exercise.hints().len() < 2 {
        problems.push("needs graded hints: hints/1.md, hints/2.md (and 3.md)".to_owned());
    }
    println!();
    Ok(problems)
}

/// The stub compiles without warnings and every test fails on it.
fn check_stub(stub: &str, problems: &mut Vec<String>) -> Result<TestRun> {
    step("stub compiles without warnings");
    if let Some(output) = clippy(stub)? {
        problems.push(format!("the stub ({stub}) is not warning-free:\n{output}"));
    }
    step("every test fails on the stub");
    let on_stub = cargo::test_package(stub)?;
    if !on_stub.compiled {
        problems.push(format!(
            "the stub's tests do not compile:\n{}",
            on_stub.stderr
        ));
    }
    for name in on_stub.names(Outcome::Passed) {
        problems.push(format!(
            "test `{name}` passes on the stub: it cannot tell a finished exercise from an \
             unfinished one (make it call the code the learner writes)"
        ));
    }
    for name in on_stub.names(Outcome::Ignored) {
        problems.push(format!("test `{name}` is ignored: every test must run"));
    }
    Ok(on_stub)
}

fn step(what: &str) {
    println!("  {} {what}", ui::dim("·"));
}

/// `Some(output)` when clippy reports anything for `package` (warnings denied).
fn clippy(package: &str) -> Result<Option<String>> {
    let (ok, _, stderr) = cargo::run_captured(cargo::cargo().args([
        "clippy",
        "--package",
        package,
        "--all-targets",
        "--color",
        "never",
        "--",
        "-D",
        "warnings",
    ]))?;
    Ok((!ok).then_some(stderr))
}

/// Test files the solution's Cargo.toml does not list as `[[test]]`s: those tests would run
/// on the stub and never on the solution.
fn unregistered_tests(exercise: &Exercise) -> Result<Vec<String>> {
    let manifest = std::fs::read_to_string(exercise.solution_dir().join("Cargo.toml"))?;
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(exercise.tests_dir())? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        if name.ends_with(".rs") && !manifest.contains(&format!("\"../tests/{name}\"")) {
            problems.push(format!(
                "tests/{name} is not a [[test]] of .solution/Cargo.toml (add path = \"../tests/{name}\")"
            ));
        }
    }
    Ok(problems)
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
    use super::todos_without_chapter;

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
}
