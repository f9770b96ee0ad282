//! Card numbers (PANs): parsed once, and never shown whole.
//!
//! What this module shows:
//! - parse, don't validate: a [`CardNumber`] holds 12 to 19 digits that pass the Luhn check,
//!   so a mistyped number is refused before any request leaves the shop;
//! - `Debug` and `Display` show only the last four digits (`**** 1111`), so a card number
//!   cannot reach a log line, a panic message or an error by accident: the one way to the
//!   digits is [`CardNumber::expose_number`], a name that stands out in review;
//! - no `Serialize`: the provider client builds its request body with the exposed digits on
//!   purpose, and nothing else can turn a card number into JSON.
//!
//! PCI DSS asks exactly this of software that touches card numbers: never store or log them in
//! full. Tests: `tests/card.rs`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};
use thiserror::Error;

/// A card number: digits only, Luhn-valid.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CardNumber(String);

/// Why a text is not a card number. The messages never repeat the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CardNumberError {
    #[error("a card number holds digits and spaces only")]
    InvalidCharacter,
    #[error("a card number has 12 to 19 digits, not {0}")]
    Length(usize),
    #[error("the card number's check digit is wrong: a digit was mistyped")]
    Checksum,
}

impl CardNumber {
    /// Digits, with spaces anywhere (`4111 1111 1111 1111`, as printed on the card).
    pub fn parse(text: &str) -> Result<Self, CardNumberError> {
        let mut digits = String::with_capacity(19);
        for c in text.chars().filter(|&c| c != ' ') {
            if !c.is_ascii_digit() {
                return Err(CardNumberError::InvalidCharacter);
            }
            digits.push(c);
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(CardNumberError::Length(digits.len()));
        }
        if !luhn_valid(digits.as_bytes()) {
            return Err(CardNumberError::Checksum);
        }
        Ok(CardNumber(digits))
    }

    /// The last four digits: what a receipt or a support agent may see.
    pub fn last_four(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// Every digit. Call it only where the number must leave the process, to the provider.
    pub fn expose_number(&self) -> &str {
        &self.0
    }
}

// ANCHOR: luhn
/// The Luhn check: from the right, double every second digit (subtracting 9 when that makes
/// two digits), and the sum must be a multiple of 10. It catches every single mistyped digit
/// and most swaps of two neighbours, which is what it is for; it is no security.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(position, &digit)| {
            let value = u32::from(digit - b'0');
            match (position % 2 == 1, value * 2) {
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
                (false, _) => value,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}
// ANCHOR_END: luhn

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "**** {}", self.last_four())
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(**** {})", self.last_four())
    }
}

impl FromStr for CardNumber {
    type Err = CardNumberError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        CardNumber::parse(text)
    }
}

impl<'de> Deserialize<'de> for CardNumber {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        CardNumber::parse(&text).map_err(serde::de::Error::custom)
    }
}
