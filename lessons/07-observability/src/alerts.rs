//! The SLO burn-rate alerts, read from the repository's rule files, and their tests run by
//! Prometheus's own `promtool`.
//!
//! What this module shows (chapter 07):
//! - Alert rules live as files beside the code (`observability/prometheus/rules/`), reviewed
//!   like code, and tested like code: `promtool test rules` feeds a rule file synthetic series
//!   and checks which alerts fire when (`observability/prometheus/tests/`).
//! - The arithmetic of a burn rate: with an error budget of 0.5% over 30 days, a burn rate of
//!   14.4 sustained for one hour spends 14.4 × 1 h / 720 h = 2% of the month's budget
//!   ([`budget_spent`]).
//!
//! Run its tests with `cargo test -p lesson-07 alerts`.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use testkit::prometheus::repository_dir;

/// The rule file that holds the SLO alerts.
pub fn slo_rules() -> PathBuf {
    repository_dir().join("rules").join("slo.yml")
}

/// The `promtool test rules` files, sorted.
pub fn rule_tests() -> std::io::Result<Vec<PathBuf>> {
    let dir = repository_dir().join("tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|ext| ext == "yml"))
        .collect();
    files.sort();
    Ok(files)
}

/// The YAML of the rule `- alert: {name}` in `rules`: its line and every following line
/// indented deeper than the dash, trailing blank lines dropped. `None` when no such alert.
pub fn alert_rule(rules: &str, name: &str) -> Option<String> {
    let lines: Vec<&str> = rules.lines().collect();
    let start = lines
        .iter()
        .position(|line| line.trim_start() == format!("- alert: {name}"))?;
    let indent = lines[start].len() - lines[start].trim_start().len();
    let mut block = vec![lines[start]];
    for line in &lines[start + 1..] {
        let deeper = line.len() - line.trim_start().len() > indent;
        if line.trim().is_empty() || deeper {
            block.push(line);
        } else {
            break;
        }
    }
    while block.last().is_some_and(|line| line.trim().is_empty()) {
        block.pop();
    }
    Some(block.join("\n"))
}

/// The share of a `period_hours` budget that `burn_rate` spends in `window_hours`: 14.4 over
/// 1 h of 720 h is 0.02.
pub fn budget_spent(burn_rate: f64, window_hours: f64, period_hours: f64) -> f64 {
    burn_rate * window_hours / period_hours
}

/// What `promtool test rules` said.
#[derive(Debug)]
pub struct Verdict {
    pub passed: bool,
    pub output: String,
}

/// Why promtool could not give a verdict.
#[derive(Debug, thiserror::Error)]
pub enum PromtoolError {
    #[error("could not run {program}")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("promtool did not finish within {} s", .0.as_secs())]
    Timeout(Duration),
}

/// Runs `promtool test rules` on `files`, bounded by `limit` (killed after that), in the
/// directory of the first file with the files' names, so its report names them briefly.
/// Blocking: call it from `spawn_blocking`.
pub fn promtool_test_rules(
    promtool: &Path,
    files: &[PathBuf],
    limit: Duration,
) -> Result<Verdict, PromtoolError> {
    let dir = files
        .first()
        .and_then(|f| f.parent())
        .map(Path::to_path_buf);
    let names: Vec<PathBuf> = files
        .iter()
        .map(|file| match (&dir, file.parent(), file.file_name()) {
            (Some(dir), Some(parent), Some(name)) if parent == dir => PathBuf::from(name),
            _ => file.clone(),
        })
        .collect();
    let mut command = Command::new(promtool);
    if let Some(dir) = &dir {
        command.current_dir(dir);
    }
    let mut child = command
        .args(["test", "rules"])
        .args(&names)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| PromtoolError::Spawn {
            program: promtool.display().to_string(),
            source,
        })?;
    let readers: Vec<_> = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn std::io::Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|mut reader| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = reader.read_to_string(&mut text);
            text
        })
    })
    .collect();
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            _ => break None,
        }
    };
    let Some(status) = status else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(PromtoolError::Timeout(limit));
    };
    let output = readers
        .into_iter()
        .filter_map(|reader| reader.join().ok())
        .collect::<Vec<_>>()
        .join("");
    Ok(Verdict {
        passed: status.success(),
        output,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULES: &str = "groups:
  - name: g
    rules:
      - record: r
        expr: up

      - alert: FastBurn
        expr: |
          r > 1

          and r > 2
        labels:
          severity: page

      - alert: SlowBurn
        expr: r > 3
";

    #[test]
    fn one_alert_is_cut_out_with_its_blank_lines_but_not_the_next() {
        let rule = alert_rule(RULES, "FastBurn").unwrap();
        assert!(rule.starts_with("      - alert: FastBurn\n"), "{rule}");
        assert!(rule.contains("and r > 2"), "{rule}");
        assert!(rule.ends_with("severity: page"), "{rule}");
        assert!(!rule.contains("SlowBurn"), "{rule}");
        assert_eq!(alert_rule(RULES, "SlowBurn").unwrap().lines().count(), 2);
        assert!(alert_rule(RULES, "Fast").is_none());
    }

    #[test]
    fn the_repository_has_the_fast_burn_rule_the_lesson_prints() {
        let rules = std::fs::read_to_string(slo_rules()).unwrap();
        let rule = alert_rule(&rules, "AvailabilityFastBurn").unwrap();
        assert!(rule.contains("14.4 * 0.005"), "{rule}");
        assert!(rule.contains("rate1h") && rule.contains("rate5m"), "{rule}");
        assert!(!rule_tests().unwrap().is_empty());
    }

    #[test]
    fn a_fast_burn_for_an_hour_spends_two_percent_of_the_month() {
        assert!((budget_spent(14.4, 1.0, 720.0) - 0.02).abs() < 1e-12);
        assert!((budget_spent(6.0, 6.0, 720.0) - 0.05).abs() < 1e-12);
        assert!((budget_spent(1.0, 72.0, 720.0) - 0.10).abs() < 1e-12);
    }
}
