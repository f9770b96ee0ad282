//! Processes and IPC over pipes: the demo starts a second copy of its own binary as a child
//! process and prices SKUs by talking to it through the child's stdin and stdout.
//!
//! A process has its own memory: parent and child share nothing but what they send through the
//! pipes (threads, in contrast, share the whole address space). Step 7 of
//! `cargo run -p lesson-01`; try the child by hand with
//! `echo SKU-0007 | cargo run -q -p lesson-01 -- --pipe-child`.

use std::io::{self, BufRead, Write};
use std::path::Path;
use std::process::{ExitStatus, Stdio};

use thiserror::Error;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::price::Sku;
use crate::wire::{self, Priced};

/// The hidden flag that turns the lesson's binary into the pipe child.
pub const CHILD_FLAG: &str = "--pipe-child";

#[derive(Debug, Error)]
pub enum PipeError {
    #[error("could not start {program}")]
    Spawn {
        program: String,
        #[source]
        source: io::Error,
    },
    #[error("the child process has no {0} pipe")]
    MissingPipe(&'static str),
    #[error("talking to the child process failed")]
    Io(#[from] io::Error),
    #[error("the child process closed its stdout before answering")]
    HungUp,
    #[error("the child process sent an unexpected line: {0:?}")]
    BadAnswer(String),
    #[error("the child process exited with {0}")]
    ChildFailed(ExitStatus),
}

/// What the parent learned from its child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipeSession {
    pub child_pid: Option<u32>,
    pub answers: Vec<Priced>,
}

// ANCHOR: pipes_ipc
/// The child's side: answer each line of `input` on `output`, until `input` ends. Plain
/// blocking std I/O: the child does one thing at a time, so it needs no async runtime.
pub fn serve_pipe(input: impl BufRead, mut output: impl Write) -> io::Result<usize> {
    let mut served = 0;
    for line in input.lines() {
        writeln!(output, "{}", wire::answer(&line?))?;
        // Without this the answer could sit in a buffer while the parent waits for it.
        output.flush()?;
        served += 1;
    }
    Ok(served)
}

/// The parent's side: start `program --pipe-child`, send one SKU at a time, read each answer.
pub async fn price_in_child(program: &Path, skus: &[Sku]) -> Result<PipeSession, PipeError> {
    let mut child = Command::new(program)
        .arg(CHILD_FLAG)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        // If we return early with an error, dropping `child` kills it: no orphan process.
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| PipeError::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    // Read it now: once the child has been waited for, tokio no longer reports its id.
    let child_pid = child.id();
    let mut to_child = child.stdin.take().ok_or(PipeError::MissingPipe("stdin"))?;
    let from_child = child
        .stdout
        .take()
        .ok_or(PipeError::MissingPipe("stdout"))?;
    let mut answers_in = BufReader::new(from_child).lines();

    let mut answers = Vec::with_capacity(skus.len());
    for sku in skus {
        to_child.write_all(format!("{sku}\n").as_bytes()).await?;
        to_child.flush().await?;
        let line = answers_in.next_line().await?.ok_or(PipeError::HungUp)?;
        answers.push(wire::parse_answer(&line).ok_or(PipeError::BadAnswer(line))?);
    }
    // Closing our end of the child's stdin is its end-of-input: its loop ends and it exits.
    drop(to_child);
    let status = child.wait().await?;
    if !status.success() {
        return Err(PipeError::ChildFailed(status));
    }
    Ok(PipeSession { child_pid, answers })
}
// ANCHOR_END: pipes_ipc

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_child_answers_every_line_in_order() {
        let mut output = Vec::new();
        let served = serve_pipe(&b"SKU-0001\nSKU-0002\n"[..], &mut output).unwrap();
        let text = String::from_utf8(output).unwrap();
        let skus: Vec<_> = text
            .lines()
            .filter_map(wire::parse_answer)
            .map(|a| a.sku)
            .collect();
        assert_eq!(served, 2);
        assert_eq!(skus, [Sku::numbered(1), Sku::numbered(2)]);
    }
}
