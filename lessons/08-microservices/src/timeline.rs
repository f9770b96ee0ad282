//! A run of rounds as a picture: one row per thing watched (a route, the service, the breaker),
//! one character per round, under a ruler of round numbers.
//!
//! ```text
//!              0         10        20        30
//! catalog      ##########~~~~~~~~~~~~~~~~~~~~~~#######
//! checkout     ##########5555555555555555555555#######
//! ```
//!
//! Plain ASCII on purpose: every terminal and CI log shows it with the columns lined up.
//! Tests: `cargo test -p lesson-08 timeline`.

/// One row: a label and a character per round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub label: &'static str,
    pub marks: Vec<char>,
}

/// Rows that grow one round at a time.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Timeline {
    rows: Vec<Row>,
}

impl Timeline {
    pub fn new(labels: &[&'static str]) -> Timeline {
        Timeline {
            rows: labels
                .iter()
                .map(|&label| Row {
                    label,
                    marks: Vec::new(),
                })
                .collect(),
        }
    }

    /// Appends `mark` to the row labelled `label` (a label not given to `new` is ignored).
    pub fn mark(&mut self, label: &str, mark: char) {
        if let Some(row) = self.rows.iter_mut().find(|row| row.label == label) {
            row.marks.push(mark);
        }
    }

    pub fn row(&self, label: &str) -> Option<&Row> {
        self.rows.iter().find(|row| row.label == label)
    }

    /// The picture, one line per row plus the ruler on top: a round number every ten rounds.
    pub fn lines(&self) -> Vec<String> {
        let width = self.rows.iter().map(|r| r.label.len()).max().unwrap_or(0) + 2;
        let rounds = self.rows.iter().map(|r| r.marks.len()).max().unwrap_or(0);
        let mut ruler = " ".repeat(width);
        let mut column = 0;
        while column < rounds {
            let number = column.to_string();
            ruler.push_str(&format!("{number:<10}"));
            column += 10;
        }
        let mut lines = vec![ruler.trim_end().to_owned()];
        for row in &self.rows {
            let marks: String = row.marks.iter().collect();
            lines.push(format!("{:<width$}{marks}", row.label));
        }
        lines
    }
}

/// The mark for an HTTP status: `#` for any success, the class's digit (`4`, `5`) otherwise,
/// so the eye finds the failures in a row of successes.
pub fn status_mark(status: u16) -> char {
    match status {
        200..=299 => '#',
        _ => char::from_digit(u32::from(status / 100), 10).unwrap_or('?'),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_line_up_under_the_ruler() {
        let mut timeline = Timeline::new(&["catalog", "checkout"]);
        for round in 0..23 {
            timeline.mark("catalog", '#');
            timeline.mark("checkout", if round < 12 { '#' } else { '5' });
        }
        let lines = timeline.lines();
        assert_eq!(lines[0], "          0         10        20");
        assert_eq!(lines[1], format!("catalog   {}", "#".repeat(23)));
        assert_eq!(
            lines[2],
            format!("checkout  {}{}", "#".repeat(12), "5".repeat(11))
        );
        // Round 20's mark sits under the "20" of the ruler.
        let column = lines[0].find("20").expect("a ruler mark");
        assert_eq!(lines[2].chars().nth(column), Some('5'));
    }

    #[test]
    fn statuses_become_their_class() {
        assert_eq!(status_mark(200), '#');
        assert_eq!(status_mark(201), '#');
        assert_eq!(status_mark(409), '4');
        assert_eq!(status_mark(503), '5');
    }
}
