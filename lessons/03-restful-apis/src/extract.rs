//! Custom extractors: how a handler's arguments are made from the request.
//!
//! What this module shows: the two extractor traits. [`ApiJson`] implements `FromRequest`
//! (it consumes the body) by delegating to axum's `Json` and translating its rejection into our
//! [`ApiError`], so a bad body gets a problem document instead of axum's plain text.
//! [`Pagination`] implements `FromRequestParts` (it needs only the URI, so it can run in any
//! order with other extractors) and checks its parameters: a handler that receives a
//! `Pagination` knows the limit is in range.
//!
//! [`ApiPath`] and [`ApiQuery`] show the shortcut for the common case, "axum's extractor with
//! our rejection": `#[derive(FromRequestParts)]` writes the impl.
//!
//! Run the tests with `cargo test -p lesson-03 extract`.

use axum::Json;
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use shop_domain::ProductId;
use shop_http::FieldError;

use crate::problem::ApiError;

// ANCHOR: api_json
/// `Json<T>` whose rejections are problem documents, and which responds as JSON too.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        // `?` converts axum's `JsonRejection` with `From<JsonRejection> for ApiError`.
        let Json(value) = Json::<T>::from_request(request, state).await?;
        Ok(ApiJson(value))
    }
}

impl<T: serde::Serialize> IntoResponse for ApiJson<T> {
    fn into_response(self) -> Response {
        Json(self.0).into_response()
    }
}
// ANCHOR_END: api_json

// ANCHOR: derived
/// `Path<T>` whose rejection is an [`ApiError`] (via `From<PathRejection>`).
#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

/// `Query<T>` whose rejection is an [`ApiError`] (via `From<QueryRejection>`).
#[derive(Debug, FromRequestParts)]
#[from_request(via(Query), rejection(ApiError))]
pub struct ApiQuery<T>(pub T);
// ANCHOR_END: derived

// ANCHOR: pagination
/// `?limit=20&after=<product id>`, checked: a keyset page request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pagination {
    pub limit: usize,
    pub after: Option<ProductId>,
}

impl Pagination {
    pub const DEFAULT_LIMIT: usize = 20;
    pub const MAX_LIMIT: usize = 100;
}

/// The raw parameters, as strings, so that a bad value becomes a sentence naming the parameter
/// rather than serde's message about the first field it tripped on.
#[derive(Debug, Deserialize)]
struct RawPagination {
    limit: Option<String>,
    after: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Pagination {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Query(raw) = Query::<RawPagination>::from_request_parts(parts, state).await?;
        let limit = match raw.limit.as_deref().map(str::parse::<usize>) {
            None => Ok(Self::DEFAULT_LIMIT),
            Some(Ok(limit)) if (1..=Self::MAX_LIMIT).contains(&limit) => Ok(limit),
            Some(_) => Err(FieldError::parameter(
                "limit",
                format!(
                    "must be a whole number from 1 to {}, got `{}`",
                    Self::MAX_LIMIT,
                    raw.limit.as_deref().unwrap_or_default()
                ),
            )),
        };
        let after = raw
            .after
            .as_deref()
            .map(str::parse::<ProductId>)
            .transpose()
            .map_err(|error| FieldError::parameter("after", error.to_string()));
        match (limit, after) {
            (Ok(limit), Ok(after)) => Ok(Pagination { limit, after }),
            (limit, after) => Err(ApiError::InvalidQuery(
                [limit.err(), after.err()].into_iter().flatten().collect(),
            )),
        }
    }
}
// ANCHOR_END: pagination

#[cfg(test)]
mod tests {
    use axum::http::Request;
    use shop_http::Location;

    use super::*;

    async fn pagination(uri: &str) -> Result<Pagination, ApiError> {
        let (mut parts, ()) = Request::get(uri).body(()).unwrap().into_parts();
        Pagination::from_request_parts(&mut parts, &()).await
    }

    #[tokio::test]
    async fn defaults_apply_when_parameters_are_absent() {
        let page = pagination("/products").await.unwrap();
        assert_eq!(page.limit, Pagination::DEFAULT_LIMIT);
        assert_eq!(page.after, None);
    }

    #[tokio::test]
    async fn every_bad_parameter_is_named() {
        let Err(ApiError::InvalidQuery(errors)) =
            pagination("/products?limit=0&after=not-an-id").await
        else {
            panic!("expected InvalidQuery");
        };
        let places: Vec<&Location> = errors.iter().map(|error| &error.location).collect();
        assert_eq!(
            places,
            [
                &Location::Parameter("limit".into()),
                &Location::Parameter("after".into())
            ]
        );
        assert!(errors[0].detail.contains("got `0`"), "{}", errors[0].detail);
    }

    #[tokio::test]
    async fn a_valid_page_request_is_parsed() {
        let id = ProductId::generate();
        let page = pagination(&format!("/products?limit=100&after={id}"))
            .await
            .unwrap();
        assert_eq!(
            page,
            Pagination {
                limit: 100,
                after: Some(id)
            }
        );
        assert!(pagination("/products?limit=101").await.is_err());
    }
}
