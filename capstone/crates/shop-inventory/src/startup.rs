//! Start-up as one function, as in the shop API: [`Application::build`] does everything that must
//! be true before the first call (reach the database, check or apply its schema, bind the
//! listener), and [`Application::run_until_stopped`] serves until its shutdown token is
//! cancelled, with the reaper beside it.
//!
//! `main`, lesson 08's in-process demo and the tests all start the service through here; the
//! demo and the tests hand it a pool of their own with [`Application::build_with_pool`].

use std::net::SocketAddr;

use sqlx::PgPool;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;

use crate::MIGRATOR;
use crate::config::Config;
use crate::db::{self, DbStartupError};
use crate::proto::inventory_server::InventoryServer;
use crate::service::{InventoryService, ServiceSettings, grpc_span};
use crate::store::Store;

/// What start-up does with the database's schema.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Schema {
    /// `--migrate`: create the database if it is missing, apply pending migrations.
    Migrate,
    /// Refuse a database whose schema is behind this binary's (the default: a deploy that
    /// forgot its migrations fails at start, not on the first reservation).
    Check,
}

/// Why the service did not start.
#[derive(Debug, Error)]
pub enum StartError {
    #[error(transparent)]
    Database(#[from] DbStartupError),
    #[error("cannot listen on {addr}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// Serving failed (the listener broke); a clean shutdown is `Ok`.
#[derive(Debug, Error)]
#[error("the gRPC server failed")]
pub struct ServeError(#[from] tonic::transport::Error);

// ANCHOR: application
/// The service, built and bound, not yet serving.
#[derive(Debug)]
pub struct Application {
    listener: TcpListener,
    local_addr: SocketAddr,
    store: Store,
    config: Config,
}

impl Application {
    /// Connects to the configured database, checks or migrates its schema, and binds.
    pub async fn build(config: Config, schema: Schema) -> Result<Application, StartError> {
        let pool = db::connect(&config.database_url, schema == Schema::Migrate).await?;
        match schema {
            Schema::Migrate => MIGRATOR.run(&pool).await.map_err(DbStartupError::from)?,
            Schema::Check => db::check_schema(&pool, &MIGRATOR).await?,
        }
        Application::build_with_pool(config, pool).await
    }

    /// Binds and serves over `pool` as it is: the caller has migrated it (a test's fresh
    /// database, lesson 08's demo).
    pub async fn build_with_pool(config: Config, pool: PgPool) -> Result<Application, StartError> {
        let bind_error = |source| StartError::Bind {
            addr: config.listen,
            source,
        };
        let listener = TcpListener::bind(config.listen).await.map_err(bind_error)?;
        let local_addr = listener.local_addr().map_err(bind_error)?;
        Ok(Application {
            listener,
            local_addr,
            store: Store::new(pool),
            config,
        })
    }

    /// Where the listener is bound: port 0 in the configuration becomes a real port here.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The `http://` address a client connects to.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.local_addr)
    }

    /// The store the service works on: tests drive the reaper's [`Store::expire_due`] with it.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// Serves, with the reaper running, until `shutdown` is cancelled; then stops taking calls
    /// and waits up to the configured grace for those in flight.
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        let Application {
            listener,
            store,
            config,
            ..
        } = self;
        let service = InventoryService::new(
            store.clone(),
            ServiceSettings {
                default_hold: config.default_hold,
                max_call_time: config.max_call_time,
            },
        );
        // The reaper has its own token, a child of `shutdown`, so that it also stops when the
        // server fails on its own.
        let stop_reaper = shutdown.child_token();
        let reaper = tokio::spawn(crate::reaper::run(
            store,
            config.reaper_interval,
            stop_reaper.clone(),
        ));

        let serving = Server::builder()
            .trace_fn(grpc_span)
            .add_service(InventoryServer::new(service))
            .serve_with_incoming_shutdown(
                TcpIncoming::from(listener),
                shutdown.clone().cancelled_owned(),
            );
        tokio::pin!(serving);
        let served = tokio::select! {
            served = &mut serving => served,
            () = shutdown.cancelled() => {
                match tokio::time::timeout(config.shutdown_grace, &mut serving).await {
                    Ok(served) => served,
                    Err(_elapsed) => {
                        tracing::warn!(grace = ?config.shutdown_grace, "calls still in flight after the grace period; stopping anyway");
                        Ok(())
                    }
                }
            }
        };
        stop_reaper.cancel();
        // The reaper finishes its round (short transactions) and returns; a panic in it has
        // already been reported by the runtime.
        let _ = reaper.await;
        tracing::info!("stopped");
        Ok(served?)
    }

    /// Serves on a background task: what a test or a demo holds while it calls the service.
    pub fn spawn(self, shutdown: CancellationToken) -> JoinHandle<Result<(), ServeError>> {
        tokio::spawn(self.run_until_stopped(shutdown))
    }
}
// ANCHOR_END: application
