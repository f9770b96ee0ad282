//! The capstone shop's HTTP service (book chapter 03, "Capstone step").
//!
//! Start the services and the server, then ask it something:
//!
//! ```console
//! cargo xtask services up
//! cargo run -p shop-api -- --migrate --seed
//! curl -s localhost:3000/products?limit=2
//! ```
//!
//! Read the modules in the order a request meets them:
//!
//! | module | holds |
//! |--------|-------|
//! | [`auth`] | accounts, passwords, access tokens, API keys, and the extractors that check who asks and what they may do |
//! | [`security`] | rate limits, login throttling, security headers, CORS, TLS |
//! | [`config`] | [`Config`]: defaults, an optional TOML file, `SHOP_*` variables |
//! | [`db`] | start-up: connect to PostgreSQL, create the database, check or apply migrations |
//! | [`state`] | [`AppState`]: the pool, the repositories, the reviews store, the config |
//! | [`routes`] | [`router`]: the routes and the middleware stack |
//! | [`extract`] | `Path` and `Query` whose rejections are problem documents, and which refuse text PostgreSQL cannot hold |
//! | [`error`] | [`ApiError`] and RFC 9457 `application/problem+json` |
//! | [`server`] | [`serve`] with graceful shutdown |
//! | [`seed`] | `--seed`: demo data in PostgreSQL and demo reviews in MongoDB |
//!
//! The integration tests (`tests/`) start the whole service on port 0 against a fresh
//! database per test; see `tests/api/helpers.rs` for the `TestApp` that does it.

pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod routes;
pub mod security;
pub mod seed;
pub mod server;
pub mod state;

pub use config::{Config, ConfigError};
pub use error::{ApiError, FieldError, FieldErrors, Problem};
pub use routes::router;
pub use server::{serve, shutdown_signal};
pub use state::AppState;
