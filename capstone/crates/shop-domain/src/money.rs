//! Money: an integer number of minor units in an ISO 4217 currency.
//!
//! What this module shows:
//! - why money is an integer of minor units (cents), never a float;
//! - checked arithmetic: overflow and currency mismatch are errors a caller must handle;
//! - allocation: splitting an amount by ratios without losing or inventing a minor unit;
//! - one textual form (`12.34 EUR`) for `Display`/`FromStr`, and a JSON form that keeps the
//!   integer (`{"amount_minor":1234,"currency":"EUR"}`).
//!
//! Exercise 01 builds a smaller `Money` by hand (`exercises/01-rust-foundations`); this is the
//! production version the shop uses. Run its tests with `cargo test -p shop-domain`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

// ANCHOR: money_type
/// The currencies the shop trades in, with their ISO 4217 minor-unit exponents.
///
/// A closed enum rather than a `String` code: an unknown currency is rejected once, at the
/// boundary, and every `match` below is checked for completeness by the compiler when a
/// currency is added. Serialized as its code (`"EUR"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// Euro.
    Eur,
    /// US dollar.
    Usd,
    /// Pound sterling.
    Gbp,
    /// Swiss franc.
    Chf,
    /// Swedish krona.
    Sek,
    /// Japanese yen: no minor unit.
    Jpy,
    /// South Korean won: no minor unit.
    Krw,
    /// Kuwaiti dinar: three decimals (1 dinar = 1000 fils).
    Kwd,
}

impl Currency {
    /// Every supported currency.
    pub const ALL: [Currency; 8] = [
        Currency::Eur,
        Currency::Usd,
        Currency::Gbp,
        Currency::Chf,
        Currency::Sek,
        Currency::Jpy,
        Currency::Krw,
        Currency::Kwd,
    ];

    /// The ISO 4217 alphabetic code, e.g. `"EUR"`.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Eur => "EUR",
            Currency::Usd => "USD",
            Currency::Gbp => "GBP",
            Currency::Chf => "CHF",
            Currency::Sek => "SEK",
            Currency::Jpy => "JPY",
            Currency::Krw => "KRW",
            Currency::Kwd => "KWD",
        }
    }

    /// The ISO 4217 minor-unit exponent: one major unit is `10^exponent` minor units.
    pub const fn exponent(self) -> u32 {
        match self {
            Currency::Jpy | Currency::Krw => 0,
            Currency::Eur | Currency::Usd | Currency::Gbp | Currency::Chf | Currency::Sek => 2,
            Currency::Kwd => 3,
        }
    }

    /// `10^exponent`: how many minor units make one major unit.
    pub const fn minor_per_major(self) -> u64 {
        10_u64.pow(self.exponent())
    }
}

/// An amount of money.
///
/// The amount is an `i64` count of minor units: floats cannot represent 0.10 exactly, and a
/// ledger that drifts by a cent per million operations is a ledger nobody trusts. `i64` holds
/// about ±9.2 × 10^18 cents (92 quadrillion euros), more than any order will see; overflow is
/// still checked rather than assumed away. Negative amounts are valid (refunds, adjustments);
/// whether a *price* may be negative is a rule for the type that holds the price, not for
/// `Money`.
///
/// The fields are private so that every `Money` comes through a constructor, but any
/// `(i64, Currency)` pair is valid, so [`Money::from_minor`] cannot fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Money {
    amount_minor: i64,
    currency: Currency,
}

/// Why an arithmetic operation on [`Money`] has no result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// The operands are in different currencies; converting needs a rate, which `Money` has not.
    #[error("currency mismatch: expected {expected:?}, found {found:?}")]
    CurrencyMismatch {
        /// The currency of the left operand.
        expected: Currency,
        /// The currency of the right operand.
        found: Currency,
    },
    /// The result does not fit in an `i64` of minor units.
    #[error("amount overflow: the result does not fit in 64 bits of minor units")]
    Overflow,
}
// ANCHOR_END: money_type

impl Money {
    /// `amount_minor` minor units of `currency`: `Money::from_minor(1999, Currency::Eur)` is
    /// 19.99 EUR.
    pub const fn from_minor(amount_minor: i64, currency: Currency) -> Self {
        Self {
            amount_minor,
            currency,
        }
    }

    /// Zero in `currency`.
    pub const fn zero(currency: Currency) -> Self {
        Self::from_minor(0, currency)
    }

    /// The amount in minor units.
    pub const fn amount_minor(&self) -> i64 {
        self.amount_minor
    }

    /// The currency.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Whether the amount is zero.
    pub const fn is_zero(&self) -> bool {
        self.amount_minor == 0
    }

    /// Whether the amount is below zero.
    pub const fn is_negative(&self) -> bool {
        self.amount_minor < 0
    }

    /// `self + other`; fails on a currency mismatch or overflow.
    pub fn checked_add(self, other: Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_add)
    }

    /// `self - other`; fails on a currency mismatch or overflow.
    pub fn checked_sub(self, other: Money) -> Result<Money, MoneyError> {
        self.combine(other, i64::checked_sub)
    }

    /// `self × factor` (a quantity, or `-1` for a refund); fails on overflow.
    pub fn checked_mul(self, factor: i64) -> Result<Money, MoneyError> {
        let amount = self
            .amount_minor
            .checked_mul(factor)
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(amount, self.currency))
    }

    /// `-self`; fails only for the most negative amount, whose negation does not fit.
    pub fn checked_neg(self) -> Result<Money, MoneyError> {
        let amount = self
            .amount_minor
            .checked_neg()
            .ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(amount, self.currency))
    }

    // ANCHOR: money_sum
    /// The sum of `amounts`, all in `currency`; zero for none. Fails on the first amount in
    /// another currency or on overflow (a cart total is exactly this).
    pub fn sum<I>(currency: Currency, amounts: I) -> Result<Money, MoneyError>
    where
        I: IntoIterator<Item = Money>,
    {
        amounts
            .into_iter()
            .try_fold(Money::zero(currency), Money::checked_add)
    }
    // ANCHOR_END: money_sum

    /// The shared shape of add and sub: the currency check lives in one place.
    fn combine(self, other: Money, op: fn(i64, i64) -> Option<i64>) -> Result<Money, MoneyError> {
        if self.currency != other.currency {
            return Err(MoneyError::CurrencyMismatch {
                expected: self.currency,
                found: other.currency,
            });
        }
        let amount = op(self.amount_minor, other.amount_minor).ok_or(MoneyError::Overflow)?;
        Ok(Money::from_minor(amount, self.currency))
    }
}

// ANCHOR: allocate
/// Why an amount cannot be allocated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum AllocationError {
    /// There is nothing to allocate to.
    #[error("cannot allocate to an empty list of ratios")]
    NoRatios,
    /// Every ratio is zero, so no share is defined.
    #[error("cannot allocate when every ratio is zero")]
    AllRatiosZero,
}

impl Money {
    /// Splits `self` into one part per ratio, proportionally, so that the parts add up to
    /// exactly `self`.
    ///
    /// Dividing 10.00 EUR three ways cannot give three equal parts: 3.33 × 3 is 9.99, and the
    /// missing cent has to go somewhere. This uses the largest-remainder method: every part
    /// first gets its exact share rounded toward zero, then the minor units left over go, one
    /// each, to the parts whose share lost the most to rounding (ties: the earlier part). So
    ///
    /// - the parts always sum to `self` (nothing lost, nothing invented),
    /// - each part is within one minor unit of its exact share,
    /// - a zero ratio always gets exactly zero,
    /// - the result is deterministic, which matters when it is written to a ledger.
    ///
    /// Typical uses: spreading an order discount over its lines, splitting a payment.
    ///
    /// ```
    /// use shop_domain::{Currency, Money};
    ///
    /// let total = Money::from_minor(1000, Currency::Eur);
    /// let parts = total.allocate(&[1, 1, 1])?;
    /// let cents: Vec<i64> = parts.iter().map(Money::amount_minor).collect();
    /// assert_eq!(cents, [334, 333, 333]);
    /// # Ok::<(), shop_domain::AllocationError>(())
    /// ```
    pub fn allocate(&self, ratios: &[u32]) -> Result<Vec<Money>, AllocationError> {
        if ratios.is_empty() {
            return Err(AllocationError::NoRatios);
        }
        // i128 throughout: `amount × ratio` can exceed i64, and a sum of many u32 ratios can
        // exceed u32. The products are exact, so the only rounding is the one we control.
        let total = i128::from(self.amount_minor);
        let ratio_sum: i128 = ratios.iter().map(|&r| i128::from(r)).sum();
        if ratio_sum == 0 {
            return Err(AllocationError::AllRatiosZero);
        }

        // Division in Rust truncates toward zero, for negative amounts too, so the same
        // procedure works for refunds: the leftover is then negative and handed out as -1s.
        let mut shares = Vec::with_capacity(ratios.len());
        let mut lost = Vec::with_capacity(ratios.len());
        for &ratio in ratios {
            let exact = total * i128::from(ratio);
            shares.push(exact / ratio_sum);
            lost.push((exact % ratio_sum).unsigned_abs());
        }
        let leftover = total - shares.iter().sum::<i128>();

        // Largest loss first; a stable sort keeps earlier parts first among equal losses.
        let mut order: Vec<usize> = (0..ratios.len()).collect();
        order.sort_by(|&a, &b| lost[b].cmp(&lost[a]));
        // |leftover| < number of parts that lost anything, so each gets at most one unit.
        let step = leftover.signum();
        for &index in order.iter().take(leftover.unsigned_abs() as usize) {
            shares[index] += step;
        }

        Ok(shares
            .into_iter()
            .map(|share| {
                // A share lies between 0 and `total` (both i64), and so does a share plus its
                // one extra unit, so the conversion back cannot fail.
                let share = i64::try_from(share).expect("a share never exceeds the whole");
                Money::from_minor(share, self.currency)
            })
            .collect())
    }

    /// Splits `self` into `parts` amounts that differ by at most one minor unit and add up to
    /// `self`; the larger ones come first. `parts == 0` is [`AllocationError::NoRatios`].
    pub fn split_evenly(&self, parts: usize) -> Result<Vec<Money>, AllocationError> {
        self.allocate(&vec![1; parts])
    }
}
// ANCHOR_END: allocate

/// `12.34 EUR`, `-0.05 USD`, `1500 JPY`, `1.250 KWD`: the amount with exactly the currency's
/// exponent of decimals, a space, the code. Machine-readable on purpose (it is what
/// [`FromStr`] accepts); a localised display (`12,34 €`) belongs to the presentation layer.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let per_major = self.currency.minor_per_major();
        let magnitude = self.amount_minor.unsigned_abs();
        let sign = if self.amount_minor < 0 { "-" } else { "" };
        let major = magnitude / per_major;
        let code = self.currency.code();
        match self.currency.exponent() {
            0 => write!(f, "{sign}{major} {code}"),
            exponent => {
                let minor = magnitude % per_major;
                let width = exponent as usize;
                write!(f, "{sign}{major}.{minor:0width$} {code}")
            }
        }
    }
}

/// Why a string is not a [`Currency`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unsupported currency code `{0}`: expected one of EUR, USD, GBP, CHF, SEK, JPY, KRW, KWD")]
pub struct ParseCurrencyError(String);

impl FromStr for Currency {
    type Err = ParseCurrencyError;

    /// Exactly an upper-case ISO 4217 code: `EUR` parses, `eur` does not. Being strict here
    /// keeps one spelling of each currency in stored data.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Currency::ALL
            .into_iter()
            .find(|currency| currency.code() == s)
            .ok_or_else(|| ParseCurrencyError(s.to_owned()))
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Why a string is not a [`Money`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ParseMoneyError {
    /// Not of the form `<amount> <CODE>`.
    #[error("expected `<amount> <CURRENCY>`, e.g. `12.34 EUR`")]
    Format,
    /// The code is not a supported currency.
    #[error(transparent)]
    Currency(#[from] ParseCurrencyError),
    /// The amount is not an optional `-`, digits, and optionally `.` and digits.
    #[error("invalid amount `{0}`: expected digits with an optional `-` and decimal point")]
    Amount(String),
    /// More decimals than the currency's exponent: `1.005 EUR` would be half a cent.
    #[error("{currency} has {exponent} decimals, `{amount}` has more")]
    Precision {
        /// The amount as written.
        amount: String,
        /// The currency parsed.
        currency: Currency,
        /// Its exponent.
        exponent: u32,
    },
    /// The amount does not fit in an `i64` of minor units.
    #[error("amount out of range")]
    OutOfRange,
}

impl FromStr for Money {
    type Err = ParseMoneyError;

    /// Parses the [`Display`](fmt::Display) form. Fewer decimals than the exponent are
    /// accepted (`12.5 EUR` is 12.50 EUR); more are an error, never silently rounded.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (amount, code) = s.trim().split_once(' ').ok_or(ParseMoneyError::Format)?;
        let currency: Currency = code.parse()?;
        let invalid = || ParseMoneyError::Amount(amount.to_owned());

        let (negative, digits) = match amount.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, amount),
        };
        let (major, minor) = match digits.split_once('.') {
            Some((major, minor)) if !minor.is_empty() => (major, minor),
            Some(_) => return Err(invalid()),
            None => (digits, ""),
        };
        if major.is_empty() || !is_ascii_digits(major) || !is_ascii_digits(minor) {
            return Err(invalid());
        }
        let exponent = currency.exponent();
        if minor.len() > exponent as usize {
            return Err(ParseMoneyError::Precision {
                amount: amount.to_owned(),
                currency,
                exponent,
            });
        }

        // Glue the digits into one integer literal of minor units ("12.5" in EUR becomes
        // "1250") and let `i64::from_str` check the range, as exercise 01 does. The sign stays
        // in the literal: "-9223372036854775808" (i64::MIN) parses, its positive twin does not.
        // Every character was checked above, so the only way left to fail is the range.
        let sign = if negative { "-" } else { "" };
        let width = exponent as usize;
        let amount_minor = format!("{sign}{major}{minor:0<width$}")
            .parse::<i64>()
            .map_err(|_| ParseMoneyError::OutOfRange)?;
        Ok(Money::from_minor(amount_minor, currency))
    }
}

fn is_ascii_digits(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn eur(minor: i64) -> Money {
        Money::from_minor(minor, Currency::Eur)
    }

    fn minors(parts: &[Money]) -> Vec<i64> {
        parts.iter().map(Money::amount_minor).collect()
    }

    #[test]
    fn arithmetic_checks_currency_and_overflow() {
        assert_eq!(eur(150).checked_add(eur(250)), Ok(eur(400)));
        assert_eq!(eur(150).checked_sub(eur(250)), Ok(eur(-100)));
        assert_eq!(
            eur(1).checked_add(Money::from_minor(1, Currency::Usd)),
            Err(MoneyError::CurrencyMismatch {
                expected: Currency::Eur,
                found: Currency::Usd
            })
        );
        assert_eq!(eur(i64::MAX).checked_add(eur(1)), Err(MoneyError::Overflow));
        assert_eq!(eur(i64::MIN).checked_neg(), Err(MoneyError::Overflow));
        assert_eq!(eur(-7).checked_mul(-3), Ok(eur(21)));
    }

    #[test]
    fn sum_of_nothing_is_zero_and_mixed_currencies_fail() {
        assert_eq!(
            Money::sum(Currency::Jpy, []),
            Ok(Money::zero(Currency::Jpy))
        );
        assert_eq!(
            Money::sum(Currency::Eur, [eur(1), eur(2), eur(3)]),
            Ok(eur(6))
        );
        assert!(Money::sum(Currency::Eur, [eur(1), Money::zero(Currency::Gbp)]).is_err());
    }

    #[test]
    fn display_uses_the_currency_exponent() {
        assert_eq!(eur(1234).to_string(), "12.34 EUR");
        assert_eq!(eur(-5).to_string(), "-0.05 EUR");
        assert_eq!(
            Money::from_minor(1500, Currency::Jpy).to_string(),
            "1500 JPY"
        );
        assert_eq!(
            Money::from_minor(1250, Currency::Kwd).to_string(),
            "1.250 KWD"
        );
        assert_eq!(eur(i64::MIN).to_string(), "-92233720368547758.08 EUR");
    }

    #[test]
    fn parse_accepts_fewer_decimals_and_the_extremes() {
        assert_eq!("12.5 EUR".parse(), Ok(eur(1250)));
        assert_eq!(" 7 EUR ".parse(), Ok(eur(700)));
        assert_eq!("0.001 KWD".parse(), Ok(Money::from_minor(1, Currency::Kwd)));
        assert_eq!("-92233720368547758.08 EUR".parse(), Ok(eur(i64::MIN)));
        assert_eq!("92233720368547758.07 EUR".parse(), Ok(eur(i64::MAX)));
    }

    #[test]
    fn parse_explains_what_is_wrong() {
        let parse = |s: &str| s.parse::<Money>();
        assert_eq!(parse("12.34"), Err(ParseMoneyError::Format));
        assert_eq!(
            parse(" EUR"),
            Err(ParseMoneyError::Format),
            "trimmed, no space is left"
        );
        assert_eq!(
            parse("12.34 eur"),
            Err(ParseMoneyError::Currency(ParseCurrencyError("eur".into())))
        );
        for bad in ["-", "1.", ".5", "+1", "1,5", "1.2.3", "١"] {
            assert_eq!(
                parse(&format!("{bad} EUR")),
                Err(ParseMoneyError::Amount(bad.into())),
                "{bad:?} should be rejected as an amount"
            );
        }
        assert!(matches!(
            parse("1.005 EUR"),
            Err(ParseMoneyError::Precision { exponent: 2, .. })
        ));
        assert!(matches!(
            parse("1.5 JPY"),
            Err(ParseMoneyError::Precision { exponent: 0, .. })
        ));
        assert_eq!(
            parse("92233720368547758.08 EUR"),
            Err(ParseMoneyError::OutOfRange)
        );
        assert_eq!(
            parse("99999999999999999999999 JPY"),
            Err(ParseMoneyError::OutOfRange)
        );
    }

    #[test]
    fn allocation_hands_leftover_units_to_the_largest_remainders() {
        // 10.00 by 1:1:1: 333.33… each, one cent left over, to the first (ties: earliest).
        assert_eq!(
            minors(&eur(1000).allocate(&[1, 1, 1]).unwrap()),
            [334, 333, 333]
        );
        // 0.05 by 3:7: exact shares 1.5 and 3.5; one cent left, equal losses, first wins.
        assert_eq!(minors(&eur(5).allocate(&[3, 7]).unwrap()), [2, 3]);
        // 1.00 by 1:2:0:1 → 25, 50, 0, 25 exactly; the zero ratio gets nothing.
        assert_eq!(
            minors(&eur(100).allocate(&[1, 2, 0, 1]).unwrap()),
            [25, 50, 0, 25]
        );
        // Refunds: -10.00 by 1:1:1 mirrors the positive case.
        assert_eq!(
            minors(&eur(-1000).allocate(&[1, 1, 1]).unwrap()),
            [-334, -333, -333]
        );
        // 0.02 by 1:1:1 → one part gets nothing; 0.02 is never three parts of 0.01.
        assert_eq!(minors(&eur(2).allocate(&[1, 1, 1]).unwrap()), [1, 1, 0]);
    }

    #[test]
    fn allocation_rejects_degenerate_ratios() {
        assert_eq!(eur(100).allocate(&[]), Err(AllocationError::NoRatios));
        assert_eq!(
            eur(100).allocate(&[0, 0]),
            Err(AllocationError::AllRatiosZero)
        );
        assert_eq!(eur(100).split_evenly(0), Err(AllocationError::NoRatios));
    }

    #[test]
    fn allocation_survives_the_extremes() {
        let parts = eur(i64::MIN).allocate(&[u32::MAX, 1, u32::MAX]).unwrap();
        assert_eq!(Money::sum(Currency::Eur, parts), Ok(eur(i64::MIN)));
        let parts = eur(i64::MAX).split_evenly(7).unwrap();
        assert_eq!(Money::sum(Currency::Eur, parts), Ok(eur(i64::MAX)));
    }

    #[test]
    fn json_keeps_the_integer_and_the_code() {
        let json = serde_json::to_string(&eur(1234)).unwrap();
        assert_eq!(json, r#"{"amount_minor":1234,"currency":"EUR"}"#);
        assert_eq!(serde_json::from_str::<Money>(&json).unwrap(), eur(1234));
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1,"currency":"XXX"}"#).is_err());
        assert!(serde_json::from_str::<Money>(r#"{"amount_minor":1.5,"currency":"EUR"}"#).is_err());
    }
}
