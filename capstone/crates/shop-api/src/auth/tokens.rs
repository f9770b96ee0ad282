//! Access tokens: JWTs signed with HS256 by the service itself, valid for minutes.
//!
//! Why a JWT here and nowhere else: an access token is checked on every request, and a
//! signature check needs no database round trip. The price is that a signed token cannot be
//! taken back before it expires, so it lives briefly; sessions that last (and can be revoked)
//! are refresh tokens, which are opaque and stored (see the accounts routes).
//!
//! Every claim that makes a token *ours* is checked on the way in: the algorithm is pinned (a
//! token that says `alg: none` or `RS256` is refused before any key is tried), and `iss`, `aud`
//! and `exp` must be present and right.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use shop_domain::{Role, UserId};
use uuid::Uuid;

/// Who signs the service's tokens, and who they are for.
pub const ISSUER: &str = "shop-api";
pub const AUDIENCE: &str = "shop-api";

// ANCHOR: claims
/// What an access token says. `sub` is the user; `role` is their role when it was issued, so
/// a role change takes effect within one token lifetime.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub sub: Uuid,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    /// Issued at and expiry, in seconds since the Unix epoch.
    pub iat: u64,
    pub exp: u64,
    /// A unique id per token, so one can be told from another in logs.
    pub jti: Uuid,
    /// The session (refresh-token family) the token was issued in. Every request checks that
    /// the session is still live, so logout and revocation end access tokens at once instead
    /// of when they expire. Absent only in tokens minted outside a sign-in (tests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
}
// ANCHOR_END: claims

impl AccessClaims {
    pub fn user_id(&self) -> UserId {
        UserId::from_uuid(self.sub)
    }
}

/// Why a token was refused. The client sees only "invalid or expired token": which check
/// failed helps an attacker more than a legitimate user.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid(#[source] jsonwebtoken::errors::Error),
    #[error("the token could not be signed")]
    Sign(#[source] jsonwebtoken::errors::Error),
}

/// The signing secret and the rules for the service's access tokens. Held in `AppState`,
/// never in a `static`: a test builds its own keys.
#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    access_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The keys stay out of every log line.
        f.debug_struct("TokenKeys")
            .field("access_ttl", &self.access_ttl)
            .finish_non_exhaustive()
    }
}

impl TokenKeys {
    /// Keys from a shared secret (at least 32 bytes: HS256's key should be as long as its hash).
    pub fn new(secret: &SecretString, access_ttl: Duration) -> TokenKeys {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Clocks of the machines behind a load balancer differ by a little, never by minutes.
        validation.leeway = 5;
        TokenKeys {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
            access_ttl,
        }
    }

    /// How long an access token stays valid.
    pub fn access_ttl(&self) -> Duration {
        self.access_ttl
    }

    // ANCHOR: issue
    /// A signed access token for `user` acting as `role`, outside any session.
    pub fn issue_access(&self, user: UserId, role: Role) -> Result<String, TokenError> {
        self.issue(user, role, None)
    }

    /// A signed access token issued in session `session` (a sign-in or a refresh).
    pub fn issue_session_access(
        &self,
        user: UserId,
        role: Role,
        session: Uuid,
    ) -> Result<String, TokenError> {
        self.issue(user, role, Some(session))
    }

    fn issue(&self, user: UserId, role: Role, sid: Option<Uuid>) -> Result<String, TokenError> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = AccessClaims {
            sub: user.as_uuid(),
            role,
            iss: ISSUER.to_owned(),
            aud: AUDIENCE.to_owned(),
            iat: now,
            exp: now + self.access_ttl.as_secs(),
            jti: Uuid::new_v4(),
            sid,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .map_err(TokenError::Sign)
    }
    // ANCHOR_END: issue

    // ANCHOR: verify
    /// The claims of a token this service issued, unexpired and unmodified.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, TokenError> {
        use jsonwebtoken::errors::ErrorKind;
        jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map(|data| data.claims)
            .map_err(|error| match error.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid(error),
            })
    }
    // ANCHOR_END: verify
}

/// A random signing secret for a process that was given none: tokens then die with the
/// process, which is fine on a laptop and wrong behind a load balancer (the config says so).
pub fn random_secret() -> SecretString {
    use base64::Engine as _;
    let bytes: [u8; 32] = rand::random();
    SecretString::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys() -> TokenKeys {
        TokenKeys::new(&random_secret(), Duration::from_secs(300))
    }

    #[test]
    fn a_token_round_trips_with_its_user_and_role() {
        let keys = keys();
        let user = UserId::generate();
        let token = keys.issue_access(user, Role::Support).unwrap();
        let claims = keys.verify_access(&token).unwrap();
        assert_eq!(claims.user_id(), user);
        assert_eq!(claims.role, Role::Support);
    }

    #[test]
    fn a_token_signed_with_another_secret_is_refused() {
        let token = keys()
            .issue_access(UserId::generate(), Role::Admin)
            .unwrap();
        assert!(matches!(
            keys().verify_access(&token),
            Err(TokenError::Invalid(_))
        ));
    }
}
