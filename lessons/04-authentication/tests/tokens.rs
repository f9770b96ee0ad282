//! Access tokens and passwords at the library level: forged, expired and `alg: none` tokens,
//! rehash on login, and the decoy hash for unknown emails.
//!
//! `cargo test -p lesson-04 --test tokens`

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use lesson_04::accounts::{Accounts, AuthError};
use lesson_04::config::AuthConfig;
use lesson_04::password::{HashParams, Password, PasswordHasher, phc_params};
use lesson_04::rbac::Role;
use lesson_04::sessions::SessionId;
use lesson_04::store::UserId;
use lesson_04::tokens::{AccessClaims, TokenError, TokenKeys, unix_now};

const CHEAP: HashParams = HashParams {
    memory_kib: 64,
    iterations: 1,
    parallelism: 1,
};
const CHEAPER_BEFORE: HashParams = HashParams {
    memory_kib: 32,
    iterations: 1,
    parallelism: 1,
};

fn config() -> AuthConfig {
    AuthConfig {
        hash_params: CHEAP,
        ..AuthConfig::for_tests()
    }
}

fn genuine(keys: &TokenKeys) -> AccessClaims {
    let token = keys
        .issue(UserId::new(), Role::Customer, SessionId::new(), unix_now())
        .expect("our keys sign");
    keys.verify(&token).expect("our keys verify what they sign")
}

// ANCHOR: forged_test
#[test]
fn every_claim_check_refuses_its_forgery() {
    let keys = TokenKeys::new(&config());
    let claims = genuine(&keys);
    let now = unix_now();
    let cases = [
        (
            AccessClaims {
                exp: now - 60,
                ..claims.clone()
            },
            TokenError::Expired,
        ),
        (
            AccessClaims {
                nbf: now + 60,
                ..claims.clone()
            },
            TokenError::NotYetValid,
        ),
        (
            AccessClaims {
                iss: "someone-else".into(),
                ..claims.clone()
            },
            TokenError::WrongIssuer,
        ),
        (
            AccessClaims {
                aud: "billing".into(),
                ..claims.clone()
            },
            TokenError::WrongAudience,
        ),
    ];
    for (forged, expected) in cases {
        let token = keys.sign(&forged).unwrap();
        assert_eq!(keys.verify(&token), Err(expected));
    }
}
// ANCHOR_END: forged_test

#[test]
fn a_small_clock_difference_is_tolerated() {
    let keys = TokenKeys::new(&config());
    let claims = genuine(&keys);
    let token = keys
        .sign(&AccessClaims {
            exp: unix_now() - 2,
            ..claims
        })
        .unwrap();
    assert!(keys.verify(&token).is_ok(), "within the 5 s leeway");
}

#[test]
fn an_edited_payload_breaks_the_signature() {
    let keys = TokenKeys::new(&config());
    let token = keys
        .issue(UserId::new(), Role::Customer, SessionId::new(), unix_now())
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let claims = String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let edited = URL_SAFE_NO_PAD.encode(claims.replace("customer", "admin"));
    let forged = format!("{}.{edited}.{}", parts[0], parts[2]);
    assert_eq!(keys.verify(&forged), Err(TokenError::BadSignature));
}

#[test]
fn another_secret_and_another_algorithm_are_refused() {
    let keys = TokenKeys::new(&config());
    let claims = genuine(&keys);
    let other = TokenKeys::new(&AuthConfig::from_lookup(|_| None).unwrap());
    assert_eq!(
        keys.verify(&other.sign(&claims).unwrap()),
        Err(TokenError::BadSignature)
    );
    // The right secret, but HS512: the algorithm is pinned to HS256.
    let secret = format!(
        "{}-a-test-value-that-is-long-enough",
        lesson_04::config::JWT_SECRET_VAR
    );
    let hs512 = jsonwebtoken::encode(
        &Header::new(Algorithm::HS512),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    assert_eq!(keys.verify(&hs512), Err(TokenError::WrongAlgorithm));
}

#[test]
fn alg_none_is_not_a_token() {
    let keys = TokenKeys::new(&config());
    let claims = genuine(&keys);
    let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#);
    let body = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap());
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        assert_eq!(keys.verify(&token), Err(TokenError::Malformed), "{token}");
    }
}

#[test]
fn a_token_without_the_claims_we_need_is_refused() {
    let keys = TokenKeys::new(&config());
    let secret = format!(
        "{}-a-test-value-that-is-long-enough",
        lesson_04::config::JWT_SECRET_VAR
    );
    let claims = serde_json::json!({ "sub": UserId::new(), "exp": unix_now() + 60 });
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    // Correctly signed, but it cannot be our claims: deserialising them fails first.
    assert_eq!(keys.verify(&token), Err(TokenError::Malformed));
}

#[tokio::test]
async fn login_upgrades_a_hash_made_with_old_parameters() {
    let config = config();
    let today = Accounts::new(&config).unwrap();
    let last_year =
        today.with_hasher(PasswordHasher::new(config.pepper.clone(), CHEAPER_BEFORE).unwrap());
    let user = last_year
        .add_user(
            "grace@shop.test",
            Password::new("an old but long password"),
            Role::Customer,
        )
        .await
        .unwrap();
    let stored = || today.users().get(user.id).unwrap().password_hash;
    assert_eq!(phc_params(&stored()), "m=32,t=1,p=1");

    let wrong = today
        .login("grace@shop.test", Password::new("not the password"))
        .await;
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    assert_eq!(
        phc_params(&stored()),
        "m=32,t=1,p=1",
        "no upgrade without the password"
    );

    let first = today
        .login("grace@shop.test", Password::new("an old but long password"))
        .await
        .unwrap();
    assert!(first.rehashed);
    assert_eq!(phc_params(&stored()), "m=64,t=1,p=1");
    let second = today
        .login("grace@shop.test", Password::new("an old but long password"))
        .await
        .unwrap();
    assert!(!second.rehashed, "already current");
}

#[tokio::test]
async fn an_unknown_email_is_refused_like_a_wrong_password() {
    let accounts = Accounts::new(&config()).unwrap();
    let result = accounts
        .login("nobody@shop.test", Password::new("whatever it is"))
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)));
    let result = accounts
        .login("not an email", Password::new("whatever it is"))
        .await;
    assert!(matches!(result, Err(AuthError::InvalidCredentials)));
}

#[tokio::test]
async fn authenticate_checks_the_session_as_well_as_the_token() {
    let accounts = Accounts::new(&config()).unwrap();
    accounts
        .add_user(
            "a@shop.test",
            Password::new("a long enough passphrase"),
            Role::Admin,
        )
        .await
        .unwrap();
    let logged_in = accounts
        .login("a@shop.test", Password::new("a long enough passphrase"))
        .await
        .unwrap();
    let caller = accounts
        .authenticate(&logged_in.tokens.access_token)
        .unwrap();
    assert_eq!(caller.role, Role::Admin);
    accounts.logout(&caller);
    assert!(matches!(
        accounts.authenticate(&logged_in.tokens.access_token),
        Err(AuthError::SessionEnded)
    ));
    // A token for a session that never existed is refused the same way.
    let stray = accounts
        .token_keys()
        .issue(caller.id, Role::Admin, SessionId::new(), unix_now())
        .unwrap();
    assert!(matches!(
        accounts.authenticate(&stray),
        Err(AuthError::SessionEnded)
    ));
}
