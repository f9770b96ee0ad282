//! Exercise 01, Rust foundations: the reference solution.
//!
//! Try the exercise first (`exercises/01-rust-foundations/src/lib.rs`, hints in `hints/`), then
//! compare. Run the shared tests against this file with `cargo test -p exercise-01-solution`.
//!
//! The public API is the stub's, item for item; only the bodies (and their comments) differ.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

// ANCHOR: money
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

// ANCHOR: money_arithmetic
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

    /// `self + other`. Errors: [`MoneyError::CurrencyMismatch`] when the currencies differ
    /// (checked first), [`MoneyError::Overflow`] when the sum does not fit in an `i64`.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        // `i64::checked_add` says "overflow" with `None`; `ok_or` turns that into our reason.
        let minor = self
            .minor
            .checked_add(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// `self - other`, with the same errors as [`Money::checked_add`]. The result may be negative.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.same_currency(other)?;
        let minor = self
            .minor
            .checked_sub(other.minor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// `self × quantity` (the price of `quantity` items at `self` each).
    /// Error: [`MoneyError::Overflow`] when the product does not fit in an `i64`.
    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        // `i64::from` is lossless: every u32 fits, so the only failure left is the product.
        let minor = self
            .minor
            .checked_mul(i64::from(quantity))
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(minor, self.currency))
    }

    /// The one place the mismatch rule is written: add, sub and the discounts all use it.
    fn same_currency(self, other: Money) -> Result<(), MoneyError> {
        if self.currency == other.currency {
            Ok(())
        } else {
            Err(MoneyError::CurrencyMismatch {
                left: self.currency,
                right: other.currency,
            })
        }
    }
}
// ANCHOR_END: money_arithmetic

// ANCHOR: money_display
/// Formats as `<amount> <CODE>` with exactly [`Currency::minor_digits`] decimals:
/// `12.34 EUR`, `-0.05 USD`, `0.00 GBP`, `1500 JPY` (no decimal point when there are no minor
/// digits). A negative amount starts with `-`; zero never does.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits();
        // `unsigned_abs` because `i64::MIN.abs()` overflows: -9223372036854775808 has no
        // positive i64 twin, but it has a u64 one.
        let magnitude = self.minor.unsigned_abs();
        let sign = if self.minor < 0 { "-" } else { "" };
        if digits == 0 {
            return write!(f, "{sign}{magnitude} {}", self.currency);
        }
        let scale = 10_u64.pow(digits);
        let (units, fraction) = (magnitude / scale, magnitude % scale);
        // `{fraction:0width$}` pads with zeros: 5 cents prints as `05`, not `5`.
        let width = digits as usize;
        write!(f, "{sign}{units}.{fraction:0width$} {}", self.currency)
    }
}
// ANCHOR_END: money_display

// ANCHOR: money_parse
/// Parses what [`Display`](fmt::Display) prints, and a little more: fewer decimals than the
/// currency has (`12.3 EUR` is 12.30 EUR, `12 EUR` is 12.00 EUR), surrounding whitespace.
impl FromStr for Money {
    type Err = ParseMoneyError;

    fn from_str(s: &str) -> Result<Money, ParseMoneyError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(ParseMoneyError::Empty);
        }
        let (amount, code) = s.split_once(' ').ok_or(ParseMoneyError::MissingCurrency)?;
        // The currency comes first because it decides how many decimals the amount may have.
        let currency = Currency::from_code(code)
            .ok_or_else(|| ParseMoneyError::UnknownCurrency(code.to_owned()))?;

        let invalid = || ParseMoneyError::InvalidAmount(amount.to_owned());
        let (negative, unsigned) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (units, fraction) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let is_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        // `12.` and `.5` are rejected: a decimal point needs digits on both sides.
        if !is_digits(units) || (unsigned.contains('.') && !is_digits(fraction)) {
            return Err(invalid());
        }

        let allowed = currency.minor_digits();
        if fraction.len() > allowed as usize {
            return Err(ParseMoneyError::TooManyDecimals {
                currency,
                allowed,
                found: fraction.len(),
            });
        }

        // Rather than multiply and add by hand, glue the digits into one integer literal
        // ("12.3" in EUR becomes "1230") and let `i64::from_str` do the range check. Keeping the
        // sign in the literal matters: "-9223372036854775808" parses, its positive twin does not.
        let width = allowed as usize;
        let sign = if negative { "-" } else { "" };
        let literal = format!("{sign}{units}{fraction:0<width$}");
        // Every character was checked above, so the only way left to fail is the range.
        let minor = literal
            .parse::<i64>()
            .map_err(|_| ParseMoneyError::OutOfRange)?;
        Ok(Money::from_minor(minor, currency))
    }
}
// ANCHOR_END: money_parse
// ANCHOR_END: money

// ANCHOR: discount
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
    fn name(&self) -> String {
        format!("{}% off", self.0.min(100))
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        let total = line.total()?;
        // i128 so that `total × percent` cannot overflow before the division brings it back;
        // the result is at most `total`, so it always fits in an i64 again.
        let off = i128::from(total.minor()) * i128::from(self.0.min(100)) / 100;
        let off = i64::try_from(off).map_err(|_| MoneyError::Overflow)?;
        Ok(Money::from_minor(off.max(0), total.currency()))
    }
}

impl Discount for AmountOff {
    fn name(&self) -> String {
        format!("{} off", self.0)
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        let total = line.total()?;
        // Five euros off a dollar price is a configuration mistake, not a reason to guess.
        total.same_currency(self.0)?;
        let off = self.0.minor().clamp(0, total.minor().max(0));
        Ok(Money::from_minor(off, total.currency()))
    }
}

impl Discount for BuyNGetOneFree {
    fn name(&self) -> String {
        format!("buy {} get one free", self.n)
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        // `n + 1` can only overflow for n = u32::MAX, and then no quantity earns a free item.
        let free = match self.n.checked_add(1) {
            Some(group) => line.quantity / group,
            None => 0,
        };
        line.unit_price.checked_mul(free)
    }
}

// ANCHOR: best_price
/// The lowest total any one of `discounts` gives for `line` (discounts do not stack).
///
/// Among equal reductions the first in the slice wins. The total never goes below zero and
/// never above the undiscounted total, whatever a `Discount` implementation returns: a negative
/// reduction counts as none, a reduction larger than the total makes it zero.
///
/// Errors: the line total overflows, or a discount returns an error (for example an
/// [`AmountOff`] in another currency), which is passed on rather than skipped.
pub fn best_price(line: &Line, discounts: &[Box<dyn Discount>]) -> Result<BestPrice, MoneyError> {
    let total = line.total()?;
    let mut best: Option<(i64, &dyn Discount)> = None;
    for discount in discounts {
        let reduction = discount.reduction(line)?;
        // A `Discount` written elsewhere could answer in another currency; refuse to mix.
        total.same_currency(reduction)?;
        // Clamp here, not in each implementation: the guarantee belongs to this function, and
        // it must hold for discounts written after it (the tests write a few rogue ones).
        let capped = reduction.minor().clamp(0, total.minor().max(0));
        // Strictly greater, so the first of equal reductions stays.
        if capped > best.map_or(0, |(amount, _)| amount) {
            best = Some((capped, discount.as_ref()));
        }
    }
    Ok(match best {
        Some((amount, discount)) => BestPrice {
            total: total.checked_sub(Money::from_minor(amount, total.currency()))?,
            applied: Some(discount.name()),
        },
        None => BestPrice {
            total,
            applied: None,
        },
    })
}
// ANCHOR_END: best_price
// ANCHOR_END: discount

// ANCHOR: fetch_all
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

// ANCHOR: fetch_all_fn
/// Asks every source for the price of `sku` at the same time, giving each at most `per_call`.
///
/// Every source lands in exactly one of the two lists. The whole call takes about as long as
/// the slowest source or `per_call`, whichever is shorter, never the sum of all calls.
pub async fn fetch_all(sources: &[Arc<dyn PriceSource>], sku: &str, per_call: Duration) -> Quotes {
    // Each call is a future wrapped in its own `timeout`, so one slow source cannot spend the
    // others' budget. Nothing runs yet: futures are lazy until polled.
    let calls = sources.iter().map(|source| async move {
        let outcome = match tokio::time::timeout(per_call, source.price(sku)).await {
            Ok(Ok(price)) => Ok(price),
            Ok(Err(error)) => Err(FetchError::from(error)),
            // The `Elapsed` error carries no information we lack; the duration says more.
            Err(_elapsed) => Err(FetchError::TimedOut(per_call)),
        };
        (source.name().to_owned(), outcome)
    });
    // `join_all` polls all calls concurrently on this task and returns their outputs in input
    // order, whatever order they finish in: that is what makes the result deterministic.
    // `tokio::spawn` per source would also work, at the price of `'static` data (clone the Arc
    // and the SKU into each task) and handling `JoinError`.
    let outcomes = futures::future::join_all(calls).await;

    let mut quotes = Quotes::default();
    for (source, outcome) in outcomes {
        match outcome {
            Ok(price) => quotes.prices.push(Quote { source, price }),
            Err(error) => quotes.failures.push(Failure { source, error }),
        }
    }
    quotes
}
// ANCHOR_END: fetch_all_fn
// ANCHOR_END: fetch_all
