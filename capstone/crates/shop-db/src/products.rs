//! The catalog repository: categories and products, read from PostgreSQL.
//!
//! What this module shows:
//! - compile-time-checked queries (`sqlx::query_as!`) into a private row struct that mirrors
//!   the table, and a `TryFrom` that turns the row into domain types ([`Sku`], [`Money`], typed
//!   ids), so data the domain rejects becomes [`DbError::InvalidRow`] instead of a panic;
//! - a simple, stable page: ordered by id (UUID v7, so roughly by creation), a limit, and an
//!   "after this id" cursor. Lesson 05 replaces it with full keyset pagination and filters;
//! - a recursive CTE that lists a category together with all of its subcategories.
//!
//! Lesson 05 added attributes and archiving: every read here skips archived products, and
//! search, facets and the admin's writes live in [`crate::catalog`].
//!
//! Tests: `cargo test -p shop-db --test products` (needs PostgreSQL).

use serde::Deserialize;
use shop_domain::{CategoryId, Currency, Money, ProductId, Sku};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::catalog::Attributes;
use crate::error::{DbError, invalid_row};

/// A node of the category tree (`Electronics > Audio > Headphones`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Category {
    pub id: CategoryId,
    /// `None` for a top-level category.
    pub parent_id: Option<CategoryId>,
    /// The URL name, e.g. `headphones`: lower-case words joined by `-` (the schema checks it).
    pub slug: String,
    pub name: String,
}

/// A product as the catalog sells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    /// The current price. The database stores it as `price_minor` + `currency`, exactly the two
    /// halves of [`Money`].
    pub price: Money,
    /// `{"brand": "Norda", "colour": "green"}`; empty for a product without any.
    pub attributes: Attributes,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// How many products one page holds: at least 1, at most [`PageSize::MAX`].
///
/// A type rather than a bare integer so that "the client asked for a million rows" is rejected
/// where the request is parsed (serde goes through [`PageSize::new`]), not discovered in a
/// slow query.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u32")]
pub struct PageSize(u32);

/// Why a number is not a [`PageSize`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a page holds between 1 and {max} items, not {0}", max = PageSize::MAX.get())]
pub struct PageSizeError(pub u32);

impl PageSize {
    /// The largest page a client may ask for.
    pub const MAX: PageSize = PageSize(100);
    /// The page size when the client does not say.
    pub const DEFAULT: PageSize = PageSize(20);

    pub fn new(size: u32) -> Result<Self, PageSizeError> {
        if (1..=Self::MAX.0).contains(&size) {
            Ok(Self(size))
        } else {
            Err(PageSizeError(size))
        }
    }

    pub const fn get(self) -> u32 {
        self.0
    }
}

impl Default for PageSize {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl TryFrom<u32> for PageSize {
    type Error = PageSizeError;

    fn try_from(size: u32) -> Result<Self, Self::Error> {
        Self::new(size)
    }
}

/// One page of products and the cursor of the next one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductPage {
    pub products: Vec<Product>,
    /// Pass this as `after` to get the next page; `None` on the last page.
    pub next_after: Option<ProductId>,
}

impl ProductPage {
    /// Builds a page from up to `size + 1` rows: the extra row, when present, only proves that
    /// another page exists, so it is dropped and the last kept id becomes the cursor. One query
    /// answers both "what is on this page" and "is there more", without a `COUNT(*)`. Every
    /// row goes through the domain types first; one they reject fails the whole page.
    fn from_rows(rows: Vec<ProductRow>, size: PageSize) -> Result<Self, DbError> {
        let mut products = rows
            .into_iter()
            .map(Product::try_from)
            .collect::<Result<Vec<_>, _>>()?;
        let size = size.get() as usize;
        let next_after = if products.len() > size {
            products.truncate(size);
            products.last().map(|product| product.id)
        } else {
            None
        };
        Ok(Self {
            products,
            next_after,
        })
    }
}

/// Reads and (see [`crate::catalog`]) writes the catalog. Cheap to clone: it holds the pool,
/// which is itself a shared handle.
#[derive(Debug, Clone)]
pub struct ProductRepo {
    pub(crate) pool: PgPool,
}

// The columns exactly as PostgreSQL returns them. `query_as!` checks at compile time that the
// SELECT list matches these names and types; the domain conversion happens after, in Rust.
// `FromRow` serves the search, whose SQL is built at run time (see `catalog::search`).
#[derive(sqlx::FromRow)]
pub(crate) struct ProductRow {
    pub(crate) id: Uuid,
    pub(crate) sku: String,
    pub(crate) name: String,
    pub(crate) description: String,
    pub(crate) category_id: Uuid,
    pub(crate) price_minor: i64,
    pub(crate) currency: String,
    pub(crate) attributes: serde_json::Value,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

impl TryFrom<ProductRow> for Product {
    type Error = DbError;

    fn try_from(row: ProductRow) -> Result<Self, Self::Error> {
        let sku = Sku::parse(&row.sku).map_err(invalid_row("products", row.id, "sku"))?;
        let currency: Currency = row
            .currency
            .parse()
            .map_err(invalid_row("products", row.id, "currency"))?;
        let attributes = Attributes::from_json(row.attributes).map_err(invalid_row(
            "products",
            row.id,
            "attributes",
        ))?;
        Ok(Product {
            id: ProductId::from_uuid(row.id),
            sku,
            name: row.name,
            description: row.description,
            category_id: CategoryId::from_uuid(row.category_id),
            price: Money::from_minor(row.price_minor, currency),
            attributes,
            created_at: row.created_at,
            updated_at: row.updated_at,
        })
    }
}

struct CategoryRow {
    id: Uuid,
    parent_id: Option<Uuid>,
    slug: String,
    name: String,
}

impl From<CategoryRow> for Category {
    fn from(row: CategoryRow) -> Self {
        Category {
            id: CategoryId::from_uuid(row.id),
            parent_id: row.parent_id.map(CategoryId::from_uuid),
            slug: row.slug,
            name: row.name,
        }
    }
}

impl ProductRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    // ANCHOR: get_product
    /// The product with this id, or `None` (also for an archived one: it is not for sale).
    #[instrument(skip_all, fields(product.id = %id), err(level = "debug"))]
    pub async fn get(&self, id: ProductId) -> Result<Option<Product>, DbError> {
        let row = sqlx::query_as!(
            ProductRow,
            r#"
            SELECT id, sku, name, description, category_id, price_minor, currency,
                   attributes, created_at, updated_at
            FROM products
            WHERE id = $1 AND archived_at IS NULL
            "#,
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(Product::try_from).transpose()
    }
    // ANCHOR_END: get_product

    /// A page of all products in id order, starting after `after` (from the first when `None`).
    ///
    /// "After the cursor, or from the start" is `id > COALESCE($1, <the nil UUID>)`: the nil
    /// UUID sorts before every other, and the condition stays a plain index range scan. The
    /// tempting `($1 IS NULL OR id > $1)` can make PostgreSQL scan the whole table once it
    /// switches the prepared statement to a generic plan.
    #[instrument(skip_all, fields(after = ?after, size = size.get()), err(level = "debug"))]
    pub async fn list(
        &self,
        after: Option<ProductId>,
        size: PageSize,
    ) -> Result<ProductPage, DbError> {
        let rows = sqlx::query_as!(
            ProductRow,
            r#"
            SELECT id, sku, name, description, category_id, price_minor, currency,
                   attributes, created_at, updated_at
            FROM products
            WHERE id > COALESCE($1::uuid, '00000000-0000-0000-0000-000000000000')
              AND archived_at IS NULL
            ORDER BY id
            LIMIT $2
            "#,
            after.map(|id| id.as_uuid()),
            i64::from(size.get()) + 1,
        )
        .fetch_all(&self.pool)
        .await?;
        ProductPage::from_rows(rows, size)
    }

    /// A page of the products in `category` and in all of its subcategories, in id order.
    #[instrument(skip_all, fields(category.id = %category, after = ?after, size = size.get()), err(level = "debug"))]
    pub async fn list_in_category(
        &self,
        category: CategoryId,
        after: Option<ProductId>,
        size: PageSize,
    ) -> Result<ProductPage, DbError> {
        // The recursive CTE walks the tree downwards: start with the category itself, then
        // repeatedly add the children of what was found, until a round adds nothing.
        let rows = sqlx::query_as!(
            ProductRow,
            r#"
            WITH RECURSIVE subtree (id) AS (
                SELECT id FROM categories WHERE id = $1
                UNION ALL
                SELECT child.id FROM categories child JOIN subtree ON child.parent_id = subtree.id
            )
            SELECT id, sku, name, description, category_id, price_minor, currency,
                   attributes, created_at, updated_at
            FROM products
            WHERE category_id IN (SELECT id FROM subtree)
              AND archived_at IS NULL
              AND id > COALESCE($2::uuid, '00000000-0000-0000-0000-000000000000')
            ORDER BY id
            LIMIT $3
            "#,
            category.as_uuid(),
            after.map(|id| id.as_uuid()),
            i64::from(size.get()) + 1,
        )
        .fetch_all(&self.pool)
        .await?;
        ProductPage::from_rows(rows, size)
    }

    /// Every category, ordered by slug. The tree is in the `parent_id`s; clients that want to
    /// draw it build it from this flat list, which is one cheap query.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn categories(&self) -> Result<Vec<Category>, DbError> {
        let rows = sqlx::query_as!(
            CategoryRow,
            "SELECT id, parent_id, slug, name FROM categories ORDER BY slug"
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(Category::from).collect())
    }

    /// The category with this slug, or `None`.
    #[instrument(skip_all, fields(category.slug = slug), err(level = "debug"))]
    pub async fn category_by_slug(&self, slug: &str) -> Result<Option<Category>, DbError> {
        let row = sqlx::query_as!(
            CategoryRow,
            "SELECT id, parent_id, slug, name FROM categories WHERE slug = $1",
            slug,
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.map(Category::from))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_accepts_one_to_max() {
        assert_eq!(PageSize::new(1).unwrap().get(), 1);
        assert_eq!(PageSize::new(100).unwrap(), PageSize::MAX);
        assert_eq!(PageSize::new(0), Err(PageSizeError(0)));
        assert_eq!(PageSize::new(101), Err(PageSizeError(101)));
    }

    fn row(n: u128) -> ProductRow {
        ProductRow {
            id: Uuid::from_u128(n),
            sku: format!("SKU-{n}"),
            name: format!("Product {n}"),
            description: String::new(),
            category_id: Uuid::from_u128(1),
            price_minor: 100,
            currency: "EUR".to_owned(),
            attributes: serde_json::json!({}),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn an_extra_row_means_another_page_after_the_last_kept_id() {
        let size = PageSize::new(2).unwrap();
        let page = ProductPage::from_rows(vec![row(1), row(2), row(3)], size).unwrap();
        assert_eq!(page.products.len(), 2);
        assert_eq!(
            page.next_after,
            Some(ProductId::from_uuid(Uuid::from_u128(2)))
        );
    }

    #[test]
    fn no_extra_row_means_the_last_page() {
        let size = PageSize::new(2).unwrap();
        let page = ProductPage::from_rows(vec![row(1), row(2)], size).unwrap();
        assert_eq!(page.products.len(), 2);
        assert_eq!(page.next_after, None);
    }

    #[test]
    fn a_row_the_domain_rejects_fails_the_page_instead_of_panicking() {
        let mut bad = row(2);
        bad.currency = "XXX".to_owned();
        let size = PageSize::new(5).unwrap();
        let error = ProductPage::from_rows(vec![row(1), bad], size).unwrap_err();
        assert!(matches!(error, DbError::InvalidRow { .. }), "{error:?}");
    }

    #[test]
    fn page_size_error_says_the_bounds() {
        assert_eq!(
            PageSizeError(500).to_string(),
            "a page holds between 1 and 100 items, not 500"
        );
    }
}
