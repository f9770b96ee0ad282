//! Exercise 01, Rust foundations: the reference solution.
//!
//! Try the exercise first (`exercises/01-rust-foundations/src/lib.rs`, hints in `hints/`), then
//! compare. Run the shared tests against this file with `cargo test -p exercise-01-solution`.
//!
//! The public API is the stub's, item for item; only the bodies (and their comments) differ.
//! The given types are not repeated here: this file includes the stub's own `src/given.rs`.

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

// ANCHOR: money
// ANCHOR: money_arithmetic
impl Money {
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
