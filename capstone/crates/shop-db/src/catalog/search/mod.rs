//! Catalog search: full text, filters, an allow-listed sort, keyset pages and facet counts.
//!
//! What this module shows:
//! - a typed query ([`ProductSearch`]) instead of a bag of strings: every value a client sent
//!   has been parsed into a type before any SQL exists, and the sort is an enum;
//! - SQL built with `sqlx::QueryBuilder` through `Sql`, a wrapper whose `push` accepts only
//!   `&'static str`: text the program was compiled with. Every value from a request travels as
//!   a bind parameter (`$1`, `$2`, ...), so no input, however it is quoted, can become SQL;
//! - full-text search with `websearch_to_tsquery` (the syntax people type into search boxes:
//!   `"exact phrase"`, `-excluded`, `or`) over the GIN-indexed `search` column, ranked by
//!   `ts_rank`;
//! - keyset pagination for every sort: `(key, id) > (last key, last id)` with the id as the
//!   tie-breaker, one index per sort (see the migration), no `OFFSET`;
//! - facet counts for the same search in one more query, each facet ignoring its own filter.
//!
//! Tests: each module's unit tests (the SQL text in `sql`); `tests/catalog.rs` runs it against
//! PostgreSQL, and shop-api's `tests/api/catalog_search.rs` drives it over HTTP.
//!
//! | module | holds |
//! |--------|-------|
//! | `query` | the typed query: [`ProductSearch`], its filters and the sort allow-list |
//! | `sql` | `Sql`, the `&'static str`-only builder, and the page and facet statements |
//! | `results` | [`SearchPage`], [`Facets`], and how rows become them |
//!
//! `run` ties them together.

mod query;
mod results;
mod sql;

pub use query::{
    CategorySlug, FilterError, PriceRange, ProductSearch, SearchError, SearchFilters, SearchSort,
    SearchText, UnknownSort,
};
pub use results::{FacetCount, Facets, PriceBucket, SearchPage};

use sqlx::PgPool;
use tracing::instrument;

use crate::error::DbError;
use crate::products::Product;
use results::{FacetRow, SearchRow, facets_from_rows};
use sql::{facet_query, page_query};

// ANCHOR: run
/// Runs a search: the page and the counts, as two statements on two connections at once.
/// They may see snapshots a few milliseconds apart; for counts beside a page that is fine.
#[instrument(skip_all, fields(sort = search.sort.name(), limit = search.limit.get()), err(level = "debug"))]
pub(crate) async fn run(pool: &PgPool, search: &ProductSearch) -> Result<SearchPage, DbError> {
    let mut page = page_query(search);
    let mut counts = facet_query(&search.filters);
    let (rows, facet_rows) = tokio::try_join!(
        page.0.build_query_as::<SearchRow>().fetch_all(pool),
        counts.0.build_query_as::<FacetRow>().fetch_all(pool),
    )?;

    // One row more than the page holds means there is a next page, starting after the last
    // row kept (the same trick as `ProductPage`).
    let size = search.limit.get() as usize;
    let has_more = rows.len() > size;
    let mut products = Vec::with_capacity(size);
    let mut last_rank = 0.0;
    for row in rows.into_iter().take(size) {
        last_rank = row.rank;
        products.push(Product::try_from(row.product)?);
    }
    let next = products
        .last()
        .filter(|_| has_more)
        .map(|last| search.cursor_after(last, last_rank));
    let (total, facets) = facets_from_rows(facet_rows);
    Ok(SearchPage {
        products,
        next,
        total,
        facets,
    })
}
// ANCHOR_END: run

#[cfg(test)]
mod test_support {
    use shop_domain::ProductId;

    use crate::catalog::attributes::AttributeValue;

    pub(crate) fn some_id() -> ProductId {
        ProductId::from_uuid(uuid::Uuid::from_u128(7))
    }

    pub(crate) fn value(v: &str) -> AttributeValue {
        AttributeValue::parse(v).unwrap()
    }

    /// Injection attempts every free-text filter is tried with.
    pub(crate) const PAYLOADS: [&str; 5] = [
        "' OR 1=1 --",
        "'; DROP TABLE products; --",
        "1) OR (1=1",
        "x\" OR \"\"=\"",
        "Ünïcödé'); SELECT pg_sleep(10); --",
    ];
}
