//! The narration: each public function is one step of `cargo run -p lesson-09`. It uses the
//! real PostgreSQL and Redis, prints what it measured, and checks that it saw what the lesson
//! says, so a cache that stopped coalescing fails the demo instead of printing a story that is
//! not true.
//!
//! Every Redis key of a run starts with a prefix of its own (`lesson09:<random>:`), so two runs,
//! or a run and the tests, never read each other's keys; every key has a time to live, and the
//! run deletes them all at the end.

mod early_expiry;
mod invalidation;
mod latency;
mod stampede;
mod structures;
mod writes;

use std::time::Duration;

use narrate::demo::Unexpected;
use narrate::{duration, say};
use rand::RngExt;
use redis::AsyncCommands;
use shop_cache::{Redis, RedisUrlError};
use sqlx::PgPool;
use testkit::Service;
use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl, SetupError};
use thiserror::Error;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

use crate::CacheError;
use crate::write_policies::WriteError;

pub use early_expiry::early_expiry;
pub use invalidation::invalidation;
pub use latency::latency;
pub use stampede::stampede;
pub use structures::structures;
pub use writes::writes;

/// The name of the demo's database, and the prefix any `--database` must start with.
pub const DEMO_DATABASE: &str = "backend_rs_lesson09";

/// How long the demo waits for Redis to answer a PING before it says Redis is not there.
const REDIS_PATIENCE: Duration = Duration::from_secs(3);

/// Where Redis is, and where that choice came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedisUrl {
    pub url: String,
    /// True when `REDIS_URL` named it.
    pub from_env: bool,
}

impl RedisUrl {
    /// `REDIS_URL` if set and not blank, else the server `cargo xtask services up` starts: the
    /// same places the tests look.
    pub fn from_env() -> RedisUrl {
        match std::env::var(Service::Redis.env_var()) {
            Ok(url) if !url.trim().is_empty() => RedisUrl {
                url,
                from_env: true,
            },
            _ => RedisUrl {
                url: Service::Redis.default_url().to_owned(),
                from_env: false,
            },
        }
    }
}

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    /// Cancelled by Ctrl-C: a step that runs traffic for a while stops early.
    pub shutdown: CancellationToken,
    pub server: ServerUrl,
    pub database: DatabaseName,
    /// Keep the database at the end, to explore it with psql.
    pub keep: bool,
    pub redis_url: RedisUrl,
    /// This run's Redis handle: every key it makes starts with its prefix.
    redis: Redis,
    /// Created, migrated and seeded by the first step that needs it.
    db: OnceCell<DemoDatabase>,
}

impl Demo {
    pub fn new(
        shutdown: CancellationToken,
        database: DatabaseName,
        keep: bool,
    ) -> Result<Demo, StepError> {
        let redis_url = RedisUrl::from_env();
        let prefix = format!("lesson09:{:08x}:", rand::rng().random::<u32>());
        let redis = Redis::open(&redis_url.url, prefix)?;
        Ok(Demo {
            shutdown,
            server: ServerUrl::from_env(),
            database,
            keep,
            redis_url,
            redis,
            db: OnceCell::new(),
        })
    }

    /// The demo's products, in a database created (and seeded) at the first call. Without
    /// PostgreSQL the step says so, with the command that starts it, and ends with
    /// [`StepError::ServiceMissing`].
    pub async fn pool(&self) -> Result<PgPool, StepError> {
        let db = self
            .db
            .get_or_try_init(|| async {
                let db = DemoDatabase::create(&self.server, &self.database).await?;
                crate::catalog::create(db.pool()).await?;
                Ok::<_, StepError>(db)
            })
            .await;
        match db {
            Ok(db) => Ok(db.pool().clone()),
            Err(StepError::Database(
                error @ (SetupError::Unreachable { .. } | SetupError::Timeout { .. }),
            )) => {
                say(format_args!("{error}."));
                Err(StepError::ServiceMissing("PostgreSQL"))
            }
            Err(error) => Err(error),
        }
    }

    /// This run's Redis, once it has answered a PING; otherwise the step says Redis is missing
    /// and how to start it, in one sentence.
    pub async fn redis(&self) -> Result<Redis, StepError> {
        let mut connection = self.redis.connection();
        let ping = redis::cmd("PING");
        match tokio::time::timeout(REDIS_PATIENCE, ping.query_async::<String>(&mut connection))
            .await
        {
            Ok(Ok(_)) => Ok(self.redis.clone()),
            _ => {
                let source = if self.redis_url.from_env {
                    "from REDIS_URL"
                } else {
                    "the default; REDIS_URL overrides it"
                };
                say(format_args!(
                    "Redis is not reachable at {} ({source}): start it with `cargo xtask \
                     services up` (or point REDIS_URL at a running server).",
                    testkit::discover::redact(&self.redis_url.url)
                ));
                Err(StepError::ServiceMissing("Redis"))
            }
        }
    }

    /// Both services, for the steps that need both. Both are checked, so that a learner with
    /// neither running hears about both at once.
    pub async fn services(&self) -> Result<(PgPool, Redis), StepError> {
        let pool = self.pool().await;
        let redis = self.redis().await;
        Ok((pool?, redis?))
    }

    /// The prefix every Redis key of this run starts with.
    pub fn prefix(&self) -> &str {
        self.redis.prefix()
    }

    /// The end of a run: deletes this run's Redis keys, and drops the database unless `--keep`
    /// asked to leave it.
    pub async fn finish(self) -> Result<(), StepError> {
        let deleted = delete_keys(&self.redis).await;
        if let Some(db) = self.db.into_inner() {
            if self.keep {
                say(format_args!(
                    "Kept the database to explore: psql -h 127.0.0.1 -U postgres {}",
                    db.name()
                ));
            }
            db.finish(self.keep).await?;
        }
        // A Redis that was never there has no keys to delete.
        if let Ok(deleted) = deleted
            && deleted > 0
        {
            say(format_args!(
                "Deleted this run's {deleted} Redis keys ({}*).",
                self.redis.prefix()
            ));
        }
        Ok(())
    }
}

/// Deletes every key under the handle's prefix, with SCAN (KEYS would block the server while it
/// walks every key of every user).
async fn delete_keys(redis: &Redis) -> Result<usize, redis::RedisError> {
    let mut connection = redis.connection();
    let pattern = format!("{}*", redis.prefix());
    let keys: Vec<String> = {
        let mut scan = connection.scan_match::<_, String>(&pattern).await?;
        let mut keys = Vec::new();
        while let Some(key) = scan.next_item().await {
            keys.push(key?);
        }
        keys
    };
    if !keys.is_empty() {
        let _: i64 = redis.connection().del(&keys).await?;
    }
    Ok(keys.len())
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Database(#[from] SetupError),
    #[error("a query failed")]
    Sql(#[from] sqlx::Error),
    #[error("a Redis command failed")]
    Redis(#[from] redis::RedisError),
    #[error(transparent)]
    RedisUrl(#[from] RedisUrlError),
    #[error("a cache read failed")]
    Cache(#[from] CacheError<sqlx::Error>),
    #[error("a load through the two-tier cache failed")]
    Load(#[from] std::sync::Arc<sqlx::Error>),
    #[error("a write failed")]
    Write(#[from] WriteError),
    #[error("a value did not encode or decode")]
    Json(#[from] serde_json::Error),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
    /// The step said which service is missing, and how to start it, in one sentence.
    #[error("{0} is not running")]
    ServiceMissing(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 09 · Caching: keep it close, keep it true");
    println!();
    say("Products in PostgreSQL, the capstone's two-tier cache (moka in memory, Redis behind it)");
    say("in front of them, and the patterns it is measured against: a naive cache-aside, early");
    say("expiry, write-through and write-behind. Every number below is measured in this run.");
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: the exercise, `cargo test -p exercise-09`, and chapter 09 of the book.");
}
