//! Product attributes: `{"brand": "Norda", "colour": "green"}`, a small map of named strings.
//!
//! What this module shows: a `jsonb` column is still typed once it reaches Rust. A name is
//! lower-case ASCII (`colour`, `heel_height`), a value is a short single line of text, and an
//! [`Attributes`] holds at most [`Attributes::MAX_LEN`] of them; the migration's CHECK makes
//! PostgreSQL hold the same line ("an object of strings") for rows other code writes.
//!
//! Tests: the unit tests below (`cargo test -p shop-db --lib attributes`).

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use thiserror::Error;

/// An attribute's name: 1 to 32 of `a-z`, `0-9`, `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttributeName(String);

/// An attribute's value: trimmed, 1 to 100 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct AttributeValue(String);

/// Why a name, a value or a whole map was refused. The message is written for the client who
/// sent it: the HTTP layer shows it next to the field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum AttributeError {
    #[error(
        "`{0}` is not an attribute name: use 1 to 32 of a-z, 0-9 and _, starting with a letter"
    )]
    Name(String),
    #[error("an attribute value is 1 to 100 characters of text on one line")]
    Value,
    #[error("a product has at most {max} attributes, not {0}", max = Attributes::MAX_LEN)]
    TooMany(usize),
    #[error("attributes are a JSON object of strings")]
    NotAnObjectOfStrings,
}

impl AttributeName {
    pub fn parse(name: &str) -> Result<Self, AttributeError> {
        let mut chars = name.chars();
        let valid = name.len() <= 32
            && chars.next().is_some_and(|c| c.is_ascii_lowercase())
            && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if valid {
            Ok(Self(name.to_owned()))
        } else {
            Err(AttributeError::Name(name.to_owned()))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AttributeValue {
    /// The longest value, in characters.
    pub const MAX_CHARS: usize = 100;

    pub fn parse(value: &str) -> Result<Self, AttributeError> {
        let value = value.trim();
        let chars = value.chars().count();
        // Control characters include NUL, which PostgreSQL's text type cannot even store:
        // refusing it here turns a would-be 500 into the client's 400.
        if (1..=Self::MAX_CHARS).contains(&chars) && !value.chars().any(char::is_control) {
            Ok(Self(value.to_owned()))
        } else {
            Err(AttributeError::Value)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

macro_rules! string_newtype {
    ($name:ident) => {
        impl TryFrom<String> for $name {
            type Error = AttributeError;
            fn try_from(value: String) -> Result<Self, Self::Error> {
                Self::parse(&value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}
string_newtype!(AttributeName);
string_newtype!(AttributeValue);

/// A product's attributes, ordered by name (a `BTreeMap`, so JSON output and comparisons do
/// not depend on insertion order).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "BTreeMap<AttributeName, AttributeValue>")]
pub struct Attributes(BTreeMap<AttributeName, AttributeValue>);

impl Attributes {
    /// The most attributes one product may have: enough for any real catalogue, few enough
    /// that nobody stores a document in here.
    pub const MAX_LEN: usize = 20;

    pub fn new(map: BTreeMap<AttributeName, AttributeValue>) -> Result<Self, AttributeError> {
        if map.len() > Self::MAX_LEN {
            return Err(AttributeError::TooMany(map.len()));
        }
        Ok(Self(map))
    }

    /// From the `jsonb` PostgreSQL returns (or any JSON value): an object of valid names and
    /// values, or an error.
    pub fn from_json(value: serde_json::Value) -> Result<Self, AttributeError> {
        let serde_json::Value::Object(object) = value else {
            return Err(AttributeError::NotAnObjectOfStrings);
        };
        let map = object
            .into_iter()
            .map(|(name, value)| match value {
                serde_json::Value::String(value) => {
                    Ok((AttributeName::parse(&name)?, AttributeValue::parse(&value)?))
                }
                _ => Err(AttributeError::NotAnObjectOfStrings),
            })
            .collect::<Result<BTreeMap<_, _>, _>>()?;
        Self::new(map)
    }

    /// The `jsonb` to store.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::Value::Object(
            self.0
                .iter()
                .map(|(name, value)| (name.0.clone(), serde_json::Value::from(value.0.clone())))
                .collect(),
        )
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(key, _)| key.as_str() == name)
            .map(|(_, value)| value.as_str())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&AttributeName, &AttributeValue)> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<BTreeMap<AttributeName, AttributeValue>> for Attributes {
    type Error = AttributeError;

    fn try_from(map: BTreeMap<AttributeName, AttributeValue>) -> Result<Self, Self::Error> {
        Self::new(map)
    }
}

// ANCHOR: filter_attribute
/// The attributes a search may filter on. The allow-list is this enum: `?brand=` and
/// `?colour=` exist, `?anything_else=` is refused before any SQL is built. Attributes
/// outside it are still stored and shown; they are just not searchable filters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FilterAttribute {
    Brand,
    Colour,
    Material,
    Size,
}

impl FilterAttribute {
    pub const ALL: [FilterAttribute; 4] = [
        FilterAttribute::Brand,
        FilterAttribute::Colour,
        FilterAttribute::Material,
        FilterAttribute::Size,
    ];

    /// The attributes the search counts facets for: the ones a shopper narrows by first.
    pub const FACETED: [FilterAttribute; 2] = [FilterAttribute::Brand, FilterAttribute::Colour];

    /// The attribute's name in the `attributes` object and in the query string.
    pub const fn name(self) -> &'static str {
        match self {
            FilterAttribute::Brand => "brand",
            FilterAttribute::Colour => "colour",
            FilterAttribute::Material => "material",
            FilterAttribute::Size => "size",
        }
    }
}
// ANCHOR_END: filter_attribute

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_lower_case_identifiers() {
        assert!(AttributeName::parse("heel_height2").is_ok());
        for bad in ["", "Brand", "2nd", "a-b", "brand'--", &"a".repeat(33)] {
            assert!(AttributeName::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn values_are_trimmed_single_lines_without_control_characters() {
        assert_eq!(
            AttributeValue::parse("  forest green ").unwrap().as_str(),
            "forest green"
        );
        for bad in ["", "   ", "a\0b", "two\nlines", &"x".repeat(101)] {
            assert!(AttributeValue::parse(bad).is_err(), "{bad:?}");
        }
        // Quotes and SQL are just text: they are bound as parameters, never spliced.
        assert!(AttributeValue::parse("' OR 1=1 --").is_ok());
    }

    #[test]
    fn json_round_trips_and_rejects_non_strings() {
        let json = serde_json::json!({ "colour": "green", "brand": "Norda" });
        let attributes = Attributes::from_json(json.clone()).unwrap();
        assert_eq!(attributes.get("brand"), Some("Norda"));
        assert_eq!(attributes.to_json(), json);
        assert_eq!(
            Attributes::from_json(serde_json::json!({ "size": 42 })),
            Err(AttributeError::NotAnObjectOfStrings)
        );
        assert_eq!(
            Attributes::from_json(serde_json::json!(["brand"])),
            Err(AttributeError::NotAnObjectOfStrings)
        );
    }

    #[test]
    fn too_many_attributes_are_refused() {
        let map: serde_json::Map<_, _> = (0..21)
            .map(|n| (format!("a{n}"), serde_json::Value::from("x")))
            .collect();
        assert_eq!(
            Attributes::from_json(serde_json::Value::Object(map)),
            Err(AttributeError::TooMany(21))
        );
    }
}
