//! Exercise 05, data management: the reference solution.
//!
//! Try the exercise first (`exercises/05-data-management/src/lib.rs`, hints in `hints/`), then
//! compare. Run the shared tests against this file with `cargo test -p exercise-05-solution`.
//!
//! The public API is the stub's, item for item; only the bodies (and the private helpers they
//! use) differ.
//!
//! Three parts, in order:
//! - (a) [`Cursor::encode`] and [`Cursor::decode`]: an opaque, versioned keyset cursor that
//!   refuses garbage and tampering with a typed [`CursorError`].
//! - (b) [`SortSpec::parse`] and [`ListRequest::to_sql`]: an allow-listed sort and typed
//!   filters turned into SQL text plus a list of bind values. No value ever enters the text.
//! - (c) [`NewProductRequest::validate`]: every rule checked, *every* broken one reported.
//!
//! Nothing here talks to a database: [`Sql`] is the text and the binds a driver would send.
//! Part (b)'s tests read the binds, and those under `needs_postgres` run the SQL on PostgreSQL.
//! The given code (the types, the constants, [`like_pattern`]) is not repeated here: it is the
//! stub's own `src/given.rs`.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Part (a): the cursor
// ---------------------------------------------------------------------------------------------

// Version 1's JSON, private: clients never see these names, so a new version may change them.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CursorWire {
    v: u64,
    sort: SortField,
    key: Value,
    id: i64,
}

impl Cursor {
    /// The opaque form: base64url (no padding) of the JSON shown on [`Cursor`].
    pub fn encode(&self) -> String {
        let wire = CursorWire {
            v: Self::VERSION,
            sort: self.sort,
            key: self.key.clone(),
            id: self.id,
        };
        // Serializing a struct of plain values to JSON cannot fail.
        let json = serde_json::to_vec(&wire).expect("a cursor of plain values always serializes");
        URL_SAFE_NO_PAD.encode(json)
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
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Encoding)?;
        // A map first, because what the members mean depends on the version. A map, not a
        // derived struct: serde lets a derived struct be read from a JSON array too.
        let object: serde_json::Map<String, serde_json::Value> =
            serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        let version = object
            .get("v")
            .and_then(serde_json::Value::as_u64)
            .ok_or(CursorError::Malformed)?;
        if version != Self::VERSION {
            return Err(CursorError::UnsupportedVersion(version));
        }
        let wire: CursorWire = serde_json::from_value(serde_json::Value::Object(object))
            .map_err(|_| CursorError::Malformed)?;
        let key_fits = matches!(
            (wire.sort, &wire.key),
            (SortField::Price | SortField::Created, Value::Int(_))
                | (SortField::Name, Value::Text(_))
        );
        if !key_fits {
            return Err(CursorError::Malformed);
        }
        let cursor = Cursor {
            sort: wire.sort,
            key: wire.key,
            id: wire.id,
        };
        // Decoding is injective only if one spelling is accepted: otherwise an edited cursor
        // could be a disguised copy of another, and two strings could name one position.
        if cursor.encode() != text {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
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
        let (direction, name) = match input.strip_prefix('-') {
            Some(rest) => (Direction::Desc, rest),
            None => (Direction::Asc, input),
        };
        let field = match name {
            "price" => SortField::Price,
            "name" => SortField::Name,
            "created" => SortField::Created,
            _ => return Err(UnknownSort(input.to_owned())),
        };
        Ok(SortSpec { field, direction })
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
        let mut conditions: Vec<String> = Vec::new();
        let mut binds: Vec<Value> = Vec::new();
        // Each placeholder's number is the bind's position, so text and list cannot disagree.
        let bind = |value: Value, binds: &mut Vec<Value>| {
            binds.push(value);
            format!("${}", binds.len())
        };

        if let Some(category) = &self.filters.category {
            let p = bind(Value::Text(category.clone()), &mut binds);
            conditions.push(format!("category_slug = {p}"));
        }
        if let Some(min) = self.filters.min_price {
            let p = bind(Value::Int(min), &mut binds);
            conditions.push(format!("price_minor >= {p}"));
        }
        if let Some(max) = self.filters.max_price {
            let p = bind(Value::Int(max), &mut binds);
            conditions.push(format!("price_minor <= {p}"));
        }
        if let Some(search) = &self.filters.search {
            let p = bind(Value::Text(like_pattern(search)), &mut binds);
            conditions.push(format!("name ILIKE {p} ESCAPE '\\'"));
        }
        let column = self.sort.field.column();
        let (op, dir) = match self.sort.direction {
            Direction::Asc => (">", "ASC"),
            Direction::Desc => ("<", "DESC"),
        };
        if let Some(cursor) = &self.after {
            if cursor.sort != self.sort.field {
                return Err(CursorError::Malformed);
            }
            let key = bind(cursor.key.clone(), &mut binds);
            let id = bind(Value::Int(cursor.id), &mut binds);
            conditions.push(format!("({column}, id) {op} ({key}, {id})"));
        }

        let mut text = String::from("SELECT id, name, price_minor, created_at FROM products");
        if !conditions.is_empty() {
            text.push_str(" WHERE ");
            text.push_str(&conditions.join(" AND "));
        }
        let limit = bind(Value::Int(i64::from(self.limit) + 1), &mut binds);
        text.push_str(&format!(" ORDER BY {column} {dir}, id {dir} LIMIT {limit}"));
        Ok(Sql { text, binds })
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
        let sku = check_sku(&self.sku);
        let name = check_name(&self.name);
        let price = check_price(self.price_minor);
        let category = check_category(&self.category);
        let description = check_description(self.description.as_deref());
        match (sku, name, price, category, description) {
            (Ok(sku), Ok(name), Ok(price_minor), Ok(category), Ok(description)) => {
                Ok(ValidProduct {
                    sku,
                    name,
                    price_minor,
                    category,
                    description,
                })
            }
            (sku, name, price, category, description) => Err([
                sku.err(),
                name.err(),
                price.err(),
                category.err(),
                description.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}
// ANCHOR_END: validate

fn field_error(field: &str, detail: impl Into<String>) -> FieldError {
    FieldError {
        pointer: format!("#/{field}"),
        detail: detail.into(),
    }
}

fn check_sku(raw: &str) -> Result<String, FieldError> {
    let sku = raw.trim().to_ascii_uppercase();
    let len = sku.chars().count();
    if !(3..=32).contains(&len) {
        return Err(field_error(
            "sku",
            format!("must be 3 to 32 characters, got {len}"),
        ));
    }
    let allowed = sku
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-');
    if !allowed || sku.split('-').any(str::is_empty) {
        return Err(field_error(
            "sku",
            "only letters, digits and single hyphens between them",
        ));
    }
    Ok(sku)
}

fn check_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
    let len = name.chars().count();
    if len == 0 {
        return Err(field_error("name", "must not be empty"));
    }
    if len > MAX_NAME_CHARS {
        return Err(field_error(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters, got {len}"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(field_error("name", "must not contain control characters"));
    }
    Ok(name)
}

fn check_price(price_minor: i64) -> Result<i64, FieldError> {
    if (1..=MAX_PRICE_MINOR).contains(&price_minor) {
        Ok(price_minor)
    } else {
        Err(field_error(
            "price_minor",
            format!("must be 1 to {MAX_PRICE_MINOR} cents, got {price_minor}"),
        ))
    }
}

fn check_category(raw: &str) -> Result<String, FieldError> {
    let is_slug = raw.split('-').all(|group| {
        !group.is_empty()
            && group
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    });
    if is_slug {
        Ok(raw.to_owned())
    } else {
        Err(field_error(
            "category",
            "must be a slug: lower-case letters and digits, words joined by single hyphens",
        ))
    }
}

fn check_description(raw: Option<&str>) -> Result<String, FieldError> {
    let description = raw.unwrap_or_default().trim();
    let len = description.chars().count();
    if len > MAX_DESCRIPTION_CHARS {
        return Err(field_error(
            "description",
            format!("must be at most {MAX_DESCRIPTION_CHARS} characters, got {len}"),
        ));
    }
    Ok(description.to_owned())
}
