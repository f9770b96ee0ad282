//! A concurrency gauge: how many things are running right now, and the most there ever were.
//!
//! The worker pool uses one to prove it never runs more than N jobs at once; the simulated
//! suppliers use one to prove that cancelled calls really stopped.

use std::sync::atomic::{AtomicUsize, Ordering};

// ANCHOR: gauge
/// Atomics are the right tool here: each counter is a single number that many tasks bump
/// concurrently, and no other data has to change together with it. A `Mutex<usize>` would work
/// but makes every task queue up for a lock to add one.
///
/// `Ordering::Relaxed` is enough because we need each update to be atomic, not ordered with
/// respect to other memory: nobody reads these numbers to decide whether some *other* data is
/// ready.
#[derive(Debug, Default)]
pub struct Gauge {
    current: AtomicUsize,
    high_water: AtomicUsize,
}

impl Gauge {
    /// Counts one more running thing until the returned guard is dropped.
    pub fn enter(&self) -> GaugeGuard<'_> {
        let now = self.current.fetch_add(1, Ordering::Relaxed) + 1;
        // `fetch_max` keeps the high-water mark correct without a compare-and-swap loop.
        self.high_water.fetch_max(now, Ordering::Relaxed);
        GaugeGuard { gauge: self }
    }

    pub fn current(&self) -> usize {
        self.current.load(Ordering::Relaxed)
    }

    pub fn high_water(&self) -> usize {
        self.high_water.load(Ordering::Relaxed)
    }
}

/// Decrements on drop, so the count stays right on every exit path: normal return, `?`,
/// a panic, or a future dropped half-way because it was cancelled or timed out. That is RAII:
/// the compiler inserts the call on every path.
#[derive(Debug)]
pub struct GaugeGuard<'a> {
    gauge: &'a Gauge,
}

impl Drop for GaugeGuard<'_> {
    fn drop(&mut self) {
        self.gauge.current.fetch_sub(1, Ordering::Relaxed);
    }
}
// ANCHOR_END: gauge

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guards_count_up_and_down_and_remember_the_peak() {
        let gauge = Gauge::default();
        let a = gauge.enter();
        let b = gauge.enter();
        assert_eq!((gauge.current(), gauge.high_water()), (2, 2));
        drop(a);
        drop(b);
        let _c = gauge.enter();
        assert_eq!((gauge.current(), gauge.high_water()), (1, 2));
    }
}
