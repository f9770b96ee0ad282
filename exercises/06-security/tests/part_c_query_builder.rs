//! Part (c): a query builder that cannot be injected.
//!
//! Run with `cargo test -p exercise-06 --test part_c_query_builder`. The first tests pin the
//! SQL it writes; the rest feed it the payloads of lesson 06's attack script and check that
//! they are refused as names or end up as bind values, never in the SQL text.

use exercise_06::{Direction, Query, QueryError, SHOP, Select, Value, escape_like};

fn text(v: &str) -> Value {
    Value::Text(v.to_owned())
}

#[test]
fn the_whole_query_has_the_documented_shape() {
    let query = Select::from(&SHOP, "products")
        .and_then(|q| q.column("id"))
        .and_then(|q| q.column("name"))
        .and_then(|q| q.filter_eq("category", "mugs"))
        .and_then(|q| q.filter_contains("name", "red"))
        .and_then(|q| q.order_by("price_cents", Direction::Desc))
        .and_then(|q| q.limit(20))
        .unwrap()
        .build();
    assert_eq!(
        query.sql,
        r#"SELECT "id", "name" FROM "products" WHERE "category" = $1 AND "name" ILIKE $2 ESCAPE '\' ORDER BY "price_cents" DESC LIMIT $3"#
    );
    assert_eq!(query.binds, [text("mugs"), text("%red%"), Value::Int(20)]);
}

#[test]
fn the_smallest_query_selects_every_column_in_schema_order() {
    let query = Select::from(&SHOP, "reviews").unwrap().build();
    assert_eq!(
        query,
        Query {
            sql: r#"SELECT "id", "product_id", "rating", "body" FROM "reviews""#.to_owned(),
            binds: vec![],
        }
    );
    let query = Select::from(&SHOP, "reviews")
        .unwrap()
        .filter_eq("rating", 5)
        .unwrap()
        .filter_eq("product_id", 7)
        .unwrap()
        .order_by("id", Direction::Desc)
        .unwrap()
        .order_by("rating", Direction::Asc)
        .unwrap()
        .build();
    assert_eq!(
        query.sql,
        r#"SELECT "id", "product_id", "rating", "body" FROM "reviews" WHERE "rating" = $1 AND "product_id" = $2 ORDER BY "rating" ASC"#
    );
    assert_eq!(query.binds, [Value::Int(5), Value::Int(7)]);
}

#[test]
fn injection_through_a_value_stays_a_value() {
    for payload in [
        "x' OR '1'='1",
        "x' UNION SELECT email, password_hash FROM staff_accounts --",
        "'; DROP TABLE products; --",
    ] {
        let query = Select::from(&SHOP, "products")
            .unwrap()
            .filter_eq("name", payload)
            .unwrap()
            .build();
        assert_eq!(
            query.sql,
            r#"SELECT "id", "name", "category", "price_cents", "published" FROM "products" WHERE "name" = $1"#
        );
        assert_eq!(query.binds, [text(payload)]);
    }
}

#[test]
fn injection_through_a_name_is_refused() {
    for table in [
        "products; DROP TABLE reviews",
        "products --",
        "Products",
        "staff_accounts",
        "",
    ] {
        assert_eq!(
            Select::from(&SHOP, table).err(),
            Some(QueryError::UnknownTable(table.to_owned())),
            "{table:?}"
        );
    }
    let products = || Select::from(&SHOP, "products").unwrap();
    for column in [
        r#"name" FROM staff_accounts --"#,
        "name, password_hash",
        "1=1",
        "NAME",
        "rating",
    ] {
        let unknown = QueryError::UnknownColumn {
            table: "products",
            column: column.to_owned(),
        };
        assert_eq!(products().column(column).err(), Some(unknown.clone()));
        assert_eq!(products().filter_eq(column, 1).err(), Some(unknown.clone()));
        assert_eq!(
            products().filter_contains(column, "x").err(),
            Some(unknown.clone())
        );
        assert_eq!(
            products().order_by(column, Direction::Asc).err(),
            Some(unknown)
        );
    }
}

#[test]
fn like_wildcards_in_the_search_text_match_themselves() {
    assert_eq!(escape_like("50%_off"), r"50\%\_off");
    assert_eq!(escape_like(r"C:\temp"), r"C:\\temp");
    assert_eq!(escape_like("plain"), "plain");
    let query = Select::from(&SHOP, "products")
        .unwrap()
        .filter_contains("name", "100%")
        .unwrap()
        .build();
    assert_eq!(query.binds, [text(r"%100\%%")]);
}

#[test]
fn the_limit_is_bounded_and_bound() {
    let products = || Select::from(&SHOP, "products").unwrap();
    assert_eq!(
        products().limit(0).err(),
        Some(QueryError::Limit { got: 0 })
    );
    assert_eq!(
        products().limit(101).err(),
        Some(QueryError::Limit { got: 101 })
    );
    let query = products().limit(100).unwrap().build();
    assert!(query.sql.ends_with(" LIMIT $1"), "{}", query.sql);
    assert_eq!(query.binds, [Value::Int(100)]);
}

#[test]
fn placeholders_are_numbered_by_position_whatever_the_mix() {
    let query = Select::from(&SHOP, "products")
        .unwrap()
        .filter_contains("name", "mug")
        .unwrap()
        .filter_eq("published", true)
        .unwrap()
        .filter_contains("category", "kitchen")
        .unwrap()
        .limit(5)
        .unwrap()
        .build();
    for n in 1..=4 {
        assert_eq!(
            query.sql.matches(&format!("${n}")).count(),
            1,
            "{}",
            query.sql
        );
    }
    assert!(!query.sql.contains("$5"));
    assert_eq!(query.binds.len(), 4);
    assert_eq!(query.binds[1], Value::Bool(true));
}
