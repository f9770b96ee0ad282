//! The API's errors as RFC 9457 problem documents, with the status codes authentication uses.
//!
//! What this module shows: 401 and 403 mean different things. 401 Unauthorized is "I do not
//! know who you are" (no credentials, or bad ones) and carries a `WWW-Authenticate` challenge
//! (RFC 9110 §11.6.1; RFC 6750 §3 defines `error="invalid_token"` for bearer tokens). 403
//! Forbidden is "I know who you are, and you may not". 404 is what a caller gets for an object
//! it may not know exists. And the details stay vague where precision would help an attacker:
//! a refused token says *that* it was refused; the precise reason goes to the log. The
//! document is shop-http's [`Problem`], the one lesson 03 teaches and every service of the
//! course renders; this module keeps what is lesson 04's own, which error means which status.
//!
//! Run the tests with `cargo test -p lesson-04 problem`.

use axum::http::header::WWW_AUTHENTICATE;
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use shop_http::Problem;
use thiserror::Error;

use crate::accounts::AuthError;
use crate::api_keys::ApiKeyError;

// ANCHOR: api_error
/// Everything a request can fail with, in HTTP's terms.
#[derive(Debug, Error)]
pub enum ApiError {
    /// 401: missing or bad credentials. `detail` is safe to show; `cause` is for the log.
    #[error("{detail}")]
    Unauthenticated { detail: String, cause: String },
    /// 403: authenticated, not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: no such thing, or none the caller may know about.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    BadRequest(String),
    /// 500: logged with its cause, never described to the client.
    #[error("internal error")]
    Internal(String),
}
// ANCHOR_END: api_error

impl ApiError {
    pub fn unauthenticated(detail: &str, cause: impl ToString) -> Self {
        ApiError::Unauthenticated {
            detail: detail.to_owned(),
            cause: cause.to_string(),
        }
    }

    fn status(&self) -> StatusCode {
        match self {
            ApiError::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Invalid(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let detail = match &self {
            ApiError::Internal(cause) => {
                tracing::error!(%cause, "request failed");
                None
            }
            ApiError::Unauthenticated { cause, .. } => {
                // Why exactly a credential was refused is for the operator, not the caller.
                tracing::info!(%cause, "credentials refused");
                Some(self.to_string())
            }
            other => Some(other.to_string()),
        };
        // `about:blank`: the status code is the kind of problem, `detail` says what happened.
        let problem = Problem::for_status(status);
        let problem = match detail {
            Some(detail) => problem.with_detail(detail),
            None => problem,
        };
        let mut response = problem.into_response();
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"Bearer realm="lesson-04", error="invalid_token""#),
            );
        }
        response
    }
}

// ANCHOR: from_auth_error
impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => {
                ApiError::unauthenticated("the email or the password is wrong", &error)
            }
            AuthError::Token(cause) => ApiError::unauthenticated("invalid access token", cause),
            AuthError::SessionEnded => {
                ApiError::unauthenticated("the session has ended; log in again", &error)
            }
            AuthError::Refresh(cause) => ApiError::unauthenticated("invalid refresh token", cause),
            AuthError::EmailTaken => ApiError::Conflict(error.to_string()),
            AuthError::InvalidField { .. } => ApiError::Invalid(error.to_string()),
            AuthError::Hashing(_) | AuthError::Task(_) => ApiError::Internal(error_chain(&error)),
        }
    }
}
// ANCHOR_END: from_auth_error

impl From<ApiKeyError> for ApiError {
    fn from(error: ApiKeyError) -> Self {
        match error {
            ApiKeyError::MissingScope(_) => ApiError::Forbidden(error.to_string()),
            other => ApiError::unauthenticated("invalid API key", other),
        }
    }
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;
    use axum::http::header::CONTENT_TYPE;
    use shop_http::PROBLEM_JSON;

    use super::*;
    use crate::tokens::TokenError;

    #[tokio::test]
    async fn a_refused_token_is_a_401_with_a_challenge_and_no_reason() {
        let response = ApiError::from(AuthError::Token(TokenError::WrongAudience)).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(
            response.headers()[WWW_AUTHENTICATE]
                .to_str()
                .unwrap()
                .starts_with("Bearer")
        );
        assert_eq!(response.headers()[CONTENT_TYPE], PROBLEM_JSON);
        let body = to_bytes(response.into_body(), 4096).await.unwrap();
        let problem: Problem = serde_json::from_slice(&body).unwrap();
        assert_eq!(problem.detail.as_deref(), Some("invalid access token"));
    }

    #[test]
    fn a_missing_scope_is_forbidden_not_unauthenticated() {
        let error = ApiError::from(ApiKeyError::MissingScope(
            crate::api_keys::Scope::NotesWrite,
        ));
        assert_eq!(error.status(), StatusCode::FORBIDDEN);
    }
}
