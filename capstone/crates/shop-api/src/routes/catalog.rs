//! The catalog's read endpoints: categories, a page of products, one product, a category's
//! products.
//!
//! Handlers stay thin: extract and parse the input (bad input never reaches them, see
//! [`crate::extract`]), call a repository, turn the domain value into its JSON shape. The JSON
//! types live here, not in `shop-db`: the wire format is a promise to clients and changes on
//! its own schedule, not whenever a table gains a column.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shop_db::{Category, PageSize, Product, ProductPage};
use shop_domain::{CategoryId, Money, ProductId, Sku};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;

/// `?after=<product id>&limit=<1..=100>`, both optional. Unknown parameters are rejected, so
/// a typo such as `?limt=5` is a 400 instead of a silently ignored filter.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    pub after: Option<ProductId>,
    #[serde(default)]
    pub limit: PageSize,
}

#[derive(Debug, Serialize)]
pub struct CategoryBody {
    pub id: CategoryId,
    pub parent_id: Option<CategoryId>,
    pub slug: String,
    pub name: String,
}

impl From<Category> for CategoryBody {
    fn from(category: Category) -> Self {
        CategoryBody {
            id: category.id,
            parent_id: category.parent_id,
            slug: category.slug,
            name: category.name,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ProductBody {
    pub id: ProductId,
    pub sku: Sku,
    pub name: String,
    pub description: String,
    pub category_id: CategoryId,
    /// `{"amount_minor": 1999, "currency": "EUR"}`: integers on the wire too.
    pub price: Money,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<Product> for ProductBody {
    fn from(product: Product) -> Self {
        ProductBody {
            id: product.id,
            sku: product.sku,
            name: product.name,
            description: product.description,
            category_id: product.category_id,
            price: product.price,
            created_at: product.created_at,
            updated_at: product.updated_at,
        }
    }
}

/// A page of products. `next_after` is the cursor for the next page, `null` on the last.
#[derive(Debug, Serialize)]
pub struct ProductPageBody {
    pub products: Vec<ProductBody>,
    pub next_after: Option<ProductId>,
}

impl From<ProductPage> for ProductPageBody {
    fn from(page: ProductPage) -> Self {
        ProductPageBody {
            products: page.products.into_iter().map(ProductBody::from).collect(),
            next_after: page.next_after,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct CategoriesBody {
    pub categories: Vec<CategoryBody>,
}

/// `GET /categories`
pub async fn categories(State(state): State<AppState>) -> Result<Json<CategoriesBody>, ApiError> {
    let categories = state.products.categories().await?;
    Ok(Json(CategoriesBody {
        categories: categories.into_iter().map(CategoryBody::from).collect(),
    }))
}

/// `GET /products?after=&limit=`
pub async fn products(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<ProductPageBody>, ApiError> {
    let page = state.products.list(params.after, params.limit).await?;
    Ok(Json(page.into()))
}

// ANCHOR: get_product
/// `GET /products/{id}`: 400 for an id that is not a UUID (from the extractor), 404 for one
/// that names no product.
pub async fn product(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> Result<Json<ProductBody>, ApiError> {
    let product = state
        .products
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("product", id))?;
    Ok(Json(product.into()))
}
// ANCHOR_END: get_product

/// The products of one category, with the category itself so a page can show its name.
#[derive(Debug, Serialize)]
pub struct CategoryProductsBody {
    pub category: CategoryBody,
    #[serde(flatten)]
    pub page: ProductPageBody,
}

/// `GET /categories/{slug}/products?after=&limit=`: the category's products and those of all
/// its subcategories; 404 when no category has that slug.
pub async fn category_products(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(params): Query<PageParams>,
) -> Result<Json<CategoryProductsBody>, ApiError> {
    let category = state
        .products
        .category_by_slug(&slug)
        .await?
        .ok_or_else(|| ApiError::not_found("category", &slug))?;
    let page = state
        .products
        .list_in_category(category.id, params.after, params.limit)
        .await?;
    Ok(Json(CategoryProductsBody {
        category: category.into(),
        page: page.into(),
    }))
}
