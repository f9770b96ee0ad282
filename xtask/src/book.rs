//! `cargo xtask book [--open|--serve]`: builds the mdBook in `book/`, installing the tools it
//! needs (at the versions the book is tested with) when they are missing.

use std::process::Command;

use anyhow::{Result, bail};

use crate::{cargo, doctor, ui};

pub struct Tool {
    pub binary: &'static str,
    pub krate: &'static str,
    pub version: &'static str,
}

/// mdBook renders; mdbook-linkcheck2 (a backend configured in book.toml) fails the build on a
/// broken link. The older mdbook-linkcheck does not work with mdBook 0.5.
pub const TOOLS: [Tool; 2] = [
    Tool {
        binary: "mdbook",
        krate: "mdbook",
        version: "0.5.4",
    },
    Tool {
        binary: "mdbook-linkcheck2",
        krate: "mdbook-linkcheck2",
        version: "0.13.0",
    },
];

impl Tool {
    /// `Some("0.5.4")` from `mdbook v0.5.4` or `mdbook-linkcheck2 0.13.0`.
    pub fn installed_version(&self) -> Option<String> {
        let out = doctor::version_of(Command::new(self.binary).arg("--version"))?;
        let last = out.split_whitespace().last()?;
        Some(last.trim_start_matches('v').to_owned())
    }

    fn ensure_installed(&self) -> Result<()> {
        if self.installed_version().as_deref() == Some(self.version) {
            return Ok(());
        }
        ui::heading(&format!(
            "installing {} {} (once; cargo shows its progress)",
            self.krate, self.version
        ));
        let installed = cargo::run_visible(cargo::cargo().args([
            "install",
            self.krate,
            "--version",
            self.version,
            "--locked",
        ]))?;
        if !installed {
            bail!(
                "could not install {} {}; try by hand: cargo install {} --version {} --locked",
                self.krate,
                self.version,
                self.krate,
                self.version
            );
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Build,
    Open,
    Serve,
}

impl Mode {
    pub fn from_flags(open: bool, serve: bool) -> Self {
        match (open, serve) {
            (_, true) => Mode::Serve,
            (true, false) => Mode::Open,
            (false, false) => Mode::Build,
        }
    }
}

pub fn run(mode: Mode) -> Result<()> {
    for tool in &TOOLS {
        tool.ensure_installed()?;
    }
    let book = cargo::root().join("book");
    let mut command = Command::new(TOOLS[0].binary);
    command.current_dir(&book);
    match mode {
        Mode::Build => command.arg("build"),
        Mode::Open => command.args(["build", "--open"]),
        Mode::Serve => command.args(["serve", "--open"]),
    };
    ui::heading("mdbook build (with link checking)");
    if !cargo::run_visible(&mut command)? {
        bail!("the book did not build (see mdbook's messages above)");
    }
    if mode != Mode::Serve {
        println!(
            "The book is in {}",
            book.join("book").join("html").join("index.html").display()
        );
    }
    Ok(())
}
