//! Access tokens (JWTs we sign and verify) and the opaque refresh tokens that renew them.
//!
//! What this module shows: a JWT is `base64url(header).base64url(claims).signature`, signed
//! with HS256 and our secret. Verifying one is more than checking the signature: the algorithm
//! is pinned (a token that names another one, `none` included, is refused before any key is
//! used), and `exp`, `nbf`, `iss` and `aud` are all required and checked. `jsonwebtoken` does
//! the cryptography and the claim checks; [`TokenKeys`] decides which checks apply.
//!
//! A refresh token is the opposite kind of token: 32 random bytes that mean nothing by
//! themselves, stored only as a SHA-256 digest, looked up on every use (see
//! [`crate::sessions`]).
//!
//! Run the tests with `cargo test -p lesson-04 tokens` and `--test tokens`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use thiserror::Error;
use uuid::Uuid;

use crate::config::{self, AuthConfig};
use crate::rbac::Role;
use crate::sessions::SessionId;
use crate::store::UserId;

/// Seconds since the Unix epoch, the unit of every JWT time claim.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

// ANCHOR: claims
/// The claims of our access tokens. The registered ones (RFC 7519 §4.1) first, then ours.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// Issuer: who made the token.
    pub iss: String,
    /// Audience: who must accept it.
    pub aud: String,
    /// Subject: the user it speaks for.
    pub sub: UserId,
    /// Issued at, not before, expires at: seconds since the epoch.
    pub iat: u64,
    pub nbf: u64,
    pub exp: u64,
    /// A unique id, should one token ever need to be named (a denylist, a log line).
    pub jti: Uuid,
    /// The user's role when the token was issued. A role change takes effect at the next
    /// refresh, at most one access-token lifetime later.
    pub role: Role,
    /// The session (refresh-token family) the token belongs to: logging out ends it.
    pub sid: SessionId,
}
// ANCHOR_END: claims

/// Why an access token was refused. Every variant is a 401 for the client; the variants exist
/// for the logs and for this lesson.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token was issued by someone else")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
    #[error("the signature does not match")]
    BadSignature,
    #[error("the token uses an algorithm this service does not accept")]
    WrongAlgorithm,
    #[error("the token lacks the `{0}` claim")]
    MissingClaim(String),
    #[error("the token is not a well-formed JWT")]
    Malformed,
}

impl From<jsonwebtoken::errors::Error> for TokenError {
    fn from(error: jsonwebtoken::errors::Error) -> Self {
        match error.into_kind() {
            ErrorKind::ExpiredSignature => TokenError::Expired,
            ErrorKind::ImmatureSignature => TokenError::NotYetValid,
            ErrorKind::InvalidIssuer => TokenError::WrongIssuer,
            ErrorKind::InvalidAudience => TokenError::WrongAudience,
            ErrorKind::InvalidSignature => TokenError::BadSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                TokenError::WrongAlgorithm
            }
            ErrorKind::MissingRequiredClaim(claim) => TokenError::MissingClaim(claim),
            // `alg: none` lands here: jsonwebtoken has no such algorithm, so the header does
            // not even parse. Bad base64, bad JSON and wrong shapes land here too.
            _ => TokenError::Malformed,
        }
    }
}

/// The keys and rules for our access tokens, built once from the configuration.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl TokenKeys {
    // ANCHOR: validation
    pub fn new(config: &AuthConfig) -> Self {
        let secret = config::bytes(&config.jwt_secret);
        // One algorithm, named here and nowhere else: the token's header does not get a say.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&config.issuer]);
        validation.set_audience(&[&config.audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        // Our own tokens, checked by our own clock: a few seconds cover clock steps.
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl: config.access_ttl,
        }
    }
    // ANCHOR_END: validation

    /// Signs an access token for `user`, valid from `now` for the configured lifetime.
    pub fn issue(
        &self,
        user: UserId,
        role: Role,
        sid: SessionId,
        now: u64,
    ) -> Result<String, TokenError> {
        let claims = AccessClaims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user,
            iat: now,
            nbf: now,
            exp: now + self.ttl.as_secs(),
            jti: Uuid::new_v4(),
            role,
            sid,
        };
        self.sign(&claims)
    }

    /// Signs any claims with our key: `issue` for real tokens, tests for broken ones.
    pub fn sign(&self, claims: &AccessClaims) -> Result<String, TokenError> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.encoding)
            .map_err(TokenError::from)
    }

    /// Checks the signature, the algorithm and every time and party claim, in that order.
    pub fn verify(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)?;
        Ok(data.claims)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }
}

/// Keys are never printed.
impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys").finish_non_exhaustive()
    }
}

/// The middle part of a JWT, decoded *without* checking anything: for printing only.
pub fn peek(token: &str) -> Option<(serde_json::Value, serde_json::Value)> {
    let mut parts = token.split('.');
    let mut part = || -> Option<serde_json::Value> {
        let bytes = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
        serde_json::from_slice(&bytes).ok()
    };
    Some((part()?, part()?))
}

// ANCHOR: refresh_token
/// An opaque refresh token: 256 random bits, base64url. Whoever holds it can renew a session,
/// so it is a secret: redacted in `Debug`, sent once, stored only as [`digest`].
#[derive(Clone)]
pub struct RefreshToken(SecretString);

impl RefreshToken {
    pub fn generate() -> Self {
        let bytes: [u8; 32] = rand::random();
        Self(SecretString::from(URL_SAFE_NO_PAD.encode(bytes)))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl std::fmt::Debug for RefreshToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RefreshToken([REDACTED])")
    }
}

/// SHA-256 of a random token. No salt and no slow hash needed: with 256 bits of entropy there
/// is no dictionary to try, and a fast hash keeps every refresh cheap. A leaked table of
/// digests is useless, since presenting a digest proves nothing.
pub fn digest(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}
// ANCHOR_END: refresh_token

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&AuthConfig::for_tests())
    }

    #[test]
    fn a_fresh_token_round_trips() {
        let keys = keys();
        let (user, sid) = (UserId::new(), SessionId::new());
        let token = keys.issue(user, Role::Support, sid, unix_now()).unwrap();
        let claims = keys.verify(&token).unwrap();
        assert_eq!(
            (claims.sub, claims.role, claims.sid),
            (user, Role::Support, sid)
        );
        assert_eq!(claims.exp - claims.iat, 300);
    }

    #[test]
    fn peek_shows_header_and_claims() {
        let token = keys()
            .issue(UserId::new(), Role::Admin, SessionId::new(), 1_700_000_000)
            .unwrap();
        let (header, claims) = peek(&token).unwrap();
        assert_eq!(header["alg"], "HS256");
        assert_eq!(claims["role"], "admin");
        assert_eq!(claims["iat"], 1_700_000_000);
    }

    #[test]
    fn refresh_tokens_are_random_and_redacted() {
        let (a, b) = (RefreshToken::generate(), RefreshToken::generate());
        assert_ne!(a.expose(), b.expose());
        assert_eq!(
            a.expose().len(),
            43,
            "32 bytes in base64url without padding"
        );
        assert!(!format!("{a:?}").contains(a.expose()));
        assert_ne!(digest(a.expose()), digest(b.expose()));
    }
}
