//! The catalog as lesson 05 leaves it (book chapter 05, "Capstone step"): search with filters,
//! facets, allow-listed sorts and keyset pages, and the admin's writes.
//!
//! | module | holds |
//! |--------|-------|
//! | [`attributes`] | [`Attributes`]: a product's `{"brand": ..., "colour": ...}`, typed |
//! | [`search`] | [`ProductSearch`] → SQL with bind parameters only → [`SearchPage`] |
//! | [`cursor`] | [`Cursor`]: the opaque, versioned keyset position |
//! | [`write`](mod@write) | create, PATCH, archive, and bulk upsert by SKU |
//!
//! The reads of chapter 02 (`get`, `list`, `list_in_category`, the categories) stay in
//! [`crate::products`]; everything here is more methods on the same [`ProductRepo`].
//!
//! Tests: unit tests in each module (`cargo test -p shop-db --lib catalog`), PostgreSQL tests in
//! `tests/catalog.rs`, HTTP tests in shop-api's `tests/api/{catalog_search,admin_products}.rs`.

pub mod attributes;
pub mod cursor;
pub mod search;
pub mod write;

pub use attributes::{AttributeError, AttributeName, AttributeValue, Attributes, FilterAttribute};
pub use cursor::{Cursor, CursorError};
pub use search::{
    CategorySlug, FacetCount, Facets, FilterError, PriceBucket, PriceRange, ProductSearch,
    SearchError, SearchFilters, SearchPage, SearchSort, SearchText, UnknownSort,
};
pub use write::{
    AttributesChange, Description, ImportReport, NewProduct, ProductChanges, ProductName, TextError,
};

use crate::error::DbError;
use crate::products::ProductRepo;

impl ProductRepo {
    /// One page of a search, with the total and the facet counts. See [`search`].
    pub async fn search(&self, search: &ProductSearch) -> Result<SearchPage, DbError> {
        search::run(&self.pool, search).await
    }
}
