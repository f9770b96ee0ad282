//! Terminal output: colours when a person is watching, plain text when CI or a pipe is.

use std::io::IsTerminal;
use std::sync::OnceLock;

fn colour_enabled() -> bool {
    static ENABLED: OnceLock<bool> = OnceLock::new();
    *ENABLED
        .get_or_init(|| std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal())
}

fn paint(code: &str, text: &str) -> String {
    if colour_enabled() {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

pub fn red(text: &str) -> String {
    paint("1;31", text)
}

pub fn green(text: &str) -> String {
    paint("32", text)
}

pub fn yellow(text: &str) -> String {
    paint("33", text)
}

pub fn bold(text: &str) -> String {
    paint("1", text)
}

pub fn dim(text: &str) -> String {
    paint("2", text)
}

/// A step heading: `==> clippy (deny warnings)`.
pub fn heading(text: &str) {
    println!("\n{} {}", bold("==>"), bold(text));
}

/// `[██████░░░░░░░░] 3/7`
pub fn bar(done: usize, total: usize, width: usize) -> String {
    let filled = (done * width).checked_div(total).unwrap_or(0);
    format!(
        "[{}{}] {done}/{total}",
        green(&"█".repeat(filled)),
        "░".repeat(width - filled)
    )
}

/// Left-aligned columns, each as wide as its widest cell (ANSI codes are not counted).
pub fn table(rows: &[Vec<String>]) -> String {
    let visible = |s: &str| strip_ansi(s).chars().count();
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|s| visible(s))
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::from(" ");
        for (cell, width) in row.iter().zip(&widths) {
            line.push(' ');
            line.push_str(cell);
            line.push_str(&" ".repeat(width - visible(cell) + 1));
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for c in chars.by_ref() {
                if c == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_fills_in_proportion() {
        let bar = strip_ansi(&bar(1, 4, 8));
        assert_eq!(bar, "[██░░░░░░] 1/4");
        assert_eq!(strip_ansi(&super::bar(0, 0, 4)), "[░░░░] 0/0");
    }

    #[test]
    fn table_aligns_columns_ignoring_colour_codes() {
        let rows = vec![
            vec!["01".into(), "\x1b[32mdone\x1b[0m".into(), "x".into()],
            vec!["02".into(), "not started".into(), "y".into()],
        ];
        let text = strip_ansi(&table(&rows));
        let lines: Vec<_> = text.lines().collect();
        assert_eq!(lines[0].find('x'), lines[1].find('y'));
    }
}
