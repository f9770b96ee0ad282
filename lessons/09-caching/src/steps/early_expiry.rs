//! Step 4: ten readers keep reading one product for a few seconds, through a cache with a
//! plain time to live, then through one with early probabilistic expiry (XFetch), then through
//! XFetch with one refresh at a time. The first expires under the readers' feet, again and
//! again; the others are refreshed before they expire, while the readers keep reading.

use std::time::Duration;

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, show};
use rand::RngExt;
use shop_cache::Redis;
use sqlx::PgPool;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Demo, StepError};
use crate::catalog;
use crate::latency::{percentile, timeline};
use crate::naive::{NaiveCacheAside, Source};
use crate::xfetch::{EarlyExpiry, Outcome};

const READERS: usize = 10;
/// Each reader reads this often: 500 reads a second in all.
const EVERY: Duration = Duration::from_millis(20);
/// How long each cache is read.
const RUN: Duration = Duration::from_millis(2_000);
const TTL: Duration = Duration::from_millis(800);
const LOAD: Duration = Duration::from_millis(50);
/// XFetch's eagerness: 1, the paper's choice.
const BETA: f64 = 1.0;
/// The product read.
const PRODUCT: i64 = 8;
/// One character of the time line.
const SLOT: Duration = Duration::from_millis(50);

/// What one reader saw, with when it saw it (from the start of the run).
type Seen = Vec<(Duration, Outcome)>;

pub async fn early_expiry(demo: &Demo) -> Result<(), StepError> {
    heading(4, "Early probabilistic expiry: refresh before the TTL ends");
    let (pool, redis) = demo.services().await?;
    say(format_args!(
        "{READERS} readers read product {PRODUCT} every {} for {}; the entry lives {}, a load",
        duration(EVERY),
        duration(RUN),
        duration(TTL)
    ));
    say(format_args!(
        "takes {}. A plain TTL (the naive cache-aside), XFetch with beta = {BETA}, and XFetch",
        duration(LOAD)
    ));
    say("where a reader that draws a refresh while another is refreshing reads the entry instead.");
    let plain = run(demo, &pool, &redis, Strategy::Plain).await?;
    let early = run(demo, &pool, &redis, Strategy::XFetch).await?;
    let single = run(demo, &pool, &redis, Strategy::XFetchOneAtATime).await?;
    let runs = [
        ("plain TTL", &plain),
        ("XFetch", &early),
        ("XFetch, one at a time", &single),
    ];

    let mut table = Table::new([
        "expiry",
        "reads>",
        "found it missing>",
        "refreshed early>",
        "queries (counted by PostgreSQL)>",
    ]);
    for (name, run) in runs {
        table.row([
            name.to_owned(),
            run.seen.len().to_string(),
            run.count(|o| o == Outcome::Missed).to_string(),
            run.count(|o| matches!(o, Outcome::Refreshed { .. }))
                .to_string(),
            run.queries.to_string(),
        ]);
    }
    print!("{table}");
    println!();
    say(format_args!(
        "When the loads started, one character per {} (a digit: that many loads):",
        duration(SLOT)
    ));
    let slots = (RUN.as_millis() / SLOT.as_millis()) as usize;
    let width = runs.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
    for (name, run) in runs {
        show(format_args!(
            "{name:<width$}  {}",
            timeline(&run.loads(), SLOT, slots)
        ));
    }
    for (name, run) in [("XFetch", &early), ("XFetch, one at a time", &single)] {
        let head_starts = run.head_starts();
        if !head_starts.is_empty() {
            say(format_args!(
                "{name}: refreshed {} to {} before expiry (median {}).",
                duration(percentile(&head_starts, 0)),
                duration(percentile(&head_starts, 100)),
                duration(percentile(&head_starts, 50)),
            ));
        }
    }
    if demo.shutdown.is_cancelled() {
        return Ok(());
    }
    let missing = |run: &Run| run.count(|o| o == Outcome::Missed);
    expect(
        missing(&plain) >= READERS && missing(&early) == 0 && missing(&single) == 0,
        "readers to find the plain entry missing at each expiry, and XFetch's never",
        format!(
            "{} plain, {} and {} XFetch",
            missing(&plain),
            missing(&early),
            missing(&single)
        ),
    )?;
    expect(
        single.queries < plain.queries && early.queries < plain.queries,
        "early expiry to cost fewer queries than a plain TTL",
        format!(
            "{} plain, {} and {} XFetch",
            plain.queries, early.queries, single.queries
        ),
    )?;
    say("With a plain TTL, each expiry sent every reader to the database together (the bursts).");
    say("XFetch moved the work before the expiry: a reader that drew a refresh paid for the");
    say("load while the others read the still-valid entry, so no reader found it missing. But");
    say("readers decide alone, and at 500 reads a second another may draw a refresh while the");
    say("first is loading, so one expiry can cost two or three loads. One refresh at a time per");
    say("process (a flag, as here, or coalescing) leaves one load per TTL, and that one early.");
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Plain,
    XFetch,
    XFetchOneAtATime,
}

#[derive(Debug, Default)]
struct Run {
    seen: Seen,
    queries: i64,
}

impl Run {
    fn count(&self, which: impl Fn(Outcome) -> bool) -> usize {
        self.seen
            .iter()
            .filter(|(_, outcome)| which(*outcome))
            .count()
    }

    /// When each load started: at every miss and every early refresh.
    fn loads(&self) -> Vec<Duration> {
        self.seen
            .iter()
            .filter(|(_, outcome)| *outcome != Outcome::Fresh)
            .map(|(at, _)| *at)
            .collect()
    }

    fn head_starts(&self) -> Vec<Duration> {
        self.seen
            .iter()
            .filter_map(|(_, outcome)| match outcome {
                Outcome::Refreshed { early_by } => Some(*early_by),
                _ => None,
            })
            .collect()
    }
}

async fn run(
    demo: &Demo,
    pool: &PgPool,
    redis: &Redis,
    strategy: Strategy,
) -> Result<Run, StepError> {
    let (tag, name) = match strategy {
        Strategy::Plain => ("plain", "early-plain"),
        Strategy::XFetch => ("xfetch", "early-xfetch"),
        Strategy::XFetchOneAtATime => ("xfetch-single", "early-xfetch-single"),
    };
    let plain = NaiveCacheAside::new(redis.clone(), name, TTL);
    let mut xfetch = EarlyExpiry::new(redis.clone(), name, TTL, BETA);
    if strategy == Strategy::XFetchOneAtATime {
        xfetch = xfetch.one_refresh_at_a_time();
    }
    // Warm: the entry exists when the readers start.
    match strategy {
        Strategy::Plain => {
            plain
                .get(PRODUCT, || catalog::load(pool, PRODUCT, "warm", LOAD))
                .await?;
        }
        Strategy::XFetch | Strategy::XFetchOneAtATime => {
            xfetch
                .get(PRODUCT, || catalog::load(pool, PRODUCT, "warm", LOAD), 1.0)
                .await?;
        }
    }
    let started = Instant::now();
    let readers = (0..READERS).map(|n| {
        let (plain, xfetch, pool) = (plain.clone(), xfetch.clone(), pool.clone());
        let stop = demo.shutdown.clone();
        tokio::spawn(async move {
            // Spread the readers over the first interval, as independent clients are.
            tokio::time::sleep(EVERY * n as u32 / READERS as u32).await;
            read_until(started, &stop, || async {
                let load = || catalog::load(&pool, PRODUCT, tag, LOAD);
                Ok::<_, StepError>(match strategy {
                    Strategy::Plain => match plain.get(PRODUCT, load).await?.1 {
                        Source::Cache => Outcome::Fresh,
                        Source::Database => Outcome::Missed,
                    },
                    Strategy::XFetch | Strategy::XFetchOneAtATime => {
                        // In (0, 1]: `random` draws from [0, 1).
                        let draw = 1.0 - rand::rng().random::<f64>();
                        xfetch.get(PRODUCT, load, draw).await?.1
                    }
                })
            })
            .await
        })
    });
    let mut run = Run::default();
    for reader in futures::future::join_all(readers).await {
        run.seen.extend(reader??);
    }
    run.seen.sort_by_key(|(at, _)| *at);
    run.queries = catalog::loads(pool, tag).await?;
    expect(
        run.queries as usize == run.loads().len(),
        "the database to count as many loads as the readers ran",
        format!("{} counted, {} run", run.queries, run.loads().len()),
    )?;
    Ok(run)
}

/// One reader: a read every [`EVERY`] until [`RUN`] is over (or Ctrl-C), each outcome noted
/// with the time it started.
async fn read_until<F, Fut>(
    started: Instant,
    stop: &CancellationToken,
    mut read: F,
) -> Result<Seen, StepError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Outcome, StepError>>,
{
    let mut seen = Vec::new();
    let mut ticks = tokio::time::interval(EVERY);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while started.elapsed() < RUN && !stop.is_cancelled() {
        ticks.tick().await;
        let at = started.elapsed();
        seen.push((at, read().await?));
    }
    Ok(seen)
}
