//! Extractors whose rejections are [`ApiError`]s, so bad input is answered in problem+json.
//!
//! axum's own `Path` and `Query` reject with a plain-text body. Deriving `FromRequestParts`
//! with `via(...)` reuses their parsing and swaps only the rejection type; handlers use these
//! wrappers exactly like the originals (`Path(id): Path<ProductId>`, `Json(body): Json<T>`).

use axum::extract::{FromRequest, FromRequestParts};

use crate::error::ApiError;

/// `axum::extract::Path`, rejecting with [`ApiError::InvalidRequest`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Path), rejection(ApiError))]
pub struct Path<T>(pub T);

/// `axum::extract::Query`, rejecting with [`ApiError::InvalidRequest`].
#[derive(Debug, FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Query<T>(pub T);

/// `axum::Json` as a request body, rejecting with [`ApiError`]: a malformed or mistyped body is
/// a 400 problem, an oversized one a 413. (Responses use `axum::Json` directly.)
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);
