//! A long-running process that `cargo xtask services up` starts and `services down` stops:
//! the MongoDB stand-in and, without Docker, Prometheus.
//!
//! The process runs in a process group of its own, so a Ctrl-C in the terminal that started
//! it does not stop it, with its output in a log file and its pid in a pid file, both under
//! `target/`. A pid file outlives the process it names (the process died, or the machine
//! restarted and the number now belongs to something else), so a process is only ever
//! signalled after its command line proves it is ours: it must contain a word unique to this
//! checkout (the stand-in's script path, Prometheus's data directory).

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::cargo::{self, succeeds};

/// Where a background process keeps its pid and log, and how to recognise it.
pub struct Daemon {
    pub pid_file: PathBuf,
    pub log_file: PathBuf,
    /// A word of its command line that no other process has.
    pub signature: String,
}

impl Daemon {
    /// Starts `command` in the background, its output going to the log file, and records its
    /// pid. The caller waits for it to answer.
    pub fn spawn(&self, command: &mut Command) -> Result<()> {
        if let Some(dir) = self.log_file.parent() {
            fs::create_dir_all(dir)
                .with_context(|| format!("could not create {}", dir.display()))?;
        }
        let log = fs::File::create(&self.log_file)
            .with_context(|| format!("could not create {}", self.log_file.display()))?;
        command
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        detach(command);
        let child = command
            .spawn()
            .with_context(|| format!("could not start {:?}", command.get_program()))?;
        fs::write(&self.pid_file, child.id().to_string())
            .with_context(|| format!("could not write {}", self.pid_file.display()))
    }

    /// The pid of our process, if it runs.
    pub fn running(&self) -> Option<String> {
        let pid = fs::read_to_string(&self.pid_file).ok()?.trim().to_owned();
        is_ours(&pid, &self.signature).then_some(pid)
    }

    /// Stops our process if it runs and waits (a few seconds at most) until it is gone, so
    /// that a start right after finds its port free. Returns whether there was one.
    pub fn stop(&self) -> Result<bool> {
        let Some(pid) = self.running() else {
            // Stale or absent: nothing of ours to stop.
            let _ = fs::remove_file(&self.pid_file);
            return Ok(false);
        };
        // `kill` rather than a signal crate: one command, present on every Unix.
        let stopped = Command::new("kill")
            .arg(&pid)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        let _ = fs::remove_file(&self.pid_file);
        let deadline = Instant::now() + Duration::from_secs(10);
        let alive = || succeeds(Command::new("kill").args(["-0", &pid]));
        while stopped && Instant::now() < deadline && alive() {
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(stopped)
    }

    /// The log's last `lines` lines, for an error message.
    pub fn log_tail(&self, lines: usize) -> String {
        let log = fs::read_to_string(&self.log_file).unwrap_or_default();
        let all: Vec<&str> = log.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }
}

/// Is process `pid` running with `signature` among the words of its command line?
/// `ps -o args=` reads it the same way on Linux and macOS.
fn is_ours(pid: &str, signature: &str) -> bool {
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok((true, args, _)) =
        cargo::run_captured(Command::new("ps").args(["-p", pid, "-o", "args="]))
    else {
        return false;
    };
    has_word(&args, signature)
}

/// Does the command line `args` contain `word` as one of its words?
fn has_word(args: &str, word: &str) -> bool {
    args.split_whitespace().any(|w| w == word)
}

/// Puts the child in a process group of its own: it outlives this command and ignores the
/// Ctrl-C meant for the terminal's foreground job.
pub fn detach(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_process_with_our_signature_counts_as_ours() {
        let script = "/w/xtask/mongo-standin/standin.py";
        assert!(has_word(
            "/w/target/venv/bin/python /w/xtask/mongo-standin/standin.py --port 27017\n",
            script
        ));
        // A stale pid that now belongs to something else.
        assert!(!has_word("/usr/sbin/sshd -D", script));
        // The same program from another checkout.
        assert!(!has_word(
            "python /other/checkout/xtask/mongo-standin/standin.py",
            script
        ));
        let data = "--storage.tsdb.path=/w/target/prometheus/data";
        assert!(has_word(
            "/usr/bin/prometheus --config.file=/w/observability/prometheus/prometheus.yml \
             --storage.tsdb.path=/w/target/prometheus/data",
            data
        ));
        assert!(!has_word(
            "/usr/bin/prometheus --storage.tsdb.path=/w/target/prometheus/data2",
            data
        ));
    }

    #[test]
    fn a_pid_file_with_garbage_names_no_process() {
        assert!(!is_ours("", "x"));
        assert!(!is_ours("12; rm -rf /", "x"));
    }

    #[test]
    fn a_daemon_that_never_ran_is_not_running_and_stopping_it_is_harmless() {
        let dir = std::env::temp_dir().join(format!("xtask-daemon-test-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let daemon = Daemon {
            pid_file: dir.join("x.pid"),
            log_file: dir.join("x.log"),
            signature: "--never-used-by-anything".to_owned(),
        };
        assert_eq!(daemon.running(), None);
        assert!(!daemon.stop().unwrap());
        // A stale pid file (this test's own pid: alive, but not ours) is ignored and removed.
        fs::write(&daemon.pid_file, std::process::id().to_string()).unwrap();
        assert_eq!(daemon.running(), None);
        assert!(!daemon.stop().unwrap());
        assert!(!daemon.pid_file.exists());
        fs::remove_dir_all(&dir).unwrap();
    }
}
