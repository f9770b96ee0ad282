//! The whole OpenID Connect flow against the local identity provider, which each test starts
//! on a free port, and every way it must fail.
//!
//! `cargo test -p lesson-04 --test oidc`

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lesson_04::idp::{self, IdTokenClaims, IdpConfig, RunningIdp};
use lesson_04::oidc::{IdTokenError, OidcClient, OidcError, PendingLogin};
use lesson_04::tokens::TokenError;
use oauth2::{AuthorizationCode, PkceCodeVerifier};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use tokio_util::sync::CancellationToken;
use url::Url;

const CLIENT: &str = "lesson-04-web";
const REDIRECT: &str = "http://127.0.0.1/callback";

async fn provider() -> RunningIdp {
    idp::start(
        ([127, 0, 0, 1], 0).into(),
        IdpConfig::demo(REDIRECT),
        CancellationToken::new(),
    )
    .await
    .expect("the provider starts on a free port")
}

async fn client(idp: &RunningIdp) -> OidcClient {
    OidcClient::discover(idp.issuer(), CLIENT, REDIRECT)
        .await
        .expect("discovery succeeds")
}

/// The browser: opens `url` without following the redirect.
async fn browse(url: &Url) -> (StatusCode, Option<Url>) {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .expect("the browser builds");
    let response = browser
        .get(url.clone())
        .send()
        .await
        .expect("the provider answers");
    let location = response.headers().get(LOCATION).map(|value| {
        Url::parse(value.to_str().expect("a location header is a URL"))
            .expect("a location header is a URL")
    });
    (response.status(), location)
}

/// Begins a login and returns the code from the callback.
async fn authorize(client: &OidcClient) -> (AuthorizationCode, PendingLogin, Url) {
    let (url, pending) = client.begin();
    let (status, location) = browse(&url).await;
    assert_eq!(status, StatusCode::FOUND);
    let location = location.expect("authorize redirects");
    let code = client
        .callback(&location, &pending)
        .expect("our own state comes back");
    (code, pending, location)
}

fn token_error(result: Result<impl std::fmt::Debug, OidcError>) -> String {
    match result {
        Err(OidcError::Provider { error, .. }) => error,
        other => panic!("expected a refusal by the provider, got {other:?}"),
    }
}

fn id_token_error<T: std::fmt::Debug>(result: Result<T, OidcError>) -> IdTokenError {
    match result {
        Err(OidcError::IdToken(error)) => error,
        other => panic!("expected an invalid ID token, got {other:?}"),
    }
}

// ANCHOR: flow_test
#[tokio::test]
async fn the_whole_flow_signs_the_user_in() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (url, pending) = client.begin();
    let params: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    assert_eq!(param("code_challenge_method").as_deref(), Some("S256"));
    assert_eq!(param("nonce").as_deref(), Some(pending.nonce.as_str()));
    assert!(param("scope").unwrap().split(' ').any(|s| s == "openid"));

    let (_, location) = browse(&url).await;
    let code = client.callback(&location.unwrap(), &pending).unwrap();
    let tokens = client.exchange(code, pending.pkce_verifier).await.unwrap();
    let claims = client
        .validate_id_token(&tokens.extra_fields().id_token, &pending.nonce)
        .await
        .unwrap();
    assert_eq!(claims.iss, idp.issuer());
    assert_eq!(claims.sub, "user-7f3a");
    assert_eq!(claims.email.as_deref(), Some("ada@idp.test"));
    idp.stop().await.unwrap();
}
// ANCHOR_END: flow_test

#[tokio::test]
async fn a_wrong_verifier_is_refused_and_spends_the_code() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (code, pending, _) = authorize(&client).await;
    let again = AuthorizationCode::new(code.secret().clone());
    let wrong = PkceCodeVerifier::new("w".repeat(43));
    assert_eq!(
        token_error(client.exchange(code, wrong).await),
        "invalid_grant"
    );
    assert_eq!(
        token_error(client.exchange(again, pending.pkce_verifier).await),
        "invalid_grant",
        "a code is spent by its first attempt"
    );
}

#[tokio::test]
async fn a_code_works_once() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (code, pending, _) = authorize(&client).await;
    let replay = AuthorizationCode::new(code.secret().clone());
    let verifier = PkceCodeVerifier::new(pending.pkce_verifier.secret().clone());
    client.exchange(code, pending.pkce_verifier).await.unwrap();
    assert_eq!(
        token_error(client.exchange(replay, verifier).await),
        "invalid_grant"
    );
}

#[tokio::test]
async fn the_callback_must_carry_our_state() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (_, _, location) = authorize(&client).await;
    let (_, someone_elses) = client.begin();
    assert!(matches!(
        client.callback(&location, &someone_elses),
        Err(OidcError::StateMismatch)
    ));
}

#[tokio::test]
async fn the_provider_never_redirects_to_an_unregistered_uri() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (url, _) = client.begin();
    let evil = url.as_str().replace(
        &url::form_urlencoded::byte_serialize(REDIRECT.as_bytes()).collect::<String>(),
        "https%3A%2F%2Fattacker.test%2Fcb",
    );
    assert_ne!(evil, url.as_str(), "the redirect_uri was replaced");
    let (status, location) = browse(&Url::parse(&evil).unwrap()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(location, None);
}

#[tokio::test]
async fn authorize_without_pkce_is_refused_through_the_redirect() {
    let idp = provider().await;
    let client = client(&idp).await;
    let (url, pending) = client.begin();
    let mut plain = url.clone();
    let kept: Vec<(String, String)> = url
        .query_pairs()
        .into_owned()
        .filter(|(key, _)| !key.starts_with("code_challenge"))
        .collect();
    plain.query_pairs_mut().clear().extend_pairs(kept);
    let (status, location) = browse(&plain).await;
    assert_eq!(status, StatusCode::FOUND);
    let error = client.callback(&location.unwrap(), &pending).unwrap_err();
    assert!(
        matches!(error, OidcError::Provider { ref error, .. } if error == "invalid_request"),
        "{error}"
    );
}

#[tokio::test]
async fn id_tokens_wrong_in_one_claim_are_refused() {
    let idp = provider().await;
    let client = client(&idp).await;
    let nonce = "the nonce of this login";
    let base = idp.claims_for(CLIENT, Some(nonce.into()));
    assert!(
        client
            .validate_id_token(&idp.sign(&base).unwrap(), nonce)
            .await
            .is_ok()
    );
    let cases = [
        (
            idp.claims_for("other-app", Some(nonce.into())),
            IdTokenError::Claims(TokenError::WrongAudience),
        ),
        (
            IdTokenClaims {
                iss: "https://evil.test".into(),
                ..base.clone()
            },
            IdTokenError::Claims(TokenError::WrongIssuer),
        ),
        (
            IdTokenClaims {
                exp: base.iat - 3600,
                ..base.clone()
            },
            IdTokenError::Claims(TokenError::Expired),
        ),
        (
            IdTokenClaims {
                nonce: Some("another".into()),
                ..base.clone()
            },
            IdTokenError::NonceMismatch,
        ),
        (
            IdTokenClaims {
                nonce: None,
                ..base.clone()
            },
            IdTokenError::NonceMismatch,
        ),
    ];
    for (claims, expected) in cases {
        let token = idp.sign(&claims).unwrap();
        assert_eq!(
            id_token_error(client.validate_id_token(&token, nonce).await),
            expected
        );
    }
}

#[tokio::test]
async fn forged_signatures_and_algorithms_are_refused() {
    let idp = provider().await;
    let client = client(&idp).await;
    let nonce = "n";
    let genuine = idp
        .sign(&idp.claims_for(CLIENT, Some(nonce.into())))
        .unwrap();

    let mut chars: Vec<char> = genuine.chars().collect();
    let middle = chars.len() - 20;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    assert_eq!(
        id_token_error(client.validate_id_token(&tampered, nonce).await),
        IdTokenError::Claims(TokenError::BadSignature)
    );

    // Key confusion: HS256 with the published public key as the HMAC secret.
    let AlgorithmParameters::OctetKeyPair(params) = &idp.jwk().algorithm else {
        panic!("an OKP key");
    };
    let public = URL_SAFE_NO_PAD.decode(&params.x).unwrap();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(idp.key_id().into());
    let confused = jsonwebtoken::encode(
        &header,
        &idp.claims_for(CLIENT, Some(nonce.into())),
        &EncodingKey::from_secret(&public),
    )
    .unwrap();
    assert_eq!(
        id_token_error(client.validate_id_token(&confused, nonce).await),
        IdTokenError::UnexpectedAlgorithm(Algorithm::HS256)
    );

    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#);
    let body = genuine.split('.').nth(1).unwrap();
    assert_eq!(
        id_token_error(
            client
                .validate_id_token(&format!("{header}.{body}."), nonce)
                .await
        ),
        IdTokenError::Malformed
    );
}

#[tokio::test]
async fn a_key_the_provider_never_published_is_unknown() {
    let idp = provider().await;
    let stranger = provider().await;
    let client = client(&idp).await;
    let claims = IdTokenClaims {
        iss: idp.issuer().into(),
        ..stranger.claims_for(CLIENT, Some("n".into()))
    };
    let token = stranger.sign(&claims).unwrap();
    assert_eq!(
        id_token_error(client.validate_id_token(&token, "n").await),
        IdTokenError::UnknownKey(stranger.key_id().into())
    );
}

#[tokio::test]
async fn discovery_must_name_the_issuer_it_was_asked_for() {
    let idp = provider().await;
    // The same server reached by another name: its document names another issuer.
    let other_name = idp.issuer().replace("127.0.0.1", "localhost");
    let error = OidcClient::discover(&other_name, CLIENT, REDIRECT)
        .await
        .unwrap_err();
    assert!(matches!(error, OidcError::IssuerMismatch { .. }), "{error}");
}

#[tokio::test]
async fn the_jwks_publishes_an_ed25519_signing_key() {
    let idp = provider().await;
    let jwks: serde_json::Value = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/jwks.json", idp.issuer()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let key = &jwks["keys"][0];
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"], idp.key_id());
    assert_eq!(
        URL_SAFE_NO_PAD
            .decode(key["x"].as_str().unwrap())
            .unwrap()
            .len(),
        32
    );
    assert!(key.get("d").is_none(), "never the private key");
}
