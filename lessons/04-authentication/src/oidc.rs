//! Signing in with OpenID Connect: the `oauth2` crate for the flow, `jsonwebtoken` for the ID
//! token, and a few lines adapting the workspace's `reqwest` to `oauth2`.
//!
//! What this module shows: the relying party's side. [`OidcClient::discover`] reads the
//! provider's discovery document and JWKS. [`OidcClient::begin`] builds the authorization URL
//! with three random values: the CSRF `state` (the callback must echo it), the PKCE verifier
//! (its SHA-256 goes in the URL as the challenge; the verifier itself only in the token
//! request, so a stolen code is useless), and the `nonce` (which must come back inside the ID
//! token). [`OidcClient::callback`] checks the state, [`OidcClient::exchange`] trades the code
//! for tokens, and [`OidcClient::validate_id_token`] checks the ID token: key by `kid` from
//! the JWKS, algorithm pinned, signature, `iss`, `aud`, `exp`, `iat`, and the nonce.
//!
//! Run the tests with `cargo test -p lesson-04 --test oidc`.

use std::future::Future;
use std::pin::Pin;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse,
    BasicTokenType,
};
use oauth2::{
    AsyncHttpClient, AuthUrl, AuthorizationCode, Client, ClientId, CsrfToken, EndpointNotSet,
    EndpointSet, ExtraTokenFields, HttpRequest, HttpResponse, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RequestTokenError, Scope, StandardRevocableToken, StandardTokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use thiserror::Error;
use url::Url;

use crate::idp::ProviderMetadata;
use crate::store::{read, write};
use crate::tokens::TokenError;

/// `reqwest` as the HTTP client of `oauth2`, which since version 5 brings none of its own
/// (its optional one would compile a second reqwest). The trait is one method: take an
/// `http::Request<Vec<u8>>`, return an `http::Response<Vec<u8>>`.
#[derive(Debug, Clone)]
pub struct OAuthHttp(reqwest::Client);

/// Why an HTTP exchange with the provider failed.
#[derive(Debug, Error)]
pub enum HttpError {
    #[error("the request could not be sent")]
    Reqwest(#[from] reqwest::Error),
    #[error("the response could not be rebuilt")]
    Http(#[from] oauth2::http::Error),
}

impl<'c> AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let response = self.0.execute(request.try_into()?).await?;
            let mut builder = oauth2::http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder.body(response.bytes().await?.to_vec())?)
        })
    }
}

/// The ID token, the field OpenID Connect adds to OAuth's token response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IdTokenField {
    pub id_token: String,
}
impl ExtraTokenFields for IdTokenField {}

/// The token response of an OpenID provider.
pub type OidcTokenResponse = StandardTokenResponse<IdTokenField, BasicTokenType>;

/// `oauth2`'s client, with our token response and the two endpoints we set (the type-state
/// parameters make calling an endpoint that was never configured a compile error).
type OAuthClient = Client<
    BasicErrorResponse,
    OidcTokenResponse,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The claims this client reads from an ID token, once it is valid.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct IdClaims {
    pub iss: String,
    pub sub: String,
    pub exp: u64,
    pub iat: u64,
    pub nonce: Option<String>,
    pub email: Option<String>,
    pub name: Option<String>,
}

/// Everything sign-in can fail with.
#[derive(Debug, Error)]
pub enum OidcError {
    #[error("could not reach the provider")]
    Http(#[from] HttpError),
    #[error("the provider's {what} is not valid")]
    BadDocument {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("the discovery document names issuer {found}, not {expected}")]
    IssuerMismatch { expected: String, found: String },
    #[error("the provider does not support {0}")]
    Unsupported(&'static str),
    #[error("a URL in the discovery document is invalid: {0}")]
    Url(#[from] url::ParseError),
    #[error("the callback's state does not match this login (CSRF?)")]
    StateMismatch,
    #[error("the provider refused: {error}{}", description.as_deref().map(|d| format!(" ({d})")).unwrap_or_default())]
    Provider {
        error: String,
        description: Option<String>,
    },
    #[error("the callback carries no code")]
    MissingCode,
    #[error("the token response could not be read: {0}")]
    TokenResponse(String),
    #[error("the ID token is invalid: {0}")]
    IdToken(#[from] IdTokenError),
}

/// Why an ID token was refused.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum IdTokenError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token is signed with {0:?}; only EdDSA is accepted")]
    UnexpectedAlgorithm(Algorithm),
    #[error("the token names no key (`kid`)")]
    MissingKeyId,
    #[error("the provider publishes no key {0}")]
    UnknownKey(String),
    #[error("the key in the JWKS is not an Ed25519 public key")]
    WrongKeyType,
    #[error("{0}")]
    Claims(#[from] TokenError),
    #[error("the nonce does not match this login")]
    NonceMismatch,
}

/// What the client keeps between sending the user to the provider and the callback. In a web
/// application this lives in the user's server-side session, keyed by a cookie.
#[derive(Debug)]
pub struct PendingLogin {
    pub csrf_state: CsrfToken,
    pub pkce_verifier: PkceCodeVerifier,
    pub nonce: String,
}

/// A relying party configured for one provider.
#[derive(Debug)]
pub struct OidcClient {
    http: OAuthHttp,
    oauth: OAuthClient,
    metadata: ProviderMetadata,
    client_id: String,
    /// The provider's keys. Behind a lock because an unknown `kid` triggers one re-fetch:
    /// providers rotate keys, and publish the new one before they start using it.
    jwks: RwLock<JwkSet>,
}

impl OidcClient {
    /// Reads the provider's discovery document and keys.
    pub async fn discover(
        issuer: &str,
        client_id: &str,
        redirect_uri: &str,
    ) -> Result<Self, OidcError> {
        // Never follow redirects from the provider's endpoints: a redirect could point the
        // token request, with its code and verifier, somewhere else.
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(HttpError::from)?;
        let url = format!("{issuer}/.well-known/openid-configuration");
        let metadata: ProviderMetadata = get_json(&http, &url, "discovery document").await?;
        // The document must name the issuer we asked: otherwise one provider could pose as
        // another (OpenID Connect Discovery §4.3).
        if metadata.issuer != issuer {
            return Err(OidcError::IssuerMismatch {
                expected: issuer.into(),
                found: metadata.issuer,
            });
        }
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|m| m == "S256")
        {
            return Err(OidcError::Unsupported("PKCE with S256"));
        }
        if !metadata
            .id_token_signing_alg_values_supported
            .iter()
            .any(|a| a == "EdDSA")
        {
            return Err(OidcError::Unsupported("EdDSA-signed ID tokens"));
        }
        let jwks: JwkSet = get_json(&http, &metadata.jwks_uri, "JWKS").await?;
        let oauth = Client::new(ClientId::new(client_id.into()))
            .set_auth_uri(AuthUrl::new(metadata.authorization_endpoint.clone())?)
            .set_token_uri(TokenUrl::new(metadata.token_endpoint.clone())?)
            .set_redirect_uri(RedirectUrl::new(redirect_uri.into())?);
        Ok(Self {
            http: OAuthHttp(http),
            oauth,
            metadata,
            client_id: client_id.into(),
            jwks: RwLock::new(jwks),
        })
    }

    pub fn metadata(&self) -> &ProviderMetadata {
        &self.metadata
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    // ANCHOR: begin
    /// The URL to send the user's browser to, and what to remember until the callback.
    pub fn begin(&self) -> (Url, PendingLogin) {
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 16]>());
        let (url, csrf_state) = self
            .oauth
            .authorize_url(CsrfToken::new_random)
            .add_scope(Scope::new("openid".into()))
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .set_pkce_challenge(challenge)
            .add_extra_param("nonce", nonce.clone())
            .url();
        let pending = PendingLogin {
            csrf_state,
            pkce_verifier: verifier,
            nonce,
        };
        (url, pending)
    }
    // ANCHOR_END: begin

    // ANCHOR: callback
    /// Reads the redirect back from the provider: an error, or a code with our state.
    pub fn callback(
        &self,
        redirect: &Url,
        pending: &PendingLogin,
    ) -> Result<AuthorizationCode, OidcError> {
        let param = |name: &str| {
            redirect
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        // A callback whose state is not the one we sent was not started by this user's
        // browser: someone is trying to log the user in to *their* account (login CSRF).
        let state = param("state").unwrap_or_default();
        if !bool::from(
            state
                .as_bytes()
                .ct_eq(pending.csrf_state.secret().as_bytes()),
        ) {
            return Err(OidcError::StateMismatch);
        }
        if let Some(error) = param("error") {
            return Err(OidcError::Provider {
                error,
                description: param("error_description"),
            });
        }
        param("code")
            .map(AuthorizationCode::new)
            .ok_or(OidcError::MissingCode)
    }
    // ANCHOR_END: callback

    /// Trades the code and the PKCE verifier for tokens at the token endpoint.
    pub async fn exchange(
        &self,
        code: AuthorizationCode,
        verifier: PkceCodeVerifier,
    ) -> Result<OidcTokenResponse, OidcError> {
        self.oauth
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                RequestTokenError::ServerResponse(response) => OidcError::Provider {
                    error: response.error().as_ref().to_owned(),
                    description: response.error_description().cloned(),
                },
                RequestTokenError::Request(error) => OidcError::Http(error),
                other => OidcError::TokenResponse(other.to_string()),
            })
    }

    // ANCHOR: validate
    /// Checks an ID token as OpenID Connect Core §3.1.3.7 asks, and returns its claims.
    pub async fn validate_id_token(
        &self,
        id_token: &str,
        expected_nonce: &str,
    ) -> Result<IdClaims, OidcError> {
        let header = jsonwebtoken::decode_header(id_token).map_err(|_| IdTokenError::Malformed)?;
        // Pinned: the provider said it signs with EdDSA, so a token claiming HS256 (signed with
        // the public key as an HMAC secret, the classic key-confusion attack) or anything else
        // is refused before a key is even chosen.
        if header.alg != Algorithm::EdDSA {
            return Err(IdTokenError::UnexpectedAlgorithm(header.alg).into());
        }
        let kid = header.kid.ok_or(IdTokenError::MissingKeyId)?;
        let key = match self.key(&kid)? {
            Some(key) => key,
            None => {
                // Maybe the provider rotated its key: fetch the JWKS once more, then give up.
                // (A busy service would limit how often an unknown kid may trigger this.)
                let fresh: JwkSet = get_json(&self.http.0, &self.metadata.jwks_uri, "JWKS").await?;
                *write(&self.jwks) = fresh;
                self.key(&kid)?.ok_or(IdTokenError::UnknownKey(kid))?
            }
        };
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[&self.metadata.issuer]);
        validation.set_audience(&[&self.client_id]);
        validation.set_required_spec_claims(&["exp", "iat", "iss", "aud", "sub"]);
        // Two clocks on two machines: a minute of tolerance for exp.
        validation.leeway = 60;
        let claims = jsonwebtoken::decode::<IdClaims>(id_token, &key, &validation)
            .map_err(|error| IdTokenError::Claims(error.into()))?
            .claims;
        let nonce_ok = claims
            .nonce
            .as_deref()
            .is_some_and(|nonce| bool::from(nonce.as_bytes().ct_eq(expected_nonce.as_bytes())));
        if !nonce_ok {
            return Err(IdTokenError::NonceMismatch.into());
        }
        Ok(claims)
    }
    // ANCHOR_END: validate

    /// The decoding key for `kid`, if the JWKS has one, checked to be an Ed25519 public key.
    fn key(&self, kid: &str) -> Result<Option<DecodingKey>, IdTokenError> {
        let jwks = read(&self.jwks);
        let Some(jwk) = jwks.find(kid) else {
            return Ok(None);
        };
        // Only the kind of key we expect: a JWKS entry of type `oct` would otherwise become
        // an HMAC secret, and the token's signature would be checked against public data.
        match &jwk.algorithm {
            AlgorithmParameters::OctetKeyPair(params)
                if params.curve == EllipticCurve::Ed25519
                    && URL_SAFE_NO_PAD
                        .decode(&params.x)
                        .is_ok_and(|x| x.len() == 32) =>
            {
                DecodingKey::from_jwk(jwk)
                    .map(Some)
                    .map_err(|_| IdTokenError::WrongKeyType)
            }
            _ => Err(IdTokenError::WrongKeyType),
        }
    }
}

/// GETs a JSON document from the provider.
async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &str,
    what: &'static str,
) -> Result<T, OidcError> {
    let response = http
        .get(url)
        .send()
        .await
        .map_err(HttpError::from)?
        .error_for_status()
        .map_err(|source| OidcError::BadDocument { what, source })?;
    response
        .json()
        .await
        .map_err(|source| OidcError::BadDocument { what, source })
}
