//! Authentication as an extractor: a handler that takes [`CurrentUser`] or
//! [`RequirePermission`] cannot run for a request that fails the check, so no route can forget
//! it.
//!
//! ```
//! use shop_api::auth::{CurrentUser, RequirePermission, perm};
//!
//! // Any signed-in user.
//! async fn me(CurrentUser(who): CurrentUser) -> String {
//!     who.user_id.to_string()
//! }
//!
//! // Whoever holds `catalog:write`: a customer gets 403 before this body runs.
//! async fn create(editor: RequirePermission<perm::CatalogWrite>) -> String {
//!     editor.0.user_id.to_string()
//! }
//! ```
//!
//! Permissions decide what *kind* of thing someone may do; which roles hold which is one table
//! ([`super::permissions`]). Whether they may touch *this* order or *this* profile (ownership)
//! is checked against the resource, by the query that loads it.
//!
//! A valid signature is not the end of the check: [`SignedIn`] also asks PostgreSQL whether
//! the token's session is still live and the account not erased, and takes the role from the
//! database, not from the token. One primary-key lookup per request buys what a bare JWT
//! cannot do: logout, a detected refresh-token theft, a password change, an erasure and a
//! demotion all take effect on the very next request instead of when the token expires.
//!
//! Integrations authenticate with an API key instead ([`ApiKeyAuth`], header `X-API-Key`),
//! limited to the scopes the key was given.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use shop_db::Scope;
use shop_domain::{Role, UserId};
use uuid::Uuid;

use super::permissions::{self, RequiredPermission};
use crate::error::ApiError;
use crate::state::AppState;

/// Who is asking: the user and the role their credential carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    pub user_id: UserId,
    pub role: Role,
}

// ANCHOR: current_user
/// Any authenticated user. Rejects with 401 (and `WWW-Authenticate: Bearer`) when the
/// `Authorization` header is missing, is not `Bearer <token>`, the token does not verify, or
/// its session or account has ended.
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser(pub Principal);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let SignedIn { principal, .. } = SignedIn::from_request_parts(parts, state).await?;
        Ok(CurrentUser(principal))
    }
}

/// [`CurrentUser`] plus the session the token belongs to, for the handlers that act on the
/// session itself (a password change keeps the current session and ends the others).
#[derive(Debug, Clone, Copy)]
pub struct SignedIn {
    pub principal: Principal,
    pub session: Option<Uuid>,
}

impl FromRequestParts<AppState> for SignedIn {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthenticated)?;
        let claims = state.tokens.verify_access(token).map_err(|error| {
            // Worth a line at debug level: a burst of these is someone probing.
            tracing::debug!(%error, "access token refused");
            ApiError::Unauthenticated
        })?;
        let user_id = claims.user_id();
        let accounts = &state.accounts;
        // The signature says who the token was for; the database says whether that still
        // holds, and with which role.
        // Remembered for a few seconds, and forgotten on every instance when a session ends
        // or a role changes (chapter 09).
        let role = accounts
            .session_check
            .role(user_id, claims.sid, &accounts.sessions, &accounts.users)
            .await?;
        let Some(role) = role else {
            tracing::debug!(user.id = %user_id, "access token of an ended session or account");
            return Err(ApiError::Unauthenticated);
        };
        // Every later line of this request names its user (chapter 07): the request span
        // declared the field empty, and now it has a value.
        tracing::Span::current().record("user_id", tracing::field::display(user_id));
        Ok(SignedIn {
            principal: Principal { user_id, role },
            session: claims.sid,
        })
    }
}
// ANCHOR_END: current_user

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.trim())
}

// ANCHOR: require_permission
/// An authenticated user whose role holds the permission `P`: 401 without valid credentials,
/// 403 without the permission. The role is the one [`CurrentUser`] read from the database, so
/// a demotion takes effect on the next request.
#[derive(Debug)]
pub struct RequirePermission<P: RequiredPermission>(pub Principal, PhantomData<P>);

impl<P: RequiredPermission> FromRequestParts<AppState> for RequirePermission<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(principal) = CurrentUser::from_request_parts(parts, state).await?;
        if !permissions::allows(principal.role, P::PERMISSION) {
            tracing::info!(
                user = %principal.user_id,
                role = %principal.role,
                permission = %P::PERMISSION,
                "forbidden"
            );
            return Err(ApiError::Forbidden {
                detail: format!("This needs the `{}` permission.", P::PERMISSION),
            });
        }
        Ok(RequirePermission(principal, PhantomData))
    }
}
// ANCHOR_END: require_permission

// ANCHOR: api_key_auth
/// Which scope an [`ApiKeyAuth`] requires; a type, like [`RequiredPermission`].
pub trait ScopeRequirement {
    const SCOPE: Scope;
}

/// Reading the key owner's orders.
#[derive(Debug)]
pub enum OrdersRead {}

impl ScopeRequirement for OrdersRead {
    const SCOPE: Scope = Scope::OrdersRead;
}

/// Reading the catalog.
#[derive(Debug)]
pub enum CatalogRead {}

impl ScopeRequirement for CatalogRead {
    const SCOPE: Scope = Scope::CatalogRead;
}

/// An integration authenticated by the `X-API-Key` header, whose key carries scope `S`: 401
/// for a missing, unknown or revoked key (one answer for all three), 403 for a good key
/// without the scope. The principal is the key's owner, with their current role.
#[derive(Debug)]
pub struct ApiKeyAuth<S: ScopeRequirement> {
    pub owner: Principal,
    pub key_id: Uuid,
    _scope: PhantomData<S>,
}

/// The header integrations send their key in. A header of its own, not `Authorization:
/// Bearer`, so a key can never be mistaken for an access token or the other way round.
pub const API_KEY_HEADER: &str = "x-api-key";

impl<S: ScopeRequirement> FromRequestParts<AppState> for ApiKeyAuth<S> {
    type Rejection = ApiKeyRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, ApiKeyRejection> {
        let presented = parts
            .headers
            .get(API_KEY_HEADER)
            .and_then(|value| value.to_str().ok())
            .ok_or(BAD_API_KEY)?;
        let found = state
            .accounts
            .check_api_key(presented.trim())
            .await
            .map_err(ApiError::from)?
            .ok_or(BAD_API_KEY)?;
        if !found.key.scopes.contains(&S::SCOPE) {
            return Err(ApiError::Forbidden {
                detail: format!("This API key lacks the `{}` scope.", S::SCOPE),
            }
            .into());
        }
        Ok(ApiKeyAuth {
            owner: Principal {
                user_id: found.key.user_id,
                role: found.owner_role,
            },
            key_id: found.key.id,
            _scope: PhantomData,
        })
    }
}

/// The one answer for a missing, unknown or revoked key.
const BAD_API_KEY: ApiKeyRejection = ApiKeyRejection(ApiError::InvalidCredentials {
    detail: "Send a valid API key in the `X-API-Key` header; this one is missing, unknown or revoked.",
});

/// An [`ApiError`] whose 401 names the API-key header as its challenge. RFC 9110 wants a 401 to
/// say which scheme would work, and the default `Bearer` would send an integration looking for
/// an access token. No scheme for API keys is registered, so this one is ours.
#[derive(Debug)]
pub struct ApiKeyRejection(ApiError);

impl From<ApiError> for ApiKeyRejection {
    fn from(error: ApiError) -> Self {
        ApiKeyRejection(error)
    }
}

impl IntoResponse for ApiKeyRejection {
    fn into_response(self) -> Response {
        let mut response = self.0.into_response();
        if response.status() == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(r#"ApiKey header="X-API-Key""#),
            );
        }
        response
    }
}
// ANCHOR_END: api_key_auth
