//! Part (b): the allow-listed sort and the filter-to-SQL builder.
//!
//! Two kinds of tests. Those at the top need nothing: they read the bind list, which is exact,
//! and the few parts of the text the brief fixes (compared up to whitespace, case and
//! parentheses). Those in `needs_postgres` run the SQL on PostgreSQL, on a small table built to
//! tell right paging from wrong, so a condition may be written any way that means the same.
//!
//! Run with `cargo test -p exercise-05 part_b` (`cargo xtask services up` first, for
//! the `needs_postgres` ones).

use exercise_05::{
    Cursor, CursorError, Direction, Filters, ListRequest, MAX_LIMIT, SortField, SortSpec, Sql,
    UnknownSort, Value,
};
use proptest::prelude::*;

const FIELDS: [SortField; 3] = [SortField::Price, SortField::Name, SortField::Created];
const DIRECTIONS: [Direction; 2] = [Direction::Asc, Direction::Desc];

fn by(field: SortField, direction: Direction) -> SortSpec {
    SortSpec { field, direction }
}

fn request(filters: Filters, sort: SortSpec, after: Option<Cursor>) -> ListRequest {
    ListRequest {
        filters,
        sort,
        after,
        limit: 20,
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The SQL for `request`, which must build.
/// A classic injection payload in every text a client controls: the category, the search and
/// the cursor's key.
fn injection_request() -> ListRequest {
    let filters = Filters {
        category: Some(INJECTION.into()),
        search: Some(INJECTION.into()),
        ..Filters::default()
    };
    let after = Cursor {
        sort: SortField::Name,
        key: text(INJECTION),
        id: 1,
    };
    request(filters, by(SortField::Name, Direction::Asc), Some(after))
}

const INJECTION: &str = "x' OR '1'='1'; DROP TABLE products; --";

fn sql_of(request: &ListRequest) -> Sql {
    match request.to_sql() {
        Ok(sql) => sql,
        Err(e) => panic!("to_sql refused a valid request ({e:?}): {request:?}"),
    }
}

/// SQL text as comparable words: lower case, parentheses and a written-out `ASC` dropped,
/// commas as words of their own, whitespace collapsed. `ORDER BY price_minor, id` and
/// `order by (price_minor ASC) ,id` both become `order by price_minor , id`.
fn normalise(sql: &str) -> String {
    sql.to_lowercase()
        .replace(['(', ')'], " ")
        .replace(',', " , ")
        .split_whitespace()
        .filter(|word| *word != "asc")
        .collect::<Vec<_>>()
        .join(" ")
}

/// The placeholder numbers in `text`, in the order they appear (`$2` twice is listed twice).
fn placeholders(text: &str) -> Vec<usize> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        rest = &rest[at + 1..];
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        found.push(digits.parse().unwrap_or(0));
    }
    found
}

/// Checks the placeholder rules of the brief; `Err` says which one `sql` breaks.
fn placeholder_rules(sql: &Sql) -> Result<(), String> {
    let used = placeholders(&sql.text);
    let mut first_seen = Vec::new();
    for &n in &used {
        if !first_seen.contains(&n) {
            first_seen.push(n);
        }
    }
    let expected: Vec<usize> = (1..=sql.binds.len()).collect();
    if first_seen != expected {
        return Err(format!(
            "the text must use $1 to ${} (one per bind), numbered in the order they first \
             appear; it uses {used:?}: {}",
            sql.binds.len(),
            sql.text
        ));
    }
    Ok(())
}

/// The fixed start and end of the text for `sort`, normalised.
fn expected_frame(sort: SortSpec, binds: usize) -> (String, String) {
    let column = sort.field.column();
    let dir = match sort.direction {
        Direction::Asc => "",
        Direction::Desc => " desc",
    };
    (
        "select id , name , price_minor , created_at from products".to_owned(),
        format!("order by {column}{dir} , id{dir} limit ${binds}"),
    )
}

fn cursor_for(field: SortField) -> Cursor {
    let key = match field {
        SortField::Name => text("oak"),
        _ => Value::Int(1_000),
    };
    Cursor {
        sort: field,
        key,
        id: 4,
    }
}

#[test]
fn sort_names_from_the_allow_list_parse() {
    let cases = [
        ("price", SortField::Price, Direction::Asc),
        ("-price", SortField::Price, Direction::Desc),
        ("name", SortField::Name, Direction::Asc),
        ("-name", SortField::Name, Direction::Desc),
        ("created", SortField::Created, Direction::Asc),
        ("-created", SortField::Created, Direction::Desc),
    ];
    for (input, field, direction) in cases {
        assert_eq!(SortSpec::parse(input), Ok(by(field, direction)), "{input}");
    }
}

#[test]
fn anything_else_is_refused_and_named_in_the_error() {
    for input in [
        "",
        "-",
        "--price",
        "Price",
        "PRICE",
        " price",
        "price ",
        "+price",
        "id",
        "price_minor",
        "created_at",
        "price; DROP TABLE products",
        "(SELECT 1)",
    ] {
        assert_eq!(
            SortSpec::parse(input),
            Err(UnknownSort(input.to_owned())),
            "{input:?} is not on the allow-list; the error carries the input unchanged"
        );
    }
}

#[test]
fn the_binds_are_the_filter_values_in_order_then_one_more_than_the_page() {
    let none = sql_of(&request(
        Filters::default(),
        by(SortField::Price, Direction::Asc),
        None,
    ));
    assert_eq!(
        none.binds,
        [Value::Int(21)],
        "no filters: only LIMIT, 20 + 1"
    );

    let all = Filters {
        category: Some("headphones".into()),
        min_price: Some(1_000),
        max_price: Some(5_000),
        search: Some("oak".into()),
    };
    let sql = sql_of(&request(all, by(SortField::Name, Direction::Asc), None));
    assert_eq!(
        sql.binds,
        [
            text("headphones"),
            Value::Int(1_000),
            Value::Int(5_000),
            text("%oak%"),
            Value::Int(21)
        ],
        "category, lowest price, highest price, search pattern, then limit + 1"
    );

    let only_max = Filters {
        max_price: Some(900),
        ..Filters::default()
    };
    let sql = sql_of(&request(
        only_max,
        by(SortField::Created, Direction::Asc),
        None,
    ));
    assert_eq!(
        sql.binds,
        [Value::Int(900), Value::Int(21)],
        "a filter that is not set binds nothing"
    );

    let desks = Filters {
        category: Some("desks".into()),
        ..Filters::default()
    };
    let after = Cursor {
        sort: SortField::Price,
        key: Value::Int(1_299),
        id: 42,
    };
    let sql = sql_of(&request(
        desks,
        by(SortField::Price, Direction::Asc),
        Some(after),
    ));
    assert_eq!(
        sql.binds,
        [
            text("desks"),
            Value::Int(1_299),
            Value::Int(42),
            Value::Int(21)
        ],
        "the cursor binds its key, then its id, after the filters, each once"
    );

    let after = Cursor {
        sort: SortField::Name,
        key: text("Oak desk"),
        id: 7,
    };
    let mut at_most = request(
        Filters::default(),
        by(SortField::Name, Direction::Desc),
        Some(after),
    );
    at_most.limit = MAX_LIMIT;
    assert_eq!(
        sql_of(&at_most).binds,
        [text("Oak desk"), Value::Int(7), Value::Int(101)]
    );
}

#[test]
fn the_text_starts_with_the_select_list_and_ends_with_the_order_and_the_limit() {
    for field in FIELDS {
        for direction in DIRECTIONS {
            let sort = by(field, direction);
            for (filters, after) in [
                (Filters::default(), None),
                (
                    Filters {
                        category: Some("desks".into()),
                        search: Some("oak".into()),
                        ..Filters::default()
                    },
                    Some(cursor_for(field)),
                ),
            ] {
                let sql = sql_of(&request(filters, sort, after));
                let words = normalise(&sql.text);
                let (start, end) = expected_frame(sort, sql.binds.len());
                assert!(
                    words.starts_with(&start),
                    "the query selects id, name, price_minor, created_at from products: {}",
                    sql.text
                );
                assert!(
                    words.ends_with(&end),
                    "sorted by {field:?} {direction:?}, the text ends `{end}` (the id breaks \
                     ties in the same direction, the LIMIT is the last bind): {}",
                    sql.text
                );
                if sql.binds.len() == 1 {
                    assert!(
                        !words.contains("where"),
                        "no conditions, no WHERE: {}",
                        sql.text
                    );
                }
            }
        }
    }
}

#[test]
fn placeholders_are_numbered_in_the_order_they_first_appear() {
    let every_filter = Filters {
        category: Some("desks".into()),
        min_price: Some(1),
        max_price: Some(2),
        search: Some("x".into()),
    };
    for field in FIELDS {
        for direction in DIRECTIONS {
            for filters in [Filters::default(), every_filter.clone()] {
                for after in [None, Some(cursor_for(field))] {
                    let sql = sql_of(&request(filters.clone(), by(field, direction), after));
                    if let Err(broken) = placeholder_rules(&sql) {
                        panic!("{broken}");
                    }
                }
            }
        }
    }
}

#[test]
fn a_cursor_from_another_sort_is_refused() {
    for issued in FIELDS {
        for requested in FIELDS.into_iter().filter(|&f| f != issued) {
            let result = request(
                Filters::default(),
                by(requested, Direction::Asc),
                Some(cursor_for(issued)),
            )
            .to_sql();
            assert_eq!(
                result,
                Err(CursorError::Malformed),
                "a cursor issued for sort={} cannot page a listing sorted by {}",
                issued.name(),
                requested.name()
            );
        }
    }
}

#[test]
fn like_wildcards_in_a_search_are_escaped_in_the_bind() {
    let filters = Filters {
        search: Some(r"50%_off\".into()),
        ..Filters::default()
    };
    let sql = sql_of(&request(
        filters,
        by(SortField::Price, Direction::Asc),
        None,
    ));
    assert_eq!(
        sql.binds[0],
        text(r"%50\%\_off\\%"),
        "the search binds like_pattern of its text"
    );
}

#[test]
fn an_injection_payload_ends_up_in_the_binds_only() {
    let sql = sql_of(&injection_request());
    for fragment in ["DROP", "OR '1'", "--", "x'", ";"] {
        assert!(
            !sql.text.contains(fragment),
            "{fragment} leaked into the text: {}",
            sql.text
        );
    }
    assert_eq!(sql.binds[0], text(INJECTION));
    assert_eq!(sql.binds[2], text(INJECTION));
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// Whatever the values, the text is built from fixed fragments: its only `'`s are those of
    /// `'\'`, and the placeholders follow the rules, for every sort and direction.
    #[test]
    fn values_never_reach_the_sql_text(
        category in proptest::option::of(r"[a-z' ;%_\\$-]{0,12}"),
        search in proptest::option::of(r"[a-z' ;%_\\$-]{0,12}"),
        min_price in proptest::option::of(
            prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()]
        ),
        max_price in proptest::option::of(any::<i64>()),
        key in r"[a-z' ;%_\\$-]{0,12}",
        id in prop_oneof![Just(i64::MIN), Just(i64::MAX), any::<i64>()],
        field in prop::sample::select(FIELDS.to_vec()),
        descending in any::<bool>(),
        with_cursor in any::<bool>(),
        limit in 1..=MAX_LIMIT,
    ) {
        let direction = if descending { Direction::Desc } else { Direction::Asc };
        let filters = Filters { category, min_price, max_price, search };
        let key = match field {
            SortField::Name => Value::Text(key),
            _ => Value::Int(id / 2),
        };
        let after = with_cursor.then_some(Cursor { sort: field, key, id });
        let request = ListRequest { filters, sort: by(field, direction), after, limit };
        let sql = request.to_sql().expect("a cursor of the listing's own sort is accepted");
        let outside = sql.text.replace(r"'\'", "");
        prop_assert!(!outside.contains('\''), "a quote outside '\\' : {}", sql.text);
        prop_assert!(placeholder_rules(&sql).is_ok(), "{:?}", placeholder_rules(&sql));
        prop_assert_eq!(sql.binds.last(), Some(&Value::Int(i64::from(limit) + 1)));
    }
}

/// The tests that run the builder's SQL on PostgreSQL.
mod needs_postgres {
    use super::*;
    use sqlx::{AssertSqlSafe, Row as _};

    /// One row of the test table. `created_at` is whole seconds, as cursors carry it.
    #[derive(Debug, Clone, Copy)]
    struct Product {
        id: i64,
        name: &'static str,
        price_minor: i64,
        created_at: i64,
        category: &'static str,
    }

    const fn p(
        id: i64,
        name: &'static str,
        price_minor: i64,
        created_at: i64,
        category: &'static str,
    ) -> Product {
        Product {
            id,
            name,
            price_minor,
            created_at,
            category,
        }
    }

    /// Ties on every sort key, across page boundaries, in two categories, and inserted in an
    /// order unrelated to the ids (so that rows do not come back in id order by accident).
    /// Names are lower-case letters only, which every collation orders alike.
    const SHOP: [Product; 12] = [
        p(12, "oak", 2_000, 200, "desks"),
        p(3, "pine", 750, 200, "chairs"),
        p(7, "ash", 500, 200, "desks"),
        p(1, "oak", 2_000, 300, "desks"),
        p(9, "elm", 1_000, 100, "chairs"),
        p(5, "birch", 250, 400, "chairs"),
        p(11, "ash", 500, 300, "chairs"),
        p(2, "ash", 500, 100, "desks"),
        p(8, "teak", 1_500, 400, "desks"),
        p(4, "elm", 1_000, 300, "desks"),
        p(10, "maple", 1_500, 300, "desks"),
        p(6, "oak", 2_000, 100, "chairs"),
    ];

    /// A fresh database holding `rows` in a `products` table of the documented shape.
    async fn catalog(rows: &[Product]) -> testkit::PgDatabase {
        let db = testkit::postgres().await;
        sqlx::query(
            "CREATE TABLE products (id bigint PRIMARY KEY, name text NOT NULL, \
             price_minor bigint NOT NULL, created_at bigint NOT NULL, category_slug text NOT NULL)",
        )
        .execute(db.pool())
        .await
        .expect("the test table can be created");
        for row in rows {
            sqlx::query("INSERT INTO products VALUES ($1, $2, $3, $4, $5)")
                .bind(row.id)
                .bind(row.name)
                .bind(row.price_minor)
                .bind(row.created_at)
                .bind(row.category)
                .execute(db.pool())
                .await
                .expect("the test rows insert");
        }
        db
    }

    /// Runs `sql` and returns the ids of the rows, in order, or why that failed.
    async fn run(db: &testkit::PgDatabase, sql: &Sql) -> Result<Vec<i64>, String> {
        let mut query = sqlx::query(AssertSqlSafe(sql.text.clone()));
        for bind in &sql.binds {
            query = match bind {
                Value::Int(n) => query.bind(*n),
                Value::Text(s) => query.bind(s.clone()),
            };
        }
        let rows = query.fetch_all(db.pool()).await.map_err(|e| {
            format!(
                "PostgreSQL refused the builder's SQL: {e}\n  text:  {}\n  binds: {:?}",
                sql.text, sql.binds
            )
        })?;
        rows.iter()
            .map(|row| row.try_get::<i64, _>(0))
            .collect::<Result<_, _>>()
            .map_err(|e| {
                format!(
                    "the first column must be the bigint id: {e}\n  {}",
                    sql.text
                )
            })
    }

    fn key_of(row: &Product, field: SortField) -> Value {
        match field {
            SortField::Price => Value::Int(row.price_minor),
            SortField::Name => text(row.name),
            SortField::Created => Value::Int(row.created_at),
        }
    }

    /// The ids of `rows` that pass `keep`, in the order `sort` defines (the id breaks ties).
    fn expected_order(
        rows: &[Product],
        sort: SortSpec,
        keep: impl Fn(&Product) -> bool,
    ) -> Vec<i64> {
        let mut kept: Vec<&Product> = rows.iter().filter(|row| keep(row)).collect();
        kept.sort_by(|a, b| {
            let by_key = match sort.field {
                SortField::Price => a.price_minor.cmp(&b.price_minor),
                SortField::Name => a.name.cmp(b.name),
                SortField::Created => a.created_at.cmp(&b.created_at),
            };
            let order = by_key.then(a.id.cmp(&b.id));
            match sort.direction {
                Direction::Asc => order,
                Direction::Desc => order.reverse(),
            }
        });
        kept.into_iter().map(|row| row.id).collect()
    }

    /// Pages through the listing as a client would: `limit` rows a page, each next page asked
    /// with a cursor made from the last row shown, until a page says there is no next one.
    /// Returns the ids in the order they were shown.
    async fn walk(
        db: &testkit::PgDatabase,
        filters: &Filters,
        sort: SortSpec,
        limit: u32,
    ) -> Result<Vec<i64>, String> {
        let mut shown = Vec::new();
        let mut after = None;
        // More pages than rows means the cursor is not moving forward.
        for _ in 0..=SHOP.len() + 1 {
            let request = ListRequest {
                filters: filters.clone(),
                sort,
                after: after.take(),
                limit,
            };
            let sql = request
                .to_sql()
                .map_err(|e| format!("to_sql refused a cursor of its own sort: {e:?}"))?;
            let ids = run(db, &sql).await?;
            let page = limit as usize;
            if ids.len() > page + 1 {
                return Err(format!(
                    "a page of {limit} fetched {} rows; LIMIT is limit + 1\n  {}",
                    ids.len(),
                    sql.text
                ));
            }
            shown.extend_from_slice(&ids[..ids.len().min(page)]);
            if ids.len() <= page {
                return Ok(shown);
            }
            let last = SHOP
                .iter()
                .find(|row| row.id == ids[page - 1])
                .ok_or_else(|| format!("row {} is not in the table", ids[page - 1]))?;
            after = Some(Cursor {
                sort: sort.field,
                key: key_of(last, sort.field),
                id: last.id,
            });
        }
        Err(format!(
            "after {} pages the listing had not ended: the cursor does not move forward \
             (shown so far: {shown:?})",
            SHOP.len() + 2
        ))
    }

    async fn every_row_once_in_order(direction: Direction) {
        // Built before the database exists, so an unwritten to_sql fails at once.
        let _ = request(Filters::default(), by(SortField::Price, direction), None).to_sql();
        let db = catalog(&SHOP).await;
        let desks = Filters {
            category: Some("desks".into()),
            ..Filters::default()
        };
        for field in FIELDS {
            let sort = by(field, direction);
            for (filters, keep) in [(Filters::default(), None), (desks.clone(), Some("desks"))] {
                let expected = expected_order(&SHOP, sort, |row| {
                    keep.is_none_or(|category| row.category == category)
                });
                for limit in [1, 2, 3, 5, MAX_LIMIT] {
                    let shown = walk(&db, &filters, sort, limit).await;
                    assert_eq!(
                        shown.as_ref(),
                        Ok(&expected),
                        "sorted by {} {direction:?}, {limit} a page, category {keep:?}: every \
                         row once, in order, the id breaking ties (sort key, then id, the same \
                         direction)",
                        field.name()
                    );
                }
            }
        }
    }

    #[tokio::test]
    async fn pages_show_every_row_once_in_order_ascending() {
        every_row_once_in_order(Direction::Asc).await;
    }

    #[tokio::test]
    async fn pages_show_every_row_once_in_order_descending() {
        every_row_once_in_order(Direction::Desc).await;
    }

    #[tokio::test]
    async fn the_keyset_condition_stays_inside_the_filters() {
        let filters = Filters {
            category: Some("desks".into()),
            ..Filters::default()
        };
        // After (500, 2) rows 7 and 11 tie on the price, but 11 is a chair; after (2000, 12)
        // rows 1 and 6 tie, and 6 is a chair.
        let cases = [
            (
                by(SortField::Price, Direction::Asc),
                Cursor {
                    sort: SortField::Price,
                    key: Value::Int(500),
                    id: 2,
                },
                vec![7, 4, 8, 10, 1, 12],
            ),
            (
                by(SortField::Price, Direction::Desc),
                Cursor {
                    sort: SortField::Price,
                    key: Value::Int(2_000),
                    id: 12,
                },
                vec![1, 10, 8, 4, 7, 2],
            ),
        ];
        let queries: Vec<Sql> = cases
            .iter()
            .map(|(sort, after, _)| sql_of(&request(filters.clone(), *sort, Some(after.clone()))))
            .collect();
        let db = catalog(&SHOP).await;
        for ((_, after, expected), sql) in cases.into_iter().zip(queries) {
            assert_eq!(
                run(&db, &sql).await,
                Ok(expected),
                "only desks after {after:?}: the keyset condition is ANDed with the filters as \
                 a whole (mind the precedence of OR)\n  {}",
                sql.text
            );
        }
    }

    #[tokio::test]
    async fn price_bounds_are_inclusive_and_the_category_is_exact() {
        let cases = [
            (
                Filters {
                    min_price: Some(1_000),
                    max_price: Some(1_500),
                    ..Filters::default()
                },
                "1000 to 1500, both ends included",
            ),
            (
                Filters {
                    min_price: Some(2_000),
                    ..Filters::default()
                },
                "2000 and above",
            ),
            (
                Filters {
                    max_price: Some(250),
                    ..Filters::default()
                },
                "250 and below",
            ),
            (
                Filters {
                    category: Some("chairs".into()),
                    max_price: Some(750),
                    ..Filters::default()
                },
                "chairs up to 750",
            ),
            (
                Filters {
                    category: Some("Chairs".into()),
                    ..Filters::default()
                },
                "the category `Chairs`, which no row has",
            ),
            (
                Filters {
                    min_price: Some(1_600),
                    max_price: Some(1_400),
                    ..Filters::default()
                },
                "an empty range",
            ),
        ];
        let sort = by(SortField::Price, Direction::Asc);
        let first = sql_of(&request(cases[0].0.clone(), sort, None));
        let db = catalog(&SHOP).await;
        assert!(run(&db, &first).await.is_ok(), "{}", first.text);
        for (filters, what) in cases {
            let sql = sql_of(&request(filters.clone(), sort, None));
            let expected = expected_order(&SHOP, sort, |row| {
                filters
                    .category
                    .as_deref()
                    .is_none_or(|c| row.category == c)
                    && filters.min_price.is_none_or(|min| row.price_minor >= min)
                    && filters.max_price.is_none_or(|max| row.price_minor <= max)
            });
            assert_eq!(run(&db, &sql).await, Ok(expected), "{what}\n  {}", sql.text);
        }
    }

    #[tokio::test]
    async fn the_search_is_literal_and_case_insensitive() {
        let search = |text: &str| Filters {
            search: Some(text.into()),
            ..Filters::default()
        };
        let sort = by(SortField::Price, Direction::Asc);
        let first = sql_of(&request(search("oak"), sort, None));
        let rows = [
            p(1, "50% off mug", 100, 1, "mugs"),
            p(2, "50x off mug", 200, 1, "mugs"),
            p(3, "a_b", 300, 1, "mugs"),
            p(4, "axb", 400, 1, "mugs"),
            p(5, r"back\slash", 500, 1, "mugs"),
            p(6, "backslash", 600, 1, "mugs"),
            p(7, "OAK desk", 700, 1, "desks"),
            p(8, "oak DESK", 800, 1, "desks"),
            p(9, "Pine desk", 900, 1, "desks"),
        ];
        let db = catalog(&rows).await;
        assert_eq!(run(&db, &first).await, Ok(vec![7, 8]), "{}", first.text);
        for (text, expected, what) in [
            ("50%", vec![1], "`%` is a percent sign, not a wildcard"),
            ("a_b", vec![3], "`_` is an underscore, not any character"),
            (r"k\s", vec![5], r"`\` is a backslash"),
            ("Desk", vec![7, 8, 9], "case does not matter"),
            ("off", vec![1, 2], "anywhere in the name"),
            (
                "",
                vec![1, 2, 3, 4, 5, 6, 7, 8, 9],
                "the empty search matches every name",
            ),
        ] {
            let sql = sql_of(&request(search(text), sort, None));
            assert_eq!(
                run(&db, &sql).await,
                Ok(expected),
                "searching {text:?}: {what}\n  {}",
                sql.text
            );
        }
    }

    #[tokio::test]
    async fn a_page_fetches_one_row_more_than_it_shows() {
        let mut five = request(
            Filters::default(),
            by(SortField::Created, Direction::Desc),
            None,
        );
        five.limit = 5;
        let sql = sql_of(&five);
        let db = catalog(&SHOP).await;
        let ids = run(&db, &sql).await;
        assert_eq!(
            ids.as_ref().map(Vec::len),
            Ok(6),
            "five a page fetches six rows, the sixth saying there is a next page\n  {}",
            sql.text
        );
    }

    #[tokio::test]
    async fn injection_payloads_are_only_data() {
        let sql = sql_of(&injection_request());
        let db = catalog(&SHOP).await;
        assert_eq!(
            run(&db, &sql).await,
            Ok(vec![]),
            "no product is in that category\n  {}",
            sql.text
        );
        let everything = sql_of(&request(
            Filters::default(),
            by(SortField::Price, Direction::Asc),
            None,
        ));
        assert_eq!(
            run(&db, &everything).await.map(|ids| ids.len()),
            Ok(SHOP.len()),
            "the table is still there, every row in it"
        );
    }
}
