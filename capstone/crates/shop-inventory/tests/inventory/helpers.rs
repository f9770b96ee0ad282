//! A running inventory service per test, and the small builders the tests share.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use shop_domain::Sku;
use shop_inventory::proto::inventory_client::InventoryClient as RawClient;
use shop_inventory::{
    Application, Config, InventoryClient, MIGRATOR, ReserveLine, StockLevel, Store,
    default_dependency_config,
};
use shop_resilience::{Deadline, Dependency};
use testkit::pg::PgDatabase;
use tokio_util::sync::CancellationToken;
use tonic::transport::Channel;

/// The service on a free port over a fresh database, stopped when dropped.
pub struct TestInventory {
    pub client: InventoryClient,
    /// The store the server uses, for what a test drives directly (the reaper's batches).
    pub store: Store,
    pub endpoint: String,
    pub db: PgDatabase,
    shutdown: CancellationToken,
}

impl TestInventory {
    pub async fn start() -> TestInventory {
        TestInventory::start_with(|_| {}).await
    }

    /// Starts with the test's changes to the configuration.
    pub async fn start_with(change: impl FnOnce(&mut Config)) -> TestInventory {
        let db = testkit::postgres().await;
        MIGRATOR
            .run(db.pool())
            .await
            .expect("the migrations apply to a fresh database");
        let mut config = Config {
            listen: "127.0.0.1:0".parse().expect("a valid address"),
            // The tests drive expiry through the store; a reaper running on its own would race
            // them.
            reaper_interval: Duration::from_secs(3600),
            ..Config::default()
        };
        change(&mut config);
        let app = Application::build_with_pool(config, db.pool().clone())
            .await
            .expect("the service binds to a free port");
        let store = app.store().clone();
        let endpoint = app.endpoint();
        let shutdown = CancellationToken::new();
        app.spawn(shutdown.clone());
        let client = InventoryClient::connect_lazy(&endpoint, dependency())
            .expect("the server's own endpoint is valid");
        TestInventory {
            client,
            store,
            endpoint,
            db,
            shutdown,
        }
    }

    /// The generated client, for requests the typed client cannot express (a zero quantity, a
    /// spent deadline sent as is).
    pub async fn raw(&self) -> RawClient<Channel> {
        RawClient::connect(self.endpoint.clone())
            .await
            .expect("the test server accepts connections")
    }

    /// Adds `quantity` of `code` through the service.
    pub async fn restock(&self, code: &str, quantity: u32) -> StockLevel {
        self.client
            .restock(&sku(code), quantity, soon())
            .await
            .expect("restock succeeds")
    }

    /// The level of one SKU, which must exist.
    pub async fn level(&self, code: &str) -> StockLevel {
        let levels = self
            .client
            .stock(&[sku(code)], soon())
            .await
            .expect("GetStock succeeds");
        levels
            .into_iter()
            .next()
            .unwrap_or_else(|| panic!("{code} is in stock"))
    }

    /// (on_hand, reserved) of one SKU.
    pub async fn numbers(&self, code: &str) -> (u32, u32) {
        let level = self.level(code).await;
        (level.on_hand, level.reserved)
    }
}

impl Drop for TestInventory {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub fn dependency() -> Arc<Dependency> {
    Arc::new(Dependency::new("inventory", default_dependency_config()))
}

pub fn sku(code: &str) -> Sku {
    Sku::parse(code).expect("the tests' SKUs are valid")
}

pub fn line(code: &str, quantity: u32) -> ReserveLine {
    ReserveLine {
        sku: sku(code),
        quantity: NonZeroU32::new(quantity).expect("the tests' quantities are not zero"),
    }
}

/// A deadline no test call comes near.
pub fn soon() -> Deadline {
    Deadline::after(Duration::from_secs(10))
}

pub const HOLD: Duration = Duration::from_secs(600);
