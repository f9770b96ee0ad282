//! The catalog's writes, for admins: create, change (PATCH), archive, and import in bulk.
//!
//! What this module shows:
//! - `INSERT ... SELECT ... FROM categories WHERE slug = $n RETURNING ...`: the category is
//!   named by slug, resolved in the same statement, and the stored row comes back without a
//!   second query;
//! - PATCH as read, change, write inside one transaction, with the row locked (`FOR UPDATE`)
//!   so two admins' edits cannot interleave; the change itself ([`ProductChanges::apply`]) is
//!   plain Rust on a [`Product`], testable without a database;
//! - archive instead of delete: orders keep pointing at the product;
//! - bulk upsert: one `INSERT ... SELECT FROM UNNEST(...) ON CONFLICT (sku) DO UPDATE ...
//!   RETURNING` for a whole import, which reports what it inserted, updated and left alone.
//!
//! Tests: unit tests below; `tests/catalog.rs` (PostgreSQL); shop-api's
//! `tests/api/admin_products.rs` (HTTP, with the roles).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use shop_domain::{Money, ProductId, Sku};
use thiserror::Error;
use tracing::instrument;
use uuid::Uuid;

use super::attributes::{AttributeError, AttributeName, AttributeValue, Attributes};
use super::search::CategorySlug;
use crate::error::DbError;
use crate::products::{Product, ProductRepo, ProductRow};

/// The unique index on `products (sku)`, named by the first migration's `UNIQUE`.
const SKU_UNIQUE_INDEX: &str = "products_sku_key";

/// A product's name: trimmed, 1 to 200 characters (the schema's CHECK), one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

/// A description: trimmed, at most 2,000 characters; line breaks and tabs are fine, other
/// control characters are not. Empty is allowed (and is what "no description" means).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Description(String);

/// Why a name or a description was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    #[error("must not be empty")]
    Empty,
    #[error("is at most {0} characters")]
    TooLong(usize),
    #[error("must not contain control characters")]
    Control,
}

impl ProductName {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(name: &str) -> Result<Self, TextError> {
        let name = name.trim();
        if name.is_empty() {
            Err(TextError::Empty)
        } else if name.chars().count() > Self::MAX_CHARS {
            Err(TextError::TooLong(Self::MAX_CHARS))
        } else if name.chars().any(char::is_control) {
            Err(TextError::Control)
        } else {
            Ok(Self(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Description {
    pub const MAX_CHARS: usize = 2_000;

    pub fn parse(text: &str) -> Result<Self, TextError> {
        let text = text.trim();
        if text.chars().count() > Self::MAX_CHARS {
            Err(TextError::TooLong(Self::MAX_CHARS))
        } else if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            Err(TextError::Control)
        } else {
            Ok(Self(text.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

// ANCHOR: new_product
/// A product to create or import: every field already parsed. The price is not negative
/// (the HTTP layer checks; the schema's CHECK would refuse it anyway).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    pub category: CategorySlug,
    pub price: Money,
    pub attributes: Attributes,
}
// ANCHOR_END: new_product

// ANCHOR: changes
/// What a PATCH changes. `None` means "leave it": the field was absent from the request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    /// `Some(Description::default())` clears it: what `"description": null` asks for.
    pub description: Option<Description>,
    pub category: Option<CategorySlug>,
    pub price: Option<Money>,
    pub attributes: AttributesChange,
}

/// How a PATCH changes the attributes, after JSON Merge Patch (RFC 7396).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum AttributesChange {
    /// `attributes` absent: unchanged.
    #[default]
    Keep,
    /// `"attributes": null`: remove them all.
    Clear,
    /// `"attributes": {"colour": "red", "size": null}`: set colour, remove size, keep the rest.
    Merge(BTreeMap<AttributeName, Option<AttributeValue>>),
}

impl ProductChanges {
    /// True when the PATCH asks for nothing (`{}`): no write, no new `updated_at`.
    pub fn is_empty(&self) -> bool {
        self == &ProductChanges::default()
    }

    /// Applies everything but the category (which needs the database to resolve its slug).
    /// Fails only when the merged attributes would exceed [`Attributes::MAX_LEN`].
    pub fn apply(&self, product: &mut Product) -> Result<(), AttributeError> {
        if let Some(name) = &self.name {
            product.name = name.as_str().to_owned();
        }
        if let Some(description) = &self.description {
            product.description = description.as_str().to_owned();
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        product.attributes = match &self.attributes {
            AttributesChange::Keep => return Ok(()),
            AttributesChange::Clear => Attributes::default(),
            AttributesChange::Merge(merge) => {
                let mut merged: BTreeMap<_, _> = product
                    .attributes
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect();
                for (name, value) in merge {
                    match value {
                        Some(value) => merged.insert(name.clone(), value.clone()),
                        None => merged.remove(name),
                    };
                }
                Attributes::new(merged)?
            }
        };
        Ok(())
    }
}
// ANCHOR_END: changes

/// What an import did, counted by the database.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImportReport {
    /// SKUs that were new.
    pub inserted: u64,
    /// SKUs that existed and differed (or were archived, and are for sale again).
    pub updated: u64,
    /// SKUs that existed with exactly these values: not written at all.
    pub unchanged: u64,
    /// The products inserted or updated: what a cache of products must forget (chapter 09).
    pub written: Vec<ProductId>,
}

/// Maps a unique violation on the SKU index to [`DbError::SkuTaken`].
fn sku_taken(sku: &Sku) -> impl FnOnce(sqlx::Error) -> DbError + '_ {
    move |error| match &error {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some(SKU_UNIQUE_INDEX) =>
        {
            DbError::SkuTaken(sku.clone())
        }
        _ => DbError::Sqlx(error),
    }
}

impl ProductRepo {
    // ANCHOR: create
    /// Creates a product. [`DbError::SkuTaken`] when the SKU exists (archived products keep
    /// theirs), [`DbError::UnknownCategories`] when no category has the slug.
    #[instrument(skip_all, fields(sku = %new.sku), err(level = "debug"))]
    pub async fn create(&self, new: &NewProduct) -> Result<Product, DbError> {
        // No category row, no SELECT row, nothing inserted, no row returned: an unknown slug
        // is `None` here without a separate lookup or a foreign-key error to decode.
        let row = sqlx::query_as!(
            ProductRow,
            r#"
            INSERT INTO products
                (id, sku, name, description, category_id, price_minor, currency, attributes)
            SELECT $1, $2, $3, $4, c.id, $6, $7, $8
            FROM categories c
            WHERE c.slug = $5
            RETURNING id, sku, name, description, category_id, price_minor, currency,
                      attributes, created_at, updated_at
            "#,
            ProductId::generate().as_uuid(),
            new.sku.as_str(),
            new.name.as_str(),
            new.description.as_str(),
            new.category.as_str(),
            new.price.amount_minor(),
            new.price.currency().code() as &str,
            new.attributes.to_json(),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(sku_taken(&new.sku))?;
        let row =
            row.ok_or_else(|| DbError::UnknownCategories(vec![new.category.as_str().to_owned()]))?;
        Product::try_from(row)
    }
    // ANCHOR_END: create

    // ANCHOR: update
    /// Applies a PATCH. `Ok(None)` when there is no such (unarchived) product.
    #[instrument(skip_all, fields(product.id = %id), err(level = "debug"))]
    pub async fn update(
        &self,
        id: ProductId,
        changes: &ProductChanges,
    ) -> Result<Option<Product>, DbError> {
        let mut tx = self.pool.begin().await?;
        // FOR UPDATE: another admin's PATCH of this product waits here until we commit, so
        // neither overwrites the other's change with a stale copy.
        let row = sqlx::query_as!(
            ProductRow,
            r#"
            SELECT id, sku, name, description, category_id, price_minor, currency,
                   attributes, created_at, updated_at
            FROM products
            WHERE id = $1 AND archived_at IS NULL
            FOR UPDATE
            "#,
            id.as_uuid(),
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let mut product = Product::try_from(row)?;
        if changes.is_empty() {
            return Ok(Some(product));
        }
        if let Some(slug) = &changes.category {
            let category =
                sqlx::query_scalar!("SELECT id FROM categories WHERE slug = $1", slug.as_str())
                    .fetch_optional(&mut *tx)
                    .await?
                    .ok_or_else(|| DbError::UnknownCategories(vec![slug.as_str().to_owned()]))?;
            product.category_id = shop_domain::CategoryId::from_uuid(category);
        }
        changes.apply(&mut product).map_err(DbError::Attributes)?;

        let row = sqlx::query_as!(
            ProductRow,
            r#"
            UPDATE products
            SET name = $2, description = $3, category_id = $4, price_minor = $5,
                currency = $6, attributes = $7, updated_at = now()
            WHERE id = $1
            RETURNING id, sku, name, description, category_id, price_minor, currency,
                      attributes, created_at, updated_at
            "#,
            id.as_uuid(),
            product.name,
            product.description,
            product.category_id.as_uuid(),
            product.price.amount_minor(),
            product.price.currency().code() as &str,
            product.attributes.to_json(),
        )
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Product::try_from(row).map(Some)
    }
    // ANCHOR_END: update

    /// Archives a product: it disappears from every listing and search and cannot be
    /// changed, while the orders that bought it keep pointing at it. `false` when there was
    /// no such unarchived product.
    #[instrument(skip_all, fields(product.id = %id), err(level = "debug"))]
    pub async fn archive(&self, id: ProductId) -> Result<bool, DbError> {
        let done = sqlx::query!(
            "UPDATE products SET archived_at = now(), updated_at = now()
             WHERE id = $1 AND archived_at IS NULL",
            id.as_uuid(),
        )
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    // ANCHOR: import
    /// Inserts or updates every product by SKU, in one transaction and one upsert statement.
    ///
    /// Fails, writing nothing, with [`DbError::DuplicateSku`] when a SKU appears twice (one
    /// statement may not update a row twice) and [`DbError::UnknownCategories`] when a slug
    /// names no category.
    #[instrument(skip_all, fields(products = products.len()), err(level = "debug"))]
    pub async fn import(&self, products: &[NewProduct]) -> Result<ImportReport, DbError> {
        let mut seen = BTreeSet::new();
        if let Some(twice) = products.iter().find(|p| !seen.insert(&p.sku)) {
            return Err(DbError::DuplicateSku(twice.sku.clone()));
        }
        let mut tx = self.pool.begin().await?;

        // Slugs to ids once, for the whole batch; any slug left over names nothing.
        let slugs: Vec<&str> = products.iter().map(|p| p.category.as_str()).collect();
        let categories: HashMap<String, Uuid> = sqlx::query!(
            "SELECT slug, id FROM categories WHERE slug = ANY($1)",
            &slugs as &[&str],
        )
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .map(|row| (row.slug, row.id))
        .collect();
        let unknown: BTreeSet<&str> = slugs
            .iter()
            .copied()
            .filter(|slug| !categories.contains_key(*slug))
            .collect();
        if !unknown.is_empty() {
            return Err(DbError::UnknownCategories(
                unknown.into_iter().map(str::to_owned).collect(),
            ));
        }

        let ids: Vec<Uuid> = products
            .iter()
            .map(|_| ProductId::generate().as_uuid())
            .collect();
        let skus: Vec<&str> = products.iter().map(|p| p.sku.as_str()).collect();
        let names: Vec<&str> = products.iter().map(|p| p.name.as_str()).collect();
        let descriptions: Vec<&str> = products.iter().map(|p| p.description.as_str()).collect();
        let category_ids: Vec<Uuid> = products
            .iter()
            .map(|p| categories[p.category.as_str()])
            .collect();
        let prices: Vec<i64> = products.iter().map(|p| p.price.amount_minor()).collect();
        let currencies: Vec<&str> = products.iter().map(|p| p.price.currency().code()).collect();
        let attributes: Vec<serde_json::Value> =
            products.iter().map(|p| p.attributes.to_json()).collect();

        // ON CONFLICT (sku) DO UPDATE turns "insert" into "insert or update" atomically: no
        // SELECT-then-INSERT race with a concurrent import. The WHERE skips rows whose values
        // are already these, so an unchanged product keeps its updated_at and costs no new
        // row version. RETURNING yields one row per insert or update; `xmax = 0` tells them
        // apart (a fresh row has no deleting transaction yet; an updated one does): a
        // PostgreSQL implementation detail, documented here because nothing else says it.
        let written = sqlx::query!(
            r#"
            INSERT INTO products AS p
                (id, sku, name, description, category_id, price_minor, currency, attributes)
            SELECT * FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::uuid[],
                                 $6::bigint[], $7::text[], $8::jsonb[])
            ON CONFLICT (sku) DO UPDATE
            SET name = EXCLUDED.name, description = EXCLUDED.description,
                category_id = EXCLUDED.category_id, price_minor = EXCLUDED.price_minor,
                currency = EXCLUDED.currency, attributes = EXCLUDED.attributes,
                archived_at = NULL, updated_at = now()
            WHERE (p.name, p.description, p.category_id, p.price_minor, p.currency,
                   p.attributes, p.archived_at IS NULL)
                  IS DISTINCT FROM
                  (EXCLUDED.name, EXCLUDED.description, EXCLUDED.category_id,
                   EXCLUDED.price_minor, EXCLUDED.currency, EXCLUDED.attributes, TRUE)
            RETURNING p.id, (p.xmax = 0) AS "inserted!"
            "#,
            &ids,
            &skus as &[&str],
            &names as &[&str],
            &descriptions as &[&str],
            &category_ids,
            &prices,
            &currencies as &[&str],
            &attributes,
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;

        let inserted = written.iter().filter(|row| row.inserted).count() as u64;
        let updated = written.len() as u64 - inserted;
        Ok(ImportReport {
            inserted,
            updated,
            unchanged: products.len() as u64 - inserted - updated,
            written: written
                .iter()
                .map(|row| ProductId::from_uuid(row.id))
                .collect(),
        })
    }
    // ANCHOR_END: import
}

#[cfg(test)]
mod tests {
    use shop_domain::{CategoryId, Currency};
    use time::OffsetDateTime;

    use super::*;

    fn product() -> Product {
        Product {
            id: ProductId::generate(),
            sku: Sku::parse("HP-1").unwrap(),
            name: "Headphones".to_owned(),
            description: "Closed-back.".to_owned(),
            category_id: CategoryId::generate(),
            price: Money::from_minor(4_999, Currency::Eur),
            attributes: Attributes::from_json(
                serde_json::json!({ "brand": "Norda", "colour": "black" }),
            )
            .unwrap(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
        }
    }

    fn name(n: &str) -> AttributeName {
        AttributeName::parse(n).unwrap()
    }

    #[test]
    fn an_empty_patch_changes_nothing() {
        let mut changed = product();
        ProductChanges::default().apply(&mut changed).unwrap();
        assert_eq!(changed, product_with_same_id(&changed));
        assert!(ProductChanges::default().is_empty());
    }

    fn product_with_same_id(p: &Product) -> Product {
        Product {
            id: p.id,
            category_id: p.category_id,
            ..product()
        }
    }

    #[test]
    fn merge_sets_removes_and_keeps_attributes() {
        let mut p = product();
        let changes = ProductChanges {
            attributes: AttributesChange::Merge(BTreeMap::from([
                (name("colour"), None),
                (name("size"), Some(AttributeValue::parse("L").unwrap())),
            ])),
            ..ProductChanges::default()
        };
        changes.apply(&mut p).unwrap();
        assert_eq!(
            p.attributes.to_json(),
            serde_json::json!({ "brand": "Norda", "size": "L" })
        );
    }

    #[test]
    fn clear_removes_every_attribute_and_empty_description_clears_it() {
        let mut p = product();
        let changes = ProductChanges {
            description: Some(Description::default()),
            attributes: AttributesChange::Clear,
            ..ProductChanges::default()
        };
        changes.apply(&mut p).unwrap();
        assert!(p.attributes.is_empty());
        assert_eq!(p.description, "");
        assert_eq!(p.name, "Headphones", "absent fields are kept");
    }

    #[test]
    fn a_merge_past_the_limit_is_an_error() {
        let mut p = product();
        let many = (0..Attributes::MAX_LEN)
            .map(|n| {
                (
                    name(&format!("a{n}")),
                    Some(AttributeValue::parse("x").unwrap()),
                )
            })
            .collect();
        let changes = ProductChanges {
            attributes: AttributesChange::Merge(many),
            ..ProductChanges::default()
        };
        assert_eq!(
            changes.apply(&mut p),
            Err(AttributeError::TooMany(Attributes::MAX_LEN + 2))
        );
    }

    #[test]
    fn names_and_descriptions_are_checked() {
        assert_eq!(ProductName::parse("  "), Err(TextError::Empty));
        assert_eq!(
            ProductName::parse(&"n".repeat(201)),
            Err(TextError::TooLong(200))
        );
        assert_eq!(ProductName::parse("a\0b"), Err(TextError::Control));
        assert!(Description::parse("Two\nlines\tand a tab.").is_ok());
        assert_eq!(Description::parse("bell\u{7}"), Err(TextError::Control));
    }
}
