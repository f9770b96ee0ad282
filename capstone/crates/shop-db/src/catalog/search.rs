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
//! Tests: the unit tests below check the SQL text; `tests/catalog.rs` runs it against
//! PostgreSQL, and shop-api's `tests/api/catalog_search.rs` drives it over HTTP.

use std::collections::BTreeMap;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shop_domain::Currency;
use sqlx::{Encode, PgPool, Postgres, QueryBuilder, Type};
use thiserror::Error;
use tracing::instrument;

use super::attributes::{AttributeValue, FilterAttribute};
use super::cursor::{Cursor, SortKey};
use crate::error::DbError;
use crate::products::{PageSize, Product, ProductRow};

// ---------------------------------------------------------------------------------------------
// The typed query
// ---------------------------------------------------------------------------------------------

// ANCHOR: sort
/// The orders a client may ask for; `?sort=` names one of these or the request is a 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SearchSort {
    /// Best match first; needs a text query.
    Relevance,
    PriceAsc,
    PriceDesc,
    /// Most recently added first.
    Newest,
    /// A to Z.
    Name,
}

impl SearchSort {
    pub const ALL: [SearchSort; 5] = [
        SearchSort::Relevance,
        SearchSort::PriceAsc,
        SearchSort::PriceDesc,
        SearchSort::Newest,
        SearchSort::Name,
    ];

    /// The name in `?sort=`.
    pub const fn name(self) -> &'static str {
        match self {
            SearchSort::Relevance => "relevance",
            SearchSort::PriceAsc => "price_asc",
            SearchSort::PriceDesc => "price_desc",
            SearchSort::Newest => "newest",
            SearchSort::Name => "name",
        }
    }

    /// The ORDER BY clause. Both columns run the same direction, so that the row comparison
    /// `(key, id) < (...)` describes "after" exactly and one index serves the sort (read
    /// backwards for the descending ones).
    const fn order_by(self) -> &'static str {
        match self {
            SearchSort::Relevance => " ORDER BY rank DESC, p.id DESC",
            SearchSort::PriceAsc => " ORDER BY p.price_minor, p.id",
            SearchSort::PriceDesc => " ORDER BY p.price_minor DESC, p.id DESC",
            SearchSort::Newest => " ORDER BY p.created_at DESC, p.id DESC",
            SearchSort::Name => " ORDER BY p.name, p.id",
        }
    }
}
// ANCHOR_END: sort

/// `?sort=` named no allowed sort.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown sort; use one of: relevance, price_asc, price_desc, newest, name")]
pub struct UnknownSort;

impl FromStr for SearchSort {
    type Err = UnknownSort;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|sort| sort.name() == name)
            .ok_or(UnknownSort)
    }
}

/// What a shopper typed: trimmed, 1 to 200 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SearchText(String);

/// Why a value is not a valid filter. The messages are for the client.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FilterError {
    #[error("search text is 1 to 200 characters without control characters")]
    Text,
    #[error("a category is named by its slug: lower-case words joined by -")]
    CategorySlug,
    #[error("a price is a whole number of minor units (cents), 0 or more")]
    Price,
    #[error("price_min is above price_max")]
    PriceOrder,
}

impl SearchText {
    pub const MAX_CHARS: usize = 200;

    pub fn parse(text: &str) -> Result<Self, FilterError> {
        let text = text.trim();
        let chars = text.chars().count();
        // NUL in particular: PostgreSQL's text type cannot hold it, and binding it would fail
        // as a server error. Control characters are never part of a real search.
        if (1..=Self::MAX_CHARS).contains(&chars) && !text.chars().any(char::is_control) {
            Ok(Self(text.to_owned()))
        } else {
            Err(FilterError::Text)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A category slug, shaped as the schema's CHECK requires (`outdoor-lighting`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CategorySlug(String);

impl CategorySlug {
    pub fn parse(slug: &str) -> Result<Self, FilterError> {
        let valid = (1..=100).contains(&slug.len())
            && slug.split('-').all(|word| {
                !word.is_empty()
                    && word
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
            });
        if valid {
            Ok(Self(slug.to_owned()))
        } else {
            Err(FilterError::CategorySlug)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Inclusive bounds on `price_minor`, either or both open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PriceRange {
    min: Option<i64>,
    max: Option<i64>,
}

impl PriceRange {
    pub fn new(min: Option<i64>, max: Option<i64>) -> Result<Self, FilterError> {
        if min.is_some_and(|p| p < 0) || max.is_some_and(|p| p < 0) {
            return Err(FilterError::Price);
        }
        if let (Some(min), Some(max)) = (min, max)
            && min > max
        {
            return Err(FilterError::PriceOrder);
        }
        Ok(Self { min, max })
    }

    pub fn is_open(&self) -> bool {
        self.min.is_none() && self.max.is_none()
    }
}

// ANCHOR: filters
/// What narrows a search. Every field is already valid; an empty value means "no filter".
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SearchFilters {
    /// Full text over name, attributes and description.
    pub text: Option<SearchText>,
    /// This category and everything below it in the tree.
    pub category: Option<CategorySlug>,
    pub currency: Option<Currency>,
    /// In minor units of `currency`, which must then be given.
    pub price: PriceRange,
    /// `brand=Norda,Kestrel&colour=green`: any of an attribute's values (OR), all of the
    /// attributes (AND). A `BTreeMap`, so the fingerprint does not depend on parameter order.
    pub attributes: BTreeMap<FilterAttribute, Vec<AttributeValue>>,
    /// Only products with at least one unit in some warehouse.
    pub in_stock: bool,
}
// ANCHOR_END: filters

impl SearchFilters {
    /// A digest of the filters, stored in every cursor so that a cursor is only accepted by
    /// the search that issued it. SHA-256 over the JSON form (stable: fields in declaration
    /// order, maps sorted), cut to 64 bits: this guards against mix-ups, not against forgery.
    pub fn fingerprint(&self) -> u64 {
        let json = serde_json::to_vec(self).unwrap_or_default();
        let digest = Sha256::digest(&json);
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(first)
    }

    fn attribute(&self, attribute: FilterAttribute) -> Option<&[AttributeValue]> {
        self.attributes
            .get(&attribute)
            .map(Vec::as_slice)
            .filter(|values| !values.is_empty())
    }
}

/// A search that cannot be run as asked.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SearchError {
    #[error("sorting by relevance needs a search text (q)")]
    RelevanceNeedsText,
    #[error("a price filter needs a currency: minor units of which currency?")]
    PriceNeedsCurrency,
    #[error("this cursor belongs to sort={}; keep the sort or start again from the first page", .0.name())]
    CursorForAnotherSort(SearchSort),
    #[error("this cursor belongs to a search with other filters; start again from the first page")]
    CursorForAnotherSearch,
}

impl SearchError {
    /// The query parameter the problem is about.
    pub fn field(&self) -> &'static str {
        match self {
            SearchError::RelevanceNeedsText => "sort",
            SearchError::PriceNeedsCurrency => "currency",
            SearchError::CursorForAnotherSort(_) | SearchError::CursorForAnotherSearch => "cursor",
        }
    }
}

// ANCHOR: product_search
/// One page of a search, ready to run: filters, sort, where the previous page ended, size.
#[derive(Debug, Clone)]
pub struct ProductSearch {
    filters: SearchFilters,
    sort: SearchSort,
    after: Option<Cursor>,
    limit: PageSize,
}

impl ProductSearch {
    /// Checks what no single field can check alone. Without a `sort`, a search with text is
    /// ordered by relevance and one without by newest.
    pub fn new(
        filters: SearchFilters,
        sort: Option<SearchSort>,
        after: Option<Cursor>,
        limit: PageSize,
    ) -> Result<Self, Vec<SearchError>> {
        let sort = sort.unwrap_or(if filters.text.is_some() {
            SearchSort::Relevance
        } else {
            SearchSort::Newest
        });
        let mut errors = Vec::new();
        if sort == SearchSort::Relevance && filters.text.is_none() {
            errors.push(SearchError::RelevanceNeedsText);
        }
        if !filters.price.is_open() && filters.currency.is_none() {
            errors.push(SearchError::PriceNeedsCurrency);
        }
        if let Some(cursor) = &after {
            if cursor.sort() != sort {
                errors.push(SearchError::CursorForAnotherSort(cursor.sort()));
            } else if cursor.search() != filters.fingerprint() {
                errors.push(SearchError::CursorForAnotherSearch);
            }
        }
        if errors.is_empty() {
            Ok(Self {
                filters,
                sort,
                after,
                limit,
            })
        } else {
            Err(errors)
        }
    }

    pub fn sort(&self) -> SearchSort {
        self.sort
    }

    pub fn filters(&self) -> &SearchFilters {
        &self.filters
    }
}
// ANCHOR_END: product_search

// ---------------------------------------------------------------------------------------------
// The results
// ---------------------------------------------------------------------------------------------

/// A page of results, the cursor of the next one, how many products match in all, and the
/// facet counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchPage {
    pub products: Vec<Product>,
    /// `None` on the last page.
    pub next: Option<Cursor>,
    pub total: u64,
    pub facets: Facets,
}

/// How many matching products each refinement would leave. Each facet is counted with every
/// filter *except its own*, the way shops show them: with `brand=Norda` chosen, the brand
/// facet still lists Kestrel with its count, so the shopper can see what switching (or
/// adding it) would give; counting it under its own filter would leave one useless line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facets {
    /// Per category slug (the product's own category, a leaf of the tree).
    pub categories: Vec<FacetCount>,
    /// Per value of each attribute in [`FilterAttribute::FACETED`].
    pub attributes: BTreeMap<FilterAttribute, Vec<FacetCount>>,
    /// Per price band and currency.
    pub prices: Vec<PriceBucket>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// `min_minor <= price < max_minor` (no upper bound on the last band).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceBucket {
    pub currency: Currency,
    pub min_minor: i64,
    pub max_minor: Option<i64>,
    pub count: u64,
}

/// The price bands' boundaries in major units (euros, dollars): under 10, 10 to 25, ...,
/// 500 and more. Multiplied per currency by its minor units, in SQL, so yen and dinar prices
/// land in the same bands as euro prices.
const PRICE_BOUNDS_MAJOR: [i64; 6] = [10, 25, 50, 100, 250, 500];

// ---------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------

// ANCHOR: sql
/// A `QueryBuilder` that takes SQL text only as `&'static str`. `QueryBuilder::push` accepts
/// anything `Display`, including a request's value; this wrapper makes that mistake a
/// compile error, so the only way a value reaches the statement is [`Sql::bind`].
pub(crate) struct Sql(QueryBuilder<Postgres>);

impl Sql {
    fn new(text: &'static str) -> Self {
        Sql(QueryBuilder::new(text))
    }

    fn push(&mut self, text: &'static str) -> &mut Self {
        self.0.push(text);
        self
    }

    /// Appends a placeholder (`$n`) and sends `value` beside the statement.
    fn bind<'t, T>(&mut self, value: T) -> &mut Self
    where
        T: Encode<'t, Postgres> + Type<Postgres> + 't,
    {
        self.0.push_bind(value);
        self
    }

    /// The statement text, for tests.
    #[cfg(test)]
    fn text(&self) -> String {
        self.0.sql().as_str().to_owned()
    }
}
// ANCHOR_END: sql

/// The filters that each facet ignores when counting itself. The others are shared by every
/// count and by the page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Facet {
    Category,
    Attribute(FilterAttribute),
    Price,
}

impl Facet {
    const ALL: [Facet; 4] = [
        Facet::Category,
        Facet::Attribute(FilterAttribute::FACETED[0]),
        Facet::Attribute(FilterAttribute::FACETED[1]),
        Facet::Price,
    ];

    /// The boolean column of the facet query that says "passes this facet's own filter".
    const fn column(self) -> &'static str {
        match self {
            Facet::Category => "in_category",
            Facet::Attribute(FilterAttribute::Brand) => "in_brand",
            Facet::Attribute(FilterAttribute::Colour) => "in_colour",
            Facet::Attribute(FilterAttribute::Material) => "in_material",
            Facet::Attribute(FilterAttribute::Size) => "in_size",
            Facet::Price => "in_price",
        }
    }

    /// `true` when the search sets this facet's filter.
    fn is_set(self, filters: &SearchFilters) -> bool {
        match self {
            Facet::Category => filters.category.is_some(),
            Facet::Attribute(attribute) => filters.attribute(attribute).is_some(),
            Facet::Price => !filters.price.is_open(),
        }
    }

    /// Appends this facet's filter as one boolean expression. Only called when it is set.
    fn push_condition(self, sql: &mut Sql, filters: &SearchFilters) {
        match self {
            Facet::Category => push_category(sql, filters.category.as_ref()),
            Facet::Attribute(attribute) => {
                push_attribute(
                    sql,
                    attribute,
                    filters.attribute(attribute).unwrap_or_default(),
                );
            }
            Facet::Price => push_price(sql, filters.price),
        }
    }
}

fn is_faceted(attribute: FilterAttribute) -> bool {
    FilterAttribute::FACETED.contains(&attribute)
}

// ANCHOR: conditions
/// `FROM` with the parsed text query beside the products, so the condition and the rank can
/// both name it: `websearch_to_tsquery` turns what people type (`"red kettle" -glass`) into a
/// `tsquery` and never fails on odd input, which matters for a search box.
fn push_from(sql: &mut Sql, filters: &SearchFilters) {
    sql.push(" FROM products p");
    if let Some(text) = &filters.text {
        sql.push(", websearch_to_tsquery('english', ")
            .bind(text.as_str())
            .push(") AS query");
    }
}

/// The conditions every count and the page share: not archived, the text, the currency,
/// stock, and the attribute filters that have no facet.
fn push_shared_conditions(sql: &mut Sql, filters: &SearchFilters) {
    // Spelled exactly as in the partial indexes' WHERE, so the planner can use them.
    sql.push(" WHERE p.archived_at IS NULL");
    if filters.text.is_some() {
        sql.push(" AND p.search @@ query");
    }
    if let Some(currency) = filters.currency {
        sql.push(" AND p.currency = ").bind(currency.code());
    }
    if filters.in_stock {
        sql.push(
            " AND EXISTS (SELECT 1 FROM stock_levels s WHERE s.product_id = p.id AND s.on_hand > 0)",
        );
    }
    for attribute in FilterAttribute::ALL {
        if let Some(values) = filters.attribute(attribute)
            && !is_faceted(attribute)
        {
            sql.push(" AND ");
            push_attribute(sql, attribute, values);
        }
    }
}

/// The category and everything below it: the recursive CTE of chapter 02, by slug.
fn push_category(sql: &mut Sql, category: Option<&CategorySlug>) {
    let Some(slug) = category else {
        sql.push("TRUE");
        return;
    };
    sql.push(
        "p.category_id IN (WITH RECURSIVE subtree (id) AS (\
         SELECT id FROM categories WHERE slug = ",
    )
    .bind(slug.as_str())
    .push(
        " UNION ALL SELECT child.id FROM categories child \
         JOIN subtree ON child.parent_id = subtree.id) SELECT id FROM subtree)",
    );
}

/// `attributes @> '{"brand": "Norda"}'` per value, ORed: containment is what the GIN
/// `jsonb_path_ops` index answers. Each value is bound as a whole JSON object, so a quote in
/// a brand name is a character in a string, not the end of one.
fn push_attribute(sql: &mut Sql, attribute: FilterAttribute, values: &[AttributeValue]) {
    if values.is_empty() {
        sql.push("TRUE");
        return;
    }
    sql.push("(");
    for (n, value) in values.iter().enumerate() {
        if n > 0 {
            sql.push(" OR ");
        }
        let object = serde_json::json!({ attribute.name(): value.as_str() });
        sql.push("p.attributes @> ").bind(object);
    }
    sql.push(")");
}

fn push_price(sql: &mut Sql, price: PriceRange) {
    sql.push("(TRUE");
    if let Some(min) = price.min {
        sql.push(" AND p.price_minor >= ").bind(min);
    }
    if let Some(max) = price.max {
        sql.push(" AND p.price_minor <= ").bind(max);
    }
    sql.push(")");
}
// ANCHOR_END: conditions

// ANCHOR: page_query
/// The page: every filter, then "after the cursor", then the sort, then one row more than the
/// page holds (its presence proves there is a next page; no `COUNT(*)` needed for that).
fn page_query(search: &ProductSearch) -> Sql {
    let filters = &search.filters;
    let mut sql = Sql::new(
        "SELECT p.id, p.sku, p.name, p.description, p.category_id, p.price_minor, \
         p.currency, p.attributes, p.created_at, p.updated_at, ",
    );
    // The rank is only computed when there is a text to rank against.
    sql.push(if filters.text.is_some() {
        "ts_rank(p.search, query) AS rank"
    } else {
        "0::real AS rank"
    });
    push_from(&mut sql, filters);
    push_shared_conditions(&mut sql, filters);
    for facet in Facet::ALL {
        if facet.is_set(filters) {
            sql.push(" AND ");
            facet.push_condition(&mut sql, filters);
        }
    }
    if let Some(cursor) = &search.after {
        push_after(&mut sql, search.sort, cursor);
    }
    sql.push(search.sort.order_by())
        .push(" LIMIT ")
        .bind(i64::from(search.limit.get()) + 1);
    sql
}

/// Keyset: the rows strictly after the cursor's (key, id) in the sort's direction. A row
/// comparison, so a tie on the key falls through to the id. The key's type decides the column;
/// [`ProductSearch::new`] has checked that the cursor was issued for this sort.
fn push_after(sql: &mut Sql, sort: SearchSort, cursor: &Cursor) {
    match cursor.key() {
        SortKey::Rank(rank) => {
            sql.push(" AND (ts_rank(p.search, query), p.id) < (")
                .bind(*rank)
                .push("::real, ");
        }
        SortKey::Price(price) if sort == SearchSort::PriceDesc => {
            sql.push(" AND (p.price_minor, p.id) < (")
                .bind(*price)
                .push(", ");
        }
        SortKey::Price(price) => {
            sql.push(" AND (p.price_minor, p.id) > (")
                .bind(*price)
                .push(", ");
        }
        SortKey::Created(at) => {
            sql.push(" AND (p.created_at, p.id) < (")
                .bind(*at)
                .push(", ");
        }
        SortKey::Name(name) => {
            sql.push(" AND (p.name, p.id) > (")
                .bind(name.as_str())
                .push(", ");
        }
    }
    sql.bind(cursor.id().as_uuid()).push(")");
}
// ANCHOR_END: page_query

// ANCHOR: facet_query
/// All the counts in one statement. The CTE applies the shared filters once and marks, per
/// row, whether it passes each facet's own filter; each branch of the UNION then counts the
/// rows that pass every *other* facet's filter. The `total` branch passes all of them: it is
/// the number of products the page's filters match.
fn facet_query(filters: &SearchFilters) -> Sql {
    let mut sql =
        Sql::new("WITH matching AS (SELECT p.category_id, p.attributes, p.price_minor, p.currency");
    for facet in Facet::ALL {
        sql.push(", ");
        if facet.is_set(filters) {
            facet.push_condition(&mut sql, filters);
        } else {
            sql.push("TRUE");
        }
        sql.push(" AS ").push(facet.column());
    }
    push_from(&mut sql, filters);
    push_shared_conditions(&mut sql, filters);
    sql.push(")");

    sql.push(" SELECT 'total' AS facet, NULL::text AS value, NULL::int AS bucket, count(*) AS count FROM matching");
    push_all_but(&mut sql, None);

    sql.push(
        " UNION ALL SELECT 'category', c.slug, NULL, count(*) \
         FROM matching JOIN categories c ON c.id = matching.category_id",
    );
    push_all_but(&mut sql, Some(Facet::Category));
    sql.push(" GROUP BY 2");

    for attribute in FilterAttribute::FACETED {
        sql.push(" UNION ALL SELECT ")
            .bind(attribute.name())
            .push("::text, matching.attributes ->> ")
            .bind(attribute.name())
            .push(", NULL, count(*) FROM matching");
        push_all_but(&mut sql, Some(Facet::Attribute(attribute)));
        sql.push(" AND matching.attributes ->> ")
            .bind(attribute.name())
            .push(" IS NOT NULL GROUP BY 2");
    }

    // Bands in major units, per currency: the currency's minor units per major unit come in as
    // a second array beside the codes, zipped by UNNEST.
    let codes: Vec<&str> = Currency::ALL.iter().map(|c| c.code()).collect();
    let minor_per_major: Vec<i64> = Currency::ALL
        .iter()
        .map(|c| i64::try_from(c.minor_per_major()).unwrap_or(i64::MAX))
        .collect();
    sql.push(
        " UNION ALL SELECT 'price', matching.currency::text, \
         width_bucket(matching.price_minor::numeric / units.minor_per_major, ",
    )
    .bind(PRICE_BOUNDS_MAJOR.to_vec())
    .push("::numeric[]), count(*) FROM matching JOIN UNNEST(")
    .bind(codes)
    .push("::text[], ")
    .bind(minor_per_major)
    .push("::bigint[]) AS units (code, minor_per_major) ON units.code = matching.currency::text");
    push_all_but(&mut sql, Some(Facet::Price));
    sql.push(" GROUP BY 2, 3");
    sql
}

/// `WHERE` every facet column except `except`'s is true.
fn push_all_but(sql: &mut Sql, except: Option<Facet>) {
    sql.push(" WHERE TRUE");
    for facet in Facet::ALL {
        if Some(facet) != except {
            sql.push(" AND ").push(facet.column());
        }
    }
}
// ANCHOR_END: facet_query

#[derive(sqlx::FromRow)]
struct SearchRow {
    #[sqlx(flatten)]
    product: ProductRow,
    rank: f32,
}

#[derive(sqlx::FromRow)]
struct FacetRow {
    facet: String,
    value: Option<String>,
    bucket: Option<i32>,
    count: i64,
}

impl ProductSearch {
    /// The cursor that resumes after `product` (whose rank was `rank`) under this search.
    fn cursor_after(&self, product: &Product, rank: f32) -> Cursor {
        let key = match self.sort {
            SearchSort::Relevance => SortKey::Rank(rank),
            SearchSort::PriceAsc | SearchSort::PriceDesc => {
                SortKey::Price(product.price.amount_minor())
            }
            SearchSort::Newest => SortKey::Created(product.created_at),
            SearchSort::Name => SortKey::Name(product.name.clone()),
        };
        Cursor::new(self.sort, key, product.id, self.filters.fingerprint())
    }
}

fn facets_from_rows(rows: Vec<FacetRow>) -> (u64, Facets) {
    let mut total = 0;
    let mut facets = Facets::default();
    let count = |n: i64| u64::try_from(n).unwrap_or(0);
    for row in rows {
        match (row.facet.as_str(), row.value) {
            ("total", _) => total = count(row.count),
            ("category", Some(slug)) => facets.categories.push(FacetCount {
                value: slug,
                count: count(row.count),
            }),
            ("price", Some(code)) => {
                let (Ok(currency), Some(bucket)) = (code.parse::<Currency>(), row.bucket) else {
                    continue;
                };
                let unit = i64::try_from(currency.minor_per_major()).unwrap_or(i64::MAX);
                let bucket = usize::try_from(bucket).unwrap_or(0);
                facets.prices.push(PriceBucket {
                    currency,
                    min_minor: bucket
                        .checked_sub(1)
                        .map_or(0, |i| PRICE_BOUNDS_MAJOR[i] * unit),
                    max_minor: PRICE_BOUNDS_MAJOR.get(bucket).map(|b| b * unit),
                    count: count(row.count),
                });
            }
            (name, Some(value)) => {
                if let Some(attribute) = FilterAttribute::FACETED
                    .into_iter()
                    .find(|a| a.name() == name)
                {
                    facets
                        .attributes
                        .entry(attribute)
                        .or_default()
                        .push(FacetCount {
                            value,
                            count: count(row.count),
                        });
                }
            }
            _ => {}
        }
    }
    // Most products first, then alphabetically, so the order is stable between requests.
    let order = |a: &FacetCount, b: &FacetCount| b.count.cmp(&a.count).then(a.value.cmp(&b.value));
    facets.categories.sort_by(order);
    for counts in facets.attributes.values_mut() {
        counts.sort_by(order);
    }
    facets.prices.sort_by_key(|b| (b.currency, b.min_minor));
    (total, facets)
}

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
mod tests {
    use shop_domain::ProductId;

    use super::*;

    fn some_id() -> ProductId {
        ProductId::from_uuid(uuid::Uuid::from_u128(7))
    }

    fn value(v: &str) -> AttributeValue {
        AttributeValue::parse(v).unwrap()
    }

    const PAYLOADS: [&str; 5] = [
        "' OR 1=1 --",
        "'; DROP TABLE products; --",
        "1) OR (1=1",
        "x\" OR \"\"=\"",
        "Ünïcödé'); SELECT pg_sleep(10); --",
    ];

    #[test]
    fn sorts_are_an_allow_list() {
        for sort in SearchSort::ALL {
            assert_eq!(sort.name().parse::<SearchSort>(), Ok(sort));
        }
        for bad in [
            "",
            "price",
            "PRICE_ASC",
            "price_asc; DROP TABLE products",
            "id",
        ] {
            assert_eq!(bad.parse::<SearchSort>(), Err(UnknownSort), "{bad}");
        }
    }

    #[test]
    fn text_and_slugs_are_checked_before_any_sql() {
        assert!(SearchText::parse("  red kettle ").is_ok());
        assert!(SearchText::parse("").is_err());
        assert!(SearchText::parse("nul\0byte").is_err());
        assert!(SearchText::parse(&"x".repeat(201)).is_err());
        assert!(CategorySlug::parse("outdoor-lighting").is_ok());
        for bad in ["", "Audio", "a--b", "-a", "a-", "' OR 1=1 --", "audio;drop"] {
            assert!(CategorySlug::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            PriceRange::new(Some(10), Some(5)),
            Err(FilterError::PriceOrder)
        );
        assert_eq!(PriceRange::new(Some(-1), None), Err(FilterError::Price));
    }

    /// Every payload goes into every filter that takes free text, and none of it appears in
    /// the statement: it all travels as bind parameters.
    #[test]
    fn no_payload_ever_reaches_the_sql_text() {
        for payload in PAYLOADS {
            let filters = SearchFilters {
                text: Some(SearchText::parse(payload).unwrap()),
                attributes: FilterAttribute::ALL
                    .into_iter()
                    .map(|a| (a, vec![value(payload), value("plain")]))
                    .collect(),
                currency: Some(Currency::Eur),
                price: PriceRange::new(Some(1), Some(2)).unwrap(),
                category: Some(CategorySlug::parse("audio").unwrap()),
                in_stock: true,
            };
            let cursor = Cursor::new(
                SearchSort::Name,
                SortKey::Name(payload.to_owned()),
                some_id(),
                filters.fingerprint(),
            );
            let search = ProductSearch::new(
                filters.clone(),
                Some(SearchSort::Name),
                Some(cursor),
                PageSize::DEFAULT,
            )
            .unwrap();
            for sql in [page_query(&search).text(), facet_query(&filters).text()] {
                assert!(!sql.contains(payload), "{payload} in {sql}");
                assert!(!sql.contains("plain"), "{sql}");
            }
        }
    }

    #[test]
    fn the_page_query_has_one_placeholder_per_value() {
        let filters = SearchFilters {
            text: Some(SearchText::parse("kettle").unwrap()),
            attributes: [(
                FilterAttribute::Brand,
                vec![value("Norda"), value("Kestrel")],
            )]
            .into(),
            ..SearchFilters::default()
        };
        let search = ProductSearch::new(filters, None, None, PageSize::DEFAULT).unwrap();
        let sql = page_query(&search).text();
        // text, two brands, limit
        assert!(sql.contains("$4") && !sql.contains("$5"), "{sql}");
        assert!(sql.contains("websearch_to_tsquery('english', $1)"), "{sql}");
        assert!(
            sql.ends_with("ORDER BY rank DESC, p.id DESC LIMIT $4"),
            "{sql}"
        );
    }

    #[test]
    fn cross_field_rules_are_all_reported() {
        let filters = SearchFilters {
            price: PriceRange::new(Some(100), None).unwrap(),
            ..SearchFilters::default()
        };
        let errors = ProductSearch::new(
            filters,
            Some(SearchSort::Relevance),
            None,
            PageSize::DEFAULT,
        )
        .unwrap_err();
        assert_eq!(
            errors,
            [
                SearchError::RelevanceNeedsText,
                SearchError::PriceNeedsCurrency
            ]
        );
    }

    #[test]
    fn a_cursor_only_works_for_its_own_sort_and_filters() {
        let filters = SearchFilters::default();
        let cursor = Cursor::new(
            SearchSort::PriceAsc,
            SortKey::Price(5),
            some_id(),
            filters.fingerprint(),
        );
        let other_sort = ProductSearch::new(
            filters.clone(),
            Some(SearchSort::PriceDesc),
            Some(cursor.clone()),
            PageSize::DEFAULT,
        );
        assert_eq!(
            other_sort.unwrap_err(),
            [SearchError::CursorForAnotherSort(SearchSort::PriceAsc)]
        );
        let narrower = SearchFilters {
            in_stock: true,
            ..filters.clone()
        };
        let other_search = ProductSearch::new(
            narrower,
            Some(SearchSort::PriceAsc),
            Some(cursor.clone()),
            PageSize::DEFAULT,
        );
        assert_eq!(
            other_search.unwrap_err(),
            [SearchError::CursorForAnotherSearch]
        );
        assert!(
            ProductSearch::new(
                filters,
                Some(SearchSort::PriceAsc),
                Some(cursor),
                PageSize::DEFAULT
            )
            .is_ok()
        );
    }

    #[test]
    fn price_buckets_become_bands_in_minor_units() {
        let rows = vec![
            FacetRow {
                facet: "total".into(),
                value: None,
                bucket: None,
                count: 7,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("EUR".into()),
                bucket: Some(0),
                count: 3,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("EUR".into()),
                bucket: Some(6),
                count: 1,
            },
            FacetRow {
                facet: "price".into(),
                value: Some("JPY".into()),
                bucket: Some(2),
                count: 2,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("B".into()),
                bucket: None,
                count: 1,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("A".into()),
                bucket: None,
                count: 1,
            },
            FacetRow {
                facet: "brand".into(),
                value: Some("C".into()),
                bucket: None,
                count: 5,
            },
        ];
        let (total, facets) = facets_from_rows(rows);
        assert_eq!(total, 7);
        let bands: Vec<_> = facets
            .prices
            .iter()
            .map(|b| (b.currency, b.min_minor, b.max_minor))
            .collect();
        assert_eq!(
            bands,
            [
                (Currency::Eur, 0, Some(1_000)),
                (Currency::Eur, 50_000, None),
                (Currency::Jpy, 25, Some(50)),
            ]
        );
        let brands: Vec<_> = facets.attributes[&FilterAttribute::Brand]
            .iter()
            .map(|c| c.value.as_str())
            .collect();
        assert_eq!(brands, ["C", "A", "B"], "by count, then by name");
    }
}
