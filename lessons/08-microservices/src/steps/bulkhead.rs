//! Step 4: a slow inventory, forty concurrent checkouts, and what a bulkhead of eight does for
//! the rest of the gateway.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say};
use reqwest::StatusCode;
use shop_http::{Limits, Server};
use shop_inventory::{InventoryClient, default_dependency_config};
use shop_resilience::{Dependency, DependencyConfig};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::limit::GlobalConcurrencyLimitLayer;

use super::{Demo, StepError, loopback, percentile};
use crate::catalog::{self, CatalogClient, PRODUCTS};
use crate::gateway::{CheckoutRequest, Gateway, Listing};
use crate::standin::{Faults, StandIn};

const CHECKOUTS: usize = 40;
const BULKHEAD: usize = 8;
const SLOW: Duration = Duration::from_millis(500);
/// The gateway serves this many requests at once; the rest wait their turn. It stands for
/// what every real server has a fixed amount of: worker threads, database connections, memory.
const WORKERS: usize = 16;
const PROBES: usize = 10;
const PROBE_EVERY: Duration = Duration::from_millis(40);

/// What one run measured.
#[derive(Debug, Default)]
struct Run {
    created: usize,
    refused: usize,
    other: usize,
    /// The slowest 503: how "at once" the refusals were.
    slowest_refusal: Duration,
    /// The first 503's Retry-After.
    retry_after: Option<String>,
    catalog: Vec<Duration>,
    catalog_live: usize,
}

fn config(max_concurrent: usize) -> DependencyConfig {
    DependencyConfig {
        max_concurrent: NonZeroUsize::new(max_concurrent).unwrap_or(NonZeroUsize::MIN),
        ..default_dependency_config()
    }
}

pub async fn bulkhead(demo: &Demo) -> Result<(), StepError> {
    heading(
        4,
        "Bulkhead: a slow dependency may take eight workers, not all of them",
    );
    say(format_args!(
        "Inventory (a stand-in) now takes {} per Reserve. The gateway serves {WORKERS} requests at",
        duration(SLOW)
    ));
    say(format_args!(
        "once (its worker pool). {CHECKOUTS} checkouts arrive together, and {PROBES} catalog GETs follow,"
    ));
    say(format_args!(
        "one every {}. The same run twice: inventory calls unbounded, then a bulkhead of {BULKHEAD}.",
        duration(PROBE_EVERY)
    ));
    let without = run(demo, CHECKOUTS + 24).await?;
    let with = run(demo, BULKHEAD).await?;

    let mut table = Table::new([
        "inventory calls",
        "201>",
        "503>",
        "slowest 503>",
        "catalog p50>",
        "catalog max>",
        "availability>",
    ]);
    for (name, run) in [("unbounded", &without), ("bulkhead of 8", &with)] {
        table.row([
            name.to_owned(),
            run.created.to_string(),
            run.refused.to_string(),
            if run.refused == 0 {
                "-".to_owned()
            } else {
                duration(run.slowest_refusal)
            },
            duration(percentile(&run.catalog, 50)),
            duration(percentile(&run.catalog, 100)),
            format!("{}/{PROBES}", run.catalog_live),
        ]);
    }
    print!("{table}");
    if demo.shutdown.is_cancelled() {
        return Ok(());
    }
    expect(
        with.created == BULKHEAD
            && with.refused == CHECKOUTS - BULKHEAD
            && with.other == 0
            && with.retry_after.is_some(),
        "8 checkouts through and 32 refused with 503 and Retry-After",
        format!("{with:?}"),
    )?;
    expect(
        with.slowest_refusal < SLOW / 2,
        "the refusals to come at once, not after the slow calls",
        duration(with.slowest_refusal),
    )?;
    expect(
        percentile(&with.catalog, 50) * 4 < percentile(&without.catalog, 50),
        "the catalog to stay fast with the bulkhead and slow without it",
        format!(
            "{} with, {} without",
            duration(percentile(&with.catalog, 50)),
            duration(percentile(&without.catalog, 50))
        ),
    )?;
    say("Unbounded, the slow checkouts held every worker, and the catalog, which does not even");
    say("need the slow call, queued behind them. With the bulkhead, eight waited on inventory,");
    say(format_args!(
        "the others were told 503 (Retry-After: {}) at once, and the workers stayed free: the",
        with.retry_after.as_deref().unwrap_or("missing")
    ));
    say("catalog kept its latency, served without availability while the bulkhead was full.");
    say("A bulkhead trades some requests for the health of all the others.");
    Ok(())
}

/// Starts a slow stand-in, a catalog and a gateway whose inventory client admits
/// `max_concurrent` calls, and sends the burst and the probes.
async fn run(demo: &Demo, max_concurrent: usize) -> Result<Run, StepError> {
    let stock: Vec<(&str, u32)> = PRODUCTS.iter().map(|&(s, ..)| (s, 1_000)).collect();
    let faults = Faults {
        fail_percent: 0,
        reserve_delay: SLOW,
    };
    let standin = StandIn::new(&stock, faults).serve().await?;
    let shutdown = CancellationToken::new();
    let catalog = Server::bind(loopback())
        .await?
        .spawn(catalog::router(catalog::products()), shutdown.clone());
    let dependency = Arc::new(Dependency::new("inventory", config(max_concurrent)));
    let client = Arc::new(InventoryClient::connect_lazy(
        &standin.endpoint(),
        dependency,
    )?);
    let routes = Gateway::new(CatalogClient::new(catalog.base_url())?, client);
    // Global: one pool of workers shared by every route (a per-route limit would give each
    // route its own, and hide the point).
    let app = routes
        .router()
        .layer(GlobalConcurrencyLimitLayer::new(WORKERS));
    let limits = Limits {
        // The demo's whole burst comes from 127.0.0.1.
        max_connections_per_ip: 256,
        ..Limits::default()
    };
    let gateway = Server::bind(loopback())
        .await?
        .limits(limits)
        .spawn(app, shutdown.clone());
    let base = gateway.base_url();
    let result = burst(demo, &base).await;
    shutdown.cancel();
    gateway.stopped().await?;
    catalog.stopped().await?;
    standin.stop().await?;
    result
}

async fn burst(demo: &Demo, base: &str) -> Result<Run, StepError> {
    let checkouts = (0..CHECKOUTS).map(|n| {
        let request = CheckoutRequest {
            idempotency_key: format!("bulkhead-{n:02}"),
            sku: PRODUCTS[0].0.to_owned(),
            quantity: 1,
        };
        let post = demo
            .client
            .post(format!("{base}/checkout"))
            .json(&request)
            .send();
        async move {
            let sent = Instant::now();
            let answer = post.await;
            answer.map(|a| {
                let retry_after = a
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                (a.status(), sent.elapsed(), retry_after)
            })
        }
    });
    // Each probe leaves on its own schedule, whether or not the one before has its answer,
    // as independent users do.
    let probes = (1..=PROBES).map(|n| {
        let get = demo.client.get(format!("{base}/products"));
        async move {
            tokio::time::sleep(PROBE_EVERY * n as u32).await;
            let sent = Instant::now();
            let listing: Listing = get.send().await?.json().await?;
            Ok::<_, reqwest::Error>((sent.elapsed(), listing.availability == "live"))
        }
    });
    let probes = futures::future::join_all(probes);
    let (answers, probed) = tokio::join!(futures::future::join_all(checkouts), probes);
    let mut run = Run::default();
    for probe in probed {
        let (took, live) = probe?;
        run.catalog.push(took);
        run.catalog_live += usize::from(live);
    }
    for answer in answers {
        let (status, took, retry_after) = answer?;
        match status {
            StatusCode::CREATED => run.created += 1,
            StatusCode::SERVICE_UNAVAILABLE => {
                run.refused += 1;
                run.slowest_refusal = run.slowest_refusal.max(took);
                run.retry_after = run.retry_after.or(retry_after);
            }
            _ => run.other += 1,
        }
    }
    Ok(run)
}
