//! Products at the boundary: what a client sends (DTOs), what the shop works with (domain
//! types), and the conversions between them.
//!
//! What this module shows:
//! - DTOs are plain values that mirror the JSON ([`CreateProduct`], [`ProductPatch`],
//!   [`ProductView`]); domain types are newtypes with private fields and a `parse` that
//!   *sanitises* (trims, collapses whitespace) and then *validates* (length, characters), so
//!   holding a [`ProductName`] proves both happened: parse, don't validate;
//! - `TryFrom<CreateProduct> for NewProduct` checks every field and reports every broken rule;
//!   `From<Product> for ProductView` cannot fail, so it is `From`;
//! - [`ProductPatch`] is made of shop-http's [`Patch`]: the three states a field of a merge
//!   patch (RFC 7396) can be in, absent, `null` or a value, which `Option<T>` alone cannot tell
//!   apart. The type is written once there, for the capstone's admin routes too.
//!
//! Tests: `cargo test -p lesson-05 --test patch` and `--test http`.

use serde::{Deserialize, Serialize};
use shop_domain::{Currency, Money, Sku};
use shop_http::{FieldError, Patch};
use time::OffsetDateTime;
use uuid::Uuid;

/// The longest product name, in characters (the column's CHECK says the same).
pub const MAX_NAME_CHARS: usize = 200;
/// The longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 2_000;
/// The catalog sells in one currency.
pub const CATALOG_CURRENCY: Currency = Currency::Eur;
/// The highest price accepted, in cents.
pub const MAX_PRICE_MINOR: i64 = 100_000_000;

// ANCHOR: newtypes
/// A product name: trimmed, inner whitespace collapsed to single spaces, 1 to 200 characters,
/// no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductName(String);

impl ProductName {
    pub fn parse(raw: &str) -> Result<Self, String> {
        // Sanitise first: the same name typed with a double space or a trailing newline is
        // the same name, and the database should hold it once, in one spelling.
        let name = raw.split_whitespace().collect::<Vec<_>>().join(" ");
        let chars = name.chars().count();
        if chars == 0 {
            return Err("must not be empty".into());
        }
        if chars > MAX_NAME_CHARS {
            return Err(format!(
                "must be at most {MAX_NAME_CHARS} characters, got {chars}"
            ));
        }
        // Then validate what sanitising must not silently repair: a NUL or an escape
        // character in a name is a client bug or an attack, and deserves an error.
        if name.chars().any(char::is_control) {
            return Err("must not contain control characters".into());
        }
        Ok(Self(name))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A description: trimmed, at most 2,000 characters; line breaks and tabs allowed, other
/// control characters not. Empty is a valid description (the column's default).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Description(String);

impl Description {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let text = raw.trim();
        let chars = text.chars().count();
        if chars > MAX_DESCRIPTION_CHARS {
            return Err(format!(
                "must be at most {MAX_DESCRIPTION_CHARS} characters, got {chars}"
            ));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err("must not contain control characters other than line breaks".into());
        }
        Ok(Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A price in the catalog's currency: 1 cent to 1,000,000.00.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Price(i64);

impl Price {
    pub fn parse(minor: i64) -> Result<Self, String> {
        if (1..=MAX_PRICE_MINOR).contains(&minor) {
            Ok(Self(minor))
        } else {
            Err(format!("must be 1 to {MAX_PRICE_MINOR} cents, got {minor}"))
        }
    }

    pub fn minor(self) -> i64 {
        self.0
    }
}
// ANCHOR_END: newtypes

/// Lower-case letters and digits in groups joined by single hyphens: the schema's slug rule.
pub fn is_slug(text: &str) -> bool {
    text.split('-').all(|group| {
        !group.is_empty()
            && group
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    })
}

// ANCHOR: dto
/// The body of `POST /products`: plain values, nothing checked. Strings rather than `Sku`
/// or `ProductName`, so that serde does not stop at the first bad field: the rules run in
/// `TryFrom` and report every problem. `deny_unknown_fields` turns a misspelt member into an
/// error instead of a silently dropped value.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateProduct {
    pub sku: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub category: String,
    pub price_minor: i64,
    pub currency: String,
}

/// A product the rules accepted: every field a proven type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewProduct {
    pub sku: Sku,
    pub name: ProductName,
    pub description: Description,
    /// A well-formed slug; whether the category exists is the database's answer.
    pub category: String,
    pub price: Price,
}
// ANCHOR_END: dto

// ANCHOR: try_from
impl TryFrom<CreateProduct> for NewProduct {
    type Error = Vec<FieldError>;

    fn try_from(dto: CreateProduct) -> Result<Self, Self::Error> {
        let at = |field: &'static str| move |detail: String| FieldError::body(field, detail);
        let sku = Sku::parse(&dto.sku).map_err(|e| FieldError::body("sku", e.to_string()));
        let name = ProductName::parse(&dto.name).map_err(at("name"));
        let description = Description::parse(dto.description.as_deref().unwrap_or_default())
            .map_err(at("description"));
        let category = if is_slug(&dto.category) {
            Ok(dto.category)
        } else {
            Err(FieldError::body(
                "category",
                "must be a category slug such as `desks`",
            ))
        };
        let price = Price::parse(dto.price_minor).map_err(at("price_minor"));
        let currency = if dto.currency == CATALOG_CURRENCY.code() {
            Ok(())
        } else {
            Err(FieldError::body(
                "currency",
                format!("the catalog sells in {}", CATALOG_CURRENCY.code()),
            ))
        };
        match (sku, name, description, category, price, currency) {
            (Ok(sku), Ok(name), Ok(description), Ok(category), Ok(price), Ok(())) => {
                Ok(NewProduct {
                    sku,
                    name,
                    description,
                    category,
                    price,
                })
            }
            (sku, name, description, category, price, currency) => Err([
                sku.err(),
                name.err(),
                description.err(),
                category.err(),
                price.err(),
                currency.err(),
            ]
            .into_iter()
            .flatten()
            .collect()),
        }
    }
}
// ANCHOR_END: try_from

// ANCHOR: view
/// A product as the catalog holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    pub id: Uuid,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category: String,
    pub price: Money,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// A product as the API returns it. A separate type, so that renaming a column or adding an
/// internal field does not change the API, and the other way round.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProductView {
    pub id: Uuid,
    pub sku: String,
    pub name: String,
    pub description: String,
    pub category: String,
    /// `{"amount_minor": 12999, "currency": "EUR"}`: shop-domain's form, integers only.
    pub price: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Product> for ProductView {
    fn from(p: Product) -> Self {
        ProductView {
            id: p.id,
            sku: p.sku.to_string(),
            name: p.name,
            description: p.description,
            category: p.category,
            price: p.price,
            updated_at: p.updated_at,
        }
    }
}
// ANCHOR_END: view

// ANCHOR: product_patch
/// The body of `PATCH /products/{id}` (`application/merge-patch+json`). Every field is
/// `#[serde(default)]`: serde reads only the members present, so one left out stays
/// [`Patch::Absent`], and a present `null` becomes [`Patch::Null`].
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatch {
    #[serde(default)]
    pub name: Patch<String>,
    #[serde(default)]
    pub description: Patch<String>,
    #[serde(default)]
    pub price_minor: Patch<i64>,
}
// ANCHOR_END: product_patch

/// Checked changes; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProductChanges {
    pub name: Option<ProductName>,
    pub description: Option<Description>,
    pub price: Option<Price>,
}

impl ProductChanges {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

impl TryFrom<ProductPatch> for ProductChanges {
    type Error = Vec<FieldError>;

    /// `null` means "remove the value". A description can be removed (it becomes empty, the
    /// column's default); a name and a price cannot, so `null` for them is an error rather
    /// than a silent no-op.
    fn try_from(patch: ProductPatch) -> Result<Self, Self::Error> {
        let cannot_remove = |field| FieldError::body(field, "cannot be removed (null)");
        let name = match patch.name {
            Patch::Absent => Ok(None),
            Patch::Null => Err(cannot_remove("name")),
            Patch::Value(raw) => ProductName::parse(&raw)
                .map(Some)
                .map_err(|detail| FieldError::body("name", detail)),
        };
        let description = match patch.description {
            Patch::Absent => Ok(None),
            Patch::Null => Ok(Some(Description::default())),
            Patch::Value(raw) => Description::parse(&raw)
                .map(Some)
                .map_err(|detail| FieldError::body("description", detail)),
        };
        let price = match patch.price_minor {
            Patch::Absent => Ok(None),
            Patch::Null => Err(cannot_remove("price_minor")),
            Patch::Value(minor) => Price::parse(minor)
                .map(Some)
                .map_err(|detail| FieldError::body("price_minor", detail)),
        };
        match (name, description, price) {
            (Ok(name), Ok(description), Ok(price)) => Ok(ProductChanges {
                name,
                description,
                price,
            }),
            (name, description, price) => Err([name.err(), description.err(), price.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}
