//! The narration: each public function is one step of `cargo run -p lesson-07`. It starts the
//! services a step needs, drives them with a real client, prints what the telemetry recorded,
//! and checks that it recorded what the lesson says, so a broken instrumentation fails the demo
//! instead of printing a story that is not true.

mod alerts;
mod logs;
mod metrics;
mod prometheus;
mod traces;

use std::collections::BTreeMap;
use std::time::Duration;

use futures::StreamExt as _;
use narrate::demo::{Unexpected, expect};
use narrate::{duration, say};
use shop_http::ServeError;
use shop_telemetry::setup::SetupError;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::alerts::PromtoolError;
use crate::services::StartError;
use crate::stock_process::ProcessError;

pub use alerts::alerts;
pub use logs::logs;
pub use metrics::metrics;
pub use prometheus::prometheus;
pub use traces::traces;

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    /// The demo's HTTP client, for every request it sends.
    pub client: reqwest::Client,
    /// Cancelled by Ctrl-C: a step that generates traffic for a while stops early.
    pub shutdown: CancellationToken,
}

impl Demo {
    pub fn new(shutdown: CancellationToken) -> Result<Demo, StepError> {
        let client = reqwest::Client::builder()
            // Loopback only: a proxy from the environment must not see the demo's requests.
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Demo { client, shutdown })
    }
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error("a service of the demo could not start")]
    Start(#[from] StartError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Process(#[from] ProcessError),
    #[error(transparent)]
    Spans(#[from] testkit::otlp::NotEnoughSpans),
    #[error(transparent)]
    Prometheus(#[from] testkit::prometheus::Error),
    #[error(transparent)]
    Promtool(#[from] PromtoolError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
    /// The step said which service, and how to get it, in one sentence.
    #[error("{0} is not installed")]
    ServiceMissing(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 07 · Observability: logs, metrics and traces");
    println!();
    say("A storefront that calls a stock service over HTTP, instrumented with the shop's");
    say("telemetry crate: redacted JSON logs, RED metrics read by Prometheus, one trace across");
    say("two processes, and the SLO alerts that watch it all. Everything stays on loopback.");
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
}

/// How many answers of each status a batch of requests got.
pub type StatusCounts = BTreeMap<u16, u64>;

/// `GET {base_url}/products/{id}` for every id in `ids`, `concurrency` at a time.
async fn product_requests(
    client: &reqwest::Client,
    base_url: &str,
    ids: std::ops::Range<u32>,
    concurrency: usize,
) -> Result<StatusCounts, StepError> {
    let mut answers = futures::stream::iter(ids)
        .map(|id| {
            let url = format!("{base_url}/products/{id}");
            async move { client.get(url).send().await }
        })
        .buffer_unordered(concurrency);
    let mut counts = StatusCounts::new();
    while let Some(answer) = answers.next().await {
        *counts.entry(answer?.status().as_u16()).or_default() += 1;
    }
    Ok(counts)
}

/// `200: 285, 503: 15`.
fn statuses(counts: &StatusCounts) -> String {
    counts
        .iter()
        .map(|(status, count)| format!("{status}: {count}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn add(total: &mut StatusCounts, more: &StatusCounts) {
    for (status, count) in more {
        *total.entry(*status).or_default() += count;
    }
}
