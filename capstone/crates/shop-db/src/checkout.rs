//! What the checkout keeps in the shop's database (book chapter 08, "Capstone step"):
//! idempotency keys and their answers, the order a cart becomes, the links from an order to its
//! reservation and payment intent, and the payment events already handled.
//!
//! What this module shows:
//! - an idempotency key as a row claimed before the work starts: the first request to claim
//!   it picks the order id every later step is keyed by, a second request meanwhile is told
//!   "in progress", a later one gets the stored answer, and the same key with another request
//!   is refused;
//! - a lock with an expiry (`locked_until`), so a request that died mid-checkout does not hold
//!   its key for ever, and a retry resumes the same order;
//! - the cart turned into an order in one transaction, at the prices read in it, with its
//!   `order.placed` event written to the outbox in the same transaction (chapter 10).

use std::time::Duration;

use shop_domain::order::OrderStatus;
use shop_domain::{Money, OrderId, Sku, UserId};
use shop_events::orders::{OrderPlaced, PlacedLine};
use shop_events::outbox;
use sqlx::PgPool;
use tracing::instrument;
use uuid::Uuid;

use crate::carts::read_cart;
use crate::error::{DbError, encode_error, invalid_row};
use crate::orders::stored_status;

/// What a request holding an idempotency key should do.
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is this request's: work on `order` (the same one on every retry of the key).
    Acquired { order: OrderId },
    /// A checkout with this key has finished: answer what it answered.
    Finished {
        status: u16,
        body: serde_json::Value,
    },
    /// The key was first used for a different request.
    KeyReused,
    /// Another request is working on the key right now.
    InProgress,
}

/// An order the checkout is taking through its steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PendingOrder {
    pub id: OrderId,
    pub customer: UserId,
    pub status: OrderStatus,
    pub total: Money,
    /// What to reserve: each SKU once, with its quantity, in SKU order.
    pub lines: Vec<(Sku, u32)>,
    /// The inventory's reservation, once made.
    pub reservation: Option<Uuid>,
    /// The payment provider's intent, once created.
    pub payment_intent: Option<String>,
}

/// Why a cart could not become an order. Nothing was written.
#[derive(Debug, thiserror::Error)]
pub enum PlaceError {
    #[error("the cart is empty")]
    EmptyCart,
    #[error("some products in the cart are no longer for sale")]
    Unavailable(Vec<Sku>),
    /// Every line is free: payment providers take positive amounts only, and this shop has
    /// no way to place an order without a payment.
    #[error("the cart's total is zero")]
    NothingToPay,
    #[error("the total is {current}, not the {expected} the client expected")]
    PriceChanged { expected: Money, current: Money },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for PlaceError {
    fn from(error: sqlx::Error) -> Self {
        PlaceError::Db(DbError::Sqlx(error))
    }
}

/// The checkout's tables. Cheap to clone: it holds a pool handle.
#[derive(Debug, Clone)]
pub struct CheckoutRepo {
    pool: PgPool,
}

struct PendingRow {
    id: Uuid,
    user_id: Uuid,
    status: String,
    currency: String,
    total_minor: i64,
    reservation_id: Option<Uuid>,
    payment_intent_id: Option<String>,
}

impl CheckoutRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    // ANCHOR: claim
    /// Claims `key` of `user` for a request whose content hashes to `request_hash`, for at most
    /// `lock_for` (past it another request may take the key over and resume the same order).
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn claim(
        &self,
        user: UserId,
        key: &str,
        request_hash: [u8; 32],
        lock_for: Duration,
    ) -> Result<Claim, DbError> {
        let lock_for = sqlx::postgres::types::PgInterval::try_from(lock_for)
            .map_err(|error| DbError::Sqlx(sqlx::Error::Encode(error)))?;
        // One statement: a new key is inserted; a known one is taken only if it has no answer,
        // no live lock, and the same request. Two requests racing for one key cannot both win:
        // the row lock of ON CONFLICT orders them, and the second sees the first's lock.
        let claimed = sqlx::query_scalar!(
            r#"
            INSERT INTO checkout_requests
                (user_id, idempotency_key, request_hash, order_id, locked_until)
            VALUES ($1, $2, $3, $4, now() + $5::interval)
            ON CONFLICT (user_id, idempotency_key) DO UPDATE
                SET locked_until = EXCLUDED.locked_until
                WHERE checkout_requests.response_status IS NULL
                  AND checkout_requests.request_hash = EXCLUDED.request_hash
                  AND (checkout_requests.locked_until IS NULL
                       OR checkout_requests.locked_until < now())
            RETURNING order_id
            "#,
            user.as_uuid(),
            key,
            &request_hash[..],
            Uuid::now_v7(),
            lock_for,
        )
        .fetch_optional(&self.pool)
        .await?;
        if let Some(order) = claimed {
            return Ok(Claim::Acquired {
                order: OrderId::from_uuid(order),
            });
        }
        // Taken: say why. (The row cannot have gone since: rows are never deleted.)
        let row = sqlx::query!(
            r#"
            SELECT request_hash, response_status, response_body
            FROM checkout_requests WHERE user_id = $1 AND idempotency_key = $2
            "#,
            user.as_uuid(),
            key,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(match (row.response_status, row.response_body) {
            _ if row.request_hash != request_hash => Claim::KeyReused,
            (Some(status), Some(body)) => Claim::Finished {
                status: u16::try_from(status).map_err(invalid_row(
                    "checkout_requests",
                    user.as_uuid(),
                    "status",
                ))?,
                body,
            },
            _ => Claim::InProgress,
        })
    }
    // ANCHOR_END: claim

    /// Stores the final answer for `key`: every later request with it gets this one.
    #[instrument(skip_all, fields(user.id = %user, status), err(level = "debug"))]
    pub async fn finish(
        &self,
        user: UserId,
        key: &str,
        status: u16,
        body: &serde_json::Value,
    ) -> Result<(), DbError> {
        sqlx::query!(
            r#"
            UPDATE checkout_requests
            SET response_status = $3, response_body = $4, locked_until = NULL
            WHERE user_id = $1 AND idempotency_key = $2
            "#,
            user.as_uuid(),
            key,
            i16::try_from(status).unwrap_or(i16::MAX),
            body,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Frees `key` without an answer, for a failure worth retrying: the next request with it
    /// resumes the same order at once instead of waiting out the lock.
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn unlock(&self, user: UserId, key: &str) -> Result<(), DbError> {
        sqlx::query!(
            r#"
            UPDATE checkout_requests SET locked_until = NULL
            WHERE user_id = $1 AND idempotency_key = $2 AND response_status IS NULL
            "#,
            user.as_uuid(),
            key,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ANCHOR: place
    /// Turns the cart of `user` into order `id`, awaiting payment, at the prices the products
    /// have now; or, when `id` already exists (a resumed checkout), returns it unchanged.
    /// With `expected` set, a total that differs from it places nothing.
    #[instrument(skip_all, fields(user.id = %user, order.id = %id), err(level = "debug"))]
    pub async fn place(
        &self,
        user: UserId,
        id: OrderId,
        expected: Option<Money>,
    ) -> Result<PendingOrder, PlaceError> {
        if let Some(order) = self.pending(id).await?
            && order.customer == user
        {
            return Ok(order);
        }
        let mut tx = self.pool.begin().await?;
        let cart = read_cart(&mut *tx, user).await?;
        let gone: Vec<Sku> = (cart.lines.iter())
            .filter(|line| !line.available)
            .map(|line| line.sku.clone())
            .collect();
        if !gone.is_empty() {
            return Err(PlaceError::Unavailable(gone));
        }
        let Some(total) = cart.subtotal else {
            return Err(PlaceError::EmptyCart);
        };
        if !total.amount_minor().is_positive() {
            return Err(PlaceError::NothingToPay);
        }
        if let Some(expected) = expected
            && expected != total
        {
            return Err(PlaceError::PriceChanged {
                expected,
                current: total,
            });
        }
        sqlx::query!(
            r#"
            INSERT INTO orders (id, user_id, status, currency)
            VALUES ($1, $2, 'pending_payment', $3)
            "#,
            id.as_uuid(),
            user.as_uuid(),
            total.currency().code(),
        )
        .execute(&mut *tx)
        .await?;
        let products: Vec<Uuid> = cart.lines.iter().map(|l| l.product_id.as_uuid()).collect();
        let quantities: Vec<i32> = (cart.lines.iter())
            .map(|l| i32::from(l.quantity.get()))
            .collect();
        let prices: Vec<i64> = (cart.lines.iter())
            .map(|l| l.unit_price.amount_minor())
            .collect();
        sqlx::query!(
            r#"
            INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
            SELECT $1, * FROM UNNEST($2::uuid[], $3::int[], $4::bigint[])
            "#,
            id.as_uuid(),
            &products,
            &quantities,
            &prices,
        )
        .execute(&mut *tx)
        .await?;
        // The order and the news of it commit together (chapter 10, "The transactional
        // outbox"): no order without its event, no event for an order that was rolled back.
        let placed = OrderPlaced {
            order: id,
            customer: user,
            total,
            lines: (cart.lines.iter())
                .map(|line| PlacedLine {
                    sku: line.sku.clone(),
                    quantity: u32::from(line.quantity.get()),
                    unit_price: line.unit_price,
                })
                .collect(),
        };
        outbox::enqueue(&mut tx, &placed.envelope().map_err(encode_error)?).await?;
        tx.commit().await?;
        let mut lines: Vec<(Sku, u32)> = (cart.lines.into_iter())
            .map(|line| (line.sku, u32::from(line.quantity.get())))
            .collect();
        lines.sort();
        Ok(PendingOrder {
            id,
            customer: user,
            status: OrderStatus::PendingPayment,
            total,
            lines,
            reservation: None,
            payment_intent: None,
        })
    }
    // ANCHOR_END: place

    /// The order `id` with what the checkout and the webhooks need of it.
    #[instrument(skip_all, fields(order.id = %id), err(level = "debug"))]
    pub async fn pending(&self, id: OrderId) -> Result<Option<PendingOrder>, DbError> {
        let row = sqlx::query_as!(
            PendingRow,
            r#"
            SELECT o.id, o.user_id, o.status, o.currency, o.reservation_id, o.payment_intent_id,
                   COALESCE(SUM(i.quantity * i.unit_price_minor), 0)::bigint AS "total_minor!"
            FROM orders o
            LEFT JOIN order_items i ON i.order_id = o.id
            WHERE o.id = $1
            GROUP BY o.id
            "#,
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let lines = sqlx::query!(
            r#"
            SELECT p.sku, i.quantity
            FROM order_items i JOIN products p ON p.id = i.product_id
            WHERE i.order_id = $1
            ORDER BY p.sku
            "#,
            id.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|line| {
            let sku = Sku::parse(&line.sku).map_err(invalid_row("order_items", row.id, "sku"))?;
            let quantity = u32::try_from(line.quantity).map_err(invalid_row(
                "order_items",
                row.id,
                "quantity",
            ))?;
            Ok((sku, quantity))
        })
        .collect::<Result<Vec<_>, DbError>>()?;
        let currency =
            (row.currency.trim().parse()).map_err(invalid_row("orders", row.id, "currency"))?;
        Ok(Some(PendingOrder {
            id,
            customer: UserId::from_uuid(row.user_id),
            status: stored_status(&row.status, row.id)?,
            total: Money::from_minor(row.total_minor, currency),
            lines,
            reservation: row.reservation_id,
            payment_intent: row.payment_intent_id,
        }))
    }

    /// Links order `id` to its reservation in the inventory.
    #[instrument(skip_all, fields(order.id = %id), err(level = "debug"))]
    pub async fn set_reservation(&self, id: OrderId, reservation: Uuid) -> Result<(), DbError> {
        sqlx::query!(
            "UPDATE orders SET reservation_id = $2 WHERE id = $1",
            id.as_uuid(),
            reservation,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Links order `id` to its payment intent at the provider.
    #[instrument(skip_all, fields(order.id = %id), err(level = "debug"))]
    pub async fn set_payment_intent(&self, id: OrderId, intent: &str) -> Result<(), DbError> {
        sqlx::query!(
            "UPDATE orders SET payment_intent_id = $2 WHERE id = $1",
            id.as_uuid(),
            intent,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Takes what order `id` bought out of its customer's cart (what was added since stays).
    #[instrument(skip_all, fields(order.id = %id), err(level = "debug"))]
    pub async fn clear_bought(&self, id: OrderId) -> Result<u64, DbError> {
        let removed = sqlx::query!(
            r#"
            DELETE FROM cart_items c
            USING orders o, order_items i
            WHERE o.id = $1 AND i.order_id = o.id
              AND c.user_id = o.user_id AND c.product_id = i.product_id
            "#,
            id.as_uuid(),
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(removed)
    }

    /// Whether the payment event `event` has been handled already.
    #[instrument(skip_all, fields(event.id = event), err(level = "debug"))]
    pub async fn event_handled(&self, event: &str) -> Result<bool, DbError> {
        let seen = sqlx::query_scalar!(
            r#"SELECT EXISTS (SELECT 1 FROM payment_events WHERE event_id = $1) AS "seen!""#,
            event,
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(seen)
    }

    /// Records that the payment event `event` has had its effects. Recording it twice is the
    /// same as once.
    #[instrument(skip_all, fields(event.id = event), err(level = "debug"))]
    pub async fn event_done(&self, event: &str, kind: &str, intent: &str) -> Result<(), DbError> {
        sqlx::query!(
            r#"
            INSERT INTO payment_events (event_id, kind, intent_id) VALUES ($1, $2, $3)
            ON CONFLICT (event_id) DO NOTHING
            "#,
            event,
            kind,
            intent,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
