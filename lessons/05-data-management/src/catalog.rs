//! The catalog's SQL: list a page, create, read and patch a product. Every statement that
//! writes hands the row back with `RETURNING`, so a write and the read of its result are one
//! round trip.
//!
//! What this module shows: rows come out as [`ProductRow`], the table's shape; `TryFrom` turns
//! a row into the domain [`Product`] (a row the domain rejects is an error, never a panic);
//! a page fetches one row more than it shows, to know whether there is a next page without
//! counting.
//!
//! Tests: `cargo test -p lesson-05 --test postgres` (needs PostgreSQL).

use serde::{Deserialize, Serialize};
use shop_domain::{Currency, Money, Sku};
use sqlx::PgPool;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::cursor::{Cursor, SortField};
use crate::listing::{ListQuery, PRODUCT_COLUMNS};
use crate::product::{NewProduct, Product, ProductChanges, ProductView};
use crate::sql::{Bind, SafeQuery};

/// A product row as PostgreSQL returns it (joined with its category's slug).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProductRow {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price_minor: i64,
    pub currency: String,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Why a catalog operation failed.
#[derive(Debug, Error)]
pub enum CatalogError {
    #[error("no category with slug `{0}`")]
    UnknownCategory(String),
    #[error("SKU {0} is already in use")]
    DuplicateSku(String),
    #[error("product row {id} holds an invalid {column}")]
    InvalidRow { id: Uuid, column: &'static str },
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

// ANCHOR: row_to_domain
impl TryFrom<ProductRow> for Product {
    type Error = CatalogError;

    fn try_from(row: ProductRow) -> Result<Self, Self::Error> {
        let invalid = |column| CatalogError::InvalidRow { id: row.id, column };
        let sku = Sku::parse(&row.sku).map_err(|_| invalid("sku"))?;
        let currency: Currency = row.currency.parse().map_err(|_| invalid("currency"))?;
        Ok(Product {
            id: row.id,
            sku,
            name: row.name,
            description: row.description,
            category: row.category,
            price: Money::from_minor(row.price_minor, currency),
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}
// ANCHOR_END: row_to_domain

/// One page of the listing, as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub items: Vec<ProductView>,
    /// The cursor for the next page; `None` on the last one.
    pub next: Option<String>,
}

// ANCHOR: list
/// One page of `query`.
pub async fn list(pool: &PgPool, query: &ListQuery) -> Result<Page, CatalogError> {
    let mut sql = query.to_sql();
    let rows: Vec<ProductRow> = sql.build_query_as().fetch_all(pool).await?;
    let mut products = rows
        .into_iter()
        .map(Product::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let limit = query.limit as usize;
    let next = if products.len() > limit {
        products.truncate(limit);
        products
            .last()
            .map(|last| cursor_after(query.sort, last).encode())
    } else {
        None
    };
    Ok(Page {
        items: products.into_iter().map(ProductView::from).collect(),
        next,
    })
}

/// The cursor that continues after `last` in a listing sorted by `sort`.
pub fn cursor_after(sort: SortField, last: &Product) -> Cursor {
    match sort {
        SortField::Price => Cursor::after_price(last.price.amount_minor(), last.id),
        SortField::Name => Cursor::after_name(&last.name, last.id),
        SortField::Created => Cursor::after_created(last.created_at, last.id),
    }
}
// ANCHOR_END: list

/// The product with this id, or `None`.
pub async fn get(pool: &PgPool, id: Uuid) -> Result<Option<Product>, CatalogError> {
    let mut sql = SafeQuery::new(PRODUCT_COLUMNS);
    sql.sql(" WHERE p.id = ").bind(Bind::Uuid(id));
    let row: Option<ProductRow> = sql.build_query_as().fetch_optional(pool).await?;
    row.map(Product::try_from).transpose()
}

// ANCHOR: create
/// Inserts a product and returns it as stored, in one statement: the category's id is looked
/// up by slug inside the INSERT, and RETURNING hands back what the database filled in.
pub async fn create(pool: &PgPool, new: &NewProduct) -> Result<Product, CatalogError> {
    let row: Option<ProductRow> = sqlx::query_as(
        "WITH inserted AS (
             INSERT INTO products (id, sku, name, description, category_id, price_minor, currency)
             SELECT $1, $2, $3, $4, c.id, $6, $7 FROM categories c WHERE c.slug = $5
             RETURNING *
         )
         SELECT i.id, i.sku, i.name, i.description, c.slug AS category, i.price_minor,
                i.currency, i.created_at, i.updated_at
         FROM inserted i JOIN categories c ON c.id = i.category_id",
    )
    .bind(Uuid::now_v7())
    .bind(new.sku.as_str())
    .bind(new.name.as_str())
    .bind(new.description.as_str())
    .bind(&new.category)
    .bind(new.price.minor())
    .bind(crate::product::CATALOG_CURRENCY.code())
    .fetch_optional(pool)
    .await
    .map_err(|error| match &error {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            CatalogError::DuplicateSku(new.sku.to_string())
        }
        _ => CatalogError::Database(error),
    })?;
    // No row: the SELECT found no category, so nothing was inserted.
    let row = row.ok_or_else(|| CatalogError::UnknownCategory(new.category.clone()))?;
    Product::try_from(row)
}
// ANCHOR_END: create

// ANCHOR: update
/// Applies checked changes and returns the product as it is now, or `None` if there is no
/// such product. Only the columns a change names appear in the `SET` list.
pub async fn update(
    pool: &PgPool,
    id: Uuid,
    changes: &ProductChanges,
) -> Result<Option<Product>, CatalogError> {
    if changes.is_empty() {
        // `{}` changes nothing, so it writes nothing: updated_at stays, no row is locked.
        return get(pool, id).await;
    }
    let mut sql = SafeQuery::new("WITH updated AS (UPDATE products SET updated_at = now()");
    if let Some(name) = &changes.name {
        sql.sql(", name = ")
            .bind(Bind::Text(name.as_str().to_owned()));
    }
    if let Some(description) = &changes.description {
        sql.sql(", description = ")
            .bind(Bind::Text(description.as_str().to_owned()));
    }
    if let Some(price) = changes.price {
        sql.sql(", price_minor = ").bind(Bind::Int(price.minor()));
    }
    sql.sql(" WHERE id = ").bind(Bind::Uuid(id)).sql(
        " RETURNING *) SELECT u.id, u.sku, u.name, u.description, c.slug AS category, \
         u.price_minor, u.currency, u.created_at, u.updated_at \
         FROM updated u JOIN categories c ON c.id = u.category_id",
    );
    let row: Option<ProductRow> = sql.build_query_as().fetch_optional(pool).await?;
    row.map(Product::try_from).transpose()
}
// ANCHOR_END: update
