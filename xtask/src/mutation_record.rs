//! What cargo-mutants last proved about an exercise, so a run that changed nothing it depends
//! on need not mutate it again.
//!
//! Mutating a reference takes minutes (each mutant is a build and a test run), and an
//! exercise's result can only change when something it is built from changes. So after
//! `cargo xtask verify --mutants` finds every mutant of an exercise caught or explained, it
//! writes `.solution/mutants.toml`: the cargo-mutants release, its summary line, and a
//! fingerprint of everything the outcome depends on:
//!
//! - the exercise's files (the tests, the reference, `planted.toml`, `given.rs`, the build
//!   script), except the learner's `src/lib.rs` and the hints, which no mutant meets;
//! - the exact version of every crate in the reference's dependency tree (`cargo tree`), so
//!   an upgrade anywhere below it counts;
//! - the files of every workspace crate in that tree (`testkit`, the shop's crates).
//!
//! A later `--mutants` run whose fingerprint matches reports the recorded result and skips
//! the mutation; any difference (an edited test, a new planted entry, a bumped dependency)
//! runs it again. Commit the file with the change that produced it, as with `.sqlx/`: CI
//! then mutates only the exercises a change touched. Delete it to force a fresh run.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::cargo;
use crate::exercise::Exercise;

const FILE: &str = "mutants.toml";

const HEADER: &str = "\
# Written by `cargo xtask verify --mutants` when every mutant cargo-mutants made of this
# reference was caught by a test or explained in planted.toml. While `fingerprint` matches
# (the exercise's files, its dependency tree and the workspace crates in it are unchanged),
# later runs report this result instead of mutating again; delete the file to force a run.
# See xtask/src/mutation_record.rs.
";

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    pub fingerprint: String,
    pub cargo_mutants: String,
    pub summary: String,
}

pub fn path(exercise: &Exercise) -> PathBuf {
    exercise.solution_dir().join(FILE)
}

/// The record on disk, if there is one and it can be read.
pub fn load(exercise: &Exercise) -> Option<Record> {
    let text = std::fs::read_to_string(path(exercise)).ok()?;
    toml::from_str(&text).ok()
}

pub fn save(exercise: &Exercise, record: &Record) -> Result<()> {
    std::fs::write(path(exercise), record.to_toml())
        .with_context(|| format!("could not write {}", path(exercise).display()))
}

impl Record {
    /// The file's text. The workspace's `toml` parses only, so the three strings are written
    /// here; JSON's string escapes are all valid in a TOML basic string.
    fn to_toml(&self) -> String {
        let quote = |s: &str| serde_json::Value::from(s).to_string();
        format!(
            "{HEADER}fingerprint = {}\ncargo_mutants = {}\nsummary = {}\n",
            quote(&self.fingerprint),
            quote(&self.cargo_mutants),
            quote(&self.summary)
        )
    }
}

/// The fingerprint of everything cargo-mutants' verdict on `exercise` depends on.
pub fn fingerprint(exercise: &Exercise) -> Result<String> {
    let root = cargo::root();
    let (ok, tree, stderr) = cargo::run_captured(cargo::cargo().args([
        "tree",
        "--package",
        &exercise.solution_package(),
        "--edges",
        "normal,dev,build",
        "--prefix",
        "none",
        "--features",
        "verify-candidate",
    ]))?;
    if !ok {
        bail!("cargo tree failed:\n{stderr}");
    }
    let (crates, local) = dependency_lines(&tree, root);
    let mut hasher = Sha256::new();
    for line in &crates {
        hasher.update(line.as_bytes());
        hasher.update(b"\n");
    }
    let skip = [
        exercise.learner_file(),
        path(exercise),
        exercise.dir.join("hints"),
    ];
    let mut files = tracked_files(&exercise.dir)?;
    for dir in &local {
        files.extend(tracked_files(&root.join(dir))?);
    }
    files.retain(|file| !skip.iter().any(|s| file.starts_with(s)));
    files.sort();
    files.dedup();
    for file in &files {
        let content =
            std::fs::read(file).with_context(|| format!("could not read {}", file.display()))?;
        hasher.update(cargo::git_path(file).as_bytes());
        hasher.update(b"\0");
        hasher.update((content.len() as u64).to_le_bytes());
        hasher.update(&content);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// `cargo tree --prefix none` lists one crate per line (`name v1.2.3`, a workspace crate with
/// its directory in brackets, a repeat marked `(*)`). Returns the distinct crates, sorted and
/// with workspace directories made relative to `root`, and those directories.
fn dependency_lines(tree: &str, root: &Path) -> (Vec<String>, Vec<PathBuf>) {
    let mut crates = Vec::new();
    let mut local = Vec::new();
    for line in tree.lines() {
        let line = line.trim().trim_end_matches("(*)").trim();
        // Section headers such as `[dev-dependencies]` and blank lines carry no crate.
        if line.is_empty() || line.starts_with('[') {
            continue;
        }
        let mut words: Vec<&str> = line.split_whitespace().collect();
        // `(proc-macro)` and similar markers say nothing about what is built.
        words.retain(|w| !matches!(*w, "(proc-macro)" | "(build)"));
        let mut entry = words.iter().take(2).copied().collect::<Vec<_>>().join(" ");
        if let Some(dir) = line
            .split_once('(')
            .and_then(|(_, rest)| rest.strip_suffix(')'))
            .map(Path::new)
            .and_then(|dir| dir.strip_prefix(root).ok())
        {
            entry.push_str(&format!(" ({})", dir.display()));
            local.push(dir.to_path_buf());
        }
        crates.push(entry);
    }
    crates.sort();
    crates.dedup();
    local.sort();
    local.dedup();
    (crates, local)
}

/// The files git knows of (tracked, or new and not ignored) under `dir`, as absolute paths.
fn tracked_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let root = cargo::root();
    let output = std::process::Command::new("git")
        .current_dir(root)
        .args([
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
        ])
        .arg(cargo::git_path(dir))
        .output()
        .context("could not run git ls-files")?;
    if !output.status.success() {
        bail!(
            "git ls-files failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(output
        .stdout
        .split(|b| *b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| root.join(String::from_utf8_lossy(name).as_ref()))
        // A file deleted in the work tree but not yet in the index is no input any more.
        .filter(|file| file.is_file())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dependency_tree_is_read_as_a_set_of_exact_versions_and_workspace_directories() {
        let root = Path::new("/work/repo");
        let tree = "\
exercise-09-solution v0.1.0 (/work/repo/exercises/09-caching/.solution)
tokio v1.54.0
tokio-macros v2.6.0 (proc-macro)
testkit v0.1.0 (/work/repo/testkit)
tokio v1.54.0 (*)

[dev-dependencies]
proptest v1.12.0
";
        let (crates, local) = dependency_lines(tree, root);
        assert_eq!(
            crates,
            [
                "exercise-09-solution v0.1.0 (exercises/09-caching/.solution)",
                "proptest v1.12.0",
                "testkit v0.1.0 (testkit)",
                "tokio v1.54.0",
                "tokio-macros v2.6.0",
            ]
        );
        assert_eq!(
            local,
            [
                PathBuf::from("exercises/09-caching/.solution"),
                PathBuf::from("testkit")
            ]
        );
    }

    #[test]
    fn a_record_survives_a_round_trip_through_its_file_format() {
        let record = Record {
            fingerprint: "ab12".into(),
            cargo_mutants: "cargo-mutants 27.1.0".into(),
            summary: "40 mutants tested in 3m: 35 caught, 5 \"unviable\"\\".into(),
        };
        assert_eq!(toml::from_str::<Record>(&record.to_toml()).unwrap(), record);
    }
}
