//! Property tests for `Sku`. Run with `cargo test -p shop-domain --test sku`.

use proptest::prelude::*;
use shop_domain::{Sku, SkuError};

/// Groups of letters and digits (either case) joined by single hyphens, 3 to 32 characters.
fn valid_sku() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]{1,8}(-[A-Za-z0-9]{1,8}){0,3}".prop_filter("3 to 32 characters", |s| {
        (Sku::MIN_LEN..=Sku::MAX_LEN).contains(&s.len())
    })
}

proptest! {
    #[test]
    fn valid_codes_are_accepted_in_upper_case(code in valid_sku()) {
        let sku = Sku::parse(&code).unwrap();
        prop_assert_eq!(sku.as_str(), code.to_ascii_uppercase());
    }

    #[test]
    fn case_does_not_make_a_different_sku(code in valid_sku()) {
        prop_assert_eq!(
            Sku::parse(&code.to_ascii_lowercase()),
            Sku::parse(&code.to_ascii_uppercase())
        );
    }

    #[test]
    fn parsing_is_idempotent(code in valid_sku()) {
        let sku = Sku::parse(&code).unwrap();
        prop_assert_eq!(sku.to_string().parse::<Sku>(), Ok(sku));
    }

    #[test]
    fn json_round_trips(code in valid_sku()) {
        let sku = Sku::parse(&code).unwrap();
        let json = serde_json::to_string(&sku).unwrap();
        prop_assert_eq!(serde_json::from_str::<Sku>(&json).unwrap(), sku);
    }

    #[test]
    fn a_foreign_character_is_reported_where_it_is(
        code in "[A-Z0-9]{3,20}",
        at in any::<prop::sample::Index>(),
        ch in "[^A-Za-z0-9\\-\\s]",
    ) {
        let ch = ch.chars().next().unwrap();
        let position = at.index(code.len() + 1);
        let mut text = code.clone();
        text.insert(position, ch);
        prop_assert_eq!(
            Sku::parse(&text),
            Err(SkuError::InvalidCharacter { ch, position: position + 1 })
        );
    }

    #[test]
    fn doubled_hyphens_are_rejected(a in "[A-Z0-9]{1,8}", b in "[A-Z0-9]{1,8}") {
        prop_assert_eq!(Sku::parse(&format!("{a}--{b}")), Err(SkuError::MisplacedHyphen));
    }

    #[test]
    fn whatever_is_accepted_matches_the_documented_format(
        s in prop_oneof![valid_sku(), "[ a-zA-Z0-9_-]{0,40}"]
    ) {
        if let Ok(sku) = Sku::parse(&s) {
            let code = sku.as_str();
            prop_assert!((Sku::MIN_LEN..=Sku::MAX_LEN).contains(&code.len()), "{}", code);
            prop_assert!(code.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-'), "{}", code);
            prop_assert!(!code.starts_with('-') && !code.ends_with('-') && !code.contains("--"), "{}", code);
        }
    }
}
