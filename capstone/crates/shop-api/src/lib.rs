//! The capstone shop's HTTP service: catalog and search, reviews, accounts and API keys, and
//! the security edge (book chapters 03 to 06, "Capstone step").
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
//! | [`startup`] | [`Application::build`]: everything start-up does, for `main` and the tests alike |
//! | [`config`] | [`Config`]: defaults, an optional TOML file, `SHOP_*` variables |
//! | [`db`] | start-up: connect to PostgreSQL, create the database, check or apply migrations |
//! | [`state`] | [`AppState`]: the pool, the repositories, the reviews store, the config |
//! | [`routes`] | [`router`]: the routes and the middleware stack |
//! | [`extract`] | `Path` and `Query` whose rejections are problem documents, and which refuse text PostgreSQL cannot hold |
//! | [`error`] | [`ApiError`] and RFC 9457 `application/problem+json` |
//! | [`server`] | [`shutdown_signal`]: Ctrl-C or SIGTERM (serving is `shop_http::Server`'s) |
//! | [`seed`] | `--seed`: demo data in PostgreSQL and demo reviews in MongoDB |
//!
//! The integration tests (`tests/`) build the whole service through [`Application`] on port 0
//! against a fresh database per test; see `tests/api/helpers.rs` for the `TestApp` that does
//! it.

pub mod auth;
pub mod caching;
pub mod config;
pub mod db;
pub mod error;
pub mod extract;
pub mod routes;
pub mod security;
pub mod seed;
pub mod server;
pub mod startup;
pub mod state;
pub mod telemetry;

pub use config::{Config, ConfigError};
pub use error::ApiError;
pub use routes::router;
pub use server::shutdown_signal;
pub use startup::{Application, StartError, StartOptions};
pub use state::AppState;
