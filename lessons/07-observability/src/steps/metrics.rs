//! Step 2: RED metrics, from the exposition page and as a picture.

use narrate::{heading, say, show};
use shop_telemetry::metrics::DURATION_BUCKETS;
use tokio_util::sync::CancellationToken;

use super::{Demo, StatusCounts, StepError, add, expect, product_requests, statuses};
use crate::histogram_picture::{buckets, picture};
use crate::services::Services;

/// How many product pages the step asks for, in rounds of [`ROUND`].
pub const REQUESTS: u32 = 300;
const ROUND: u32 = 100;
const CONCURRENCY: usize = 8;

/// The exposition lines a reader should look at: the request counters, and the duration
/// buckets of `route`.
fn relevant(page: &str, route: &str) -> Vec<String> {
    let route = format!("route=\"{route}\"");
    page.lines()
        .filter(|line| {
            line.starts_with("http_server_requests_total{")
                || (line.starts_with("http_server_request_duration_seconds_")
                    && line.contains(&route))
        })
        .filter(|line| !line.contains("route=\"/metrics\""))
        .map(str::to_owned)
        .collect()
}

pub async fn metrics(demo: &Demo) -> Result<(), StepError> {
    heading(2, "RED metrics: rate, errors, duration per route");
    let shutdown = CancellationToken::new();
    let services = Services::start(&shutdown).await?;
    say("Two services, each with shop_telemetry's RedLayer on its routes and GET /metrics:");
    show(format_args!(
        "storefront {}  GET /products/{{id}} calls stock over HTTP",
        services.storefront.base_url()
    ));
    show(format_args!(
        "stock      {}  GET /stock/{{sku}}: every 5th request 60 ms, every 25th 300 ms, every 20th a 503",
        services.stock.base_url()
    ));
    say(format_args!(
        "{REQUESTS} product pages, {CONCURRENCY} at a time:"
    ));
    let base = services.storefront.base_url();
    let mut counts = StatusCounts::new();
    for first in (1..=REQUESTS).step_by(ROUND as usize) {
        let round =
            product_requests(&demo.client, &base, first..first + ROUND, CONCURRENCY).await?;
        add(&mut counts, &round);
        show(format_args!(
            "{:>3}/{REQUESTS} sent   {}",
            first + ROUND - 1,
            statuses(&counts)
        ));
    }

    let storefront_page = demo
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await?
        .text()
        .await?;
    let stock_page = demo
        .client
        .get(format!("{}/metrics", services.stock.base_url()))
        .send()
        .await?
        .text()
        .await?;
    services.stop().await?;

    println!();
    say("The storefront's GET /metrics (the lines that matter; Prometheus reads the whole page):");
    for line in relevant(&storefront_page, "/products/{id}") {
        show(line);
    }
    say("The stock service's request counter:");
    for line in relevant(&stock_page, "/stock/{sku}") {
        if line.starts_with("http_server_requests_total{") {
            show(line);
        }
    }
    let counter = |status: u16| {
        format!(
            "http_server_requests_total{{method=\"GET\",route=\"/products/{{id}}\",status=\"{status}\"}} {}",
            counts.get(&status).copied().unwrap_or(0)
        )
    };
    expect(
        storefront_page.contains(&counter(200)) && storefront_page.contains(&counter(503)),
        "the storefront's counters to equal what the client saw",
        statuses(&counts),
    )?;
    expect(
        counts.get(&503) == Some(&u64::from(REQUESTS / 20)),
        "one 503 in twenty, as the stock schedule says",
        statuses(&counts),
    )?;
    say("Rate is the counter's growth; errors are its status=~\"5..\" series; the stock");
    say("service's 503s became the storefront's 503s: one failure, counted once by each.");
    say("Labels carry the route template, never the path: 300 product ids, one series.");

    println!();
    say("Duration: the storefront's histogram, one bar per bucket (the page holds running");
    say(format_args!(
        "totals per bound: {} bounds from 5 ms to 5 s, chosen so 250 ms is one of them):",
        DURATION_BUCKETS.len()
    ));
    let histogram = buckets(
        &storefront_page,
        "http_server_request_duration_seconds",
        "/products/{id}",
    );
    expect(
        histogram.last().map(|b| b.cumulative) == Some(u64::from(REQUESTS)),
        "every request in the histogram",
        format!("{histogram:?}"),
    )?;
    for line in picture(&histogram, 0.25).lines() {
        show(line);
    }
    say("The slow stock answers (300 ms) show up as the storefront's tail: its latency is");
    say("its own plus its dependency's. The next step follows one request through both.");
    Ok(())
}
