//! Exercise 05, a second correct solution, written differently from `lib.rs` on purpose:
//! `cargo xtask verify` runs the shared tests against it to prove that they accept more than
//! one way of meeting the brief.
//!
//! How it differs, and why both are right:
//! - (a) The encoder writes the JSON by hand, escaping each character itself, where `lib.rs`
//!   derives `Serialize` on a wire struct. The brief fixes every byte of the output (serde_json's
//!   escapes), so both produce the same string. The decoder reads a `serde_json::Value` and
//!   checks the members one by one instead of deserializing a `deny_unknown_fields` struct;
//!   both refuse the same inputs at the same steps, and both end with "encode what was read and
//!   compare", which is what makes the spelling unique.
//! - (b) The keyset condition is spelled out, `col > $k OR (col = $k AND id > $i)` in
//!   parentheses, instead of the row value `(col, id) > ($k, $i)`; two price bounds become one
//!   `BETWEEN`; the search leaves out `ESCAPE '\'`, since backslash is already PostgreSQL's
//!   default LIKE escape; keywords are lower case, ascending is implicit and the clauses are on
//!   separate lines. PostgreSQL reads all of it as the reference's query, and the tests judge
//!   the rows it returns, so both pass. (A row value is the better choice in production: one
//!   B-tree range scan on `(col, id)`, where the expanded form may not use the index as well.)
//! - (c) Validation pushes each broken rule onto one list as it goes and builds the product
//!   only if the list stayed empty, where `lib.rs` gathers five `Result`s and matches on them;
//!   the SKU and slug rules are a small state machine over the characters instead of
//!   `split('-')`.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

// A second impl block of the given type: the allow-list as a table, searched by name.
impl SortField {
    const ALL: [SortField; 3] = [SortField::Price, SortField::Name, SortField::Created];

    fn key_is_text(self) -> bool {
        self == SortField::Name
    }
}

// ---------------------------------------------------------------------------------------------
// Part (a)
// ---------------------------------------------------------------------------------------------

/// Appends `text` as a JSON string, escaped exactly as the brief says.
fn push_json_string(out: &mut String, text: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push('"');
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{0}'..='\u{1f}' => {
                let byte = c as u8;
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(byte >> 4)]));
                out.push(char::from(HEX[usize::from(byte & 0xf)]));
            }
            other => out.push(other),
        }
    }
    out.push('"');
}

impl Cursor {
    pub fn encode(&self) -> String {
        let mut json = format!(
            r#"{{"v":{},"sort":"{}","key":"#,
            Self::VERSION,
            self.sort.name()
        );
        match &self.key {
            Value::Int(n) => json.push_str(&n.to_string()),
            Value::Text(s) => push_json_string(&mut json, s),
        }
        json.push_str(&format!(r#","id":{}}}"#, self.id));
        URL_SAFE_NO_PAD.encode(json)
    }

    pub fn decode(text: &str) -> Result<Cursor, CursorError> {
        use serde_json::Value as Json;

        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Encoding)?;
        let Ok(Json::Object(members)) = serde_json::from_slice::<Json>(&bytes) else {
            return Err(CursorError::Malformed);
        };
        match members.get("v").and_then(Json::as_u64) {
            None => return Err(CursorError::Malformed),
            Some(Self::VERSION) => {}
            Some(other) => return Err(CursorError::UnsupportedVersion(other)),
        }
        if members.len() != 4 {
            return Err(CursorError::Malformed);
        }
        let sort = members
            .get("sort")
            .and_then(Json::as_str)
            .and_then(|name| SortField::ALL.into_iter().find(|f| f.name() == name))
            .ok_or(CursorError::Malformed)?;
        let key = match (sort.key_is_text(), members.get("key")) {
            (true, Some(Json::String(s))) => Value::Text(s.clone()),
            (false, Some(Json::Number(n))) => Value::Int(n.as_i64().ok_or(CursorError::Malformed)?),
            _ => return Err(CursorError::Malformed),
        };
        let id = members
            .get("id")
            .and_then(Json::as_i64)
            .ok_or(CursorError::Malformed)?;
        let cursor = Cursor { sort, key, id };
        // The only spelling accepted is the one written here.
        (cursor.encode() == text)
            .then_some(cursor)
            .ok_or(CursorError::Malformed)
    }
}

// ---------------------------------------------------------------------------------------------
// Part (b)
// ---------------------------------------------------------------------------------------------

impl SortSpec {
    pub fn parse(input: &str) -> Result<SortSpec, UnknownSort> {
        let descending = input.starts_with('-');
        let name = if descending { &input[1..] } else { input };
        SortField::ALL
            .into_iter()
            .find(|field| field.name() == name)
            .map(|field| SortSpec {
                field,
                direction: if descending {
                    Direction::Desc
                } else {
                    Direction::Asc
                },
            })
            .ok_or_else(|| UnknownSort(input.to_owned()))
    }
}

/// Binds values and hands out their placeholders.
#[derive(Default)]
struct Binds(Vec<Value>);

impl Binds {
    fn add(&mut self, value: Value) -> String {
        self.0.push(value);
        format!("${}", self.0.len())
    }
}

impl ListRequest {
    pub fn to_sql(&self) -> Result<Sql, CursorError> {
        let mut binds = Binds::default();
        let mut conditions = Vec::new();
        let filters = &self.filters;
        if let Some(category) = &filters.category {
            conditions.push(format!(
                "category_slug = {}",
                binds.add(Value::Text(category.clone()))
            ));
        }
        match (filters.min_price, filters.max_price) {
            (Some(min), Some(max)) => {
                let low = binds.add(Value::Int(min));
                let high = binds.add(Value::Int(max));
                conditions.push(format!("price_minor between {low} and {high}"));
            }
            (Some(min), None) => {
                conditions.push(format!("price_minor >= {}", binds.add(Value::Int(min))))
            }
            (None, Some(max)) => {
                conditions.push(format!("price_minor <= {}", binds.add(Value::Int(max))))
            }
            (None, None) => {}
        }
        if let Some(search) = &filters.search {
            conditions.push(format!(
                "name ilike {}",
                binds.add(Value::Text(like_pattern(search)))
            ));
        }
        let column = self.sort.field.column();
        let (after, order) = match self.sort.direction {
            Direction::Asc => (">", ""),
            Direction::Desc => ("<", " desc"),
        };
        if let Some(cursor) = &self.after {
            if cursor.sort != self.sort.field {
                return Err(CursorError::Malformed);
            }
            let key = binds.add(cursor.key.clone());
            let id = binds.add(Value::Int(cursor.id));
            conditions.push(format!(
                "({column} {after} {key} or ({column} = {key} and id {after} {id}))"
            ));
        }
        let mut text = String::from("select id, name, price_minor, created_at\nfrom products");
        for (i, condition) in conditions.iter().enumerate() {
            text.push_str(if i == 0 { "\nwhere " } else { "\n  and " });
            text.push_str(condition);
        }
        let limit = binds.add(Value::Int(i64::from(self.limit) + 1));
        text.push_str(&format!(
            "\norder by {column}{order}, id{order}\nlimit {limit}"
        ));
        Ok(Sql {
            text,
            binds: binds.0,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Part (c)
// ---------------------------------------------------------------------------------------------

/// Groups of `word` characters joined by single hyphens, read one character at a time: a
/// hyphen is allowed only right after a word character, and the text must end on one.
fn hyphenated_words(text: &str, word: impl Fn(char) -> bool) -> bool {
    let mut after_word = false;
    for c in text.chars() {
        after_word = match c {
            '-' if after_word => false,
            c if word(c) => true,
            _ => return false,
        };
    }
    after_word
}

impl NewProductRequest {
    pub fn validate(self) -> Result<ValidProduct, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut report = |field: &str, detail: String| {
            errors.push(FieldError {
                pointer: format!("#/{field}"),
                detail,
            });
        };

        let sku = self.sku.trim().to_ascii_uppercase();
        let sku_chars = sku.chars().count();
        if !(3..=32).contains(&sku_chars) {
            report("sku", format!("{sku_chars} characters; a SKU has 3 to 32"));
        } else if !hyphenated_words(&sku, |c| c.is_ascii_uppercase() || c.is_ascii_digit()) {
            report(
                "sku",
                "letters A-Z and digits, in groups joined by single hyphens".into(),
            );
        }

        let mut name = String::new();
        for word in self
            .name
            .split(char::is_whitespace)
            .filter(|w| !w.is_empty())
        {
            if !name.is_empty() {
                name.push(' ');
            }
            name.push_str(word);
        }
        match name.chars().count() {
            0 => report("name", "a name is required".into()),
            n if n > MAX_NAME_CHARS => {
                report("name", format!("{n} characters; at most {MAX_NAME_CHARS}"))
            }
            _ if name.contains(char::is_control) => report("name", "no control characters".into()),
            _ => {}
        }

        if !(1..=MAX_PRICE_MINOR).contains(&self.price_minor) {
            report(
                "price_minor",
                format!(
                    "{} is not between 1 and {MAX_PRICE_MINOR}",
                    self.price_minor
                ),
            );
        }

        if !hyphenated_words(&self.category, |c| {
            c.is_ascii_lowercase() || c.is_ascii_digit()
        }) {
            report(
                "category",
                "a slug: a-z and 0-9, in groups joined by single hyphens".into(),
            );
        }

        let description = self
            .description
            .as_deref()
            .map(str::trim)
            .unwrap_or("")
            .to_owned();
        let description_chars = description.chars().count();
        if description_chars > MAX_DESCRIPTION_CHARS {
            report(
                "description",
                format!("{description_chars} characters; at most {MAX_DESCRIPTION_CHARS}"),
            );
        }

        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(ValidProduct {
            sku,
            name,
            price_minor: self.price_minor,
            category: self.category,
            description,
        })
    }
}
