//! Log lines kept in memory.
//!
//! What this module shows (chapter 07):
//! - `tracing-subscriber` writes through a [`MakeWriter`]: something that hands out a fresh
//!   `io::Write` for every event. Production gives it stdout (a log shipper reads the
//!   container's output); a demonstration gives it [`Captured`], so that it can print the
//!   JSON lines it produced, and a test can assert on them, without touching the terminal.
//!
//! Run its tests with `cargo test -p shop-telemetry capture`.

use std::io;
use std::sync::{Arc, Mutex, PoisonError};

use tracing_subscriber::fmt::MakeWriter;

/// A shared, growing buffer of everything written to it. Clones share the buffer.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl Captured {
    pub fn new() -> Self {
        Self::default()
    }

    /// Every complete line written so far, without its newline.
    pub fn lines(&self) -> Vec<String> {
        let bytes = self.bytes.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes)
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The writer [`Captured`] hands out for one event.
#[derive(Debug)]
pub struct CapturedWriter {
    bytes: Arc<Mutex<Vec<u8>>>,
}

impl io::Write for CapturedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // A writer that panicked half-way leaves a line cut short, never a lost buffer.
        self.bytes
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = CapturedWriter;

    fn make_writer(&'a self) -> Self::Writer {
        CapturedWriter {
            bytes: Arc::clone(&self.bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write as _;

    use super::*;

    #[test]
    fn every_writer_appends_to_the_one_buffer() {
        let captured = Captured::new();
        captured.make_writer().write_all(b"{\"a\":1}\n").unwrap();
        captured
            .clone()
            .make_writer()
            .write_all(b"{\"b\":2}\n")
            .unwrap();
        assert_eq!(captured.lines(), vec!["{\"a\":1}", "{\"b\":2}"]);
    }

    #[test]
    fn nothing_written_is_no_lines() {
        assert!(Captured::new().lines().is_empty());
    }
}
