//! Lesson 05, data management: listing, filtering, validating and writing the catalog's data.
//!
//! The demo creates its own PostgreSQL database, applies the capstone's migrations, seeds a
//! catalog, and then shows, step by step: offset pagination drifting while rows are inserted
//! and deleted, keyset pagination not drifting; opaque, versioned cursors; sorting from an
//! allow-list and filters turned into SQL with bind parameters only; validation at the
//! boundary with every field error in one problem+json; PATCH with absent vs null; bulk
//! inserts with `UNNEST` and an upsert that counts what it inserted and updated.
//!
//! Run the narrated demo with `cargo run -p lesson-05` (`-- --help` for its options; it needs
//! PostgreSQL) and the tests with `cargo test -p lesson-05`. Read the modules in the order the
//! demo runs them:
//!
//! | step | module | shows |
//! |------|--------|-------|
//! | 1 | [`database`] | a throwaway database, migrated and seeded |
//! | 2 | [`pagination`] | offset vs keyset while another task writes |
//! | 3 | [`cursor`] | opaque, versioned cursors; rejecting tampered ones |
//! | 4 | [`listing`], [`sql`] | allow-listed sort, typed filters, binds only |
//! | 5 | [`product`], [`problem`], [`api`] | DTOs, domain newtypes, `TryFrom`, field errors |
//! | 6 | [`product`] (shop-http's [`Patch`](shop_http::Patch)), [`catalog`] | absent vs null, `UPDATE ... RETURNING` |
//! | 7 | [`bulk`] | `UNNEST` bulk insert, `ON CONFLICT` upsert |
//!
//! [`steps`] holds the narration that prints the story.

pub mod api;
pub mod bulk;
pub mod catalog;
pub mod cursor;
pub mod database;
pub mod listing;
pub mod pagination;
pub mod problem;
pub mod product;
pub mod sql;
pub mod steps;
