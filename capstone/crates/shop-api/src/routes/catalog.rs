//! The catalog's read endpoints: categories, a page of products, one product, a category's
//! products, and (chapter 05) the search with filters, facets, sorts and keyset cursors.
//!
//! Handlers stay thin: extract and parse the input (bad input never reaches them, see
//! [`crate::extract`]), call a repository, turn the domain value into its JSON shape. The JSON
//! types live here, not in `shop-db`: the wire format is a promise to clients and changes on
//! its own schedule, not whenever a table gains a column.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use shop_db::catalog::{
    AttributeValue, Attributes, CategorySlug, Cursor, FacetCount, Facets, FilterAttribute,
    PriceBucket, PriceRange, ProductSearch, SearchFilters, SearchPage, SearchSort, SearchText,
};
use shop_db::{Category, DbError, PageSize, Product, ProductPage};
use shop_domain::{CategoryId, Currency, Money, ProductId, Sku};
use shop_http::{FieldError, FieldErrors};
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
    /// `{"brand": "Norda", "colour": "green"}`.
    pub attributes: Attributes,
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
            attributes: product.attributes,
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
    let categories = state
        .catalog_read(|repo| Box::pin(repo.categories()))
        .await?;
    Ok(Json(CategoriesBody {
        categories: categories.into_iter().map(CategoryBody::from).collect(),
    }))
}

/// `GET /products?after=&limit=`
pub async fn products(
    State(state): State<AppState>,
    Query(params): Query<PageParams>,
) -> Result<Json<ProductPageBody>, ApiError> {
    let (after, limit) = (params.after, params.limit);
    let page = (state.catalog_read(|repo| Box::pin(repo.list(after, limit)))).await?;
    Ok(Json(page.into()))
}

// ANCHOR: get_product
/// `GET /products/{id}`: 400 for an id that is not a UUID (from the extractor), 404 for one
/// that names no product.
///
/// Cache-aside (chapter 09): the JSON body comes from this instance's memory, else from Redis,
/// else from PostgreSQL (one query however many requests missed at once), and is kept in both
/// tiers; "no such product" too, briefly. Each view also counts towards trending products,
/// in memory: the counts reach Redis in a batch every second, so the page waits for no Redis
/// write (a slow Redis never delays it).
pub async fn product(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> Result<Response, ApiError> {
    let body = product_body(&state, id)
        .await?
        .ok_or_else(|| ApiError::not_found("product", id))?;
    state
        .caches
        .trending
        .record_view(&id.to_string(), SystemTime::now());
    Ok(json_response(&body))
}
// ANCHOR_END: get_product

// ANCHOR: product_body
/// The JSON body of product `id` through the cache, `None` when no product has that id.
pub async fn product_body(
    state: &AppState,
    id: ProductId,
) -> Result<Option<Arc<String>>, ApiError> {
    let products = &state.products;
    let body = state
        .caches
        .products
        .get_or_load(id, async || {
            let product = products.get(id).await?;
            Ok::<_, DbError>(product.map(|product| {
                serde_json::to_string(&ProductBody::from(product))
                    .expect("a product body serializes: its maps have string keys")
            }))
        })
        .await?;
    Ok(body)
}
// ANCHOR_END: product_body

/// An already serialized JSON body, as `Json` would send it.
fn json_response(body: &str) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_owned(),
    )
        .into_response()
}

/// `?limit=<1..=100>` (default 20).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrendingParams {
    #[serde(default)]
    pub limit: PageSize,
}

/// One trending product: its views today plus half of yesterday's, and the product.
#[derive(Debug, Serialize)]
pub struct TrendingProductBody {
    pub score: f64,
    pub product: serde_json::Value,
}

#[derive(Debug, Serialize)]
pub struct TrendingBody {
    pub products: Vec<TrendingProductBody>,
}

// ANCHOR: trending
/// `GET /products/trending?limit=`: the most viewed products, from a sorted set per day in
/// Redis (chapter 09); empty without Redis. An archived product drops out of the list.
pub async fn trending(
    State(state): State<AppState>,
    Query(params): Query<TrendingParams>,
) -> Result<Json<TrendingBody>, ApiError> {
    let limit = usize::try_from(params.limit.get()).unwrap_or(usize::MAX);
    // A few more than asked, for the archived ones that are skipped below.
    let ranked = state
        .caches
        .trending
        .top(limit + 10, SystemTime::now())
        .await;
    let mut products = Vec::with_capacity(limit);
    for (id, score) in ranked {
        let Ok(id) = id.parse::<ProductId>() else {
            continue;
        };
        let Some(body) = product_body(&state, id).await? else {
            continue;
        };
        let product =
            serde_json::from_str(&body).map_err(|error| ApiError::Internal(Box::new(error)))?;
        products.push(TrendingProductBody { score, product });
        if products.len() == limit {
            break;
        }
    }
    Ok(Json(TrendingBody { products }))
}
// ANCHOR_END: trending

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
    let category = (state.catalog_read(|repo| Box::pin(repo.category_by_slug(&slug))))
        .await?
        .ok_or_else(|| ApiError::not_found("category", &slug))?;
    let (after, limit) = (params.after, params.limit);
    let page = state
        .catalog_read(|repo| Box::pin(repo.list_in_category(category.id, after, limit)))
        .await?;
    Ok(Json(CategoryProductsBody {
        category: category.into(),
        page: page.into(),
    }))
}

// ---------------------------------------------------------------------------------------------
// Search (chapter 05)
// ---------------------------------------------------------------------------------------------

// ANCHOR: search_params
/// `GET /products/search`'s query string, as the client sent it: every value still a string,
/// so that *all* the bad ones can be reported together (a typed field would stop serde at the
/// first). An empty value (`?brand=`, what an HTML form sends for an untouched field) means
/// "no filter". Unknown parameters are a 400, as on `/products`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchParams {
    /// Full text, in web-search syntax: `red kettle`, `"exact phrase"`, `-excluded`, `or`.
    pub q: Option<String>,
    /// A category slug; its subcategories are included.
    pub category: Option<String>,
    /// Comma-separated values of the attributes in [`FilterAttribute`]: any of them matches.
    pub brand: Option<String>,
    pub colour: Option<String>,
    pub material: Option<String>,
    pub size: Option<String>,
    /// ISO code; required with a price bound.
    pub currency: Option<String>,
    /// Inclusive bounds in minor units (cents).
    pub price_min: Option<String>,
    pub price_max: Option<String>,
    /// `true`: only products some warehouse has in stock.
    pub in_stock: Option<String>,
    /// One of [`SearchSort`]'s names; default `relevance` with `q`, `newest` without.
    pub sort: Option<String>,
    /// `next_cursor` of the previous page, unchanged.
    pub cursor: Option<String>,
    /// 1 to 100, default 20.
    pub limit: Option<String>,
}
// ANCHOR_END: search_params

/// The most values one attribute filter may list.
const MAX_VALUES_PER_FILTER: usize = 10;

// ANCHOR: search_try_from
impl TryFrom<SearchParams> for ProductSearch {
    type Error = ApiError;

    /// Parses every parameter into its domain type, collecting every failure, then lets
    /// [`ProductSearch::new`] check the rules that span parameters (relevance needs `q`, a
    /// price needs a currency, a cursor belongs to its sort and filters).
    fn try_from(params: SearchParams) -> Result<Self, ApiError> {
        let mut errors = FieldErrors::new();
        let given = |value: Option<String>| value.filter(|v| !v.is_empty());

        let text = given(params.q).and_then(|q| errors.check_parameter("q", SearchText::parse(&q)));
        let category = given(params.category)
            .and_then(|slug| errors.check_parameter("category", CategorySlug::parse(&slug)));
        let mut attributes = BTreeMap::new();
        for (attribute, raw) in [
            (FilterAttribute::Brand, params.brand),
            (FilterAttribute::Colour, params.colour),
            (FilterAttribute::Material, params.material),
            (FilterAttribute::Size, params.size),
        ] {
            if let Some(values) =
                given(raw).and_then(|raw| errors.check_parameter(attribute.name(), values_of(&raw)))
            {
                attributes.insert(attribute, values);
            }
        }
        let currency = given(params.currency)
            .and_then(|code| errors.check_parameter("currency", code.parse::<Currency>()));
        let price_min = given(params.price_min)
            .and_then(|p| errors.check_parameter("price_min", minor_units(&p)));
        let price_max = given(params.price_max)
            .and_then(|p| errors.check_parameter("price_max", minor_units(&p)));
        let price = errors
            .check_parameter("price_min", PriceRange::new(price_min, price_max))
            .unwrap_or_default();
        let in_stock = match given(params.in_stock).as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                errors.push(FieldError::parameter("in_stock", "use true or false"));
                false
            }
        };
        let sort = given(params.sort)
            .and_then(|sort| errors.check_parameter("sort", sort.parse::<SearchSort>()));
        let cursor = given(params.cursor)
            .and_then(|cursor| errors.check_parameter("cursor", Cursor::decode(&cursor)));
        let limit = given(params.limit).map_or(Some(PageSize::default()), |limit| {
            errors.check_parameter("limit", page_size(&limit))
        });
        if !errors.is_empty() {
            return Err(ApiError::InvalidQuery {
                errors: errors.into_vec(),
            });
        }

        let filters = SearchFilters {
            text,
            category,
            currency,
            price,
            attributes,
            in_stock,
        };
        ProductSearch::new(filters, sort, cursor, limit.unwrap_or_default()).map_err(|problems| {
            ApiError::InvalidQuery {
                errors: problems
                    .into_iter()
                    .map(|problem| FieldError::parameter(problem.field(), problem.to_string()))
                    .collect(),
            }
        })
    }
}
// ANCHOR_END: search_try_from

/// `Norda,Kestrel` → two values; at most [`MAX_VALUES_PER_FILTER`].
fn values_of(raw: &str) -> Result<Vec<AttributeValue>, String> {
    let values = raw
        .split(',')
        .map(AttributeValue::parse)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| format!("{error} (separate several values with commas)"))?;
    if values.len() > MAX_VALUES_PER_FILTER {
        return Err(format!("at most {MAX_VALUES_PER_FILTER} values"));
    }
    Ok(values)
}

fn page_size(raw: &str) -> Result<PageSize, String> {
    let size = raw
        .parse::<u32>()
        .map_err(|_| format!("a page holds between 1 and {} items", PageSize::MAX.get()))?;
    PageSize::new(size).map_err(|error| error.to_string())
}

fn minor_units(raw: &str) -> Result<i64, &'static str> {
    raw.parse::<i64>()
        .ok()
        .filter(|p| *p >= 0)
        .ok_or("a price is a whole number of minor units (cents), 0 or more")
}

/// A page of search results.
#[derive(Debug, Serialize)]
pub struct SearchBody {
    pub products: Vec<ProductBody>,
    /// How many products match the filters, over all pages.
    pub total: u64,
    /// The sort applied (the default, when none was asked for).
    pub sort: SearchSort,
    /// Pass as `?cursor=` with the same filters and sort for the next page; `null` on the last.
    pub next_cursor: Option<String>,
    pub facets: FacetsBody,
}

/// Counts keyed by the query parameter each one refines: `facets.brand[0].value` is what goes
/// into `?brand=`.
#[derive(Debug, Serialize)]
pub struct FacetsBody {
    pub category: Vec<FacetCountBody>,
    /// `brand`, `colour`: every faceted attribute, present even when empty.
    #[serde(flatten)]
    pub attributes: BTreeMap<&'static str, Vec<FacetCountBody>>,
    pub price: Vec<PriceBucketBody>,
}

#[derive(Debug, Serialize)]
pub struct FacetCountBody {
    pub value: String,
    pub count: u64,
}

/// A price band: `min_minor <= price < max_minor`, `max_minor` null on the top band.
#[derive(Debug, Serialize)]
pub struct PriceBucketBody {
    pub currency: Currency,
    pub min_minor: i64,
    pub max_minor: Option<i64>,
    pub count: u64,
}

impl From<FacetCount> for FacetCountBody {
    fn from(count: FacetCount) -> Self {
        FacetCountBody {
            value: count.value,
            count: count.count,
        }
    }
}

impl From<PriceBucket> for PriceBucketBody {
    fn from(bucket: PriceBucket) -> Self {
        PriceBucketBody {
            currency: bucket.currency,
            min_minor: bucket.min_minor,
            max_minor: bucket.max_minor,
            count: bucket.count,
        }
    }
}

impl From<Facets> for FacetsBody {
    fn from(mut facets: Facets) -> Self {
        FacetsBody {
            category: facets.categories.into_iter().map(Into::into).collect(),
            attributes: FilterAttribute::FACETED
                .into_iter()
                .map(|attribute| {
                    let counts = facets.attributes.remove(&attribute).unwrap_or_default();
                    (
                        attribute.name(),
                        counts.into_iter().map(Into::into).collect(),
                    )
                })
                .collect(),
            price: facets.prices.into_iter().map(Into::into).collect(),
        }
    }
}

// ANCHOR: search_handler
/// `GET /products/search?q=&category=&brand=&colour=&material=&size=&currency=&price_min=
/// &price_max=&in_stock=&sort=&cursor=&limit=`: one page, the total, the facets and the next
/// cursor. Every invalid parameter is listed in the 400's `errors`.
pub async fn search(
    State(state): State<AppState>,
    Query(params): Query<SearchParams>,
) -> Result<Json<SearchBody>, ApiError> {
    let search = ProductSearch::try_from(params)?;
    let page = (state.catalog_read(|repo| Box::pin(repo.search(&search)))).await?;
    Ok(Json(SearchBody::new(search.sort(), page)))
}
// ANCHOR_END: search_handler

impl SearchBody {
    fn new(sort: SearchSort, page: SearchPage) -> Self {
        SearchBody {
            products: page.products.into_iter().map(ProductBody::from).collect(),
            total: page.total,
            sort,
            next_cursor: page.next.as_ref().map(Cursor::encode),
            facets: page.facets.into(),
        }
    }
}
