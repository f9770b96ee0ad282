//! The account endpoints: `/auth/*` to sign up, in and out, `/me/*` for one's own account
//! (book chapters 04 and 06).
//!
//! | method and path | who | does |
//! | --- | --- | --- |
//! | `POST /auth/register` | anyone | 202; mails a token, or the owner of a taken address |
//! | `POST /auth/verify-email` | anyone with the token | proves the address; 204 |
//! | `POST /auth/login` | anyone | access + refresh token; 401 wrong, 429 throttled |
//! | `POST /auth/refresh` | refresh-token holder | rotates: a new pair; reuse ends the session |
//! | `POST /auth/logout` | refresh-token holder | ends the session; 204 |
//! | `GET /me`, `PATCH /me` | signed in | the profile; a new address needs the password |
//! | `POST /me/password` | signed in | needs the current password; ends other sessions |
//! | `GET/POST /me/api-keys`, `DELETE /me/api-keys/{id}` | verified account | keys, shown once |
//! | `GET /me/export` | signed in | everything stored about the user (GDPR art. 15/20) |
//! | `DELETE /me` | signed in + password | erasure (GDPR art. 17) |
//!
//! Bodies are `deny_unknown_fields`: `{"role": "admin"}` in a sign-up or a profile edit is a
//! 400, not a silently ignored (or, worse, honoured) field. Mass assignment stops at the type.
//! Fields that break a rule (an address that is not one, a weak password) are a 422 that
//! names every one of them, as in chapter 05: the values arrive as text, and the account
//! service parses them all before it answers.
//! Every response here is `Cache-Control: no-store`: tokens and personal data must not be
//! kept by a shared cache or the browser's.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shop_db::reviews::Review;
use shop_db::sessions::SessionInfo;
use shop_db::users::OrderRecord;
use shop_db::{ApiKey, User};
use shop_domain::{Email, ProductId, Role, UserId};
use time::OffsetDateTime;
use uuid::Uuid;

use super::cart::CartBody;
use crate::auth::accounts::{AccountError, Export, TokenPair};
use crate::auth::{CurrentUser, ProfileEdit, SignUp, SignedIn};
use crate::error::ApiError;
use crate::extract::{Json as JsonBody, Path};
use crate::security::ClientIp;
use crate::security::headers::no_store;
use crate::state::AppState;
use crate::telemetry::SignIn;

// ANCHOR: routes
/// The account routes, every response `no-store`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/register", post(register))
        .route("/auth/verify-email", post(verify_email))
        .route("/auth/login", post(login))
        .route("/auth/refresh", post(refresh))
        .route("/auth/logout", post(logout))
        .route("/me", get(me).patch(update_me).delete(erase_me))
        .route("/me/password", post(change_password))
        .route("/me/api-keys", get(list_api_keys).post(create_api_key))
        .route("/me/api-keys/{id}", delete(revoke_api_key))
        .route("/me/export", get(export))
        .layer(no_store())
}
// ANCHOR_END: routes

/// An account as its owner (or staff) sees it.
#[derive(Debug, Serialize)]
pub struct ProfileBody {
    pub id: UserId,
    pub email: Email,
    pub display_name: String,
    pub role: Role,
    pub email_verified: bool,
    #[serde(with = "time::serde::rfc3339::option")]
    pub email_verified_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub password_changed_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl From<User> for ProfileBody {
    fn from(user: User) -> Self {
        ProfileBody {
            id: user.id,
            email: user.email,
            display_name: user.display_name.as_str().to_owned(),
            role: user.role,
            email_verified: user.email_verified_at.is_some(),
            email_verified_at: user.email_verified_at,
            password_changed_at: user.password_changed_at,
            created_at: user.created_at,
        }
    }
}

// ANCHOR: register
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// Text, not an [`Email`]: a malformed address is one field error among the others.
    pub email: String,
    pub display_name: String,
    /// Secret from the moment it is parsed: `Debug` prints `[REDACTED]`.
    pub password: SecretString,
}

/// The answer to every valid sign-up, whether the address was new or already had an account:
/// the same status, headers and body, so that it tells nobody which addresses are registered.
#[derive(Debug, Serialize)]
pub struct SignUpBody {
    /// The address the mail went to, as the service read it.
    pub email: Email,
    pub detail: &'static str,
}

/// `POST /auth/register`: 202 and a mail to the address, which holds a verification token for
/// a new account, or tells the owner of a taken address that someone tried; 422 naming every
/// invalid field.
async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let sign_up = SignUp {
        email: body.email,
        display_name: body.display_name,
        password: body.password,
    };
    let email = state.accounts.register(sign_up).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(SignUpBody {
            email,
            detail: "Check your inbox: the mail on its way to this address says how to go on.",
        }),
    ))
}
// ANCHOR_END: register

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifyEmailRequest {
    pub token: SecretString,
}

/// `POST /auth/verify-email`: 204, or 400 for an unknown, used or expired token.
async fn verify_email(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<VerifyEmailRequest>,
) -> Result<StatusCode, ApiError> {
    state.accounts.verify_email(&body.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    /// A string, not an [`Email`]: a malformed address is a failed sign-in like any other,
    /// counted by the throttle, not a 400 that skips it.
    pub email: String,
    pub password: SecretString,
    /// The `cart_id` of a guest cart (`POST /guest-cart`) to move into the account's cart.
    #[serde(default)]
    pub guest_cart: Option<String>,
}

/// The OAuth 2.0 token response's shape (RFC 6749 section 5.1), which clients know.
#[derive(Debug, Serialize)]
pub struct TokenBody {
    pub access_token: String,
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    pub refresh_token: String,
}

impl From<TokenPair> for TokenBody {
    fn from(pair: TokenPair) -> Self {
        TokenBody {
            access_token: pair.access_token.expose_secret().to_owned(),
            token_type: "Bearer",
            expires_in: pair.expires_in.as_secs(),
            refresh_token: pair.refresh_token.expose_secret().to_owned(),
        }
    }
}

// ANCHOR: login
/// `POST /auth/login`: 200 with a token pair; 401 for a wrong address or password (the same
/// answer for both); 429 with `Retry-After` while the account or the client IP is throttled.
async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<LoginRequest>,
) -> Result<Json<TokenBody>, ApiError> {
    let result = state.accounts.login(&body.email, body.password, ip).await;
    let outcome = match &result {
        Ok(_) => Some(SignIn::Success),
        Err(AccountError::InvalidCredentials) => Some(SignIn::Failure),
        Err(AccountError::Throttled { .. }) => Some(SignIn::Throttled),
        // A database or hashing failure is not a sign-in outcome: the 5xx counts it.
        Err(_) => None,
    };
    if let Some(outcome) = outcome {
        state.observability.shop.sign_in(outcome);
    }
    let pair = result?;
    if let Some(guest_cart) = &body.guest_cart {
        super::guest_cart::merge_into_account(&state, pair.user, guest_cart).await;
    }
    Ok(Json(pair.into()))
}
// ANCHOR_END: login

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefreshRequest {
    pub refresh_token: SecretString,
}

/// `POST /auth/refresh`: a new token pair for a live refresh token, which is used up. A token
/// presented a second time ends its whole session: 401 for both holders.
async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<Json<TokenBody>, ApiError> {
    let pair = state.accounts.refresh(&body.refresh_token).await?;
    Ok(Json(pair.into()))
}

/// `POST /auth/logout`: ends the session of the refresh token; 204 whatever it was.
async fn logout(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RefreshRequest>,
) -> Result<StatusCode, ApiError> {
    state.accounts.logout(&body.refresh_token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /me`.
async fn me(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> Result<Json<ProfileBody>, ApiError> {
    let user = state.accounts.profile(who.user_id).await?;
    Ok(Json(user.into()))
}

// ANCHOR: update_me
/// What a user may change about themselves. No `role` here: only an admin changes roles,
/// through `/admin/users/{id}/role`, and `deny_unknown_fields` turns an attempt into a 400.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateMeRequest {
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Required when `email` changes.
    pub current_password: Option<SecretString>,
}

/// `PATCH /me`: the updated profile; 422 naming every invalid field. A new address is
/// unverified until its token is redeemed.
async fn update_me(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<UpdateMeRequest>,
) -> Result<Json<ProfileBody>, ApiError> {
    let edit = ProfileEdit {
        display_name: body.display_name,
        email: body.email,
        current_password: body.current_password,
    };
    let user = state.accounts.update_profile(who.user_id, edit, ip).await?;
    Ok(Json(user.into()))
}
// ANCHOR_END: update_me

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangePasswordRequest {
    pub current_password: SecretString,
    pub new_password: SecretString,
}

/// `POST /me/password`: 204. Every other session of the user ends; this one stays. 401 for a
/// wrong current password, 422 for a new one the policy refuses.
async fn change_password(
    State(state): State<AppState>,
    signed_in: SignedIn,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<ChangePasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .accounts
        .change_password(
            signed_in.principal.user_id,
            signed_in.session,
            body.current_password,
            body.new_password,
            ip,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// An API key's metadata; never its secret.
#[derive(Debug, Serialize)]
pub struct ApiKeyBody {
    pub id: Uuid,
    pub prefix: String,
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_used_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
}

impl From<ApiKey> for ApiKeyBody {
    fn from(key: ApiKey) -> Self {
        ApiKeyBody {
            id: key.id,
            prefix: key.prefix,
            name: key.name,
            scopes: key.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            created_at: key.created_at,
            last_used_at: key.last_used_at,
            revoked_at: key.revoked_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ApiKeysBody {
    pub api_keys: Vec<ApiKeyBody>,
}

/// `GET /me/api-keys`: the caller's keys, revoked ones included.
async fn list_api_keys(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> Result<Json<ApiKeysBody>, ApiError> {
    let keys = state.accounts.api_keys.list(who.user_id).await?;
    Ok(Json(ApiKeysBody {
        api_keys: keys.into_iter().map(ApiKeyBody::from).collect(),
    }))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKeyRequest {
    pub name: String,
    pub scopes: Vec<String>,
}

/// The creation response: the metadata plus the key itself, shown this once.
#[derive(Debug, Serialize)]
pub struct CreatedApiKeyBody {
    #[serde(flatten)]
    pub metadata: ApiKeyBody,
    pub key: String,
}

// ANCHOR: create_api_key
/// `POST /me/api-keys`: 201 with the key, which is never shown again; 403 until the address
/// is verified; 422 naming every invalid field. Rotation is "create the new key, then revoke
/// the old one".
async fn create_api_key(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    JsonBody(body): JsonBody<CreateApiKeyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let created = state
        .accounts
        .create_api_key(who.user_id, &body.name, &body.scopes)
        .await?;
    let location = format!("/me/api-keys/{}", created.key.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(CreatedApiKeyBody {
            metadata: created.key.into(),
            key: created.full_key.expose_secret().to_owned(),
        }),
    ))
}
// ANCHOR_END: create_api_key

// ANCHOR: revoke_api_key
/// `DELETE /me/api-keys/{id}`: 204, or 404 when the caller has no such live key, including
/// when it is someone else's: a 403 would confirm that the id exists.
async fn revoke_api_key(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    Path(id): Path<Uuid>,
) -> Result<StatusCode, ApiError> {
    if state.accounts.api_keys.revoke(who.user_id, id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("API key", id))
    }
}
// ANCHOR_END: revoke_api_key

/// The data export.
#[derive(Debug, Serialize)]
pub struct ExportBody {
    #[serde(with = "time::serde::rfc3339")]
    pub exported_at: OffsetDateTime,
    pub profile: ProfileBody,
    pub sessions: Vec<SessionBody>,
    pub api_keys: Vec<ApiKeyBody>,
    pub orders: Vec<OrderBody>,
    pub cart: CartBody,
    /// `null` when the review store was unreachable; `reviews_note` then says so.
    pub reviews: Option<Vec<ReviewBody>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviews_note: Option<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct SessionBody {
    pub id: Uuid,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_used_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub expires_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
}

impl From<SessionInfo> for SessionBody {
    fn from(s: SessionInfo) -> Self {
        SessionBody {
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            expires_at: s.expires_at,
            revoked_at: s.revoked_at,
            revoked_reason: s.revoked_reason,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct OrderBody {
    pub id: shop_domain::OrderId,
    pub status: String,
    pub currency: String,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    pub lines: Vec<OrderLineBody>,
}

#[derive(Debug, Serialize)]
pub struct OrderLineBody {
    pub product_id: ProductId,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

impl From<OrderRecord> for OrderBody {
    fn from(order: OrderRecord) -> Self {
        OrderBody {
            id: order.id,
            status: order.status,
            currency: order.currency,
            placed_at: order.placed_at,
            lines: order
                .lines
                .into_iter()
                .map(|line| OrderLineBody {
                    product_id: line.product_id,
                    quantity: line.quantity,
                    unit_price_minor: line.unit_price_minor,
                })
                .collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ReviewBody {
    pub product_id: ProductId,
    pub rating: u8,
    pub title: String,
    pub body: String,
    pub created_at: String,
}

impl From<Review> for ReviewBody {
    fn from(review: Review) -> Self {
        ReviewBody {
            product_id: review.product_id,
            rating: review.rating.stars(),
            title: review.title,
            body: review.body,
            created_at: review.created_at.to_string(),
        }
    }
}

impl From<Export> for ExportBody {
    fn from(export: Export) -> Self {
        let reviews_note = export
            .reviews
            .is_none()
            .then_some("The review store did not answer; ask again later for your reviews.");
        ExportBody {
            exported_at: OffsetDateTime::now_utc(),
            profile: export.user.into(),
            sessions: export.sessions.into_iter().map(SessionBody::from).collect(),
            api_keys: export.api_keys.into_iter().map(ApiKeyBody::from).collect(),
            orders: export.orders.into_iter().map(OrderBody::from).collect(),
            cart: export.cart.into(),
            reviews: export
                .reviews
                .map(|reviews| reviews.into_iter().map(ReviewBody::from).collect()),
            reviews_note,
        }
    }
}

// ANCHOR: export
/// `GET /me/export`: everything stored about the caller, as one JSON document, with
/// `Content-Disposition` so a browser saves it as a file.
async fn export(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
) -> Result<impl IntoResponse, ApiError> {
    let export = state.accounts.export(who.user_id, &state.reviews).await?;
    Ok((
        [(
            header::CONTENT_DISPOSITION,
            "attachment; filename=\"shop-export.json\"",
        )],
        Json(ExportBody::from(export)),
    ))
}
// ANCHOR_END: export

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EraseRequest {
    pub password: SecretString,
}

#[derive(Debug, Serialize)]
pub struct ErasedBody {
    pub erased: bool,
    /// Whether the name on the user's reviews was replaced too; `false` while the review
    /// store is unreachable (the chapter explains how lesson 10 closes this gap).
    pub reviews_anonymised: bool,
}

/// `DELETE /me` with `{"password": ...}`: erases the account. Afterwards every token and key
/// of the user is dead, sign-in fails, and the export is gone.
async fn erase_me(
    State(state): State<AppState>,
    CurrentUser(who): CurrentUser,
    ClientIp(ip): ClientIp,
    JsonBody(body): JsonBody<EraseRequest>,
) -> Result<Json<ErasedBody>, ApiError> {
    let reviews_anonymised = state
        .accounts
        .erase(who.user_id, body.password, ip, &state.reviews)
        .await?;
    Ok(Json(ErasedBody {
        erased: true,
        reviews_anonymised,
    }))
}
