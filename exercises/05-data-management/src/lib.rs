//! Exercise 05, data management: the three pieces between a catalog's query string and its SQL.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-05`
//! passes; run one part at a time with `--test part_a_cursor`, `--test part_b_sql` or
//! `--test part_c_validation`. The brief is book chapter 05, section "Exercise". Stuck?
//! `cargo xtask hint 05` shows graded hints one level at a time (they are also in
//! `hints/1.md`, `2.md`, `3.md`).
//!
//! Three parts, in order:
//! - (a) [`Cursor::encode`] and [`Cursor::decode`]: an opaque, versioned keyset cursor that
//!   refuses garbage and tampering with a typed [`CursorError`].
//! - (b) [`SortSpec::parse`] and [`ListRequest::to_sql`]: an allow-listed sort and typed
//!   filters turned into SQL text plus a list of bind values. No value ever enters the text.
//! - (c) [`NewProductRequest::validate`]: every rule checked, *every* broken one reported.
//!
//! Nothing here talks to a database: [`Sql`] is the text and the binds a driver would send,
//! which is exactly what the tests look at. Everything that is not a `todo!()` (the types,
//! the constants, [`like_pattern`]) is given: read it, it is part of the brief. You may add
//! private types and functions of your own (a serde struct for the cursor's JSON, one small
//! check per field); the crates at hand are `serde`, `serde_json`, `base64` (its
//! `base64::engine::general_purpose::URL_SAFE_NO_PAD` engine, with `use base64::Engine;`) and
//! `thiserror`.

// Stub bodies ignore their parameters; this line goes away with your solution.
#![allow(unused_variables)]

use serde::{Deserialize, Serialize};
use thiserror::Error;

// ---------------------------------------------------------------------------------------------
// The listing: what can be sorted on, in which direction
// ---------------------------------------------------------------------------------------------

// ANCHOR: sort
/// The columns a client may sort the catalog by: the allow-list. Anything else is refused
/// before any SQL exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortField {
    /// `price_minor`, a whole number of cents.
    Price,
    /// `name`, text.
    Name,
    /// `created_at`, as whole seconds since the Unix epoch in cursors.
    Created,
}

impl SortField {
    /// The column this field sorts by. A `&'static str`: only these three strings can ever
    /// become part of the SQL text.
    pub const fn column(self) -> &'static str {
        match self {
            SortField::Price => "price_minor",
            SortField::Name => "name",
            SortField::Created => "created_at",
        }
    }

    /// The name clients use in `?sort=`: `price`, `name`, `created`.
    pub const fn name(self) -> &'static str {
        match self {
            SortField::Price => "price",
            SortField::Name => "name",
            SortField::Created => "created",
        }
    }
}

/// Ascending or descending.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Direction {
    #[default]
    Asc,
    Desc,
}

/// A sort: a field and a direction, e.g. `-price` (price, highest first).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SortSpec {
    pub field: SortField,
    pub direction: Direction,
}
// ANCHOR_END: sort

/// A value sent to the database as a bind parameter (`$1`, `$2`, ...), never as SQL text.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Int(i64),
    Text(String),
}

// ---------------------------------------------------------------------------------------------
// Part (a): the cursor
// ---------------------------------------------------------------------------------------------

// ANCHOR: cursor
/// Where the previous page ended: the last row's sort key and its id (the tie-breaker).
///
/// A client receives it as an opaque string and sends it back as `?after=...`; it must not
/// read or build one. [`Cursor::encode`] writes the JSON object
///
/// ```json
/// {"v":1,"sort":"price","key":1299,"id":42}
/// ```
///
/// (members in exactly that order, no spaces) as base64url **without padding** (RFC 4648 §5:
/// `-` and `_` instead of `+` and `/`, no trailing `=`), so it can sit in a URL unescaped.
/// `v` is [`Cursor::VERSION`]; `sort` is the field's [`SortField::name`]; `key` is a JSON number
/// for `price` and `created` and a JSON string for `name`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub sort: SortField,
    pub key: Value,
    pub id: i64,
}

/// Why a string is not a cursor this server issued. A handler answers each with 400.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    /// Not base64url without padding (an `=`, a `+`, a space, a truncated string, ...).
    #[error("the cursor is not base64url")]
    Encoding,
    /// Valid base64url, but the bytes are not the JSON object described on [`Cursor`]: not
    /// JSON, missing or extra members, an unknown sort, or a `key` of the wrong type for the
    /// sort (a string for `price`, a number for `name`).
    #[error("the cursor is malformed")]
    Malformed,
    /// A well-formed cursor of a version this server does not read (any `v` other than
    /// [`Cursor::VERSION`]).
    #[error("cursor version {0} is not supported")]
    UnsupportedVersion(u64),
}
// ANCHOR_END: cursor

impl Cursor {
    /// The cursor format this code writes and reads.
    pub const VERSION: u64 = 1;

    /// The opaque form: base64url (no padding) of the JSON shown on [`Cursor`].
    pub fn encode(&self) -> String {
        todo!("exercise 05, part a, Cursor::encode: see book chapter 05, section 'Exercise'")
    }

    /// Reads a cursor written by [`Cursor::encode`]. The checks, in order: base64url
    /// ([`CursorError::Encoding`]), a JSON object with exactly the four members
    /// ([`CursorError::Malformed`]), the version ([`CursorError::UnsupportedVersion`]), and a
    /// key whose type matches the sort ([`CursorError::Malformed`]).
    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        todo!("exercise 05, part a, Cursor::decode: see book chapter 05, section 'Exercise'")
    }
}

// ---------------------------------------------------------------------------------------------
// Part (b): the filter-to-SQL builder
// ---------------------------------------------------------------------------------------------

// ANCHOR: request
/// A listing request once the query string has been parsed into types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListRequest {
    pub filters: Filters,
    pub sort: SortSpec,
    /// Where the previous page ended; `None` for the first page.
    pub after: Option<Cursor>,
    /// Rows per page, already checked to be 1 to [`MAX_LIMIT`].
    pub limit: u32,
}

/// The typed filters. `None` means "no condition".
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Filters {
    /// Only this category: `category_slug = $n`.
    pub category: Option<String>,
    /// Only prices at or above: `price_minor >= $n`.
    pub min_price: Option<i64>,
    /// Only prices at or below: `price_minor <= $n`.
    pub max_price: Option<i64>,
    /// Only names containing this text, case-insensitively, wildcards taken literally:
    /// `name ILIKE $n ESCAPE '\'` with the bind [`like_pattern`]`(text)`.
    pub search: Option<String>,
}

/// The largest page a client may ask for.
pub const MAX_LIMIT: u32 = 100;

/// SQL text and its bind values, in `$1, $2, ...` order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sql {
    pub text: String,
    pub binds: Vec<Value>,
}

/// Why a `?sort=` value was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("cannot sort by `{0}`: use price, name or created, with a leading - for descending")]
pub struct UnknownSort(pub String);
// ANCHOR_END: request

/// `text` as an `ILIKE` pattern that matches it anywhere, literally: `\`, `%` and `_` are
/// escaped with a backslash, then the result is wrapped in `%...%`. `50%_off` becomes
/// `%50\%\_off%`. (Given: sanitizing a *value* for the meaning LIKE gives it, which bind
/// parameters alone do not do.)
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

impl SortSpec {
    /// Parses a `?sort=` value: a field name from the allow-list (`price`, `name`,
    /// `created`; exact, lower case), optionally preceded by `-` for descending. Anything
    /// else, including surrounding spaces, an empty string or `--price`, is [`UnknownSort`]
    /// carrying the input unchanged.
    pub fn parse(input: &str) -> Result<SortSpec, UnknownSort> {
        todo!("exercise 05, part b, SortSpec::parse: see book chapter 05, section 'Exercise'")
    }
}

// ANCHOR: to_sql
impl ListRequest {
    /// The query for one page. The text, exactly (one space between parts):
    ///
    /// ```sql
    /// SELECT id, name, price_minor, created_at FROM products
    /// WHERE <conditions joined by " AND ">
    /// ORDER BY <column> <ASC|DESC>, id <ASC|DESC> LIMIT $n
    /// ```
    ///
    /// on one line: `SELECT id, name, price_minor, created_at FROM products WHERE ... ORDER
    /// BY ...`. `WHERE` and its conditions are left out when there are none. The conditions,
    /// in this order, each only when its filter is set:
    ///
    /// 1. `category_slug = $n`
    /// 2. `price_minor >= $n`
    /// 3. `price_minor <= $n`
    /// 4. `name ILIKE $n ESCAPE '\'` (the bind is [`like_pattern`] of the search text)
    /// 5. with a cursor, the keyset condition `(<column>, id) > ($n, $m)`, or `<` when the
    ///    direction is descending; the binds are the cursor's key, then its id.
    ///
    /// The sort column comes from [`SortField::column`]; the id breaks ties and goes the same
    /// direction. `LIMIT` binds `limit + 1` (as a `Value::Int`): the extra row tells whether
    /// another page exists. Placeholders are numbered from `$1` in the order they appear.
    ///
    /// A cursor issued for another sort field cannot be used: that is
    /// `Err(CursorError::Malformed)` (its key would be compared with the wrong column).
    pub fn to_sql(&self) -> Result<Sql, CursorError> {
        todo!("exercise 05, part b, ListRequest::to_sql: see book chapter 05, section 'Exercise'")
    }
}
// ANCHOR_END: to_sql

// ---------------------------------------------------------------------------------------------
// Part (c): validation at the boundary
// ---------------------------------------------------------------------------------------------

// ANCHOR: validation_types
/// The body of `POST /products` as the client sent it: plain values, nothing checked yet.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProductRequest {
    pub sku: String,
    pub name: String,
    pub price_minor: i64,
    pub category: String,
    #[serde(default)]
    pub description: Option<String>,
}

/// One broken rule: where, as a JSON Pointer (RFC 6901) into the body written as a URI
/// fragment (`#/name`, the form RFC 9457's example uses), and what, for a person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub pointer: String,
    pub detail: String,
}

/// A product that passed every rule, normalised. Private fields: [`NewProductRequest::validate`]
/// is the only way to get one, so holding a `ValidProduct` proves the rules were checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidProduct {
    sku: String,
    name: String,
    price_minor: i64,
    category: String,
    description: String,
}

impl ValidProduct {
    pub fn sku(&self) -> &str {
        &self.sku
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn price_minor(&self) -> i64 {
        self.price_minor
    }
    pub fn category(&self) -> &str {
        &self.category
    }
    pub fn description(&self) -> &str {
        &self.description
    }
}

/// The most characters a name may have (after normalising).
pub const MAX_NAME_CHARS: usize = 200;
/// The most characters a description may have (after trimming).
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// The highest price accepted, in cents: 1,000,000.00.
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

/// `TryFrom` is the conventional spelling of "this conversion can fail"; it is [`validate`].
///
/// [`validate`]: NewProductRequest::validate
impl TryFrom<NewProductRequest> for ValidProduct {
    type Error = Vec<FieldError>;

    fn try_from(request: NewProductRequest) -> Result<Self, Self::Error> {
        request.validate()
    }
}
// ANCHOR_END: validation_types

// ANCHOR: validate
impl NewProductRequest {
    /// Checks every field and reports **every** broken rule, in field order (`#/sku`, `#/name`,
    /// `#/price_minor`, `#/category`, `#/description`), at most one error per field, each with a
    /// non-empty `detail`. The rules, after normalising:
    ///
    /// - `sku`: trimmed and upper-cased; 3 to 32 characters, only `A`-`Z`, `0`-`9` and `-`, no
    ///   `-` first, last or twice in a row (`" mug-red-01 "` becomes `MUG-RED-01`).
    /// - `name`: trimmed, every run of whitespace inside replaced by one space; then 1 to
    ///   [`MAX_NAME_CHARS`] characters, none of them a control character (`char::is_control`).
    /// - `price_minor`: 1 to [`MAX_PRICE_MINOR`].
    /// - `category`: a slug, unchanged: one or more groups of `a`-`z` and `0`-`9` joined by
    ///   single `-` (`home-audio`).
    /// - `description`: absent means empty; otherwise trimmed, at most
    ///   [`MAX_DESCRIPTION_CHARS`] characters.
    ///
    /// Characters are `char`s, not bytes: `"é"` is one.
    pub fn validate(self) -> Result<ValidProduct, Vec<FieldError>> {
        todo!(
            "exercise 05, part c, NewProductRequest::validate: see book chapter 05, section 'Exercise'"
        )
    }
}
// ANCHOR_END: validate
