//! The capstone shop's data layer (book chapter 02, "Capstone step").
//!
//! - [`MIGRATOR`]: the schema, as numbered SQL files in `migrations/`, embedded at compile time;
//! - repositories over a PostgreSQL pool: [`ProductRepo`] (categories and products) and
//!   [`UserRepo`], with compile-time-checked queries (offline data in the workspace's `.sqlx/`)
//!   and one error type, [`DbError`]. Rows become `shop_domain` types on the way out; a value
//!   the domain rejects is an error, never a panic;
//! - accounts (chapter 04): [`SessionRepo`] (sessions and rotating refresh tokens) and
//!   [`ApiKeyRepo`] (hashed API keys with scopes), beside the credentials in [`UserRepo`];
//! - the catalog of chapter 05 ([`catalog`]): product attributes, full-text search with
//!   filters, facets, allow-listed sorts and keyset cursors, and the admin's writes;
//! - the reviews store, one MongoDB collection of typed documents;
//! - a deterministic seed generator that fills a database with a realistic amount of data.
//!
//! Repository methods record their errors on their tracing span at DEBUG level only: whether a
//! failure deserves an ERROR line is the caller's decision (the HTTP layer logs each 5xx once,
//! with its cause chain), and an expected outcome such as [`DbError::EmailTaken`] is not one.

pub mod api_keys;
pub mod catalog;
pub mod error;
pub mod products;
pub mod reviews;
pub mod seed;
pub mod sessions;
pub mod users;

pub use api_keys::{ApiKey, ApiKeyRepo, NewApiKey, Scope};
pub use error::DbError;
pub use products::{Category, PageSize, PageSizeError, Product, ProductPage, ProductRepo};
pub use sessions::{Refresh, RevokeReason, SessionLifetimes, SessionRepo};
pub use users::{
    Credentials, DisplayName, DisplayNameError, NewUser, PasswordHash, ProfileChange, User,
    UserRepo,
};

/// Every migration in `migrations/`, embedded in the binary so a deployed service carries the
/// schema it expects. `MIGRATOR.run(&pool)` applies the ones a database has not seen yet, in
/// order, each in its own transaction, and refuses to start if an applied file was edited.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!();
