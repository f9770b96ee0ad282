//! User administration (book chapter 04): admins list accounts and change roles, support
//! staff look one account up.
//!
//! | method and path | permission | held by |
//! | --- | --- | --- |
//! | `GET /admin/users?after=&limit=` | `users:list` | admin |
//! | `GET /admin/users/{id}` | `users:read` | support, admin |
//! | `PATCH /admin/users/{id}/role` | `roles:assign` | admin |
//!
//! The permission is in each handler's signature (`RequirePermission<perm::UsersList>`), so a
//! handler cannot forget it; without it the answer is 403, without credentials 401. Which
//! roles hold it is decided in one place, `auth::permissions`.

use axum::extract::State;
use axum::routing::{get, patch};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use shop_domain::{Role, UserId};

use super::accounts::ProfileBody;
use crate::auth::{RequirePermission, perm};
use crate::error::ApiError;
use crate::extract::{Json as JsonBody, Path, Query};
use crate::security::headers::no_store;
use crate::state::AppState;

/// The most users one page lists.
const MAX_PAGE: u32 = 100;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/admin/users", get(list))
        .route("/admin/users/{id}", get(show))
        .route("/admin/users/{id}/role", patch(set_role))
        .layer(no_store())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    pub after: Option<UserId>,
    pub limit: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct UsersBody {
    pub users: Vec<ProfileBody>,
    /// Pass as `?after=` for the next page; `null` on the last.
    pub next_after: Option<UserId>,
}

/// `GET /admin/users`: live accounts in sign-up order.
async fn list(
    State(state): State<AppState>,
    _caller: RequirePermission<perm::UsersList>,
    Query(params): Query<ListParams>,
) -> Result<Json<UsersBody>, ApiError> {
    let limit = params.limit.unwrap_or(20);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(ApiError::InvalidRequest {
            detail: format!("limit must be between 1 and {MAX_PAGE}"),
        });
    }
    let users = state.accounts.users.list(params.after, limit).await?;
    let next_after = (users.len() == limit as usize)
        .then(|| users.last().map(|u| u.id))
        .flatten();
    Ok(Json(UsersBody {
        users: users.into_iter().map(ProfileBody::from).collect(),
        next_after,
    }))
}

/// `GET /admin/users/{id}`: one account, for support staff helping its owner.
async fn show(
    State(state): State<AppState>,
    _caller: RequirePermission<perm::UsersRead>,
    Path(id): Path<UserId>,
) -> Result<Json<ProfileBody>, ApiError> {
    let user = state
        .accounts
        .users
        .get(id)
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    Ok(Json(user.into()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetRoleRequest {
    pub role: Role,
}

// ANCHOR: set_role
/// `PATCH /admin/users/{id}/role`: the account with its new role. The change applies to the
/// user's very next request: the access-token check reads the role from the database, or from
/// a memory every instance is told to forget here (chapter 09).
async fn set_role(
    State(state): State<AppState>,
    caller: RequirePermission<perm::RolesAssign>,
    Path(id): Path<UserId>,
    JsonBody(body): JsonBody<SetRoleRequest>,
) -> Result<Json<ProfileBody>, ApiError> {
    let user = state
        .accounts
        .users
        .set_role(id, body.role)
        .await?
        .ok_or_else(|| ApiError::not_found("user", id))?;
    state.accounts.session_check.forget_user(id).await;
    tracing::info!(by = %caller.0.user_id, user.id = %id, role = %body.role, "role changed");
    Ok(Json(user.into()))
}
// ANCHOR_END: set_role
