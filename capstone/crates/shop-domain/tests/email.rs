//! Property tests for `Email`: generated valid addresses are accepted and normalised the same
//! way every time; damaged ones are rejected with the right reason. Run with
//! `cargo test -p shop-domain --test email`.

use proptest::prelude::*;
use shop_domain::{Email, EmailError};

/// A dot-atom local part: groups of RFC 5322 `atext` joined by single dots.
fn local_part() -> impl Strategy<Value = String> {
    "[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}(\\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]{1,12}){0,3}"
}

/// Two to four host-name labels, mixed case.
fn domain() -> impl Strategy<Value = String> {
    "[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,10}[A-Za-z0-9])?){1,3}"
}

fn address() -> impl Strategy<Value = (String, String)> {
    (local_part(), domain())
}

proptest! {
    #[test]
    fn valid_addresses_parse_with_a_lower_case_domain((local, domain) in address()) {
        let email = Email::parse(&format!("{local}@{domain}")).unwrap();
        prop_assert_eq!(email.local_part(), local.as_str());
        prop_assert_eq!(email.domain(), domain.to_ascii_lowercase());
    }

    #[test]
    fn parsing_is_idempotent((local, domain) in address()) {
        let email = Email::parse(&format!("{local}@{domain}")).unwrap();
        prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
        prop_assert_eq!(email.to_string().parse::<Email>(), Ok(email));
    }

    #[test]
    fn surrounding_whitespace_does_not_matter(
        (local, domain) in address(),
        before in "[ \t\n]{0,3}",
        after in "[ \t\n]{0,3}",
    ) {
        let plain = format!("{local}@{domain}");
        prop_assert_eq!(Email::parse(&format!("{before}{plain}{after}")), Email::parse(&plain));
    }

    #[test]
    fn json_round_trips_through_parse((local, domain) in address()) {
        let email = Email::parse(&format!("{local}@{domain}")).unwrap();
        let json = serde_json::to_string(&email).unwrap();
        prop_assert_eq!(serde_json::from_str::<Email>(&json).unwrap(), email);
    }

    #[test]
    fn inner_whitespace_is_rejected((local, domain) in address(), at in any::<prop::sample::Index>(), ws in "[ \t]") {
        let mut text = format!("{local}@{domain}");
        // Anywhere strictly inside, so trimming cannot remove it.
        let position = 1 + at.index(text.len() - 1);
        text.insert_str(position, &ws);
        prop_assert_eq!(Email::parse(&text), Err(EmailError::Whitespace));
    }

    #[test]
    fn the_at_sign_must_appear_exactly_once((local, domain) in address()) {
        prop_assert_eq!(Email::parse(&format!("{local}{domain}")), Err(EmailError::MissingAt));
        prop_assert_eq!(
            Email::parse(&format!("{local}@{local}@{domain}")),
            Err(EmailError::MultipleAt)
        );
    }

    #[test]
    fn invalid_json_is_rejected_like_invalid_text(s in "\\PC{0,40}") {
        let json = serde_json::to_string(&s).unwrap();
        prop_assert_eq!(serde_json::from_str::<Email>(&json).is_ok(), Email::parse(&s).is_ok());
    }

    #[test]
    fn whatever_is_accepted_keeps_the_promises(s in prop_oneof![
        // Valid addresses, near misses built from the right alphabet, and noise.
        address().prop_map(|(local, domain)| format!("{local}@{domain}")),
        "[a-zA-Z0-9.@ \t-]{0,30}",
        "\\PC{0,300}",
    ]) {
        if let Ok(email) = Email::parse(&s) {
            prop_assert!(email.as_str().len() <= shop_domain::email::MAX_LEN);
            prop_assert_eq!(email.as_str().matches('@').count(), 1);
            prop_assert!(!email.as_str().contains(char::is_whitespace));
            prop_assert_eq!(email.domain(), email.domain().to_ascii_lowercase());
        }
    }
}
