//! PATCH and create bodies: absent vs null vs a value, and DTOs becoming domain types with
//! every broken rule reported.
//!
//! `cargo test -p lesson-05 --test patch`

use lesson_05::product::{
    CreateProduct, Description, NewProduct, ProductChanges, ProductName, ProductPatch,
};
use shop_http::{FieldError, Location, Patch};

/// Where each error is: a body pointer (`#/name`) or a query parameter's name (`limit`).
fn errors_at(errors: &[FieldError]) -> Vec<&str> {
    errors
        .iter()
        .map(|error| match &error.location {
            Location::Pointer(at) | Location::Parameter(at) => at.as_str(),
        })
        .collect()
}

fn patch(json: &str) -> ProductPatch {
    serde_json::from_str(json).expect("a well-formed patch")
}

#[test]
fn absent_null_and_a_value_are_three_different_things() {
    assert_eq!(patch("{}").description, Patch::Absent);
    assert_eq!(patch(r#"{"description": null}"#).description, Patch::Null);
    assert_eq!(
        patch(r#"{"description": "Oak"}"#).description,
        Patch::Value("Oak".to_owned())
    );
}

#[test]
fn an_empty_patch_changes_nothing() {
    let changes = ProductChanges::try_from(patch("{}")).unwrap();
    assert!(changes.is_empty());
}

#[test]
fn null_clears_a_description_and_a_value_sets_it() {
    let cleared = ProductChanges::try_from(patch(r#"{"description": null}"#)).unwrap();
    assert_eq!(cleared.description, Some(Description::default()));
    assert_eq!((cleared.name, cleared.price), (None, None));
    let set = ProductChanges::try_from(patch(r#"{"description": "  Oiled oak. "}"#)).unwrap();
    assert_eq!(set.description.unwrap().as_str(), "Oiled oak.");
}

#[test]
fn null_for_a_required_field_is_an_error_not_a_no_op() {
    let errors =
        ProductChanges::try_from(patch(r#"{"name": null, "price_minor": null}"#)).unwrap_err();
    assert_eq!(errors_at(&errors), ["#/name", "#/price_minor"]);
}

#[test]
fn unknown_members_and_wrong_types_are_refused_by_serde() {
    assert!(serde_json::from_str::<ProductPatch>(r#"{"sku": "X-1"}"#).is_err());
    assert!(serde_json::from_str::<ProductPatch>(r#"{"price_minor": "12"}"#).is_err());
}

fn create(
    sku: &str,
    name: &str,
    category: &str,
    price_minor: i64,
    currency: &str,
) -> CreateProduct {
    CreateProduct {
        sku: sku.into(),
        name: name.into(),
        description: None,
        category: category.into(),
        price_minor,
        currency: currency.into(),
    }
}

#[test]
fn a_create_body_is_sanitised_then_validated() {
    let product =
        NewProduct::try_from(create(" desk-1 ", "  Oak \n desk ", "desks", 100, "EUR")).unwrap();
    assert_eq!(product.sku.as_str(), "DESK-1");
    assert_eq!(product.name.as_str(), "Oak desk");
    assert_eq!(product.description.as_str(), "");
}

#[test]
fn every_broken_rule_of_a_create_body_is_reported() {
    let errors = NewProduct::try_from(create("a b", "", "Desks", 0, "USD")).unwrap_err();
    assert_eq!(
        errors_at(&errors),
        [
            "#/sku",
            "#/name",
            "#/category",
            "#/price_minor",
            "#/currency"
        ]
    );
}

#[test]
fn names_refuse_control_characters_but_collapse_whitespace() {
    assert_eq!(ProductName::parse("a\t\tb").unwrap().as_str(), "a b");
    assert!(ProductName::parse("a\u{1b}b").is_err());
    assert!(ProductName::parse(&"é".repeat(201)).is_err());
    assert!(ProductName::parse(&"é".repeat(200)).is_ok());
}
