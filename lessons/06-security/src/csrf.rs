//! Cross-site request forgery (CSRF): a form that changes the account's email address,
//! authenticated by a session cookie, with and without an anti-forgery token.
//!
//! A browser attaches a site's cookies to requests *to* that site, whichever page started
//! them. So a page on `evil.example` can submit a hidden form to the shop, and the shop sees
//! the victim's cookie. The vulnerable endpoint trusts that cookie alone; the fixed one also
//! wants a token that only the shop's own page could have put into the form, and refuses a
//! request whose `Origin` is another site. `tests/web.rs` forges both.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Form;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use serde::Deserialize;
use subtle::ConstantTimeEq;

use crate::lab::LabState;
use crate::problem::refusal;
use crate::xss::escape_html;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "sid";

/// What the server remembers about a signed-in browser.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: String,
    pub email: String,
    /// The synchronizer token: random, per session, rendered into the shop's own forms.
    pub csrf_token: String,
}

/// Sessions by id. The id is 256 random bits, so guessing one is hopeless.
#[derive(Debug, Clone, Default)]
pub struct Sessions(Arc<Mutex<HashMap<String, Session>>>);

impl Sessions {
    /// Signs `user` in: a new session id and a new CSRF token.
    pub fn create(&self, user: &str) -> String {
        let id = random_token();
        let session = Session {
            user: user.to_owned(),
            email: format!("{user}@shop.test"),
            csrf_token: random_token(),
        };
        self.lock().insert(id.clone(), session);
        id
    }

    pub fn get(&self, id: &str) -> Option<Session> {
        self.lock().get(id).cloned()
    }

    fn set_email(&self, id: &str, email: &str) {
        if let Some(session) = self.lock().get_mut(id) {
            email.clone_into(&mut session.email);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// 32 bytes from the operating system's CSPRNG (via rand's thread-local generator), in hex.
fn random_token() -> String {
    rand::random::<[u8; 32]>()
        .iter()
        .fold(String::with_capacity(64), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[derive(Debug, Deserialize)]
pub struct SignIn {
    pub user: String,
}

// ANCHOR: cookie
/// `POST /session`: signs in (the password check is lesson 04's subject) and sets the cookie.
///
/// `HttpOnly`: scripts cannot read it, so an XSS cannot steal it. `SameSite=Lax`: the browser
/// leaves it off cross-site POSTs, the first wall against CSRF. `Secure` belongs there too
/// once the site is HTTPS-only (the lab speaks plain HTTP on loopback, where a `Secure`
/// cookie would never be sent back).
pub async fn sign_in(State(state): State<LabState>, Form(form): Form<SignIn>) -> Response {
    let id = state.sessions.create(&form.user);
    let cookie = format!("{SESSION_COOKIE}={id}; Path=/; HttpOnly; SameSite=Lax");
    match HeaderValue::from_str(&cookie) {
        Ok(cookie) => (StatusCode::NO_CONTENT, [(header::SET_COOKIE, cookie)]).into_response(),
        Err(_) => refusal(StatusCode::UNPROCESSABLE_ENTITY, "bad user name").into_response(),
    }
}
// ANCHOR_END: cookie

#[derive(Debug, Deserialize)]
pub struct EmailChange {
    pub email: String,
    #[serde(default)]
    pub csrf_token: String,
}

/// `GET /{vulnerable,fixed}/account`: the account page with its form. The fixed page puts the
/// session's token into a hidden field; a page on another site cannot read it (the same-origin
/// policy keeps other sites from reading our responses), so it cannot copy it.
pub async fn account_page(State(state): State<LabState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session_of(&state, &headers) else {
        return refusal(StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    let html = format!(
        "<!doctype html><title>Account</title><p>Signed in as {user}, email \
         <output id=\"email\">{email}</output></p>\
         <form method=\"post\" action=\"/fixed/account/email\">\
         <input type=\"hidden\" name=\"csrf_token\" value=\"{token}\">\
         <input name=\"email\"><button>Change</button></form>",
        user = escape_html(&session.user),
        email = escape_html(&session.email),
        token = session.csrf_token,
    );
    Html(html).into_response()
}

// ANCHOR: vulnerable
/// `POST /vulnerable/account/email`: the cookie is the only proof of who is asking.
pub async fn change_email_vulnerable(
    State(state): State<LabState>,
    headers: HeaderMap,
    Form(change): Form<EmailChange>,
) -> Response {
    let Some((id, _)) = session_of(&state, &headers) else {
        return refusal(StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    state.sessions.set_email(&id, &change.email);
    StatusCode::NO_CONTENT.into_response()
}
// ANCHOR_END: vulnerable

// ANCHOR: fixed
/// `POST /fixed/account/email`: the cookie says who, the token says the request came from the
/// shop's own form, and `Origin` (sent by every current browser on a POST) must be the shop.
pub async fn change_email_fixed(
    State(state): State<LabState>,
    headers: HeaderMap,
    Form(change): Form<EmailChange>,
) -> Response {
    let Some((id, session)) = session_of(&state, &headers) else {
        return refusal(StatusCode::UNAUTHORIZED, "sign in first").into_response();
    };
    if !same_origin(&headers) {
        return refusal(StatusCode::FORBIDDEN, "cross-origin form posts are refused")
            .into_response();
    }
    // Constant time: a comparison that stops at the first wrong byte tells a patient attacker,
    // through its timing, how many leading bytes were right.
    let token_ok: bool = session
        .csrf_token
        .as_bytes()
        .ct_eq(change.csrf_token.as_bytes())
        .into();
    if !token_ok {
        return refusal(StatusCode::FORBIDDEN, "missing or wrong CSRF token").into_response();
    }
    state.sessions.set_email(&id, &change.email);
    StatusCode::NO_CONTENT.into_response()
}

/// True unless the request names an `Origin` that is not the host it was sent to. A request
/// without `Origin` (an old browser, or not a browser at all) is left to the token.
pub fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin_host = origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .map(|(_, authority)| authority);
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}
// ANCHOR_END: fixed

/// The session the request's cookie names, if any.
fn session_of(state: &LabState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let session = state.sessions.get(&id)?;
    Some((id, session))
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.to_owned())
}
