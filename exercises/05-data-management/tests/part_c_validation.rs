//! Part (c): validation at the boundary. A request is normalised, checked against every rule,
//! and either becomes a `ValidProduct` or a list of *all* its problems.
//!
//! Run with `cargo test -p exercise-05 part_c`.

use exercise_05::{
    FieldError, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PRICE_MINOR, NewProductRequest,
    ValidProduct,
};
use proptest::prelude::*;

fn good() -> NewProductRequest {
    NewProductRequest {
        sku: "DESK-OAK-01".into(),
        name: "Oak desk".into(),
        price_minor: 24_999,
        category: "desks".into(),
        description: Some("Solid oak.".into()),
    }
}

fn pointers(errors: &[FieldError]) -> Vec<&str> {
    errors.iter().map(|e| e.pointer.as_str()).collect()
}

/// The pointers of the errors for `request`, none when it is accepted.
fn broken(request: NewProductRequest) -> Vec<String> {
    match request.validate() {
        Ok(_) => Vec::new(),
        Err(errors) => {
            assert!(
                errors.iter().all(|e| !e.detail.trim().is_empty()),
                "every error says what is wrong in a non-empty detail: {errors:?}"
            );
            pointers(&errors).into_iter().map(str::to_owned).collect()
        }
    }
}

/// `request` validated, which must succeed.
fn valid(request: NewProductRequest) -> ValidProduct {
    // Long enough to recognise the request, short enough to read.
    let shown: String = format!("{request:?}").chars().take(160).collect();
    match request.validate() {
        Ok(product) => product,
        Err(errors) => panic!("{shown} keeps every rule, yet was refused: {errors:?}"),
    }
}

#[test]
fn a_valid_request_becomes_a_valid_product() {
    let product = valid(good());
    assert_eq!(product.sku(), "DESK-OAK-01");
    assert_eq!(product.name(), "Oak desk");
    assert_eq!(product.price_minor(), 24_999);
    assert_eq!(product.category(), "desks");
    assert_eq!(product.description(), "Solid oak.");
}

#[test]
fn values_are_normalised_before_they_are_checked() {
    let product = valid(NewProductRequest {
        sku: "  desk-oak-01 ".into(),
        name: "\t Oak \n\n  desk  ".into(),
        description: Some("  Solid oak.  ".into()),
        ..good()
    });
    assert_eq!(
        product.sku(),
        "DESK-OAK-01",
        "the SKU is trimmed and upper-cased"
    );
    assert_eq!(
        product.name(),
        "Oak desk",
        "the name is trimmed and each run of whitespace is one space (a tab and a newline are \
         whitespace before they are control characters)"
    );
    assert_eq!(
        product.description(),
        "Solid oak.",
        "the description is trimmed"
    );
}

#[test]
fn an_absent_description_is_empty() {
    let product = valid(NewProductRequest {
        description: None,
        ..good()
    });
    assert_eq!(product.description(), "", "an absent description is empty");
}

#[test]
fn every_broken_rule_is_reported_at_once_in_field_order() {
    let everything_wrong = NewProductRequest {
        sku: "no spaces allowed".into(),
        name: "   ".into(),
        price_minor: 0,
        category: "Home Audio".into(),
        description: Some("x".repeat(MAX_DESCRIPTION_CHARS + 1)),
    };
    assert_eq!(
        broken(everything_wrong),
        [
            "#/sku",
            "#/name",
            "#/price_minor",
            "#/category",
            "#/description"
        ],
        "five broken fields: five errors, in field order, not only the first"
    );
}

#[test]
fn sku_rules() {
    for sku in [
        "AB",
        &"A".repeat(33),
        "-DESK",
        "DESK-",
        "DESK--OAK",
        "DESK_OAK",
        "DÉSK",
    ] {
        let request = NewProductRequest {
            sku: sku.into(),
            ..good()
        };
        assert_eq!(broken(request), ["#/sku"], "{sku:?} is not a SKU");
    }
    for sku in ["abc", &"A".repeat(32), "A-1-B"] {
        valid(NewProductRequest {
            sku: sku.into(),
            ..good()
        });
    }
}

#[test]
fn sku_upper_casing_is_ascii_only() {
    // Unicode upper-casing turns `ß` into `SS` and the dotless `ı` into `I`, which would let
    // these through as MASS-1 and INK-1; the brief upper-cases ASCII letters only.
    for sku in ["maß-1", "ınk-1", "ﬀ-12"] {
        let request = NewProductRequest {
            sku: sku.into(),
            ..good()
        };
        assert_eq!(
            broken(request),
            ["#/sku"],
            "{sku:?} upper-cases (ASCII only) to a SKU with a letter outside A-Z"
        );
    }
}

#[test]
fn name_rules_count_characters_not_bytes() {
    let just_fits = "é".repeat(MAX_NAME_CHARS);
    let product = valid(NewProductRequest {
        name: just_fits.clone(),
        ..good()
    });
    assert_eq!(
        product.name(),
        just_fits,
        "{MAX_NAME_CHARS} characters is a name, however many bytes"
    );
    for name in [
        "".to_owned(),
        "é".repeat(MAX_NAME_CHARS + 1),
        "Oak\u{0}desk".to_owned(),
        "Oak\u{7}desk".to_owned(),
    ] {
        let request = NewProductRequest {
            name: name.clone(),
            ..good()
        };
        assert_eq!(broken(request), ["#/name"], "{name:?} is not a name");
    }
}

#[test]
fn every_kind_of_whitespace_in_a_name_becomes_one_space() {
    let product = valid(NewProductRequest {
        name: "\u{a0}Oak\u{a0}\u{3000}desk\u{2003}".into(),
        ..good()
    });
    assert_eq!(
        product.name(),
        "Oak desk",
        "whitespace is char::is_whitespace: no-break (U+00A0), em (U+2003) and ideographic \
         (U+3000) spaces too"
    );
}

#[test]
fn price_rules() {
    for price_minor in [0, -1, MAX_PRICE_MINOR + 1, i64::MIN] {
        let request = NewProductRequest {
            price_minor,
            ..good()
        };
        assert_eq!(
            broken(request),
            ["#/price_minor"],
            "{price_minor} is outside 1 to {MAX_PRICE_MINOR}"
        );
    }
    for price_minor in [1, MAX_PRICE_MINOR] {
        valid(NewProductRequest {
            price_minor,
            ..good()
        });
    }
}

#[test]
fn category_rules() {
    for category in [
        "",
        " desks",
        "desks ",
        "Desks",
        "home audio",
        "home--audio",
        "-desks",
        "desks-",
        "désks",
    ] {
        let request = NewProductRequest {
            category: category.into(),
            ..good()
        };
        assert_eq!(
            broken(request),
            ["#/category"],
            "{category:?} is not a slug, and a slug is not normalised"
        );
    }
    for category in ["desks", "home-audio", "4k-tvs"] {
        valid(NewProductRequest {
            category: category.into(),
            ..good()
        });
    }
}

#[test]
fn description_length_is_counted_after_trimming() {
    let product = valid(NewProductRequest {
        description: Some(format!("  {}  ", "é".repeat(MAX_DESCRIPTION_CHARS))),
        ..good()
    });
    assert_eq!(
        product.description().chars().count(),
        MAX_DESCRIPTION_CHARS,
        "{MAX_DESCRIPTION_CHARS} characters between spaces fit: the length is counted after \
         trimming, in characters"
    );
}

#[test]
fn try_from_is_the_same_check() {
    let errors = ValidProduct::try_from(NewProductRequest {
        price_minor: -5,
        ..good()
    })
    .expect_err("a negative price is refused through TryFrom too");
    assert_eq!(pointers(&errors), ["#/price_minor"]);
}

#[test]
fn a_json_body_with_an_unknown_member_is_refused_before_validation() {
    // Given code (serde's deny_unknown_fields), but the point of the part: a typo in a
    // member name must not silently drop a value. Then the rules run.
    let typo = r#"{"sku":"DESK-1","name":"Desk","price_minor":100,"category":"desks","prise":5}"#;
    assert!(serde_json::from_str::<NewProductRequest>(typo).is_err());
    let ok = r#"{"sku":"desk-1","name":"Desk","price_minor":100,"category":"desks"}"#;
    let request: NewProductRequest = serde_json::from_str(ok).unwrap();
    assert_eq!(valid(request).sku(), "DESK-1");
}

/// For each field, values that break its rule and values that keep it, edges included.
fn sku(valid: bool) -> BoxedStrategy<String> {
    if valid {
        prop::sample::select(vec![
            "abc",
            " desk-oak-01 ",
            "A-1-B",
            "ZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZZ",
        ])
        .prop_map(str::to_owned)
        .boxed()
    } else {
        prop::sample::select(vec![
            "", "AB", "-AB", "AB-", "A--B", "A B", "maß-1", "\u{0}ABC",
        ])
        .prop_map(str::to_owned)
        .boxed()
    }
}

fn name(valid: bool) -> BoxedStrategy<String> {
    if valid {
        prop::sample::select(vec![
            "x".to_owned(),
            " Oak \t desk ".to_owned(),
            "é".repeat(MAX_NAME_CHARS),
        ])
        .boxed()
    } else {
        prop::sample::select(vec![
            "".to_owned(),
            " \n ".to_owned(),
            "a\u{1}b".to_owned(),
            "é".repeat(MAX_NAME_CHARS + 1),
        ])
        .boxed()
    }
}

fn price(valid: bool) -> BoxedStrategy<i64> {
    if valid {
        prop_oneof![Just(1), Just(MAX_PRICE_MINOR), 1..=MAX_PRICE_MINOR].boxed()
    } else {
        prop_oneof![
            Just(0),
            Just(i64::MIN),
            Just(MAX_PRICE_MINOR + 1),
            Just(i64::MAX),
            i64::MIN..=0
        ]
        .boxed()
    }
}

fn category(valid: bool) -> BoxedStrategy<String> {
    if valid {
        prop::sample::select(vec!["a", "desks", "home-audio", "4k-tvs"])
            .prop_map(str::to_owned)
            .boxed()
    } else {
        prop::sample::select(vec!["", "-", "Desks", "home_audio", "a--b", " a", "é"])
            .prop_map(str::to_owned)
            .boxed()
    }
}

fn description(valid: bool) -> BoxedStrategy<Option<String>> {
    if valid {
        prop_oneof![
            Just(None),
            Just(Some(String::new())),
            Just(Some(format!(" {} ", "é".repeat(MAX_DESCRIPTION_CHARS))))
        ]
        .boxed()
    } else {
        Just(Some("é".repeat(MAX_DESCRIPTION_CHARS + 1))).boxed()
    }
}

/// A request and the pointers of the fields it breaks, in field order.
fn any_request() -> impl Strategy<Value = (NewProductRequest, Vec<&'static str>)> {
    any::<[bool; 5]>().prop_flat_map(|ok| {
        let broken: Vec<&'static str> = [
            "#/sku",
            "#/name",
            "#/price_minor",
            "#/category",
            "#/description",
        ]
        .into_iter()
        .zip(ok)
        .filter(|(_, ok)| !ok)
        .map(|(pointer, _)| pointer)
        .collect();
        (
            sku(ok[0]),
            name(ok[1]),
            price(ok[2]),
            category(ok[3]),
            description(ok[4]),
        )
            .prop_map(move |(sku, name, price_minor, category, description)| {
                (
                    NewProductRequest {
                        sku,
                        name,
                        price_minor,
                        category,
                        description,
                    },
                    broken.clone(),
                )
            })
    })
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        max_shrink_iters: 1024,
        ..ProptestConfig::default()
    })]

    /// Any mix of broken and sound fields: exactly the broken ones are reported, once each, in
    /// field order, each with a detail; a request with none broken is valid.
    #[test]
    fn exactly_the_broken_fields_are_reported_in_field_order((request, expected) in any_request()) {
        match request.clone().validate() {
            Ok(_) => prop_assert!(
                expected.is_empty(), "{:?} breaks {:?} but was accepted", request, expected
            ),
            Err(errors) => {
                prop_assert_eq!(pointers(&errors), expected, "for {:?}", request);
                prop_assert!(
                    errors.iter().all(|e| !e.detail.trim().is_empty()),
                    "every error says what is wrong in a non-empty detail: {:?}", errors
                );
            }
        }
    }
}
