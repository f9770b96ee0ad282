//! Exercise 05, data management: the three pieces between a catalog's query string and its SQL.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-05`
//! passes; run one part at a time with `cargo test -p exercise-05 part_a` (or `part_b`,
//! `part_c`). The brief is book chapter 05, section "Exercise", and the doc comments below.
//! Stuck? `cargo xtask hint 05 a` (or `b`, `c`) shows that part's hints one level at a time.
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
//! them as skipped). The given code (the types, the constants, [`like_pattern`]) is in
//! `src/given.rs`: read it, it is part of the brief. You may add private types and functions
//! of your own (a serde struct for the cursor's JSON, one small check per field); the crates
//! at hand are `serde`, `serde_json`, `base64` (its
//! `base64::engine::general_purpose::URL_SAFE_NO_PAD` engine, with `use base64::Engine;`) and
//! `thiserror`.

// Stub bodies ignore their parameters; this line goes away with your solution.
#![allow(unused_variables)]

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

// ---------------------------------------------------------------------------------------------
// Part (a): the cursor
// ---------------------------------------------------------------------------------------------

impl Cursor {
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
