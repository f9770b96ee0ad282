//! Retries: jittered exponential back-off ("full jitter"), a cap on attempts, and a retry budget
//! shared by every caller of one dependency.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// A source of random durations, so that a test can choose the jitter.
pub trait Random: Send {
    /// A duration drawn uniformly from `[0, max]`.
    fn up_to(&mut self, max: Duration) -> Duration;
}

/// SplitMix64: small and fast, good enough to spread retries out, not for secrets.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// Seeded from the clock, the process id and a counter: callers in different processes,
    /// and generators made in the same instant in one process, spread apart.
    pub fn from_entropy() -> Self {
        static MADE: AtomicU64 = AtomicU64::new(0);
        // Before the epoch only on a badly set clock; the other two still separate callers.
        let nanos = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |since| since.as_nanos());
        // The low 64 bits of the time are the ones that change; the pid and the counter go
        // to other bits so that they cannot cancel each other out.
        let seed = (nanos as u64)
            ^ (u64::from(std::process::id()) << 32)
            ^ MADE.fetch_add(1, Ordering::Relaxed).rotate_right(8);
        SplitMix64(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for SplitMix64 {
    fn up_to(&mut self, max: Duration) -> Duration {
        // Beyond u64 nanoseconds (584 years) no back-off is meant literally.
        let max = u64::try_from(max.as_nanos()).unwrap_or(u64::MAX);
        // Multiply-and-shift maps a 64-bit draw onto [0, max] evenly enough, without the
        // modulo's bias towards small values; the product's high half is at most `max`.
        let scaled = (u128::from(self.next_u64()) * (u128::from(max) + 1)) >> 64;
        Duration::from_nanos(u64::try_from(scaled).unwrap_or(max))
    }
}

/// Whether an error is worth another attempt.
pub trait Retryable {
    fn is_retryable(&self) -> bool;
}

/// gRPC's classification: Unavailable, DeadlineExceeded, ResourceExhausted may succeed later;
/// anything else fails the same way every time.
impl Retryable for tonic::Status {
    fn is_retryable(&self) -> bool {
        matches!(
            self.code(),
            tonic::Code::Unavailable
                | tonic::Code::DeadlineExceeded
                | tonic::Code::ResourceExhausted
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryConfig {
    /// Attempts in all, the first one included.
    pub max_attempts: NonZeroU32,
    /// The ceiling of the first back-off; it doubles with each retry...
    pub base: Duration,
    /// ...up to this.
    pub cap: Duration,
}

/// In whole units: with `deposit` 1 and `retry_cost` 10, each request earns a tenth of a retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BudgetConfig {
    pub deposit: u32,
    pub retry_cost: u32,
    /// The most the balance holds; a new budget starts full.
    pub max_balance: u32,
}

/// A lock-free balance: requests deposit, retries withdraw.
#[derive(Debug)]
pub struct RetryBudget {
    config: BudgetConfig,
    balance: AtomicU32,
}

impl RetryBudget {
    pub fn new(config: BudgetConfig) -> Self {
        RetryBudget {
            config,
            balance: AtomicU32::new(config.max_balance),
        }
    }

    pub fn balance(&self) -> u32 {
        self.balance.load(Ordering::Relaxed)
    }

    // ANCHOR: budget
    /// A first attempt: adds `deposit`, up to `max_balance`.
    pub fn deposit(&self) {
        let BudgetConfig {
            deposit,
            max_balance,
            ..
        } = self.config;
        // The balance is one number that guards nothing else, so Relaxed is enough; the
        // closure always returns Some, so this cannot fail.
        let _ = self
            .balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                Some(balance.saturating_add(deposit).min(max_balance))
            });
    }

    /// A retry: takes `retry_cost` if the balance holds it.
    pub fn try_withdraw(&self) -> bool {
        let cost = self.config.retry_cost;
        // A compare-and-swap loop: two retries racing for the last `cost` cannot both win.
        self.balance
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |balance| {
                balance.checked_sub(cost)
            })
            .is_ok()
    }
    // ANCHOR_END: budget
}

/// Runs an operation, retrying what is retryable while attempts, budget and (in
/// [`crate::Dependency`]) the deadline allow.
#[derive(Debug)]
pub struct RetryPolicy<R = SplitMix64> {
    config: RetryConfig,
    budget: Arc<RetryBudget>,
    // Held only for one draw: callers on many tasks share one generator.
    random: Mutex<R>,
}

// ANCHOR: backoff
/// `min(cap, base * 2^retry)` for the retry numbered `retry` (0 for the first), saturating.
pub fn backoff_ceiling(config: &RetryConfig, retry: u32) -> Duration {
    // In u128 nanoseconds nothing is lost: a Duration is below 2^94 ns, and once the product
    // saturates it is far above any cap a Duration can hold.
    let factor = 2u128.checked_pow(retry).unwrap_or(u128::MAX);
    let ceiling = config.base.as_nanos().saturating_mul(factor);
    Duration::from_nanos_u128(ceiling.min(config.cap.as_nanos()))
}

impl<R: Random> RetryPolicy<R> {
    /// The pause before retry number `retry` (0 for the first): jitter in `[0, ceiling]`.
    pub fn backoff(&self, retry: u32) -> Duration {
        // "Full jitter": callers that failed together spread over the whole interval instead
        // of coming back in one wave.
        let ceiling = backoff_ceiling(&self.config, retry);
        self.random
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .up_to(ceiling)
    }
}
// ANCHOR_END: backoff

impl<R: Random> RetryPolicy<R> {
    pub fn new(config: RetryConfig, budget: Arc<RetryBudget>, random: R) -> Self {
        RetryPolicy {
            config,
            budget,
            random: Mutex::new(random),
        }
    }

    pub fn config(&self) -> RetryConfig {
        self.config
    }

    pub fn budget(&self) -> &RetryBudget {
        &self.budget
    }

    /// Whether retry number `retry` (0 for the first) may go, after an attempt that failed
    /// with a retryable error, and if so the pause before it. `within` is the time left for
    /// the whole call, if it has a deadline: a pause that would use it all is pointless.
    /// The budget is asked last, so a retry that will not happen does not spend it.
    pub(crate) fn plan_retry(&self, retry: u32, within: Option<Duration>) -> Option<Duration> {
        if retry.saturating_add(1) >= self.config.max_attempts.get() {
            return None;
        }
        let pause = self.backoff(retry);
        if within.is_some_and(|left| pause >= left) || !self.budget.try_withdraw() {
            return None;
        }
        Some(pause)
    }

    /// Calls `attempt(n)` (n = 0, 1, ...) until it succeeds, fails with a non-retryable error,
    /// runs out of attempts or the budget refuses a retry; returns the last result.
    pub async fn run<T, E, F, Fut>(&self, mut attempt: F) -> Result<T, E>
    where
        E: Retryable,
        F: FnMut(u32) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        self.budget.deposit();
        let mut retry = 0;
        loop {
            let error = match attempt(retry).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if !error.is_retryable() {
                return Err(error);
            }
            let Some(pause) = self.plan_retry(retry, None) else {
                return Err(error);
            };
            tracing::debug!(retry = retry + 1, ?pause, "attempt failed, retrying");
            tokio::time::sleep(pause).await;
            retry += 1;
        }
    }
}
