//! The listing's query string and SQL: parameters are parsed into types with every problem
//! reported, identifiers come from the allow-list only, and every value is a bind.
//!
//! `cargo test -p lesson-05 --test listing_sql`

use lesson_05::cursor::{Cursor, SortField};
use lesson_05::listing::{Direction, ListParams, ListQuery, MAX_LIMIT, like_pattern};
use lesson_05::sql::Bind;
use proptest::prelude::*;
use shop_http::{FieldError, Location};
use uuid::Uuid;

fn params(pairs: &[(&str, &str)]) -> ListParams {
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
    };
    ListParams {
        sort: get("sort"),
        after: get("after"),
        limit: get("limit"),
        category: get("category"),
        min_price: get("min_price"),
        max_price: get("max_price"),
        q: get("q"),
    }
}

/// Where each error is: a body pointer (`#/name`) or a query parameter's name (`limit`).
fn errors_at(errors: &[FieldError]) -> Vec<&str> {
    errors
        .iter()
        .map(|error| match &error.location {
            Location::Pointer(at) | Location::Parameter(at) => at.as_str(),
        })
        .collect()
}

#[test]
fn no_parameters_is_the_first_page_by_price() {
    let query = ListQuery::try_from(ListParams::default()).unwrap();
    assert_eq!(query, ListQuery::by(SortField::Price, Direction::Asc));
    let sql = query.to_sql();
    assert!(
        sql.text()
            .ends_with(" ORDER BY p.price_minor ASC, p.id ASC LIMIT $1"),
        "{}",
        sql.text()
    );
    assert!(!sql.text().contains("WHERE"));
    assert_eq!(sql.binds(), [Bind::Int(21)]);
}

#[test]
fn every_bad_parameter_is_reported_at_once() {
    let errors = ListQuery::try_from(params(&[
        ("sort", "price; DROP TABLE products"),
        ("limit", "0"),
        ("min_price", "-1"),
        ("max_price", "ten"),
        ("q", "\u{0}"),
        ("category", "Desks"),
    ]))
    .unwrap_err();
    assert_eq!(
        errors_at(&errors),
        ["sort", "limit", "min_price", "max_price", "q", "category"]
    );
    assert!(
        errors
            .iter()
            .all(|e| matches!(e.location, Location::Parameter(_)))
    );
}

#[test]
fn limits_and_price_ranges_are_checked() {
    let too_big = (MAX_LIMIT + 1).to_string();
    let errors = ListQuery::try_from(params(&[("limit", &too_big)])).unwrap_err();
    assert_eq!(errors_at(&errors), ["limit"]);
    let errors =
        ListQuery::try_from(params(&[("min_price", "500"), ("max_price", "100")])).unwrap_err();
    assert_eq!(errors_at(&errors), ["max_price"]);
}

#[test]
fn a_bad_cursor_or_one_from_another_sort_is_a_parameter_error() {
    let errors = ListQuery::try_from(params(&[("after", "%%%")])).unwrap_err();
    assert_eq!(errors_at(&errors), ["after"]);
    let by_price = Cursor::after_price(100, Uuid::nil()).encode();
    let errors =
        ListQuery::try_from(params(&[("sort", "name"), ("after", &by_price)])).unwrap_err();
    assert_eq!(errors_at(&errors), ["after"]);
    assert!(
        errors[0].detail.contains("sort=price"),
        "{}",
        errors[0].detail
    );
}

#[test]
fn filters_and_a_cursor_become_conditions_with_binds() {
    let id = Uuid::now_v7();
    let after = Cursor::after_price(1299, id).encode();
    let query = ListQuery::try_from(params(&[
        ("sort", "-price"),
        ("category", "desks"),
        ("min_price", "1000"),
        ("max_price", "5000"),
        ("q", "  oak  "),
        ("limit", "10"),
        ("after", &after),
    ]))
    .unwrap();
    let sql = query.to_sql();
    let text = sql.text();
    let tail = text.split_once(" WHERE ").expect("a WHERE clause").1;
    assert_eq!(
        tail,
        "c.slug = $1 AND p.price_minor >= $2 AND p.price_minor <= $3 \
         AND p.name ILIKE $4 ESCAPE '\\' AND (p.price_minor, p.id) < ($5, $6) \
         ORDER BY p.price_minor DESC, p.id DESC LIMIT $7"
    );
    assert_eq!(
        sql.binds(),
        [
            Bind::Text("desks".into()),
            Bind::Int(1000),
            Bind::Int(5000),
            Bind::Text("%oak%".into()),
            Bind::Int(1299),
            Bind::Uuid(id),
            Bind::Int(11),
        ]
    );
}

#[test]
fn sort_fields_map_to_their_columns_only() {
    for (sort, column) in [
        ("name", "p.name"),
        ("-created", "p.created_at"),
        ("price", "p.price_minor"),
    ] {
        let sql = ListQuery::try_from(params(&[("sort", sort)]))
            .unwrap()
            .to_sql();
        assert!(
            sql.text().contains(&format!(" ORDER BY {column} ")),
            "{sort}: {}",
            sql.text()
        );
    }
}

#[test]
fn like_wildcards_are_escaped_so_they_match_themselves() {
    assert_eq!(like_pattern("50%_off"), r"%50\%\_off%");
    assert_eq!(like_pattern(r"a\b"), r"%a\\b%");
}

proptest! {
    /// Whatever the client sends as a search or a name cursor, the SQL text is made of fixed
    /// fragments (its only quotes are the two around the ESCAPE character) and the value is
    /// among the binds.
    #[test]
    fn values_only_ever_travel_as_binds(search in "[^\u{0}-\u{1f}]{1,40}", name in ".*") {
        let after = Cursor::after_name(&name, Uuid::nil()).encode();
        let query = ListQuery::try_from(params(&[("sort", "name"), ("q", &search), ("after", &after)]));
        let query = match query {
            Ok(query) => query,
            // Whitespace-only searches are no search; control characters are refused.
            Err(_) => return Ok(()),
        };
        let sql = query.to_sql();
        let text = sql.text();
        let expected_quotes = if query.filters.search.is_some() { 2 } else { 0 };
        prop_assert_eq!(text.matches('\'').count(), expected_quotes, "{}", text);
        prop_assert_eq!(text.matches('$').count(), sql.binds().len());
        prop_assert!(sql.binds().contains(&Bind::Text(name.clone())));
    }
}
