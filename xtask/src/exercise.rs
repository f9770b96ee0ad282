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

    /// `hints/1.md`, `hints/2.md`, ... in level order.
    pub fn hints(&self) -> Vec<PathBuf> {
        (1..)
            .map(|level| self.dir.join("hints").join(format!("{level}.md")))
            .take_while(|path| path.is_file())
            .collect()
    }

    /// The book chapter, relative to the workspace root.
    pub fn chapter(&self) -> String {
        format!("book/src/{}.md", self.slug)
    }

    /// Path relative to the workspace root, for messages.
    pub fn relative(&self, path: &Path) -> String {
        path.strip_prefix(cargo::root())
            .unwrap_or(path)
            .display()
            .to_string()
    }

    /// The stub as the course ships it: the file in the branch you cloned (`origin/HEAD`), so
    /// it is found even after you commit your own work; `HEAD` when there is no remote.
    pub fn pristine_stub(&self) -> Result<String> {
        let relative = self.relative(&self.learner_file());
        let mut last_error = String::new();
        for rev in ["origin/HEAD", "HEAD"] {
            let (ok, stub, stderr) = git(&["show", &format!("{rev}:{relative}")])?;
            if ok {
                return Ok(stub);
            }
            last_error = stderr.trim().to_owned();
        }
        bail!(
            "cannot read the stub of {relative} from git ({last_error}): this needs the repository as you cloned it"
        )
    }

    /// Is the learner's file still the stub? `None` when that cannot be told (no git).
    pub fn is_untouched(&self) -> Result<Option<bool>> {
        let current = std::fs::read_to_string(self.learner_file())?;
        Ok(match self.pristine_stub() {
            Ok(stub) => Some(stub == current),
            // An exercise git does not know yet is one being written: its file is the stub.
            Err(_) if self.is_new()? => Some(true),
            Err(_) => None,
        })
    }

    /// In a git checkout, but not yet committed (its author is writing it).
    fn is_new(&self) -> Result<bool> {
        let relative = self.relative(&self.learner_file());
        let (in_checkout, _, _) = git(&["rev-parse", "--is-inside-work-tree"])?;
        let (tracked, _, _) = git(&["ls-files", "--error-unmatch", "--", &relative])?;
        Ok(in_checkout && !tracked)
    }

    /// Runs the learner's tests and says where they stand.
    pub fn status(&self) -> Result<(Status, TestRun)> {
        let run = cargo::test_package(&self.package())?;
        let total = run.outcomes.len();
        let passed = run.count(Outcome::Passed);
        let status = if !run.compiled {
            Status::DoesNotCompile
        } else if total > 0 && passed == total {
            Status::Done { total }
        } else if passed > 0 {
            Status::InProgress { passed, total }
        } else {
            Status::NotStarted { total }
        };
        Ok((status, run))
    }
}

/// `git <args>` at the workspace root, captured: (success, stdout, stderr).
fn git(args: &[&str]) -> Result<(bool, String, String)> {
    cargo::run_captured(Command::new("git").current_dir(cargo::root()).args(args))
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Done { total: usize },
    InProgress { passed: usize, total: usize },
    NotStarted { total: usize },
    DoesNotCompile,
}

impl Status {
    pub fn is_done(self) -> bool {
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
