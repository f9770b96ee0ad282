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
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

impl Money {
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
