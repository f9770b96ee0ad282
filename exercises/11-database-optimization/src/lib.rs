//! Exercise 11, database optimization: four fixes a growing shop needs. A page that sends one
//! query per order, a query that reads the whole table for ten rows, a key that must find its
//! shard among several databases, and a stock level that many checkouts decrement at once.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-11`
//! passes; run one part at a time with `cargo test -p exercise-11 part_a` (or `part_b`,
//! `part_c`, `part_d`). The brief is book chapter 11, section "Exercise", and the doc comments
//! below. Stuck? `cargo xtask hint 11 a` (or `b`, `c`, `d`) shows that part's hints one level
//! at a time.
//!
//! Four parts, independent of each other:
//! - (a) [`orders_with_lines`]: the same result as the given N+1 loader, in at most two
//!   statements whatever the number of orders.
//! - (b) [`latest_shipments_index`]: the `CREATE INDEX` that makes the given query cheap; the
//!   tests read the plan PostgreSQL chooses.
//! - (c) [`Ring`]: a consistent-hash ring with virtual nodes.
//! - (d) [`reserve`]: take units of stock so that concurrent checkouts never sell more than
//!   there is.
//!
//! Parts (a), (b) and (d) need PostgreSQL: `cargo xtask services up` starts it. Each test
//! creates its own database with the tables of `src/given.rs`. Part (c) is pure Rust.
//!
//! The given code ([`CountingDb`], [`orders_with_lines_one_by_one`], [`LATEST_SHIPMENTS`],
//! [`stable_hash`], [`vnode_point`], [`Reserved`], [`ReserveError`], the schemas, ...) is in
//! `src/given.rs`: read it, it is part of the brief. Here, besides the `todo!()`s, the fields
//! of [`Ring`] and its constructor are a starting point: change them, add private types and
//! helper functions as you like; the tests use only the public API.

// Stub bodies ignore their parameters and leave fields unread; this line goes away with the
// solution.
#![allow(unused_variables, dead_code)]

// The given code (types, schemas, the slow loader): one file, shared with the reference
// solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::BTreeMap;
use std::num::NonZeroU32;

use sqlx::PgPool;

// ---------------------------------------------------------------------------------------------
// Part (a): the N+1
// ---------------------------------------------------------------------------------------------

// ANCHOR: orders_with_lines
/// The orders of `customer` with their lines: exactly what [`orders_with_lines_one_by_one`]
/// returns (orders by ascending id, each order's lines by ascending line id, an order without
/// lines kept with an empty `lines`), in at most two statements sent through `db`, whether the
/// customer has no order, one, or a thousand.
///
/// Every query goes through [`CountingDb::fetch_all`] with a `sqlx::query_as("...")` and its
/// `.bind(...)`s: the tests count the statements. A Rust `Vec<i64>` binds as a PostgreSQL
/// `bigint[]`.
pub async fn orders_with_lines(db: &CountingDb, customer: &str) -> Result<Vec<Order>, sqlx::Error> {
    todo!("exercise 11, part a, orders_with_lines: see book chapter 11, Exercise")
}
// ANCHOR_END: orders_with_lines

// ---------------------------------------------------------------------------------------------
// Part (b): the index
// ---------------------------------------------------------------------------------------------

// ANCHOR: index
/// One `CREATE INDEX` statement on `shipments` (see [`SHIPMENTS_SCHEMA`]) that makes
/// [`LATEST_SHIPMENTS`] cheap, whichever customer it asks for.
///
/// The tests fill the table, run your statement, `VACUUM ANALYZE` it, and read the plan of
/// `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)` for the query. They pass when PostgreSQL reads the
/// rows through your index (an Index Scan or Index Only Scan), needs no Sort, and touches at
/// most 25 buffers (8 kB pages) to answer. Without an index it reads every page of the table
/// (about 1,500); some indexes PostgreSQL will use and still read hundreds. Name the index as
/// you like; one statement, one index.
pub fn latest_shipments_index() -> &'static str {
    todo!("exercise 11, part b, latest_shipments_index: see book chapter 11, Exercise")
}
// ANCHOR_END: index

// ---------------------------------------------------------------------------------------------
// Part (c): the consistent-hash ring
// ---------------------------------------------------------------------------------------------

// ANCHOR: ring
/// A consistent-hash ring of named nodes (database shards, say).
///
/// Every node sits at `vnodes` points of a circle of `u64` values: its virtual nodes, at
/// [`vnode_point`]`(node, 0)`, `vnode_point(node, 1)`, ... up to `vnodes - 1`. A key belongs to
/// the node of the first point at or after [`stable_hash`]`(key)`, going round the circle: a
/// hash larger than every point belongs to the smallest point. (Two points that collide are
/// too unlikely to matter here.)
///
/// So adding a node moves only the keys that now fall just before its points, all to it, and
/// removing one gives only its keys to the others.
#[derive(Debug, Clone)]
pub struct Ring {
    vnodes: NonZeroU32,
    points: BTreeMap<u64, String>,
}

impl Ring {
    /// An empty ring that will place each node at `vnodes` points.
    pub fn new(vnodes: NonZeroU32) -> Ring {
        Ring {
            vnodes,
            points: BTreeMap::new(),
        }
    }

    /// Adds `node` at its `vnodes` points. Returns `false`, and changes nothing, when `node`
    /// is already on the ring.
    pub fn add(&mut self, node: &str) -> bool {
        todo!("exercise 11, part c, Ring::add: see book chapter 11, Exercise")
    }

    /// Takes `node` and every one of its points off the ring. Returns `false`, and changes
    /// nothing, when `node` is not on the ring.
    pub fn remove(&mut self, node: &str) -> bool {
        todo!("exercise 11, part c, Ring::remove: see book chapter 11, Exercise")
    }

    /// The node that holds `key`, or [`RingError::Empty`] when the ring has no node (an
    /// error, not a panic).
    pub fn route(&self, key: &str) -> Result<&str, RingError> {
        todo!("exercise 11, part c, Ring::route: see book chapter 11, Exercise")
    }

    /// The nodes on the ring, each once, in ascending order.
    pub fn nodes(&self) -> Vec<&str> {
        todo!("exercise 11, part c, Ring::nodes: see book chapter 11, Exercise")
    }
}
// ANCHOR_END: ring

// ---------------------------------------------------------------------------------------------
// Part (d): the stock reservation
// ---------------------------------------------------------------------------------------------

// ANCHOR: reserve
/// Takes `quantity` units of `sku` from the `stock` table (see [`STOCK_SCHEMA`]).
///
/// - `quantity` of zero or less: [`ReserveError::InvalidQuantity`], without asking the
///   database.
/// - No row for `sku`: [`ReserveError::UnknownSku`].
/// - Fewer than `quantity` units on hand: [`ReserveError::OutOfStock`], and the row is left
///   as it is.
/// - Otherwise `on_hand` goes down by `quantity` and [`Reserved`] says what is left.
///
/// Many checkouts call this at once on the same SKU. Whatever the timing, `on_hand` never goes
/// below zero and no reservation is lost: with `k` units and `n > k` concurrent reservations
/// of one unit, exactly `k` succeed and `on_hand` ends at 0. A transaction of someone else's
/// (a sale through another code path) may be changing the row while you decide: decide on the
/// row as it is once that transaction has committed, not as you first read it. Any correct
/// approach passes: a single conditional statement, a row lock, or a stricter isolation level
/// with retries.
pub async fn reserve(pool: &PgPool, sku: &str, quantity: i32) -> Result<Reserved, ReserveError> {
    todo!("exercise 11, part d, reserve: see book chapter 11, Exercise")
}
// ANCHOR_END: reserve
