//! Running a lesson's demo binary from its CLI test (`lessons/NN-*/tests/cli.rs`), with `std`
//! only.
//!
//! The binary's path is only known inside the test crate (`env!("CARGO_BIN_EXE_lesson-03")`),
//! so every function takes it as a parameter:
//!
//! ```no_run
//! use testkit::cli::{run, text};
//!
//! const DEMO: &str = "target/debug/lesson-03"; // env!("CARGO_BIN_EXE_lesson-03") in a test
//!
//! let output = run(DEMO, &["--bogus"], &[]);
//! assert_eq!(output.status.code(), Some(2));
//! assert!(text(&output.stderr).contains("--bogus"));
//! ```
//!
//! A server lesson's `--serve` mode runs until Ctrl-C; [`Served`] starts it on a free port,
//! finds its URL in the first line it prints, and sends it the Ctrl-C.

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;

/// The demo as a [`Command`], ready for more settings: backtraces off, so that a panic (which
/// a CLI test looks for with `contains("panicked")`) reads as one line.
pub fn command(bin: &str) -> Command {
    let mut command = Command::new(bin);
    command.env("RUST_BACKTRACE", "0");
    command
}

/// Runs the demo with `args` and extra environment `env` to the end, and captures its output.
pub fn run(bin: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    command(bin)
        .args(args)
        .envs(env.iter().copied())
        .output()
        .unwrap_or_else(|e| panic!("could not run {bin}: {e}"))
}

/// Captured output as text (a demo prints UTF-8; anything else shows as `�`, not a panic).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The steps a demo's `--list` prints, as (number, title), read by running it with `--list`:
/// `3  errors  One error format  [always runs]` gives ("3", "One error format"). A demo's
/// full-run test checks that each ran under that heading (`Step 3 · One error format`).
pub fn listed_steps(bin: &str) -> Vec<(String, String)> {
    let output = run(bin, &["--list"], &[]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    text(&output.stdout)
        .lines()
        .take_while(|line| !line.is_empty())
        .map(|line| {
            // The notes after the title: `[always runs]`, `[needs 5]`.
            let line = line.split("  [").next().unwrap_or(line);
            let mut words = line.split_whitespace();
            let number = words.next().unwrap_or_default().to_owned();
            let title: Vec<&str> = words.skip(1).collect();
            (number, title.join(" "))
        })
        .collect()
}

/// A demo serving on a free loopback port (`--serve --addr 127.0.0.1:0`). Dropping it kills the
/// process, so a failed assertion never leaves a server behind; [`Served::interrupt`] stops it
/// the way a learner does, with Ctrl-C.
pub struct Served {
    child: Child,
    stdout: BufReader<ChildStdout>,
    /// Collects stderr as it comes, so a chatty server never blocks on a full pipe.
    stderr: Option<JoinHandle<String>>,
    url: String,
}

/// What a served demo left behind after it stopped.
#[derive(Debug)]
pub struct Stopped {
    pub status: ExitStatus,
    /// Everything it printed after the first line.
    pub stdout: String,
    pub stderr: String,
}

impl Served {
    /// Starts `bin --serve --addr 127.0.0.1:0` with `env` (and `RUST_LOG=off`, so server logs
    /// stay out of the way), and reads the first line of its output for the `http://` URL it
    /// listens on. Panics, with whatever the demo said, when there is none.
    pub fn start(bin: &str, env: &[(&str, &str)]) -> Served {
        let mut child = command(bin)
            .args(["--serve", "--addr", "127.0.0.1:0"])
            .env("RUST_LOG", "off")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {bin}: {e}"));
        let stdout = BufReader::new(child.stdout.take().expect("stdout is piped"));
        let mut stderr = child.stderr.take().expect("stderr is piped");
        let stderr = std::thread::spawn(move || {
            let mut all = String::new();
            let _ = stderr.read_to_string(&mut all);
            all
        });
        let mut served = Served {
            child,
            stdout,
            stderr: Some(stderr),
            url: String::new(),
        };
        let mut first_line = String::new();
        let _ = served.stdout.read_line(&mut first_line);
        match url_in(&first_line) {
            Some(url) => served.url = url.to_owned(),
            None => {
                let _ = served.child.kill();
                let _ = served.child.wait();
                let stderr = served.collect_stderr();
                panic!("{bin} --serve printed no http:// URL first: {first_line:?}\n{stderr}");
            }
        }
        served
    }

    /// Where the demo listens, e.g. `http://127.0.0.1:40123` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Sends SIGINT (what Ctrl-C sends), waits for the demo to exit, and returns how it ended.
    #[cfg(unix)]
    pub fn interrupt(mut self) -> Stopped {
        // std has no signal API (and this workspace forbids `unsafe`), so `kill` does it.
        let sent = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("the kill command runs");
        assert!(sent.success(), "kill -INT failed: {sent}");
        let status = self.child.wait().expect("the demo can be waited for");
        let mut stdout = String::new();
        let _ = self.stdout.read_to_string(&mut stdout);
        Stopped {
            status,
            stdout,
            stderr: self.collect_stderr(),
        }
    }

    /// Everything the demo wrote to stderr; only complete once it has exited.
    fn collect_stderr(&mut self) -> String {
        self.stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // Harmless when the demo has already exited; essential when a test failed first.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The first `http://` word of a line, without the full stop that may end the sentence.
fn url_in(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|word| word.starts_with("http://"))
        .map(|word| word.trim_end_matches(['.', ',', '/']))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_found_in_a_sentence() {
        assert_eq!(
            url_in("Serving on http://127.0.0.1:40123. Ctrl-C stops it.\n"),
            Some("http://127.0.0.1:40123")
        );
        assert_eq!(
            url_in("Listening at http://[::1]:3000/"),
            Some("http://[::1]:3000")
        );
        assert_eq!(url_in("could not listen on 127.0.0.1:3000"), None);
    }

    #[test]
    fn output_is_text_even_when_it_is_not_utf8() {
        assert_eq!(text(b"ok \xff"), "ok \u{fffd}");
    }

    #[cfg(unix)]
    #[test]
    fn run_captures_what_a_program_prints_and_how_it_ended() {
        let output = run(
            "sh",
            &["-c", "echo \"$GREETING\"; exit 3"],
            &[("GREETING", "hi")],
        );
        assert_eq!(output.status.code(), Some(3));
        assert_eq!(text(&output.stdout), "hi\n");
    }
}
