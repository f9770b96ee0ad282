//! The domain's nouns: a stock-keeping unit, a price, a supplier's quote.
//!
//! Plain structs and a newtype, nothing concurrent yet. `cargo run -p lesson-01` uses them in
//! every step; the capstone's `shop-domain` crate grows the production versions (Money with a
//! currency, a validated Sku).

use std::fmt;

// ANCHOR: sku
/// A stock-keeping unit: the product code suppliers quote for.
///
/// A newtype rather than a bare `String`: a function that takes a `Sku` cannot be handed a
/// supplier name by mistake, and the compiler checks that for free.
///
/// Stack and heap: a `String` is three words wherever its owner is (a pointer, a length, a
/// capacity: on the stack for a local variable) pointing at its bytes on the heap. Cloning one
/// allocates, so functions borrow a `&Sku` and clone only what they must keep.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Sku(String);

impl Sku {
    /// Any product code. (The capstone's `Sku` validates its input; this demo's codes all come
    /// from `numbered` or from the other end of a pipe, which we wrote too.)
    pub fn new(code: impl Into<String>) -> Self {
        Self(code.into())
    }

    /// The demo's catalogue numbers its parts: `Sku::numbered(7)` is `SKU-0007`.
    pub fn numbered(n: u32) -> Self {
        Self(format!("SKU-{n:04}"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sku {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
// ANCHOR_END: sku

// ANCHOR: price
/// A price in cents. Integer minor units, never `f64`: 0.1 + 0.2 != 0.3 in floating point,
/// and nobody wants to explain a rounding error on an invoice. `Copy`, because it is eight
/// bytes with no heap part: passing it around copies it, like an integer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Price(u64);

impl Price {
    pub const fn from_cents(cents: u64) -> Self {
        Self(cents)
    }

    pub const fn cents(self) -> u64 {
        self.0
    }

    /// `percent` of this price, rounded down to the cent. `None` on overflow instead of a
    /// wrapped-around (or, in debug builds, panicking) multiplication.
    pub fn percent(self, percent: u64) -> Option<Self> {
        self.0.checked_mul(percent).map(|c| Self(c / 100))
    }
}

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}
// ANCHOR_END: price

// ANCHOR: quote
/// One supplier's answer for one SKU. It owns its data (`String`, not `&str`) so it can travel
/// between tasks and outlive the supplier that produced it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    pub supplier: String,
    pub sku: Sku,
    pub price: Price,
}
// ANCHOR_END: quote

// ANCHOR: list_price
/// The catalogue's list price for a SKU, between $5.00 and $54.99: the reference every
/// simulated supplier marks up or down from. Derived from the SKU's text so the whole demo is
/// reproducible: same SKU, same price, on every machine and every run.
pub fn list_price(sku: &Sku) -> Price {
    Price::from_cents(500 + stable_hash(&[sku.as_str()]) % 5_000)
}

/// FNV-1a over the given strings: a tiny hash that never changes between runs or Rust
/// versions. (`std`'s `HashMap` hasher is randomly seeded on purpose, which is exactly what we
/// do not want for a reproducible simulation.)
pub fn stable_hash(parts: &[&str]) -> u64 {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;
    parts
        .iter()
        .flat_map(|part| part.bytes().chain([0xff]))
        .fold(OFFSET, |hash, byte| {
            (hash ^ u64::from(byte)).wrapping_mul(PRIME)
        })
}
// ANCHOR_END: list_price

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_display_as_dollars_and_cents() {
        assert_eq!(Price::from_cents(1_905).to_string(), "$19.05");
        assert_eq!(Price::from_cents(7).to_string(), "$0.07");
    }

    #[test]
    fn list_prices_are_reproducible_and_in_range() {
        // Pinned: the book prints this price, and a seeded hasher would change it every run.
        assert_eq!(list_price(&Sku::numbered(7)), Price::from_cents(3_929));
        for n in 0..500 {
            let sku = Sku::numbered(n);
            let price = list_price(&sku);
            assert_eq!(price, list_price(&Sku::numbered(n)));
            assert!((500..5_500).contains(&price.cents()), "{sku}: {price}");
        }
    }
}
