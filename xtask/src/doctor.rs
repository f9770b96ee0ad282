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

    if problems > 0 {
        bail!("{problems} problem(s) to fix before starting (see above)");
    }
    println!(
        "\n{}",
        ui::green("Ready. Start with `cargo run -p lesson-01`.")
    );
    Ok(())
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
    use super::version_at_least;

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
