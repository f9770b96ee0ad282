//! The log events the guards promise: a breaker's transitions (WARN when it opens, INFO
//! otherwise, with `breaker`, `from` and `to`) and one DEBUG event per retry.
//!
//! A test binary of its own, with only tests that capture: see `resilience/main.rs`.

use std::io;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use shop_resilience::{
    BreakerConfig, BudgetConfig, CircuitBreaker, Outcome, RetryBudget, RetryConfig, RetryPolicy,
    SplitMix64,
};
use tonic::Status;

/// Everything the subscriber writes, kept for the test to read.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl io::Write for Capture {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0
            .lock()
            .expect("not poisoned")
            .extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// Installs a subscriber writing here, for this thread, until the guard drops.
    fn install(&self) -> tracing::subscriber::DefaultGuard {
        let capture = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .without_time()
            .with_writer(move || capture.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn lines(&self) -> Vec<String> {
        let bytes = self.0.lock().expect("not poisoned").clone();
        String::from_utf8(bytes)
            .expect("the log is UTF-8")
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn every_transition_is_logged_with_its_states() {
    let capture = Capture::default();
    let _guard = capture.install();
    let breaker = CircuitBreaker::new(
        "payments",
        BreakerConfig {
            failure_threshold: NonZeroU32::MIN,
            open_for: Duration::from_secs(1),
            half_open_trials: NonZeroU32::MIN,
        },
    );
    let permit = breaker.acquire().expect("closed");
    breaker.record(permit, Outcome::Success);
    assert!(capture.lines().is_empty(), "no transition, no event");

    let permit = breaker.acquire().expect("closed");
    breaker.record(permit, Outcome::Failure);
    tokio::time::advance(Duration::from_secs(1)).await;
    let permit = breaker.acquire().expect("the trial");
    breaker.record(permit, Outcome::Success);

    let lines = capture.lines();
    assert_eq!(lines.len(), 3, "{lines:#?}");
    let expected = [
        ("WARN", "from=Closed to=Open"),
        ("INFO", "from=Open to=HalfOpen"),
        ("INFO", "from=HalfOpen to=Closed"),
    ];
    for (line, (level, states)) in lines.iter().zip(expected) {
        assert!(line.contains(level), "{line}");
        assert!(line.contains("breaker=\"payments\""), "{line}");
        assert!(line.contains(states), "{line}");
    }
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn each_retry_is_logged_at_debug() {
    let capture = Capture::default();
    let _guard = capture.install();
    let policy = RetryPolicy::new(
        RetryConfig {
            max_attempts: NonZeroU32::new(3).expect("3 is not 0"),
            base: Duration::from_millis(1),
            cap: Duration::from_millis(5),
        },
        Arc::new(RetryBudget::new(BudgetConfig {
            deposit: 1,
            retry_cost: 1,
            max_balance: 10,
        })),
        SplitMix64::new(9),
    );
    let result = policy
        .run(|_| std::future::ready(Err::<(), _>(Status::unavailable("down"))))
        .await;
    assert!(result.is_err());
    let retries: Vec<String> = capture
        .lines()
        .into_iter()
        .filter(|line| line.contains("DEBUG") && line.contains("retry="))
        .collect();
    assert_eq!(retries.len(), 2, "3 attempts, 2 retries: {retries:#?}");
    assert!(retries[0].contains("retry=1") && retries[1].contains("retry=2"));
}
