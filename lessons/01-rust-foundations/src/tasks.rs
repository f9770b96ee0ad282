//! Threads vs tasks, and what blocking does to async code.
//!
//! An OS thread has its own stack (std reserves 2 MiB for each spawned thread) and the kernel
//! schedules it. A tokio task is one heap allocation: its future, a state machine as big as the
//! variables it keeps across `.await`s, plus tokio's task header and scheduler state; the
//! runtime switches between tasks on a few threads. While a task waits for a timer or a socket
//! it costs no thread at all: the runtime parks it until its timer fires or the OS reports its
//! socket ready (epoll on Linux and kqueue on macOS report readiness; on Windows, tokio's mio
//! builds the same readiness interface on IOCP, which reports completed operations).
//!
//! Step 6 of `cargo run -p lesson-01`.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;

/// std's default stack size for spawned threads (`RUST_MIN_STACK` overrides it). Reserved
/// address space: the OS commits pages only as the stack grows into them.
pub const THREAD_STACK_BYTES: usize = 2 * 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpawnReport {
    pub finished: usize,
    /// Time to start them all (not to run them).
    pub spawn_time: Duration,
    /// Time until the last one finished.
    pub total_time: Duration,
    /// Memory each one needs: the future's size for a task (tokio's task header comes on top),
    /// the reserved stack for a thread.
    pub bytes_each: usize,
}

// ANCHOR: threads_vs_tasks
/// Spawns `count` tasks that each wait `wait`. Ten thousand of them fit in a few megabytes and
/// wait concurrently on the runtime's handful of threads. `bytes_each` is the future's size;
/// tokio's header and scheduler state come on top, in the same allocation.
pub async fn spawn_tasks(count: usize, wait: Duration) -> SpawnReport {
    let started = Instant::now();
    let bytes_each = size_of_val(&waiting_task(wait));
    let mut tasks = JoinSet::new();
    for _ in 0..count {
        tasks.spawn(waiting_task(wait));
    }
    let spawn_time = started.elapsed();
    let mut finished = 0;
    while let Some(done) = tasks.join_next().await {
        finished += usize::from(done.is_ok());
    }
    SpawnReport {
        finished,
        spawn_time,
        total_time: started.elapsed(),
        bytes_each,
    }
}

async fn waiting_task(wait: Duration) {
    tokio::time::sleep(wait).await;
}

/// Spawns `count` OS threads that each block for `wait`. Blocking code: call it from
/// `spawn_blocking`, never directly from a task.
pub fn spawn_threads(count: usize, wait: Duration) -> io::Result<SpawnReport> {
    let started = std::time::Instant::now();
    let threads = (0..count)
        // `Builder::spawn` returns an error when the OS refuses a thread; `thread::spawn`
        // would panic instead.
        .map(|_| std::thread::Builder::new().spawn(move || std::thread::sleep(wait)))
        .collect::<io::Result<Vec<_>>>()?;
    let spawn_time = started.elapsed();
    let finished = threads.into_iter().filter_map(|t| t.join().ok()).count();
    let total_time = started.elapsed();
    Ok(SpawnReport {
        finished,
        spawn_time,
        total_time,
        bytes_each: THREAD_STACK_BYTES,
    })
}

// ANCHOR: heartbeat
/// Runs `work` while a heartbeat ticks every `period`, and counts the ticks. The heartbeat
/// stands for every other task that needs this thread: if `work` blocks, it ticks 0 times.
///
/// A `std::thread::sleep`, a big file read with `std::fs`, a CPU-heavy hash: anything that does
/// not `.await` holds the thread hostage. `tokio::task::spawn_blocking` moves such work to a
/// separate pool of threads made for blocking, and gives back a future to await.
pub async fn heartbeats_during<F: Future>(work: F, period: Duration) -> (F::Output, u32) {
    // `interval` refuses a zero period (it would spin); one millisecond is the timer's grain.
    let mut heartbeat = tokio::time::interval(period.max(Duration::from_millis(1)));
    heartbeat.tick().await; // the first tick is immediate
    let mut ticks = 0;
    tokio::pin!(work);
    loop {
        tokio::select! {
            biased;
            output = &mut work => return (output, ticks),
            _ = heartbeat.tick() => ticks += 1,
        }
    }
}
// ANCHOR_END: heartbeat
// ANCHOR_END: threads_vs_tasks

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn ten_thousand_tasks_wait_at_the_same_time() {
        let report = spawn_tasks(10_000, Duration::from_secs(1)).await;
        assert_eq!(report.finished, 10_000);
        // They waited side by side: one second in all, not ten thousand.
        assert_eq!(report.total_time, Duration::from_secs(1));
        assert!(
            report.bytes_each < 1_024,
            "a waiting task is small: {} bytes",
            report.bytes_each
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_heartbeat_keeps_ticking_while_work_awaits() {
        let work = tokio::time::sleep(Duration::from_millis(250));
        let ((), ticks) = heartbeats_during(work, Duration::from_millis(50)).await;
        assert_eq!(
            ticks, 4,
            "ticks at 50, 100, 150 and 200 ms; the work wins at 250"
        );
    }
}
