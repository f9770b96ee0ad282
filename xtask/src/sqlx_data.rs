//! `cargo xtask sqlx-prepare [--check]`: the offline data of sqlx's query macros.
//!
//! `sqlx::query!` and friends check each SQL statement against a real database at compile time.
//! So that building the workspace never needs PostgreSQL, the description of every such query
//! is committed in `.sqlx/` at the root, and `.cargo/config.toml` sets `SQLX_OFFLINE=true`.
//! The price is keeping that data current: a changed query or migration must be followed by
//! `cargo xtask sqlx-prepare`, and `cargo xtask test` runs it with `--check`, which fails on
//! data that is missing, stale or different from what the code and migrations produce now.
//!
//! How: a scratch database gets every migration (testkit's `scratch-pg`), then the crates that
//! use sqlx are checked again with `SQLX_OFFLINE=false`, `DATABASE_URL` pointing at it and
//! `SQLX_OFFLINE_DIR` pointing at an empty folder, where the macros write one file per query.
//! That folder is then compared with (or copied to) `.sqlx/`. No sqlx-cli needed.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::{cargo, ui};

/// Rewrites (`check == false`) or checks (`check == true`) the committed query data.
pub fn run(check: bool) -> Result<String> {
    let root = cargo::root();
    let packages = sqlx_packages()?;
    if packages.is_empty() {
        return Ok("no crate uses sqlx".to_owned());
    }
    let migrations: Vec<PathBuf> = packages
        .iter()
        .map(|p| p.dir.join("migrations"))
        .filter(|dir| dir.is_dir())
        .collect();

    let url = scratch_pg(&["create".into()], &migrations)?;
    let outcome = describe_queries(root, &packages, &url);
    if let Err(e) = scratch_pg(&["drop".into(), url.clone()], &[]) {
        eprintln!("  (could not drop the scratch database: {e:#})");
    }
    let generated = outcome?;

    let committed_dir = root.join(".sqlx");
    let committed = read_dir(&committed_dir)?;
    let fresh = read_dir(&generated)?;
    if check {
        let problems = compare(&committed, &fresh);
        if problems.is_empty() {
            Ok(format!("{} queries, all current", fresh.len()))
        } else {
            for problem in &problems {
                println!("  {} {problem}", ui::red("✘"));
            }
            bail!(
                "the committed query data in .sqlx/ is out of date ({} problem(s)); run \
                 `cargo xtask sqlx-prepare` and commit .sqlx/",
                problems.len()
            )
        }
    } else {
        if committed_dir.exists() {
            fs::remove_dir_all(&committed_dir)
                .with_context(|| format!("could not empty {}", committed_dir.display()))?;
        }
        fs::create_dir_all(&committed_dir)?;
        for (name, contents) in &fresh {
            fs::write(committed_dir.join(name), contents)?;
        }
        Ok(format!(
            "wrote {} queries to .sqlx/ (commit them)",
            fresh.len()
        ))
    }
}

/// A workspace package that depends on sqlx, and the source files cargo compiles first.
struct SqlxPackage {
    name: String,
    dir: PathBuf,
    roots: Vec<PathBuf>,
}

fn sqlx_packages() -> Result<Vec<SqlxPackage>> {
    let mut found = Vec::new();
    for package in cargo::workspace_packages()? {
        let uses_sqlx = package["dependencies"].as_array().is_some_and(|deps| {
            deps.iter()
                .any(|d| d["name"] == "sqlx" && d["kind"].is_null())
        });
        if !uses_sqlx {
            continue;
        }
        let manifest = PathBuf::from(package["manifest_path"].as_str().unwrap_or_default());
        let roots = package["targets"]
            .as_array()
            .map(|targets| {
                targets
                    .iter()
                    .filter_map(|t| t["src_path"].as_str().map(PathBuf::from))
                    .collect()
            })
            .unwrap_or_default();
        found.push(SqlxPackage {
            name: package["name"].as_str().unwrap_or_default().to_owned(),
            dir: manifest.parent().map(Path::to_path_buf).unwrap_or_default(),
            roots,
        });
    }
    Ok(found)
}

/// Runs testkit's `scratch-pg` with `args` followed by `paths`; returns what it printed.
fn scratch_pg(args: &[String], paths: &[PathBuf]) -> Result<String> {
    let (ok, stdout, stderr) = cargo::run_captured(
        cargo::cargo()
            .args([
                "run",
                "--quiet",
                "--package",
                "testkit",
                "--features",
                "postgres",
            ])
            .args(["--bin", "scratch-pg", "--"])
            .args(args)
            .args(paths),
    )?;
    if !ok {
        bail!("{}", stderr.trim());
    }
    Ok(stdout.trim().to_owned())
}

/// Has the query macros describe every query against `url`, into a fresh folder.
fn describe_queries(root: &Path, packages: &[SqlxPackage], url: &str) -> Result<PathBuf> {
    let out = root.join("target").join("xtask").join("sqlx-prepare");
    if out.exists() {
        fs::remove_dir_all(&out)?;
    }
    fs::create_dir_all(&out)?;
    // Cargo does not rebuild a crate because an environment variable a macro reads changed;
    // a newer source file it does notice. So the crates with queries are made "newer" -- all
    // but the exercise stubs: their file is the learner's (a new modification time would make
    // `cargo xtask watch` re-run for nothing), and a stub's queries are its solution's too.
    let stubs: Vec<String> = crate::exercise::all()?
        .iter()
        .map(|e| e.package())
        .collect();
    let now = SystemTime::now();
    for root_file in packages
        .iter()
        .filter(|p| !stubs.contains(&p.name))
        .flat_map(|p| &p.roots)
    {
        if let Ok(file) = fs::File::options().append(true).open(root_file) {
            let _ = file.set_modified(now);
        }
    }
    let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
    println!("  describing the queries of: {}", names.join(", "));
    // The whole workspace, like the clippy step: the same feature resolution, so the
    // dependencies it already checked are reused and only our crates are checked again.
    let mut command = cargo::cargo();
    command
        .args(["check", "--quiet", "--workspace", "--all-targets"])
        .env("SQLX_OFFLINE", "false")
        .env("DATABASE_URL", url)
        .env("SQLX_OFFLINE_DIR", &out);
    if !cargo::run_visible(&mut command)? {
        bail!("the crates with queries do not compile against the migrated schema (see above)");
    }
    Ok(out)
}

fn read_dir(dir: &Path) -> Result<BTreeMap<String, String>> {
    let mut files = BTreeMap::new();
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(files);
    };
    for entry in entries {
        let path = entry?.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        if name.starts_with("query-") && name.ends_with(".json") {
            let contents = fs::read_to_string(&path)
                .with_context(|| format!("could not read {}", path.display()))?;
            files.insert(name.to_owned(), contents);
        }
    }
    Ok(files)
}

/// What differs between the committed data and what the code produces now.
fn compare(committed: &BTreeMap<String, String>, fresh: &BTreeMap<String, String>) -> Vec<String> {
    let mut problems = Vec::new();
    for (name, contents) in fresh {
        match committed.get(name) {
            None => problems.push(format!("missing: {name} ({})", query_of(contents))),
            Some(old) if old != contents => {
                problems.push(format!("stale: {name} ({})", query_of(contents)));
            }
            Some(_) => {}
        }
    }
    for name in committed.keys().filter(|name| !fresh.contains_key(*name)) {
        problems.push(format!(
            "unused: {name} (no query in the code has it any more)"
        ));
    }
    problems
}

/// The first line of the SQL a data file describes, to say which query a problem is about.
fn query_of(contents: &str) -> String {
    let sql = serde_json::from_str::<serde_json::Value>(contents)
        .ok()
        .and_then(|v| v["query"].as_str().map(str::to_owned))
        .unwrap_or_default();
    let first = sql
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("?");
    first.chars().take(70).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn compare_names_missing_stale_and_unused_data() {
        let committed = files(&[
            ("query-a.json", "{}"),
            ("query-b.json", "old"),
            ("query-c.json", "x"),
        ]);
        let fresh = files(&[
            ("query-a.json", "{}"),
            ("query-b.json", r#"{"query": "SELECT 1\nFROM t"}"#),
            ("query-d.json", r#"{"query": "  \n  UPDATE t"}"#),
        ]);
        let problems = compare(&committed, &fresh);
        assert_eq!(
            problems,
            vec![
                "stale: query-b.json (SELECT 1)".to_owned(),
                "missing: query-d.json (UPDATE t)".to_owned(),
                "unused: query-c.json (no query in the code has it any more)".to_owned(),
            ]
        );
        assert!(compare(&fresh, &fresh).is_empty());
    }
}
