//! The narration: each function is one step of `cargo run -p lesson-01`. It runs the library
//! code of the matching module with real numbers and prints what happened. `main.rs` calls
//! them in order.

mod aggregator;
mod channels;
mod os;

use std::fmt::Display;
use std::io;
use std::path::PathBuf;
use std::time::Duration;

use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::config::PoolConfig;
use crate::pipes::PipeError;

pub use aggregator::{cancellation, fan_out_with_timeouts, traits_as_interfaces, worker_pool};
pub use channels::channels;
pub use os::{pipes_to_a_child_process, socket_pair, threads_vs_tasks};

/// What every step needs. The shutdown token is a parameter like the rest: Ctrl-C cancels it,
/// and each step hands it (or a child of it) to the code it runs.
#[derive(Debug, Clone)]
pub struct Demo {
    pub pool: PoolConfig,
    /// This program, so that step 7 can start a copy of it.
    pub program: PathBuf,
    pub shutdown: CancellationToken,
}

/// Why a step could not finish. Only the OS steps can fail: the rest is in-process.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Pipe(#[from] PipeError),
    #[error("socket I/O failed")]
    Socket(#[from] io::Error),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
}

pub fn intro(demo: &Demo) {
    println!("Lesson 01 · Rust foundations: a concurrent price aggregator");
    println!();
    say("We buy parts from five suppliers and want the best price for each, fast. Eight steps");
    say("build that up: traits, fan-out with timeouts, channels, a bounded worker pool and");
    say("cancellation, then the OS underneath (threads, processes, pipes, sockets).");
    say("Press Ctrl-C at any time: the run stops cleanly.");
    say(format_args!(
        "Settings: {} workers, a queue of {}, {} per supplier (change them: -- --help).",
        demo.pool.workers(),
        demo.pool.queue_capacity(),
        duration(demo.pool.timeout()),
    ));
}

pub fn outro(demo: &Demo, elapsed: Duration) {
    println!();
    if demo.shutdown.is_cancelled() {
        say(format_args!(
            "Stopped by Ctrl-C after {}: the step in progress wound down, the rest were skipped.",
            duration(elapsed)
        ));
    } else {
        say(format_args!("Done in {}.", duration(elapsed)));
        say("Next: the exercise, `cargo test -p exercise-01`, and chapter 01 of the book.");
    }
}

fn heading(number: u8, title: &str) {
    println!();
    let text = format!("Step {number} · {title}");
    println!("{text}");
    println!("{}", "─".repeat(text.chars().count()));
}

/// A line of explanation.
fn say(text: impl Display) {
    println!("  {text}");
}

/// A line of measured output.
fn show(text: impl Display) {
    println!("    {text}");
}

/// Human-sized durations: "350 µs", "4.2 ms", "150 ms", "1.24 s".
fn duration(d: Duration) -> String {
    let micros = d.as_micros();
    match micros {
        0..1_000 => format!("{micros} µs"),
        1_000..10_000 => format!("{:.1} ms", d.as_secs_f64() * 1e3),
        10_000..1_000_000 => format!("{} ms", d.as_millis()),
        _ => format!("{:.2} s", d.as_secs_f64()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
