//! Steps 6-8: the operating system underneath: threads, processes, pipes, sockets.

use std::time::Duration;

use narrate::{duration, heading, say, show};

use super::{Demo, StepError};
use crate::pipes::price_in_child;
use crate::price::Sku;
use crate::tasks::{
    SpawnReport, THREAD_STACK_BYTES, heartbeats_during, spawn_tasks, spawn_threads,
};

const TASKS: usize = 10_000;
const THREADS: usize = 50;

pub async fn threads_vs_tasks(_demo: &Demo) -> Result<(), StepError> {
    heading(6, "Threads vs tasks, blocking vs async");
    let wait = Duration::from_millis(100);
    say(format_args!(
        "{TASKS} tokio tasks and {THREADS} OS threads, each waiting {}:",
        duration(wait)
    ));
    let tasks = spawn_tasks(TASKS, wait).await;
    show(spawned("tasks:  ", &tasks));
    // Spawning and joining threads blocks: do it on the blocking pool, not on this task.
    let threads = tokio::task::spawn_blocking(move || spawn_threads(THREADS, wait)).await??;
    show(spawned("threads:", &threads));
    say(format_args!(
        "A task is one heap allocation: its future ({}) plus tokio's task header and scheduler",
        bytes(tasks.bytes_each)
    ));
    say(format_args!(
        "state, a few hundred bytes in all. A thread reserves a whole stack ({}).",
        bytes(THREAD_STACK_BYTES)
    ));
    say(format_args!(
        "{TASKS} threads would reserve {}; the {TASKS} tasks' futures take {}, a few MiB with",
        bytes(TASKS * THREAD_STACK_BYTES),
        bytes(TASKS * tasks.bytes_each)
    ));
    say("tokio's part. A waiting task holds no thread: the runtime parks it until its timer");
    say("fires or epoll reports its socket ready.");

    let block = Duration::from_millis(300);
    let period = Duration::from_millis(50);
    say(format_args!(
        "A heartbeat ticks every {} while some code blocks for {}:",
        duration(period),
        duration(block)
    ));
    let ((), ticks) = heartbeats_during(async { std::thread::sleep(block) }, period).await;
    show(format_args!(
        "std::thread::sleep inside the task:    {ticks} ticks (it froze the thread)"
    ));
    let blocking = tokio::task::spawn_blocking(move || std::thread::sleep(block));
    let (joined, ticks) = heartbeats_during(blocking, period).await;
    joined?;
    show(format_args!(
        "the same sleep in spawn_blocking:      {ticks} ticks"
    ));
    say("(Numbers come from a debug build; `cargo run --release` makes spawning faster still.)");
    Ok(())
}

fn spawned(what: &str, report: &SpawnReport) -> String {
    let count = u32::try_from(report.finished.max(1)).unwrap_or(u32::MAX);
    format!(
        "{what} {:>5} started in {} ({} each), all finished after {}",
        report.finished,
        duration(report.spawn_time),
        duration(report.spawn_time / count),
        duration(report.total_time),
    )
}

/// "136 bytes", "1.3 MiB", "19.5 GiB".
fn bytes(n: usize) -> String {
    const MIB: f64 = 1024.0 * 1024.0;
    let n = n as f64;
    if n < 1024.0 {
        format!("{n} bytes")
    } else if n < 1024.0 * MIB {
        format!("{:.1} MiB", n / MIB)
    } else {
        format!("{:.1} GiB", n / MIB / 1024.0)
    }
}

pub async fn pipes_to_a_child_process(demo: &Demo) -> Result<(), StepError> {
    heading(7, "Processes and pipes");
    say(format_args!(
        "This program (pid {}) starts a copy of itself as a child process, writes SKUs to the",
        std::process::id()
    ));
    say("child's stdin and reads prices from its stdout. The two processes share no memory.");
    let skus = [Sku::numbered(3), Sku::numbered(4), Sku::numbered(5)];
    let session = price_in_child(&demo.program, &skus).await?;
    for answer in &session.answers {
        show(format_args!(
            "{} → {} (computed by pid {})",
            answer.sku, answer.price, answer.pid
        ));
    }
    let pid = session
        .child_pid
        .map_or_else(|| "?".to_owned(), |pid| pid.to_string());
    show(format_args!(
        "we closed the child's stdin; child {pid} saw end-of-input and exited cleanly"
    ));
    Ok(())
}

#[cfg(unix)]
pub async fn socket_pair(_demo: &Demo) -> Result<(), StepError> {
    heading(8, "IPC over a socket pair");
    say("UnixStream::pair() makes two connected sockets. A pricer task holds one end; we write");
    say("requests into the other and read answers back on the same socket: sockets go both ways.");
    let skus = [Sku::numbered(6), Sku::numbered(7)];
    let session = crate::sockets::price_over_socket(&skus).await?;
    for answer in &session.answers {
        show(format_args!("{} → {}", answer.sku, answer.price));
    }
    show(format_args!(
        "{} bytes sent, {} received; the pricer served {} requests and stopped at end-of-stream",
        session.bytes_sent, session.bytes_received, session.served
    ));
    say("A TcpStream has the same read/write interface: lesson 03 does this across the network.");
    Ok(())
}

#[cfg(not(unix))]
pub async fn socket_pair(_demo: &Demo) -> Result<(), StepError> {
    heading(8, "IPC over a socket pair");
    say("Skipped: Unix domain sockets need Linux or macOS.");
    Ok(())
}
