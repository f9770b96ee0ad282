//! Exercise 05, data management: the three pieces between a catalog's query string and its SQL.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-05`
//! passes; run one part at a time with `--test part_a_cursor`, `--test part_b_sql` or
//! `--test part_c_validation`. The brief is book chapter 05, section "Exercise", and the doc
//! comments below. Stuck? `cargo xtask hint 05 a` (or `b`, `c`) shows that part's hints one
//! level at a time.
//!
//! Three parts, in order:
//! - (a) [`Cursor::encode`] and [`Cursor::decode`]: an opaque, versioned keyset cursor that
//!   refuses garbage, tampering and every spelling but its own with a typed [`CursorError`].
//! - (b) [`SortSpec::parse`] and [`ListRequest::to_sql`]: an allow-listed sort and typed
//!   filters turned into SQL text plus a list of bind values. No value ever enters the text.
//! - (c) [`NewProductRequest::validate`]: every rule checked, *every* broken one reported.
//!
//! Nothing here talks to a database: [`Sql`] is the text and the binds a driver would send.
//! Part (b)'s tests read the binds, and those under `needs_postgres` run the SQL on PostgreSQL
//! (`cargo xtask services up` starts it; without it they fail, and `cargo xtask test` lists
//! them as skipped). Everything that is not a `todo!()` (the types, the constants,
//! [`like_pattern`]) is given: read it, it is part of the brief. You may add private types and
//! functions of your own (a serde struct for the cursor's JSON, one small check per field);
//! the crates at hand are `serde`, `serde_json`, `base64` (its
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
/// as base64url **without padding** (RFC 4648 §5: `-` and `_` instead of `+` and `/`, no
/// trailing `=`), so it can sit in a URL unescaped. The JSON is exactly this: the members in
/// that order, no whitespace; `v` is [`Cursor::VERSION`]; `sort` is the field's
/// [`SortField::name`]; `key` is a JSON number for `price` and `created` and a JSON string for
/// `name`. Strings are written the way `serde_json` writes them: `"` and `\` get a backslash;
/// the control characters U+0008, U+0009, U+000A, U+000C and U+000D are `\b`, `\t`, `\n`,
/// `\f` and `\r`; the other characters below U+0020 are `\u00XX` with lower-case hex digits;
/// every other character is itself, in UTF-8.
///
/// One position, one spelling: JSON allows many others for the same object (spaces, another
/// member order, `\u00e9` for `é`, `\u001F` for `\u001f`), and [`Cursor::decode`] refuses them
/// all.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor {
    pub sort: SortField,
    pub key: Value,
    pub id: i64,
}

/// Why a string is not a cursor this server issued. A handler answers each with 400. The
/// steps are those of [`Cursor::decode`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    /// Step 1: not base64url without padding.
    #[error("the cursor is not base64url")]
    Encoding,
    /// Steps 2, 4, 5 and 6: the bytes are not the JSON that [`Cursor::encode`] writes.
    #[error("the cursor is malformed")]
    Malformed,
    /// Step 3: a JSON object of a version this server does not read (any `v` other than
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

    /// Reads a cursor written by [`Cursor::encode`], and nothing else. The checks, in this
    /// order; the first that fails decides the error:
    ///
    /// 1. `text` is base64url without padding, as `URL_SAFE_NO_PAD` decodes it: only `A`-`Z`,
    ///    `a`-`z`, `0`-`9`, `-` and `_`; not a length of 4n + 1 characters; no bits set in the
    ///    last character beyond the last byte. Else [`CursorError::Encoding`]. (A cursor cut
    ///    short fails here or at step 2: base64 cannot always tell that bytes are missing.)
    /// 2. The bytes are JSON text of one object with a member `v` holding a whole number from
    ///    0 to `u64::MAX`. Else [`CursorError::Malformed`]: not UTF-8, not JSON, an array, no
    ///    `v`, `"v":"1"` or `"v":1.0`.
    /// 3. `v` is [`Cursor::VERSION`]. Else [`CursorError::UnsupportedVersion`] with that `v`,
    ///    whatever else the object holds: another version may hold anything.
    /// 4. The object has exactly the members `v`, `sort`, `key` and `id`; `sort` is one of the
    ///    [`SortField::name`]s, `key` a string or a whole number that fits an `i64`, `id` a
    ///    whole number that fits an `i64`. Else `Malformed`: an unknown sort, a missing or an
    ///    extra member, `12.5`, `"42"` for the id.
    /// 5. The key's type is the sort's: a number for `price` and `created`, a string for
    ///    `name`. Else `Malformed`.
    /// 6. `text` is exactly what [`Cursor::encode`] writes for the cursor read. Else
    ///    `Malformed`: this is what refuses every other spelling of the same JSON.
    ///
    /// (A member named twice is refused at step 2, 3 or 6, depending on how your JSON reader
    /// treats it; the tests leave that open.)
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
    /// The query for one page: SQL text and its binds. The tests run it on PostgreSQL, against
    /// a table `products (id bigint, name text, price_minor bigint, created_at bigint,
    /// category_slug text)`, so a condition may be written any way PostgreSQL reads with the
    /// same meaning. Two parts are compared as text, ignoring whitespace, letter case,
    /// parentheses and a written-out `ASC`:
    ///
    /// - the text starts `SELECT id, name, price_minor, created_at FROM products`;
    /// - it ends `ORDER BY <column> <ASC|DESC>, id <ASC|DESC> LIMIT $n`: the sort's
    ///   [`SortField::column`], then the id, which breaks ties, in the same direction.
    ///
    /// In between come `WHERE` and the conditions joined by `AND`, each only when its filter is
    /// set, and no `WHERE` when none is:
    ///
    /// 1. the category: `category_slug = $n`;
    /// 2. the lowest price: `price_minor >= $n`;
    /// 3. the highest price: `price_minor <= $n`;
    /// 4. the search: `name ILIKE $n ESCAPE '\'`, its bind [`like_pattern`] of the text;
    /// 5. with a cursor, only the rows after it in this order: `(<column>, id) > ($n, $m)`, or
    ///    `<` when descending, with the cursor's key and then its id as the binds.
    ///
    /// The binds are exact: the values of that list in its order, each bound once however
    /// often the text uses it, then `limit + 1` as a `Value::Int` for the `LIMIT` (the extra row
    /// tells whether another page exists). The text uses each placeholder from `$1` to the
    /// number of binds, and no other, numbered in the order they first appear.
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
    /// - `sku`: trimmed and upper-cased, ASCII letters only (`str::to_ascii_uppercase`: `ß`
    ///   stays `ß`, and is then refused); 3 to 32 characters, only `A`-`Z`, `0`-`9` and `-`, no
    ///   `-` first, last or twice in a row (`" mug-red-01 "` becomes `MUG-RED-01`).
    /// - `name`: trimmed, every run of whitespace inside (`char::is_whitespace`: a no-break
    ///   space too) replaced by one space; then 1 to [`MAX_NAME_CHARS`] characters, none of
    ///   them a control character (`char::is_control`).
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
