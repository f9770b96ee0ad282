//! The admin's product endpoints (book chapter 05, "Capstone step"): create, change, archive,
//! import. Every handler takes [`RequirePermission<perm::CatalogWrite>`], so none of them can
//! run for a caller without that permission (403: customers and support agents today) or an
//! anonymous one (401).
//!
//! What this module shows:
//! - DTOs apart from domain types: the bodies here are what clients send, every field
//!   optional and loosely typed, so that `TryFrom` can report *all* the invalid fields in one
//!   422 (`errors: [{"pointer": "#/price/currency", "detail": "..."}]`) instead of serde's
//!   first complaint;
//! - PATCH with three states per field (shop-http's [`Patch`], taught in chapter 05): absent
//!   (leave it), `null` (clear it, where that means something), a value (set it);
//!   `attributes` follows JSON Merge Patch (RFC 7396);
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
use std::fmt::Display;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{get, patch, post};
use serde::{Deserialize, Serialize};
use shop_db::DbError;
use shop_db::catalog::{
    AttributeName, AttributeValue, Attributes, AttributesChange, CategorySlug, Description,
    ImportReport, NewProduct, ProductChanges, ProductName,
};
use shop_domain::{Currency, Money, ProductId, Sku};
use shop_http::{FieldError, FieldErrors, Patch};
use shop_inventory::StockLevel;
use shop_resilience::Deadline;

use super::catalog::ProductBody;
use super::checkout::inventory_error;
use crate::auth::{RequirePermission, perm};
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::state::AppState;

/// The admin product routes, merged into the router.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/products", post(create))
        .route("/admin/products/import", post(import))
        .route("/admin/products/{id}", patch(update).delete(archive))
        .route("/admin/products/{id}/stock", get(stock).post(restock))
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
/// `PATCH /admin/products/{id}`. Each member is a [`Patch`] (shop-http's, from chapter 05):
/// absent, `null` or a value, three states where `Option` has two. `#[serde(default)]` makes a
/// missing member `Patch::Absent`.
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

fn price(body: PriceBody, at: &[&str], errors: &mut FieldErrors) -> Option<Money> {
    let amount_at = member(at, "amount_minor");
    let amount = match body.amount_minor {
        Some(amount) if amount >= 0 => Some(amount),
        Some(_) => {
            errors.push(FieldError::body_segments(
                &amount_at,
                "must not be negative",
            ));
            None
        }
        None => {
            errors.push(FieldError::body_segments(&amount_at, REQUIRED));
            None
        }
    };
    let currency_at = member(at, "currency");
    let currency = match body.currency {
        Some(code) => check(errors, &currency_at, code.parse::<Currency>()),
        None => {
            errors.push(FieldError::body_segments(&currency_at, REQUIRED));
            None
        }
    };
    Some(Money::from_minor(amount?, currency?))
}

fn attributes(
    raw: BTreeMap<String, String>,
    at: &[&str],
    errors: &mut FieldErrors,
) -> Option<Attributes> {
    let mut map = BTreeMap::new();
    for (name, value) in raw {
        let here = member(at, &name);
        let parsed_name = check(errors, &here, AttributeName::parse(&name));
        let parsed_value = check(errors, &here, AttributeValue::parse(&value));
        if let (Some(name), Some(value)) = (parsed_name, parsed_value) {
            map.insert(name, value);
        }
    }
    check(errors, at, Attributes::new(map))
}

// ANCHOR: validate
/// The segments of the JSON Pointer to `parent`'s member `name`: `["price", "currency"]`, or
/// `["products", "3", "price", "currency"]` inside an import. A segment can be text the client
/// chose (an attribute's name may hold a `/`), so pointers are made with
/// [`FieldError::body_segments`], which escapes each segment as RFC 6901 asks.
fn member<'a>(parent: &[&'a str], name: &'a str) -> Vec<&'a str> {
    [parent, &[name]].concat()
}

/// [`FieldErrors::check`] for the member that `at` points to.
fn check<T, E: Display>(errors: &mut FieldErrors, at: &[&str], result: Result<T, E>) -> Option<T> {
    result
        .map_err(|error| errors.push(FieldError::body_segments(at, error.to_string())))
        .ok()
}

impl NewProductBody {
    /// The domain value, or `None` after recording every problem under `at` (`[]` for a
    /// single product, `["products", "3"]` for an import item).
    fn validate(self, at: &[&str], errors: &mut FieldErrors) -> Option<NewProduct> {
        let required = |name: &str, value: Option<String>, errors: &mut FieldErrors| {
            if value.is_none() {
                errors.push(FieldError::body_segments(&member(at, name), REQUIRED));
            }
            value
        };
        let sku = required("sku", self.sku, errors)
            .and_then(|sku| check(errors, &member(at, "sku"), Sku::parse(&sku)));
        let name = required("name", self.name, errors)
            .and_then(|name| check(errors, &member(at, "name"), ProductName::parse(&name)));
        let category = required("category", self.category, errors)
            .and_then(|slug| check(errors, &member(at, "category"), CategorySlug::parse(&slug)));
        let description = check(
            errors,
            &member(at, "description"),
            Description::parse(self.description.as_deref().unwrap_or_default()),
        );
        let price = match self.price {
            Some(body) => price(body, &member(at, "price"), errors),
            None => {
                errors.push(FieldError::body_segments(&member(at, "price"), REQUIRED));
                None
            }
        };
        let attributes = attributes(self.attributes, &member(at, "attributes"), errors);
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
        let mut errors = FieldErrors::new();
        match body.validate(&[], &mut errors) {
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
        let mut errors = FieldErrors::new();
        let mut changes = ProductChanges::default();
        let not_null = "cannot be null: send a value, or leave the field out to keep it";

        if body.sku.is_present() {
            errors.push(FieldError::body(
                "sku",
                "cannot be changed: imports find the product by it",
            ));
        }
        match body.name {
            Patch::Absent => {}
            Patch::Null => errors.push(FieldError::body("name", not_null)),
            Patch::Value(name) => changes.name = errors.check("name", ProductName::parse(&name)),
        }
        changes.description = match body.description {
            Patch::Absent => None,
            Patch::Null => Some(Description::default()),
            Patch::Value(text) => errors.check("description", Description::parse(&text)),
        };
        match body.category {
            Patch::Absent => {}
            Patch::Null => errors.push(FieldError::body("category", not_null)),
            Patch::Value(slug) => {
                changes.category = errors.check("category", CategorySlug::parse(&slug));
            }
        }
        match body.price {
            Patch::Absent => {}
            Patch::Null => errors.push(FieldError::body("price", not_null)),
            Patch::Value(body) => changes.price = price(body, &["price"], &mut errors),
        }
        changes.attributes = match body.attributes {
            Patch::Absent => AttributesChange::Keep,
            Patch::Null => AttributesChange::Clear,
            Patch::Value(merge) => {
                let mut parsed = BTreeMap::new();
                for (name, value) in merge {
                    let here = ["attributes", name.as_str()];
                    let name = check(&mut errors, &here, AttributeName::parse(&name));
                    // `null` is "remove"; a string must be a valid value.
                    let value = match value {
                        None => Some(None),
                        Some(value) => {
                            check(&mut errors, &here, AttributeValue::parse(&value)).map(Some)
                        }
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
    // Every write to a product, after it commits, makes every instance forget it (chapter 09).
    state.caches.products_changed([product.id]).await;
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
    state.caches.products_changed([id]).await;
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
    state.caches.products_changed([id]).await;
    tracing::info!(by = %editor.0.user_id, product = %id, "product archived");
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /admin/products/{id}/stock` `{"add": 10}`: units arrived at the warehouse.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestockBody {
    pub add: u32,
}

/// A product's stock, as the inventory service has it.
#[derive(Debug, Serialize)]
pub struct StockBody {
    pub sku: Sku,
    pub on_hand: u32,
    pub reserved: u32,
    pub available: u32,
}

impl From<StockLevel> for StockBody {
    fn from(level: StockLevel) -> Self {
        StockBody {
            sku: level.sku,
            on_hand: level.on_hand,
            reserved: level.reserved,
            available: level.available,
        }
    }
}

// ANCHOR: restock
/// `GET /admin/products/{id}/stock`: asks the inventory service (503 when it is down). A SKU
/// the inventory has never stocked is at zero.
pub async fn stock(
    _editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> Result<axum::Json<StockBody>, ApiError> {
    let sku = product_sku(&state, id).await?;
    let levels = (state.inventory)
        .stock(
            std::slice::from_ref(&sku),
            Deadline::after(INVENTORY_BUDGET),
        )
        .await
        .map_err(inventory_error)?;
    let level = (levels.into_iter().next()).unwrap_or_else(|| StockLevel::new(sku, 0, 0));
    Ok(axum::Json(level.into()))
}

/// `POST /admin/products/{id}/stock`: adds units. Not idempotent (the inventory's Restock has
/// no key yet): a client that did not hear the answer should read the stock before sending
/// again.
pub async fn restock(
    editor: RequirePermission<perm::CatalogWrite>,
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
    Json(body): Json<RestockBody>,
) -> Result<axum::Json<StockBody>, ApiError> {
    if body.add == 0 || body.add > MAX_RESTOCK {
        return Err(ApiError::InvalidFields {
            errors: vec![FieldError::body(
                "add",
                format!("must be from 1 to {MAX_RESTOCK} units"),
            )],
        });
    }
    let sku = product_sku(&state, id).await?;
    let level = (state.inventory)
        .restock(&sku, body.add, Deadline::after(INVENTORY_BUDGET))
        .await
        .map_err(inventory_error)?;
    tracing::info!(by = %editor.0.user_id, product = %id, add = body.add, "restocked");
    Ok(axum::Json(level.into()))
}
// ANCHOR_END: restock

/// The most units one restock adds: a typo of three zeros is refused, not stocked.
const MAX_RESTOCK: u32 = 100_000;

/// How long a stock call may take.
const INVENTORY_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

async fn product_sku(state: &AppState, id: ProductId) -> Result<Sku, ApiError> {
    let product = state.products.get(id).await?;
    Ok(product
        .ok_or_else(|| ApiError::not_found("product", id))?
        .sku)
}

/// `POST /admin/products/import`: inserts new SKUs, updates changed ones, leaves identical
/// ones alone, all or nothing; 200 with the three counts. Problems are reported per item:
/// `#/products/3/price/currency`.
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
                        FieldError::body(
                            &format!("products/{n}/category"),
                            format!("no category has the slug `{}`", p.category.as_str()),
                        )
                    })
                    .collect(),
            },
            other => other.into(),
        })?;
    state
        .caches
        .products_changed(report.written.iter().copied())
        .await;
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
    let mut errors = FieldErrors::new();
    if body.products.is_empty() || body.products.len() > MAX_IMPORT {
        errors.push(FieldError::body(
            "products",
            format!(
                "an import holds 1 to {MAX_IMPORT} products, not {}",
                body.products.len()
            ),
        ));
    }
    let mut products = Vec::with_capacity(body.products.len());
    // Where each valid product was in the body: an invalid item before it shifts its place
    // in `products`, not in the client's array.
    let mut positions = Vec::with_capacity(body.products.len());
    for (n, item) in body.products.into_iter().enumerate() {
        let index = n.to_string();
        if let Some(product) = item.validate(&["products", &index], &mut errors) {
            products.push(product);
            positions.push(n);
        }
    }
    let mut first_seen = HashMap::new();
    for (product, n) in products.iter().zip(positions) {
        if let Some(first) = first_seen.insert(product.sku.as_str(), n) {
            errors.push(FieldError::body(
                &format!("products/{n}/sku"),
                format!("{} is also the SKU of #/products/{first}", product.sku),
            ));
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

    /// The JSON Pointer of every error (`#/price/currency`); an error naming a parameter
    /// instead is left out, and so fails the comparison.
    fn pointers(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().filter_map(FieldError::pointer).collect()
    }

    fn patch(json: serde_json::Value) -> Result<ProductChanges, Vec<FieldError>> {
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
            "attributes": { "Colour": "red", "size": "", "a/b~c": null },
        }))
        .unwrap_err();
        assert_eq!(
            pointers(&errors),
            [
                "#/sku",
                "#/name",
                "#/category",
                "#/price/amount_minor",
                "#/price/currency",
                "#/attributes/Colour",
                // RFC 6901 escapes: `~` is `~0`, `/` is `~1`.
                "#/attributes/a~1b~0c",
                "#/attributes/size",
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
        assert_eq!(
            pointers(&errors),
            ["#/sku", "#/name", "#/category", "#/price/currency"]
        );
    }

    fn import_item(sku: &str) -> NewProductBody {
        serde_json::from_value(serde_json::json!({
            "sku": sku,
            "name": "Imported",
            "category": "garden",
            "price": { "amount_minor": 100, "currency": "EUR" },
        }))
        .unwrap()
    }

    #[test]
    fn an_import_points_at_each_item_by_its_place_in_the_body() {
        let body = ImportBody {
            products: vec![
                import_item("not a sku!"),
                import_item("IMP-1"),
                import_item("IMP-1"),
            ],
        };
        let ApiError::InvalidFields { errors } = validate_import(body).unwrap_err() else {
            panic!("a 422");
        };
        // The second IMP-1 is item 2 of the body, though only the second valid product.
        assert_eq!(pointers(&errors), ["#/products/0/sku", "#/products/2/sku"]);
        assert_eq!(errors[1].detail, "IMP-1 is also the SKU of #/products/1");
    }
}
