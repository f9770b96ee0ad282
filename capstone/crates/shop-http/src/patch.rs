//! PATCH's three states per field: absent (leave it), `null` (clear it), a value (set it).
//!
//! `Option<T>` has two states, and a JSON merge patch (RFC 7396) has three: a member that is
//! missing, a member that is `null`, and a member with a value. Lesson 05 teaches it; the
//! capstone's admin routes use it.

use serde::{Deserialize, Deserializer};

// ANCHOR: patch
/// One member of a PATCH body. Declare the field `#[serde(default)]`: a missing member is then
/// [`Patch::Absent`]; when the member is present, serde calls `deserialize`, which sees `null`
/// or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Patch::Null, Patch::Value))
    }
}
// ANCHOR_END: patch

impl<T> Patch<T> {
    /// Was the member sent at all (`null` included)?
    pub fn is_present(&self) -> bool {
        !matches!(self, Patch::Absent)
    }

    /// The change as an `Option<Option<T>>`: `None` leave, `Some(None)` clear, `Some(Some(v))`
    /// set, for code that speaks in options.
    pub fn into_change(self) -> Option<Option<T>> {
        match self {
            Patch::Absent => None,
            Patch::Null => Some(None),
            Patch::Value(value) => Some(Some(value)),
        }
    }

    pub fn as_ref(&self) -> Patch<&T> {
        match self {
            Patch::Absent => Patch::Absent,
            Patch::Null => Patch::Null,
            Patch::Value(value) => Patch::Value(value),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize)]
    struct Body {
        #[serde(default)]
        name: Patch<String>,
        #[serde(default)]
        description: Patch<String>,
        #[serde(default)]
        price: Patch<u32>,
    }

    #[test]
    fn absent_null_and_a_value_are_three_states() {
        let body: Body = serde_json::from_str(r#"{"description": null, "price": 5}"#).unwrap();
        assert_eq!(body.name, Patch::Absent);
        assert_eq!(body.description, Patch::Null);
        assert_eq!(body.price, Patch::Value(5));
        assert_eq!(body.price.into_change(), Some(Some(5)));
        assert_eq!(body.description.into_change(), Some(None));
        assert!(!body.name.is_present());
    }

    #[test]
    fn a_value_of_the_wrong_type_is_an_error() {
        assert!(serde_json::from_str::<Body>(r#"{"price": "five"}"#).is_err());
    }
}
