//! Step 4: a private Prometheus scrapes both services; the numbers come from PromQL.

use std::time::{Duration, Instant};

use narrate::{Table, heading, say, show};
use testkit::discover::{self, Service};
use testkit::prometheus::{Config, Prometheus, Sample, Target};
use tokio_util::sync::CancellationToken;

use super::{Demo, StatusCounts, StepError, add, expect, product_requests, statuses};
use crate::services::Services;

/// How long traffic flows while Prometheus scrapes.
const TRAFFIC: Duration = Duration::from_secs(15);
/// A progress line every so often.
const PROGRESS: Duration = Duration::from_secs(3);
/// Each round of traffic: this many requests, so many at a time, then a pause.
const ROUND: u32 = 10;
const CONCURRENCY: usize = 5;
const PAUSE: Duration = Duration::from_millis(100);
/// Bounds on waiting for Prometheus (targets up, last scrape in, rules evaluated).
const WAIT: Duration = Duration::from_secs(30);

// ANCHOR: prometheus_queries
/// Requests per second per job and route, over the last 10 seconds. `rate()` divides by the
/// window: a 1-minute window over 15 seconds of traffic would read a quarter of the rate.
pub const RATE: &str =
    r#"sum by (job, route) (rate(http_server_requests_total{route!="/metrics"}[10s]))"#;
/// The share of 5xx answers: the repository's recording rule (observability/prometheus/rules/red.yml).
pub const ERROR_RATIO: &str =
    r#"job_route:http_server_request_error_ratio:rate5m{route!="/metrics"}"#;
/// The 99th percentile of the duration, estimated from the buckets. `job` is kept beside
/// `route` because both services have a `/metrics` route of their own.
pub const P99: &str = r#"histogram_quantile(0.99, sum by (le, job, route) (rate(http_server_request_duration_seconds_bucket{route!="/metrics"}[1m])))"#;
/// The counters themselves, as of the last scrape.
pub const TOTAL: &str = r#"sum by (job, route) (http_server_requests_total{route!="/metrics"})"#;
// ANCHOR_END: prometheus_queries

/// The value of the sample with this job, as text, or `-`.
fn value_of(samples: &[Sample], job: &str, format: impl Fn(f64) -> String) -> String {
    samples
        .iter()
        .find(|s| s.label("job") == Some(job))
        .map_or_else(|| "-".to_owned(), |s| format(s.value))
}

pub async fn prometheus(demo: &Demo) -> Result<(), StepError> {
    heading(4, "Prometheus: scrape, store, ask in PromQL");
    if let Err(why) = discover::locate(Service::Prometheus) {
        say(format_args!(
            "{why}; install it with `apt-get install prometheus` or `brew install prometheus` \
             (the step starts a private server from the program), and run it again."
        ));
        return Err(StepError::ServiceMissing("Prometheus"));
    }
    let shutdown = CancellationToken::new();
    let services = Services::start(&shutdown).await?;
    let result = scrape_and_ask(demo, &services).await;
    services.stop().await?;
    result
}

async fn scrape_and_ask(demo: &Demo, services: &Services) -> Result<(), StepError> {
    let storefront = services.storefront.addr().to_string();
    let stock = services.stock.addr().to_string();
    let prometheus = Prometheus::start(
        Config::new()
            .scrape(Target::new("storefront", &storefront))
            .scrape(Target::new("stock", &stock))
            .with_repository_rules(),
    )
    .await?;
    say(format_args!(
        "A private Prometheus on {} (testkit::prometheus), scraping every second:",
        prometheus.url()
    ));
    show(format_args!(
        "job=\"storefront\"  http://{storefront}/metrics"
    ));
    show(format_args!("job=\"stock\"       http://{stock}/metrics"));
    say("with the repository's recording and alerting rules (observability/prometheus/rules/).");
    prometheus
        .wait_for(
            "sum(up)",
            |s| s.first().is_some_and(|s| s.value == 2.0),
            WAIT,
        )
        .await?;
    say("Both targets are up. Traffic for 15 seconds:");

    let base = services.storefront.base_url();
    let started = Instant::now();
    let mut next_progress = PROGRESS;
    let mut counts = StatusCounts::new();
    let mut next_id = 1;
    while started.elapsed() < TRAFFIC && !demo.shutdown.is_cancelled() {
        let round =
            product_requests(&demo.client, &base, next_id..next_id + ROUND, CONCURRENCY).await?;
        next_id += ROUND;
        add(&mut counts, &round);
        if started.elapsed() >= next_progress {
            show(format_args!(
                "{:>2} s  {}",
                next_progress.as_secs(),
                statuses(&counts)
            ));
            next_progress += PROGRESS;
        }
        tokio::time::sleep(PAUSE).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let sent: u64 = counts.values().sum();
    let failed = counts.get(&503).copied().unwrap_or(0);
    // Asked at once, while the last 10 seconds are all traffic.
    let rate = prometheus.query(RATE).await?;

    // The last requests are in Prometheus once a scrape of each service after them is
    // stored; each service saw every request once (the storefront's, and its call to stock).
    let total = prometheus
        .wait_for(
            TOTAL,
            |s| s.len() == 2 && s.iter().all(|s| s.value == sent as f64),
            WAIT,
        )
        .await?;
    let errors = prometheus
        .wait_for(ERROR_RATIO, |s| s.len() == 2, WAIT)
        .await?;
    let p99 = prometheus.query(P99).await?;

    println!();
    say("What Prometheus answers (GET /api/v1/query), beside what the demo itself counted:");
    for (what, expr) in [
        ("rate", RATE),
        ("errors", ERROR_RATIO),
        ("p99", P99),
        ("count", TOTAL),
    ] {
        show(format_args!("{what:<7} {expr}"));
    }
    println!();
    let mut table = Table::new([
        "job",
        "route",
        "req/s>",
        "demo req/s>",
        "error ratio>",
        "demo 5xx>",
        "p99>",
        "counted>",
        "demo sent>",
    ]);
    for (job, route) in [("storefront", "/products/{id}"), ("stock", "/stock/{sku}")] {
        table.row([
            job.to_owned(),
            route.to_owned(),
            value_of(&rate, job, |v| format!("{v:.1}")),
            format!("{:.1}", sent as f64 / elapsed),
            value_of(&errors, job, |v| format!("{:.1}%", v * 100.0)),
            format!("{:.1}%", failed as f64 * 100.0 / sent.max(1) as f64),
            value_of(&p99, job, |v| format!("{:.0} ms", v * 1000.0)),
            value_of(&total, job, |v| format!("{v:.0}")),
            sent.to_string(),
        ]);
    }
    print!("{table}");
    expect(
        errors.iter().all(|s| (s.value - 0.05).abs() < 0.01),
        "an error ratio of 5%, the stock schedule's one failure in twenty",
        format!("{errors:?}"),
    )?;
    println!();
    say("The counters agree exactly: every request counted once, by both services. The rate");
    say("is an estimate from samples a second apart over the last 10 s, close to the demo's");
    say("average rather than equal (rate() divides by its window: [1m] over 15 s of traffic");
    say("would read a quarter of it). The p99 is interpolated inside the bucket it falls in");
    say("(250-500 ms here), as precise as the buckets allow: above the 250 ms SLO, because the");
    say("stock service's slow answers are more than 1% of them. The error ratio is the");
    say("recording rule's, computed by Prometheus at every evaluation.");
    say("Prometheus adds job and instance; the services never label themselves.");
    Ok(())
}
