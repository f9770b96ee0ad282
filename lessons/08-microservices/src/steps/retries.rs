//! Step 2: retries with jittered back-off against a flaky stand-in, then the retry budget
//! under a total outage.

use std::collections::BTreeMap;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say};
use shop_inventory::{InventoryClient, ReserveLine, default_dependency_config};
use shop_resilience::{
    BreakerConfig, BudgetConfig, Deadline, Dependency, DependencyConfig, RetryConfig,
    backoff_ceiling,
};

use super::grpc::{sku, units};
use super::{Demo, StepError};
use crate::catalog::PRODUCTS;
use crate::standin::{Arrival, Faults, RunningStandIn, StandIn};

const FLAKY_PERCENT: u32 = 30;
const FLAKY_CALLS: usize = 12;
const OUTAGE_CALLS: usize = 200;

/// A breaker that never opens here: this step is about retries alone (step 3 adds it).
fn no_breaker() -> BreakerConfig {
    BreakerConfig {
        failure_threshold: NonZeroU32::MAX,
        open_for: Duration::from_secs(1),
        half_open_trials: NonZeroU32::MIN,
    }
}

fn flaky_config() -> DependencyConfig {
    DependencyConfig {
        breaker: no_breaker(),
        retry: RetryConfig {
            max_attempts: units(4),
            base: Duration::from_millis(40),
            cap: Duration::from_millis(400),
        },
        ..default_dependency_config()
    }
}

/// The outage: back-off kept short so two hundred calls take a moment, and a budget that
/// starts with little in it, so what it caps is plain to see.
fn outage_config() -> DependencyConfig {
    DependencyConfig {
        breaker: no_breaker(),
        retry: RetryConfig {
            max_attempts: units(3),
            base: Duration::from_millis(1),
            cap: Duration::from_millis(4),
        },
        budget: BudgetConfig {
            deposit: 1,
            retry_cost: 10,
            max_balance: 20,
        },
        ..default_dependency_config()
    }
}

/// The arrivals of each call, grouped by its idempotency key, in call order.
fn by_call<'a>(arrivals: &'a [Arrival], keys: &[String]) -> Vec<Vec<&'a Arrival>> {
    let mut grouped: BTreeMap<&str, Vec<&Arrival>> = BTreeMap::new();
    for arrival in arrivals {
        if let Some(key) = arrival.key.as_deref() {
            grouped.entry(key).or_default().push(arrival);
        }
    }
    keys.iter()
        .map(|key| grouped.remove(key.as_str()).unwrap_or_default())
        .collect()
}

pub async fn retries(_demo: &Demo) -> Result<(), StepError> {
    heading(2, "Retries: jittered back-off, and a budget for outages");
    let products: Vec<(&str, u32)> = PRODUCTS.iter().map(|&(s, ..)| (s, 10_000)).collect();
    let faults = Faults {
        fail_percent: FLAKY_PERCENT,
        reserve_delay: Duration::ZERO,
    };
    let standin = StandIn::new(&products, faults).serve().await?;
    let result = run(&standin).await;
    standin.stop().await?;
    result
}

async fn run(standin: &RunningStandIn) -> Result<(), StepError> {
    let config = flaky_config();
    say(format_args!(
        "An inventory stand-in on {} answers {FLAKY_PERCENT} % of requests UNAVAILABLE.",
        standin.addr
    ));
    say(format_args!(
        "{FLAKY_CALLS} Reserve calls, up to {} attempts each; before retry n the client sleeps",
        config.retry.max_attempts
    ));
    let ceilings: Vec<String> = (0..config.retry.max_attempts.get() - 1)
        .map(|retry| duration(backoff_ceiling(&config.retry, retry)))
        .collect();
    say(format_args!(
        "a random time up to min(cap, base·2^n) (\"full jitter\"): up to {}.",
        ceilings.join(", then ")
    ));
    let client = InventoryClient::connect_lazy(
        &standin.endpoint(),
        Arc::new(Dependency::new("inventory", config)),
    )?;
    let keys: Vec<String> = (1..=FLAKY_CALLS).map(|n| format!("flaky-{n:02}")).collect();
    let mut outcomes = Vec::new();
    for key in &keys {
        outcomes.push(reserve(&client, key).await);
    }
    let arrivals = standin.service.arrivals();
    let mut table = Table::new(["call", "attempts", "pauses before each retry", "outcome"]);
    let mut total_attempts = 0;
    for ((key, attempts), outcome) in keys.iter().zip(by_call(&arrivals, &keys)).zip(&outcomes) {
        total_attempts += attempts.len();
        let marks: String = attempts
            .iter()
            .map(|a| if a.failed { '✗' } else { '✓' })
            .collect();
        let pauses: Vec<String> = attempts
            .windows(2)
            .map(|pair| duration(pair[1].at - pair[0].at))
            .collect();
        table.row([key.clone(), marks, pauses.join(", "), outcome.clone()]);
    }
    print!("{table}");
    let succeeded = outcomes.iter().filter(|o| o.as_str() == "reserved").count();
    expect(
        total_attempts > FLAKY_CALLS,
        "some calls to need a retry",
        format!("{total_attempts} attempts for {FLAKY_CALLS} calls"),
    )?;
    let failed_attempts = arrivals.iter().filter(|a| a.failed).count();
    say(format_args!(
        "{failed_attempts} of {total_attempts} attempts failed, but only {} of the {FLAKY_CALLS} calls: the retries",
        FLAKY_CALLS - succeeded
    ));
    say("hid the rest from the caller. The pauses, measured at the server, are irregular on");
    say("purpose: callers that failed together must not retry together (a thundering herd).");

    outage(standin).await
}

/// One Reserve of one mug under `key`: "reserved", or the error in a few words.
async fn reserve(client: &InventoryClient, key: &str) -> String {
    let line = match sku(PRODUCTS[0].0) {
        Ok(sku) => ReserveLine {
            sku,
            quantity: units(1),
        },
        Err(error) => return error.to_string(),
    };
    let deadline = Deadline::after(Duration::from_secs(2));
    match client
        .reserve(key, &[line], Duration::from_secs(60), deadline)
        .await
    {
        Ok(_) => "reserved".to_owned(),
        Err(error) => format!("failed: {}", short(&error.to_string())),
    }
}

fn short(text: &str) -> String {
    narrate::truncate(text, 48)
}

async fn outage(standin: &RunningStandIn) -> Result<(), StepError> {
    let config = outage_config();
    println!();
    say(format_args!(
        "Now every request fails (an outage). {OUTAGE_CALLS} calls, {} attempts allowed each, but",
        config.retry.max_attempts
    ));
    say(format_args!(
        "a retry budget: each call deposits {}, each retry costs {} (balance at most {}, full",
        config.budget.deposit, config.budget.retry_cost, config.budget.max_balance
    ));
    say("at the start): retries can be about a tenth of the calls, never a multiple of them.");
    standin.service.set_faults(Faults {
        fail_percent: 100,
        reserve_delay: Duration::ZERO,
    });
    standin.service.clear_arrivals();
    let client = InventoryClient::connect_lazy(
        &standin.endpoint(),
        Arc::new(Dependency::new("inventory", config)),
    )?;
    let keys: Vec<String> = (1..=OUTAGE_CALLS)
        .map(|n| format!("outage-{n:03}"))
        .collect();
    for key in &keys {
        reserve(&client, key).await;
    }
    let arrivals = standin.service.arrivals();
    let calls = by_call(&arrivals, &keys);
    let attempts: usize = calls.iter().map(Vec::len).sum();
    let retries = attempts - OUTAGE_CALLS;
    let max = config.retry.max_attempts.get() as usize;
    // A call that stopped before its last allowed attempt was refused a retry by the budget
    // (the deadline was generous and the breaker is out of the picture).
    let refused = calls.iter().filter(|c| c.len() < max).count();
    let mut table = Table::new([
        "calls>",
        "attempts>",
        "retries>",
        "retries refused>",
        "without a budget>",
    ]);
    table.row([
        OUTAGE_CALLS.to_string(),
        attempts.to_string(),
        retries.to_string(),
        refused.to_string(),
        (OUTAGE_CALLS * max).to_string(),
    ]);
    print!("{table}");
    let cap = (OUTAGE_CALLS * config.budget.deposit as usize + config.budget.max_balance as usize)
        / config.budget.retry_cost as usize;
    expect(
        retries <= cap && retries * 5 < OUTAGE_CALLS,
        "the budget to hold retries near a tenth of the calls",
        format!("{retries} retries for {OUTAGE_CALLS} calls (cap {cap})"),
    )?;
    say(format_args!(
        "{retries} retries for {OUTAGE_CALLS} calls: the failing service got {attempts} requests, not"
    ));
    say(format_args!(
        "{}. Retries help with a blip; in an outage they would triple the load on a service",
        OUTAGE_CALLS * max
    ));
    say("that is already down. The next step stops sending altogether: the circuit breaker.");
    Ok(())
}
