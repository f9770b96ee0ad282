//! Cursors: every cursor survives a round trip, and nothing but a cursor this code wrote
//! decodes.
//!
//! `cargo test -p lesson-05 --test cursor`

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lesson_05::cursor::{Cursor, CursorError, SortField, SortKey};
use proptest::prelude::*;
use time::OffsetDateTime;
use uuid::Uuid;

fn any_cursor() -> impl Strategy<Value = Cursor> {
    let id = any::<u128>().prop_map(Uuid::from_u128);
    // Whole microseconds within the years PostgreSQL stores (4713 BC to 294276 AD is wider).
    let micros = -62_135_596_800_000_000_i64..253_402_300_799_999_999_i64;
    prop_oneof![
        (any::<i64>(), id.clone()).prop_map(|(price, id)| Cursor::after_price(price, id)),
        // Any name a row can have: PostgreSQL's text holds every character but NUL.
        (any::<String>(), id.clone())
            .prop_map(|(name, id)| Cursor::after_name(&name.replace('\0', ""), id)),
        (micros, id).prop_map(|(micros, id)| {
            let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000)
                .expect("in range");
            Cursor::after_created(at, id)
        }),
    ]
}

proptest! {
    #[test]
    fn every_cursor_round_trips(cursor in any_cursor()) {
        prop_assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn the_encoding_is_url_safe(cursor in any_cursor()) {
        let text = cursor.encode();
        prop_assert!(text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    }

    #[test]
    fn one_changed_character_never_gives_back_the_same_cursor(
        cursor in any_cursor(),
        at in any::<prop::sample::Index>(),
        to in prop::sample::select(b"AZaz09-_+/= .".to_vec()),
    ) {
        let mut bytes = cursor.encode().into_bytes();
        let i = at.index(bytes.len());
        prop_assume!(bytes[i] != to);
        bytes[i] = to;
        let tampered = String::from_utf8(bytes).unwrap();
        if let Ok(decoded) = Cursor::decode(&tampered) {
            prop_assert_ne!(decoded, cursor);
        }
    }

    #[test]
    fn garbage_is_an_error_not_a_panic(text in ".*") {
        let _ = Cursor::decode(&text);
    }
}

fn opaque(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

#[test]
fn a_tampered_cursor_is_rejected_with_the_reason() {
    let id = Uuid::now_v7();
    let good = Cursor::after_price(1299, id).encode();
    assert_eq!(
        Cursor::decode(&format!("{good}=")),
        Err(CursorError::Encoding)
    );
    assert_eq!(Cursor::decode("not base64!"), Err(CursorError::Encoding));
    assert_eq!(
        Cursor::decode(&opaque("[1,2]")),
        Err(CursorError::Malformed)
    );
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":1,"sort":"price","key":"cheap","id":"{id}"}}"#
        ))),
        Err(CursorError::Malformed),
        "a price key must be a number"
    );
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":1,"sort":"price","key":1,"id":"{id}","admin":true}}"#
        ))),
        Err(CursorError::Malformed),
        "no members beyond the four"
    );
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":1,"sort":"created","key":9223372036854775807,"id":"{id}"}}"#
        ))),
        Err(CursorError::Malformed),
        "a creation time out of range"
    );
    assert_eq!(
        Cursor::decode(&Cursor::after_name("Oak\0desk", id).encode()),
        Err(CursorError::Malformed),
        "a name with NUL, which PostgreSQL cannot bind as text: a 400 here, not a 500 later"
    );
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":7,"sort":"price","key":1,"id":"{id}"}}"#
        ))),
        Err(CursorError::UnsupportedVersion(7))
    );
    let upper = id.to_string().to_uppercase();
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":1,"sort":"price","key":1299,"id":"{upper}"}}"#
        ))),
        Err(CursorError::Malformed),
        "the same position spelt differently is not a cursor this server wrote"
    );
    assert_eq!(
        Cursor::decode(&opaque(&format!(
            r#"{{"v":1,"sort":"price","key":1299,"id":"{id}"}}"#
        ))),
        Ok(Cursor::after_price(1299, id)),
        "the canonical spelling decodes"
    );
}

#[test]
fn a_cursor_only_continues_the_sort_it_came_from() {
    let cursor = Cursor::after_name("Oak desk", Uuid::nil());
    assert_eq!(cursor.sort(), SortField::Name);
    assert_eq!(cursor.key(), &SortKey::Text("Oak desk".into()));
    assert!(cursor.clone().for_sort(SortField::Name).is_ok());
    assert_eq!(
        cursor.for_sort(SortField::Price),
        Err(CursorError::WrongSort {
            issued: "name",
            requested: "price"
        })
    );
}
