//! The catalog listing: a query string parsed into typed, allow-listed parameters, and those
//! turned into SQL with bind parameters only.
//!
//! What this module shows:
//! - [`ListParams`] is the query string as the client sent it, every value a string, so that
//!   *all* bad parameters are reported at once; `TryFrom<ListParams> for ListQuery` checks
//!   them and produces types (an allow-listed [`SortField`], numbers, a decoded [`Cursor`]);
//! - [`ListQuery::to_sql`] builds the statement with [`SafeQuery`]: identifiers come from the
//!   allow-list, values are binds, a search text is sanitised for `ILIKE` (its `%` and `_`
//!   mean themselves), and the keyset condition compares `(sort column, id)` as a row value
//!   so ties on the sort column are broken by the id.
//!
//! Tests: `cargo test -p lesson-05 --test listing_sql`.

use serde::Deserialize;
use shop_http::FieldError;

use crate::cursor::{Cursor, SortField, SortKey};
use crate::sql::{Bind, SafeQuery};

/// Rows per page when the client does not say.
pub const DEFAULT_LIMIT: u32 = 20;
/// The largest page a client may ask for.
pub const MAX_LIMIT: u32 = 100;
/// The longest search text accepted, in characters.
pub const MAX_SEARCH_CHARS: usize = 100;

// ANCHOR: params
/// `GET /products?sort=-price&category=desks&min_price=1000&q=oak&limit=20&after=...`, as sent.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub sort: Option<String>,
    pub after: Option<String>,
    pub limit: Option<String>,
    pub category: Option<String>,
    pub min_price: Option<String>,
    pub max_price: Option<String>,
    pub q: Option<String>,
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// The same request, checked and typed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    pub sort: SortField,
    pub direction: Direction,
    pub after: Option<Cursor>,
    pub limit: u32,
    pub filters: Filters,
}

/// Typed filters; `None` is "no condition".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    pub category: Option<String>,
    pub min_price: Option<i64>,
    pub max_price: Option<i64>,
    pub search: Option<String>,
}
// ANCHOR_END: params

impl ListQuery {
    /// The first page of everything, by price.
    pub fn by(sort: SortField, direction: Direction) -> Self {
        ListQuery {
            sort,
            direction,
            after: None,
            limit: DEFAULT_LIMIT,
            filters: Filters::default(),
        }
    }
}

// ANCHOR: parse
impl TryFrom<ListParams> for ListQuery {
    type Error = Vec<FieldError>;

    /// Checks every parameter and reports every problem, not the first.
    fn try_from(params: ListParams) -> Result<Self, Self::Error> {
        let mut errors = Vec::new();
        let e = &mut errors;
        let sort = check(e, parse_sort(params.sort.as_deref()));
        let limit = check(e, parse_limit(params.limit.as_deref()));
        let min_price = check(e, parse_price("min_price", params.min_price.as_deref()));
        let max_price = check(e, parse_price("max_price", params.max_price.as_deref()));
        let search = check(e, parse_search(params.q.as_deref()));
        let category = check(e, parse_category(params.category.as_deref()));
        // A cursor is checked against the sort it came with, so it needs a valid sort first.
        let after = match (&params.after, sort) {
            (Some(text), Some((field, _))) => check(
                e,
                Cursor::decode(text)
                    .and_then(|cursor| cursor.for_sort(field))
                    .map(Some)
                    .map_err(|e| FieldError::parameter("after", e.to_string())),
            ),
            _ => Some(None),
        };
        if let (Some(Some(min)), Some(Some(max))) = (min_price, max_price)
            && min > max
        {
            errors.push(FieldError::parameter(
                "max_price",
                format!("must not be below min_price ({min})"),
            ));
        }
        match (sort, limit, min_price, max_price, search, category, after) {
            (
                Some((sort, direction)),
                Some(limit),
                Some(min_price),
                Some(max_price),
                Some(search),
                Some(category),
                Some(after),
            ) if errors.is_empty() => Ok(ListQuery {
                sort,
                direction,
                after,
                limit,
                filters: Filters {
                    category,
                    min_price,
                    max_price,
                    search,
                },
            }),
            _ => Err(errors),
        }
    }
}

/// The value of `result`, or `None` after noting its error: how every check runs to the end.
fn check<T>(errors: &mut Vec<FieldError>, result: Result<T, FieldError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

/// `price`, `-price`, `name`, ...: a name from the allow-list, `-` for descending.
fn parse_sort(raw: Option<&str>) -> Result<(SortField, Direction), FieldError> {
    let Some(raw) = raw else {
        return Ok((SortField::Price, Direction::Asc));
    };
    let (direction, name) = match raw.strip_prefix('-') {
        Some(name) => (Direction::Desc, name),
        None => (Direction::Asc, raw),
    };
    SortField::ALL
        .into_iter()
        .find(|field| field.name() == name)
        .map(|field| (field, direction))
        .ok_or_else(|| {
            let names: Vec<&str> = SortField::ALL.iter().map(|f| f.name()).collect();
            FieldError::parameter(
                "sort",
                format!(
                    "must be one of {}, optionally with a leading -",
                    names.join(", ")
                ),
            )
        })
}
// ANCHOR_END: parse

fn parse_limit(raw: Option<&str>) -> Result<u32, FieldError> {
    match raw.map(str::parse::<u32>) {
        None => Ok(DEFAULT_LIMIT),
        Some(Ok(limit @ 1..=MAX_LIMIT)) => Ok(limit),
        Some(_) => Err(FieldError::parameter(
            "limit",
            format!("must be a whole number from 1 to {MAX_LIMIT}"),
        )),
    }
}

fn parse_price(name: &str, raw: Option<&str>) -> Result<Option<i64>, FieldError> {
    match raw.map(str::parse::<i64>) {
        None => Ok(None),
        Some(Ok(cents)) if cents >= 0 => Ok(Some(cents)),
        Some(_) => Err(FieldError::parameter(
            name,
            "must be a whole, non-negative number of cents",
        )),
    }
}

/// Sanitisation, not validation: surrounding whitespace goes, an empty search is no search.
fn parse_search(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    let Some(text) = raw.map(str::trim).filter(|t| !t.is_empty()) else {
        return Ok(None);
    };
    let chars = text.chars().count();
    if chars > MAX_SEARCH_CHARS || text.chars().any(char::is_control) {
        return Err(FieldError::parameter(
            "q",
            format!("must be at most {MAX_SEARCH_CHARS} characters, without control characters"),
        ));
    }
    Ok(Some(text.to_owned()))
}

fn parse_category(raw: Option<&str>) -> Result<Option<String>, FieldError> {
    // Any string is a safe *bind*; this check is about meaning: a slug that cannot exist is
    // the client's mistake, and saying so beats an empty page.
    match raw {
        None => Ok(None),
        Some(slug) if crate::product::is_slug(slug) => Ok(Some(slug.to_owned())),
        Some(_) => Err(FieldError::parameter(
            "category",
            "must be a category slug such as `desks`",
        )),
    }
}

/// `text` as an `ILIKE` pattern that finds it anywhere, literally: `\`, `%` and `_` escaped.
/// A bind stops `'` from ending the string; it does nothing about what LIKE makes of `%`.
pub fn like_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// The columns every listing returns, in the shape of [`crate::catalog::ProductRow`].
pub const PRODUCT_COLUMNS: &str = "SELECT p.id, p.sku, p.name, p.description, c.slug AS category, \
     p.price_minor, p.currency, p.created_at, p.updated_at \
     FROM products p JOIN categories c ON c.id = p.category_id";

// ANCHOR: to_sql
impl ListQuery {
    /// One page, plus one row to tell whether another page exists.
    pub fn to_sql(&self) -> SafeQuery {
        let mut query = SafeQuery::new(PRODUCT_COLUMNS);
        let mut first = true;
        let mut and = |query: &mut SafeQuery| {
            query.sql(if first { " WHERE " } else { " AND " });
            first = false;
        };
        let filters = &self.filters;
        if let Some(category) = &filters.category {
            and(&mut query);
            query.sql("c.slug = ").bind(Bind::Text(category.clone()));
        }
        if let Some(min) = filters.min_price {
            and(&mut query);
            query.sql("p.price_minor >= ").bind(Bind::Int(min));
        }
        if let Some(max) = filters.max_price {
            and(&mut query);
            query.sql("p.price_minor <= ").bind(Bind::Int(max));
        }
        if let Some(search) = &filters.search {
            and(&mut query);
            query
                .sql("p.name ILIKE ")
                .bind(Bind::Text(like_pattern(search)))
                .sql(" ESCAPE '\\'");
        }
        if let Some(after) = &self.after {
            // A row value comparison: (a, b) > (x, y) means a > x, or a = x and b > y. One
            // condition, and a B-tree index on (column, id) serves it as a range scan.
            and(&mut query);
            query.sql("(").sql(self.sort.column()).sql(", p.id) ");
            query.sql(match self.direction {
                Direction::Asc => "> (",
                Direction::Desc => "< (",
            });
            query.bind(match after.key() {
                SortKey::Int(micros) if self.sort == SortField::Created => Bind::Time(
                    crate::cursor::micros_to_time(*micros)
                        .expect("a Cursor keeps the key of a Created sort in range"),
                ),
                SortKey::Int(n) => Bind::Int(*n),
                SortKey::Text(s) => Bind::Text(s.clone()),
            });
            query.sql(", ").bind(Bind::Uuid(after.id())).sql(")");
        }
        let direction = match self.direction {
            Direction::Asc => " ASC",
            Direction::Desc => " DESC",
        };
        // The id breaks ties, in the same direction, so the order is total: two rows with the
        // same price always come out in the same order, on every page.
        query
            .sql(" ORDER BY ")
            .sql(self.sort.column())
            .sql(direction)
            .sql(", p.id")
            .sql(direction);
        query
            .sql(" LIMIT ")
            .bind(Bind::Int(i64::from(self.limit) + 1));
        query
    }
}
// ANCHOR_END: to_sql
