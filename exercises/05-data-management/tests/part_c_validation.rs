//! Part (c): validation at the boundary. A request is normalised, checked against every rule,
//! and either becomes a `ValidProduct` or a list of *all* its problems.
//!
//! Run with `cargo test -p exercise-05 --test part_c_validation`.

use exercise_05::{
    FieldError, MAX_DESCRIPTION_CHARS, MAX_NAME_CHARS, MAX_PRICE_MINOR, NewProductRequest,
    ValidProduct,
};

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

/// The pointers of the errors for `request`, which must be invalid.
fn broken(request: NewProductRequest) -> Vec<String> {
    let errors = request.validate().expect_err("the request breaks a rule");
    assert!(
        errors.iter().all(|e| !e.detail.trim().is_empty()),
        "every error says what is wrong: {errors:?}"
    );
    pointers(&errors).into_iter().map(str::to_owned).collect()
}

#[test]
fn a_valid_request_becomes_a_valid_product() {
    let product = good().validate().unwrap();
    assert_eq!(product.sku(), "DESK-OAK-01");
    assert_eq!(product.name(), "Oak desk");
    assert_eq!(product.price_minor(), 24_999);
    assert_eq!(product.category(), "desks");
    assert_eq!(product.description(), "Solid oak.");
}

#[test]
fn values_are_normalised_before_they_are_checked() {
    let product = NewProductRequest {
        sku: "  desk-oak-01 ".into(),
        name: "\t Oak \n\n  desk  ".into(),
        description: Some("  Solid oak.  ".into()),
        ..good()
    }
    .validate()
    .unwrap();
    assert_eq!(product.sku(), "DESK-OAK-01");
    assert_eq!(product.name(), "Oak desk");
    assert_eq!(product.description(), "Solid oak.");
}

#[test]
fn an_absent_description_is_empty() {
    let product = NewProductRequest {
        description: None,
        ..good()
    }
    .validate()
    .unwrap();
    assert_eq!(product.description(), "");
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
        ]
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
        assert_eq!(broken(request), ["#/sku"], "{sku:?}");
    }
    for sku in ["abc", &"A".repeat(32), "A-1-B"] {
        let request = NewProductRequest {
            sku: sku.into(),
            ..good()
        };
        assert!(request.validate().is_ok(), "{sku:?}");
    }
}

#[test]
fn name_rules_count_characters_not_bytes() {
    let just_fits = "é".repeat(MAX_NAME_CHARS);
    let request = NewProductRequest {
        name: just_fits.clone(),
        ..good()
    };
    assert_eq!(request.validate().unwrap().name(), just_fits);
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
        assert_eq!(broken(request), ["#/name"], "{name:?}");
    }
}

#[test]
fn price_rules() {
    for price_minor in [0, -1, MAX_PRICE_MINOR + 1, i64::MIN] {
        let request = NewProductRequest {
            price_minor,
            ..good()
        };
        assert_eq!(broken(request), ["#/price_minor"], "{price_minor}");
    }
    for price_minor in [1, MAX_PRICE_MINOR] {
        let request = NewProductRequest {
            price_minor,
            ..good()
        };
        assert!(request.validate().is_ok(), "{price_minor}");
    }
}

#[test]
fn category_rules() {
    for category in [
        "",
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
        assert_eq!(broken(request), ["#/category"], "{category:?}");
    }
    for category in ["desks", "home-audio", "4k-tvs"] {
        let request = NewProductRequest {
            category: category.into(),
            ..good()
        };
        assert!(request.validate().is_ok(), "{category:?}");
    }
}

#[test]
fn description_length_is_counted_after_trimming() {
    let request = NewProductRequest {
        description: Some(format!("  {}  ", "é".repeat(MAX_DESCRIPTION_CHARS))),
        ..good()
    };
    assert!(request.validate().is_ok());
}

#[test]
fn try_from_is_the_same_check() {
    let errors = ValidProduct::try_from(NewProductRequest {
        price_minor: -5,
        ..good()
    })
    .unwrap_err();
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
    assert_eq!(request.validate().unwrap().sku(), "DESK-1");
}
