//! Orders (book chapter 08, "Capstone step"): a customer's own, every order for the staff, and
//! status changes through the state machine of `shop_domain::order`.
//!
//! What this module shows:
//! - ownership in the query: [`OrderRepo::get_for`] takes the user and filters by it, so
//!   another customer's order is simply not found (the HTTP layer answers 404, which does not
//!   confirm that it exists);
//! - a status change as read, decide, write in one transaction: the row is locked
//!   (`SELECT ... FOR UPDATE`), the domain's `OrderStatus::apply` decides whether the move is
//!   legal, and the update and its history row are written before the lock is released. Two
//!   admins shipping and cancelling the same order at once are serialised; the second one sees
//!   the first one's status and gets a typed [`TransitionError::Illegal`]. The change's
//!   event (`order.paid`, `order.shipped`, ...) goes to the outbox in the same transaction
//!   (chapter 10);
//! - totals computed from the lines (`SUM(quantity * unit_price_minor)`), never stored
//!   (migration 2 explains why).
//!
//! Tests: `cargo test -p shop-db --test orders` (needs PostgreSQL).

use shop_domain::order::{IllegalTransition, OrderAction, OrderStatus};
use shop_domain::{Currency, Money, OrderId, ProductId, Sku, UserId};
use shop_events::orders::StatusChanged;
use shop_events::outbox;
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, encode_error, invalid_row};

/// An order in a list: what it is worth and where it stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderSummary {
    pub id: OrderId,
    pub customer: UserId,
    pub status: OrderStatus,
    pub total: Money,
    pub item_count: i64,
    pub placed_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// One order with its lines and the history of its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderDetail {
    pub summary: OrderSummary,
    pub lines: Vec<OrderLineDetail>,
    pub history: Vec<Transition>,
}

/// A line as bought: the price is the one paid, not today's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLineDetail {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub quantity: i32,
    pub unit_price: Money,
    pub line_total: Money,
}

/// One status change, as `order_transitions` records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub seq: i32,
    pub from: OrderStatus,
    pub to: OrderStatus,
    pub action: OrderAction,
    /// The staff member who made it; `None` for the shop itself.
    pub actor: Option<UserId>,
    pub at: OffsetDateTime,
}

/// Why [`OrderRepo::transition`] changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum TransitionError {
    #[error("no order {0}")]
    NotFound(OrderId),
    #[error(transparent)]
    Illegal(#[from] IllegalTransition),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for TransitionError {
    fn from(error: sqlx::Error) -> Self {
        TransitionError::Db(DbError::Sqlx(error))
    }
}

/// Reads orders and moves them through their states. Cheap to clone.
#[derive(Debug, Clone)]
pub struct OrderRepo {
    pool: PgPool,
}

struct SummaryRow {
    id: Uuid,
    user_id: Uuid,
    status: String,
    currency: String,
    total_minor: i64,
    item_count: i64,
    placed_at: OffsetDateTime,
    updated_at: OffsetDateTime,
}

struct LineRow {
    product_id: Uuid,
    sku: String,
    name: String,
    quantity: i32,
    unit_price_minor: i64,
}

struct TransitionRow {
    seq: i32,
    from_status: String,
    to_status: String,
    action: String,
    actor_id: Option<Uuid>,
    at: OffsetDateTime,
}

/// A status as stored. `'placed'` is the spelling the seed generator still writes (migration
/// 20261202000002 explains why both are allowed): it means pending payment.
pub(crate) fn stored_status(text: &str, order: Uuid) -> Result<OrderStatus, DbError> {
    if text == "placed" {
        return Ok(OrderStatus::PendingPayment);
    }
    text.parse().map_err(invalid_row("orders", order, "status"))
}

impl OrderRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Orders newest first (ids are UUID v7, so id order is placement order), `limit` at a
    /// time after the cursor `after`; only `customer`'s when given, only `status` when given.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn list(
        &self,
        customer: Option<UserId>,
        status: Option<OrderStatus>,
        after: Option<OrderId>,
        limit: u32,
    ) -> Result<Vec<OrderSummary>, DbError> {
        // A filter on pending payment must find the legacy spelling too.
        let statuses: Option<Vec<String>> = status.map(|status| match status {
            OrderStatus::PendingPayment => vec![status.as_str().to_owned(), "placed".to_owned()],
            _ => vec![status.as_str().to_owned()],
        });
        let rows = sqlx::query_as!(
            SummaryRow,
            r#"
            SELECT o.id, o.user_id, o.status, o.currency, o.placed_at, o.updated_at,
                   COALESCE(SUM(i.quantity * i.unit_price_minor), 0)::bigint AS "total_minor!",
                   COALESCE(SUM(i.quantity), 0)::bigint AS "item_count!"
            FROM orders o
            LEFT JOIN order_items i ON i.order_id = o.id
            WHERE ($1::uuid IS NULL OR o.user_id = $1)
              AND ($2::text[] IS NULL OR o.status = ANY ($2))
              AND ($3::uuid IS NULL OR o.id < $3)
            GROUP BY o.id
            ORDER BY o.id DESC
            LIMIT $4
            "#,
            customer.map(|id| id.as_uuid()),
            statuses.as_deref(),
            after.map(|id| id.as_uuid()),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(OrderSummary::try_from).collect()
    }

    /// The order, if it belongs to `customer`; `None` for someone else's (or no such order).
    #[instrument(skip_all, fields(order.id = %id, user.id = %customer), err(level = "debug"))]
    pub async fn get_for(
        &self,
        customer: UserId,
        id: OrderId,
    ) -> Result<Option<OrderDetail>, DbError> {
        match self.get(id).await? {
            Some(order) if order.summary.customer == customer => Ok(Some(order)),
            _ => Ok(None),
        }
    }

    /// Any order, for the staff.
    #[instrument(skip_all, fields(order.id = %id), err(level = "debug"))]
    pub async fn get(&self, id: OrderId) -> Result<Option<OrderDetail>, DbError> {
        let summary = sqlx::query_as!(
            SummaryRow,
            r#"
            SELECT o.id, o.user_id, o.status, o.currency, o.placed_at, o.updated_at,
                   COALESCE(SUM(i.quantity * i.unit_price_minor), 0)::bigint AS "total_minor!",
                   COALESCE(SUM(i.quantity), 0)::bigint AS "item_count!"
            FROM orders o
            LEFT JOIN order_items i ON i.order_id = o.id
            WHERE o.id = $1
            GROUP BY o.id
            "#,
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(summary) = summary else {
            return Ok(None);
        };
        let summary = OrderSummary::try_from(summary)?;
        let lines = sqlx::query_as!(
            LineRow,
            r#"
            SELECT i.product_id, p.sku, p.name, i.quantity, i.unit_price_minor
            FROM order_items i JOIN products p ON p.id = i.product_id
            WHERE i.order_id = $1
            ORDER BY p.sku
            "#,
            id.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?;
        let currency = summary.total.currency();
        let lines = lines
            .into_iter()
            .map(|row| OrderLineDetail::from_row(row, currency))
            .collect::<Result<Vec<_>, _>>()?;
        let history = sqlx::query_as!(
            TransitionRow,
            r#"
            SELECT seq, from_status, to_status, action, actor_id, at
            FROM order_transitions WHERE order_id = $1 ORDER BY seq
            "#,
            id.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|row| Transition::from_row(row, id))
        .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(OrderDetail {
            summary,
            lines,
            history,
        }))
    }

    // ANCHOR: transition
    /// Moves the order by `action` if its state machine allows it, and records who did it.
    /// `only_for`: the customer the order must belong to (a customer cancelling their own
    /// order), or `None` for the staff and the shop itself.
    #[instrument(skip_all, fields(order.id = %id, action = action.as_str()), err(level = "debug"))]
    pub async fn transition(
        &self,
        id: OrderId,
        action: OrderAction,
        actor: Option<UserId>,
        only_for: Option<UserId>,
    ) -> Result<Transition, TransitionError> {
        let mut tx = self.pool.begin().await?;
        let current = sqlx::query!(
            "SELECT status, user_id FROM orders WHERE id = $1 FOR UPDATE",
            id.as_uuid(),
        )
        .fetch_optional(&mut *tx)
        .await?
        .filter(|row| only_for.is_none_or(|owner| row.user_id == owner.as_uuid()))
        .ok_or(TransitionError::NotFound(id))?;
        let from = stored_status(&current.status, id.as_uuid())?;
        // The one place that decides: the domain's state machine.
        let to = from.apply(action)?;
        sqlx::query!(
            "UPDATE orders SET status = $2, updated_at = now() WHERE id = $1",
            id.as_uuid(),
            to.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        let recorded = sqlx::query!(
            r#"
            INSERT INTO order_transitions (order_id, seq, from_status, to_status, action, actor_id)
            SELECT $1, COALESCE(MAX(seq), 0) + 1, $2, $3, $4, $5
            FROM order_transitions WHERE order_id = $1
            RETURNING seq, at
            "#,
            id.as_uuid(),
            from.as_str(),
            to.as_str(),
            action.as_str(),
            actor.map(|id| id.as_uuid()),
        )
        .fetch_one(&mut *tx)
        .await?;
        // Every status change is news (`order.paid`, `order.refunded`, ...), told in the
        // transaction that makes it: a rolled-back change tells nobody.
        let changed = StatusChanged {
            order: id,
            customer: UserId::from_uuid(current.user_id),
            from,
            to,
            action,
            actor,
            seq: recorded.seq,
        };
        outbox::enqueue(&mut tx, &changed.envelope().map_err(encode_error)?).await?;
        tx.commit().await?;
        Ok(Transition {
            seq: recorded.seq,
            from,
            to,
            action,
            actor,
            at: recorded.at,
        })
    }
    // ANCHOR_END: transition
}

impl TryFrom<SummaryRow> for OrderSummary {
    type Error = DbError;

    fn try_from(row: SummaryRow) -> Result<Self, Self::Error> {
        let currency: Currency =
            (row.currency.trim().parse()).map_err(invalid_row("orders", row.id, "currency"))?;
        Ok(OrderSummary {
            id: OrderId::from_uuid(row.id),
            customer: UserId::from_uuid(row.user_id),
            status: stored_status(&row.status, row.id)?,
            total: Money::from_minor(row.total_minor, currency),
            item_count: row.item_count,
            placed_at: row.placed_at,
            updated_at: row.updated_at,
        })
    }
}

impl OrderLineDetail {
    fn from_row(row: LineRow, currency: Currency) -> Result<Self, DbError> {
        let id = row.product_id;
        let unit_price = Money::from_minor(row.unit_price_minor, currency);
        Ok(OrderLineDetail {
            product_id: ProductId::from_uuid(id),
            sku: Sku::parse(&row.sku).map_err(invalid_row("products", id, "sku"))?,
            name: row.name,
            quantity: row.quantity,
            line_total: (unit_price.checked_mul(i64::from(row.quantity))).map_err(invalid_row(
                "order_items",
                id,
                "quantity",
            ))?,
            unit_price,
        })
    }
}

impl Transition {
    fn from_row(row: TransitionRow, order: OrderId) -> Result<Self, DbError> {
        let id = order.as_uuid();
        Ok(Transition {
            seq: row.seq,
            from: stored_status(&row.from_status, id)?,
            to: stored_status(&row.to_status, id)?,
            action: (row.action.parse()).map_err(invalid_row("order_transitions", id, "action"))?,
            actor: row.actor_id.map(UserId::from_uuid),
            at: row.at,
        })
    }
}
