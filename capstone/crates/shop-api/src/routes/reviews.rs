//! Reviews, served from MongoDB: the part of the shop that may be down while the rest is up.
//!
//! Both endpoints first ask PostgreSQL whether the product exists (404 otherwise), then
//! MongoDB. When MongoDB does not answer within the client's server-selection timeout, the
//! review store reports it as unreachable and [`ApiError`] renders a 503 problem with a
//! `Retry-After` header: graceful degradation, not a crash and not a hang.

use axum::Json;
use axum::extract::State;
use serde::{Deserialize, Serialize};
use shop_db::PageSize;
use shop_db::reviews::{RatingSummary, Review};
use shop_domain::{ProductId, UserId};
use time::OffsetDateTime;

use crate::error::ApiError;
use crate::extract::{Path, Query};
use crate::state::AppState;

/// `?limit=<1..=100>`: how many of the newest reviews to return.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReviewParams {
    #[serde(default)]
    pub limit: PageSize,
}

#[derive(Debug, Serialize)]
pub struct ReviewsBody {
    pub reviews: Vec<ReviewBody>,
}

#[derive(Debug, Serialize)]
pub struct ReviewBody {
    /// MongoDB's ObjectId, as 24 hex digits.
    pub id: String,
    pub author: AuthorBody,
    /// 1 to 5 stars.
    pub rating: u8,
    pub title: String,
    pub body: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub helpful_votes: u32,
}

#[derive(Debug, Serialize)]
pub struct AuthorBody {
    pub user_id: UserId,
    pub display_name: String,
}

impl TryFrom<Review> for ReviewBody {
    type Error = ApiError;

    fn try_from(review: Review) -> Result<Self, Self::Error> {
        // A BSON date spans far more years than `OffsetDateTime`; one outside its range is bad
        // data, a server-side problem.
        let nanos = i128::from(review.created_at.timestamp_millis()) * 1_000_000;
        let created_at = OffsetDateTime::from_unix_timestamp_nanos(nanos)
            .map_err(|e| ApiError::Internal(e.into()))?;
        Ok(ReviewBody {
            id: review.id.to_hex(),
            author: AuthorBody {
                user_id: review.author.user_id,
                display_name: review.author.display_name,
            },
            rating: review.rating.stars(),
            title: review.title,
            body: review.body,
            created_at,
            helpful_votes: review.helpful_votes.unwrap_or(0),
        })
    }
}

#[derive(Debug, Serialize)]
pub struct RatingBody {
    pub product_id: ProductId,
    pub count: u64,
    /// The mean rating, `null` when nobody has reviewed the product yet.
    pub average: Option<f64>,
    /// Reviews with 1, 2, 3, 4 and 5 stars.
    pub histogram: [u64; 5],
}

impl From<RatingSummary> for RatingBody {
    fn from(summary: RatingSummary) -> Self {
        RatingBody {
            product_id: summary.product_id,
            count: summary.count,
            // "0.0 stars" would read as "terrible"; no reviews means no average.
            average: (summary.count > 0).then_some(summary.average),
            histogram: summary.histogram,
        }
    }
}

/// 404 unless the product exists in PostgreSQL.
async fn ensure_product(state: &AppState, id: ProductId) -> Result<(), ApiError> {
    match state.products.get(id).await? {
        Some(_) => Ok(()),
        None => Err(ApiError::not_found("product", id)),
    }
}

/// `GET /products/{id}/reviews?limit=`: the newest reviews first.
pub async fn list(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
    Query(params): Query<ReviewParams>,
) -> Result<Json<ReviewsBody>, ApiError> {
    ensure_product(&state, id).await?;
    let reviews = state
        .reviews
        .list_for_product(id, params.limit.get())
        .await?;
    let reviews = reviews
        .into_iter()
        .map(ReviewBody::try_from)
        .collect::<Result<_, _>>()?;
    Ok(Json(ReviewsBody { reviews }))
}

/// `GET /products/{id}/rating`: count, average and histogram, computed by an aggregation
/// pipeline in MongoDB.
pub async fn rating(
    State(state): State<AppState>,
    Path(id): Path<ProductId>,
) -> Result<Json<RatingBody>, ApiError> {
    ensure_product(&state, id).await?;
    let summary = state.reviews.rating_summary(id).await?;
    Ok(Json(summary.into()))
}
