//! Steps 3 and 4: sessions with access and refresh tokens, and tokens that must be refused.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use narrate::{Table, heading, say, show, truncate};
use reqwest::{Method, StatusCode};
use serde_json::json;

use super::{ALICE, Demo, StepError, check, ensure_account};
use crate::accounts::TokenPair;
use crate::client::Exchange;
use crate::config::AuthConfig;
use crate::rbac::Role;
use crate::sessions::Revoked;
use crate::tokens::{AccessClaims, TokenKeys, peek, unix_now};

/// Logs in over HTTP and returns the token pair.
pub(super) async fn login(
    demo: &Demo,
    account: (&str, &str, Role),
) -> Result<TokenPair, StepError> {
    Ok(login_exchange(demo, account).await?.json()?)
}

/// `POST /auth/login` for `account`, expecting 200; the whole exchange, to print.
async fn login_exchange(
    demo: &Demo,
    (email, password, _): (&str, &str, Role),
) -> Result<Exchange, StepError> {
    let body = json!({ "email": email, "password": password });
    demo.call(
        Method::POST,
        "/auth/login",
        None,
        Some(body),
        StatusCode::OK,
    )
    .await
}

/// `POST /auth/refresh` with `refresh_token`, expecting `expected`.
async fn refresh(
    demo: &Demo,
    refresh_token: &str,
    expected: StatusCode,
) -> Result<Exchange, StepError> {
    let body = json!({ "refresh_token": refresh_token });
    demo.call(Method::POST, "/auth/refresh", None, Some(body), expected)
        .await
}

/// `GET /me`, with `access_token` as the bearer token when there is one.
async fn me(
    demo: &Demo,
    access_token: Option<&str>,
    expected: StatusCode,
) -> Result<Exchange, StepError> {
    demo.call(Method::GET, "/me", access_token, None, expected)
        .await
}

pub async fn sessions(demo: &Demo) -> Result<(), StepError> {
    heading(3, "Register, log in, refresh, and a stolen refresh token");
    say("Registration refuses a weak password (422), then creates a customer (201):");
    let weak = json!({ "email": "alice@shop.test", "password": "hunter2" });
    demo.call(
        Method::POST,
        "/auth/register",
        None,
        Some(weak),
        StatusCode::UNPROCESSABLE_ENTITY,
    )
    .await?
    .print_brief();
    let body = json!({ "email": "Alice@Shop.test", "password": "alice's long passphrase" });
    demo.call(
        Method::POST,
        "/auth/register",
        None,
        Some(body),
        StatusCode::CREATED,
    )
    .await?
    .print();

    say("Login answers with two tokens: a JWT for requests, an opaque one to renew it.");
    let exchange = login_exchange(demo, ALICE).await?;
    exchange.print();
    let pair: TokenPair = exchange.json()?;
    if let Some((header, claims)) = peek(&pair.access_token) {
        say("The access token is three base64url parts; the first two are only encoded, not");
        say("encrypted, so anyone can read them (never put a secret in a JWT):");
        show(format_args!("header: {header}"));
        show(format_args!(
            "claims: {}",
            truncate(&claims.to_string(), 100)
        ));
    }

    say("A protected route needs the token; without it, 401 and a challenge:");
    me(demo, Some(&pair.access_token), StatusCode::OK)
        .await?
        .print();
    me(demo, None, StatusCode::UNAUTHORIZED).await?.print();

    say("Refreshing rotates: the answer holds a new refresh token, and the old one is spent.");
    let stolen = pair.refresh_token.clone();
    let exchange = refresh(demo, &pair.refresh_token, StatusCode::OK).await?;
    exchange.print_brief();
    let renewed: TokenPair = exchange.json()?;

    say("Now an attacker replays the first refresh token, copied from a log or a proxy:");
    refresh(demo, &stolen, StatusCode::UNAUTHORIZED)
        .await?
        .print_brief();
    say("The server cannot tell thief from user, so it ended the whole family. Alice's newer");
    say("refresh token and her access token die with it; she must log in again:");
    refresh(demo, &renewed.refresh_token, StatusCode::UNAUTHORIZED)
        .await?
        .print_brief();
    me(demo, Some(&renewed.access_token), StatusCode::UNAUTHORIZED)
        .await?
        .print_brief();
    let claims = demo
        .state
        .accounts
        .token_keys()
        .verify(&renewed.access_token)?;
    let revoked = demo.state.accounts.sessions().revoked(claims.sid);
    show(format_args!("session {} → {revoked:?}", claims.sid));
    check(
        revoked == Some(Revoked::ReuseDetected),
        "reuse detection to revoke the session",
        revoked,
    )?;

    say("Logout ends the session at once; the access token is refused from then on, although");
    say("its signature and `exp` are still fine, because every request checks its session:");
    let pair = login(demo, ALICE).await?;
    demo.call(
        Method::POST,
        "/auth/logout",
        Some(&pair.access_token),
        None,
        StatusCode::NO_CONTENT,
    )
    .await?
    .print_brief();
    me(demo, Some(&pair.access_token), StatusCode::UNAUTHORIZED)
        .await?
        .print_brief();
    Ok(())
}

pub async fn forged_tokens(demo: &Demo) -> Result<(), StepError> {
    heading(4, "Tokens that must be refused");
    ensure_account(demo, ALICE).await?;
    let pair = login(demo, ALICE).await?;
    let keys = demo.state.accounts.token_keys();
    let genuine = keys.verify(&pair.access_token)?;
    let now = unix_now();

    let expired = keys.sign(&AccessClaims {
        iat: now - 3600,
        nbf: now - 3600,
        exp: now - 3000,
        ..genuine.clone()
    })?;
    let future = keys.sign(&AccessClaims {
        nbf: now + 3600,
        exp: now + 4000,
        ..genuine.clone()
    })?;
    let other_audience = keys.sign(&AccessClaims {
        aud: "billing-service".into(),
        ..genuine.clone()
    })?;
    let other_key =
        TokenKeys::new(
            &AuthConfig::from_lookup(|_| None).map_err(|error| StepError::Story {
                expected: "a configuration".into(),
                got: error.to_string(),
            })?,
        )
        .sign(&AccessClaims {
            role: Role::Admin,
            ..genuine.clone()
        })?;
    let cases = [
        ("genuine", pair.access_token.clone()),
        ("`exp` an hour ago", expired),
        ("`nbf` in an hour", future),
        ("`aud` is another service", other_audience),
        ("role edited to admin", edit_role(&pair.access_token)),
        ("signed with another key", other_key),
        ("`alg: none`, no signature", unsigned(&pair.access_token)),
    ];
    say("Each token below goes to GET /me; the reason comes from the server's log side:");
    let mut table = Table::new(["token", "status", "why"]);
    for (label, token) in cases {
        let exchange = demo
            .client
            .send(Method::GET, "/me", Some(&token), None)
            .await?;
        let why = match demo.state.accounts.authenticate(&token) {
            Ok(_) => "accepted".to_owned(),
            Err(error) => error.to_string(),
        };
        let expected = if label == "genuine" {
            StatusCode::OK
        } else {
            StatusCode::UNAUTHORIZED
        };
        check(
            exchange.status == expected,
            &format!("{label} → {expected}"),
            exchange.status,
        )?;
        table.row([label.to_owned(), exchange.status.as_str().to_owned(), why]);
    }
    print!("{table}");
    say("The client only ever reads `invalid access token`: the precise reason helps an attacker");
    say("more than a legitimate client, so it goes to the log. `none` fails before any key is");
    say("touched, because the algorithm is fixed by the server (HS256), not read from the token.");
    Ok(())
}

/// The token with `"role":"admin"` in its claims and its original signature.
fn edit_role(token: &str) -> String {
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    if let Some(claims) = parts
        .get(1)
        .and_then(|part| URL_SAFE_NO_PAD.decode(part).ok())
    {
        let edited = String::from_utf8_lossy(&claims).replace("\"customer\"", "\"admin\"");
        parts[1] = URL_SAFE_NO_PAD.encode(edited);
    }
    parts.join(".")
}

/// The token's claims under a header saying `alg: none`, and an empty signature.
fn unsigned(token: &str) -> String {
    let claims = token.split('.').nth(1).unwrap_or_default();
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{claims}.")
}
