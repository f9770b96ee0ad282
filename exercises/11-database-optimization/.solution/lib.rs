//! Exercise 11, reference solution: an N+1 replaced by two statements, a composite index in
//! the query's column order, a ring of virtual nodes in a `BTreeMap`, and a reservation that is
//! one conditional `UPDATE`.
//!
//! Read it after you have tried (the hints come first: `cargo xtask hint 11 a`). The same tests
//! run against it: `cargo test -p exercise-11-solution`.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::num::NonZeroU32;

use sqlx::PgPool;

// ---------------------------------------------------------------------------------------------
// Part (a): the N+1
// ---------------------------------------------------------------------------------------------

// ANCHOR: orders_with_lines
/// The customer's orders with their lines in two statements, however many orders there are:
/// the orders, then every line of all of them at once with `= ANY($1)`, grouped in Rust.
pub async fn orders_with_lines(db: &CountingDb, customer: &str) -> Result<Vec<Order>, sqlx::Error> {
    let orders: Vec<(i64, String)> = db
        .fetch_all(
            sqlx::query_as("SELECT id, customer FROM orders WHERE customer = $1 ORDER BY id")
                .bind(customer),
        )
        .await?;
    if orders.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<i64> = orders.iter().map(|(id, _)| *id).collect();
    let lines: Vec<(i64, String, i32)> = db
        .fetch_all(
            sqlx::query_as(
                "SELECT order_id, sku, quantity FROM order_lines
                 WHERE order_id = ANY($1) ORDER BY id",
            )
            .bind(ids),
        )
        .await?;
    let mut by_order: HashMap<i64, Vec<Line>> = HashMap::new();
    for (order_id, sku, quantity) in lines {
        by_order
            .entry(order_id)
            .or_default()
            .push(Line { sku, quantity });
    }
    Ok(orders
        .into_iter()
        .map(|(id, customer)| Order {
            id,
            customer,
            lines: by_order.remove(&id).unwrap_or_default(),
        })
        .collect())
}
// ANCHOR_END: orders_with_lines

// ---------------------------------------------------------------------------------------------
// Part (b): the index
// ---------------------------------------------------------------------------------------------

// ANCHOR: index
/// Equality column first, then the sort column: the customer's entries are adjacent and
/// already in `created_at` order, so the ten latest are the last ten (read backwards), with no
/// sort and about ten heap pages.
pub fn latest_shipments_index() -> &'static str {
    "CREATE INDEX shipments_customer_created ON shipments (customer_id, created_at)"
}
// ANCHOR_END: index

// ---------------------------------------------------------------------------------------------
// Part (c): the consistent-hash ring
// ---------------------------------------------------------------------------------------------

// ANCHOR: ring
/// A consistent-hash ring: every node sits at `vnodes` points, and a key belongs to the first
/// point at or after its hash, going round past the largest point to the smallest.
#[derive(Debug, Clone)]
pub struct Ring {
    vnodes: NonZeroU32,
    points: BTreeMap<u64, String>,
    nodes: BTreeSet<String>,
}

impl Ring {
    /// An empty ring that will place each node at `vnodes` points.
    pub fn new(vnodes: NonZeroU32) -> Ring {
        Ring {
            vnodes,
            points: BTreeMap::new(),
            nodes: BTreeSet::new(),
        }
    }

    /// Adds `node` at its points; `false` (and no change) when it is already on the ring.
    pub fn add(&mut self, node: &str) -> bool {
        if !self.nodes.insert(node.to_owned()) {
            return false;
        }
        for replica in 0..self.vnodes.get() {
            self.points
                .insert(vnode_point(node, replica), node.to_owned());
        }
        true
    }

    /// Takes `node` and all its points off the ring; `false` when it was not on it.
    pub fn remove(&mut self, node: &str) -> bool {
        if !self.nodes.remove(node) {
            return false;
        }
        self.points.retain(|_, owner| owner != node);
        true
    }

    /// The node that holds `key`.
    pub fn route(&self, key: &str) -> Result<&str, RingError> {
        let hash = stable_hash(key.as_bytes());
        self.points
            .range(hash..)
            .next()
            .or_else(|| self.points.iter().next())
            .map(|(_, node)| node.as_str())
            .ok_or(RingError::Empty)
    }

    /// The nodes on the ring, each once, in ascending order.
    pub fn nodes(&self) -> Vec<&str> {
        self.nodes.iter().map(String::as_str).collect()
    }
}
// ANCHOR_END: ring

// ---------------------------------------------------------------------------------------------
// Part (d): the stock reservation
// ---------------------------------------------------------------------------------------------

// ANCHOR: reserve
/// One conditional `UPDATE`: the check and the decrement are one statement, taken on the row
/// as it is when PostgreSQL locks it, so two reservations can never both see the last unit.
pub async fn reserve(pool: &PgPool, sku: &str, quantity: i32) -> Result<Reserved, ReserveError> {
    if quantity <= 0 {
        return Err(ReserveError::InvalidQuantity(quantity));
    }
    let left: Option<i32> = sqlx::query_scalar(
        "UPDATE stock SET on_hand = on_hand - $2
         WHERE sku = $1 AND on_hand >= $2
         RETURNING on_hand",
    )
    .bind(sku)
    .bind(quantity)
    .fetch_optional(pool)
    .await?;
    if let Some(left) = left {
        return Ok(Reserved {
            sku: sku.to_owned(),
            quantity,
            left,
        });
    }
    // Nothing updated: no such row, or not enough on it.
    let known: bool = sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM stock WHERE sku = $1)")
        .bind(sku)
        .fetch_one(pool)
        .await?;
    if known {
        Err(ReserveError::OutOfStock {
            sku: sku.to_owned(),
            requested: quantity,
        })
    } else {
        Err(ReserveError::UnknownSku(sku.to_owned()))
    }
}
// ANCHOR_END: reserve
