//! Extractors whose rejections are [`ApiError`]s, so bad input is answered in problem+json,
//! and whose text is checked before any of it can reach PostgreSQL.
//!
//! axum's own `Path` and `Query` reject with a plain-text body. These wrappers reuse their
//! parsing and swap only the rejection type; handlers use them exactly like the originals
//! (`Path(id): Path<ProductId>`, `Json(body): Json<T>`).
//!
//! `Path` and `Query` also refuse a value that PostgreSQL's `text` cannot hold ([`sql_text`]),
//! before the value is even parsed: `GET /categories/%00/products` is a 400 naming `slug`, not a
//! 500 from the database refusing the query. Checking here, once, covers every route that takes
//! a path segment or a query parameter, including the ones written next year.

use axum::extract::{FromRequest, FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;
use shop_http::{FieldError, FieldErrors};

use crate::error::ApiError;

// ANCHOR: sql_text
/// Checks that `value` fits in a PostgreSQL `text` value. A Rust `String` is always valid
/// UTF-8, and PostgreSQL stores every Unicode scalar value but one: NUL (U+0000), which its C
/// strings end on. A NUL in a bind parameter makes PostgreSQL refuse the whole statement
/// (SQLSTATE 22021), which would reach the client as a 500.
pub fn sql_text(value: &str) -> Result<&str, &'static str> {
    if value.contains('\0') {
        Err("must not contain a NUL character (%00)")
    } else {
        Ok(value)
    }
}

/// Every `(name, value)` pair whose value fails [`sql_text`], as errors naming the (query or
/// path) parameter.
fn unstorable<'a>(params: impl IntoIterator<Item = (&'a str, &'a str)>) -> Vec<FieldError> {
    let mut errors = FieldErrors::new();
    for (name, value) in params {
        errors.check_parameter(name, sql_text(value));
    }
    errors.into_vec()
}
// ANCHOR_END: sql_text

/// `axum::extract::Path`, rejecting with [`ApiError`]: a value with a NUL is a 400 naming the
/// segment ([`ApiError::InvalidPath`]), one that does not parse an [`ApiError::InvalidRequest`].
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        // The raw parameters are the percent-decoded segments. When there are none to read
        // (invalid UTF-8, a route without parameters), axum's `Path` below says why.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await {
            let errors = unstorable(&raw);
            if !errors.is_empty() {
                return Err(ApiError::InvalidPath { errors });
            }
        }
        let axum::extract::Path(value) = axum::extract::Path::from_request_parts(parts, state)
            .await
            .map_err(ApiError::from)?;
        Ok(Path(value))
    }
}

/// `axum::extract::Query`, rejecting with [`ApiError`]: a value with a NUL is a 400 naming the
/// parameter ([`ApiError::InvalidQuery`]), one that does not parse an
/// [`ApiError::InvalidRequest`].
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        // Decoded as plain pairs first, which cannot fail: every parameter, known or not.
        if let Ok(axum::extract::Query(pairs)) =
            axum::extract::Query::<Vec<(String, String)>>::try_from_uri(&parts.uri)
        {
            let errors = unstorable(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
            if !errors.is_empty() {
                return Err(ApiError::InvalidQuery { errors });
            }
        }
        let axum::extract::Query(value) =
            axum::extract::Query::try_from_uri(&parts.uri).map_err(ApiError::from)?;
        Ok(Query(value))
    }
}

/// `axum::Json` as a request body, rejecting with [`ApiError`]: a malformed or mistyped body is
/// a 400 problem, an oversized one a 413. (Responses use `axum::Json` directly.)
#[derive(Debug, FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Json<T>(pub T);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_nul_is_refused() {
        assert!(sql_text("a\0b").is_err());
        assert_eq!(
            sql_text("ünïcödé, emoji 🦀, \u{1} and \u{7f}"),
            Ok("ünïcödé, emoji 🦀, \u{1} and \u{7f}")
        );
        let errors = unstorable([("slug", "ok"), ("q", "\0"), ("brand", "x\0")]);
        let nul = "must not contain a NUL character (%00)";
        assert_eq!(
            errors,
            [
                FieldError::parameter("q", nul),
                FieldError::parameter("brand", nul)
            ]
        );
    }
}
