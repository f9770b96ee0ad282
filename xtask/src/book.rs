//! `cargo xtask book [--open|--serve]`: builds the mdBook in `book/`, installing the tools it
//! needs (at the versions the book is tested with) when they are missing.

use std::path::Path;
use std::process::Command;

use anyhow::{Result, bail};

use crate::{cargo, ui};

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
        let out = cargo::version_of(Command::new(self.binary).arg("--version"))?;
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

/// Are the book's tools installed, at the versions it is tested with?
pub fn tools_installed() -> bool {
    TOOLS
        .iter()
        .all(|tool| tool.installed_version().as_deref() == Some(tool.version))
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
    ui::heading("checking the book's includes");
    let problems = check_includes(&book.join("src"))?;
    if !problems.is_empty() {
        bail!(
            "the book includes code that is not there:\n  {}",
            problems.join("\n  ")
        );
    }
    println!("  every {{{{#include}}}} names a file and an anchor that exist");
    let long = long_chapters(&book.join("src"))?;
    if !long.is_empty() {
        bail!(
            "a chapter is one sitting, at most {MAX_PROSE_WORDS} words of its own prose (move \
             reference material to an appendix):\n  {}",
            long.join("\n  ")
        );
    }
    println!("  every lesson chapter is at most {MAX_PROSE_WORDS} words of prose");
    ui::heading("mdbook build (with link checking)");
    if mode == Mode::Serve {
        cargo::run_visible(&mut command)?;
        return Ok(());
    }
    // mdBook logs a failed include as an ERROR yet exits 0; we read its output to catch it.
    let (ok, stdout, stderr) = cargo::run_captured(&mut command)?;
    print!("{stdout}{stderr}");
    if !ok || stderr.contains("ERROR") || stdout.contains("ERROR") {
        bail!("the book did not build cleanly (see mdbook's messages above)");
    }
    println!(
        "The book is in {}",
        book.join("book").join("html").join("index.html").display()
    );
    Ok(())
}

/// Every `{{#include path:anchor}}` (and `#rustdoc_include`) in the chapters must name a file
/// that exists and, when it names an anchor, an `ANCHOR: name` inside it. mdBook itself would
/// render a missing anchor as an empty code block, silently.
fn check_includes(src: &Path) -> Result<Vec<String>> {
    let mut problems = Vec::new();
    for entry in std::fs::read_dir(src)? {
        let chapter = entry?.path();
        if chapter.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&chapter)?;
        let name = chapter
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        for (path, anchor) in includes(&text) {
            let target = src.join(path);
            let Ok(code) = std::fs::read_to_string(&target) else {
                problems.push(format!("{name}: {path} does not exist"));
                continue;
            };
            let is_line_range = anchor.chars().all(|c| c.is_ascii_digit() || c == ':');
            if !anchor.is_empty()
                && !is_line_range
                && !code.lines().any(|l| anchor_name(l) == Some(anchor))
            {
                problems.push(format!("{name}: {path} has no `ANCHOR: {anchor}`"));
            }
        }
    }
    problems.sort();
    Ok(problems)
}

/// A lesson chapter's own prose, code and included files left out: about 6,000 words, with a
/// little room for a sentence more.
const MAX_PROSE_WORDS: usize = 6_200;

/// The lesson chapters (`NN-topic.md`) whose prose is longer than [`MAX_PROSE_WORDS`].
fn long_chapters(src: &Path) -> Result<Vec<String>> {
    let mut long = Vec::new();
    for entry in std::fs::read_dir(src)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let is_lesson = name.len() > 3
            && name.as_bytes()[..2].iter().all(u8::is_ascii_digit)
            && name.ends_with(".md");
        if !is_lesson {
            continue;
        }
        let words = prose_words(&std::fs::read_to_string(&path)?);
        if words > MAX_PROSE_WORDS {
            long.push(format!("{name}: {words} words"));
        }
    }
    long.sort();
    Ok(long)
}

/// Words of prose in a chapter: fenced code blocks, include lines and HTML comments are not
/// prose.
fn prose_words(markdown: &str) -> usize {
    let mut words = 0;
    let mut fence: Option<String> = None;
    let mut in_comment = false;
    for line in markdown.lines() {
        let trimmed = line.trim_start();
        let marker: String = trimmed
            .chars()
            .take_while(|c| *c == '`' || *c == '~')
            .collect();
        if marker.len() >= 3 {
            match &fence {
                None => fence = Some(marker),
                Some(open) if marker.starts_with(open.as_str()) => fence = None,
                Some(_) => {}
            }
            continue;
        }
        if fence.is_some() || line.contains("{{#") {
            continue;
        }
        let mut text = line;
        let mut kept = String::new();
        loop {
            if in_comment {
                match text.find("-->") {
                    Some(end) => {
                        in_comment = false;
                        text = &text[end + 3..];
                    }
                    None => break,
                }
            } else {
                match text.find("<!--") {
                    Some(start) => {
                        kept.push_str(&text[..start]);
                        in_comment = true;
                        text = &text[start + 4..];
                    }
                    None => {
                        kept.push_str(text);
                        break;
                    }
                }
            }
        }
        words += kept.split_whitespace().count();
    }
    words
}

/// `(path, anchor)` of each include directive; the anchor is empty for a whole file.
fn includes(text: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    for directive in ["{{#include ", "{{#rustdoc_include "] {
        for (start, _) in text.match_indices(directive) {
            let rest = &text[start + directive.len()..];
            let Some(end) = rest.find("}}") else { continue };
            let target = rest[..end].trim();
            let (path, anchor) = target.split_once(':').unwrap_or((target, ""));
            found.push((path, anchor));
        }
    }
    found
}

/// `Some("name")` for a line holding `ANCHOR: name` (in any comment syntax).
fn anchor_name(line: &str) -> Option<&str> {
    let after = line.split_once("ANCHOR: ")?.1;
    after.split_whitespace().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_include_directives_with_and_without_anchors() {
        let text =
            "{{#include ../../a.rs:fan_out}}\n{{#rustdoc_include b.rs}}\n{{#include c.rs:3:9}}";
        assert_eq!(
            includes(text),
            vec![("../../a.rs", "fan_out"), ("c.rs", "3:9"), ("b.rs", "")]
        );
    }

    #[test]
    fn reads_anchor_lines_in_any_comment_style() {
        assert_eq!(
            anchor_name("    // ANCHOR: worker_pool"),
            Some("worker_pool")
        );
        assert_eq!(anchor_name("# ANCHOR: setup"), Some("setup"));
        assert_eq!(anchor_name("// ANCHOR_END: worker_pool"), None);
    }

    #[test]
    fn prose_leaves_out_code_includes_and_comments() {
        let chapter = "# Title here\n\nOne two three.\n\n```rust\nlet not = prose;\n```\n\
                       {{#include ../../a.rs:x}}\n<!-- a note\nstill note -->four five\n\
                       ~~~~text\n```\ninside\n~~~~\nsix\n";
        assert_eq!(prose_words(chapter), 3 + 3 + 2 + 1);
    }

    #[test]
    fn reports_missing_files_and_missing_anchors() {
        let dir = std::env::temp_dir().join(format!("xtask-book-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("code.rs"),
            "// ANCHOR: here\nfn f() {}\n// ANCHOR_END: here\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("ch.md"),
            "{{#include code.rs:here}} {{#include code.rs:gone}} {{#include nope.rs}}",
        )
        .unwrap();
        let problems = check_includes(&dir).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(
            problems,
            vec![
                "ch.md: code.rs has no `ANCHOR: gone`".to_owned(),
                "ch.md: nope.rs does not exist".to_owned(),
            ]
        );
    }
}
