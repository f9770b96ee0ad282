//! Card numbers: what parses, what the Luhn check catches, and that the number never shows.
//!
//! `cargo test -p shop-payments --test card`

use proptest::prelude::*;
use shop_payments::sandbox::test_cards;
use shop_payments::{CardNumber, CardNumberError};

/// The digit that makes `body` Luhn-valid when appended.
fn check_digit(body: &[u8]) -> u8 {
    let sum: u32 = body
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            // Once the check digit is appended, the body's last digit is second from the right.
            if i % 2 == 0 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    u8::try_from((10 - sum % 10) % 10).expect("a digit")
}

/// Luhn-valid numbers of 12 to 19 digits.
fn valid_numbers() -> impl Strategy<Value = String> {
    proptest::collection::vec(0..=9_u8, 11..=18).prop_map(|mut digits| {
        digits.push(check_digit(&digits));
        digits.iter().map(|d| char::from(b'0' + d)).collect()
    })
}

#[test]
fn every_test_card_is_a_valid_number() {
    for card in [
        test_cards::SUCCEEDS,
        test_cards::DECLINED,
        test_cards::INSUFFICIENT_FUNDS,
        test_cards::REQUIRES_ACTION,
        test_cards::NETWORK_FAILURE,
    ] {
        let parsed = CardNumber::parse(card).expect("a test card is valid");
        assert_eq!(parsed.expose_number(), card.replace(' ', ""));
    }
}

#[test]
fn what_is_not_a_card_number() {
    assert_eq!(
        CardNumber::parse("4111-1111-1111-1111"),
        Err(CardNumberError::InvalidCharacter)
    );
    assert_eq!(
        CardNumber::parse("4111 1111 111"),
        Err(CardNumberError::Length(11))
    );
    assert_eq!(
        CardNumber::parse("4111 1111 1111 1112"),
        Err(CardNumberError::Checksum)
    );
    assert_eq!(CardNumber::parse(""), Err(CardNumberError::Length(0)));
    // A non-ASCII digit is not a digit here.
    assert_eq!(
        CardNumber::parse("٤١١١١١١١١١١١١١١١"),
        Err(CardNumberError::InvalidCharacter)
    );
}

#[test]
fn a_card_number_shows_its_last_four_digits_only() {
    let card = CardNumber::parse(test_cards::SUCCEEDS).expect("valid");
    assert_eq!(card.to_string(), "**** 1111");
    assert_eq!(format!("{card:?}"), "CardNumber(**** 1111)");
    assert_eq!(card.last_four(), "1111");
    let in_a_struct = format!("{:?}", Some((1, card)));
    assert!(!in_a_struct.contains("4111111111111111"), "{in_a_struct}");
}

proptest! {
    #[test]
    fn a_valid_number_parses_with_or_without_spaces(number in valid_numbers()) {
        let spaced: String = number
            .as_bytes()
            .chunks(4)
            .map(|chunk| std::str::from_utf8(chunk).expect("ASCII"))
            .collect::<Vec<_>>()
            .join(" ");
        let parsed = CardNumber::parse(&spaced).expect("valid");
        prop_assert_eq!(parsed.expose_number(), number.as_str());
        prop_assert_eq!(CardNumber::parse(&number), Ok(parsed));
    }

    /// The Luhn check's promise: one mistyped digit is always caught.
    #[test]
    fn one_changed_digit_is_caught(
        number in valid_numbers(),
        index in any::<prop::sample::Index>(),
        shift in 1..=9_u8,
    ) {
        let mut digits = number.into_bytes();
        let i = index.index(digits.len());
        digits[i] = b'0' + (digits[i] - b'0' + shift) % 10;
        let mistyped = String::from_utf8(digits).expect("ASCII");
        prop_assert_eq!(CardNumber::parse(&mistyped), Err(CardNumberError::Checksum));
    }

    #[test]
    fn no_form_of_a_card_number_shows_more_than_four_digits(number in valid_numbers()) {
        let card = CardNumber::parse(&number).expect("valid");
        for shown in [card.to_string(), format!("{card:?}"), format!("{card:#?}")] {
            let digits = shown.chars().filter(char::is_ascii_digit).count();
            prop_assert_eq!(digits, 4, "{}", shown);
        }
    }
}
