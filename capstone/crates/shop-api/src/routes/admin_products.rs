//! The admin's product endpoints (book chapter 05, "Capstone step"): create, change, archive,
//! import. Every handler takes [`RequirePermission<perm::CatalogWrite>`], so none of them can
//! run for a caller without that permission (403: customers and support agents today) or an
//! anonymous one (401).
//!
//! What this module shows:
//! - DTOs apart from domain types: the bodies here are what clients send, every field
//!   optional and loosely typed, so that `TryFrom` can report *all* the invalid fields in one
//!   422 (`errors: [{field, message}]`) instead of serde's first complaint;
//! - PATCH with three states per field ([`Patch`]): absent (leave it), `null` (clear it, where
//!   that means something), a value (set it); `attributes` follows JSON Merge Patch (RFC 7396);
//! - `201 Created` with a `Location` header, `204 No Content` for an archive.
//!
//! ```console
//! curl -X POST localhost:3000/admin/products -H "Authorization: Bearer $TOKEN" \
//!      -H 'content-type: application/json' \
//!      -d '{"sku":"HP-1","name":"Headphones","category":"headphones",
//!           "price":{"amount_minor":4999,"currency":"EUR"},"attributes":{"brand":"Norda"}}'
//! ```
//!
//! Tests: `tests/api/admin_products.rs`.

use std::collections::{BTreeMap, HashMap};

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{patch, post};
use serde::{Deserialize, Deserializer, Serialize};
use shop_db::DbError;
use shop_db::catalog::{
    AttributeName, AttributeValue, Attributes, AttributesChange, CategorySlug, Description,
    ImportReport, NewProduct, ProductChanges, ProductName,
};
use shop_domain::{Currency, Money, ProductId, Sku};

use super::catalog::ProductBody;
use crate::auth::{RequirePermission, perm};
use crate::error::{ApiError, FieldErrors};
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The admin product routes, merged into the router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/products", post(create))
        .route("/admin/products/import", post(import))
        .route("/admin/products/{id}", patch(update).delete(archive))
}

/// The most products one import may hold: one statement, one transaction, a bounded time.
/// 200 typical products are well inside the service's 64 KiB body limit
/// ([`BODY_LIMIT`](crate::routes::BODY_LIMIT)); larger catalogues are imported in batches.
pub const MAX_IMPORT: usize = 200;

// ---------------------------------------------------------------------------------------------
// Bodies
// ---------------------------------------------------------------------------------------------

// ANCHOR: dto
/// A price as sent: `{"amount_minor": 4999, "currency": "EUR"}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceBody {
    pub amount_minor: Option<i64>,
    pub currency: Option<String>,
}

/// `POST /admin/products`, and each item of an import. Every field is optional *here* so that
/// a missing one is reported next to the invalid ones; its `TryFrom` decides.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewProductBody {
    pub sku: Option<String>,
    pub name: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    /// The category's slug.
    pub category: Option<String>,
    pub price: Option<PriceBody>,
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}
// ANCHOR_END: dto

// ANCHOR: patch
/// One field of a PATCH body. JSON has three states where `Option` has two: the member is
/// absent, it is `null`, or it has a value. `#[serde(default)]` gives `Absent` when the member
/// is missing; when it is present, serde calls `deserialize`, which sees `null` or a value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Patch<T> {
    #[default]
    Absent,
    Null,
    Value(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Patch<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Option::<T>::deserialize(deserializer)?.map_or(Patch::Null, Patch::Value))
    }
}

/// `PATCH /admin/products/{id}`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductPatchBody {
    /// Not patchable; accepted only to say why (an import finds products by SKU).
    #[serde(default)]
    pub sku: Patch<serde_json::Value>,
    #[serde(default)]
    pub name: Patch<String>,
    /// `null` clears it.
    #[serde(default)]
    pub description: Patch<String>,
    #[serde(default)]
    pub category: Patch<String>,
    #[serde(default)]
    pub price: Patch<PriceBody>,
    /// `null` removes every attribute; an object merges: a value sets, `null` removes.
    #[serde(default)]
    pub attributes: Patch<BTreeMap<String, Option<String>>>,
}
// ANCHOR_END: patch

/// `POST /admin/products/import`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImportBody {
    pub products: Vec<NewProductBody>,
}

#[derive(Debug, Serialize)]
pub struct ImportReportBody {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
}

impl From<ImportReport> for ImportReportBody {
    fn from(report: ImportReport) -> Self {
        ImportReportBody {
            inserted: report.inserted,
            updated: report.updated,
            unchanged: report.unchanged,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// DTO → domain
// ---------------------------------------------------------------------------------------------

/// Why a value was required.
const REQUIRED: &str = "is required";

fn price(body: PriceBody, field: &str, errors: &mut FieldErrors) -> Option<Money> {
    let amount = match body.amount_minor {
        Some(amount) if amount >= 0 => Some(amount),
        Some(_) => {
            errors.push(format!("{field}.amount_minor"), "must not be negative");
            None
        }
        None => {
            errors.push(format!("{field}.amount_minor"), REQUIRED);
            None
        }
    };
    let currency = match body.currency {
        Some(code) => errors.check(format!("{field}.currency"), code.parse::<Currency>()),
        None => {
            errors.push(format!("{field}.currency"), REQUIRED);
            None
        }
    };
    Some(Money::from_minor(amount?, currency?))
}

fn attributes(
    raw: BTreeMap<String, String>,
    field: &str,
    errors: &mut FieldErrors,
) -> Option<Attributes> {
    let mut map = BTreeMap::new();
    for (name, value) in raw {
        let parsed_name = errors.check(format!("{field}.{name}"), AttributeName::parse(&name));
        let parsed_value = errors.check(format!("{field}.{name}"), AttributeValue::parse(&value));
        if let (Some(name), Some(value)) = (parsed_name, parsed_value) {
            map.insert(name, value);
        }
    }
    errors.check(field.to_owned(), Attributes::new(map))
}

// ANCHOR: validate
impl NewProductBody {
    /// The domain value, or `None` after recording every problem under `prefix` (`""` for a
    /// single product, `products[3].` for an import item).
    fn validate(self, prefix: &str, errors: &mut FieldErrors) -> Option<NewProduct> {
        let field = |name: &str| format!("{prefix}{name}");
        let required = |name: &str, value: Option<String>, errors: &mut FieldErrors| {
            if value.is_none() {
                errors.push(field(name), REQUIRED);
            }
            value
        };
        let sku = required("sku", self.sku, errors)
            .and_then(|sku| errors.check(field("sku"), Sku::parse(&sku)));
        let name = required("name", self.name, errors)
            .and_then(|name| errors.check(field("name"), ProductName::parse(&name)));
        let category = required("category", self.category, errors)
            .and_then(|slug| errors.check(field("category"), CategorySlug::parse(&slug)));
        let description = errors.check(
            field("description"),
            Description::parse(self.description.as_deref().unwrap_or_default()),
        );
        let price = match self.price {
            Some(body) => price(body, &field("price"), errors),
            None => {
                errors.push(field("price"), REQUIRED);
                None
            }
        };
        let attributes = attributes(self.attributes, &field("attributes"), errors);
        Some(NewProduct {
            sku: sku?,
            name: name?,
            description: description?,
            category: category?,
            price: price?,
            attributes: attributes?,
        })
    }
}

impl TryFrom<NewProductBody> for NewProduct {
    type Error = ApiError;

    fn try_from(body: NewProductBody) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        match body.validate("", &mut errors) {
            Some(product) if errors.is_empty() => Ok(product),
            _ => Err(ApiError::InvalidFields {
                errors: errors.into_vec(),
            }),
        }
    }
}
// ANCHOR_END: validate

// ANCHOR: patch_try_from
impl TryFrom<ProductPatchBody> for ProductChanges {
    type Error = ApiError;

    fn try_from(body: ProductPatchBody) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::default();
        let mut changes = ProductChanges::default();
        let not_null = "cannot be null: send a value, or leave the field out to keep it";

        if body.sku != Patch::Absent {
            errors.push("sku", "cannot be changed: imports find the product by it");
        }
        match body.name {
            Patch::Absent => {}
            Patch::Null => errors.push("name", not_null),
            Patch::Value(name) => changes.name = errors.check("name", ProductName::parse(&name)),
        }
        changes.description = match body.description {
            Patch::Absent => None,
            Patch::Null => Some(Description::default()),
            Patch::Value(text) => errors.check("description", Description::parse(&text)),
        };
        match body.category {
            Patch::Absent => {}
            Patch::Null => errors.push("category", not_null),
            Patch::Value(slug) => {
                changes.category = errors.check("category", CategorySlug::parse(&slug));
            }
        }
        match body.price {
            Patch::Absent => {}
            Patch::Null => errors.push("price", not_null),
            Patch::Value(body) => changes.price = price(body, "price", &mut errors),
        }
        changes.attributes = match body.attributes {
            Patch::Absent => AttributesChange::Keep,
            Patch::Null => AttributesChange::Clear,
            Patch::Value(merge) => {
                let mut parsed = BTreeMap::new();
                for (name, value) in merge {
                    let field = format!("attributes.{name}");
                    let name = errors.check(field.clone(), AttributeName::parse(&name));
                    // `null` is "remove"; a string must be a valid value.
                    let value = match value {
                        None => Some(None),
                        Some(value) => errors.check(field, AttributeValue::parse(&value)).map(Some),
                    };
                    if let (Some(name), Some(value)) = (name, value) {
                        parsed.insert(name, value);
                    }
                }
                AttributesChange::Merge(parsed)
            }
        };
        if errors.is_empty() {
            Ok(changes)
        } else {
            Err(ApiError::InvalidFields {
                errors: errors.into_vec(),
            })
        }
    }
}
// ANCHOR_END: patch_try_from

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

// ANCHOR: handlers
/// `POST /admin/products`: 201 with the product and its `Location`; 422 listing every invalid
/// field; 409 when the SKU is taken.
pub async fn create(
    editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Json(body): Json<NewProductBody>,
) -> Result<impl IntoResponse, ApiError> {
    let new = NewProduct::try_from(body)?;
    let product = state.products.create(&new).await?;
    tracing::info!(by = %editor.0.user_id, product = %product.id, "product created");
    let location = format!("/products/{}", product.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(ProductBody::from(product)),
    ))
}

/// `PATCH /admin/products/{id}`: 200 with the product as it now is; 404 for no such product.
pub async fn update(
    editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
    Json(body): Json<ProductPatchBody>,
) -> Result<axum::Json<ProductBody>, ApiError> {
    let changes = ProductChanges::try_from(body)?;
    let product = state
        .products
        .update(id, &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("product", id))?;
    tracing::info!(by = %editor.0.user_id, product = %id, "product changed");
    Ok(axum::Json(product.into()))
}

/// `DELETE /admin/products/{id}`: archives it (204); 404 when there is nothing to archive.
pub async fn archive(
    editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> Result<StatusCode, ApiError> {
    if !state.products.archive(id).await? {
        return Err(ApiError::not_found("product", id));
    }
    tracing::info!(by = %editor.0.user_id, product = %id, "product archived");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/products/import`: inserts new SKUs, updates changed ones, leaves identical
/// ones alone, all or nothing; 200 with the three counts. Problems are reported per item:
/// `products[3].price.currency`.
pub async fn import(
    editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Json(body): Json<ImportBody>,
) -> Result<axum::Json<ImportReportBody>, ApiError> {
    let products = validate_import(body)?;
    let report = state
        .products
        .import(&products)
        .await
        .map_err(|error| match error {
            // The repository names the unknown slugs; the client wants to know which items.
            DbError::UnknownCategories(slugs) => ApiError::InvalidFields {
                errors: products
                    .iter()
                    .enumerate()
                    .filter(|(_, p)| slugs.iter().any(|slug| slug == p.category.as_str()))
                    .map(|(n, p)| {
                        crate::FieldError::new(
                            format!("products[{n}].category"),
                            format!("no category has the slug `{}`", p.category.as_str()),
                        )
                    })
                    .collect(),
            },
            other => other.into(),
        })?;
    tracing::info!(
        by = %editor.0.user_id,
        inserted = report.inserted,
        updated = report.updated,
        unchanged = report.unchanged,
        "products imported"
    );
    Ok(axum::Json(report.into()))
}
// ANCHOR_END: handlers

/// Every item valid, 1 to [`MAX_IMPORT`] of them, no SKU twice; otherwise every problem.
fn validate_import(body: ImportBody) -> Result<Vec<NewProduct>, ApiError> {
    let mut errors = FieldErrors::default();
    if body.products.is_empty() || body.products.len() > MAX_IMPORT {
        errors.push(
            "products",
            format!(
                "an import holds 1 to {MAX_IMPORT} products, not {}",
                body.products.len()
            ),
        );
    }
    let mut products = Vec::with_capacity(body.products.len());
    for (n, item) in body.products.into_iter().enumerate() {
        products.extend(item.validate(&format!("products[{n}]."), &mut errors));
    }
    let mut first_seen = HashMap::new();
    for (n, product) in products.iter().enumerate() {
        if let Some(first) = first_seen.insert(product.sku.as_str(), n) {
            errors.push(
                format!("products[{n}].sku"),
                format!("{} is also products[{first}]'s SKU", product.sku),
            );
        }
    }
    if errors.is_empty() {
        Ok(products)
    } else {
        Err(ApiError::InvalidFields {
            errors: errors.into_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: serde_json::Value) -> Result<ProductChanges, Vec<crate::FieldError>> {
        let body: ProductPatchBody = serde_json::from_value(json).expect("a patch body");
        ProductChanges::try_from(body).map_err(|error| match error {
            ApiError::InvalidFields { errors } => errors,
            other => panic!("{other:?}"),
        })
    }

    #[test]
    fn absent_null_and_value_are_three_different_things() {
        assert_eq!(
            patch(serde_json::json!({})).unwrap(),
            ProductChanges::default()
        );
        let cleared =
            patch(serde_json::json!({ "description": null, "attributes": null })).unwrap();
        assert_eq!(cleared.description, Some(Description::default()));
        assert_eq!(cleared.attributes, AttributesChange::Clear);
        let set = patch(serde_json::json!({ "description": "New." })).unwrap();
        assert_eq!(set.description.unwrap().as_str(), "New.");
        assert_eq!(set.attributes, AttributesChange::Keep);
    }

    #[test]
    fn every_invalid_patch_field_is_reported() {
        let errors = patch(serde_json::json!({
            "sku": "NEW-1",
            "name": null,
            "category": "Not A Slug",
            "price": { "amount_minor": -1, "currency": "XXX" },
            "attributes": { "Colour": "red", "size": "" },
        }))
        .unwrap_err();
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "sku",
                "name",
                "category",
                "price.amount_minor",
                "price.currency",
                "attributes.Colour",
                "attributes.size"
            ]
        );
    }

    #[test]
    fn a_new_product_reports_missing_and_invalid_fields_together() {
        let body: NewProductBody = serde_json::from_value(serde_json::json!({
            "sku": "lower case!",
            "price": { "amount_minor": 100 },
        }))
        .unwrap();
        let ApiError::InvalidFields { errors } = NewProduct::try_from(body).unwrap_err() else {
            panic!("a 422");
        };
        let fields: Vec<&str> = errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["sku", "name", "category", "price.currency"]);
    }
}
