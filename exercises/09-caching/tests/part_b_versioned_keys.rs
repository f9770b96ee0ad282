//! Part (b): versioned cache keys.
//!
//! Run with `cargo test -p exercise-09 part_b`. The first tests pin the format down, then the
//! names and ids that are refused, then versioning and reading keys back; the property tests at
//! the end try random ids rich in `:` and `%`, looking for two ids (or two key spaces) that
//! share a key, and random text that `parse_key` accepts although `key` would never write it.

use exercise_09::{KeyError, KeySpace, MAX_NAME_LEN};
use proptest::prelude::*;

fn space(name: &str, version: u32) -> KeySpace {
    KeySpace::new(name, version).expect("a valid key space")
}

fn key(space: &KeySpace, parts: &[&str]) -> String {
    space.key(parts).expect("a valid id")
}

#[test]
fn a_key_is_the_name_the_version_and_the_id() {
    let products = space("product", 3);
    assert_eq!(products.name(), "product");
    assert_eq!(products.version(), 3);
    assert_eq!(key(&products, &["42"]), "product:v3:42");
    assert_eq!(key(&space("session", 0), &["abc"]), "session:v0:abc");
    assert_eq!(
        key(&space("x", u32::MAX), &["1"]),
        format!("x:v{}:1", u32::MAX)
    );
}

#[test]
fn the_parts_of_an_id_are_joined_with_colons() {
    let lines = space("cart-line", 1);
    assert_eq!(key(&lines, &["u7", "p42"]), "cart-line:v1:u7:p42");
    assert_eq!(key(&lines, &["a", "b", "c"]), "cart-line:v1:a:b:c");
}

#[test]
fn colons_and_percent_signs_in_an_id_are_escaped() {
    let users = space("user", 1);
    assert_eq!(key(&users, &["a:b"]), "user:v1:a%3Ab");
    assert_eq!(key(&users, &["100%"]), "user:v1:100%25");
    assert_eq!(key(&users, &["%3A"]), "user:v1:%253A");
    assert_eq!(key(&users, &["::"]), "user:v1:%3A%3A");
    assert_eq!(key(&users, &["a:b", "%"]), "user:v1:a%3Ab:%25");
}

#[test]
fn every_other_character_is_kept_as_it_is() {
    let search = space("search", 2);
    assert_eq!(
        key(&search, &["größe 42*", "a-b_c.d/e"]),
        "search:v2:größe 42*:a-b_c.d/e"
    );
    assert_eq!(key(&search, &["25", "3A", "%A"]), "search:v2:25:3A:%25A");
}

#[test]
fn ids_that_would_collide_unescaped_get_different_keys() {
    let users = space("user", 1);
    let ids: [&[&str]; 7] = [
        &["a:b", "c"],
        &["a", "b:c"],
        &["a:b:c"],
        &["a", "b", "c"],
        &[":"],
        &["%3A"],
        &["%253A"],
    ];
    for (i, one) in ids.iter().enumerate() {
        for other in &ids[i + 1..] {
            assert_ne!(
                key(&users, one),
                key(&users, other),
                "{one:?} and {other:?} are different ids"
            );
        }
    }
}

#[test]
fn an_empty_id_is_refused() {
    let users = space("user", 1);
    assert_eq!(users.key(&[]), Err(KeyError::NoId));
    assert_eq!(users.key(&[""]), Err(KeyError::EmptyIdPart { index: 0 }));
    assert_eq!(
        users.key(&["a", "", "b", ""]),
        Err(KeyError::EmptyIdPart { index: 1 }),
        "the first empty part is named"
    );
}

#[test]
fn names_outside_the_alphabet_are_refused() {
    let too_long = "n".repeat(MAX_NAME_LEN + 1);
    for name in [
        "",
        "Product",
        "prod:uct",
        "product v",
        "produkt-ä",
        "a*",
        "a.b",
        too_long.as_str(),
    ] {
        assert_eq!(
            KeySpace::new(name, 1),
            Err(KeyError::InvalidName {
                name: name.to_owned()
            }),
            "{name:?}"
        );
    }
}

#[test]
fn names_inside_the_alphabet_are_accepted() {
    let longest = "n".repeat(MAX_NAME_LEN);
    for name in [
        "a",
        "z",
        "0",
        "9",
        "-",
        "_",
        "order-line_2",
        longest.as_str(),
    ] {
        let space = KeySpace::new(name, 7).expect("a valid name");
        assert_eq!(space.name(), name);
        assert_eq!(space.version(), 7);
    }
}

#[test]
fn bumping_the_version_makes_every_old_key_unreachable() {
    let v3 = space("product", 3);
    let v4 = v3.bump().expect("3 is not the last version");
    assert_eq!((v4.name(), v4.version()), ("product", 4));
    assert_eq!((v3.name(), v3.version()), ("product", 3), "v3 is unchanged");
    let old = key(&v3, &["42"]);
    let new = key(&v4, &["42"]);
    assert_eq!(new, "product:v4:42");
    assert_ne!(old, new);
    assert_eq!(v4.parse_key(&old), None, "a v3 key is stale for v4");
    assert_eq!(v3.parse_key(&new), None, "and a v4 key is unknown to v3");
    assert_eq!(v4.parse_key(&new), Some(vec!["42".to_owned()]));
}

#[test]
fn the_last_version_cannot_be_bumped() {
    let almost = space("product", u32::MAX - 1);
    let last = almost.bump().expect("one version is left");
    assert_eq!(last.version(), u32::MAX);
    assert_eq!(
        last.bump(),
        Err(KeyError::VersionOverflow {
            name: "product".to_owned()
        })
    );
}

#[test]
fn parse_key_reads_the_parts_back() {
    let lines = space("cart-line", 12);
    let parts = |p: &[&str]| Some(p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert_eq!(
        lines.parse_key("cart-line:v12:u7:p42"),
        parts(&["u7", "p42"])
    );
    assert_eq!(lines.parse_key("cart-line:v12:a%3Ab"), parts(&["a:b"]));
    assert_eq!(
        lines.parse_key("cart-line:v12:%25:%253A"),
        parts(&["%", "%3A"])
    );
    assert_eq!(
        lines.parse_key("cart-line:v12:größe 42*"),
        parts(&["größe 42*"])
    );
}

#[test]
fn parse_key_refuses_what_key_never_writes() {
    let products = space("product", 3);
    for text in [
        "",
        "product",
        "product:v3",
        "product:v3:",
        "product:v4:42",
        "product:v30:42",
        "product:v03:42",
        "product:3:42",
        "products:v3:42",
        "user:v3:42",
        "Product:v3:42",
        ":product:v3:42",
        "product:v3::42",
        "product:v3:42:",
        "product:v3:a::b",
        "product:v3:%",
        "product:v3:%2",
        "product:v3:%3",
        "product:v3:%3a",
        "product:v3:%41",
        "product:v3:%zz",
        "product:v3:a%",
        "product:v3:%ä1",
    ] {
        assert_eq!(products.parse_key(text), None, "{text:?}");
    }
}

// ---- Properties ----

/// Id parts made mostly of the characters that escaping is about.
fn part() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a:%3A5]{1,6}",
        1 => "\\PC{1,4}",
    ]
}

fn parts() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(part(), 1..4)
}

fn as_strs(parts: &[String]) -> Vec<&str> {
    parts.iter().map(String::as_str).collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn keys_read_back_and_never_collide(one in parts(), other in parts()) {
        let space = space("user", 1);
        let one_key = space.key(&as_strs(&one)).expect("non-empty parts");
        let other_key = space.key(&as_strs(&other)).expect("non-empty parts");
        prop_assert_eq!(space.parse_key(&one_key), Some(one.clone()));
        prop_assert_eq!(space.parse_key(&other_key), Some(other.clone()));
        prop_assert_eq!(one == other, one_key == other_key, "{:?} and {:?}", one_key, other_key);
    }

    #[test]
    fn key_spaces_never_share_a_key(
        (name_one, version_one, one) in ("[ab_-]{1,3}", 0..3u32, parts()),
        (name_two, version_two, two) in ("[ab_-]{1,3}", 0..3u32, parts()),
    ) {
        let space_one = space(&name_one, version_one);
        let space_two = space(&name_two, version_two);
        let key_one = space_one.key(&as_strs(&one)).expect("non-empty parts");
        let key_two = space_two.key(&as_strs(&two)).expect("non-empty parts");
        let same = (&name_one, version_one, &one) == (&name_two, version_two, &two);
        prop_assert_eq!(same, key_one == key_two, "{:?} and {:?}", key_one, key_two);
        prop_assert_eq!(space_two.parse_key(&key_one).is_some(), space_one == space_two);
    }

    /// Whatever `parse_key` accepts is exactly what `key` writes for those parts.
    #[test]
    fn parse_key_accepts_only_what_key_writes(
        text in prop_oneof![
            "user:v1:[a:%3A5Z]{0,8}",
            "[usr:v1%]{0,12}",
            "\\PC{0,12}",
        ],
    ) {
        let space = space("user", 1);
        if let Some(parts) = space.parse_key(&text) {
            prop_assert_eq!(space.key(&as_strs(&parts)), Ok(text));
        }
    }
}
