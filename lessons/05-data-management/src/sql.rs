//! A query builder that cannot interpolate a value: SQL text only from `&'static str`, values
//! only as bind parameters, and a record of every bind so the demo and the tests can print and
//! check what is sent.
//!
//! What this module shows: `sqlx::QueryBuilder::push` accepts anything `Display`, including a
//! string from a request, which is how injection gets in. [`SafeQuery`] wraps the builder and
//! narrows `push` to `&'static str`: text written in the source code. Values go through
//! [`SafeQuery::bind`], which calls `push_bind` (a `$n` placeholder in the text, the value sent
//! separately in the protocol's Bind message) and records the value.
//!
//! Tests: `cargo test -p lesson-05 --test listing_sql`.

use std::fmt;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::QueryAs;
use sqlx::{FromRow, Postgres, QueryBuilder};
use time::OffsetDateTime;
use uuid::Uuid;

// ANCHOR: bind
/// A value sent as a bind parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bind {
    Int(i64),
    Text(String),
    Uuid(Uuid),
    Time(OffsetDateTime),
}

impl fmt::Display for Bind {
    /// How the demo prints a bind: text in quotes with Rust's escapes, so what is data is
    /// visibly data.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bind::Int(n) => write!(f, "{n}"),
            Bind::Text(s) => write!(f, "{s:?}"),
            Bind::Uuid(id) => write!(f, "{id}"),
            Bind::Time(t) => write!(f, "{t}"),
        }
    }
}

/// A statement under construction: fixed text and recorded binds.
pub struct SafeQuery {
    builder: QueryBuilder<Postgres>,
    binds: Vec<Bind>,
}

impl SafeQuery {
    pub fn new(sql: &'static str) -> Self {
        Self {
            builder: QueryBuilder::new(sql),
            binds: Vec::new(),
        }
    }

    /// Appends SQL text. `&'static str` is the point: a `String` built from a request does
    /// not fit, so there is no way to call this with user input.
    pub fn sql(&mut self, text: &'static str) -> &mut Self {
        self.builder.push(text);
        self
    }

    /// Appends a placeholder and sends `value` separately.
    pub fn bind(&mut self, value: Bind) -> &mut Self {
        match &value {
            Bind::Int(n) => self.builder.push_bind(*n),
            Bind::Text(s) => self.builder.push_bind(s.clone()),
            Bind::Uuid(id) => self.builder.push_bind(*id),
            Bind::Time(t) => self.builder.push_bind(*t),
        };
        self.binds.push(value);
        self
    }
    // ANCHOR_END: bind

    /// The SQL text so far, placeholders and all.
    pub fn text(&self) -> String {
        self.builder.sql().as_str().to_owned()
    }

    /// The binds so far, in placeholder order (`$1` first).
    pub fn binds(&self) -> &[Bind] {
        &self.binds
    }

    /// The statement, to run: `query.build_query_as::<Row>().fetch_all(pool)`. The builder
    /// itself stays private: handing out `&mut QueryBuilder` would hand out its `push` too.
    pub fn build_query_as<'q, T>(&'q mut self) -> QueryAs<'q, Postgres, T, PgArguments>
    where
        T: for<'r> FromRow<'r, PgRow>,
    {
        self.builder.build_query_as()
    }
}

impl fmt::Debug for SafeQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SafeQuery")
            .field("text", &self.text())
            .field("binds", &self.binds)
            .finish()
    }
}
