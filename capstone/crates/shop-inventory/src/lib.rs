//! `shop-inventory`: the shop's inventory service over gRPC (book chapter 08, capstone step).
//!
//! Stock per SKU and the reservations a checkout makes against it: a reservation holds units
//! for a while, the checkout commits it once payment is authorised or releases it when a later
//! step fails, and a [`reaper`] gives back the units of reservations nobody came back for. The
//! service owns its database; the shop API only ever talks to it through [`InventoryClient`].
//!
//! | module | what it holds |
//! | --- | --- |
//! | [`proto`] | the code generated from `proto/inventory.proto` (messages, server trait, client) |
//! | [`model`] | the domain types both sides use instead of the messages |
//! | [`store`] | the SQL: reservations as one transaction, idempotency, the reaper's batches |
//! | [`service`] | the gRPC service: validation, status codes, deadlines, the server span |
//! | [`client`] | [`InventoryClient`], every call behind a `shop_resilience::Dependency` |
//! | [`config`], [`db`], [`startup`] | configuration, the database at start-up, [`Application`] |
//!
//! ```console
//! cargo run -p shop-inventory -- --migrate    # create + migrate the `inventory` database, serve
//! ```

pub mod client;
pub mod config;
pub mod db;
pub mod model;
pub mod reaper;
pub mod service;
pub mod startup;
pub mod store;

/// The Rust that build.rs generated from `proto/inventory.proto`.
pub mod proto {
    // Generated code: its style is tonic-prost-build's, not ours.
    #![allow(clippy::all, clippy::pedantic, missing_docs, rust_2018_idioms)]
    tonic::include_proto!("inventory.v1");
}

pub use client::{ClientError, InventoryClient, InventoryError, default_dependency_config};
pub use config::Config;
pub use model::{Reservation, ReservationId, ReservationStatus, ReserveLine, StockLevel};
pub use startup::{Application, Schema, StartError};
pub use store::{Store, StoreError};

/// The inventory's migrations (`migrations/`), embedded so the binary carries the schema it
/// expects: `--migrate` applies them, and without it start-up refuses a database behind them.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");
