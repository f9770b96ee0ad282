//! Step 3: one trace across two services (two processes), exported over OTLP.

use std::time::Duration;

use narrate::{heading, say, show};
use shop_http::Server;
use shop_telemetry::logs::Format;
use shop_telemetry::setup::{self, Settings};
use testkit::otlp::{ReceivedSpan, Receiver, SpanKind, render_tree};
use tokio_util::sync::CancellationToken;

use super::{StepError, expect};
use crate::services::{ServiceMetrics, StockClient, loopback, storefront_app};
use crate::stock_process::StockProcess;
use narrate::demo::Unexpected;

/// How long the spans may take to arrive after both services flushed.
const SPANS_WAIT: Duration = Duration::from_secs(10);

/// What the storefront's one request left behind.
struct Answered {
    status: u16,
}

/// Runs the storefront on a thread of its own, with a current-thread runtime and the
/// storefront's subscriber as that thread's default: every task of the server then runs where
/// the subscriber is the default, while the rest of the demo keeps its own. Sends it one
/// request, stops it, and flushes its spans to `otlp_endpoint`.
async fn storefront_request(
    stock_url: String,
    otlp_endpoint: String,
) -> Result<Answered, StepError> {
    let (done, answered) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("storefront".into())
        .spawn(move || {
            let _ = done.send(run_storefront(stock_url, otlp_endpoint));
        })?;
    answered.await.map_err(|_| Unexpected {
        expected: "the storefront thread to report",
        got: "it stopped without a word (a panic)".into(),
    })?
}

fn run_storefront(stock_url: String, otlp_endpoint: String) -> Result<Answered, StepError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let (subscriber, telemetry) = setup::subscriber(
            &Settings {
                service: "storefront".into(),
                format: Format::Json,
                default_filter: "info".into(),
                otlp_endpoint: Some(otlp_endpoint),
            },
            // Its log lines are not the point here (step 1 showed them); its spans are.
            std::io::sink,
        )?;
        let status = {
            let _default = tracing::subscriber::set_default(subscriber);
            let shutdown = CancellationToken::new();
            let storefront = Server::bind(loopback()).await?.spawn(
                storefront_app(StockClient::new(stock_url)?, &ServiceMetrics::new()),
                shutdown.clone(),
            );
            let client = reqwest::Client::builder().no_proxy().build()?;
            let status = client
                .get(format!("{}/products/42", storefront.base_url()))
                .send()
                .await?
                .status()
                .as_u16();
            shutdown.cancel();
            storefront.stopped().await?;
            status
        };
        // Blocks until the last batch is sent (on the exporter's own runtime, not this one).
        telemetry.flush();
        drop(telemetry);
        Ok(Answered { status })
    })
}

/// The span of `spans` with this service, kind and name.
fn find<'a>(
    spans: &'a [ReceivedSpan],
    service: &str,
    kind: SpanKind,
    name: &str,
) -> Result<&'a ReceivedSpan, StepError> {
    spans
        .iter()
        .find(|s| s.service == service && s.kind == kind && s.name == name)
        .ok_or_else(|| {
            Unexpected {
                expected: "a storefront server span, its client span and stock's server span",
                got: render_tree(spans),
            }
            .into()
        })
}

pub async fn traces() -> Result<(), StepError> {
    heading(3, "Traces: one request across two services");
    let receiver = Receiver::start().await?;
    say(format_args!(
        "An OTLP/HTTP trace receiver (testkit::otlp) on {}.",
        receiver.endpoint()
    ));
    let stock = StockProcess::spawn(receiver.endpoint()).await?;
    say("The stock service runs in a second process (this program again, with a hidden flag),");
    say(format_args!(
        "as service.name \"stock\", on {}; the storefront runs in this one, as",
        stock.base_url()
    ));
    say("service.name \"storefront\". One request to the storefront:");
    let answered =
        storefront_request(stock.base_url().to_owned(), receiver.endpoint().to_owned()).await;
    // Stopped whatever happened to the request; dropping it would kill it too.
    let stopped = stock.stop().await;
    let answered = answered?;
    expect(
        answered.status == 200,
        "GET /products/42 to answer 200",
        answered.status.to_string(),
    )?;
    expect(
        stopped.exited_cleanly,
        "the stock process to flush and exit when asked",
        stopped.log.join("\n"),
    )?;
    show("GET /products/42  200");
    say("Both services flushed their spans and the stock process exited. The receiver got:");

    // ANCHOR: span_tree
    let spans = receiver.wait_for_spans(3, SPANS_WAIT).await?;
    println!();
    for line in render_tree(&spans).lines() {
        show(line);
    }
    let server = find(&spans, "storefront", SpanKind::Server, "GET /products/{id}")?;
    let client = find(&spans, "storefront", SpanKind::Client, "GET /stock/{sku}")?;
    let callee = find(&spans, "stock", SpanKind::Server, "GET /stock/{sku}")?;
    expect(
        client.parent_span_id.as_ref() == Some(&server.span_id)
            && callee.parent_span_id.as_ref() == Some(&client.span_id)
            && server.trace_id == callee.trace_id,
        "one trace: storefront's server span → its client call → stock's server span",
        render_tree(&spans),
    )?;
    // ANCHOR_END: span_tree
    println!();
    say("One trace id, three spans, two services. The storefront's client span put its own");
    say("id in the traceparent header; the stock service made its server span a child of it.");
    say("The gap between the client span and stock's server span is the network and the");
    say("connection set-up; the stock span's own time is the work it did.");

    // The other process's log line, to show that the link works across processes too.
    let trace_id = &server.trace_id;
    let line = stopped
        .log
        .iter()
        .find(|line| line.contains("\"answered\"") && line.contains(trace_id.as_str()));
    let Some(line) = line else {
        return Err(Unexpected {
            expected: "the stock process's log line for the request to name the trace id",
            got: stopped.log.join("\n"),
        }
        .into());
    };
    say("And the stock process's log line for that request names the same trace id:");
    let pretty = serde_json::from_str::<serde_json::Value>(line)
        .and_then(|value| serde_json::to_string_pretty(&value))
        .unwrap_or_else(|_| line.clone());
    for line in pretty.lines() {
        show(line);
    }
    say("From a log line to its trace, and back, by trace_id.");
    Ok(())
}
