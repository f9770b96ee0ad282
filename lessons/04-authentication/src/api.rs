//! The routes: accounts, a protected and an admin route, owned notes, API keys, integrations.
//!
//! What this module shows: where each check lives. Authentication and role checks are in the
//! handlers' signatures (extractors); ownership is checked in the handler body, because only
//! the loaded note knows its owner. Every handler is a few lines; the rules are in
//! [`crate::accounts`], [`crate::rbac`] and [`crate::api_keys`].
//!
//! | method and path               | who may call                    |
//! |-------------------------------|---------------------------------|
//! | `POST /auth/register`         | anyone                          |
//! | `POST /auth/login`            | anyone                          |
//! | `POST /auth/refresh`          | a holder of a refresh token     |
//! | `POST /auth/logout`           | an authenticated user           |
//! | `GET /me`                     | an authenticated user           |
//! | `GET /admin/users`            | a role with `ListUsers`         |
//! | `POST /notes`                 | an authenticated user           |
//! | `GET, DELETE /notes/{id}`     | the owner, or a role that may   |
//! | `POST /api-keys`              | an authenticated user           |
//! | `POST /api-keys/{id}/rotate`  | the key's owner                 |
//! | `GET /integrations/notes`     | an API key with `notes:read`    |
//! | `POST /integrations/notes`    | an API key with `notes:write`   |
//!
//! Run the tests with `cargo test -p lesson-04 --test api`.

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::accounts::{Accounts, AuthUser, TokenPair};
use crate::api_keys::{ApiKeys, KeyId, Scope, scope};
use crate::config::AuthConfig;
use crate::extract::{Require, Scoped};
use crate::password::{Password, PasswordError};
use crate::problem::ApiError;
use crate::rbac::{Denied, NoteAction, note_access, perm};
use crate::store::{Note, NoteId, Notes, PublicUser};
use crate::tokens::unix_now;

// ANCHOR: state
/// What every handler may use: cheap handles to shared data and keys. No statics: a test
/// builds as many independent applications as it likes.
#[derive(Debug, Clone)]
pub struct AppState {
    pub accounts: Accounts,
    pub notes: Arc<Notes>,
    pub api_keys: Arc<ApiKeys>,
}
// ANCHOR_END: state

impl AppState {
    pub fn new(config: &AuthConfig) -> Result<Self, PasswordError> {
        Ok(Self {
            accounts: Accounts::new(config)?,
            notes: Arc::default(),
            api_keys: Arc::default(),
        })
    }
}

// ANCHOR: routes
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me))
        .route("/admin/users", get(list_users))
        .route("/notes", post(create_note))
        .route("/notes/{id}", get(read_note).delete(delete_note))
        .route("/api-keys", post(create_api_key))
        .route("/api-keys/{id}/rotate", post(rotate_api_key))
        .route(
            "/integrations/notes",
            get(integration_list).post(integration_create),
        )
        .with_state(state)
}
// ANCHOR_END: routes

/// `Json<T>` whose rejection is a problem document.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let Json(value) = Json::<T>::from_request(request, state)
            .await
            .map_err(|rejection: JsonRejection| ApiError::BadRequest(rejection.body_text()))?;
        Ok(ApiJson(value))
    }
}

/// `Path<T>` whose rejection is a problem document.
#[derive(Debug, FromRequestParts)]
#[from_request(via(Path), rejection(ApiError))]
pub struct ApiPath<T>(pub T);

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// The body of register and login.
#[derive(Debug, Deserialize)]
pub struct Credentials {
    pub email: String,
    pub password: Password,
}

async fn register(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<(StatusCode, Json<PublicUser>), ApiError> {
    let user = state.accounts.register(&body.email, body.password).await?;
    Ok((StatusCode::CREATED, Json(user)))
}

async fn login(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<Credentials>,
) -> Result<Json<TokenPair>, ApiError> {
    let logged_in = state.accounts.login(&body.email, body.password).await?;
    Ok(Json(logged_in.tokens))
}

#[derive(Debug, Deserialize)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

async fn refresh(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<RefreshRequest>,
) -> Result<Json<TokenPair>, ApiError> {
    Ok(Json(state.accounts.refresh(&body.refresh_token)?))
}

async fn logout(State(state): State<AppState>, caller: AuthUser) -> StatusCode {
    state.accounts.logout(&caller);
    StatusCode::NO_CONTENT
}

// ANCHOR: me
async fn me(State(state): State<AppState>, caller: AuthUser) -> Result<Json<PublicUser>, ApiError> {
    let user = state
        .accounts
        .users()
        .get(caller.id)
        .ok_or_else(|| ApiError::NotFound("the account no longer exists".into()))?;
    Ok(Json(PublicUser::from(&user)))
}

async fn list_users(
    State(state): State<AppState>,
    _admin: Require<perm::ListUsers>,
) -> Json<Vec<PublicUser>> {
    Json(state.accounts.users().list())
}
// ANCHOR_END: me

#[derive(Debug, Deserialize, Serialize)]
pub struct NewNote {
    pub text: String,
}

async fn create_note(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<NewNote>,
) -> (StatusCode, Json<Note>) {
    (
        StatusCode::CREATED,
        Json(state.notes.insert(caller.id, body.text)),
    )
}

// ANCHOR: idor
/// Loads a note and applies the ownership rule; "not found" and "hidden" look the same.
fn note_for(
    state: &AppState,
    caller: &AuthUser,
    id: NoteId,
    action: NoteAction,
) -> Result<Note, ApiError> {
    let not_found = || ApiError::NotFound(format!("no note {id}"));
    let note = state.notes.get(id).ok_or_else(not_found)?;
    match note_access(caller.id, caller.role, note.owner, action) {
        Ok(()) => Ok(note),
        Err(Denied::Hidden) => Err(not_found()),
        Err(Denied::Forbidden) => Err(ApiError::Forbidden(format!(
            "the {} role may read this note but not delete it",
            caller.role
        ))),
    }
}

async fn read_note(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<NoteId>,
) -> Result<Json<Note>, ApiError> {
    Ok(Json(note_for(&state, &caller, id, NoteAction::Read)?))
}

async fn delete_note(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<NoteId>,
) -> Result<StatusCode, ApiError> {
    note_for(&state, &caller, id, NoteAction::Delete)?;
    state.notes.remove(id);
    Ok(StatusCode::NO_CONTENT)
}
// ANCHOR_END: idor

#[derive(Debug, Deserialize, Serialize)]
pub struct NewApiKey {
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// The answer to creating or rotating a key: the only time the whole key is ever sent.
#[derive(Debug, Deserialize, Serialize)]
pub struct CreatedApiKey {
    pub id: KeyId,
    pub key: String,
    pub scopes: Vec<Scope>,
}

async fn create_api_key(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiJson(body): ApiJson<NewApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    if body.scopes.is_empty() {
        return Err(ApiError::Invalid(
            "scopes must name at least one scope".into(),
        ));
    }
    let (plain, stored) = state.api_keys.create(caller.id, &body.name, body.scopes);
    let created = CreatedApiKey {
        id: stored.id,
        key: plain.expose().to_owned(),
        scopes: stored.scopes,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

async fn rotate_api_key(
    State(state): State<AppState>,
    caller: AuthUser,
    ApiPath(id): ApiPath<String>,
) -> Result<impl IntoResponse, ApiError> {
    let not_found = || ApiError::NotFound(format!("no API key {id}"));
    let key_id = KeyId::parse(&id).ok_or_else(not_found)?;
    // No grace period here: the demo shows the old key refused at once.
    let (plain, stored) = state
        .api_keys
        .rotate(&key_id, caller.id, unix_now(), 0)
        .ok_or_else(not_found)?;
    let created = CreatedApiKey {
        id: stored.id,
        key: plain.expose().to_owned(),
        scopes: stored.scopes,
    };
    Ok((StatusCode::CREATED, Json(created)))
}

async fn integration_list(
    State(state): State<AppState>,
    key: Scoped<scope::NotesRead>,
) -> Json<Vec<Note>> {
    Json(state.notes.owned_by(key.0.owner))
}

async fn integration_create(
    State(state): State<AppState>,
    key: Scoped<scope::NotesWrite>,
    ApiJson(body): ApiJson<NewNote>,
) -> (StatusCode, Json<Note>) {
    (
        StatusCode::CREATED,
        Json(state.notes.insert(key.0.owner, body.text)),
    )
}
