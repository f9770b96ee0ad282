//! Lesson 02, database fundamentals: the shop's data in PostgreSQL and its reviews in MongoDB.
//!
//! The demo creates its own database, applies the capstone's migrations (the schema in
//! `capstone/crates/shop-db/migrations/`), fills it with a year of shop history, and then asks
//! it questions: joins, aggregates, a recursive CTE, window functions; it watches an index turn
//! a sequential scan into an index scan; it places orders in a transaction that keeps stock and
//! orders consistent, even with two customers racing for the last units; and it gives a slow
//! query a deadline the server enforces. The MongoDB half stores reviews as documents and
//! summarises them with an aggregation pipeline.
//!
//! Run the narrated demo with `cargo run -p lesson-02` (`-- --help` for its options; it needs
//! PostgreSQL, and MongoDB for step 8) and the tests with `cargo test -p lesson-02`. Read the
//! modules in the order the demo runs them:
//!
//! | step | module | shows |
//! |------|--------|-------|
//! | 1-2 | [`database`] | a connection pool, a throwaway database, migrations |
//! | 3 | `shop_db::seed` | deterministic seed data, bulk inserts with `UNNEST` |
//! | 4 | [`queries`] | joins, `GROUP BY`/`HAVING`, recursive CTEs, window functions, `FromRow` |
//! | 5 | [`plan`] | `EXPLAIN (ANALYZE, BUFFERS)` before and after an index |
//! | 6 | [`checkout`] | a transaction, row locks, a CHECK constraint, a race |
//! | 7 | [`deadline`] | `statement_timeout`, and what a dropped future leaves running |
//! | 8 | [`reviews`], `shop_db::reviews` | documents, query operators, aggregation, indexes |
//!
//! [`steps`] holds the narration that prints the story; [`text`] the number and table
//! formatting it uses.

pub mod checkout;
pub mod database;
pub mod deadline;
pub mod plan;
pub mod queries;
pub mod reviews;
pub mod steps;
pub mod text;
