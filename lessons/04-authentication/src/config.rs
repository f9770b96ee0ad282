//! Configuration read once at start-up from the environment, with every secret wrapped in
//! `secrecy`.
//!
//! What this module shows: where the keys of an authentication service come from. The JWT
//! signing secret and the password pepper are read from `LESSON04_JWT_SECRET` and
//! `LESSON04_PEPPER`; when a variable is absent, a random value is generated for this run only
//! (and [`AuthConfig::generated`] says so, so the demo can tell you), which keeps
//! `cargo run -p lesson-04` working on a laptop with nothing set. A production service refuses
//! to start instead: a generated pepper makes every stored password unverifiable after a
//! restart. `SecretString` prints as `[REDACTED]` in `Debug`, so a `tracing::debug!(?config)`
//! cannot leak a key; reading the value takes an explicit `expose_secret()`, easy to grep for.
//!
//! Run the tests with `cargo test -p lesson-04 config`.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use thiserror::Error;

use crate::password::HashParams;

/// The variable holding the HS256 key that signs access tokens.
pub const JWT_SECRET_VAR: &str = "LESSON04_JWT_SECRET";
/// The variable holding the pepper mixed into every password hash.
pub const PEPPER_VAR: &str = "LESSON04_PEPPER";
/// HS256 keys shorter than the hash output (32 bytes) weaken it (RFC 7518 §3.2).
pub const MIN_SECRET_BYTES: usize = 32;

// ANCHOR: config
/// Everything the authentication code needs to know, decided at start-up.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// `iss` of our access tokens: who issued them.
    pub issuer: String,
    /// `aud` of our access tokens: who they are for. A token for another service is refused.
    pub audience: String,
    /// The HS256 key. Symmetric: whoever can verify can also sign, so it never leaves this
    /// service (a key other services verify with would be asymmetric, as the IdP's is).
    pub jwt_secret: SecretString,
    /// Mixed into every password hash as argon2's secret input: a database dump without it
    /// cannot be attacked offline. Stored apart from the database (environment, vault).
    pub pepper: SecretString,
    /// How long an access token lives: short, because a JWT cannot be recalled.
    pub access_ttl: Duration,
    /// How long a refresh-token family lives without being used.
    pub refresh_ttl: Duration,
    /// The argon2id cost of new password hashes.
    pub hash_params: HashParams,
    /// The variables that were absent and got a random value for this run.
    pub generated: Vec<&'static str>,
}
// ANCHOR_END: config

/// A configuration value that cannot be used.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error(
        "{name} must be at least {min} bytes long (it has {len}); generate one with `openssl rand -base64 32`"
    )]
    TooShort {
        name: &'static str,
        min: usize,
        len: usize,
    },
}

impl AuthConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    // ANCHOR: from_lookup
    /// Reads the variables through `lookup`, so tests need not touch the process environment
    /// (which is shared by every test thread).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut generated = Vec::new();
        let mut secret = |name: &'static str| -> Result<SecretString, ConfigError> {
            match lookup(name) {
                Some(value) if value.len() >= MIN_SECRET_BYTES => Ok(SecretString::from(value)),
                Some(value) => Err(ConfigError::TooShort {
                    name,
                    min: MIN_SECRET_BYTES,
                    len: value.len(),
                }),
                None => {
                    generated.push(name);
                    Ok(random_secret())
                }
            }
        };
        let jwt_secret = secret(JWT_SECRET_VAR)?;
        let pepper = secret(PEPPER_VAR)?;
        Ok(Self {
            issuer: "http://backend-rs.local/lesson-04".into(),
            audience: "lesson-04-api".into(),
            jwt_secret,
            pepper,
            access_ttl: Duration::from_secs(5 * 60),
            refresh_ttl: Duration::from_secs(14 * 24 * 60 * 60),
            hash_params: HashParams::default(),
            generated,
        })
    }
    // ANCHOR_END: from_lookup

    /// The same configuration with fixed keys, for tests and examples.
    pub fn for_tests() -> Self {
        Self::from_lookup(|name| Some(format!("{name}-a-test-value-that-is-long-enough")))
            .expect("the test values are long enough")
    }
}

/// 32 random bytes from the operating system's generator, as URL-safe base64.
fn random_secret() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// The bytes of a secret, for the one call that needs them.
pub(crate) fn bytes(secret: &SecretString) -> &[u8] {
    secret.expose_secret().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_secrets_are_generated_and_reported() {
        let config = AuthConfig::from_lookup(|_| None).unwrap();
        assert_eq!(config.generated, [JWT_SECRET_VAR, PEPPER_VAR]);
        let again = AuthConfig::from_lookup(|_| None).unwrap();
        assert_ne!(
            config.jwt_secret.expose_secret(),
            again.jwt_secret.expose_secret(),
            "a fresh random key per run"
        );
    }

    #[test]
    fn a_short_secret_is_refused_with_advice() {
        let error =
            AuthConfig::from_lookup(|name| (name == JWT_SECRET_VAR).then(|| "hunter2".to_owned()))
                .unwrap_err();
        assert_eq!(
            error,
            ConfigError::TooShort {
                name: JWT_SECRET_VAR,
                min: 32,
                len: 7
            }
        );
        assert!(error.to_string().contains("openssl rand"));
    }

    #[test]
    fn debug_output_never_contains_a_secret() {
        let config = AuthConfig::for_tests();
        let printed = format!("{config:?}");
        assert!(!printed.contains("long-enough"), "{printed}");
        assert!(printed.contains("REDACTED"), "{printed}");
    }
}
