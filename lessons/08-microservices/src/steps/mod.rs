//! The narration: each public function is one step of `cargo run -p lesson-08`. It starts the
//! services the step needs on loopback ports, drives them with real calls, prints what it
//! measured, and checks that it saw what the lesson says, so a broken breaker fails the demo
//! instead of printing a story that is not true.

mod breaker;
mod bulkhead;
mod events;
mod grpc;
mod retries;
mod saga;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use narrate::demo::Unexpected;
use narrate::{duration, say};
use shop_inventory::InventoryError;
use shop_resilience::CallError;
use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl, SetupError};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::inventory::{InventoryService, StartError};

pub use breaker::breaker;
pub use bulkhead::bulkhead;
pub use events::events;
pub use grpc::grpc;
pub use retries::retries;
pub use saga::saga;

/// The name of the demo's database, and the prefix any `--database` must start with.
pub const DEMO_DATABASE: &str = "backend_rs_lesson08";

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    /// The demo's HTTP client, for every request it sends to the gateway.
    pub client: reqwest::Client,
    /// Cancelled by Ctrl-C: a step that drives traffic for a while stops early.
    pub shutdown: CancellationToken,
    /// Where the inventory service keeps its stock.
    pub server: ServerUrl,
    pub database: DatabaseName,
    /// Keep the database at the end, to explore it with psql.
    pub keep: bool,
}

impl Demo {
    pub fn new(
        shutdown: CancellationToken,
        database: DatabaseName,
        keep: bool,
    ) -> Result<Demo, StepError> {
        let client = reqwest::Client::builder()
            // Loopback only: a proxy from the environment must not see the demo's requests.
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()?;
        Ok(Demo {
            client,
            shutdown,
            server: ServerUrl::from_env(),
            database,
            keep,
        })
    }

    /// The inventory service's database, created afresh and migrated with the service's own
    /// migrations. Without PostgreSQL the step says so, with the command that starts it, and
    /// ends with [`StepError::ServiceMissing`].
    pub async fn database(&self) -> Result<DemoDatabase, StepError> {
        match DemoDatabase::create(&self.server, &self.database).await {
            Ok(db) => {
                shop_inventory::MIGRATOR.run(db.pool()).await?;
                Ok(db)
            }
            Err(error @ (SetupError::Unreachable { .. } | SetupError::Timeout { .. })) => {
                say(format_args!("{error}."));
                say("This step needs the inventory service, which keeps its stock there.");
                Err(StepError::ServiceMissing("PostgreSQL"))
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Ends a step's use of the database: dropped, unless `--keep` asked to leave it.
    pub async fn finish(&self, db: DemoDatabase) -> Result<(), StepError> {
        if self.keep {
            say(format_args!(
                "Kept the database to explore: psql -h 127.0.0.1 -U postgres {}",
                db.name()
            ));
        }
        db.finish(self.keep).await?;
        Ok(())
    }
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error("the inventory service could not start")]
    Inventory(#[from] StartError),
    #[error(transparent)]
    Database(#[from] SetupError),
    #[error("a query failed")]
    Sql(#[from] sqlx::Error),
    #[error("the inventory's migrations failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("an inventory call failed")]
    Call(#[from] CallError<InventoryError>),
    #[error("the inventory client could not be built")]
    Client(#[from] shop_inventory::ClientError),
    #[error(transparent)]
    Grpc(#[from] tonic::transport::Error),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Serve(#[from] shop_http::ServeError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
    #[error("the payment sandbox could not start: {0}")]
    Payments(String),
    #[error(transparent)]
    Replay(#[from] shop_domain::order::ReplayError),
    /// The step said which service is missing, and how to start it, in one sentence.
    #[error("{0} is not running")]
    ServiceMissing(&'static str),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 08 · Microservices: calls that fail, and a shop that keeps working");
    println!();
    say("A catalog (REST), the shop's inventory service (gRPC, its own PostgreSQL database)");
    say("and a gateway in front, all in this process on loopback ports. Deadlines, retries");
    say("with a budget, a circuit breaker, a bulkhead, a saga, and an order kept as events.");
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: the exercise, `cargo test -p exercise-08`, and chapter 08 of the book.");
}

/// 127.0.0.1 on a port the system picks.
pub fn loopback() -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, 0))
}

pub use narrate::percentile;

/// An order event in a few words: `shipped (1Z999AA10123456784)`.
pub fn event_summary(event: &shop_domain::order::OrderEvent) -> String {
    use shop_domain::order::OrderEvent as E;
    match event {
        E::Placed { total, .. } => format!("placed ({total})"),
        E::PaymentCaptured { amount } => format!("payment_captured ({amount})"),
        E::Fulfilled => "fulfilled".to_owned(),
        E::Shipped { tracking } => format!("shipped ({tracking})"),
        E::Delivered => "delivered".to_owned(),
        E::Cancelled { reason } => format!("cancelled ({reason})"),
        E::Refunded { amount } => format!("refunded ({amount})"),
    }
}

/// Starts the real inventory service over `db` on `addr` (port 0: any free port).
async fn start_inventory(
    db: &DemoDatabase,
    addr: SocketAddr,
) -> Result<InventoryService, StepError> {
    Ok(InventoryService::start(db.pool().clone(), addr).await?)
}
