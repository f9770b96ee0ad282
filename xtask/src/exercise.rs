//! The exercises on disk: `exercises/NN-slug/` with the learner's `src/lib.rs`, the shared
//! `tests/`, graded `hints/N.md`, and the reference solution in `.solution/`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::cargo::{self, Outcome, TestRun};

#[derive(Clone, Debug)]
pub struct Exercise {
    pub number: u32,
    /// `01-rust-foundations`
    pub slug: String,
    pub dir: PathBuf,
}

impl Exercise {
    pub fn id(&self) -> String {
        format!("{:02}", self.number)
    }

    /// `rust-foundations`
    pub fn topic(&self) -> &str {
        self.slug
            .split_once('-')
            .map_or(&self.slug, |(_, topic)| topic)
    }

    pub fn package(&self) -> String {
        format!("exercise-{:02}", self.number)
    }

    pub fn solution_package(&self) -> String {
        format!("exercise-{:02}-solution", self.number)
    }

    /// The one file the learner edits.
    pub fn learner_file(&self) -> PathBuf {
        self.dir.join("src").join("lib.rs")
    }

    pub fn solution_dir(&self) -> PathBuf {
        self.dir.join(".solution")
    }

    pub fn tests_dir(&self) -> PathBuf {
        self.dir.join("tests")
    }

    /// The parts of the exercise, from its test files `tests/part_<letter>_<topic>.rs`.
    pub fn parts(&self) -> Vec<Part> {
        let mut parts: Vec<Part> = std::fs::read_dir(self.tests_dir())
            .into_iter()
            .flatten()
            .filter_map(|entry| {
                let name = entry.ok()?.file_name().into_string().ok()?;
                let stem = name.strip_suffix(".rs")?;
                let rest = stem.strip_prefix("part_")?;
                let (letter, topic) = rest.split_once('_')?;
                let mut chars = letter.chars();
                let (Some(letter), None) = (chars.next(), chars.next()) else {
                    return None;
                };
                Some(Part {
                    letter,
                    topic: topic.replace('_', " "),
                    module: stem.to_owned(),
                })
            })
            .collect();
        parts.sort_by_key(|p| p.letter);
        parts
    }

    /// `hints/<part>/1.md`, `2.md`, ... in level order.
    pub fn hints(&self, part: char) -> Vec<PathBuf> {
        let dir = self.dir.join("hints").join(part.to_string());
        (1..)
            .map(|level| dir.join(format!("{level}.md")))
            .take_while(|path| path.is_file())
            .collect()
    }

    /// The book chapter, relative to the workspace root.
    pub fn chapter(&self) -> String {
        format!("book/src/{}.md", self.slug)
    }

    /// Path relative to the workspace root, for messages.
    pub fn relative(&self, path: &Path) -> String {
        cargo::git_path(path)
    }

    /// The git object id of the stub as the course ships it, recorded in the exercise's
    /// `Cargo.toml` (`[package.metadata.course] stub = "..."`).
    ///
    /// Recorded rather than read from a branch: after a learner commits their work, `HEAD` (and
    /// their own `origin`) hold *their* file, and on a maintainer's branch that edits a stub the
    /// branch is not what was shipped either. The id names one exact text, which any clone of
    /// the course has in its history; `cargo xtask verify NN --record-stub` records a new one.
    pub fn recorded_stub_id(&self) -> Result<Option<String>> {
        let manifest = std::fs::read_to_string(self.dir.join("Cargo.toml"))?;
        let parsed: toml::Table = toml::from_str(&manifest).with_context(|| {
            format!(
                "{} is not valid TOML",
                self.dir.join("Cargo.toml").display()
            )
        })?;
        Ok(parsed
            .get("package")
            .and_then(|p| p.get("metadata"))
            .and_then(|m| m.get("course"))
            .and_then(|c| c.get("stub"))
            .and_then(|s| s.as_str())
            .map(str::to_owned))
    }

    /// The stub's text, from git by its recorded id.
    pub fn pristine_stub(&self) -> Result<String> {
        let id = self.recorded_stub_id()?.with_context(|| {
            format!(
                "exercise {} has no recorded stub; run `cargo xtask verify {} --record-stub`",
                self.id(),
                self.id()
            )
        })?;
        let (ok, stub, stderr) = git(&["cat-file", "blob", &id])?;
        if !ok {
            bail!(
                "cannot read the stub of exercise {} (git object {id}) from git: {}; this needs \
                 the repository as you cloned it",
                self.id(),
                stderr.trim()
            );
        }
        Ok(stub)
    }

    /// The git object id the learner's file has now (what `git hash-object` says), `None`
    /// outside a git checkout.
    pub fn current_id(&self) -> Result<Option<String>> {
        let path = cargo::git_path(&self.learner_file());
        let (ok, id, _) = git(&["hash-object", "--", &path])?;
        Ok(ok.then(|| id.trim().to_owned()))
    }

    /// Is the learner's file still the stub? `None` when that cannot be told (no git, or no
    /// recorded stub).
    pub fn is_untouched(&self) -> Result<Option<bool>> {
        let (Some(recorded), Some(current)) = (self.recorded_stub_id()?, self.current_id()?) else {
            return Ok(None);
        };
        Ok(Some(recorded == current))
    }

    /// Records the learner's file as it is now as the exercise's stub: stores its text in
    /// git's object database and its id in `Cargo.toml`. For maintainers who changed a stub.
    pub fn record_stub(&self) -> Result<String> {
        let path = cargo::git_path(&self.learner_file());
        let (ok, id, stderr) = git(&["hash-object", "-w", "--", &path])?;
        if !ok {
            bail!("git could not store {path}: {}", stderr.trim());
        }
        let id = id.trim().to_owned();
        let manifest_path = self.dir.join("Cargo.toml");
        let manifest = std::fs::read_to_string(&manifest_path)?;
        std::fs::write(&manifest_path, with_recorded_stub(&manifest, &id))
            .with_context(|| format!("cannot write {}", manifest_path.display()))?;
        Ok(id)
    }

    /// Runs the learner's tests and says where they stand.
    pub fn status(&self) -> Result<(Status, TestRun)> {
        let run = cargo::test_package(&self.package(), &cargo::TestArgs::default())?;
        Ok((Status::of(&run), run))
    }
}

/// One part of an exercise: `tests/part_b_discount.rs` is part `b`, "discount".
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Part {
    pub letter: char,
    pub topic: String,
    /// The test module (and file stem): `part_b_discount`.
    pub module: String,
}

/// `manifest` with `[package.metadata.course] stub = "<id>"` set: the line replaced where it
/// exists, the table added at the end where it does not.
fn with_recorded_stub(manifest: &str, id: &str) -> String {
    let line = format!("stub = \"{id}\"");
    let mut in_table = false;
    let mut replaced = false;
    let mut out: Vec<String> = Vec::new();
    for l in manifest.lines() {
        let trimmed = l.trim();
        if trimmed.starts_with('[') {
            in_table = trimmed == "[package.metadata.course]";
        } else if in_table && trimmed.starts_with("stub") && trimmed.contains('=') {
            out.push(line.clone());
            replaced = true;
            continue;
        }
        out.push(l.to_owned());
    }
    let mut text = out.join("\n");
    if !replaced {
        text.push_str(
            "\n\n# The stub as shipped, by git object id: `cargo xtask reset` restores it and\n\
             # `verify` proves it; `cargo xtask verify NN --record-stub` records a changed one.\n\
             [package.metadata.course]\n",
        );
        text.push_str(&line);
    }
    text.push('\n');
    text
}

/// `git <args>` at the workspace root, captured: (success, stdout, stderr).
fn git(args: &[&str]) -> Result<(bool, String, String)> {
    git_in(cargo::root(), args)
}

/// `git <args>` in `dir`, captured.
fn git_in(dir: &Path, args: &[&str]) -> Result<(bool, String, String)> {
    cargo::run_captured(Command::new("git").current_dir(dir).args(args))
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Done {
        total: usize,
    },
    InProgress {
        passed: usize,
        total: usize,
    },
    NotStarted {
        total: usize,
    },
    /// A test binary died before reporting (a stack overflow, an abort): whatever reported
    /// cannot say the exercise is done.
    Crashed {
        passed: usize,
        total: usize,
        why: String,
    },
    DoesNotCompile,
}

impl Status {
    /// Judged by cargo's exit status and libtest's own summaries, not only by the tests that
    /// happened to report.
    pub fn of(run: &TestRun) -> Self {
        let total = run.outcomes.len();
        let passed = run.count(Outcome::Passed);
        if !run.compiled {
            Status::DoesNotCompile
        } else if let Some(why) = run.crash() {
            Status::Crashed { passed, total, why }
        } else if total > 0 && passed == total && run.exit_ok {
            Status::Done { total }
        } else if passed > 0 {
            Status::InProgress { passed, total }
        } else {
            Status::NotStarted { total }
        }
    }

    pub fn is_done(&self) -> bool {
        matches!(self, Status::Done { .. })
    }
}

/// Every exercise, in order.
pub fn all() -> Result<Vec<Exercise>> {
    let dir = cargo::root().join("exercises");
    let entries =
        std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut exercises: Vec<Exercise> = entries
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let slug = entry.file_name().into_string().ok()?;
            let number = slug.split_once('-')?.0.parse().ok()?;
            let dir = entry.path();
            dir.join("Cargo.toml")
                .is_file()
                .then_some(Exercise { number, slug, dir })
        })
        .collect();
    exercises.sort_by_key(|e| e.number);
    Ok(exercises)
}

/// Finds an exercise by `1`, `01`, `exercise-01` or `01-rust-foundations`.
pub fn find(wanted: &str) -> Result<Exercise> {
    let exercises = all()?;
    let key = wanted.trim().trim_start_matches("exercise-");
    let number = key.split('-').next().and_then(|n| n.parse::<u32>().ok());
    let found = exercises
        .iter()
        .find(|e| e.slug == key || Some(e.number) == number);
    match found {
        Some(exercise) => Ok(exercise.clone()),
        None => {
            let known: Vec<String> = exercises.iter().map(|e| e.slug.clone()).collect();
            bail!(
                "there is no exercise `{wanted}`. The exercises are: {}",
                known.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recording_a_stub_replaces_the_old_id_or_adds_the_table() {
        let fresh = "[package]\nname = \"exercise-01\"\n";
        let once = with_recorded_stub(fresh, "abc");
        let parsed: toml::Table = toml::from_str(&once).unwrap();
        assert_eq!(
            parsed["package"]["metadata"]["course"]["stub"].as_str(),
            Some("abc")
        );
        let twice = with_recorded_stub(&once, "def");
        assert_eq!(twice.matches("stub = ").count(), 1, "{twice}");
        assert!(twice.contains("stub = \"def\""), "{twice}");
        // A `stub` key in another table is not touched.
        let other = "[dependencies]\nstub = \"1\"\n";
        assert!(with_recorded_stub(other, "x").starts_with("[dependencies]\nstub = \"1\""));
    }

    /// A learner commits their work: HEAD (and a branch of theirs) now hold their file, and
    /// the recorded id still names the stub as shipped.
    #[test]
    fn the_recorded_stub_survives_the_learner_committing_their_work() {
        let repo = std::env::temp_dir().join(format!("xtask-stub-{}", std::process::id()));
        std::fs::create_dir_all(&repo).unwrap();
        let run = |args: &[&str]| {
            let (ok, out, err) = git_in(&repo, args).unwrap();
            assert!(ok, "git {args:?}: {err}");
            out.trim().to_owned()
        };
        run(&["init", "-q"]);
        run(&["config", "user.email", "learner@example.test"]);
        run(&["config", "user.name", "Learner"]);
        std::fs::write(repo.join("lib.rs"), "pub fn f() { todo!() }\n").unwrap();
        let recorded = run(&["hash-object", "-w", "--", "lib.rs"]);
        run(&["add", "lib.rs"]);
        run(&["commit", "-qm", "the course"]);
        std::fs::write(repo.join("lib.rs"), "pub fn f() {}\n").unwrap();
        run(&["commit", "-qam", "my solution"]);
        assert_eq!(
            run(&["cat-file", "blob", &recorded]),
            "pub fn f() { todo!() }"
        );
        assert_ne!(
            run(&["hash-object", "--", "lib.rs"]),
            recorded,
            "the work is not the stub"
        );
        std::fs::remove_dir_all(&repo).unwrap();
    }

    #[test]
    fn an_aborted_test_binary_is_never_done() {
        let run = TestRun::parse(
            false,
            "test a ... ok\ntest result: ok. 1 passed\n".into(),
            "     Running tests/a.rs (x)\n     Running tests/b.rs (y)\n\
             thread 'main' has overflowed its stack\n"
                .into(),
        );
        assert!(matches!(
            Status::of(&run),
            Status::Crashed { passed: 1, .. }
        ));
        let done = TestRun::parse(
            true,
            "test a ... ok\ntest result: ok. 1 passed\n".into(),
            "     Running tests/a.rs (x)\n".into(),
        );
        assert_eq!(Status::of(&done), Status::Done { total: 1 });
    }
}
