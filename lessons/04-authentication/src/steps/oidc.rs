//! Step 7: signing in with OpenID Connect against the local identity provider.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::jwk::AlgorithmParameters;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use narrate::{Table, heading, say, show, truncate};
use oauth2::{PkceCodeVerifier, TokenResponse as _};
use reqwest::StatusCode;
use reqwest::header::LOCATION;
use url::Url;

use super::{Demo, REDIRECT_URI, StepError, check};
use crate::idp::{self, IdTokenClaims, IdpConfig};
use crate::oidc::{OidcClient, OidcError, PendingLogin};

const CLIENT_ID: &str = "lesson-04-web";

/// Plays the user's browser: opens the authorization URL, returns where it is redirected.
async fn browse(url: &Url) -> Result<(StatusCode, Option<Url>), StepError> {
    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .build()
        .map_err(crate::client::ClientError::Build)?;
    let response = browser.get(url.clone()).send().await.map_err(|source| {
        crate::client::ClientError::Request {
            method: reqwest::Method::GET,
            path: url.path().to_owned(),
            source,
        }
    })?;
    let location = response
        .headers()
        .get(LOCATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| Url::parse(value).ok());
    Ok((response.status(), location))
}

/// Begins a login and follows the browser to the callback, returning the code.
async fn authorize(
    client: &OidcClient,
) -> Result<(oauth2::AuthorizationCode, PendingLogin), StepError> {
    let (url, pending) = client.begin();
    let (_, location) = browse(&url).await?;
    let location = location.ok_or_else(|| StepError::Story {
        expected: "a redirect from /authorize".into(),
        got: "no location".into(),
    })?;
    let code = client.callback(&location, &pending)?;
    Ok((code, pending))
}

pub async fn openid_connect(demo: &Demo) -> Result<(), StepError> {
    heading(
        7,
        "Sign in with OpenID Connect: authorization code + PKCE, ID token, JWKS",
    );
    let client = OidcClient::discover(demo.idp.issuer(), CLIENT_ID, REDIRECT_URI).await?;
    let metadata = client.metadata();
    say("Discovery: the client reads where everything is from the issuer's well-known URL.");
    show(format_args!(
        "authorization_endpoint  {}",
        metadata.authorization_endpoint
    ));
    show(format_args!(
        "token_endpoint          {}",
        metadata.token_endpoint
    ));
    show(format_args!(
        "jwks_uri                {}  (kid {}…)",
        metadata.jwks_uri,
        &demo.idp.key_id()[..12]
    ));

    let (url, pending) = client.begin();
    say("The authorization URL the browser is sent to (oauth2 built it):");
    for (key, value) in url.query_pairs() {
        show(format_args!("{key:<22} {}", truncate(&value, 70)));
    }
    say("`state` defends the callback against CSRF, `code_challenge` is SHA-256 of the PKCE");
    say("verifier the client keeps, `nonce` must come back inside the ID token.");
    let (status, location) = browse(&url).await?;
    let location = location.ok_or_else(|| StepError::Story {
        expected: "a redirect".into(),
        got: format!("{status} without location"),
    })?;
    show(format_args!(
        "← {status}, location: {}",
        truncate(location.as_str(), 80)
    ));
    let code = client.callback(&location, &pending)?;

    say("First, an exchange with the wrong verifier, as an attacker who stole the code would:");
    let wrong = PkceCodeVerifier::new(URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>()));
    let refused = client.exchange(code, wrong).await;
    show(format_args!("{}", outcome(&refused)));
    check(refused.is_err(), "a wrong verifier to be refused", "tokens")?;
    say("The provider spent the code on that failed attempt. The real client starts again:");
    let (code, pending) = authorize(&client).await?;
    let replay = oauth2::AuthorizationCode::new(code.secret().clone());
    let tokens = client.exchange(code, pending.pkce_verifier).await?;
    show(format_args!(
        "← token_type {:?}, expires_in {:?}, id_token {}…",
        tokens.token_type(),
        tokens.expires_in().map(|d| d.as_secs()),
        truncate(&tokens.extra_fields().id_token, 40)
    ));
    let id_token = tokens.extra_fields().id_token.clone();
    let claims = client.validate_id_token(&id_token, &pending.nonce).await?;
    say("The ID token checks out: signature by the JWKS key, iss, aud, exp, iat, nonce.");
    show(format_args!(
        "sub {} · email {:?} · name {:?}",
        claims.sub, claims.email, claims.name
    ));

    say("What the client must refuse:");
    let mut table = Table::new(["attempt", "outcome"]);
    let replay_verifier = PkceCodeVerifier::new("x".repeat(43));
    table.row([
        "the same code again".to_owned(),
        outcome(&client.exchange(replay, replay_verifier).await),
    ]);
    let (_, other_pending) = client.begin();
    table.row([
        "a callback with another login's state".to_owned(),
        outcome(&client.callback(&location, &other_pending)),
    ]);
    let (status, _) = browse(&unregistered_redirect(&url)).await?;
    table.row([
        "authorize with an unregistered redirect_uri".to_owned(),
        format!("{status} (no redirect)"),
    ]);
    for (label, token) in forged_tokens(demo, &id_token, &pending.nonce).await? {
        let result = client.validate_id_token(&token, &pending.nonce).await;
        check(
            result.is_err(),
            &format!("{label} to be refused"),
            "accepted",
        )?;
        table.row([label.to_owned(), outcome(&result)]);
    }
    let result = client
        .validate_id_token(&id_token, "another login's nonce")
        .await;
    table.row([
        "the right token, another login's nonce".to_owned(),
        outcome(&result),
    ]);
    print!("{table}");
    Ok(())
}

/// `Ok` or the error, on one line.
fn outcome<T>(result: &Result<T, OidcError>) -> String {
    match result {
        Ok(_) => "accepted".into(),
        Err(error) => truncate(&error.to_string(), 70),
    }
}

/// The authorization URL with its redirect URI swapped for an attacker's.
fn unregistered_redirect(url: &Url) -> Url {
    let pairs: Vec<(String, String)> = url
        .query_pairs()
        .map(|(key, value)| {
            let value = if key == "redirect_uri" {
                "https://attacker.test/steal".into()
            } else {
                value.into_owned()
            };
            (key.into_owned(), value)
        })
        .collect();
    let mut evil = url.clone();
    evil.query_pairs_mut().clear().extend_pairs(pairs);
    evil
}

/// ID tokens that are wrong in one way each.
async fn forged_tokens(
    demo: &Demo,
    genuine: &str,
    nonce: &str,
) -> Result<Vec<(&'static str, String)>, StepError> {
    let idp = &demo.idp;
    let sign = |claims: IdTokenClaims| {
        idp.sign(&claims).map_err(|error| StepError::Story {
            expected: "a signed token".into(),
            got: error.to_string(),
        })
    };
    let base = idp.claims_for(CLIENT_ID, Some(nonce.into()));
    let for_other_app = sign(idp.claims_for("other-app", Some(nonce.into())))?;
    let other_issuer = sign(IdTokenClaims {
        iss: "https://accounts.attacker.test".into(),
        ..base.clone()
    })?;
    let expired = sign(IdTokenClaims {
        iat: base.iat - 7200,
        exp: base.iat - 3600,
        ..base.clone()
    })?;
    // A second provider with its own key: its token names a kid our provider never published.
    let stranger = idp::start(
        ([127, 0, 0, 1], 0).into(),
        IdpConfig::demo(REDIRECT_URI),
        Default::default(),
    )
    .await?;
    let unknown_key = stranger.sign(&IdTokenClaims {
        iss: idp.issuer().into(),
        ..base.clone()
    });
    stranger.stop().await?;
    let unknown_key = unknown_key.map_err(|error| StepError::Story {
        expected: "a signed token".into(),
        got: error.to_string(),
    })?;
    Ok(vec![
        ("an ID token for another client (aud)", for_other_app),
        ("a token naming another issuer (iss)", other_issuer),
        ("an expired token (exp)", expired),
        (
            "one byte of the signature changed",
            tamper_signature(genuine),
        ),
        (
            "HS256, keyed with the public key",
            key_confusion(demo, genuine),
        ),
        ("signed by another provider's key", unknown_key),
    ])
}

/// Flips one character in the middle of the signature.
fn tamper_signature(token: &str) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let middle = chars.len() - 20;
    chars[middle] = if chars[middle] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

/// The key-confusion attack: the genuine claims, signed with HS256 using the provider's
/// *public* key (which anyone can download from the JWKS) as the HMAC secret. A verifier that
/// let the token choose its algorithm would check it with that same public key, and pass.
fn key_confusion(demo: &Demo, genuine: &str) -> String {
    let claims = genuine.split('.').nth(1).unwrap_or_default();
    let claims: serde_json::Value = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .unwrap_or_default();
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(demo.idp.key_id().to_owned());
    let public_key = match &demo.idp.jwk().algorithm {
        AlgorithmParameters::OctetKeyPair(params) => {
            URL_SAFE_NO_PAD.decode(&params.x).unwrap_or_default()
        }
        _ => Vec::new(),
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(&public_key))
        .unwrap_or_default()
}
