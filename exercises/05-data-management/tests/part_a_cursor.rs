//! Part (a): the cursor. Round trips for every cursor (property tests), the exact wire form,
//! and a typed error for everything that is not a cursor this code wrote.
//!
//! Run with `cargo test -p exercise-05 --test part_a_cursor`.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use exercise_05::{Cursor, CursorError, SortField, Value};
use proptest::prelude::*;

fn price_cursor(key: i64, id: i64) -> Cursor {
    Cursor {
        sort: SortField::Price,
        key: Value::Int(key),
        id,
    }
}

/// The opaque form of arbitrary JSON text, to hand-craft cursors the code never wrote.
fn opaque(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn any_cursor() -> impl Strategy<Value = Cursor> {
    let numeric = (
        prop_oneof![Just(SortField::Price), Just(SortField::Created)],
        any::<i64>(),
    )
        .prop_map(|(sort, key)| (sort, Value::Int(key)));
    // Any text: quotes, backslashes, emoji and control characters must all survive.
    let text = any::<String>().prop_map(|key| (SortField::Name, Value::Text(key)));
    (prop_oneof![numeric, text], any::<i64>()).prop_map(|((sort, key), id)| Cursor {
        sort,
        key,
        id,
    })
}

#[test]
fn the_wire_form_is_base64url_of_the_documented_json() {
    let encoded = price_cursor(1299, 42).encode();
    let json = URL_SAFE_NO_PAD
        .decode(&encoded)
        .expect("the cursor is base64url without padding");
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"v":1,"sort":"price","key":1299,"id":42}"#
    );
    let name = Cursor {
        sort: SortField::Name,
        key: Value::Text("Oak desk".into()),
        id: 7,
    };
    let json = URL_SAFE_NO_PAD.decode(name.encode()).unwrap();
    assert_eq!(
        String::from_utf8(json).unwrap(),
        r#"{"v":1,"sort":"name","key":"Oak desk","id":7}"#
    );
}

#[test]
fn a_documented_cursor_decodes() {
    let text = opaque(r#"{"v":1,"sort":"created","key":1767225600,"id":-3}"#);
    assert_eq!(
        Cursor::decode(&text),
        Ok(Cursor {
            sort: SortField::Created,
            key: Value::Int(1_767_225_600),
            id: -3
        })
    );
}

proptest! {
    // No regression files in the learner's tests/ folder (a failure prints its minimal
    // input), and a short shrink: on the stub every case hits the same todo!(), and
    // shrinking would only print that panic again and again.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 16,
        ..ProptestConfig::default()
    })]

    #[test]
    fn every_cursor_survives_a_round_trip(cursor in any_cursor()) {
        let encoded = cursor.encode();
        prop_assert_eq!(Cursor::decode(&encoded), Ok(cursor));
    }

    #[test]
    fn the_encoded_form_needs_no_escaping_in_a_url(cursor in any_cursor()) {
        let encoded = cursor.encode();
        prop_assert!(
            encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{} has a character outside base64url", encoded
        );
    }

    #[test]
    fn changing_one_character_never_panics_and_never_yields_the_same_cursor(
        cursor in any_cursor(),
        position in any::<prop::sample::Index>(),
        replacement in prop::sample::select(
            b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_+/=. %".to_vec()
        ),
    ) {
        let encoded = cursor.encode();
        let mut bytes = encoded.clone().into_bytes();
        let i = position.index(bytes.len());
        prop_assume!(bytes[i] != replacement);
        bytes[i] = replacement;
        let tampered = String::from_utf8(bytes).unwrap();
        // An unsigned cursor can be edited into another valid position (that is harmless: it
        // is a place in the list, not a permission), but it can never decode to the original.
        if let Ok(decoded) = Cursor::decode(&tampered) {
            prop_assert_ne!(decoded, cursor);
        }
    }

    #[test]
    fn arbitrary_strings_are_refused_or_decoded_never_a_panic(text in ".*") {
        let _ = Cursor::decode(&text);
    }
}

#[test]
fn characters_outside_base64url_are_an_encoding_error() {
    let good = price_cursor(1299, 42).encode();
    for bad in [
        format!("{good}="),
        format!("{good} "),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1),
        "not a cursor!".to_owned(),
    ] {
        assert_eq!(Cursor::decode(&bad), Err(CursorError::Encoding), "{bad:?}");
    }
}

#[test]
fn standard_base64_with_padding_is_not_accepted() {
    let json = r#"{"v":1,"sort":"price","key":1299,"id":42}"#;
    let padded = STANDARD.encode(json);
    assert!(
        padded.ends_with('='),
        "the test needs a padded form: {padded}"
    );
    assert_eq!(Cursor::decode(&padded), Err(CursorError::Encoding));
}

#[test]
fn the_empty_string_is_not_a_cursor() {
    assert_eq!(Cursor::decode(""), Err(CursorError::Malformed));
}

#[test]
fn valid_base64_that_is_not_the_json_object_is_malformed() {
    for json in [
        "hello",
        "[]",
        "{}",
        r#"{"v":1,"sort":"price","key":1299}"#,
        r#"{"v":1,"sort":"price","key":1299,"id":42,"admin":true}"#,
        r#"{"v":1,"sort":"rating","key":5,"id":42}"#,
        r#"{"v":1,"sort":"price","key":12.5,"id":42}"#,
        r#"{"v":1,"sort":"price","key":1299,"id":"42"}"#,
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::Malformed),
            "{json}"
        );
    }
}

#[test]
fn a_key_of_the_wrong_type_for_its_sort_is_malformed() {
    for json in [
        r#"{"v":1,"sort":"price","key":"1299","id":42}"#,
        r#"{"v":1,"sort":"created","key":"yesterday","id":42}"#,
        r#"{"v":1,"sort":"name","key":1299,"id":42}"#,
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::Malformed),
            "{json}"
        );
    }
}

#[test]
fn other_versions_are_refused_by_number() {
    for (json, version) in [
        (r#"{"v":2,"sort":"price","key":1299,"id":42}"#, 2),
        (r#"{"v":0,"sort":"price","key":1299,"id":42}"#, 0),
        (r#"{"v":2,"sort":"name","key":1299,"id":42}"#, 2),
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::UnsupportedVersion(version)),
            "{json}"
        );
    }
}
