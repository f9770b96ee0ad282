//! The narration: each public function is one step of `cargo run -p lesson-10`. It uses the
//! real RabbitMQ and Redis, prints what it measured, and checks that it saw what the lesson
//! says, so a broker that behaved otherwise fails the demo instead of printing a story.
//!
//! Every queue and exchange of a run is named `lesson10.<run>.<name>` and every Redis key
//! `lesson10:<run>:<name>`, with `<run>` random per run: two runs, or a run and the tests,
//! never share one, and none can be a name the capstone uses. The run deletes them all at the
//! end, after Ctrl-C too; queues also expire on their own if a run is killed.

mod acks;
mod confirms;
mod exchanges;
mod log_model;
mod outbox;
mod retries;
mod schemas;

use std::sync::Mutex;
use std::time::Duration;

use lapin::options::{ExchangeDeleteOptions, QueueDeleteOptions};
use lapin::{Channel, Connection, ConnectionProperties};
use narrate::demo::Unexpected;
use narrate::{duration, say};
use rand::RngExt;
use redis::AsyncCommands;
use redis::aio::MultiplexedConnection;
use sqlx::PgPool;
use testkit::Service;
use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl, SetupError};
use thiserror::Error;
use tokio::sync::OnceCell;
use tokio_util::sync::CancellationToken;

pub use acks::acks;
pub use confirms::confirms;
pub use exchanges::exchanges;
pub use log_model::log_model;
pub use outbox::outbox;
pub use retries::retries;
pub use schemas::schemas;

/// How long the demo waits for a service to answer before it says the service is not there.
const PATIENCE: Duration = Duration::from_secs(3);

/// Where a service is, and whether its URL variable named it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceUrl {
    pub service: Service,
    pub url: String,
    pub from_env: bool,
}

impl ServiceUrl {
    /// The URL variable if set and not blank, else the default local server: the same places
    /// the tests look.
    pub fn from_env(service: Service) -> Self {
        match std::env::var(service.env_var()) {
            Ok(url) if !url.trim().is_empty() => ServiceUrl {
                service,
                url,
                from_env: true,
            },
            _ => ServiceUrl {
                service,
                url: service.default_url().to_owned(),
                from_env: false,
            },
        }
    }

    /// One sentence: where it was looked for, and how to start it.
    fn say_missing(&self) {
        let source = if self.from_env {
            format!("from {}", self.service.env_var())
        } else {
            format!("the default; {} overrides it", self.service.env_var())
        };
        say(format_args!(
            "{} is not reachable at {} ({source}): start it with `cargo xtask services up` (or \
             point {} at a running server).",
            self.service.display_name(),
            testkit::discover::redact(&self.url),
            self.service.env_var()
        ));
    }
}

/// What every step needs.
pub struct Demo {
    /// Cancelled by Ctrl-C: a step that waits for messages stops early.
    pub shutdown: CancellationToken,
    pub amqp: ServiceUrl,
    pub redis_url: ServiceUrl,
    /// Random per run: the middle of every name this run makes.
    run: String,
    connection: OnceCell<Option<Connection>>,
    redis: OnceCell<Option<MultiplexedConnection>>,
    /// Step 7's database (`backend_rs_lesson10_<run>`), created by its first use.
    db: OnceCell<DemoDatabase>,
    // A std Mutex: held for a push, never across an `.await`.
    names: Mutex<Vec<String>>,
}

impl Demo {
    pub fn new(shutdown: CancellationToken) -> Demo {
        Demo {
            shutdown,
            amqp: ServiceUrl::from_env(Service::RabbitMq),
            redis_url: ServiceUrl::from_env(Service::Redis),
            run: format!("{:08x}", rand::rng().random::<u32>()),
            connection: OnceCell::new(),
            redis: OnceCell::new(),
            db: OnceCell::new(),
            names: Mutex::new(Vec::new()),
        }
    }

    /// `name("email")` → `lesson10.1a2b3c4d.email`, remembered to be deleted at the end.
    pub fn name(&self, name: &str) -> String {
        let full = format!("lesson10.{}.{name}", self.run);
        self.names
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(full.clone());
        full
    }

    /// `key("orders")` → `lesson10:1a2b3c4d:orders`.
    pub fn key(&self, name: &str) -> String {
        format!("lesson10:{}:{name}", self.run)
    }

    async fn connection(&self) -> Result<&Connection, StepError> {
        let connection = self
            .connection
            .get_or_init(|| async {
                let connect = Connection::connect(&self.amqp.url, ConnectionProperties::default());
                match tokio::time::timeout(PATIENCE, connect).await {
                    Ok(Ok(connection)) => Some(connection),
                    _ => None,
                }
            })
            .await;
        match connection {
            Some(connection) => Ok(connection),
            None => {
                self.amqp.say_missing();
                Err(StepError::ServiceMissing("RabbitMQ"))
            }
        }
    }

    /// A fresh channel on this run's connection. A channel is cheap (a number inside the one
    /// TCP connection), and a broker error closes the channel it happened on, so each part of
    /// a step takes its own.
    pub async fn channel(&self) -> Result<Channel, StepError> {
        Ok(self.connection().await?.create_channel().await?)
    }

    /// A connection of its own, for what must be closed without closing the rest.
    pub async fn separate_connection(&self) -> Result<Connection, StepError> {
        self.connection().await?;
        Ok(Connection::connect(&self.amqp.url, ConnectionProperties::default()).await?)
    }

    /// This run's Redis, once it has answered a PING.
    pub async fn redis(&self) -> Result<MultiplexedConnection, StepError> {
        let redis = self
            .redis
            .get_or_init(|| async {
                let client = redis::Client::open(self.redis_url.url.as_str()).ok()?;
                let connect = async {
                    let mut c = client.get_multiplexed_async_connection().await?;
                    redis::cmd("PING").query_async::<String>(&mut c).await?;
                    Ok::<_, redis::RedisError>(c)
                };
                tokio::time::timeout(PATIENCE, connect).await.ok()?.ok()
            })
            .await;
        match redis {
            Some(c) => Ok(c.clone()),
            None => {
                self.redis_url.say_missing();
                Err(StepError::ServiceMissing("Redis"))
            }
        }
    }

    /// This run's own PostgreSQL database, with the outbox tables (shop-events' schema) and
    /// a small `orders` table; without PostgreSQL the step says so in one sentence.
    pub async fn pool(&self) -> Result<PgPool, StepError> {
        let db = self
            .db
            .get_or_try_init(|| async {
                let name = format!("backend_rs_lesson10_{}", self.run);
                let name = DatabaseName::with_prefix("backend_rs_lesson10", &name)
                    .map_err(|_| StepError::ServiceMissing("a valid database name"))?;
                let db = DemoDatabase::create(&ServerUrl::from_env(), &name).await?;
                Ok::<_, StepError>(db)
            })
            .await;
        let db = match db {
            Ok(db) => db,
            Err(StepError::Setup(
                error @ (SetupError::Unreachable { .. } | SetupError::Timeout { .. }),
            )) => {
                say(format_args!("{error}."));
                return Err(StepError::ServiceMissing("PostgreSQL"));
            }
            Err(error) => return Err(error),
        };
        sqlx::raw_sql(shop_events::SCHEMA)
            .execute(db.pool())
            .await?;
        sqlx::raw_sql(
            "CREATE TABLE IF NOT EXISTS orders (id uuid PRIMARY KEY, total_minor bigint NOT NULL);
             CREATE TABLE IF NOT EXISTS effects (event_id uuid NOT NULL, kind text NOT NULL)",
        )
        .execute(db.pool())
        .await?;
        Ok(db.pool().clone())
    }

    /// The end of a run: deletes every queue and exchange it declared and every Redis key it
    /// made, and drops its database. Runs after Ctrl-C too (see `main.rs`).
    pub async fn finish(self) {
        if let Some(db) = self.db.into_inner() {
            let name = db.name().to_string();
            if db.drop_database().await.is_ok() {
                say(format_args!("Dropped this run's database ({name})."));
            }
        }
        let names = std::mem::take(
            &mut *self
                .names
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        );
        if let Some(Some(connection)) = self.connection.get() {
            let mut deleted = 0;
            for name in &names {
                // A name is a queue or an exchange; deleting the wrong kind is harmless but
                // may close the channel, so each attempt gets a fresh one.
                if let Ok(channel) = connection.create_channel().await
                    && channel
                        .queue_delete(name.as_str().into(), QueueDeleteOptions::default())
                        .await
                        .is_ok()
                {
                    deleted += 1;
                }
                if let Ok(channel) = connection.create_channel().await {
                    let _ = channel
                        .exchange_delete(name.as_str().into(), ExchangeDeleteOptions::default())
                        .await;
                }
            }
            let _ = connection.close(200, "lesson 10 done".into()).await;
            if deleted > 0 {
                say(format_args!(
                    "Deleted this run's queues and exchanges (lesson10.{}.*).",
                    self.run
                ));
            }
        }
        if let Some(Some(c)) = self.redis.get() {
            let mut c = c.clone();
            let pattern = format!("lesson10:{}:*", self.run);
            let keys: Vec<String> = match c.scan_match::<_, String>(&pattern).await {
                Ok(mut scan) => {
                    let mut keys = Vec::new();
                    while let Some(Ok(key)) = scan.next_item().await {
                        keys.push(key);
                    }
                    keys
                }
                Err(_) => Vec::new(),
            };
            if !keys.is_empty() && c.del::<_, i64>(&keys).await.is_ok() {
                say(format_args!(
                    "Deleted this run's {} Redis keys (lesson10:{}:*).",
                    keys.len(),
                    self.run
                ));
            }
        }
    }
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error("a RabbitMQ operation failed")]
    Amqp(#[from] lapin::Error),
    #[error("a Redis command failed")]
    Redis(#[from] redis::RedisError),
    #[error("a value did not encode or decode")]
    Json(#[from] serde_json::Error),
    #[error("an event did not read")]
    Schema(#[from] crate::schema::SchemaError),
    #[error("a protobuf message did not decode")]
    Proto(#[from] prost::DecodeError),
    #[error("the demo database could not be set up")]
    Setup(#[from] SetupError),
    #[error("a PostgreSQL statement failed")]
    Database(#[from] sqlx::Error),
    #[error("the outbox relay failed")]
    Relay(#[from] shop_events::relay::RelayError),
    #[error("the consumer failed")]
    Consume(#[from] shop_events::consumer::ConsumeError),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
    /// The step said which service is missing, and how to start it, in one sentence.
    #[error("{0} is not running")]
    ServiceMissing(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 10 · Message queuing: hand the work over, and get it there once");
    println!();
    say("RabbitMQ's exchanges, confirms, acks and dead-lettering; events that change shape");
    say("while they are in flight; a log (Redis Streams) beside the queue. Every number below");
    say("is measured in this run.");
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: chapter 10 of the book, which walks through each step.");
}
