//! Part (a): the cursor. The exact wire form for every cursor, round trips, one error per step
//! of `Cursor::decode` in the documented order, and one spelling per position.
//!
//! Run with `cargo test -p exercise-05 part_a`.

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

fn name_cursor(key: &str, id: i64) -> Cursor {
    Cursor {
        sort: SortField::Name,
        key: Value::Text(key.to_owned()),
        id,
    }
}

/// The opaque form of arbitrary JSON text, to hand-craft cursors the code never wrote.
fn opaque(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

/// The JSON the brief documents for `cursor`, written here independently of the code under
/// test: the members in order, no whitespace, strings as serde_json writes them.
fn documented_json(cursor: &Cursor) -> String {
    let key = match &cursor.key {
        Value::Int(n) => n.to_string(),
        Value::Text(s) => serde_json::to_string(s).expect("a string always serializes"),
    };
    format!(
        r#"{{"v":1,"sort":"{}","key":{key},"id":{}}}"#,
        cursor.sort.name(),
        cursor.id
    )
}

/// What the opaque string holds, as text, or why it does not hold text.
fn json_inside(encoded: &str) -> Result<String, String> {
    let bytes = URL_SAFE_NO_PAD
        .decode(encoded)
        .map_err(|e| format!("{encoded:?} is not base64url without padding: {e}"))?;
    String::from_utf8(bytes).map_err(|e| format!("{encoded:?} does not hold UTF-8: {e}"))
}

/// Numbers at the edges as well as in between.
fn any_number() -> impl Strategy<Value = i64> {
    prop_oneof![
        Just(0),
        Just(-1),
        Just(i64::MIN),
        Just(i64::MAX),
        any::<i64>()
    ]
}

/// Text that reaches what JSON must escape, and what it must not: every control character,
/// quotes, backslashes, `/`, DEL, the line separators JavaScript chokes on, non-BMP
/// characters (surrogate pairs when escaped), and plain letters. `any::<String>()` never
/// draws a control character.
fn any_text() -> impl Strategy<Value = String> {
    let tricky = prop_oneof![
        prop::char::range('\u{0}', '\u{1f}'),
        prop::sample::select(vec![
            '"', '\\', '/', '\u{7f}', '\u{2028}', '\u{2029}', '\u{feff}'
        ]),
        prop::sample::select(vec!['é', 'ß', '€', '\u{fffd}', '\u{ffff}']),
        prop::char::range('\u{10000}', '\u{10ffff}'),
        prop::char::range('a', 'z'),
        Just(' '),
    ];
    prop::collection::vec(tricky, 0..12).prop_map(|chars| chars.into_iter().collect())
}

fn any_cursor() -> impl Strategy<Value = Cursor> {
    let numeric = (
        prop_oneof![Just(SortField::Price), Just(SortField::Created)],
        any_number(),
    )
        .prop_map(|(sort, key)| (sort, Value::Int(key)));
    let text = any_text().prop_map(|key| (SortField::Name, Value::Text(key)));
    (prop_oneof![numeric, text], any_number()).prop_map(|((sort, key), id)| Cursor {
        sort,
        key,
        id,
    })
}

/// How to write the same JSON object another way.
#[derive(Debug, Clone)]
enum Respelling {
    /// Whitespace (` `, `\n`, `\t` or `\r`) before the `n`th structural character.
    Whitespace(usize, char),
    /// The members in another order: a rotation by 1 to 3.
    Order(usize),
    /// The `n`th character of the key written as a `\u` escape, in upper-case or lower-case
    /// hex (two escapes, a surrogate pair, beyond U+FFFF).
    Escape(usize, bool),
    /// `/` written `\/`, which JSON allows.
    Solidus,
}

fn any_respelling() -> impl Strategy<Value = Respelling> {
    prop_oneof![
        (
            0usize..16,
            prop::sample::select(vec![' ', '\n', '\t', '\r'])
        )
            .prop_map(|(n, c)| Respelling::Whitespace(n, c)),
        (1usize..4).prop_map(Respelling::Order),
        (0usize..12, any::<bool>()).prop_map(|(n, upper)| Respelling::Escape(n, upper)),
        Just(Respelling::Solidus),
    ]
}

/// `cursor`'s members spelled by the test, in the given order and with the key's string
/// written by `key_text`.
fn members(cursor: &Cursor, key_json: &str) -> [String; 4] {
    [
        r#""v":1"#.to_owned(),
        format!(r#""sort":"{}""#, cursor.sort.name()),
        format!(r#""key":{key_json}"#),
        format!(r#""id":{}"#, cursor.id),
    ]
}

fn escape_every(c: char, upper: bool) -> String {
    let mut units = [0u16; 2];
    c.encode_utf16(&mut units)
        .iter()
        .map(|u| {
            if upper {
                format!("\\u{u:04X}")
            } else {
                format!("\\u{u:04x}")
            }
        })
        .collect()
}

/// Another spelling of `cursor`'s documented JSON, or `None` when this respelling does not
/// apply (a number key has no characters to escape).
fn respell(cursor: &Cursor, how: &Respelling) -> Option<String> {
    let canonical = documented_json(cursor);
    let key_json = match &cursor.key {
        Value::Int(n) => n.to_string(),
        Value::Text(s) => serde_json::to_string(s).expect("a string always serializes"),
    };
    match how {
        Respelling::Whitespace(n, ws) => {
            // The structural characters outside strings: `{`, `:`, `,`, `}`.
            let mut in_string = false;
            let mut escaped = false;
            let mut structural = Vec::new();
            for (i, c) in canonical.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' if in_string => escaped = true,
                    '"' => in_string = !in_string,
                    '{' | ':' | ',' | '}' if !in_string => structural.push(i),
                    _ => {}
                }
            }
            let at = structural[n % structural.len()];
            let mut spelled = canonical.clone();
            spelled.insert(at, *ws);
            Some(spelled)
        }
        Respelling::Order(by) => {
            let mut members = members(cursor, &key_json);
            members.rotate_left(*by);
            Some(format!("{{{}}}", members.join(",")))
        }
        Respelling::Escape(n, upper) => {
            let Value::Text(key) = &cursor.key else {
                return None;
            };
            let chars: Vec<char> = key.chars().collect();
            if chars.is_empty() {
                return None;
            }
            let target = n % chars.len();
            let mut key_json = String::from('"');
            for (i, &c) in chars.iter().enumerate() {
                if i == target {
                    key_json.push_str(&escape_every(c, *upper));
                } else {
                    let one = serde_json::to_string(&c.to_string()).expect("a string serializes");
                    key_json.push_str(&one[1..one.len() - 1]);
                }
            }
            key_json.push('"');
            Some(format!("{{{}}}", members(cursor, &key_json).join(",")))
        }
        Respelling::Solidus => {
            let Value::Text(key) = &cursor.key else {
                return None;
            };
            if !key.contains('/') {
                return None;
            }
            Some(canonical.replacen('/', r"\/", 1))
        }
    }
}

#[test]
fn the_wire_form_is_base64url_of_the_documented_json() {
    let encoded = price_cursor(1299, 42).encode();
    assert_eq!(
        json_inside(&encoded),
        Ok(r#"{"v":1,"sort":"price","key":1299,"id":42}"#.to_owned()),
        "a price cursor is base64url, without padding, of exactly this JSON"
    );
    assert_eq!(
        json_inside(&name_cursor("Oak desk", 7).encode()),
        Ok(r#"{"v":1,"sort":"name","key":"Oak desk","id":7}"#.to_owned()),
        "a name cursor carries its key as a JSON string"
    );
}

#[test]
fn control_characters_are_escaped_as_serde_json_escapes_them() {
    let key = "a\u{1}\u{1f}\t\n\"\\/\u{7f}é😀";
    let expected = format!(
        r#"{{"v":1,"sort":"name","key":"a\u0001\u001f\t\n\"\\/{}é😀","id":1}}"#,
        '\u{7f}'
    );
    assert_eq!(
        json_inside(&name_cursor(key, 1).encode()),
        Ok(expected),
        "U+0001 is \\u0001 (lower-case hex), a tab is \\t, a quote \\\", and DEL, é and 😀 \
         are themselves"
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
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// The encoder writes exactly the documented JSON for every cursor, control characters
    /// and all: a hand-made escaper that writes U+0001 raw (invalid JSON) or `\u001F` fails here.
    #[test]
    fn every_cursor_is_written_exactly_as_documented(cursor in any_cursor()) {
        let encoded = cursor.encode();
        prop_assert_eq!(json_inside(&encoded), Ok(documented_json(&cursor)));
    }

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
            "{} has a character outside base64url (padding included)", encoded
        );
    }

    /// One position, one spelling: the same JSON object written any other way (whitespace,
    /// member order, `\u` escapes in either case, `\/`) is refused, so decoding is injective.
    #[test]
    fn every_other_spelling_of_a_cursor_is_malformed(
        cursor in any_cursor(),
        how in any_respelling(),
    ) {
        let canonical = documented_json(&cursor);
        let Some(spelled) = respell(&cursor, &how) else {
            return Ok(());
        };
        prop_assume!(spelled != canonical);
        // The test checks itself: both spellings are the same JSON value.
        let same: serde_json::Value =
            serde_json::from_str(&spelled).expect("the respelling is JSON");
        let original: serde_json::Value =
            serde_json::from_str(&canonical).expect("the canonical form is JSON");
        prop_assert_eq!(&same, &original, "the test's respelling changed the value");
        prop_assert_eq!(
            Cursor::decode(&opaque(&spelled)),
            Err(CursorError::Malformed),
            "{} spells the cursor {} another way; only the encoder's spelling is a cursor",
            spelled, canonical
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
        let tampered = String::from_utf8(bytes).expect("ASCII in, ASCII out");
        // An unsigned cursor can be edited into another valid position (that is harmless: it
        // is a place in the list, not a permission), but it can never decode to the original.
        if let Ok(decoded) = Cursor::decode(&tampered) {
            prop_assert_ne!(
                decoded, cursor, "{} was edited but decodes to the same cursor", tampered
            );
        }
    }

    /// A cursor cut short is refused (at step 1 or step 2), never a panic, never a cursor.
    #[test]
    fn a_truncated_cursor_is_refused(cursor in any_cursor(), cut in any::<prop::sample::Index>()) {
        let encoded = cursor.encode();
        let short = &encoded[..cut.index(encoded.len())];
        let decoded = Cursor::decode(short);
        prop_assert!(
            matches!(decoded, Err(CursorError::Encoding | CursorError::Malformed)),
            "{:?}, a prefix of a cursor, gave {:?}", short, decoded
        );
    }

    #[test]
    fn arbitrary_strings_are_refused_or_decoded_never_a_panic(text in ".*") {
        let _ = Cursor::decode(&text);
    }
}

#[test]
fn step_1_characters_outside_base64url_are_an_encoding_error() {
    // A version 2 cursor, so that a decoder which skipped this step would say so instead.
    let good = opaque(r#"{"v":2,"sort":"price","key":1299,"id":42}"#);
    for bad in [
        format!("{good}="),
        format!("{good} "),
        format!(" {good}"),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), "+", 1),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), "/", 1),
        good.replacen(|c: char| c.is_ascii_alphanumeric(), ".", 1),
        "not a cursor!".to_owned(),
    ] {
        assert_eq!(
            Cursor::decode(&bad),
            Err(CursorError::Encoding),
            "{bad:?} has a character that base64url without padding does not use"
        );
    }
}

#[test]
fn step_1_standard_base64_with_padding_is_an_encoding_error() {
    let json = r#"{"v":1,"sort":"price","key":1299,"id":42}"#;
    let padded = STANDARD.encode(json);
    assert!(
        padded.ends_with('='),
        "the test needs a padded form: {padded}"
    );
    assert_eq!(
        Cursor::decode(&padded),
        Err(CursorError::Encoding),
        "{padded} is padded standard base64, not base64url without padding"
    );
}

#[test]
fn step_1_an_impossible_length_or_stray_bits_are_an_encoding_error() {
    let good = price_cursor(1299, 42).encode();
    // 4n + 1 characters: the last one carries 6 bits, not enough for a byte.
    let mut one_over = good.clone();
    while one_over.len() % 4 != 1 {
        one_over.push('A');
    }
    assert_eq!(
        Cursor::decode(&one_over),
        Err(CursorError::Encoding),
        "{one_over} is 4n + 1 characters long, which no bytes encode to"
    );
    // `eyI` is `{"`; `eyJ` differs only in bits past the last byte, which must be zero.
    assert_eq!(URL_SAFE_NO_PAD.decode("eyI").ok(), Some(b"{\"".to_vec()));
    assert_eq!(
        Cursor::decode("eyJ"),
        Err(CursorError::Encoding),
        "eyJ sets bits after the last byte: a second spelling of eyI, refused by URL_SAFE_NO_PAD"
    );
}

#[test]
fn step_2_the_empty_string_and_non_json_are_malformed() {
    assert_eq!(
        Cursor::decode(""),
        Err(CursorError::Malformed),
        "the empty string is valid base64url of no bytes, which are not JSON"
    );
    let not_utf8 = URL_SAFE_NO_PAD.encode([0xff, 0xfe, b'{', b'}']);
    assert_eq!(Cursor::decode(&not_utf8), Err(CursorError::Malformed));
    for cut in [4, 8, 12] {
        let short = &price_cursor(1299, 42).encode()[..cut];
        assert_eq!(
            Cursor::decode(short),
            Err(CursorError::Malformed),
            "{short:?} is valid base64url of the first {} bytes of the JSON, which are not JSON",
            cut / 4 * 3
        );
    }
}

#[test]
fn step_2_without_a_whole_number_v_it_is_malformed_whatever_the_version_would_be() {
    for json in [
        "hello",
        "[]",
        "{}",
        // An array is not an object, even with a version where `v` would be.
        "[2]",
        r#"[2,"price",1299,42]"#,
        r#"[1,"price",1299,42]"#,
        r#"{"sort":"price","key":1299,"id":42}"#,
        r#"{"v":"2","sort":"price","key":1299,"id":42}"#,
        r#"{"v":2.0,"sort":"price","key":1299,"id":42}"#,
        r#"{"v":-2,"sort":"price","key":1299,"id":42}"#,
        r#"{"v":18446744073709551616,"sort":"price","key":1299,"id":42}"#,
        r#"{"v":null}"#,
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::Malformed),
            "step 2: {json} is not a JSON object with a whole-number v"
        );
    }
}

#[test]
fn step_3_other_versions_are_refused_by_number_whatever_they_hold() {
    for (json, version) in [
        (r#"{"v":2,"sort":"price","key":1299,"id":42}"#, 2),
        (r#"{"v":0,"sort":"price","key":1299,"id":42}"#, 0),
        (r#"{"v":2,"sort":"name","key":1299,"id":42}"#, 2),
        // A later version may have other members, other sorts, other keys.
        (r#"{"v":2}"#, 2),
        (r#"{"v":3,"sort":"rating","key":4.5,"page":7}"#, 3),
        (r#"{ "id": "x", "v": 2 }"#, 2),
        (
            r#"{"v":18446744073709551615,"sort":"price","key":1,"id":1}"#,
            u64::MAX,
        ),
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::UnsupportedVersion(version)),
            "step 3: {json} is version {version}, which is refused before its members are read"
        );
    }
}

#[test]
fn step_4_version_1_with_other_members_or_types_is_malformed() {
    for json in [
        r#"{"v":1,"sort":"price","key":1299}"#,
        r#"{"v":1,"sort":"price","key":1299,"id":42,"admin":true}"#,
        r#"{"v":1,"sort":"rating","key":5,"id":42}"#,
        r#"{"v":1,"sort":"Price","key":5,"id":42}"#,
        r#"{"v":1,"sort":"price","key":12.5,"id":42}"#,
        r#"{"v":1,"sort":"price","key":1e3,"id":42}"#,
        r#"{"v":1,"sort":"price","key":9223372036854775808,"id":42}"#,
        r#"{"v":1,"sort":"price","key":null,"id":42}"#,
        r#"{"v":1,"sort":"price","key":1299,"id":"42"}"#,
        r#"{"v":1,"sort":"price","key":1299,"id":-0}"#,
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::Malformed),
            "step 4: {json} is version 1 but not its four members with their types"
        );
    }
}

#[test]
fn step_5_a_key_of_the_wrong_type_for_its_sort_is_malformed() {
    for json in [
        r#"{"v":1,"sort":"price","key":"1299","id":42}"#,
        r#"{"v":1,"sort":"created","key":"yesterday","id":42}"#,
        r#"{"v":1,"sort":"name","key":1299,"id":42}"#,
    ] {
        assert_eq!(
            Cursor::decode(&opaque(json)),
            Err(CursorError::Malformed),
            "step 5: in {json} the key's type is not the sort's"
        );
    }
}

#[test]
fn step_6_the_same_cursor_spelled_another_way_is_malformed() {
    let canonical = r#"{"v":1,"sort":"name","key":"a\u001fé/","id":7}"#;
    assert_eq!(
        Cursor::decode(&opaque(canonical)),
        Ok(name_cursor("a\u{1f}é/", 7)),
        "the encoder's own spelling decodes"
    );
    for other in [
        r#"{"v":1,"sort":"name","key":"a\u001Fé/","id":7}"#,
        r#"{"v":1,"sort":"name","key":"\u0061\u001fé/","id":7}"#,
        r#"{"v":1,"sort":"name","key":"a\u001f\u00e9/","id":7}"#,
        r#"{"v":1,"sort":"name","key":"a\u001fé\/","id":7}"#,
        r#"{"v":1, "sort":"name","key":"a\u001fé/","id":7}"#,
        r#"{"sort":"name","v":1,"key":"a\u001fé/","id":7}"#,
        "{\"v\":1,\"sort\":\"name\",\"key\":\"a\\u001fé/\",\"id\":7}\n",
    ] {
        assert_eq!(
            Cursor::decode(&opaque(other)),
            Err(CursorError::Malformed),
            "step 6: {other} is the same JSON as {canonical}, spelled another way"
        );
    }
    assert_eq!(
        Cursor::decode(&opaque(
            r#"{"v":1,"sort":"name","key":"\ud83d\ude00","id":7}"#
        )),
        Err(CursorError::Malformed),
        "step 6: 😀 as a surrogate pair is another spelling of the raw character"
    );
    assert_eq!(
        Cursor::decode(&opaque(r#"{"v":1,"sort":"name","key":"tab\u0009","id":7}"#)),
        Err(CursorError::Malformed),
        "step 6: a tab is written \\t, so \\u0009 is another spelling"
    );
}
