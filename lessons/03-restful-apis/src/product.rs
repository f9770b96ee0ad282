//! The resource: a product in the catalogue, and the JSON bodies that create and change it.
//!
//! What this module shows: the wire types are not the domain types. A client sends a
//! [`ProductDraft`] of plain strings and numbers; [`ProductDraft::validate`] checks every field,
//! collects *all* the problems (a form shows each bad field at once, not one per round trip),
//! and only then builds a [`NewProduct`] made of shop-domain types (`Sku`, `Money`), which the
//! store accepts without checking again. Each problem is a [`FieldError`], the entry of a
//! problem document's `errors` member that shop-http defines (chapter 03 reads it there).
//!
//! Run the tests with `cargo test -p lesson-03 product`.

use serde::{Deserialize, Serialize};
use shop_domain::{Currency, Money, ProductId, Sku};
use shop_http::FieldError;

/// The catalogue's currency: every price is in it.
pub const CATALOGUE_CURRENCY: Currency = Currency::Eur;
/// The longest product name accepted, in characters.
pub const MAX_NAME_CHARS: usize = 80;

// ANCHOR: product
/// A product as the API returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Product {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    pub stock: u32,
}

/// The body of `POST /products` and `PUT /products/{id}`: every field, unchecked.
///
/// `sku` and `name` are plain strings on purpose. Were `sku` a `Sku`, serde would reject a bad
/// one with a single error before `validate` could look at the other fields; as a string, the
/// rules are checked in one place and all failures reported together. `deny_unknown_fields`
/// turns a misspelt field (`"stok": 3`) into a 422 instead of a silently ignored value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductDraft {
    pub sku: String,
    pub name: String,
    pub price: Money,
    pub stock: u32,
}

/// A draft that passed validation: what the store accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: String,
    pub price: Money,
    pub stock: u32,
}
// ANCHOR_END: product

impl NewProduct {
    /// The product this becomes once the store has given it an `id`.
    pub fn with_id(self, id: ProductId) -> Product {
        Product {
            id,
            sku: self.sku,
            name: self.name,
            price: self.price,
            stock: self.stock,
        }
    }
}

// ANCHOR: validate
impl ProductDraft {
    /// Checks every field and returns all the problems found, in field order.
    pub fn validate(self) -> Result<NewProduct, Vec<FieldError>> {
        let sku = Sku::parse(&self.sku).map_err(|error| FieldError::body("sku", error.to_string()));
        let name = validate_name(&self.name);
        let price = validate_price(self.price);
        match (sku, name, price) {
            (Ok(sku), Ok(name), Ok(())) => Ok(NewProduct {
                sku,
                name,
                price: self.price,
                stock: self.stock,
            }),
            (sku, name, price) => Err([sku.err(), name.err(), price.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

fn validate_name(name: &str) -> Result<String, FieldError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(FieldError::body("name", "must not be empty"));
    }
    if chars > MAX_NAME_CHARS {
        return Err(FieldError::body(
            "name",
            format!("must be at most {MAX_NAME_CHARS} characters, got {chars}"),
        ));
    }
    Ok(name.to_owned())
}

fn validate_price(price: Money) -> Result<(), FieldError> {
    if price.currency() != CATALOGUE_CURRENCY {
        return Err(FieldError::body(
            "price/currency",
            format!(
                "the catalogue sells in {}, got {}",
                CATALOGUE_CURRENCY.code(),
                price.currency().code()
            ),
        ));
    }
    if price.amount_minor() <= 0 {
        return Err(FieldError::body(
            "price/amount_minor",
            format!("must be positive, got {}", price.amount_minor()),
        ));
    }
    Ok(())
}
// ANCHOR_END: validate

// ANCHOR: patch
/// The body of `PATCH /products/{id}`, read as a JSON merge patch (RFC 7396): a field that is
/// present replaces the stored value, a field that is absent stays as it is. The SKU is the
/// product's identity in the warehouse, so a patch cannot change it (a `PUT` can).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stock: Option<u32>,
}

/// A patch that passed validation: what the store applies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<String>,
    pub price: Option<Money>,
    pub stock: Option<u32>,
}

impl ProductPatch {
    /// Checks the fields the patch sets, with the same rules as a draft.
    pub fn validate(self) -> Result<ProductChanges, Vec<FieldError>> {
        let name = self.name.as_deref().map(validate_name).transpose();
        let price = self.price.map(validate_price).transpose();
        match (name, price) {
            (Ok(name), Ok(_)) => Ok(ProductChanges {
                name,
                price: self.price,
                stock: self.stock,
            }),
            (name, price) => Err([name.err(), price.err()].into_iter().flatten().collect()),
        }
    }
}

impl ProductChanges {
    /// Writes the changes into `product`.
    pub fn apply(self, product: &mut Product) {
        if let Some(name) = self.name {
            product.name = name;
        }
        if let Some(price) = self.price {
            product.price = price;
        }
        if let Some(stock) = self.stock {
            product.stock = stock;
        }
    }
}
// ANCHOR_END: patch

/// A euro price from a number of cents, for examples and tests.
pub fn eur(cents: i64) -> Money {
    Money::from_minor(cents, CATALOGUE_CURRENCY)
}

#[cfg(test)]
mod tests {
    use shop_http::Location;

    use super::*;

    /// Where each error points: a JSON Pointer into the body, `#/price/amount_minor`.
    fn pointers(errors: &[FieldError]) -> Vec<Location> {
        errors.iter().map(|error| error.location.clone()).collect()
    }

    fn pointer(at: &str) -> Location {
        Location::Pointer(at.to_owned())
    }

    fn draft(sku: &str, name: &str, price: Money) -> ProductDraft {
        ProductDraft {
            sku: sku.into(),
            name: name.into(),
            price,
            stock: 5,
        }
    }

    #[test]
    fn a_valid_draft_is_normalised() {
        let product = draft(" mug-red-01 ", "  Red mug ", eur(1250))
            .validate()
            .unwrap();
        assert_eq!(product.sku.as_str(), "MUG-RED-01");
        assert_eq!(product.name, "Red mug");
    }

    #[test]
    fn every_bad_field_is_reported_at_once() {
        let errors = draft("mug red", " ", eur(-5)).validate().unwrap_err();
        assert_eq!(
            pointers(&errors),
            [
                pointer("#/sku"),
                pointer("#/name"),
                pointer("#/price/amount_minor")
            ]
        );
    }

    #[test]
    fn prices_are_in_the_catalogue_currency() {
        let usd = Money::from_minor(100, Currency::Usd);
        let errors = draft("MUG-1", "Mug", usd).validate().unwrap_err();
        assert_eq!(pointers(&errors), [pointer("#/price/currency")]);
        assert!(errors[0].detail.contains("EUR"), "{}", errors[0].detail);
    }

    #[test]
    fn a_patch_changes_only_the_fields_it_carries() {
        let mut product = Product {
            id: ProductId::generate(),
            sku: Sku::parse("MUG-1").unwrap(),
            name: "Mug".into(),
            price: eur(900),
            stock: 3,
        };
        let before = product.clone();
        let patch = ProductPatch {
            stock: Some(0),
            ..ProductPatch::default()
        };
        patch.validate().unwrap().apply(&mut product);
        assert_eq!(product.stock, 0);
        assert_eq!((product.name, product.price), (before.name, before.price));
    }

    #[test]
    fn a_patch_is_checked_like_a_draft() {
        let bad = ProductPatch {
            name: Some(String::new()),
            price: Some(eur(0)),
            stock: None,
        };
        let errors = bad.validate().unwrap_err();
        assert_eq!(
            pointers(&errors),
            [pointer("#/name"), pointer("#/price/amount_minor")]
        );
    }
}
