//! How the lessons' demonstrations talk. Every `cargo run -p lesson-NN` prints the same way:
//!
//! - [`heading`] opens a step ("Step 3 · Seed: a year of shop history", underlined);
//! - [`say`] is a line of explanation, indented two spaces;
//! - [`show`] is a line of measured output, indented four, and so is a [`Table`];
//! - [`duration`], [`thousands`], [`truncate`] and [`sparkline`] make numbers and text
//!   human-sized, and [`percentile`] reduces latency samples to the figures a table shows.
//!
//! [`demo`] is how they run: the table of contents with `--list` and `--only`, Ctrl-C, the
//! tracing set-up and the exit status, the same in every lesson.
//!
//! One crate, so the lessons cannot drift apart in how they look, and a learner who has read
//! one demonstration can read them all. The printing is `std` only; `demo` uses clap, tokio,
//! tokio-util and tracing-subscriber, which every lesson builds anyway.

pub mod demo;

use std::fmt::{self, Display};
use std::time::Duration;

/// Opens step `number` of a demonstration: a blank line, the title, a rule under it.
pub fn heading(number: u8, title: &str) {
    println!();
    heading_line(&format!("Step {number} · {title}"));
}

/// A title with a rule as long as it is, for sections that are not numbered steps.
pub fn heading_line(text: &str) {
    println!("{text}");
    println!("{}", "─".repeat(text.chars().count()));
}

/// A line of explanation.
pub fn say(text: impl Display) {
    println!("  {text}");
}

/// A line of measured output.
pub fn show(text: impl Display) {
    println!("    {text}");
}

/// `20000` → `20,000`; `-1234567` → `-1,234,567`.
pub fn thousands(n: i64) -> String {
    let digits = n.unsigned_abs().to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3 + 1);
    if n < 0 {
        out.push('-');
    }
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(digit);
    }
    out
}

/// Human-sized durations: "350 µs", "4.2 ms", "150 ms", "1.24 s".
pub fn duration(d: Duration) -> String {
    let micros = d.as_micros();
    match micros {
        0..1_000 => format!("{micros} µs"),
        1_000..10_000 => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        10_000..1_000_000 => format!("{} ms", d.as_millis()),
        _ => format!("{:.2} s", d.as_secs_f64()),
    }
}

/// Cuts `text` to at most `max` characters, marking the cut with `…`.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let kept: String = text.chars().take(max.saturating_sub(1)).collect();
        format!("{kept}…")
    }
}

/// The `p`-th percentile (0 to 100; more counts as 100) of `samples`, by the nearest-rank rule:
/// the smallest sample with at least `p` per cent of the samples at or below it. Zero for no
/// samples. Every lesson that reports a median or a p99 computes it here.
pub fn percentile(samples: &[Duration], p: u32) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (sorted.len() * p.min(100) as usize).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// Counts as a bar per value, scaled to the largest: `[1, 0, 2, 5, 9]` → `▁ ▂▅█`. A whole
/// distribution in five characters (a zero count prints as a space).
pub fn sparkline(counts: &[u64]) -> String {
    const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    counts
        .iter()
        .map(|&n| match n {
            0 => ' ',
            n => BARS[((n * 8).div_ceil(max) as usize).clamp(1, 8) - 1],
        })
        .collect()
}

/// How a column lines up: text to the left, numbers to the right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Right,
}

/// A plain-text table: a header row, a rule, then the rows, each column as wide as its widest
/// cell (counted in characters, so `Lyon Saint-Exupéry` lines up too).
#[derive(Debug, Clone)]
pub struct Table {
    headers: Vec<String>,
    align: Vec<Align>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// A column whose header ends in `>` is right-aligned (the `>` is not printed):
    /// `Table::new(["product", "units>"])`.
    pub fn new<const N: usize>(headers: [&str; N]) -> Self {
        let (headers, align) = headers
            .iter()
            .map(|h| match h.strip_suffix('>') {
                Some(h) => (h.to_owned(), Align::Right),
                None => ((*h).to_owned(), Align::Left),
            })
            .unzip();
        Table {
            headers,
            align,
            rows: Vec::new(),
        }
    }

    /// Adds a row; missing cells print empty, extra cells are ignored.
    pub fn row<I, S>(&mut self, cells: I) -> &mut Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut row: Vec<String> = cells.into_iter().map(Into::into).collect();
        row.resize(self.headers.len(), String::new());
        self.rows.push(row);
        self
    }

    fn widths(&self) -> Vec<usize> {
        (0..self.headers.len())
            .map(|c| {
                self.rows
                    .iter()
                    .map(|row| row[c].chars().count())
                    .chain([self.headers[c].chars().count()])
                    .max()
                    .unwrap_or(0)
            })
            .collect()
    }

    fn line(&self, f: &mut fmt::Formatter<'_>, cells: &[String], widths: &[usize]) -> fmt::Result {
        let mut out = String::new();
        for (c, cell) in cells.iter().enumerate() {
            if c > 0 {
                out.push_str("  ");
            }
            let pad = " ".repeat(widths[c] - cell.chars().count());
            match self.align[c] {
                Align::Left => {
                    out.push_str(cell);
                    out.push_str(&pad);
                }
                Align::Right => {
                    out.push_str(&pad);
                    out.push_str(cell);
                }
            }
        }
        writeln!(f, "    {}", out.trim_end())
    }
}

/// Indented by four spaces, like the rest of the demo's measured output.
impl fmt::Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = self.widths();
        self.line(f, &self.headers, &widths)?;
        let rule: Vec<String> = widths.iter().map(|&w| "─".repeat(w)).collect();
        self.line(f, &rule, &widths)?;
        for row in &self.rows {
            self.line(f, row, &widths)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_use_the_nearest_rank() {
        let us = Duration::from_micros;
        let samples: Vec<Duration> = (1..=100).rev().map(us).collect();
        assert_eq!(percentile(&samples, 50), us(50));
        assert_eq!(percentile(&samples, 99), us(99));
        assert_eq!(percentile(&samples, 100), us(100));
        assert_eq!(percentile(&samples, 0), us(1));
        assert_eq!(percentile(&samples, 250), us(100), "clamped to the maximum");
        assert_eq!(percentile(&[us(7)], 99), us(7));
        assert_eq!(percentile(&[], 50), Duration::ZERO);
    }

    #[test]
    fn thousands_groups_digits_in_threes() {
        let cases = [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (20_000, "20,000"),
            (1_234_567, "1,234,567"),
            (-1_234_567, "-1,234,567"),
            (i64::MIN, "-9,223,372,036,854,775,808"),
        ];
        for (n, text) in cases {
            assert_eq!(thousands(n), text);
        }
    }

    #[test]
    fn durations_print_in_a_readable_unit() {
        let cases = [
            (0, "0 µs"),
            (350, "350 µs"),
            (4_200, "4.2 ms"),
            (150_000, "150 ms"),
            (1_240_000, "1.24 s"),
        ];
        for (micros, text) in cases {
            assert_eq!(duration(Duration::from_micros(micros)), text);
        }
    }

    #[test]
    fn sparklines_scale_to_the_largest_count() {
        assert_eq!(sparkline(&[1, 0, 2, 5, 9]), "▁ ▂▅█");
        assert_eq!(sparkline(&[3, 3]), "██");
        assert_eq!(sparkline(&[0, 0]), "  ");
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("Lyon", 10), "Lyon");
        assert_eq!(truncate("Saint-Exupéry", 8), "Saint-E…");
    }

    #[test]
    fn tables_align_by_characters_and_by_column_kind() {
        let mut table = Table::new(["warehouse", "units>"]);
        table
            .row(["Lyon Saint-Exupéry", "7"])
            .row(["Berlin", "1,200"]);
        let text = table.to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "    warehouse           units");
        assert_eq!(lines[1], "    ──────────────────  ─────");
        assert_eq!(lines[2], "    Lyon Saint-Exupéry      7");
        assert_eq!(lines[3], "    Berlin              1,200");
    }
}
