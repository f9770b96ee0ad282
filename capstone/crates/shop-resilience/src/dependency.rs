//! One remote dependency with every guard of this crate around each call.

use std::future::Future;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::{
    BreakerConfig, BudgetConfig, Bulkhead, CircuitBreaker, Deadline, Outcome, Rejected,
    RetryBudget, RetryConfig, RetryPolicy, Retryable, SplitMix64,
};

/// What a client is told to wait when the breaker is half-open and its trial calls are all out:
/// the trials will have answered by then, one way or the other, and there is no exact time to
/// give.
pub const TRIALS_IN_FLIGHT_PAUSE: Duration = Duration::from_secs(1);

/// What a client is told to wait when the bulkhead is full: calls usually finish within a
/// second, and a shorter hint would only bring the same crowd back sooner.
pub const BULKHEAD_FULL_PAUSE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DependencyConfig {
    pub max_concurrent: NonZeroUsize,
    pub breaker: BreakerConfig,
    pub retry: RetryConfig,
    pub budget: BudgetConfig,
    /// The longest one attempt may take (less when the call's deadline is nearer).
    pub attempt_timeout: Duration,
}

/// Why a guarded call did not return the dependency's answer.
#[derive(Debug, Error)]
pub enum CallError<E> {
    #[error("{dependency}: too many calls in flight")]
    BulkheadFull { dependency: &'static str },
    /// The breaker refused the call: `retry_after` is its remaining open time, or
    /// [`TRIALS_IN_FLIGHT_PAUSE`] when it is half-open with every trial call out.
    #[error("{dependency}: circuit open")]
    CircuitOpen {
        dependency: &'static str,
        retry_after: Duration,
    },
    /// The call's deadline passed, or its last attempt ran out of its attempt timeout with no
    /// retry left (the attempt gave no answer, so there is no error of its own to show).
    #[error("{dependency}: deadline exceeded")]
    DeadlineExceeded { dependency: &'static str },
    /// The dependency's own error, after the retries it was worth.
    #[error("{dependency}: {source}")]
    Failed {
        dependency: &'static str,
        #[source]
        source: E,
    },
}

impl<E> CallError<E> {
    /// How long a client should wait before trying again (a `Retry-After`), when known: the
    /// breaker's remaining open time; a short fixed pause for a full bulkhead.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            CallError::CircuitOpen { retry_after, .. } => Some(*retry_after),
            CallError::BulkheadFull { .. } => Some(BULKHEAD_FULL_PAUSE),
            CallError::DeadlineExceeded { .. } | CallError::Failed { .. } => None,
        }
    }

    /// True when the dependency itself is unreachable or refusing (not a business answer such
    /// as "out of stock"): what a gateway turns into 503.
    pub fn is_unavailable(&self) -> bool
    where
        E: Retryable,
    {
        match self {
            CallError::BulkheadFull { .. }
            | CallError::CircuitOpen { .. }
            | CallError::DeadlineExceeded { .. } => true,
            CallError::Failed { source, .. } => source.is_retryable(),
        }
    }
}

#[derive(Debug)]
pub struct Dependency {
    name: &'static str,
    bulkhead: Bulkhead,
    breaker: CircuitBreaker,
    retry: RetryPolicy<SplitMix64>,
    attempt_timeout: Duration,
}

impl Dependency {
    pub fn new(name: &'static str, config: DependencyConfig) -> Self {
        Dependency {
            name,
            bulkhead: Bulkhead::new(name, config.max_concurrent),
            breaker: CircuitBreaker::new(name, config.breaker),
            retry: RetryPolicy::new(
                config.retry,
                Arc::new(RetryBudget::new(config.budget)),
                SplitMix64::from_entropy(),
            ),
            attempt_timeout: config.attempt_timeout,
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn breaker(&self) -> &CircuitBreaker {
        &self.breaker
    }

    /// Calls `attempt(timeout)` under every guard: `timeout` is what this attempt may take (the
    /// attempt passes it on, e.g. as `tonic::Request::set_timeout`). A retryable error counts
    /// as a failure for the breaker; any other answer, error or not, as a success (the
    /// dependency is up and answering).
    ///
    /// An attempt that outlives its timeout is abandoned (dropped) and counts as a failure.
    /// A retry happens only if the policy allows it (attempts, budget) and its back-off ends
    /// before the deadline; otherwise the last error is the answer. A half-open breaker with
    /// every trial out refuses with `CircuitOpen` and a `retry_after` of
    /// [`TRIALS_IN_FLIGHT_PAUSE`].
    pub async fn call<T, E, F, Fut>(
        &self,
        deadline: Deadline,
        mut attempt: F,
    ) -> Result<T, CallError<E>>
    where
        E: Retryable,
        F: FnMut(Duration) -> Fut,
        Fut: Future<Output = Result<T, E>>,
    {
        // ANCHOR: dependency_call
        let dependency = self.name;
        let _place = self
            .bulkhead
            .try_enter()
            .map_err(|_| CallError::BulkheadFull { dependency })?;
        self.retry.budget().deposit();
        let mut retry = 0;
        loop {
            if deadline.is_expired() {
                return Err(CallError::DeadlineExceeded { dependency });
            }
            let permit = self
                .breaker
                .acquire()
                .map_err(|why| circuit_open(dependency, why))?;
            let timeout = self.attempt_timeout.min(deadline.remaining());
            // On timeout the attempt's future is dropped, which cancels the call.
            let result = match tokio::time::timeout(timeout, attempt(timeout)).await {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(source)) => Err(CallError::Failed { dependency, source }),
                Err(_elapsed) => Err(CallError::DeadlineExceeded { dependency }),
            };
            // Unreachable or refusing (or too slow): the dependency is unwell, worth a retry.
            let outcome = match &result {
                Err(error) if error.is_unavailable() => Outcome::Failure,
                _ => Outcome::Success,
            };
            self.breaker.record(permit, outcome);
            let error = match result {
                Err(error) if outcome == Outcome::Failure => error,
                done => return done,
            };
            // No time left (e.g. the timeout was the deadline's) means no retry either.
            let Some(pause) = self.retry.plan_retry(retry, Some(deadline.remaining())) else {
                return Err(error);
            };
            tracing::debug!(dependency, retry = retry + 1, ?pause, "retrying");
            tokio::time::sleep(pause).await;
            retry += 1;
        }
        // ANCHOR_END: dependency_call
    }
}

fn circuit_open<E>(dependency: &'static str, rejected: Rejected) -> CallError<E> {
    let retry_after = match rejected {
        Rejected::Open { retry_after } => retry_after,
        Rejected::TrialsInFlight => TRIALS_IN_FLIGHT_PAUSE,
    };
    CallError::CircuitOpen {
        dependency,
        retry_after,
    }
}
