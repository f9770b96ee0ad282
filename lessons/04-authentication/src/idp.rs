//! A small OpenID Connect identity provider, for the demo and the tests to sign in against.
//!
//! What this module shows: the provider's side of the authorization-code flow with PKCE, small
//! enough to read in one sitting. It is *not* a product (one user, approved without a login
//! page); it exists so that the client in [`crate::oidc`] talks to a real server over HTTP,
//! and so that every rule the client relies on is visible from the other side:
//!
//! - `GET /.well-known/openid-configuration`: where everything is, and what is supported;
//! - `GET /jwks.json`: the public keys that verify ID tokens (an Ed25519 key made at start);
//! - `GET /authorize`: checks the client and its *registered* redirect URI (never redirect
//!   anywhere else: that would hand codes to an attacker), requires a PKCE S256 challenge,
//!   stores the code with the challenge and the nonce, and redirects back with `code` and
//!   `state`;
//! - `POST /token`: consumes the code (single use), checks client, redirect URI and expiry,
//!   hashes the PKCE verifier and compares it with the stored challenge, and returns an ID
//!   token signed with EdDSA.
//!
//! Run the tests with `cargo test -p lesson-04 --test oidc`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, LOCATION};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use shop_http::RunningServer;
use subtle::ConstantTimeEq;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use url::Url;

use crate::server::{self, ServerError};
use crate::tokens::unix_now;

/// A client application the provider knows.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    pub client_id: String,
    /// Compared exactly, character for character: no prefixes, no wildcards.
    pub redirect_uris: Vec<String>,
}

/// The one person who signs in here.
#[derive(Debug, Clone)]
pub struct DemoUser {
    pub sub: String,
    pub email: String,
    pub name: String,
}

/// What the provider is started with.
#[derive(Debug, Clone)]
pub struct IdpConfig {
    pub clients: Vec<RegisteredClient>,
    pub user: DemoUser,
    /// How long an authorization code may wait to be exchanged. RFC 6749 §4.1.2 recommends at
    /// most ten minutes; a minute is plenty for a redirect.
    pub code_ttl: Duration,
    pub id_token_ttl: Duration,
}

impl IdpConfig {
    /// One client, `lesson-04-web`, that may redirect to `redirect_uri`, and a second one,
    /// `other-app`, whose tokens the first must refuse.
    pub fn demo(redirect_uri: &str) -> Self {
        Self {
            clients: vec![
                RegisteredClient {
                    client_id: "lesson-04-web".into(),
                    redirect_uris: vec![redirect_uri.into()],
                },
                RegisteredClient {
                    client_id: "other-app".into(),
                    redirect_uris: vec!["http://other.test/callback".into()],
                },
            ],
            user: DemoUser {
                sub: "user-7f3a".into(),
                email: "ada@idp.test".into(),
                name: "Ada Lovelace".into(),
            },
            code_ttl: Duration::from_secs(60),
            id_token_ttl: Duration::from_secs(300),
        }
    }
}

/// The discovery document (OpenID Connect Discovery 1.0 §3), the fields this lesson uses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProviderMetadata {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub response_types_supported: Vec<String>,
    pub subject_types_supported: Vec<String>,
    pub id_token_signing_alg_values_supported: Vec<String>,
    pub code_challenge_methods_supported: Vec<String>,
    pub scopes_supported: Vec<String>,
    pub token_endpoint_auth_methods_supported: Vec<String>,
}

// ANCHOR: id_token_claims
/// The claims of an ID token (OpenID Connect Core §2): a statement by the provider that this
/// user signed in, for this client, now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdTokenClaims {
    pub iss: String,
    pub sub: String,
    /// The client the token is for: the `client_id`.
    pub aud: String,
    pub exp: u64,
    pub iat: u64,
    /// Echoes the nonce of the authorization request, binding the token to that request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nonce: Option<String>,
    pub email: String,
    pub email_verified: bool,
    pub name: String,
}
// ANCHOR_END: id_token_claims

/// Why the provider could not start.
#[derive(Debug, Error)]
pub enum IdpError {
    #[error("could not generate the signing key")]
    Key(#[from] rcgen::Error),
    #[error("jsonwebtoken refused the generated key")]
    Jwt(#[from] jsonwebtoken::errors::Error),
    #[error(transparent)]
    Server(#[from] ServerError),
}

/// A code waiting to be exchanged, with everything the exchange must match.
#[derive(Debug)]
struct Grant {
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    nonce: Option<String>,
    expires_at: u64,
}

/// The signing key: private half for signing, public half published as a JWK.
struct SigningKey {
    encoding: EncodingKey,
    jwk: Jwk,
    kid: String,
}

impl SigningKey {
    /// A fresh Ed25519 key pair. rcgen writes the private key as PKCS#8 PEM, which is what
    /// jsonwebtoken reads; the public key goes into the JWKS as an `OKP` key (RFC 8037), with
    /// its RFC 7638 thumbprint as `kid`.
    fn generate() -> Result<Self, IdpError> {
        let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)?;
        let encoding = EncodingKey::from_ed_pem(pair.serialize_pem().as_bytes())?;
        let mut jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(pair.public_key_raw()),
            }),
        };
        let kid = jwk.thumbprint(ThumbprintHash::SHA256)?;
        jwk.common.key_id = Some(kid.clone());
        Ok(Self { encoding, jwk, kid })
    }
}

/// The provider's state, shared by its handlers.
struct Provider {
    issuer: String,
    config: IdpConfig,
    key: SigningKey,
    /// Outstanding codes. A `std::sync::Mutex`: held for one map operation, never across an
    /// `.await`.
    codes: Mutex<HashMap<String, Grant>>,
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("issuer", &self.issuer)
            .field("kid", &self.key.kid)
            .finish_non_exhaustive()
    }
}

impl Provider {
    fn client(&self, client_id: &str) -> Option<&RegisteredClient> {
        self.config
            .clients
            .iter()
            .find(|client| client.client_id == client_id)
    }

    fn codes(&self) -> std::sync::MutexGuard<'_, HashMap<String, Grant>> {
        self.codes.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn sign(&self, claims: &IdTokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.key.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.key.encoding)
    }
}

/// A running provider.
#[derive(Debug)]
pub struct RunningIdp {
    server: RunningServer,
    provider: Arc<Provider>,
}

/// Starts a provider on `addr` (port 0: any free port); its issuer is its own base URL.
pub async fn start(
    addr: SocketAddr,
    config: IdpConfig,
    shutdown: CancellationToken,
) -> Result<RunningIdp, IdpError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServerError::Bind { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| ServerError::Bind { addr, source })?;
    let provider = Arc::new(Provider {
        issuer: format!("http://{bound}"),
        config,
        key: SigningKey::generate()?,
        codes: Mutex::default(),
    });
    let app = Router::new()
        .route("/.well-known/openid-configuration", get(discovery))
        .route("/jwks.json", get(jwks))
        .route("/authorize", get(authorize))
        .route("/token", post(token))
        .with_state(Arc::clone(&provider));
    let server = server::serve(listener, app, shutdown)?;
    Ok(RunningIdp { server, provider })
}

impl RunningIdp {
    /// The issuer identifier: `iss` of every token, and where discovery starts.
    pub fn issuer(&self) -> &str {
        &self.provider.issuer
    }

    /// The `kid` of the current signing key.
    pub fn key_id(&self) -> &str {
        &self.provider.key.kid
    }

    /// The public key, as published in the JWKS.
    pub fn jwk(&self) -> &Jwk {
        &self.provider.key.jwk
    }

    /// Signs arbitrary claims with the provider's real key. The tests and the demo use it to
    /// make tokens that are correctly signed but wrong in one claim, which only the client's
    /// claim checks can catch.
    pub fn sign(&self, claims: &IdTokenClaims) -> Result<String, jsonwebtoken::errors::Error> {
        self.provider.sign(claims)
    }

    /// Claims as the provider would issue them now for `client_id`.
    pub fn claims_for(&self, client_id: &str, nonce: Option<String>) -> IdTokenClaims {
        let now = unix_now();
        let user = &self.provider.config.user;
        IdTokenClaims {
            iss: self.provider.issuer.clone(),
            sub: user.sub.clone(),
            aud: client_id.into(),
            exp: now + self.provider.config.id_token_ttl.as_secs(),
            iat: now,
            nonce,
            email: user.email.clone(),
            email_verified: true,
            name: user.name.clone(),
        }
    }

    pub async fn stop(self) -> Result<(), ServerError> {
        server::stop(self.server).await
    }
}

async fn discovery(State(provider): State<Arc<Provider>>) -> Json<ProviderMetadata> {
    let issuer = &provider.issuer;
    let strings = |items: &[&str]| items.iter().map(|&s| s.to_owned()).collect();
    Json(ProviderMetadata {
        issuer: issuer.clone(),
        authorization_endpoint: format!("{issuer}/authorize"),
        token_endpoint: format!("{issuer}/token"),
        jwks_uri: format!("{issuer}/jwks.json"),
        response_types_supported: strings(&["code"]),
        subject_types_supported: strings(&["public"]),
        id_token_signing_alg_values_supported: strings(&["EdDSA"]),
        code_challenge_methods_supported: strings(&["S256"]),
        scopes_supported: strings(&["openid", "email", "profile"]),
        // Public clients (a browser app, a CLI) have no secret to keep: PKCE protects them.
        token_endpoint_auth_methods_supported: strings(&["none"]),
    })
}

async fn jwks(State(provider): State<Arc<Provider>>) -> Json<JwkSet> {
    Json(JwkSet {
        keys: vec![provider.key.jwk.clone()],
    })
}

/// The query of `GET /authorize`; everything optional so that each omission gets its own
/// error rather than axum's generic 400.
#[derive(Debug, Deserialize)]
struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    nonce: Option<String>,
}

async fn authorize(
    State(provider): State<Arc<Provider>>,
    Query(query): Query<AuthorizeQuery>,
) -> Response {
    // 1. Client and redirect URI first. If either is wrong, the error is shown here and never
    //    sent to the redirect URI, which may be an attacker's (RFC 6749 §4.1.2.1).
    let client = query
        .client_id
        .as_deref()
        .and_then(|id| provider.client(id));
    let Some(client) = client else {
        return (StatusCode::BAD_REQUEST, "unknown client_id").into_response();
    };
    let Some(redirect_uri) = query
        .redirect_uri
        .filter(|uri| client.redirect_uris.contains(uri))
    else {
        return (StatusCode::BAD_REQUEST, "redirect_uri is not registered").into_response();
    };
    let redirect = |params: &[(&str, &str)]| -> Response {
        let mut url = match Url::parse(&redirect_uri) {
            Ok(url) => url,
            Err(_) => return (StatusCode::BAD_REQUEST, "bad redirect_uri").into_response(),
        };
        url.query_pairs_mut().extend_pairs(params);
        if let Some(state) = &query.state {
            url.query_pairs_mut().append_pair("state", state);
        }
        (StatusCode::FOUND, [(LOCATION, url.to_string())]).into_response()
    };
    // 2. Everything else is reported to the client, through the redirect.
    if query.response_type.as_deref() != Some("code") {
        return redirect(&[("error", "unsupported_response_type")]);
    }
    if !query
        .scope
        .as_deref()
        .is_some_and(|scope| scope.split(' ').any(|s| s == "openid"))
    {
        return redirect(&[
            ("error", "invalid_scope"),
            ("error_description", "openid is required"),
        ]);
    }
    let (Some(challenge), Some("S256")) =
        (query.code_challenge, query.code_challenge_method.as_deref())
    else {
        return redirect(&[
            ("error", "invalid_request"),
            (
                "error_description",
                "PKCE with code_challenge_method=S256 is required",
            ),
        ]);
    };
    // 3. A real provider would now authenticate the user and ask for consent. Ours approves
    //    its one demo user, and issues a single-use code bound to this request.
    let code = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
    provider.codes().insert(
        code.clone(),
        Grant {
            client_id: client.client_id.clone(),
            redirect_uri: redirect_uri.clone(),
            code_challenge: challenge,
            nonce: query.nonce,
            expires_at: unix_now() + provider.config.code_ttl.as_secs(),
        },
    );
    redirect(&[("code", &code)])
}

#[derive(Debug, Deserialize)]
struct TokenForm {
    grant_type: Option<String>,
    code: Option<String>,
    redirect_uri: Option<String>,
    client_id: Option<String>,
    code_verifier: Option<String>,
}

/// An error of the token endpoint (RFC 6749 §5.2).
fn token_error(error: &str, description: &str) -> Response {
    let status = if error == "invalid_client" {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::BAD_REQUEST
    };
    let body = serde_json::json!({ "error": error, "error_description": description });
    (status, [(CACHE_CONTROL, "no-store")], Json(body)).into_response()
}

// ANCHOR: token_checks
async fn token(State(provider): State<Arc<Provider>>, Form(form): Form<TokenForm>) -> Response {
    if form.grant_type.as_deref() != Some("authorization_code") {
        return token_error(
            "unsupported_grant_type",
            "only authorization_code is supported",
        );
    }
    // Removed before anything is checked: a code is spent by its first use, even a failed
    // one, so a stolen code cannot be tried twice.
    let grant = form.code.and_then(|code| provider.codes().remove(&code));
    let Some(grant) = grant else {
        return token_error("invalid_grant", "unknown, expired or already used code");
    };
    if unix_now() >= grant.expires_at {
        return token_error("invalid_grant", "the code has expired");
    }
    if form.client_id.as_deref() != Some(&grant.client_id) {
        return token_error("invalid_client", "the code was issued to another client");
    }
    if form.redirect_uri.as_deref() != Some(&grant.redirect_uri) {
        return token_error(
            "invalid_grant",
            "redirect_uri differs from the authorization request",
        );
    }
    // PKCE (RFC 7636 §4.6): only the party that made the challenge knows the verifier.
    let verifier = form.code_verifier.unwrap_or_default();
    let computed = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    if !bool::from(computed.as_bytes().ct_eq(grant.code_challenge.as_bytes())) {
        return token_error("invalid_grant", "the PKCE code_verifier does not match");
    }
    // ANCHOR_END: token_checks
    let mut claims = IdTokenClaims {
        iss: provider.issuer.clone(),
        sub: provider.config.user.sub.clone(),
        aud: grant.client_id,
        exp: 0,
        iat: unix_now(),
        nonce: grant.nonce,
        email: provider.config.user.email.clone(),
        email_verified: true,
        name: provider.config.user.name.clone(),
    };
    claims.exp = claims.iat + provider.config.id_token_ttl.as_secs();
    let Ok(id_token) = provider.sign(&claims) else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "signing failed").into_response();
    };
    let body = serde_json::json!({
        "access_token": URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()),
        "token_type": "Bearer",
        "expires_in": provider.config.id_token_ttl.as_secs(),
        "scope": "openid email profile",
        "id_token": id_token,
    });
    // Tokens must not be cached by anything between the provider and the client.
    (StatusCode::OK, [(CACHE_CONTROL, "no-store")], Json(body)).into_response()
}
