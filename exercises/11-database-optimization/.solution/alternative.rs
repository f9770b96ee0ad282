//! Exercise 11, a second correct solution, written differently on purpose: `cargo xtask verify`
//! runs every test against it too, so that no test accepts only the reference's way.
//!
//! The orders come in one statement, a `LEFT JOIN` whose rows are folded into orders as they
//! arrive; the index is a covering one, newest first, so the query never visits the table; the
//! ring is a sorted `Vec` searched with `partition_point`; a reservation locks its row with
//! `SELECT ... FOR UPDATE` in a transaction, then decides.

#[path = "../src/given.rs"]
mod given;
pub use given::*;

use std::num::NonZeroU32;

use sqlx::PgPool;

// ---------------------------------------------------------------------------------------------
// Part (a): the N+1
// ---------------------------------------------------------------------------------------------

pub async fn orders_with_lines(db: &CountingDb, customer: &str) -> Result<Vec<Order>, sqlx::Error> {
    let rows: Vec<(i64, String, Option<String>, Option<i32>)> = db
        .fetch_all(
            sqlx::query_as(
                "SELECT o.id, o.customer, l.sku, l.quantity
                 FROM orders AS o
                 LEFT JOIN order_lines AS l ON l.order_id = o.id
                 WHERE o.customer = $1
                 ORDER BY o.id, l.id",
            )
            .bind(customer),
        )
        .await?;
    let mut orders: Vec<Order> = Vec::new();
    for (id, customer, sku, quantity) in rows {
        if orders.last().is_none_or(|last| last.id != id) {
            orders.push(Order {
                id,
                customer,
                lines: Vec::new(),
            });
        }
        // A NULL line is the LEFT JOIN's filler for an order without lines.
        if let (Some(sku), Some(quantity), Some(order)) = (sku, quantity, orders.last_mut()) {
            order.lines.push(Line { sku, quantity });
        }
    }
    Ok(orders)
}

// ---------------------------------------------------------------------------------------------
// Part (b): the index
// ---------------------------------------------------------------------------------------------

pub fn latest_shipments_index() -> &'static str {
    "CREATE INDEX latest_shipments_covering
         ON shipments (customer_id, created_at DESC) INCLUDE (id, weight_grams)"
}

// ---------------------------------------------------------------------------------------------
// Part (c): the consistent-hash ring
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct Ring {
    vnodes: NonZeroU32,
    /// Sorted by point.
    points: Vec<(u64, String)>,
}

impl Ring {
    pub fn new(vnodes: NonZeroU32) -> Ring {
        Ring {
            vnodes,
            points: Vec::new(),
        }
    }

    pub fn add(&mut self, node: &str) -> bool {
        if self.points.iter().any(|(_, owner)| owner == node) {
            return false;
        }
        self.points
            .extend((0..self.vnodes.get()).map(|i| (vnode_point(node, i), node.to_owned())));
        self.points.sort();
        true
    }

    pub fn remove(&mut self, node: &str) -> bool {
        let before = self.points.len();
        self.points.retain(|(_, owner)| owner != node);
        self.points.len() != before
    }

    pub fn route(&self, key: &str) -> Result<&str, RingError> {
        let hash = stable_hash(key.as_bytes());
        let at = self.points.partition_point(|(point, _)| *point < hash);
        let (_, node) = self
            .points
            .get(at)
            .or_else(|| self.points.first())
            .ok_or(RingError::Empty)?;
        Ok(node)
    }

    pub fn nodes(&self) -> Vec<&str> {
        let mut nodes: Vec<&str> = self.points.iter().map(|(_, n)| n.as_str()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        nodes
    }
}

// ---------------------------------------------------------------------------------------------
// Part (d): the stock reservation
// ---------------------------------------------------------------------------------------------

pub async fn reserve(pool: &PgPool, sku: &str, quantity: i32) -> Result<Reserved, ReserveError> {
    if quantity < 1 {
        return Err(ReserveError::InvalidQuantity(quantity));
    }
    let mut tx = pool.begin().await?;
    // FOR UPDATE waits for any transaction that holds the row, then reads it as committed.
    let on_hand: Option<i32> =
        sqlx::query_scalar("SELECT on_hand FROM stock WHERE sku = $1 FOR UPDATE")
            .bind(sku)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(on_hand) = on_hand else {
        return Err(ReserveError::UnknownSku(sku.to_owned()));
    };
    if on_hand < quantity {
        return Err(ReserveError::OutOfStock {
            sku: sku.to_owned(),
            requested: quantity,
        });
    }
    let left = on_hand - quantity;
    sqlx::query("UPDATE stock SET on_hand = $2 WHERE sku = $1")
        .bind(sku)
        .bind(left)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Reserved {
        sku: sku.to_owned(),
        quantity,
        left,
    })
}
