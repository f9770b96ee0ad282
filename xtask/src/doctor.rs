//! `cargo xtask doctor`: is this machine ready for the course, and if not, what to do.

use std::process::Command;

use anyhow::{Result, bail};
use testkit::discover;

use crate::cargo::{self, version_of};
use crate::{book, services, ui};

pub fn run() -> Result<()> {
    let mut problems = 0;
    println!("{}", ui::bold("Toolchain"));
    let rustc = version_of(Command::new("rustc").arg("--version"));
    let required = required_rust_version();
    match (&rustc, &required) {
        (Some(found), Some(required)) if version_at_least(found, required) => {
            ok(&format!(
                "{found} (the workspace needs {required} or newer)"
            ));
        }
        (Some(found), Some(required)) => {
            problems += 1;
            bad(
                &format!("{found} is older than {required}"),
                "rustup update stable",
            );
        }
        (None, _) => {
            problems += 1;
            bad("rustc not found", "install Rust from https://rustup.rs");
        }
        (Some(found), None) => ok(found),
    }
    for (tool, args, fix) in [
        (
            "cargo fmt",
            ["fmt", "--version"],
            "rustup component add rustfmt",
        ),
        (
            "cargo clippy",
            ["clippy", "--version"],
            "rustup component add clippy",
        ),
    ] {
        match version_of(cargo::cargo().args(args)) {
            Some(version) => ok(&version),
            None => {
                problems += 1;
                bad(&format!("{tool} is missing"), fix);
            }
        }
    }
    match version_of(Command::new("git").arg("--version")) {
        Some(version) => ok(&version),
        None => {
            problems += 1;
            bad("git is missing (reset needs it)", "install git");
        }
    }

    println!("\n{}", ui::bold("Services"));
    if discover::docker_engine_answers() {
        ok("Docker engine answers: `cargo xtask services up` starts everything");
    } else {
        println!(
            "  {} no Docker engine: services come from local installs (the book's set-up chapter)",
            ui::yellow("·")
        );
    }
    if !services::report().missing.is_empty() {
        println!(
            "  {} lessons that need a missing service say so; their tests are skipped",
            ui::yellow("·")
        );
    }

    println!("\n{}", ui::bold("Book"));
    for tool in book::TOOLS {
        match tool.installed_version() {
            Some(v) if v == tool.version => ok(&format!("{} {v}", tool.binary)),
            Some(v) => println!(
                "  {} {} {v} found; the book is tested with {} (`cargo xtask book` installs it)",
                ui::yellow("·"),
                tool.binary,
                tool.version
            ),
            None => println!(
                "  {} {} not installed: `cargo xtask book` installs it (a few minutes, once)",
                ui::yellow("·"),
                tool.binary
            ),
        }
    }

    println!("\n{}", ui::bold("Disk"));
    disk_report();

    if problems > 0 {
        bail!("{problems} problem(s) to fix before starting (see above)");
    }
    println!(
        "\n{}",
        ui::green("Ready. Start with `cargo run -p lesson-01`.")
    );
    Ok(())
}

/// What `target/` holds and what can go without losing anything but build time.
fn disk_report() {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| cargo::root().join("target"));
    let total = dir_size(&target);
    if total == 0 {
        ok(&format!("{} is empty", target.display()));
        return;
    }
    println!(
        "  {} {} in {}",
        ui::dim("·"),
        human(total),
        target.display()
    );
    // What each can cost you: none of it is your work (your files live in exercises/), and
    // cargo rebuilds whatever it needs.
    let reclaimable = [
        (
            target.join("debug").join("incremental"),
            "incremental state: the next edit of each crate compiles a little slower",
        ),
        (
            target.join("release"),
            "optimised builds (benchmarks): `cargo xtask bench` rebuilds them",
        ),
        (
            target.join("doc"),
            "generated API docs: `cargo doc` rebuilds them",
        ),
        (
            target.join("xtask").join("mongo-standin"),
            "the MongoDB stand-in's Python environment (`cargo xtask services down` first)",
        ),
    ];
    let mut any = false;
    for (dir, what) in reclaimable {
        let size = dir_size(&dir);
        if size >= 50 * 1024 * 1024 {
            any = true;
            println!(
                "  {} {:>9}  {}\n              {what}",
                ui::yellow("·"),
                human(size),
                dir.display()
            );
        }
    }
    if any {
        println!(
            "  Delete any of these folders to reclaim the space, or `cargo clean` for all of \
             target/ (the next build then takes as long as the first)."
        );
    }
}

/// Bytes in the files below `dir` (0 when it does not exist).
fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let mut pending = vec![dir.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            match entry.file_type() {
                Ok(kind) if kind.is_dir() => pending.push(entry.path()),
                Ok(kind) if kind.is_file() => {
                    total += entry.metadata().map_or(0, |m| m.len());
                }
                _ => {}
            }
        }
    }
    total
}

/// `1.4 GB`, `230 MB`.
fn human(bytes: u64) -> String {
    const MB: f64 = 1024.0 * 1024.0;
    let mb = bytes as f64 / MB;
    if mb >= 1024.0 {
        format!("{:.1} GB", mb / 1024.0)
    } else {
        format!("{mb:.0} MB")
    }
}

fn ok(text: &str) {
    println!("  {} {text}", ui::green("✔"));
}

fn bad(text: &str, fix: &str) {
    println!("  {} {text}\n      fix: {fix}", ui::red("✘"));
}

/// `rust-version` from the root Cargo.toml.
fn required_rust_version() -> Option<String> {
    let manifest = std::fs::read_to_string(cargo::root().join("Cargo.toml")).ok()?;
    manifest.lines().find_map(|line| {
        let value = line
            .trim()
            .strip_prefix("rust-version")?
            .trim()
            .strip_prefix('=')?;
        Some(value.trim().trim_matches('"').to_owned())
    })
}

/// Compares the `1.95.0` in `rustc 1.95.0 (...)` with `1.95`.
fn version_at_least(found: &str, required: &str) -> bool {
    let parse = |s: &str| -> Vec<u32> {
        s.split(|c: char| !c.is_ascii_digit() && c != '.')
            .find(|part| part.contains('.'))
            .unwrap_or("")
            .split('.')
            .filter_map(|n| n.parse().ok())
            .collect()
    };
    parse(found) >= parse(required)
}

#[cfg(test)]
mod tests {
    use super::{human, version_at_least};

    #[test]
    fn sizes_read_as_a_person_would_say_them() {
        assert_eq!(human(230 * 1024 * 1024), "230 MB");
        assert_eq!(human(3 * 1024 * 1024 * 1024 / 2), "1.5 GB");
    }

    #[test]
    fn compares_rustc_versions_numerically() {
        assert!(version_at_least(
            "rustc 1.95.0 (59807616e 2026-04-14)",
            "1.95"
        ));
        assert!(version_at_least("rustc 1.100.1", "1.95"));
        assert!(!version_at_least("rustc 1.9.0", "1.95"));
        assert!(!version_at_least("rustc 1.94.1 (abc)", "1.95"));
    }
}
