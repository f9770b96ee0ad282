//! Exercise 01, Rust foundations: money, traits and a concurrent fan-out.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-01`
//! passes; run one part at a time with `cargo test -p exercise-01 part_a` (`part_b`, `part_c`).
//! The brief is book chapter 01, section "Exercise". Stuck? `cargo xtask hint 01 a` shows part
//! (a)'s hints one level at a time (`b` and `c` for the other parts; the files are in `hints/`).
//!
//! Three parts, in order:
//! - (a) [`Money`]: checked arithmetic, [`Display`](fmt::Display) and [`FromStr`].
//! - (b) [`Discount`]: a trait, three implementations, and [`best_price`] over trait objects.
//! - (c) [`fetch_all`]: ask several async [`PriceSource`]s at once, with a timeout per call.
//!
//! The given code (the types, the error enums, [`Currency`], [`Line::total`]) is in
//! `src/given.rs`: read it, it is part of the brief. Library code never panics on bad input:
//! every failure is a `Result`.

// Stub bodies ignore their parameters; this line goes away with the solution.
#![allow(unused_variables)]

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

// The given constructors and accessors of `Money` are in given.rs; these three are yours.
impl Money {
    /// `self + other`.
    ///
    /// Errors, checked in this order:
    /// - [`MoneyError::CurrencyMismatch`] when the currencies differ, with `left` the currency
    ///   of `self` and `right` the currency of `other`;
    /// - [`MoneyError::Overflow`] when the sum does not fit in an `i64`.
    ///
    /// Never panics, whatever the amounts.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        todo!("exercise 01, part a, Money::checked_add: see book chapter 01, section 'Exercise'")
    }

    /// `self - other`, with the same errors as [`Money::checked_add`]. The result may be
    /// negative: only overflow is an error.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        todo!("exercise 01, part a, Money::checked_sub: see book chapter 01, section 'Exercise'")
    }

    /// `self × quantity`, the price of `quantity` items at `self` each, in the same currency.
    ///
    /// Error: [`MoneyError::Overflow`] when the product does not fit in an `i64`.
    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        todo!("exercise 01, part a, Money::checked_mul: see book chapter 01, section 'Exercise'")
    }
}

/// Formats as `<amount> <CODE>`, the amount with exactly [`Currency::minor_digits`] digits
/// after the decimal point:
///
/// | value                        | output                      |
/// |------------------------------|-----------------------------|
/// | 1234 EUR minor units         | `12.34 EUR`                 |
/// | 5 EUR minor units            | `0.05 EUR`                  |
/// | -5 USD minor units           | `-0.05 USD`                 |
/// | 0 GBP                        | `0.00 GBP`                  |
/// | 1500 JPY (0 minor digits)    | `1500 JPY` (no `.` at all)  |
/// | `i64::MIN` EUR minor units   | `-92233720368547758.08 EUR` |
///
/// A negative amount starts with `-`; zero never does.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        todo!("exercise 01, part a, Display for Money: see book chapter 01, section 'Exercise'")
    }
}

/// Parses `<amount> <CODE>`: what [`Display`](fmt::Display) writes, and a little more.
///
/// The rules, in the order the errors are checked:
/// 1. Surrounding whitespace is ignored. Nothing left: [`ParseMoneyError::Empty`].
/// 2. The first space splits the amount from the code. No space:
///    [`ParseMoneyError::MissingCurrency`].
/// 3. The code must be exactly one of [`Currency::code`] (upper case; see
///    [`Currency::from_code`]), else [`ParseMoneyError::UnknownCurrency`] with the code as
///    written. The currency comes first because it decides how many decimals are allowed.
/// 4. The amount is an optional `-`, ASCII digits, and optionally a `.` followed by ASCII
///    digits. Anything else (`+1`, `1.`, `.5`, `1,50`, `1e3`, empty) is
///    [`ParseMoneyError::InvalidAmount`] with the amount as written.
/// 5. More digits after the `.` than the currency's minor digits:
///    [`ParseMoneyError::TooManyDecimals`] (`12.340 EUR` too: a trailing zero is a digit).
///    Fewer are fine: `12.3 EUR` is 1230 minor units, `12 EUR` is 1200.
/// 6. A value that does not fit in an `i64` of minor units: [`ParseMoneyError::OutOfRange`].
///    Both `i64::MAX` and `i64::MIN` minor units must parse.
///
/// For every `Money` value `m`: `m.to_string().parse::<Money>() == Ok(m)`.
impl FromStr for Money {
    type Err = ParseMoneyError;

    fn from_str(s: &str) -> Result<Money, ParseMoneyError> {
        todo!("exercise 01, part a, FromStr for Money: see book chapter 01, section 'Exercise'")
    }
}

impl Discount for PercentOff {
    /// `"<p>% off"`, with `p` capped at 100: `PercentOff(10)` is `"10% off"`, `PercentOff(250)`
    /// is `"100% off"`.
    fn name(&self) -> String {
        todo!("exercise 01, part b, PercentOff::name: see book chapter 01, section 'Exercise'")
    }

    /// `total × p / 100` rounded down, where `total` is [`Line::total`] and `p` the percentage
    /// capped at 100. 10% of 29.97 EUR is 2.99 EUR. A line total that overflows is an error;
    /// the multiplication by `p` itself must not overflow, and the result is exact for every
    /// total: 50% of `i64::MAX` minor units is `i64::MAX / 2`, rounded down (think about which
    /// integer type holds `i64::MAX × 100`).
    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        todo!("exercise 01, part b, PercentOff::reduction: see book chapter 01, section 'Exercise'")
    }
}

impl Discount for AmountOff {
    /// `"<amount> off"`, the amount as [`Money`] displays it: `"5.00 EUR off"`.
    fn name(&self) -> String {
        todo!("exercise 01, part b, AmountOff::name: see book chapter 01, section 'Exercise'")
    }

    /// The fixed amount, but never more than the line total and never below zero: a negative
    /// amount takes off nothing. An amount in another currency than the line is
    /// [`MoneyError::CurrencyMismatch`] with `left` the line's currency, `right` the discount's.
    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        todo!("exercise 01, part b, AmountOff::reduction: see book chapter 01, section 'Exercise'")
    }
}

impl Discount for BuyNGetOneFree {
    /// `"buy <n> get one free"`: `BuyNGetOneFree { n: 2 }` is `"buy 2 get one free"`.
    fn name(&self) -> String {
        todo!("exercise 01, part b, BuyNGetOneFree::name: see book chapter 01, section 'Exercise'")
    }

    /// One unit price for every full group of `n + 1` items: buy 2 get 1 free on 7 items is
    /// 2 free items. Beware `n + 1` when `n` is `u32::MAX`: it does not fit in a `u32`, and no
    /// quantity fills such a group, so nothing is free.
    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        todo!(
            "exercise 01, part b, BuyNGetOneFree::reduction: see book chapter 01, section 'Exercise'"
        )
    }
}

/// The lowest total any one of `discounts` gives for `line`. Discounts do not stack: only the
/// one with the largest reduction applies.
///
/// - `applied` is the [`Discount::name`] of that discount, or `None` when no discount reduces
///   the total (no discounts, or all reduce by zero or less).
/// - Among equal reductions the first in the slice wins.
/// - Whatever a `Discount` implementation returns (the tests write rogue ones), the total stays
///   between zero and the undiscounted total: a negative reduction counts as none, and one
///   larger than the total makes the total zero.
///
/// Errors: the line total overflows; a discount returns an error (passed on, not skipped); a
/// discount returns a reduction in another currency than the line's, whether or not it would
/// have won ([`MoneyError::CurrencyMismatch`], `left` the line's currency): compare amounts only
/// once you know they are in the same currency.
pub fn best_price(line: &Line, discounts: &[Box<dyn Discount>]) -> Result<BestPrice, MoneyError> {
    todo!("exercise 01, part b, best_price: see book chapter 01, section 'Exercise'")
}

/// Asks every source for the price of `sku` at the same time, giving each at most `per_call`.
///
/// - Every source lands in exactly one list: a price in `prices`, or in `failures` with
///   [`FetchError::TimedOut`]`(per_call)` when it did not answer in time, or
///   [`FetchError::Source`] with its error.
/// - Both lists follow the order of `sources`, not the order in which answers arrive.
/// - The calls run concurrently: the whole call takes as long as the slowest source or
///   `per_call`, whichever is shorter, never the sum of the calls. The tests measure this on
///   tokio's paused clock, to the millisecond. (`tokio::time::timeout` bounds one call;
///   `futures::future::join_all` or `tokio::spawn` run them together.)
pub async fn fetch_all(sources: &[Arc<dyn PriceSource>], sku: &str, per_call: Duration) -> Quotes {
    todo!("exercise 01, part c, fetch_all: see book chapter 01, section 'Exercise'")
}
