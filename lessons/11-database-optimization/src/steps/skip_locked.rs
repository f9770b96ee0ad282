//! Step 4: a job queue in a table. Four workers claim jobs with `FOR UPDATE SKIP LOCKED`,
//! each working its job inside the transaction that holds the lock; then the same with plain
//! `FOR UPDATE`, where every worker queues behind the one holding the first job.

use std::time::{Duration, Instant};

use narrate::demo::expect;
use narrate::{Table, duration, heading, say, sparkline, thousands};

use super::{Demo, StepError};
use crate::jobs::{self, Claim};

const JOBS: i64 = 120;
const WORKERS: i32 = 4;
/// How long each job takes, lock held.
const WORK: Duration = Duration::from_millis(5);

pub async fn skip_locked(demo: &Demo) -> Result<(), StepError> {
    heading(4, "A job queue on FOR UPDATE SKIP LOCKED");
    let pool = demo.pool().await?;
    jobs::create(&pool).await?;
    say(format_args!(
        "{JOBS} jobs of {} each, {WORKERS} workers. A worker claims the oldest queued job, works",
        duration(WORK)
    ));
    say("it with the row locked, marks it done and commits.");

    let mut table = Table::new([
        "claim",
        "time>",
        "jobs/s>",
        "per worker",
        "spread",
        "ran once>",
    ]);
    let mut times = Vec::new();
    for (how, name) in [
        (Claim::SkipLocked, "FOR UPDATE SKIP LOCKED"),
        (Claim::Wait, "FOR UPDATE"),
    ] {
        jobs::enqueue(&pool, JOBS).await?;
        let stop = demo.shutdown.child_token();
        let started = Instant::now();
        let mut workers = Vec::new();
        for worker in 1..=WORKERS {
            let (pool, stop) = (pool.clone(), stop.clone());
            workers.push(tokio::spawn(async move {
                jobs::work(&pool, worker, how, WORK, &stop).await
            }));
        }
        let mut done = Vec::new();
        for worker in workers {
            done.push(worker.await??.len());
        }
        let took = started.elapsed();
        if demo.shutdown.is_cancelled() {
            return Ok(()); // Ctrl-C: the workers stopped with jobs still queued
        }
        let runs = jobs::runs(&pool).await?;
        let once = runs
            .iter()
            .find(|(runs, _)| *runs == 1)
            .map_or(0, |(_, n)| *n);
        expect(
            runs == [(1, JOBS)],
            "every job ran exactly once",
            format!("(runs, jobs): {runs:?}"),
        )?;
        let counts: Vec<u64> = done.iter().map(|&n| n as u64).collect();
        let per_worker: Vec<String> = done.iter().map(ToString::to_string).collect();
        table.row([
            name.to_owned(),
            duration(took),
            thousands((JOBS as f64 / took.as_secs_f64().max(1e-9)) as i64),
            per_worker.join(" / "),
            sparkline(&counts),
            format!("{once}/{JOBS}"),
        ]);
        times.push(took);
    }
    print!("{table}");
    expect(
        times[0] < times[1],
        "SKIP LOCKED finishes before workers that wait for each other",
        format!("{} against {}", duration(times[0]), duration(times[1])),
    )?;
    say("Both ran every job exactly once: the row lock lets one worker at a time hold a job.");
    say(format_args!(
        "With SKIP LOCKED the others pass over locked rows and take the next, so {WORKERS} jobs run"
    ));
    say("at once. With plain FOR UPDATE every worker asks for the same first row and waits for");
    say("its holder; having waited it finds the job done (LIMIT 1 does not go on to the next");
    say(format_args!(
        "row), so the workers take turns: {} against {}. A worker that dies mid-job rolls",
        duration(times[0]),
        duration(times[1])
    ));
    say("back, and its job is queued again: the lock, not a status column, says a job is taken.");
    Ok(())
}
