//! The stock service in a second process, so that one trace crosses two services.
//!
//! What this module shows (chapter 07):
//! - A trace's spans carry the `service.name` of the process that exported them, fixed when
//!   that process set telemetry up. Two services in one trace therefore means two processes:
//!   the demonstration runs its own binary again ([`std::env::current_exe`]) with a hidden
//!   flag, and that copy serves the stock service with telemetry for `stock` ([`serve`]).
//! - A child process is a resource like a socket: [`StockProcess`] kills and reaps it when
//!   dropped, on every path (an error, a panic, Ctrl-C), so no process outlives the demo and
//!   none is left a zombie. Every wait on it is bounded.
//! - Stopping cleanly matters for traces: spans leave in batches, so the child flushes its
//!   exporter before it exits. It stops when its standard input closes (the parent went away,
//!   or said so) or on SIGTERM or Ctrl-C.
//!
//! Run its tests with `cargo test -p lesson-07 stock_process`.

use std::io::{BufRead, BufReader, Read, Write as _};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use shop_http::{ServeError, Server};
use shop_telemetry::logs::Format;
use shop_telemetry::setup::{self, Settings, SetupError};
use tokio_util::sync::CancellationToken;

use crate::services::{ServiceMetrics, loopback, stock_app};

/// The hidden flag that makes the demo binary the stock service.
pub const STOCK_FLAG: &str = "--as-stock-service";
/// What the child prints, then its base URL, once it listens.
pub const READY: &str = "stock listening on ";
/// How long the child may take to say it listens, and to exit once asked.
pub const BOUND: Duration = Duration::from_secs(10);

/// What can go wrong with the second process.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    #[error("could not set telemetry up in the stock process")]
    Setup(#[from] SetupError),
    #[error("the stock service failed")]
    Serve(#[from] ServeError),
    #[error("could not start the stock process ({what})")]
    Spawn {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the stock process did not say it listens within {} s; it wrote: {output}",
        BOUND.as_secs()
    )]
    NotReady { output: String },
}

/// The child's side: serves the stock service with telemetry for `stock`, exporting spans to
/// `otlp_endpoint`, prints [`READY`] and its URL on stdout, and runs until stdin closes or a
/// SIGTERM or Ctrl-C comes; then it stops the server and flushes its spans.
pub async fn serve(otlp_endpoint: Option<String>) -> Result<(), ProcessError> {
    // Log lines go to stderr: stdout carries the one line the parent waits for.
    let (subscriber, telemetry) = setup::subscriber(
        &Settings {
            service: "stock".into(),
            format: Format::Json,
            default_filter: "info".into(),
            otlp_endpoint,
        },
        std::io::stderr,
    )?;
    tracing::subscriber::set_global_default(subscriber)
        .map_err(|_| SetupError::AlreadyInstalled)?;
    let metrics = ServiceMetrics::new();
    let shutdown = CancellationToken::new();
    let server = Server::bind(loopback())
        .await?
        .spawn(stock_app(&metrics), shutdown.clone());
    let mut stdout = std::io::stdout();
    // Unreadable stdout: the parent is gone, and stdin will close too.
    let _ = writeln!(stdout, "{READY}{}", server.base_url());
    let _ = stdout.flush();
    stop_requested().await;
    shutdown.cancel();
    server.stopped().await?;
    // Flushing blocks until the exporter has sent the batch; the export itself runs on this
    // runtime, so it must not block a worker the export needs.
    let flushed = tokio::task::spawn_blocking(move || {
        telemetry.flush();
        drop(telemetry);
    })
    .await;
    if flushed.is_err() {
        eprintln!("stock: the span flush panicked; some spans may be lost");
    }
    Ok(())
}

/// Returns when stdin closes (or says `stop`), or on SIGTERM or Ctrl-C.
async fn stop_requested() {
    let (closed, stdin_closed) = tokio::sync::oneshot::channel::<()>();
    // A plain thread: a blocking read that never ends must not hold the runtime open.
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            match line {
                Ok(line) if line.trim() == "stop" => break,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = closed.send(());
    });
    #[cfg(unix)]
    let terminated = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let terminated = std::future::pending::<()>();
    tokio::select! {
        _ = stdin_closed => {}
        () = terminated => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

/// The parent's handle on the stock process. Dropping it kills and reaps the process.
pub struct StockProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Option<JoinHandle<String>>,
    base_url: String,
}

impl std::fmt::Debug for StockProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StockProcess")
            .field("pid", &self.child.id())
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

/// What the stock process left when it stopped.
#[derive(Debug)]
pub struct Stopped {
    /// Whether it exited on its own (after flushing) rather than being killed.
    pub exited_cleanly: bool,
    /// Its log lines (JSON, one per line).
    pub log: Vec<String>,
}

impl StockProcess {
    /// Starts this binary again as the stock service, exporting spans to `otlp_endpoint`, and
    /// waits (bounded) until it says where it listens.
    pub async fn spawn(otlp_endpoint: &str) -> Result<StockProcess, ProcessError> {
        let program = std::env::current_exe().map_err(|source| ProcessError::Spawn {
            what: "finding this program",
            source,
        })?;
        let mut child = Command::new(program)
            .args([STOCK_FLAG, "--otlp", otlp_endpoint])
            // The child's filter is its own default, whatever the demo's RUST_LOG says.
            .env_remove("RUST_LOG")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|source| ProcessError::Spawn {
                what: "running this program again",
                source,
            })?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take();
        let stderr = child.stderr.take().map(|mut stderr| {
            std::thread::spawn(move || {
                let mut text = String::new();
                let _ = stderr.read_to_string(&mut text);
                text
            })
        });
        // From here on, the guard owns the child: any early return kills it.
        let mut process = StockProcess {
            child,
            stdin,
            stderr,
            base_url: String::new(),
        };
        let (ready, first_line) = tokio::sync::oneshot::channel();
        if let Some(stdout) = stdout {
            std::thread::spawn(move || {
                let mut lines = BufReader::new(stdout).lines();
                let first = lines.next().and_then(Result::ok).unwrap_or_default();
                let _ = ready.send(first);
                // Keep reading, so the child never blocks on a full pipe.
                lines.for_each(drop);
            });
        }
        let line = tokio::time::timeout(BOUND, first_line)
            .await
            .ok()
            .and_then(Result::ok)
            .unwrap_or_default();
        match line.strip_prefix(READY) {
            Some(url) => {
                process.base_url = url.trim().to_owned();
                Ok(process)
            }
            None => {
                let _ = process.child.kill();
                let log = process.collect_stderr();
                Err(ProcessError::NotReady {
                    output: format!("{line:?} on stdout, {:?} on stderr", log.join("\n")),
                })
            }
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Asks the process to stop (closes its stdin), waits for it (bounded; killed after
    /// that), and returns its log.
    pub async fn stop(mut self) -> Stopped {
        drop(self.stdin.take());
        let deadline = Instant::now() + BOUND;
        let exited_cleanly = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status.success(),
                Ok(None) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                _ => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break false;
                }
            }
        };
        Stopped {
            exited_cleanly,
            log: self.collect_stderr(),
        }
    }

    /// The child's stderr once it has closed (the child exited or was killed).
    fn collect_stderr(&mut self) -> Vec<String> {
        let _ = self.child.wait();
        self.stderr
            .take()
            .and_then(|reader| reader.join().ok())
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

impl Drop for StockProcess {
    fn drop(&mut self) {
        // Still running: kill it. Either way, reap it, so no zombie is left.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}
