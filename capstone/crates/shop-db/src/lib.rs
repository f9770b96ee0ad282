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
//! - carts (chapter 08): [`CartRepo`], a signed-in customer's lines priced as the catalog
//!   prices them now;
//! - orders (chapter 08): [`OrderRepo`], a customer's own and every order for the staff,
//!   moved through the domain's state machine with a history of each transition;
//! - the reviews store, one MongoDB collection of typed documents;
//! - a deterministic seed generator that fills a database with a realistic amount of data.
//!
//! Repository methods record their errors on their tracing span at DEBUG level only: whether a
//! failure deserves an ERROR line is the caller's decision (the HTTP layer logs each 5xx once,
//! with its cause chain), and an expected outcome such as [`DbError::EmailTaken`] is not one.

pub mod api_keys;
pub mod carts;
pub mod catalog;
pub mod checkout;
pub mod error;
pub mod orders;
pub mod products;
pub mod reviews;
pub mod seed;
pub mod sessions;
pub mod users;

pub use api_keys::{ApiKey, ApiKeyRepo, NewApiKey, Scope};
pub use carts::{Cart, CartError, CartLine, CartRepo, Quantity, QuantityError};
pub use checkout::{CheckoutRepo, Claim, PendingOrder, PlaceError};
pub use error::DbError;
pub use orders::{
    OrderDetail, OrderLineDetail, OrderRepo, OrderSummary, Transition, TransitionError,
};
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

// ANCHOR: pinned_schema
/// The last migration of the schema as lesson 05 leaves it.
///
/// Lessons 02 and 05 apply the migrations through this one ([`migrator_through`]), never the
/// whole [`MIGRATOR`]: a migration a later lesson adds to the capstone then cannot change, or
/// break, their demonstrations and tests. Lesson 02 gets lessons 04's and 05's migrations too,
/// because the seed it shares with the capstone writes their columns.
pub const SCHEMA_OF_LESSON_05: i64 = 20261121000004;

/// The shop's migrations up to and including `version`, as a migrator of their own.
pub fn migrator_through(version: i64) -> sqlx::migrate::Migrator {
    let migrations = MIGRATOR
        .iter()
        .filter(|migration| migration.version <= version)
        .cloned()
        .collect();
    sqlx::migrate::Migrator::with_migrations(migrations)
}
// ANCHOR_END: pinned_schema

#[cfg(test)]
mod pinned_schema_tests {
    use super::*;

    #[test]
    fn lesson_05s_schema_is_its_four_migrations_whatever_comes_later() {
        let versions: Vec<i64> = migrator_through(SCHEMA_OF_LESSON_05)
            .iter()
            .map(|migration| migration.version)
            .collect();
        assert_eq!(
            versions,
            [
                20261121000001,
                20261121000002,
                20261121000003,
                20261121000004
            ]
        );
    }

    #[test]
    fn the_pinned_version_is_a_migration_that_exists() {
        assert!(MIGRATOR.version_exists(SCHEMA_OF_LESSON_05));
    }
}
