//! Part (a): `Money` arithmetic, `Display` and `FromStr`.
//!
//! Run with `cargo test -p exercise-01 part_a`. The last block holds property tests: proptest
//! generates hundreds of inputs and, when one fails, shrinks it to the smallest failing case,
//! which it prints as `minimal failing input`.

use exercise_01::{Currency, Money, MoneyError, ParseMoneyError};
use proptest::prelude::*;

fn eur(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Eur)
}

fn usd(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Usd)
}

fn jpy(minor: i64) -> Money {
    Money::from_minor(minor, Currency::Jpy)
}

fn parse(input: &str) -> Result<Money, ParseMoneyError> {
    input.parse::<Money>()
}

#[test]
fn checked_add_sums_amounts_in_the_same_currency() {
    assert_eq!(
        eur(1234).checked_add(eur(66)),
        Ok(eur(1300)),
        "12.34 EUR + 0.66 EUR is 13.00 EUR, i.e. 1300 minor units"
    );
    assert_eq!(
        eur(500).checked_add(eur(-700)),
        Ok(eur(-200)),
        "adding a negative amount subtracts it"
    );
}

#[test]
fn checked_add_refuses_to_mix_currencies() {
    let err = eur(100).checked_add(usd(100));
    assert_eq!(
        err,
        Err(MoneyError::CurrencyMismatch {
            left: Currency::Eur,
            right: Currency::Usd,
        }),
        "EUR + USD has no answer: return CurrencyMismatch with left = self, right = other"
    );
    let message = err.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.contains("EUR") && message.contains("USD"),
        "the error message should name both currencies, got: {message}"
    );
}

#[test]
fn checked_add_reports_overflow_instead_of_panicking() {
    assert_eq!(
        eur(i64::MAX).checked_add(eur(1)),
        Err(MoneyError::Overflow),
        "i64::MAX + 1 does not fit: use i64::checked_add, not `+` (which panics in debug builds)"
    );
    assert_eq!(
        eur(i64::MIN).checked_add(eur(-1)),
        Err(MoneyError::Overflow),
        "i64::MIN - 1 does not fit either"
    );
}

#[test]
fn checked_sub_subtracts_and_may_go_negative() {
    assert_eq!(eur(1000).checked_sub(eur(250)), Ok(eur(750)));
    assert_eq!(
        eur(250).checked_sub(eur(1000)),
        Ok(eur(-750)),
        "a negative result is fine (a refund, a balance owed); only overflow is an error"
    );
    assert_eq!(
        usd(1).checked_sub(jpy(1)),
        Err(MoneyError::CurrencyMismatch {
            left: Currency::Usd,
            right: Currency::Jpy,
        }),
        "subtraction must refuse mixed currencies too"
    );
    assert_eq!(
        eur(i64::MIN).checked_sub(eur(1)),
        Err(MoneyError::Overflow),
        "i64::MIN - 1 overflows"
    );
}

#[test]
fn checked_mul_multiplies_by_a_quantity() {
    assert_eq!(
        eur(999).checked_mul(3),
        Ok(eur(2997)),
        "3 items at 9.99 EUR cost 29.97 EUR"
    );
    assert_eq!(
        eur(999).checked_mul(0),
        Ok(eur(0)),
        "zero items cost nothing"
    );
    assert_eq!(jpy(-5).checked_mul(4), Ok(jpy(-20)), "the currency is kept");
    assert_eq!(
        eur(i64::MAX / 2 + 1).checked_mul(2),
        Err(MoneyError::Overflow),
        "a product that does not fit in i64 is an Overflow error, not a panic"
    );
}

#[test]
fn display_shows_two_minor_digits_for_euro() {
    assert_eq!(eur(1234).to_string(), "12.34 EUR");
    assert_eq!(
        eur(5).to_string(),
        "0.05 EUR",
        "5 cents: pad the fraction to 2 digits"
    );
    assert_eq!(
        eur(100).to_string(),
        "1.00 EUR",
        "whole euros still show .00"
    );
    assert_eq!(eur(0).to_string(), "0.00 EUR");
    assert_eq!(usd(123_456_789).to_string(), "1234567.89 USD");
}

#[test]
fn display_puts_the_sign_in_front_of_negative_amounts() {
    assert_eq!(eur(-1234).to_string(), "-12.34 EUR");
    assert_eq!(
        eur(-5).to_string(),
        "-0.05 EUR",
        "-5 cents has zero whole units: the sign must not get lost with them"
    );
    assert_eq!(
        eur(i64::MIN).to_string(),
        "-92233720368547758.08 EUR",
        "i64::MIN has no positive i64 twin: i64::unsigned_abs avoids the overflow of abs()"
    );
}

#[test]
fn display_has_no_decimal_point_for_currencies_without_minor_units() {
    assert_eq!(jpy(1500).to_string(), "1500 JPY", "JPY has 0 minor digits");
    assert_eq!(jpy(-7).to_string(), "-7 JPY");
    assert_eq!(jpy(0).to_string(), "0 JPY");
}

#[test]
fn parse_reads_what_display_writes_and_fewer_decimals() {
    assert_eq!(parse("12.34 EUR"), Ok(eur(1234)));
    assert_eq!(parse("-0.05 USD"), Ok(usd(-5)));
    assert_eq!(parse("1500 JPY"), Ok(jpy(1500)));
    assert_eq!(
        parse("  7.00 GBP \n"),
        Ok(Money::from_minor(700, Currency::Gbp)),
        "surrounding whitespace is trimmed"
    );
    assert_eq!(
        parse("12.3 EUR"),
        Ok(eur(1230)),
        "fewer decimals are fine: 12.3 EUR is 12.30 EUR"
    );
    assert_eq!(
        parse("12 EUR"),
        Ok(eur(1200)),
        "no decimals at all: 12 EUR is 12.00 EUR"
    );
    assert_eq!(parse("-0 EUR"), Ok(eur(0)), "minus zero is zero");
}

#[test]
fn parse_rejects_empty_input_and_a_missing_or_unknown_currency() {
    assert_eq!(parse(""), Err(ParseMoneyError::Empty));
    assert_eq!(
        parse("   "),
        Err(ParseMoneyError::Empty),
        "only whitespace is empty too"
    );
    assert_eq!(
        parse("12.34"),
        Err(ParseMoneyError::MissingCurrency),
        "no space, so no currency"
    );
    assert_eq!(
        parse("12.34 XYZ"),
        Err(ParseMoneyError::UnknownCurrency("XYZ".to_owned()))
    );
    assert_eq!(
        parse("12.34 eur"),
        Err(ParseMoneyError::UnknownCurrency("eur".to_owned())),
        "currency codes are upper case"
    );
    assert_eq!(
        parse("12.345 XYZ"),
        Err(ParseMoneyError::UnknownCurrency("XYZ".to_owned())),
        "the currency is checked before the amount"
    );
}

#[test]
fn parse_rejects_malformed_amounts() {
    for amount in [
        "abc", "1,50", "+1.50", "1.", ".5", "1.2.3", "--1", "-", "1e3", "١٢",
    ] {
        let input = format!("{amount} EUR");
        assert_eq!(
            parse(&input),
            Err(ParseMoneyError::InvalidAmount(amount.to_owned())),
            "`{input}` is not `-?digits` or `-?digits.digits` followed by a space and a code"
        );
    }
}

#[test]
fn parse_rejects_more_decimals_than_the_currency_has() {
    assert_eq!(
        parse("12.345 EUR"),
        Err(ParseMoneyError::TooManyDecimals {
            currency: Currency::Eur,
            allowed: 2,
            found: 3,
        }),
        "EUR has cents, not tenths of cents"
    );
    assert_eq!(
        parse("12.340 EUR"),
        Err(ParseMoneyError::TooManyDecimals {
            currency: Currency::Eur,
            allowed: 2,
            found: 3,
        }),
        "a trailing zero is still a third decimal"
    );
    assert_eq!(
        parse("100.5 JPY"),
        Err(ParseMoneyError::TooManyDecimals {
            currency: Currency::Jpy,
            allowed: 0,
            found: 1,
        }),
        "JPY has no decimals at all"
    );
}

#[test]
fn parse_accepts_the_whole_i64_range_and_nothing_beyond() {
    assert_eq!(parse("92233720368547758.07 EUR"), Ok(eur(i64::MAX)));
    assert_eq!(
        parse("-92233720368547758.08 EUR"),
        Ok(eur(i64::MIN)),
        "i64::MIN must parse: build the negative number directly, not as -(positive)"
    );
    assert_eq!(
        parse("92233720368547758.08 EUR"),
        Err(ParseMoneyError::OutOfRange),
        "one cent above i64::MAX"
    );
    assert_eq!(
        parse("99999999999999999999999999 JPY"),
        Err(ParseMoneyError::OutOfRange)
    );
}

fn any_currency() -> impl Strategy<Value = Currency> {
    prop::sample::select(Currency::ALL.to_vec())
}

/// Any `i64`, with the edges drawn often: `any::<i64>()` alone is uniform, so it would almost
/// never produce `i64::MIN`, `i64::MAX`, zero or an amount of a few cents.
fn any_minor() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(i64::MIN),
        Just(i64::MAX),
        Just(0),
        -1_000_i64..1_000,
        any::<i64>(),
    ]
}

fn any_money() -> impl Strategy<Value = Money> {
    (any_minor(), any_currency()).prop_map(|(minor, currency)| Money::from_minor(minor, currency))
}

/// Two amounts in two different currencies: two distinct currencies drawn up front, so no
/// generated case is thrown away.
fn mismatched_pair() -> impl Strategy<Value = (Money, Money)> {
    let two_currencies = prop::sample::subsequence(Currency::ALL.to_vec(), 2).prop_shuffle();
    (any_minor(), any_minor(), two_currencies)
        .prop_map(|(a, b, c)| (Money::from_minor(a, c[0]), Money::from_minor(b, c[1])))
}

/// Short texts built from what a parser meets at its edges: digits, `-`, `.`, spaces, the
/// currency codes, control characters (NUL, tab, U+0085), non-ASCII digits, and any `char`.
fn tricky_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(vec![
            "0", "7", "9", "-", ".", " ", "  ", "EUR", "JPY", "usd", "\0", "\t", "\n", "\u{85}",
            "\u{a0}", "١", "+", "e",
        ])
        .prop_map(str::to_owned),
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..12).prop_map(|pieces| pieces.concat())
}

proptest! {
    // No regression files in the learner's tests/ folder (a failure prints its minimal
    // input instead), and a bounded shrink, so a failing property answers in a moment.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    #[test]
    fn display_then_parse_gives_back_the_same_money(money in any_money()) {
        let shown = money.to_string();
        prop_assert_eq!(
            shown.parse::<Money>(),
            Ok(money),
            "parsing the Display output `{}` must give back the original value",
            shown
        );
    }

    #[test]
    fn parse_never_panics_and_what_it_accepts_displays_back(text in tricky_text()) {
        // Whatever the text, parsing answers with a Result; an accepted amount shows as the
        // canonical form of itself, which parses to the same value.
        if let Ok(money) = text.parse::<Money>() {
            prop_assert_eq!(
                money.to_string().parse::<Money>(),
                Ok(money),
                "`{:?}` parsed to {:?}, whose Display does not parse back to it",
                text,
                money
            );
        }
    }

    #[test]
    fn checked_add_never_panics_and_agrees_with_i64(a in any_minor(), b in any_minor()) {
        let expected = a.checked_add(b).map(eur).ok_or(MoneyError::Overflow);
        prop_assert_eq!(eur(a).checked_add(eur(b)), expected);
    }

    #[test]
    fn adding_then_subtracting_gives_back_the_start(a in any_money(), b in any_minor()) {
        let b = Money::from_minor(b, a.currency());
        // Only the sums that fit say anything; the overflow case has its own test.
        if let Ok(sum) = a.checked_add(b) {
            prop_assert_eq!(sum.checked_sub(b), Ok(a), "(a + b) - b must be a");
        }
    }

    #[test]
    fn different_currencies_never_combine((a, b) in mismatched_pair()) {
        let mismatch = MoneyError::CurrencyMismatch { left: a.currency(), right: b.currency() };
        prop_assert_eq!(a.checked_add(b), Err(mismatch.clone()));
        prop_assert_eq!(a.checked_sub(b), Err(mismatch));
    }
}
