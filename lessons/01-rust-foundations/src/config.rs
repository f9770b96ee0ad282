//! Typed configuration, validated once: `main.rs` builds a `PoolConfig` from the command
//! line and the rest of the code can rely on it (`cargo run -p lesson-01 -- --workers 0` shows
//! the error a bad value gets).

use std::time::Duration;

use thiserror::Error;

pub const MAX_WORKERS: usize = 1_024;
pub const MAX_QUEUE: usize = 1_024;
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);

// ANCHOR: config
/// Bad pool settings, reported instead of panicking later (`mpsc::channel(0)` would panic).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ConfigError {
    #[error("workers must be between 1 and {MAX_WORKERS}, got {0}")]
    Workers(usize),
    #[error("queue capacity must be between 1 and {MAX_QUEUE}, got {0}")]
    Queue(usize),
    #[error(
        "the supplier timeout must be between 1 ms and {} s, got {} ms",
        MAX_TIMEOUT.as_secs(),
        .0.as_millis()
    )]
    Timeout(Duration),
}

/// Valid pool settings. The fields are private, so the only way to get one is `new`, which
/// checks them: code that holds a `PoolConfig` never has to re-validate it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    workers: usize,
    queue_capacity: usize,
    timeout: Duration,
}

impl PoolConfig {
    pub fn new(
        workers: usize,
        queue_capacity: usize,
        timeout: Duration,
    ) -> Result<Self, ConfigError> {
        // Each check names the value it refused: "got 0" beats "invalid configuration".
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(ConfigError::Workers(workers));
        }
        if !(1..=MAX_QUEUE).contains(&queue_capacity) {
            return Err(ConfigError::Queue(queue_capacity));
        }
        if timeout < Duration::from_millis(1) || timeout > MAX_TIMEOUT {
            return Err(ConfigError::Timeout(timeout));
        }
        Ok(Self {
            workers,
            queue_capacity,
            timeout,
        })
    }
    // ANCHOR_END: config

    pub fn workers(&self) -> usize {
        self.workers
    }

    pub fn queue_capacity(&self) -> usize {
        self.queue_capacity
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn rejects_settings_that_make_no_sense() {
        assert_eq!(
            PoolConfig::new(0, 4, 100 * MS),
            Err(ConfigError::Workers(0))
        );
        assert_eq!(PoolConfig::new(4, 0, 100 * MS), Err(ConfigError::Queue(0)));
        assert_eq!(
            PoolConfig::new(4, 4, Duration::ZERO),
            Err(ConfigError::Timeout(Duration::ZERO))
        );
        assert!(PoolConfig::new(1, 1, MS).is_ok());
        assert!(PoolConfig::new(MAX_WORKERS, MAX_QUEUE, MAX_TIMEOUT).is_ok());
    }
}
