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

use tracing::subscriber::DefaultGuard;
use tracing_subscriber::fmt::MakeWriter;

use crate::logs::Format;
use crate::setup::{self, Settings, SetupError, Telemetry};

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

    /// The complete lines that are JSON objects (the JSON log format's), parsed; others are
    /// left out.
    pub fn json_lines(&self) -> Vec<serde_json::Value> {
        (self.lines().iter())
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(serde_json::Value::is_object)
            .collect()
    }

    /// The `trace_id` of each JSON line whose message is `message` and whose open spans are
    /// `spans`, outermost first, in the order written: which trace each such event was in.
    pub fn trace_ids(&self, message: &str, spans: &[&str]) -> Vec<String> {
        (self.json_lines().iter())
            .filter(|line| line["message"] == message && line["spans"] == serde_json::json!(spans))
            .filter_map(|line| line["trace_id"].as_str().map(str::to_owned))
            .collect()
    }
}

/// What [`capture_thread`] set up: while it lives, this thread's events are captured.
#[derive(Debug)]
pub struct ThreadCapture {
    _default: DefaultGuard,
    _telemetry: Telemetry,
}

/// Until the returned guard drops, every event on this thread (and so every task of a
/// current-thread runtime, which `#[tokio::test]` is) goes to the returned [`Captured`] as the
/// JSON lines a service writes in production, filtered by `filter`. A test of what crosses a
/// service boundary (a trace id, say) reads both sides' lines there. Give such a test a test
/// binary of its own: `tracing` caches per call site whether anyone listens, and tests on other
/// threads of the same process can leave that cache stale.
pub fn capture_thread(filter: &str) -> Result<(Captured, ThreadCapture), SetupError> {
    let captured = Captured::new();
    let settings = Settings {
        service: "test".into(),
        format: Format::Json,
        default_filter: filter.into(),
        otlp_endpoint: None,
    };
    let (subscriber, telemetry) = setup::subscriber(&settings, captured.clone())?;
    let guard = ThreadCapture {
        _default: tracing::subscriber::set_default(subscriber),
        _telemetry: telemetry,
    };
    Ok((captured, guard))
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

    #[test]
    fn trace_ids_pick_the_message_in_exactly_those_spans() {
        let captured = Captured::new();
        let mut writer = captured.make_writer();
        for line in [
            r#"{"message":"answered","spans":["grpc"],"trace_id":"t1"}"#,
            r#"{"message":"answered","spans":["grpc","inner"],"trace_id":"t2"}"#,
            r#"{"message":"started","spans":["grpc"],"trace_id":"t3"}"#,
            "not json",
            r#"{"message":"answered","spans":["grpc"],"trace_id":"t4"}"#,
        ] {
            writeln!(writer, "{line}").unwrap();
        }
        assert_eq!(captured.json_lines().len(), 4);
        assert_eq!(captured.trace_ids("answered", &["grpc"]), ["t1", "t4"]);
    }
}
