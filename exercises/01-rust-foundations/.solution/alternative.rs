//! Exercise 01, Rust foundations: a second correct solution, written differently on purpose.
//!
//! `cargo xtask verify` runs the shared tests against this file too, so a test that accepts
//! only the reference's way of writing an answer is caught. How it differs from `lib.rs`:
//!
//! - Arithmetic widens to `i128`, where no sum, difference or product of the operands can
//!   overflow, and asks once whether the result fits back in an `i64` (the reference uses
//!   `i64::checked_*` and turns `None` into the error).
//! - `Display` pads the digits as text and splits them, rather than dividing by a power of ten.
//! - `FromStr` scans the amount with a small state machine and accumulates the value digit by
//!   digit, subtracting for a negative amount so that `i64::MIN` never has to exist as a
//!   positive number (the reference glues a literal together and lets `i64::from_str` judge).
//! - `PercentOff` splits the total into hundreds and a remainder instead of widening to
//!   `i128`; `BuyNGetOneFree` counts in `u64`, where `n + 1` cannot overflow, instead of a
//!   checked add; `best_price` collects every reduction first and then picks the largest, the
//!   earliest on a tie, instead of keeping a running best.
//! - `fetch_all` spawns one task per source into a `JoinSet` (which aborts them if the call is
//!   dropped) and restores the order of the sources by index, where the reference polls the
//!   calls on its own task with `join_all`, which keeps the order by itself.
//!
//! Both are right because the tests check behaviour (values, errors, virtual time), never the
//! way a body is written.

use std::cmp::Reverse;
use std::fmt::{self, Write as _};
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

    /// `self + other`: [`MoneyError::CurrencyMismatch`] first, then [`MoneyError::Overflow`].
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.combine(other, |a, b| a + b)
    }

    /// `self - other`, with the same errors as [`Money::checked_add`].
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.combine(other, |a, b| a - b)
    }

    /// `self × quantity`; [`MoneyError::Overflow`] when the product does not fit in an `i64`.
    pub fn checked_mul(self, quantity: u32) -> Result<Money, MoneyError> {
        // |i64| × u32 is below 2^95: far inside i128.
        Money::fit(i128::from(self.minor) * i128::from(quantity), self.currency)
    }

    /// Applies `op` to both amounts in `i128`, where the sum or difference of two `i64` always
    /// fits, after checking that the currencies agree.
    fn combine(
        self,
        other: Money,
        op: impl FnOnce(i128, i128) -> i128,
    ) -> Result<Money, MoneyError> {
        match (self.currency, other.currency) {
            (left, right) if left != right => Err(MoneyError::CurrencyMismatch { left, right }),
            (currency, _) => Money::fit(
                op(i128::from(self.minor), i128::from(other.minor)),
                currency,
            ),
        }
    }

    /// `minor` as a `Money`, when it fits in an `i64`.
    fn fit(minor: i128, currency: Currency) -> Result<Money, MoneyError> {
        i64::try_from(minor)
            .map(|minor| Money::from_minor(minor, currency))
            .map_err(|_| MoneyError::Overflow)
    }
}

/// Formats as `<amount> <CODE>` with exactly [`Currency::minor_digits`] decimals.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let digits = self.currency.minor_digits() as usize;
        // The magnitude's digits, left-padded so that at least one is left for the whole part:
        // 5 cents is "005", split into "0" and "05". `unsigned_abs` has a value for i64::MIN.
        let padded = format!("{:0>width$}", self.minor.unsigned_abs(), width = digits + 1);
        let (units, fraction) = padded.split_at(padded.len() - digits);
        if self.minor < 0 {
            f.write_char('-')?;
        }
        f.write_str(units)?;
        if !fraction.is_empty() {
            f.write_char('.')?;
            f.write_str(fraction)?;
        }
        write!(f, " {}", self.currency)
    }
}

/// The parts of a well-formed amount: an optional `-`, digits, and optionally `.` and digits.
struct Amount<'a> {
    negative: bool,
    units: &'a str,
    fraction: &'a str,
}

impl<'a> Amount<'a> {
    /// Reads `text` byte by byte; `None` for anything that is not `-?digits(.digits)?`.
    fn scan(text: &'a str) -> Option<Amount<'a>> {
        #[derive(Clone, Copy)]
        enum State {
            Start,
            Sign,
            Units,
            Dot,
            Fraction,
        }
        let mut state = State::Start;
        let mut dot = None;
        for (index, byte) in text.bytes().enumerate() {
            state = match (state, byte) {
                (State::Start, b'-') => State::Sign,
                (State::Start | State::Sign | State::Units, b'0'..=b'9') => State::Units,
                (State::Units, b'.') => {
                    dot = Some(index);
                    State::Dot
                }
                (State::Dot | State::Fraction, b'0'..=b'9') => State::Fraction,
                // Any other byte, including the first byte of a non-ASCII character.
                _ => return None,
            };
        }
        // Only these two states end on a digit: `-`, `1.` and the empty string do not.
        if !matches!(state, State::Units | State::Fraction) {
            return None;
        }
        let negative = text.starts_with('-');
        let start = usize::from(negative);
        // Every index is at an ASCII byte, so each slice falls on a character boundary.
        let (units, fraction) = match dot {
            Some(dot) => (&text[start..dot], &text[dot + 1..]),
            None => (&text[start..], ""),
        };
        Some(Amount {
            negative,
            units,
            fraction,
        })
    }

    /// The amount in minor units with `digits` decimals, or `None` when it leaves the `i64`
    /// range. A negative amount is built downwards from zero, digit by digit.
    fn minor_units(&self, digits: usize) -> Option<i64> {
        // The caller has refused more decimals than `digits` already.
        let padding = digits - self.fraction.len();
        self.units
            .bytes()
            .chain(self.fraction.bytes())
            .chain(std::iter::repeat_n(b'0', padding))
            .try_fold(0_i64, |value, byte| {
                let digit = i64::from(byte - b'0');
                let shifted = value.checked_mul(10)?;
                if self.negative {
                    shifted.checked_sub(digit)
                } else {
                    shifted.checked_add(digit)
                }
            })
    }
}

/// Parses `<amount> <CODE>`, checking the errors in the order [`ParseMoneyError`] lists them.
impl FromStr for Money {
    type Err = ParseMoneyError;

    fn from_str(s: &str) -> Result<Money, ParseMoneyError> {
        let text = s.trim();
        if text.is_empty() {
            return Err(ParseMoneyError::Empty);
        }
        let space = text.find(' ').ok_or(ParseMoneyError::MissingCurrency)?;
        let (amount, code) = (&text[..space], &text[space + 1..]);
        let currency = Currency::from_code(code)
            .ok_or_else(|| ParseMoneyError::UnknownCurrency(code.to_owned()))?;
        let parts = Amount::scan(amount)
            .ok_or_else(|| ParseMoneyError::InvalidAmount(amount.to_owned()))?;
        let allowed = currency.minor_digits();
        if parts.fraction.len() > allowed as usize {
            return Err(ParseMoneyError::TooManyDecimals {
                currency,
                allowed,
                found: parts.fraction.len(),
            });
        }
        let minor = parts
            .minor_units(allowed as usize)
            .ok_or(ParseMoneyError::OutOfRange)?;
        Ok(Money::from_minor(minor, currency))
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
    fn name(&self) -> String {
        format!("{}% off", self.0.min(100))
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        let total = line.total()?;
        if total.minor() <= 0 {
            return Ok(Money::zero(total.currency()));
        }
        let percent = i64::from(self.0.min(100));
        // total = 100 × hundreds + rest, so total × p / 100 = hundreds × p + rest × p / 100,
        // and only the second term needs rounding. hundreds × p is at most the total and
        // rest × p below 10,000: no intermediate value can overflow.
        let (hundreds, rest) = (total.minor() / 100, total.minor() % 100);
        Ok(Money::from_minor(
            hundreds * percent + rest * percent / 100,
            total.currency(),
        ))
    }
}

impl Discount for AmountOff {
    fn name(&self) -> String {
        format!("{} off", self.0)
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        let total = line.total()?;
        if self.0.currency() != total.currency() {
            return Err(MoneyError::CurrencyMismatch {
                left: total.currency(),
                right: self.0.currency(),
            });
        }
        // No more than the total, then never below zero (which also covers a negative total).
        let off = self.0.minor().min(total.minor()).max(0);
        Ok(Money::from_minor(off, total.currency()))
    }
}

impl Discount for BuyNGetOneFree {
    fn name(&self) -> String {
        format!("buy {} get one free", self.n)
    }

    fn reduction(&self, line: &Line) -> Result<Money, MoneyError> {
        // In u64, n + 1 always fits, and for n = u32::MAX the group is larger than any u32.
        let free = u64::from(line.quantity) / (u64::from(self.n) + 1);
        let free = u32::try_from(free).expect("a quotient of a u32 by at least 1 fits in a u32");
        line.unit_price.checked_mul(free)
    }
}

/// The lowest total any one of `discounts` gives for `line` (discounts do not stack).
pub fn best_price(line: &Line, discounts: &[Box<dyn Discount>]) -> Result<BestPrice, MoneyError> {
    let total = line.total()?;
    let ceiling = total.minor().max(0);
    // Every reduction first, so that any error (or foreign currency) is reported whichever
    // discount would have won; each one is clamped into 0..=total.
    let offs = discounts
        .iter()
        .map(|discount| {
            let reduction = discount.reduction(line)?;
            if reduction.currency() != total.currency() {
                return Err(MoneyError::CurrencyMismatch {
                    left: total.currency(),
                    right: reduction.currency(),
                });
            }
            Ok(reduction.minor().clamp(0, ceiling))
        })
        .collect::<Result<Vec<i64>, MoneyError>>()?;
    // The largest positive reduction; on a tie `Reverse(index)` makes the earliest the largest.
    let winner = offs
        .iter()
        .copied()
        .enumerate()
        .filter(|&(_, off)| off > 0)
        .max_by_key(|&(index, off)| (off, Reverse(index)));
    Ok(match winner {
        Some((index, off)) => BestPrice {
            // 0 < off <= total here, so the difference cannot overflow.
            total: Money::from_minor(total.minor() - off, total.currency()),
            applied: Some(discounts[index].name()),
        },
        None => BestPrice {
            total,
            applied: None,
        },
    })
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
pub async fn fetch_all(sources: &[Arc<dyn PriceSource>], sku: &str, per_call: Duration) -> Quotes {
    // A task per source needs owned data: a clone of the Arc and of the SKU. Each task
    // remembers its index, because a JoinSet hands results back in the order they finish.
    let mut calls = tokio::task::JoinSet::new();
    for (index, source) in sources.iter().enumerate() {
        let source = Arc::clone(source);
        let sku = sku.to_owned();
        calls.spawn(async move {
            let answer = tokio::time::timeout(per_call, source.price(&sku)).await;
            (index, source.name().to_owned(), answer)
        });
    }
    let mut answers = Vec::with_capacity(sources.len());
    while let Some(joined) = calls.join_next().await {
        match joined {
            Ok(answer) => answers.push(answer),
            // A source that panicked has a bug; pass its panic on rather than invent a reason.
            Err(error) => match error.try_into_panic() {
                Ok(payload) => std::panic::resume_unwind(payload),
                Err(_) => unreachable!("only dropping the JoinSet aborts its tasks"),
            },
        }
    }
    answers.sort_unstable_by_key(|&(index, ..)| index);

    let mut quotes = Quotes::default();
    for (_, source, answer) in answers {
        match answer {
            Ok(Ok(price)) => quotes.prices.push(Quote { source, price }),
            Ok(Err(error)) => quotes.failures.push(Failure {
                source,
                error: FetchError::Source(error),
            }),
            Err(_elapsed) => quotes.failures.push(Failure {
                source,
                error: FetchError::TimedOut(per_call),
            }),
        }
    }
    quotes
}
