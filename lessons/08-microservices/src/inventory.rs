//! The real inventory service (the capstone's `shop-inventory`), run inside the demo's process:
//! the same `Application` its binary starts, handed the demo's database pool, serving on a
//! loopback port until [`InventoryService::stop`].
//!
//! What this module shows: starting a service in process is the same two calls as in its
//! `main` (build, then serve until a token is cancelled), so a demo or a test runs exactly
//! what production runs. Stopping it for real (listener closed, port refused) and starting
//! it again on the same address is what step 3 does to its callers.

use std::net::SocketAddr;
use std::time::Duration;

use shop_inventory::startup::ServeError;
use shop_inventory::{Application, Config};
use sqlx::PgPool;
use thiserror::Error;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// Why the inventory service did not start, or did not stop cleanly.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Start(#[from] shop_inventory::StartError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error("the inventory service's task panicked")]
    Panicked(#[from] tokio::task::JoinError),
}

/// A running inventory service.
#[derive(Debug)]
pub struct InventoryService {
    addr: SocketAddr,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), ServeError>>,
}

impl InventoryService {
    /// Serves over `pool` (migrated already) on `addr`; port 0 picks a free one.
    pub async fn start(pool: PgPool, addr: SocketAddr) -> Result<InventoryService, StartError> {
        let config = Config {
            listen: addr,
            // The demo's calls are short; a stop should not wait ten seconds for a straggler.
            shutdown_grace: Duration::from_secs(1),
            ..Config::default()
        };
        let application = Application::build_with_pool(config, pool).await?;
        let addr = application.local_addr();
        let shutdown = CancellationToken::new();
        let task = application.spawn(shutdown.clone());
        Ok(InventoryService {
            addr,
            shutdown,
            task,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, what a client connects to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops the service: no new calls, those in flight finish, the listener closes.
    pub async fn stop(self) -> Result<(), StartError> {
        self.shutdown.cancel();
        self.task.await??;
        Ok(())
    }
}
