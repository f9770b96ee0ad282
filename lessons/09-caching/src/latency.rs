//! Latency samples as numbers and as a picture: percentiles by the nearest-rank rule, and a
//! histogram on a logarithmic axis, one row per source, so that a read from memory, one from
//! Redis and one from PostgreSQL can be compared at a glance, orders of magnitude apart.
//!
//! ```text
//!               100ns 1µs   10µs  100µs 1ms   10ms
//! memory            ▂█▂
//! Redis                         ▁▄█▃▁
//! PostgreSQL                       ▂█▅▁  ▁
//! ```
//!
//! Tests: `cargo test -p lesson-09 latency`.

use std::time::Duration;

pub use narrate::percentile;

/// Columns per power of ten. Six keeps a decade label ("100µs") clear of the next.
const PER_DECADE: usize = 6;
/// The first column starts here.
const LOWEST_NANOS: f64 = 100.0;
/// Six decades: 100 ns to 100 ms. Anything outside goes to the first or the last column.
const COLUMNS: usize = 6 * PER_DECADE;

/// The column of a sample: `floor(log10(nanos / 100) * 6)`, clamped to the axis.
pub fn column(sample: Duration) -> usize {
    let nanos = sample.as_nanos().max(1) as f64;
    let position = (nanos / LOWEST_NANOS).log10() * PER_DECADE as f64;
    if position < 0.0 {
        0
    } else {
        (position as usize).min(COLUMNS - 1)
    }
}

/// How many samples fall in each column.
pub fn histogram(samples: &[Duration]) -> [u64; COLUMNS] {
    let mut counts = [0; COLUMNS];
    for &sample in samples {
        counts[column(sample)] += 1;
    }
    counts
}

/// The picture: a ruler, then one row per `(label, samples)`, each row scaled to its own
/// tallest column (the shapes and positions are what matter; the table gives the numbers).
pub fn picture(rows: &[(&str, &[Duration])]) -> Vec<String> {
    let width = rows
        .iter()
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0)
        + 2;
    let mut ruler = " ".repeat(width);
    for label in ["100ns", "1µs", "10µs", "100µs", "1ms", "10ms"] {
        ruler.push_str(label);
        ruler.push_str(&" ".repeat(PER_DECADE - label.chars().count()));
    }
    let mut lines = vec![ruler.trim_end().to_owned()];
    for (label, samples) in rows {
        let bars = narrate::sparkline(&histogram(samples));
        let pad = " ".repeat(width - label.chars().count());
        lines.push(format!("{label}{pad}{}", bars.trim_end()));
    }
    lines
}

/// Events on a time line, one character per `slot` for `slots` slots: `.` for none, the count
/// for one to nine, `+` for more. `..3.......1.2` shows when loads happened at a glance.
pub fn timeline(events: &[Duration], slot: Duration, slots: usize) -> String {
    let mut counts = vec![0_u32; slots];
    for event in events {
        let index = (event.as_nanos() / slot.as_nanos().max(1)) as usize;
        if let Some(count) = counts.get_mut(index) {
            *count += 1;
        }
    }
    counts
        .into_iter()
        .map(|count| match count {
            0 => '.',
            1..=9 => char::from_digit(count, 10).unwrap_or('+'),
            _ => '+',
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(n: u64) -> Duration {
        Duration::from_micros(n)
    }

    #[test]
    fn a_timeline_counts_events_per_slot() {
        let ms = Duration::from_millis;
        let events = [ms(0), ms(5), ms(120), ms(130), ms(140), ms(999)];
        let many = vec![ms(260); 12];
        assert_eq!(
            timeline(&events, ms(50), 4),
            "2.3.",
            "the last one is off the line"
        );
        assert_eq!(timeline(&many, ms(50), 6), ".....+");
        assert_eq!(timeline(&[], ms(50), 3), "...");
    }

    #[test]
    fn each_decade_is_six_columns_from_100_ns() {
        assert_eq!(column(Duration::from_nanos(100)), 0);
        assert_eq!(column(us(1)), 6);
        assert_eq!(column(us(10)), 12);
        assert_eq!(column(us(100)), 18);
        assert_eq!(column(Duration::from_millis(1)), 24);
        // Halfway through a decade, on the log scale: sqrt(10) µs.
        assert_eq!(column(Duration::from_nanos(3_163)), 9);
        assert_eq!(column(Duration::ZERO), 0, "below the axis: first column");
        assert_eq!(column(Duration::from_secs(5)), COLUMNS - 1, "above: last");
    }

    #[test]
    fn the_picture_puts_each_row_under_its_decade() {
        let fast = vec![us(1); 10];
        let slow = vec![Duration::from_millis(1); 10];
        let lines = picture(&[("fast", &fast), ("slow", &slow)]);
        assert_eq!(lines.len(), 3);
        assert!(
            lines[0].starts_with("      100ns 1µs   10µs"),
            "{:?}",
            lines[0]
        );
        let bar_at = |line: &str| line.chars().position(|c| c == '█');
        assert_eq!(bar_at(&lines[1]), Some(6 + 6), "under 1µs");
        assert_eq!(bar_at(&lines[2]), Some(6 + 24), "under 1ms");
        let ruler_at = |label: &str| {
            let byte = lines[0].find(label).unwrap();
            lines[0][..byte].chars().count()
        };
        assert_eq!(ruler_at("1ms"), 6 + 24);
    }
}
