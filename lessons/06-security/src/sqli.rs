//! SQL injection: a product search built by pasting the user's text into SQL, beside the same
//! search with the text sent as a bind parameter.
//!
//! The demo runs both against its own PostgreSQL database (`cargo run -p lesson-06`); the tests
//! in `tests/sqli.rs` prove that the first leaks rows it must not and the second does not.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use sqlx::{AssertSqlSafe, PgPool};

use crate::lab::LabState;
use crate::problem::refusal;

/// The lesson's tables: a catalogue with unpublished products, and a table of staff
/// credentials that no product search should ever reach.
pub const SCHEMA: &[&str] = &[
    "CREATE TABLE products (
        id          int PRIMARY KEY,
        name        text NOT NULL,
        price_cents int NOT NULL,
        published   boolean NOT NULL
    )",
    "CREATE TABLE staff_accounts (
        email         text PRIMARY KEY,
        password_hash text NOT NULL
    )",
    "INSERT INTO products VALUES
        (1, 'Red mug', 1250, true),
        (2, 'Blue mug', 1250, true),
        (3, 'Teapot', 3900, true),
        (4, 'Spring collection (embargoed)', 4900, false),
        (5, 'Staff discount voucher', 0, false)",
    // Not real hashes, and not how lesson 04 stores passwords: just something worth stealing.
    "INSERT INTO staff_accounts VALUES
        ('root@shop.test', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZmFrZS1oYXNoLTE'),
        ('support@shop.test', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$ZmFrZS1oYXNoLTI')",
];

/// Creates and fills the lesson's tables in an empty database.
pub async fn create_tables(pool: &PgPool) -> Result<(), sqlx::Error> {
    for statement in SCHEMA {
        sqlx::query(*statement).execute(pool).await?;
    }
    Ok(())
}

/// A product as the search returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
pub struct Product {
    pub id: i32,
    pub name: String,
    pub price_cents: i32,
}

/// `?name=`: what the customer typed into the search box.
#[derive(Debug, Deserialize)]
pub struct Search {
    pub name: String,
}

/// The body both endpoints answer with.
#[derive(Debug, Serialize, Deserialize)]
pub struct SearchResult {
    pub rows: Vec<Product>,
}

// ANCHOR: vulnerable
/// `GET /vulnerable/products?name=`: the user's text becomes part of the SQL itself.
///
/// `name = x' OR '1'='1` closes the string literal and adds a condition that is always true;
/// `x' UNION SELECT ...` appends a second query over any table the role can read. sqlx 0.9
/// refuses a non-literal SQL string unless it is wrapped in `AssertSqlSafe`, so this code had
/// to *claim* it is safe to compile: that wrapper is where a reviewer should stop.
pub async fn search_vulnerable(
    State(state): State<LabState>,
    Query(search): Query<Search>,
) -> Response {
    let Some(pool) = state.db() else {
        return no_database();
    };
    let sql = format!(
        "SELECT id, name, price_cents FROM products WHERE published AND name = '{}'",
        search.name
    );
    match sqlx::query_as::<_, Product>(AssertSqlSafe(sql))
        .fetch_all(pool)
        .await
    {
        Ok(rows) => Json(SearchResult { rows }).into_response(),
        // The second mistake: the database's own error message goes to the client, which
        // tells an attacker how the query looks (error-based injection feeds on this).
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}
// ANCHOR_END: vulnerable

// ANCHOR: fixed
/// `GET /fixed/products?name=`: the SQL is a constant and the text travels separately.
///
/// PostgreSQL receives `$1` in the statement and the value in a separate message of the
/// protocol, so there is no string for the value to escape from: `x' OR '1'='1` is searched
/// for as a product name, and found nowhere. Validation comes first, but for a different
/// reason: it bounds what the query costs, it is not what stops the injection.
pub async fn search_fixed(State(state): State<LabState>, Query(search): Query<Search>) -> Response {
    let Some(pool) = state.db() else {
        return no_database();
    };
    let name = match SearchText::parse(&search.name) {
        Ok(name) => name,
        Err(why) => return refusal(StatusCode::UNPROCESSABLE_ENTITY, why).into_response(),
    };
    let rows = sqlx::query_as::<_, Product>(
        "SELECT id, name, price_cents FROM products WHERE published AND name = $1",
    )
    .bind(name.as_str())
    .fetch_all(pool)
    .await;
    match rows {
        Ok(rows) => Json(SearchResult { rows }).into_response(),
        Err(error) => {
            tracing::error!(error = %error, "product search failed");
            refusal(StatusCode::INTERNAL_SERVER_ERROR, "the search failed").into_response()
        }
    }
}
// ANCHOR_END: fixed

// ANCHOR: validate
/// Search text that passed input validation: 1 to 100 characters, no control characters.
///
/// Allow-list the shape of input at the boundary (length, character classes, ranges), parse it
/// into a type, and let the rest of the program take only that type. Note what it does not
/// do: it lets `'` through, because "O'Brien's mug" is a fine product name. Quotes are the
/// query's problem, solved by binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText(String);

impl SearchText {
    pub const MAX_CHARS: usize = 100;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let chars = trimmed.chars().count();
        if chars == 0 || chars > Self::MAX_CHARS {
            return Err(format!(
                "name must have 1 to {} characters, not {chars}",
                Self::MAX_CHARS
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err("name must not contain control characters".to_owned());
        }
        Ok(SearchText(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}
// ANCHOR_END: validate

fn no_database() -> Response {
    refusal(
        StatusCode::SERVICE_UNAVAILABLE,
        "PostgreSQL is not connected: start it with `cargo xtask services up`",
    )
    .into_response()
}
