//! Step 5: how big a connection pool should be, measured. The same fixed load (64 concurrent
//! tasks sharing a fixed number of indexed lookups) against pools of 1 to 32 connections:
//! throughput, and p50/p99 latency as a caller sees it (waiting for a connection included).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, percentile, say, thousands};
use sqlx::PgPool;

use super::{Demo, StepError};

const TASKS: usize = 64;
/// Lookups per pool size, shared by the tasks.
const QUERIES: usize = 1_600;
const SIZES: [u32; 6] = [1, 2, 4, 8, 16, 32];
/// No size may take longer than this: on a very slow machine the step reports what it did.
const CAP: Duration = Duration::from_secs(2);
const USERS: i64 = 5_000;

const LOOKUP: &str = "SELECT id, kind, at FROM events WHERE user_id = $1 ORDER BY at DESC LIMIT 10";

pub async fn pool_size(demo: &Demo) -> Result<(), StepError> {
    heading(5, "Connection-pool size against throughput and p99");
    let pool = demo.pool().await?;
    sqlx::raw_sql(
        "CREATE TABLE events (
             id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
             user_id integer NOT NULL,
             at timestamptz NOT NULL,
             kind text NOT NULL
         );
         INSERT INTO events (user_id, at, kind)
         SELECT 1 + (i * 7919) % 5000, now() - i * interval '1 second',
                (ARRAY['view', 'cart', 'order'])[1 + i % 3]
         FROM generate_series(1, 100000) AS i;
         CREATE INDEX events_user_at ON events (user_id, at);
         ANALYZE events;",
    )
    .execute(&pool)
    .await?;
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    say(format_args!(
        "{TASKS} tasks share {} lookups (a user's ten latest events, by index) against each pool",
        thousands(QUERIES as i64)
    ));
    say(format_args!(
        "size; latency counts the wait for a connection. The server has {cores} cores here."
    ));

    let mut results = Vec::new();
    for size in SIZES {
        if demo.shutdown.is_cancelled() {
            break;
        }
        let sized = demo.pool_of(size).await?;
        let run = load(&sized, demo).await;
        sized.close().await;
        results.push((size, run?));
    }
    if demo.shutdown.is_cancelled() {
        return Ok(()); // Ctrl-C: the last size ran part of its load
    }
    let best = results
        .iter()
        .map(|(_, run)| run.throughput())
        .fold(0.0, f64::max);
    let mut table = Table::new([
        "pool>",
        "done>",
        "per second>",
        "p50>",
        "p99>",
        "throughput",
    ]);
    for (size, run) in &results {
        let bar = (run.throughput() / best.max(1e-9) * 30.0).round() as usize;
        table.row([
            size.to_string(),
            thousands(run.latencies.len() as i64),
            thousands(run.throughput() as i64),
            duration(percentile(&run.latencies, 50)),
            duration(percentile(&run.latencies, 99)),
            "█".repeat(bar.max(1)),
        ]);
    }
    print!("{table}");
    let Some((one, _)) = results.first() else {
        return Ok(());
    };
    let (fastest, _) = results
        .iter()
        .max_by(|a, b| a.1.throughput().total_cmp(&b.1.throughput()))
        .unwrap_or(&results[0]);
    let p99 = |size: u32| {
        results
            .iter()
            .find(|(s, _)| *s == size)
            .map_or(Duration::ZERO, |(_, run)| percentile(&run.latencies, 99))
    };
    let throughput = |size: u32| {
        results
            .iter()
            .find(|(s, _)| *s == size)
            .map_or(0.0, |(_, run)| run.throughput())
    };
    expect(
        results
            .iter()
            .all(|(_, run)| run.latencies.len() == QUERIES || run.took >= CAP),
        "every pool size ran its whole load, or ran until the time cap",
        format!(
            "{:?}",
            results
                .iter()
                .map(|(s, r)| (s, r.latencies.len()))
                .collect::<Vec<_>>()
        ),
    )?;
    let (largest, _) = results.last().unwrap_or(&results[0]);
    if *fastest == *one || throughput(*fastest) < throughput(*one) * 1.2 {
        // Client and server share this machine's CPUs; when something else keeps them busy,
        // no pool size can help, and the numbers say so.
        say("This time the sizes came out close: the CPUs that the server and this demo share");
        say("were busy with something else, so connections were not what the lookups waited for.");
        say("Run the step again on a quieter machine (`--only pool-size`) to see the pool matter.");
        return Ok(());
    }
    say(format_args!(
        "One connection makes {TASKS} callers queue for it: its p99 ({}) is mostly waiting.",
        duration(p99(*one))
    ));
    say(format_args!(
        "Throughput peaked at {fastest} connections on this {cores}-core machine. Past the point"
    ));
    say("where the server's CPUs are busy, more connections add no work done, only more server");
    if fastest == largest {
        say("processes (one per connection) taking turns on the CPUs.");
    } else {
        say(format_args!(
            "processes (one per connection) taking turns on the CPUs: p99 went from {} at {fastest}",
            duration(p99(*fastest))
        ));
        say(format_args!("to {} at {largest}.", duration(p99(*largest))));
    }
    say("Start near cores × 2 and measure under your own load; a pool much larger than that");
    say("moves the queue from the pool, where it is visible, into the database.");
    Ok(())
}

#[derive(Debug)]
struct Run {
    latencies: Vec<Duration>,
    took: Duration,
}

impl Run {
    fn throughput(&self) -> f64 {
        self.latencies.len() as f64 / self.took.as_secs_f64().max(1e-9)
    }
}

// ANCHOR: load
/// [`TASKS`] tasks take lookups from a shared budget of [`QUERIES`] until it is spent, [`CAP`]
/// has passed or Ctrl-C; each lookup's latency runs from asking for a connection to the rows.
async fn load(pool: &PgPool, demo: &Demo) -> Result<Run, StepError> {
    // Each connection prepares the statement once, before the clock starts.
    let mut warm = Vec::new();
    for _ in 0..pool.size() {
        warm.push(pool.acquire().await?);
    }
    for conn in &mut warm {
        sqlx::query(LOOKUP).bind(1_i32).execute(&mut **conn).await?;
    }
    drop(warm);

    let budget = Arc::new(AtomicUsize::new(QUERIES));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let (pool, budget, stop) = (pool.clone(), budget.clone(), demo.shutdown.clone());
        tasks.spawn(async move {
            let mut latencies = Vec::new();
            let mut n = task;
            while !stop.is_cancelled()
                && started.elapsed() < CAP
                && budget
                    .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |left| {
                        left.checked_sub(1)
                    })
                    .is_ok()
            {
                n += TASKS;
                let user = 1 + (n as i64 * 7) % USERS;
                let asked = Instant::now();
                sqlx::query(LOOKUP)
                    .bind(user as i32)
                    .fetch_all(&pool)
                    .await?;
                latencies.push(asked.elapsed());
            }
            Ok::<_, sqlx::Error>(latencies)
        });
    }
    let mut latencies = Vec::with_capacity(QUERIES);
    while let Some(done) = tasks.join_next().await {
        latencies.extend(done??);
    }
    Ok(Run {
        latencies,
        took: started.elapsed(),
    })
}
// ANCHOR_END: load
