//! `Sku`: a stock-keeping unit, the code a warehouse prints on a shelf label.
//!
//! What this module shows: a newtype whose constructor normalises as well as checks, so two
//! spellings of one code (`mug-red-01`, ` MUG-RED-01 `) become one value, and equality, hashing
//! and database uniqueness all agree. Serde goes through the same constructor.
//!
//! Run the tests with `cargo test -p shop-domain`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

// ANCHOR: sku_rules
/// A stock-keeping unit such as `MUG-RED-01`.
///
/// The format, after surrounding whitespace is trimmed and ASCII letters are upper-cased:
/// - 3 to 32 characters ([`Sku::MIN_LEN`], [`Sku::MAX_LEN`]);
/// - only `A`–`Z`, `0`–`9` and `-`;
/// - hyphens separate groups: none at the start or end, never two in a row.
///
/// Upper case because SKUs are read aloud, typed from labels and compared by people: one case
/// removes a whole class of "same code, different string" bugs. The length bounds keep codes
/// readable on a label and the column index small.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Sku(String);

/// Why a string is not a [`Sku`]. Checked in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SkuError {
    /// Fewer than [`Sku::MIN_LEN`] characters (after trimming).
    #[error("a SKU has at least {min} characters, `{input}` has {len}", min = Sku::MIN_LEN)]
    TooShort {
        /// The trimmed input.
        input: String,
        /// Its length in characters.
        len: usize,
    },
    /// More than [`Sku::MAX_LEN`] characters.
    #[error("a SKU has at most {max} characters, this one has {len}", max = Sku::MAX_LEN)]
    TooLong {
        /// Its length in characters.
        len: usize,
    },
    /// A character other than a letter, digit or hyphen.
    #[error("a SKU may contain only letters, digits and hyphens, not `{ch}` (position {position})")]
    InvalidCharacter {
        /// The offending character.
        ch: char,
        /// Its position, counting from 1.
        position: usize,
    },
    /// A hyphen first, last, or next to another hyphen.
    #[error("hyphens in a SKU separate groups: not at the start or end, not two in a row")]
    MisplacedHyphen,
}

impl Sku {
    /// The shortest SKU accepted.
    pub const MIN_LEN: usize = 3;
    /// The longest SKU accepted.
    pub const MAX_LEN: usize = 32;

    /// Checks `input` against the format and returns it normalised (trimmed, upper case).
    pub fn parse(input: &str) -> Result<Sku, SkuError> {
        let input = input.trim();
        let len = input.chars().count();
        if len < Self::MIN_LEN {
            return Err(SkuError::TooShort {
                input: input.to_owned(),
                len,
            });
        }
        if len > Self::MAX_LEN {
            return Err(SkuError::TooLong { len });
        }
        if let Some((index, ch)) = input
            .chars()
            .enumerate()
            .find(|&(_, c)| !(c.is_ascii_alphanumeric() || c == '-'))
        {
            return Err(SkuError::InvalidCharacter {
                ch,
                position: index + 1,
            });
        }
        // Splitting on '-' yields an empty group exactly when a hyphen is leading, trailing
        // or doubled: one check for all three mistakes.
        if input.split('-').any(str::is_empty) {
            return Err(SkuError::MisplacedHyphen);
        }
        Ok(Sku(input.to_ascii_uppercase()))
    }
}
// ANCHOR_END: sku_rules

impl Sku {
    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FromStr for Sku {
    type Err = SkuError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Sku::parse(s)
    }
}

impl TryFrom<String> for Sku {
    type Error = SkuError;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Sku::parse(&value)
    }
}

impl From<Sku> for String {
    fn from(sku: Sku) -> String {
        sku.0
    }
}

impl AsRef<str> for Sku {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_whitespace() {
        let sku = Sku::parse("  mug-Red-01 ").unwrap();
        assert_eq!(sku.as_str(), "MUG-RED-01");
        assert_eq!(sku, Sku::parse("MUG-RED-01").unwrap());
    }

    #[test]
    fn accepts_the_length_bounds_exactly() {
        assert!(Sku::parse("A1B").is_ok());
        assert!(Sku::parse(&"X".repeat(32)).is_ok());
        assert_eq!(
            Sku::parse(" AB "),
            Err(SkuError::TooShort {
                input: "AB".into(),
                len: 2
            })
        );
        assert_eq!(
            Sku::parse(&"X".repeat(33)),
            Err(SkuError::TooLong { len: 33 })
        );
    }

    #[test]
    fn rejects_characters_outside_the_alphabet() {
        assert_eq!(
            Sku::parse("MUG RED"),
            Err(SkuError::InvalidCharacter {
                ch: ' ',
                position: 4
            })
        );
        assert_eq!(
            Sku::parse("MUG_RED"),
            Err(SkuError::InvalidCharacter {
                ch: '_',
                position: 4
            })
        );
        assert_eq!(
            Sku::parse("TASSE-ÉTÉ"),
            Err(SkuError::InvalidCharacter {
                ch: 'É',
                position: 7
            })
        );
    }

    #[test]
    fn rejects_misplaced_hyphens() {
        for bad in ["-MUG", "MUG-", "MUG--RED", "---"] {
            assert_eq!(Sku::parse(bad), Err(SkuError::MisplacedHyphen), "{bad}");
        }
    }

    #[test]
    fn serde_goes_through_parse() {
        let sku: Sku = serde_json::from_str(r#""mug-red""#).unwrap();
        assert_eq!(serde_json::to_string(&sku).unwrap(), r#""MUG-RED""#);
        assert!(serde_json::from_str::<Sku>(r#""MUG--RED""#).is_err());
    }
}
