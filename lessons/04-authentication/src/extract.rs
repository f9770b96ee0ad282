//! Authentication and authorization as extractors.
//!
//! What this module shows: a handler that takes an [`AuthUser`] argument cannot run for an
//! anonymous request, because axum must build the argument first and the extractor refuses.
//! There is no middleware to forget to mount on a new route: the requirement is in the
//! handler's signature, where a reviewer reads it. [`Require<P>`] adds a permission, named by a
//! type (`Require<perm::ListUsers>`), and [`Scoped<S>`] does the same for API keys and scopes.
//!
//! Run the tests with `cargo test -p lesson-04 --test api`.

use std::marker::PhantomData;

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::accounts::AuthUser;
use crate::api::AppState;
use crate::api_keys::{KeyPrincipal, RequiredScope};
use crate::problem::ApiError;
use crate::rbac::RequiredPermission;
use crate::tokens::unix_now;

/// The credentials of `Authorization: Bearer <credentials>`. The scheme is case-insensitive
/// (RFC 9110 §11.1); anything else is no credentials at all.
fn bearer(parts: &Parts) -> Result<&str, ApiError> {
    let missing = || ApiError::unauthenticated("send `Authorization: Bearer <token>`", "no bearer");
    let value = parts
        .headers
        .get(AUTHORIZATION)
        .ok_or_else(missing)?
        .to_str()
        .map_err(|_| missing())?;
    match value.split_once(' ') {
        Some((scheme, credentials)) if scheme.eq_ignore_ascii_case("bearer") => {
            Ok(credentials.trim())
        }
        _ => Err(missing()),
    }
}

// ANCHOR: auth_user
impl FromRequestParts<AppState> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let token = bearer(parts)?;
        Ok(state.accounts.authenticate(token)?)
    }
}
// ANCHOR_END: auth_user

// ANCHOR: require
/// An authenticated caller whose role grants `P`; 403 otherwise.
#[derive(Debug)]
pub struct Require<P>(pub AuthUser, PhantomData<P>);

impl<P: RequiredPermission> FromRequestParts<AppState> for Require<P> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = AuthUser::from_request_parts(parts, state).await?;
        if user.role.can(P::PERMISSION) {
            Ok(Require(user, PhantomData))
        } else {
            Err(ApiError::Forbidden(format!(
                "the {} role lacks the {:?} permission",
                user.role,
                P::PERMISSION
            )))
        }
    }
}
// ANCHOR_END: require

/// A caller authenticated by an API key that has scope `S`.
#[derive(Debug)]
pub struct Scoped<S>(pub KeyPrincipal, PhantomData<S>);

impl<S: RequiredScope> FromRequestParts<AppState> for Scoped<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let key = bearer(parts)?;
        let principal = state.api_keys.verify(key, S::SCOPE, unix_now())?;
        Ok(Scoped(principal, PhantomData))
    }
}
