//! Step 6: a transaction that keeps stock and orders consistent.
//!
//! Placing an order touches three tables: it takes units out of `stock_levels`, and writes one
//! row to `orders` and one per line to `order_items`. Either all of that happens or none of it
//! does; and two customers buying the last units at the same moment must not both succeed.
//! One transaction and one row lock per product give both guarantees.

use std::collections::HashSet;

use sqlx::PgPool;
use thiserror::Error;
use uuid::Uuid;

/// One line of a basket: which product, how many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    pub product_id: Uuid,
    pub quantity: i32,
}

/// An order that was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlacedOrder {
    pub order_id: Uuid,
    pub total_minor: i64,
}

/// Why an order was not placed. Nothing was written in any of these cases.
#[derive(Debug, Error)]
pub enum CheckoutError {
    #[error("an order needs at least one line")]
    EmptyOrder,
    #[error("quantities are at least 1, not {0}")]
    InvalidQuantity(i32),
    #[error("product {0} appears on two lines; merge them into one")]
    DuplicateLine(Uuid),
    #[error("product {0} is not stocked in this warehouse")]
    NotStocked(Uuid),
    #[error("not enough {sku}: {wanted} wanted, {available} on hand")]
    OutOfStock {
        sku: String,
        wanted: i32,
        available: i32,
    },
    #[error("the lines are priced in different currencies ({0} and {1})")]
    MixedCurrencies(String, String),
    #[error("database error while placing the order")]
    Database(#[from] sqlx::Error),
}

// ANCHOR: place_order
/// Places an order for `user_id`, served from one warehouse, all or nothing.
// Refusals are answers, not failures: recorded at INFO, not ERROR.
#[tracing::instrument(skip(pool, lines), fields(lines = lines.len()), err(level = "info"))]
pub async fn place_order(
    pool: &PgPool,
    user_id: Uuid,
    warehouse_id: Uuid,
    lines: &[Line],
) -> Result<PlacedOrder, CheckoutError> {
    let lines = checked(lines)?;
    // BEGIN. Every statement below runs on this one connection, inside the transaction.
    // Returning early (`?` or `return Err`) drops `tx` without commit, which rolls back.
    let mut tx = pool.begin().await?;

    let mut currency: Option<String> = None;
    let mut prices = Vec::with_capacity(lines.len());
    for line in &lines {
        // FOR UPDATE locks this stock row until we commit or roll back: a second checkout
        // for the same product waits here, then reads the quantity *we* left behind.
        let stock = sqlx::query!(
            r#"
            SELECT s.on_hand, p.sku, p.price_minor, p.currency
            FROM stock_levels s
            JOIN products p ON p.id = s.product_id
            WHERE s.warehouse_id = $1 AND s.product_id = $2
            FOR UPDATE OF s
            "#,
            warehouse_id,
            line.product_id
        )
        .fetch_optional(&mut *tx)
        .await?
        .ok_or(CheckoutError::NotStocked(line.product_id))?;

        if stock.on_hand < line.quantity {
            return Err(CheckoutError::OutOfStock {
                sku: stock.sku,
                wanted: line.quantity,
                available: stock.on_hand,
            });
        }
        match &currency {
            Some(first) if *first != stock.currency => {
                return Err(CheckoutError::MixedCurrencies(
                    first.clone(),
                    stock.currency,
                ));
            }
            _ => currency = Some(stock.currency),
        }
        sqlx::query!(
            "UPDATE stock_levels SET on_hand = on_hand - $3, updated_at = now()
             WHERE warehouse_id = $1 AND product_id = $2",
            warehouse_id,
            line.product_id,
            line.quantity
        )
        .execute(&mut *tx)
        .await?;
        prices.push(stock.price_minor);
    }

    let order_id = shop_domain::OrderId::generate().as_uuid();
    sqlx::query!(
        "INSERT INTO orders (id, user_id, currency) VALUES ($1, $2, $3)",
        order_id,
        user_id,
        currency.as_deref().unwrap_or("EUR"),
    )
    .execute(&mut *tx)
    .await?;
    let products: Vec<Uuid> = lines.iter().map(|l| l.product_id).collect();
    let quantities: Vec<i32> = lines.iter().map(|l| l.quantity).collect();
    sqlx::query!(
        "INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
         SELECT $1::uuid, * FROM UNNEST($2::uuid[], $3::int[], $4::bigint[])",
        order_id,
        &products,
        &quantities,
        &prices,
    )
    .execute(&mut *tx)
    .await?;

    // COMMIT: from here on, every other connection sees the new order and the lower stock
    // together, never one without the other.
    tx.commit().await?;
    let total_minor = lines
        .iter()
        .zip(&prices)
        .map(|(line, price)| i64::from(line.quantity) * price)
        .sum();
    Ok(PlacedOrder {
        order_id,
        total_minor,
    })
}
// ANCHOR_END: place_order

/// Rejects empty baskets, zero quantities and repeated products before touching the database,
/// and sorts the lines by product id. Every checkout then locks rows in the same order, which
/// rules out the deadlock of two orders each holding the row the other waits for.
fn checked(lines: &[Line]) -> Result<Vec<Line>, CheckoutError> {
    if lines.is_empty() {
        return Err(CheckoutError::EmptyOrder);
    }
    let mut seen = HashSet::new();
    for line in lines {
        if line.quantity < 1 {
            return Err(CheckoutError::InvalidQuantity(line.quantity));
        }
        if !seen.insert(line.product_id) {
            return Err(CheckoutError::DuplicateLine(line.product_id));
        }
    }
    let mut sorted = lines.to_vec();
    sorted.sort_by_key(|line| line.product_id);
    Ok(sorted)
}

/// Units of `product_id` in `warehouse_id` (0 when it is not stocked there).
pub async fn on_hand(
    pool: &PgPool,
    warehouse_id: Uuid,
    product_id: Uuid,
) -> Result<i32, sqlx::Error> {
    let on_hand = sqlx::query_scalar!(
        "SELECT on_hand FROM stock_levels WHERE warehouse_id = $1 AND product_id = $2",
        warehouse_id,
        product_id
    )
    .fetch_optional(pool)
    .await?;
    Ok(on_hand.unwrap_or(0))
}

/// Orders in the database.
pub async fn order_count(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"SELECT count(*) AS "count!" FROM orders"#)
        .fetch_one(pool)
        .await
}

/// Sets a stock level directly, as a stock-taking would.
pub async fn set_on_hand(
    pool: &PgPool,
    warehouse_id: Uuid,
    product_id: Uuid,
    on_hand: i32,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "UPDATE stock_levels SET on_hand = $3, updated_at = now()
         WHERE warehouse_id = $1 AND product_id = $2",
        warehouse_id,
        product_id,
        on_hand
    )
    .execute(pool)
    .await?;
    Ok(())
}

// ANCHOR: check_constraint
/// Takes `quantity` units with a bare UPDATE, no check in the application: what a buggy code
/// path or a hand-written script would do. Returns the name of the constraint that refused it,
/// if one did.
pub async fn take_without_checking(
    pool: &PgPool,
    warehouse_id: Uuid,
    product_id: Uuid,
    quantity: i32,
) -> Result<Option<String>, sqlx::Error> {
    let result = sqlx::query!(
        "UPDATE stock_levels SET on_hand = on_hand - $3
         WHERE warehouse_id = $1 AND product_id = $2",
        warehouse_id,
        product_id,
        quantity
    )
    .execute(pool)
    .await;
    match result {
        Ok(_) => Ok(None),
        // 23514 check_violation: the `CHECK (on_hand >= 0)` in the migration.
        Err(sqlx::Error::Database(e)) if e.is_check_violation() => Ok(Some(
            e.constraint().unwrap_or("a CHECK constraint").to_owned(),
        )),
        Err(e) => Err(e),
    }
}
// ANCHOR_END: check_constraint

/// A product stocked in a warehouse with at least `min_on_hand` units, and its SKU: the demo's
/// shopping list.
#[derive(Debug, Clone)]
pub struct Stocked {
    pub warehouse_id: Uuid,
    pub warehouse: String,
    pub product_id: Uuid,
    pub sku: String,
    pub on_hand: i32,
}

/// The first `count` products (by SKU) stocked with at least `min_on_hand` units in the
/// warehouse with code `warehouse_code`.
pub async fn stocked_products(
    pool: &PgPool,
    warehouse_code: &str,
    min_on_hand: i32,
    count: i64,
) -> Result<Vec<Stocked>, sqlx::Error> {
    sqlx::query_as!(
        Stocked,
        r#"
        SELECT w.id AS warehouse_id, w.name AS warehouse, p.id AS product_id, p.sku, s.on_hand
        FROM stock_levels s
        JOIN warehouses w ON w.id = s.warehouse_id
        JOIN products p   ON p.id = s.product_id
        WHERE w.code = $1 AND s.on_hand >= $2
        ORDER BY p.sku
        LIMIT $3
        "#,
        warehouse_code,
        min_on_hand,
        count
    )
    .fetch_all(pool)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(n: u128, quantity: i32) -> Line {
        Line {
            product_id: Uuid::from_u128(n),
            quantity,
        }
    }

    #[test]
    fn baskets_are_checked_before_any_sql_and_sorted_for_lock_order() {
        assert!(matches!(checked(&[]), Err(CheckoutError::EmptyOrder)));
        assert!(matches!(
            checked(&[line(1, 0)]),
            Err(CheckoutError::InvalidQuantity(0))
        ));
        assert!(matches!(
            checked(&[line(1, 1), line(1, 2)]),
            Err(CheckoutError::DuplicateLine(_))
        ));
        let sorted = checked(&[line(3, 1), line(1, 2), line(2, 1)]).unwrap();
        let ids: Vec<u128> = sorted.iter().map(|l| l.product_id.as_u128()).collect();
        assert_eq!(ids, [1, 2, 3]);
    }
}
