//! `testkit`: how every test in this workspace finds a service and gets its own slice of it.
//!
//! A live test (one that talks to PostgreSQL, Redis, RabbitMQ or MongoDB over a real
//! connection) asks this crate for its service instead of hard-coding a URL:
//!
//! ```no_run
//! // In a test file: `#[tokio::test] async fn needs_postgres_orders_survive_a_restart()`
//! async fn needs_postgres_orders_survive_a_restart() -> Result<(), sqlx::Error> {
//!     let db = testkit::postgres().await; // a fresh, empty database for this test alone
//!     sqlx::query("CREATE TABLE t (id int)").execute(db.pool()).await?;
//!     Ok(())
//! } // `db` is dropped here, and the database with it
//! ```
//!
//! Two rules make this work for a learner and for CI alike:
//!
//! 1. **Discovery order** (see [`discover`]): the service's URL variable (`DATABASE_URL`, ...),
//!    then its default local port, then (feature `containers`) a throwaway container when a
//!    Docker engine answers.
//! 2. **Naming**: a live test's name contains `needs_<service>` (`needs_postgres`, `needs_redis`,
//!    `needs_rabbitmq`, `needs_mongodb`, `needs_prometheus`, `needs_pg_replica` for the streaming
//!    standby on 127.0.0.1:5433 in `DATABASE_REPLICA_URL`), as a module or in the function name. That is how
//!    `cargo xtask test` skips, lists and counts the tests whose service is down, without
//!    compiling anything differently. testkit checks the rule at run time, so it cannot drift.
//!    A test that needs what only a real MongoDB server does (transactions, query plans) says
//!    `needs_mongodb_real` and calls [`mongodb_real`]: where the MongoDB stand-in of
//!    [`standin`] answers, the runner skips it.
//!
//! The core (this file, [`discover`], [`standin`] and [`cli`], which runs a lesson's demo
//! binary from its CLI test) uses only `std`, so `xtask` shares it without compiling any
//! database client; each client lives behind a feature of the same name. The `postgres`
//! feature also brings `demo_db`, the throwaway database of the lessons' demos.
//!
//! Observability (lesson 07) adds two features. `prometheus`: `testkit::prometheus` starts a
//! private Prometheus server per test (tests named `needs_prometheus`, skipped where the
//! `prometheus` program is not installed). `otlp`: `testkit::otlp` is an OTLP/HTTP trace
//! receiver, so a test can see the spans a service exports, and prints them as a tree.

pub mod cli;
pub mod discover;
#[cfg(feature = "net")]
pub mod net;
#[cfg(feature = "otlp")]
pub mod otlp;
#[cfg(feature = "prometheus")]
pub mod prometheus;
pub mod standin;

#[cfg(any(
    feature = "postgres",
    feature = "redis",
    feature = "rabbitmq",
    feature = "mongodb"
))]
mod isolate;

#[cfg(feature = "containers")]
pub mod containers;

#[cfg(feature = "postgres")]
pub mod demo_db;
#[cfg(feature = "mongodb")]
pub mod mongo;
#[cfg(feature = "postgres")]
pub mod pg;
#[cfg(feature = "rabbitmq")]
pub mod rabbit;
#[cfg(feature = "redis")]
pub mod redis_ns;

pub use discover::{Endpoint, Origin, Service, Unavailable};

#[cfg(feature = "mongodb")]
pub use mongo::{MongoDatabase, mongodb, mongodb_real};
#[cfg(feature = "postgres")]
pub use pg::{PgDatabase, postgres};
#[cfg(feature = "rabbitmq")]
pub use rabbit::{AmqpScope, rabbitmq};
#[cfg(feature = "redis")]
pub use redis_ns::{RedisNamespace, redis};
