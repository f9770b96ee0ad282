//! The SQL of a search: text from the program, values as bind parameters, nothing else.

use shop_domain::Currency;
use sqlx::{Encode, Postgres, QueryBuilder, Type};

use super::query::{CategorySlug, PriceRange, ProductSearch, SearchFilters, SearchSort};
use super::results::PRICE_BOUNDS_MAJOR;
use crate::catalog::attributes::{AttributeValue, FilterAttribute};
use crate::catalog::cursor::{Cursor, SortKey};

// ANCHOR: sql
/// A `QueryBuilder` that takes SQL text only as `&'static str`. `QueryBuilder::push` accepts
/// anything `Display`, including a request's value; this wrapper makes that mistake a
/// compile error, so the only way a value reaches the statement is [`Sql::bind`].
pub(crate) struct Sql(pub(super) QueryBuilder<Postgres>);

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
pub(super) fn page_query(search: &ProductSearch) -> Sql {
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
pub(super) fn facet_query(filters: &SearchFilters) -> Sql {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::search::SearchText;
    use crate::catalog::search::test_support::{PAYLOADS, some_id, value};
    use crate::products::PageSize;

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
}
