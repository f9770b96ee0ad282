//! The account service: register, log in, refresh, log out, and authenticate a request.
//!
//! What this module shows: the flows, with the HTTP left out (the handlers in [`crate::api`]
//! are one call each). Login hashes even when no account has the email, rehashes a password
//! whose stored hash is out of date, and starts a session; refresh rotates; every access token
//! is checked against its session, so logging out takes effect at once instead of when the
//! token expires. Argon2 is slow on purpose, so it runs on tokio's blocking pool, never on the
//! threads that serve requests.
//!
//! Run the tests with `cargo test -p lesson-04 --test api`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::config::AuthConfig;
use crate::password::{Password, PasswordError, PasswordHasher, Verified};
use crate::rbac::Role;
use crate::sessions::{RefreshError, Revoked, SessionId, Sessions};
use crate::store::{Email, EmailTaken, PublicUser, User, UserId, Users};
use crate::tokens::{TokenError, TokenKeys, unix_now};

/// What a successful login or refresh returns (the shape of RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub token_type: String,
    /// Seconds the access token stays valid.
    pub expires_in: u64,
    pub refresh_token: String,
}

/// The caller of a request, once its access token and session checked out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthUser {
    pub id: UserId,
    pub role: Role,
    pub session: SessionId,
}

/// Everything the account flows can fail with.
#[derive(Debug, Error)]
pub enum AuthError {
    /// One message for "no such email" and "wrong password": telling them apart would tell an
    /// attacker which emails have accounts.
    #[error("the email or the password is wrong")]
    InvalidCredentials,
    #[error("an account with this email already exists")]
    EmailTaken,
    #[error("{field} {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error("the session has ended; log in again")]
    SessionEnded,
    #[error(transparent)]
    Refresh(#[from] RefreshError),
    #[error("password hashing failed")]
    Hashing(#[from] PasswordError),
    #[error("a blocking task failed")]
    Task(#[from] tokio::task::JoinError),
}

impl From<EmailTaken> for AuthError {
    fn from(_: EmailTaken) -> Self {
        AuthError::EmailTaken
    }
}

/// The outcome of a login, with what happened to the stored hash (for the demo and tests).
#[derive(Debug)]
pub struct LoggedIn {
    pub tokens: TokenPair,
    pub user: UserId,
    pub rehashed: bool,
}

/// Users, sessions, the password hasher and the token keys, shared by every request.
#[derive(Debug, Clone)]
pub struct Accounts {
    users: Arc<Users>,
    sessions: Arc<Sessions>,
    hasher: Arc<PasswordHasher>,
    tokens: Arc<TokenKeys>,
}

impl Accounts {
    pub fn new(config: &AuthConfig) -> Result<Self, PasswordError> {
        Ok(Self {
            users: Arc::default(),
            sessions: Arc::new(Sessions::new(config.refresh_ttl)),
            hasher: Arc::new(PasswordHasher::new(
                config.pepper.clone(),
                config.hash_params,
            )?),
            tokens: Arc::new(TokenKeys::new(config)),
        })
    }

    /// The same users and sessions with another hasher: what a new release with new hash
    /// parameters sees when it starts against yesterday's database.
    pub fn with_hasher(&self, hasher: PasswordHasher) -> Self {
        Self {
            hasher: Arc::new(hasher),
            ..self.clone()
        }
    }

    pub fn users(&self) -> &Users {
        &self.users
    }

    pub fn sessions(&self) -> &Sessions {
        &self.sessions
    }

    pub fn token_keys(&self) -> &TokenKeys {
        &self.tokens
    }

    pub fn hasher(&self) -> &PasswordHasher {
        &self.hasher
    }

    /// Hashes on the blocking pool: argon2 takes tens of milliseconds of pure CPU, which
    /// would stall every other request sharing this worker thread.
    async fn hash(&self, password: Password) -> Result<String, AuthError> {
        let hasher = Arc::clone(&self.hasher);
        Ok(tokio::task::spawn_blocking(move || hasher.hash(&password)).await??)
    }

    /// Creates a customer account. Roles other than customer are granted, see [`Self::add_user`].
    pub async fn register(&self, email: &str, password: Password) -> Result<PublicUser, AuthError> {
        self.add_user(email, password, Role::Customer).await
    }

    /// Creates an account with a role: an administrator's action (and the demo's seed).
    pub async fn add_user(
        &self,
        email: &str,
        password: Password,
        role: Role,
    ) -> Result<PublicUser, AuthError> {
        let email = Email::parse(email).map_err(|message| AuthError::InvalidField {
            field: "email",
            message,
        })?;
        password
            .check_policy()
            .map_err(|message| AuthError::InvalidField {
                field: "password",
                message,
            })?;
        let user = User {
            id: UserId::new(),
            email,
            role,
            password_hash: self.hash(password).await?,
        };
        let public = PublicUser::from(&user);
        self.users.insert(user)?;
        Ok(public)
    }

    // ANCHOR: login
    /// Checks the credentials, upgrades an outdated hash, and starts a session.
    pub async fn login(&self, email: &str, password: Password) -> Result<LoggedIn, AuthError> {
        let user = Email::parse(email)
            .ok()
            .and_then(|email| self.users.by_email(&email));
        let hasher = Arc::clone(&self.hasher);
        let stored = user.as_ref().map(|user| user.password_hash.clone());
        let verified = tokio::task::spawn_blocking(move || match stored {
            Some(stored) => hasher.verify(&password, &stored),
            // No such account: spend the same time as a real check, then say no.
            None => Ok(hasher.verify_nobody(&password)),
        })
        .await??;
        let (user, rehash) = match (user, verified) {
            (Some(user), Verified::Yes { rehash }) => (user, rehash),
            _ => return Err(AuthError::InvalidCredentials),
        };
        let rehashed = match rehash {
            Some(new_hash) => self
                .users
                .replace_hash(user.id, &user.password_hash, new_hash),
            None => false,
        };
        let now = unix_now();
        let (session, refresh) = self.sessions.start(user.id, now);
        let tokens = TokenPair {
            access_token: self.tokens.issue(user.id, user.role, session, now)?,
            token_type: "Bearer".into(),
            expires_in: self.tokens.ttl().as_secs(),
            refresh_token: refresh.expose().to_owned(),
        };
        Ok(LoggedIn {
            tokens,
            user: user.id,
            rehashed,
        })
    }
    // ANCHOR_END: login

    // ANCHOR: refresh
    /// Trades a refresh token for a new pair; the role is read again, so a changed role takes
    /// effect here.
    pub fn refresh(&self, refresh_token: &str) -> Result<TokenPair, AuthError> {
        let now = unix_now();
        let rotated = self.sessions.rotate(refresh_token, now)?;
        let Some(user) = self.users.get(rotated.user) else {
            // The account was deleted while the session lived.
            self.sessions.revoke(rotated.session, Revoked::Logout);
            return Err(AuthError::SessionEnded);
        };
        Ok(TokenPair {
            access_token: self
                .tokens
                .issue(user.id, user.role, rotated.session, now)?,
            token_type: "Bearer".into(),
            expires_in: self.tokens.ttl().as_secs(),
            refresh_token: rotated.token.expose().to_owned(),
        })
    }
    // ANCHOR_END: refresh

    /// Ends the caller's session: its refresh token and its access tokens stop working.
    pub fn logout(&self, caller: &AuthUser) {
        self.sessions.revoke(caller.session, Revoked::Logout);
    }

    // ANCHOR: authenticate
    /// What the authentication extractor runs for every request with a bearer token.
    pub fn authenticate(&self, access_token: &str) -> Result<AuthUser, AuthError> {
        let claims = self.tokens.verify(access_token)?;
        // A valid signature proves we issued the token, not that its session still lives.
        // This one map lookup is what makes logout and reuse detection immediate; a service
        // that cannot ask the session store accepts up to one token lifetime of staleness.
        if !self.sessions.is_active(claims.sid) {
            return Err(AuthError::SessionEnded);
        }
        Ok(AuthUser {
            id: claims.sub,
            role: claims.role,
            session: claims.sid,
        })
    }
    // ANCHOR_END: authenticate
}
