//! Step 3: the inventory service dies mid-run; the breaker opens, the gateway degrades (the
//! catalog still served, checkout 503 with Retry-After), and recovers when inventory is back.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::header::RETRY_AFTER;
use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use reqwest::StatusCode;
use shop_http::{RunningServer, Server};
use shop_inventory::{InventoryClient, default_dependency_config};
use shop_resilience::{BreakerConfig, Deadline, Dependency, DependencyConfig, State};
use testkit::demo_db::DemoDatabase;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::grpc::sku;
use super::{Demo, StepError, loopback, start_inventory};
use crate::catalog::{self, CatalogClient, PRODUCTS};
use crate::gateway::{CheckoutRequest, Ending, Gateway, Listing};
use crate::inventory::InventoryService;
use crate::timeline::{Timeline, status_mark};

const ROUNDS: usize = 40;
const ROUND: Duration = Duration::from_millis(100);
const KILL_AT: usize = 10;
const RESTART_AT: usize = 25;

/// The client's defaults, with the breaker open for one second instead of five, so that a
/// four-second run shows it open, probe, stay open, probe again and close.
fn dependency_config() -> DependencyConfig {
    let defaults = default_dependency_config();
    DependencyConfig {
        breaker: BreakerConfig {
            open_for: Duration::from_secs(1),
            ..defaults.breaker
        },
        ..defaults
    }
}

/// Something that happened, and when.
struct Event {
    at: Duration,
    round: usize,
    text: String,
}

/// Watches the breaker's state through `subscribe()` until `stop`, noting each change. The
/// channel keeps only the latest state, so a half-open trial that fails within a millisecond
/// is seen as "open, again": the change is still signalled, and said for what it was.
fn watch_breaker(
    mut states: watch::Receiver<State>,
    started: Instant,
    round: Arc<AtomicUsize>,
    stop: CancellationToken,
) -> JoinHandle<Vec<Event>> {
    tokio::spawn(async move {
        let mut events = Vec::new();
        let mut last = *states.borrow_and_update();
        loop {
            tokio::select! {
                changed = states.changed() => if changed.is_err() { break },
                () = stop.cancelled() => break,
            }
            let now = *states.borrow_and_update();
            let text = match (last, now) {
                (State::Closed, State::Open) => {
                    "breaker OPEN: consecutive failures reached the threshold"
                }
                (State::Open, State::HalfOpen) => "breaker half-open: one trial call let through",
                (State::HalfOpen | State::Open, State::Open) => {
                    "breaker half-open, trial call failed: OPEN again for 1 s"
                }
                (State::HalfOpen | State::Open, State::Closed) => {
                    "breaker half-open, trial call answered: CLOSED"
                }
                _ => "breaker changed state",
            };
            events.push(Event {
                at: started.elapsed(),
                round: round.load(Ordering::Relaxed),
                text: text.to_owned(),
            });
            last = now;
        }
        events
    })
}

/// The three servers of the step besides inventory.
struct Front {
    catalog: RunningServer,
    gateway: RunningServer,
    routes: Gateway,
    dependency: Arc<Dependency>,
    shutdown: CancellationToken,
}

async fn start_front(inventory: &InventoryService) -> Result<Front, StepError> {
    let shutdown = CancellationToken::new();
    let catalog = Server::bind(loopback())
        .await?
        .spawn(catalog::router(catalog::products()), shutdown.clone());
    let dependency = Arc::new(Dependency::new("inventory", dependency_config()));
    let client = Arc::new(InventoryClient::connect_lazy(
        &inventory.endpoint(),
        Arc::clone(&dependency),
    )?);
    for &(text, ..) in &PRODUCTS {
        client
            .restock(&sku(text)?, 1_000, Deadline::after(Duration::from_secs(2)))
            .await?;
    }
    let routes = Gateway::new(CatalogClient::new(catalog.base_url())?, client);
    let gateway = Server::bind(loopback())
        .await?
        .spawn(routes.clone().router(), shutdown.clone());
    Ok(Front {
        catalog,
        gateway,
        routes,
        dependency,
        shutdown,
    })
}

pub async fn breaker(demo: &Demo) -> Result<(), StepError> {
    heading(
        3,
        "Circuit breaker: inventory dies, the gateway degrades and recovers",
    );
    let db = demo.database().await?;
    let inventory = start_inventory(&db, loopback()).await?;
    let front = match start_front(&inventory).await {
        Ok(front) => front,
        Err(error) => {
            inventory.stop().await?;
            demo.finish(db).await?;
            return Err(error);
        }
    };
    let result = run(demo, &db, inventory, &front).await;
    front.shutdown.cancel();
    front.catalog.stopped().await?;
    front.gateway.stopped().await?;
    demo.finish(db).await?;
    result
}

/// What the rounds counted.
#[derive(Default)]
struct Tally {
    catalog_live: u32,
    catalog_degraded: u32,
    catalog_failed: u32,
    created: u32,
    unavailable: u32,
    other: u32,
}

async fn run(
    demo: &Demo,
    db: &DemoDatabase,
    inventory: InventoryService,
    front: &Front,
) -> Result<(), StepError> {
    let addr = inventory.addr();
    say("Three services on loopback ports:");
    show(format_args!(
        "catalog    {}  REST, the products",
        front.catalog.base_url()
    ));
    show(format_args!(
        "inventory  http://{addr}  gRPC, the stock (PostgreSQL)"
    ));
    show(format_args!(
        "gateway    {}  in front of both:",
        front.gateway.base_url()
    ));
    show("  GET  /products  the catalog, with availability if inventory answers within 150 ms");
    show("  POST /checkout  a reservation in inventory: no inventory, no checkout");
    let breaker = dependency_config().breaker;
    say(format_args!(
        "The gateway's inventory breaker opens after {} failures in a row, stays open {},",
        breaker.failure_threshold,
        duration(breaker.open_for)
    ));
    say(format_args!(
        "then lets {} trial call through. {ROUNDS} rounds of {}, a GET and a checkout each;",
        breaker.half_open_trials,
        duration(ROUND)
    ));
    say(format_args!(
        "inventory is stopped at round {KILL_AT}, and started again on the same port at round {RESTART_AT}."
    ));
    println!();

    let started = Instant::now();
    let round = Arc::new(AtomicUsize::new(0));
    let stop_watching = CancellationToken::new();
    let watcher = watch_breaker(
        front.dependency.breaker().subscribe(),
        started,
        Arc::clone(&round),
        stop_watching.clone(),
    );
    let mut events = Vec::new();
    let mut timeline = Timeline::new(&["catalog", "checkout", "inventory", "breaker"]);
    let mut tally = Tally::default();
    let mut inventory = Some(inventory);
    let mut first_503 = None;
    let mut recovered = false;
    let mut ticker = tokio::time::interval(ROUND);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let base = front.gateway.base_url();

    let outcome: Result<(), StepError> = async {
        for n in 0..ROUNDS {
            ticker.tick().await;
            if demo.shutdown.is_cancelled() {
                break;
            }
            round.store(n, Ordering::Relaxed);
            // ANCHOR: kill_inventory
            if n == KILL_AT
                && let Some(running) = inventory.take()
            {
                // A real stop: the server drains and its listener closes. The next connection
                // attempt to that port is refused by the kernel.
                running.stop().await?;
                events.push(Event {
                    at: started.elapsed(),
                    round: n,
                    text: format!("inventory STOPPED: nothing listens on {addr} any more"),
                });
            }
            if n == RESTART_AT {
                // Same database, same port: the client's lazy channel reconnects by itself.
                inventory = Some(start_inventory(db, addr).await?);
                events.push(Event {
                    at: started.elapsed(),
                    round: n,
                    text: format!("inventory STARTED again on {addr}"),
                });
            }
            // ANCHOR_END: kill_inventory
            let checkout = CheckoutRequest {
                idempotency_key: format!("breaker-{n:02}"),
                sku: PRODUCTS[0].0.to_owned(),
                quantity: 1,
            };
            let (listing, answer) = tokio::join!(
                demo.client.get(format!("{base}/products")).send(),
                demo.client
                    .post(format!("{base}/checkout"))
                    .json(&checkout)
                    .send(),
            );
            let listing = listing?;
            let catalog_mark = if listing.status() == StatusCode::OK {
                let body: Listing = listing.json().await?;
                if body.availability == "live" {
                    tally.catalog_live += 1;
                    '#'
                } else {
                    tally.catalog_degraded += 1;
                    '~'
                }
            } else {
                tally.catalog_failed += 1;
                status_mark(listing.status().as_u16())
            };
            let answer = answer?;
            let status = answer.status();
            match status {
                StatusCode::CREATED => tally.created += 1,
                StatusCode::SERVICE_UNAVAILABLE => tally.unavailable += 1,
                _ => tally.other += 1,
            }
            if status == StatusCode::SERVICE_UNAVAILABLE && first_503.is_none() {
                let retry_after = answer
                    .headers()
                    .get(RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                let content_type = answer
                    .headers()
                    .get(reqwest::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_owned();
                events.push(Event {
                    at: started.elapsed(),
                    round: n,
                    text: format!(
                        "first checkout 503 ({content_type}), Retry-After: {}",
                        retry_after.as_deref().unwrap_or("(missing)")
                    ),
                });
                first_503 = Some((retry_after, content_type));
            }
            if status == StatusCode::CREATED && first_503.is_some() && !recovered {
                recovered = true;
                events.push(Event {
                    at: started.elapsed(),
                    round: n,
                    text: "first checkout 201 since the outage: recovered".to_owned(),
                });
            }
            timeline.mark("catalog", catalog_mark);
            timeline.mark("checkout", status_mark(status.as_u16()));
            timeline.mark("inventory", if inventory.is_some() { '|' } else { ' ' });
            timeline.mark(
                "breaker",
                match front.dependency.breaker().state() {
                    State::Closed => 'C',
                    State::Open => 'O',
                    State::HalfOpen => 'H',
                },
            );
        }
        Ok(())
    }
    .await;
    stop_watching.cancel();
    events.extend(watcher.await?);
    if let Some(running) = inventory {
        running.stop().await?;
    }
    outcome?;

    events.sort_by_key(|event| event.at);
    for event in &events {
        show(format_args!(
            "{:>7}  round {:>2}  {}",
            duration(event.at),
            event.round,
            event.text
        ));
    }
    println!();
    for line in timeline.lines() {
        show(line);
    }
    say("catalog: # with availability, ~ without it (degraded, still 200); checkout: # 201,");
    say("5 a 503; inventory: | while it runs; breaker: C closed, O open, H half-open.");
    println!();
    let counters = front.routes.counters();
    let mut table = Table::new(["", "count>", "median time>"]);
    table
        .row([
            "catalog 200 with availability".into(),
            tally.catalog_live.to_string(),
        ])
        .row([
            "catalog 200 without it".into(),
            tally.catalog_degraded.to_string(),
        ])
        .row(["catalog errors".into(), tally.catalog_failed.to_string()])
        .row(["checkout 201".into(), tally.created.to_string()])
        .row([
            "checkout 503 + Retry-After".into(),
            tally.unavailable.to_string(),
        ]);
    for (label, ending) in [
        ("inventory calls answered", Ending::Answered),
        ("  ended failing at the dead port", Ending::FailedAtService),
        (
            "  ended refused by the open breaker",
            Ending::RefusedByBreaker,
        ),
    ] {
        let class = counters.get(ending);
        table.row([
            label.to_owned(),
            class.calls.to_string(),
            duration(class.median),
        ]);
    }
    print!("{table}");

    if demo.shutdown.is_cancelled() {
        return Ok(());
    }
    expect(
        tally.catalog_failed == 0 && tally.catalog_live + tally.catalog_degraded == ROUNDS as u32,
        "the catalog served in every round",
        format!(
            "{} live, {} degraded, {} failed",
            tally.catalog_live, tally.catalog_degraded, tally.catalog_failed
        ),
    )?;
    let retry_after_ok = first_503
        .as_ref()
        .is_some_and(|(retry, kind)| retry.is_some() && kind == shop_http::PROBLEM_JSON);
    expect(
        tally.unavailable > 0 && retry_after_ok,
        "checkouts to answer 503 problem+json with Retry-After while inventory is down",
        format!("{} 503s, first {first_503:?}", tally.unavailable),
    )?;
    let refused = counters.get(Ending::RefusedByBreaker);
    expect(
        refused.calls > 0 && refused.median < Duration::from_millis(1) && recovered,
        "the breaker to refuse calls at once while open, and checkouts to recover",
        format!("{counters:?}, recovered: {recovered}"),
    )?;
    expect(
        timeline.row("checkout").and_then(|row| row.marks.last()) == Some(&'#'),
        "the last checkout to go through",
        format!("{:?}", timeline.row("checkout")),
    )?;
    say("While inventory was down the page stayed up, without the numbers it could not get,");
    say("and checkout said 503 and when to come back. The first calls tried the dead port");
    say("(each attempt a refused connection, retried) until five failures in a row opened the");
    say("breaker; from then on calls failed in the gateway at once, sparing the caller the wait");
    say("and a restarting service the load. The half-open trial found it back, and it closed.");
    Ok(())
}
