//! A signed-in customer's cart (book chapter 08, "Capstone step"): lines of product and
//! quantity, read back with the catalog's current prices.
//!
//! What this module shows:
//! - a cart stores intentions, not prices: [`CartRepo::get`] joins each line to the product as
//!   it is now, so a price change or an archived product shows up in the cart at once, and the
//!   checkout re-reads the same way before it charges anything;
//! - "set the quantity" rather than "add one": `PUT /cart/items/{id}` with a quantity is
//!   idempotent, so a client that retries after a lost response cannot end up with two
//!   lanterns instead of one. An upsert (`INSERT ... ON CONFLICT DO UPDATE`) does it in one
//!   statement;
//! - one currency per cart, checked in the same statement that writes the line, so there is no
//!   window between a check and a write for a second request to slip through.
//!
//! Tests: `cargo test -p shop-db --test carts` (needs PostgreSQL).

use std::num::NonZeroU8;

use shop_domain::{Currency, Money, ProductId, Sku, UserId};
use sqlx::PgPool;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, invalid_row};

/// How many units of one product a cart line holds: 1 to [`Quantity::MAX`] (the schema's
/// CHECK says the same, so no code path can store another number).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Quantity(NonZeroU8);

/// Why a number is not a [`Quantity`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a cart line holds 1 to {max} units, not {0}", max = Quantity::MAX)]
pub struct QuantityError(pub i64);

impl Quantity {
    pub const MAX: u8 = 99;

    pub fn new(units: i64) -> Result<Self, QuantityError> {
        u8::try_from(units)
            .ok()
            .filter(|units| *units <= Self::MAX)
            .and_then(NonZeroU8::new)
            .map(Quantity)
            .ok_or(QuantityError(units))
    }

    pub fn get(self) -> u8 {
        self.0.get()
    }
}

/// One line of a cart, priced as the catalog prices it now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CartLine {
    pub product_id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub quantity: Quantity,
    pub unit_price: Money,
    /// `unit_price × quantity`.
    pub line_total: Money,
    /// False once the product is archived: the line stays visible (the customer wanted it) but
    /// the checkout refuses it until it is removed.
    pub available: bool,
}

/// A customer's cart: its lines, oldest first, and the total of those still for sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cart {
    pub lines: Vec<CartLine>,
    /// `None` for an empty cart (a total needs a currency).
    pub subtotal: Option<Money>,
}

/// What [`CartRepo::set_quantity`] can refuse, beside the database failing.
#[derive(Debug, thiserror::Error)]
pub enum CartError {
    /// No product for sale has this id (unknown or archived).
    #[error("no product {0} is for sale")]
    UnknownProduct(ProductId),
    /// The cart already holds products priced in another currency.
    #[error("the cart is in {cart}; this product is priced in {product}")]
    CurrencyMismatch { cart: Currency, product: Currency },
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<sqlx::Error> for CartError {
    fn from(error: sqlx::Error) -> Self {
        CartError::Db(DbError::Sqlx(error))
    }
}

/// Reads and writes carts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct CartRepo {
    pool: PgPool,
}

struct LineRow {
    product_id: Uuid,
    sku: String,
    name: String,
    quantity: i32,
    price_minor: i64,
    currency: String,
    archived: bool,
}

impl CartRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// The cart of `user`, oldest line first; an empty cart when there is none.
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn get(&self, user: UserId) -> Result<Cart, DbError> {
        read_cart(&self.pool, user).await
    }

    // ANCHOR: set_quantity
    /// Sets how many units of `product` the cart holds, adding the line if it is new. Setting
    /// the same quantity twice is the same as once.
    #[instrument(skip_all, fields(user.id = %user, product.id = %product), err(level = "debug"))]
    pub async fn set_quantity(
        &self,
        user: UserId,
        product: ProductId,
        quantity: Quantity,
    ) -> Result<(), CartError> {
        // One statement: the product must be for sale, and no line of the cart may be priced
        // in another currency. Checking first and writing after would leave a gap in which a
        // concurrent request could add a product in the other currency.
        let written = sqlx::query!(
            r#"
            INSERT INTO cart_items (user_id, product_id, quantity)
            SELECT $1, p.id, $3
            FROM products p
            WHERE p.id = $2 AND p.archived_at IS NULL
              AND NOT EXISTS (
                  SELECT 1 FROM cart_items c JOIN products o ON o.id = c.product_id
                  WHERE c.user_id = $1 AND c.product_id <> $2 AND o.currency <> p.currency)
            ON CONFLICT (user_id, product_id)
            DO UPDATE SET quantity = EXCLUDED.quantity, updated_at = now()
            "#,
            user.as_uuid(),
            product.as_uuid(),
            i32::from(quantity.get()),
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        if written == 1 {
            return Ok(());
        }
        Err(self.why_not_written(user, product).await?)
    }
    // ANCHOR_END: set_quantity

    /// Nothing was written: find out which rule refused it, for the error. (Reads after the
    /// fact, so a racing change can make the answer stale; the write itself was refused
    /// atomically, which is what matters.)
    async fn why_not_written(
        &self,
        user: UserId,
        product: ProductId,
    ) -> Result<CartError, DbError> {
        let Some(product_currency) = sqlx::query_scalar!(
            "SELECT currency FROM products WHERE id = $1 AND archived_at IS NULL",
            product.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(CartError::UnknownProduct(product));
        };
        let cart_currency = sqlx::query_scalar!(
            r#"
            SELECT p.currency FROM cart_items c JOIN products p ON p.id = c.product_id
            WHERE c.user_id = $1 AND p.currency <> $2 LIMIT 1
            "#,
            user.as_uuid(),
            product_currency,
        )
        .fetch_optional(&self.pool)
        .await?;
        let parse = |code: &str, id: Uuid| {
            code.parse::<Currency>()
                .map_err(invalid_row("products", id, "currency"))
        };
        match cart_currency {
            Some(cart) => Ok(CartError::CurrencyMismatch {
                cart: parse(&cart, product.as_uuid())?,
                product: parse(&product_currency, product.as_uuid())?,
            }),
            // The conflicting line was removed in between: the caller may simply try again.
            None => Ok(CartError::UnknownProduct(product)),
        }
    }

    /// Removes `product` from the cart; `false` if it was not there.
    #[instrument(skip_all, fields(user.id = %user, product.id = %product), err(level = "debug"))]
    pub async fn remove(&self, user: UserId, product: ProductId) -> Result<bool, DbError> {
        let removed = sqlx::query!(
            "DELETE FROM cart_items WHERE user_id = $1 AND product_id = $2",
            user.as_uuid(),
            product.as_uuid(),
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(removed == 1)
    }

    // ANCHOR: merge
    /// Adds a guest's cart to `user`'s at sign-in (chapter 09): a product in both carts gets
    /// the sum of the quantities, at most [`Quantity::MAX`]; a product no longer for sale, or
    /// priced in another currency than the user's cart, is left out. Returns how many lines
    /// were added or raised. One statement, like [`CartRepo::set_quantity`], so the currency
    /// rule holds against concurrent writes too.
    #[instrument(skip_all, fields(user.id = %user, lines = lines.len()), err(level = "debug"))]
    pub async fn merge(
        &self,
        user: UserId,
        lines: &[(ProductId, Quantity)],
    ) -> Result<u64, DbError> {
        // One row per product: an upsert may not touch the same row twice in one statement.
        let mut summed = std::collections::BTreeMap::<Uuid, i32>::new();
        for (id, quantity) in lines {
            *summed.entry(id.as_uuid()).or_default() += i32::from(quantity.get());
        }
        let products: Vec<Uuid> = summed.keys().copied().collect();
        let quantities: Vec<i32> = summed
            .values()
            .map(|q| (*q).min(i32::from(Quantity::MAX)))
            .collect();
        let merged = sqlx::query!(
            r#"
            WITH cart_currency AS (
                SELECT p.currency FROM cart_items c JOIN products p ON p.id = c.product_id
                WHERE c.user_id = $1 LIMIT 1
            )
            INSERT INTO cart_items (user_id, product_id, quantity)
            SELECT $1, p.id, g.quantity
            FROM UNNEST($2::uuid[], $3::int4[]) AS g (product_id, quantity)
            JOIN products p ON p.id = g.product_id AND p.archived_at IS NULL
            WHERE NOT EXISTS (SELECT 1 FROM cart_currency cc WHERE cc.currency <> p.currency)
            ON CONFLICT (user_id, product_id)
            DO UPDATE SET quantity = LEAST(cart_items.quantity + EXCLUDED.quantity, $4),
                          updated_at = now()
            "#,
            user.as_uuid(),
            &products,
            &quantities,
            i32::from(Quantity::MAX),
        )
        .execute(&self.pool)
        .await?
        .rows_affected();
        Ok(merged)
    }
    // ANCHOR_END: merge

    /// Prices lines kept outside this table, a guest's cart in Redis (chapter 09), the way
    /// [`CartRepo::get`] prices a user's: the catalog's price now, archived products marked
    /// unavailable. Lines come back in the order given; a product the catalog does not know
    /// is left out, and a product listed twice keeps its first quantity.
    #[instrument(skip_all, fields(lines = lines.len()), err(level = "debug"))]
    pub async fn price(&self, lines: &[(ProductId, Quantity)]) -> Result<Cart, DbError> {
        let ids: Vec<Uuid> = lines.iter().map(|(id, _)| id.as_uuid()).collect();
        let products = sqlx::query!(
            r#"
            SELECT id, sku, name, price_minor, currency,
                   (archived_at IS NOT NULL) AS "archived!"
            FROM products WHERE id = ANY($1)
            "#,
            &ids,
        )
        .fetch_all(&self.pool)
        .await?;
        let mut by_id: std::collections::HashMap<Uuid, _> =
            products.into_iter().map(|row| (row.id, row)).collect();
        let mut priced = Vec::with_capacity(lines.len());
        for (id, quantity) in lines {
            let Some(row) = by_id.remove(&id.as_uuid()) else {
                continue;
            };
            priced.push(CartLine::try_from(LineRow {
                product_id: row.id,
                sku: row.sku,
                name: row.name,
                quantity: i32::from(quantity.get()),
                price_minor: row.price_minor,
                currency: row.currency,
                archived: row.archived,
            })?);
        }
        Cart::of(Uuid::nil(), priced)
    }

    /// Empties the cart; returns how many lines it had.
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn clear(&self, user: UserId) -> Result<u64, DbError> {
        let removed = sqlx::query!("DELETE FROM cart_items WHERE user_id = $1", user.as_uuid())
            .execute(&self.pool)
            .await?
            .rows_affected();
        Ok(removed)
    }
}

/// The cart of `user` through `executor`: the pool for `GET /cart`, the checkout's transaction
/// when it turns the cart into an order.
pub(crate) async fn read_cart(
    executor: impl sqlx::PgExecutor<'_>,
    user: UserId,
) -> Result<Cart, DbError> {
    let rows = sqlx::query_as!(
        LineRow,
        r#"
        SELECT c.product_id, p.sku, p.name, c.quantity, p.price_minor, p.currency,
               (p.archived_at IS NOT NULL) AS "archived!"
        FROM cart_items c
        JOIN products p ON p.id = c.product_id
        WHERE c.user_id = $1
        ORDER BY c.added_at, c.product_id
        "#,
        user.as_uuid(),
    )
    .fetch_all(executor)
    .await?;
    let lines = rows
        .into_iter()
        .map(CartLine::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    Cart::of(user.as_uuid(), lines)
}

impl TryFrom<LineRow> for CartLine {
    type Error = DbError;

    fn try_from(row: LineRow) -> Result<Self, Self::Error> {
        let id = row.product_id;
        let sku = Sku::parse(&row.sku).map_err(invalid_row("products", id, "sku"))?;
        let currency: Currency =
            (row.currency.parse()).map_err(invalid_row("products", id, "currency"))?;
        let quantity = Quantity::new(i64::from(row.quantity)).map_err(invalid_row(
            "cart_items",
            id,
            "quantity",
        ))?;
        let unit_price = Money::from_minor(row.price_minor, currency);
        let line_total = unit_price
            .checked_mul(i64::from(quantity.get()))
            .map_err(invalid_row("products", id, "price_minor"))?;
        Ok(CartLine {
            product_id: ProductId::from_uuid(row.product_id),
            sku,
            name: row.name,
            quantity,
            unit_price,
            line_total,
            available: !row.archived,
        })
    }
}

impl Cart {
    /// The subtotal counts the lines still for sale. Every line shares one currency
    /// ([`CartRepo::set_quantity`] keeps it so); a mixed or overflowing total is bad data and
    /// an error, never a wrapped or partial number.
    /// `owner` names the cart in an error: the user, or nil for a guest's.
    fn of(owner: Uuid, lines: Vec<CartLine>) -> Result<Self, DbError> {
        let for_sale = || lines.iter().filter(|line| line.available);
        let subtotal = match for_sale().next() {
            None => None,
            Some(first) => Some(
                Money::sum(
                    first.unit_price.currency(),
                    for_sale().map(|line| line.line_total),
                )
                .map_err(invalid_row("cart_items", owner, "currency"))?,
            ),
        };
        Ok(Cart { lines, subtotal })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quantity_is_exactly_one_to_ninety_nine() {
        // Every interesting value, exhaustively: the bounds, their neighbours, and what a
        // careless cast would wrap (256 becomes 0 as a u8, 355 becomes 99).
        for units in -1_000..=1_000 {
            let quantity = Quantity::new(units);
            assert_eq!(quantity.is_ok(), (1..=99).contains(&units), "{units}");
            if let Ok(quantity) = quantity {
                assert_eq!(i64::from(quantity.get()), units);
            }
        }
        assert!(Quantity::new(i64::MAX).is_err());
    }
}
