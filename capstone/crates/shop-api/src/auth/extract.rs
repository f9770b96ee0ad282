//! Authentication as an extractor: a handler that takes [`CurrentUser`] or [`RequireRole`]
//! cannot run for a request that fails the check, so no route can forget it.
//!
//! ```ignore
//! async fn me(CurrentUser(who): CurrentUser) -> ...            // any signed-in user
//! async fn create(RequireRole(who, ..): RequireRole<Admin>) -> ... // admins only
//! ```
//!
//! Roles decide what *kind* of thing someone may do. Whether they may touch *this* order or
//! *this* profile (ownership) is checked by the handler against the resource, because only
//! the handler has loaded it.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;
use shop_domain::{Role, UserId};

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
/// `Authorization` header is missing, is not `Bearer <token>`, or the token does not verify.
#[derive(Debug, Clone, Copy)]
pub struct CurrentUser(pub Principal);

impl FromRequestParts<AppState> for CurrentUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer_token(parts).ok_or(ApiError::Unauthenticated)?;
        let claims = state.tokens.verify_access(token).map_err(|error| {
            // Worth a line at debug level: a burst of these is someone probing.
            tracing::debug!(%error, "access token refused");
            ApiError::Unauthenticated
        })?;
        Ok(CurrentUser(Principal {
            user_id: claims.user_id(),
            role: claims.role,
        }))
    }
}
// ANCHOR_END: current_user

/// The token of `Authorization: Bearer <token>`; the scheme is case-insensitive (RFC 9110).
fn bearer_token(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token.trim())
}

// ANCHOR: require_role
/// Which roles a [`RequireRole`] lets through. A type, not a value, so the requirement is
/// visible in the handler's signature.
pub trait RoleRequirement {
    /// Says what is required, for the 403's detail.
    const DESCRIPTION: &'static str;
    fn allows(role: Role) -> bool;
}

/// Admins only.
#[derive(Debug)]
pub enum Admin {}

impl RoleRequirement for Admin {
    const DESCRIPTION: &'static str = "This needs the admin role.";
    fn allows(role: Role) -> bool {
        role == Role::Admin
    }
}

/// Support staff and admins.
#[derive(Debug)]
pub enum Staff {}

impl RoleRequirement for Staff {
    const DESCRIPTION: &'static str = "This needs the support or admin role.";
    fn allows(role: Role) -> bool {
        matches!(role, Role::Support | Role::Admin)
    }
}

/// An authenticated user whose role satisfies `R`: 401 without valid credentials, 403 with
/// the wrong role.
#[derive(Debug)]
pub struct RequireRole<R: RoleRequirement>(pub Principal, PhantomData<R>);

impl<R: RoleRequirement> FromRequestParts<AppState> for RequireRole<R> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let CurrentUser(principal) = CurrentUser::from_request_parts(parts, state).await?;
        if !R::allows(principal.role) {
            tracing::info!(user = %principal.user_id, role = %principal.role, "forbidden");
            return Err(ApiError::Forbidden {
                detail: R::DESCRIPTION.to_owned(),
            });
        }
        Ok(RequireRole(principal, PhantomData))
    }
}
// ANCHOR_END: require_role
