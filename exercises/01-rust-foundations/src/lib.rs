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
//! Everything that is not a `todo!()` (types, error enums, [`Currency`], [`Line::total`]) is
//! given: read it, it is part of the brief. Library code never panics on bad input: every
//! failure below is a `Result`.

// Stub bodies ignore their parameters; this line goes away with the solution.
#![allow(unused_variables)]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

/// The currencies this exercise knows. Real code would cover ISO 4217 (the capstone's
/// `shop-domain` has a larger set); four are enough to meet both 2-digit and 0-digit currencies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Currency {
    /// Euro, 2 minor digits (cents).
    Eur,
    /// US dollar, 2 minor digits.
    Usd,
    /// Pound sterling, 2 minor digits (pence).
    Gbp,
    /// Japanese yen, 0 minor digits: there is no smaller unit than one yen.
    Jpy,
}

impl Currency {
    /// Every currency, handy for loops and property tests.
    pub const ALL: [Currency; 4] = [Currency::Eur, Currency::Usd, Currency::Gbp, Currency::Jpy];

    /// The ISO 4217 code: `"EUR"`, `"USD"`, `"GBP"`, `"JPY"`.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
        }
    }

    /// How many digits follow the decimal point: 2 for EUR, USD and GBP, 0 for JPY.
    pub const fn minor_digits(self) -> u32 {
        match self {
            Currency::Eur | Currency::Usd | Currency::Gbp => 2,
            Currency::Jpy => 0,
        }
    }

    /// The currency whose code is exactly `code` (upper case), if this exercise knows it.
    pub fn from_code(code: &str) -> Option<Currency> {
        Currency::ALL.into_iter().find(|c| c.code() == code)
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// An amount of money: a whole number of minor units (cents for EUR) and a currency.
///
/// Integers, not `f64`: 0.1 + 0.2 is not 0.3 in floating point, and a shop cannot lose cents.
/// Any `i64` is a valid amount, negative ones included (refunds, balances owed).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

/// Why an arithmetic operation on [`Money`] has no answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The two amounts are in different currencies.
    #[error("cannot combine {left} with {right}: the currencies differ")]
    CurrencyMismatch {
        /// The currency of `self`.
        left: Currency,
        /// The currency of the other operand.
        right: Currency,
    },
    /// The result does not fit in an `i64` number of minor units.
    #[error("the result does not fit in an i64 number of minor units")]
    Overflow,
}

/// Why a string is not a [`Money`]. The variants are checked in the order listed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseMoneyError {
    /// Nothing but whitespace.
    #[error("empty input: expected an amount and a currency, like `12.34 EUR`")]
    Empty,
    /// No space separating an amount from a currency code.
    #[error(
        "missing currency: expected an amount, one space and a currency code, like `12.34 EUR`"
    )]
    MissingCurrency,
    /// The text after the space is not the code of a [`Currency`].
    #[error("unknown currency `{0}`: expected EUR, USD, GBP or JPY")]
    UnknownCurrency(String),
    /// The text before the space is not `-?digits` or `-?digits.digits`.
    #[error("invalid amount `{0}`: expected digits, an optional leading `-` and decimal point")]
    InvalidAmount(String),
    /// More digits after the decimal point than the currency has minor digits.
    #[error("{currency} has {allowed} minor digits, but the amount has {found}")]
    TooManyDecimals {
        /// The currency that was parsed.
        currency: Currency,
        /// Its [`Currency::minor_digits`].
        allowed: u32,
        /// The number of digits after the decimal point in the input.
        found: usize,
    },
    /// The amount is well formed but does not fit in an `i64` number of minor units.
    #[error("the amount does not fit in an i64 number of minor units")]
    OutOfRange,
}

impl Money {
    /// `minor` minor units of `currency`: `Money::from_minor(1234, Currency::Eur)` is 12.34 EUR.
    pub const fn from_minor(minor: i64, currency: Currency) -> Money {
        Money { minor, currency }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Money {
        Money::from_minor(0, currency)
    }

    /// The amount in minor units.
    pub const fn minor(&self) -> i64 {
        self.minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

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

/// One line of a cart: `quantity` items at `unit_price` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line {
    /// The price of one item.
    pub unit_price: Money,
    /// How many items.
    pub quantity: u32,
}

impl Line {
    /// The undiscounted total, `unit_price × quantity`.
    pub fn total(&self) -> Result<Money, MoneyError> {
        self.unit_price.checked_mul(self.quantity)
    }
}

/// A way to take money off a [`Line`]. Object safe, so different discounts can sit side by side
/// in one `Vec<Box<dyn Discount>>` (Go would call this an interface).
pub trait Discount {
    /// A short description for receipts, e.g. `"10% off"`.
    fn name(&self) -> String;

    /// How much this discount takes off `line`, in the line's currency; zero when it does not
    /// apply.
    fn reduction(&self, line: &Line) -> Result<Money, MoneyError>;
}

/// `percent`% off the line total, rounded down to a whole minor unit (in the shop's favour).
/// Values above 100 count as 100.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PercentOff(pub u8);

/// A fixed amount off the line total, never more than the total itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AmountOff(pub Money);

/// Buy `n`, get one free: of every `n + 1` items, one costs nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuyNGetOneFree {
    /// How many items must be paid for to get one free.
    pub n: u32,
}

/// What [`best_price`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BestPrice {
    /// The line total after the best discount: never negative, never above the undiscounted total.
    pub total: Money,
    /// The [`Discount::name`] of the discount applied, `None` when no discount reduced the total.
    pub applied: Option<String>,
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

/// A boxed future that can move between threads: what an object-safe trait returns where an
/// `async fn` would not be object safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a [`PriceSource`] had no price.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SourceError {
    /// The source does not sell this SKU.
    #[error("unknown SKU `{0}`")]
    UnknownSku(String),
    /// The source could not answer, e.g. its upstream returned 503.
    #[error("source unavailable: {0}")]
    Unavailable(String),
}

/// A supplier that quotes prices, asynchronously. The tests implement it with fakes that
/// sleep, fail or never answer.
pub trait PriceSource: Send + Sync {
    /// A name for reports, e.g. `"supplier-a"`.
    fn name(&self) -> &str;

    /// The price of `sku` at this source.
    fn price<'a>(&'a self, sku: &'a str) -> BoxFuture<'a, Result<Money, SourceError>>;
}

/// A price one source quoted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// The [`PriceSource::name`] of the source.
    pub source: String,
    /// What it quoted.
    pub price: Money,
}

/// Why one source's call failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FetchError {
    /// The source did not answer within the per-call timeout (the value is that timeout).
    #[error("timed out after {0:?}")]
    TimedOut(Duration),
    /// The source answered with an error.
    #[error(transparent)]
    Source(#[from] SourceError),
}

/// A source that failed, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    /// The [`PriceSource::name`] of the source.
    pub source: String,
    /// Why it failed.
    pub error: FetchError,
}

/// Everything [`fetch_all`] learned: partial results are results.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Quotes {
    /// One entry per source that answered in time with a price, in the order of `sources`.
    pub prices: Vec<Quote>,
    /// One entry per source that did not, in the order of `sources`.
    pub failures: Vec<Failure>,
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
