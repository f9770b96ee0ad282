//! The account service: what registering, signing in, refreshing, signing out, changing a
//! password, issuing API keys and erasing an account *do* (book chapters 04 and 06).
//!
//! Handlers in `routes::accounts` parse the request and call one method here; the rules live
//! in one place, with one error type, [`AccountError`], that the HTTP layer maps to statuses.
//!
//! Decisions recorded here:
//! - **Unverified accounts may sign in.** Holding the password proves who someone is; the
//!   verification mail proves the *address* works. What needs a working address waits for
//!   it: API keys now (an integration's owner must be reachable when a key leaks), checkout
//!   later. Refusing sign-in would also turn a lost mail into a locked-out customer.
//! - **A wrong password and an unknown address look the same**: one 401, one message, and the
//!   same argon2 work (the dummy hash), and both count against the login throttle.
//! - **Sensitive changes ask for the password again**: a new password, a new address, and
//!   erasure all need the current password, so a stolen access token alone cannot take the
//!   account over or destroy it.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use shop_db::api_keys::KeyForCheck;
use shop_db::reviews::{Review, ReviewStore};
use shop_db::sessions::SessionInfo;
use shop_db::users::{ERASED_DISPLAY_NAME, OrderRecord};
use shop_db::{
    ApiKey, ApiKeyRepo, Cart, CartRepo, DbError, DisplayName, NewApiKey, ProfileChange, Refresh,
    RevokeReason, Scope, SessionLifetimes, SessionRepo, User, UserRepo,
};
use shop_domain::{Email, Role, UserId};
use shop_http::{FieldError, FieldErrors};
use sqlx::PgPool;
use time::OffsetDateTime;
use uuid::Uuid;

use super::mailer::{Mail, MailError, Mailer, Outbox};
use super::password::{self, HashError, Passwords, Verified};
use super::registration::{self, SignUp, ValidSignUp};
use super::secret;
use super::session_check::SessionCheck;
use super::tokens::{TokenError, TokenKeys};
use crate::config::Config;
use crate::security::LoginThrottle;
use crate::security::throttle::{SystemClock, ThrottlePolicy};
use crate::telemetry::ShopMetrics;

/// The public part of every API key starts with this, so a leaked key is recognisable (secret
/// scanners look for such prefixes).
pub const API_KEY_PREFIX: &str = "shop_";

/// Why an account operation failed.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    #[error("wrong email address or password")]
    InvalidCredentials,
    #[error("the refresh token is invalid, expired or revoked")]
    InvalidRefreshToken,
    #[error("the verification token is invalid, used or expired")]
    InvalidVerificationToken,
    #[error("too many failed attempts")]
    Throttled { retry_after: Duration },
    /// Members of the request body that break a rule, every one pointed at: a 422.
    #[error("invalid fields")]
    InvalidFields(Vec<FieldError>),
    #[error("{0}")]
    NotAllowed(&'static str),
    #[error("no {0} {1}")]
    NotFound(&'static str, String),
    #[error(transparent)]
    Db(#[from] DbError),
    #[error("password hashing failed")]
    Hash(#[from] HashError),
    #[error("token signing failed")]
    Token(#[from] TokenError),
    #[error("sending mail failed")]
    Mail(#[from] MailError),
}

/// What a successful sign-in or refresh returns.
#[derive(Debug)]
pub struct TokenPair {
    /// Whose tokens these are: the sign-in route merges a guest cart into this user's.
    pub user: UserId,
    pub access_token: SecretString,
    pub expires_in: Duration,
    pub refresh_token: SecretString,
}

/// A new API key: the only time its full text exists outside the client.
#[derive(Debug)]
pub struct CreatedKey {
    pub key: ApiKey,
    pub full_key: SecretString,
}

/// A profile edit as the client sent it: text, checked by
/// [`Accounts::update_profile`]. `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct ProfileEdit {
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Required when `email` changes the address.
    pub current_password: Option<SecretString>,
}

/// Everything the service holds about one person (GDPR art. 15 and 20).
#[derive(Debug)]
pub struct Export {
    pub user: User,
    pub sessions: Vec<SessionInfo>,
    pub api_keys: Vec<ApiKey>,
    pub orders: Vec<OrderRecord>,
    pub cart: Cart,
    /// `None` when the review store did not answer; the export says so instead of failing.
    pub reviews: Option<Vec<Review>>,
}

/// The account service. Cheap to clone: handles all the way down.
#[derive(Debug, Clone)]
pub struct Accounts {
    /// For the one transaction the repositories cannot run: a sign-up (see [`registration`]).
    pool: PgPool,
    pub users: UserRepo,
    pub sessions: SessionRepo,
    pub api_keys: ApiKeyRepo,
    pub passwords: Passwords,
    /// Where mail goes; the development [`Outbox`] by default.
    pub mailer: Arc<dyn Mailer>,
    pub throttle: LoginThrottle,
    /// Counts what accounts do that only they know (a new account, not a taken address).
    pub metrics: ShopMetrics,
    /// The per-request session check, and the invalidation whatever ends a session sends.
    pub session_check: SessionCheck,
    tokens: TokenKeys,
    lifetimes: SessionLifetimes,
    verification_ttl: Duration,
}

impl Accounts {
    pub fn new(pool: PgPool, config: &Config, tokens: TokenKeys) -> Result<Accounts, HashError> {
        let settings = &config.accounts;
        let passwords = Passwords::new(
            settings.password_hash_memory_kib,
            settings.password_hash_iterations,
        )?;
        if passwords.is_below_recommendation() {
            tracing::warn!(
                "password hashing is cheaper than OWASP recommends (19 MiB, 2 iterations): \
                 fine for tests, never for production"
            );
        }
        if settings.mail_echo {
            // Said once, in the log, so whoever deploys this sees it; the mails themselves go
            // to stderr only, never through tracing (whose lines are on stdout).
            tracing::warn!(
                "SHOP_ACCOUNTS__MAIL_ECHO is on: outgoing mail, verification tokens included, is printed \
                 to stderr; turn it off wherever stderr is collected"
            );
        }
        let security = &config.security;
        Ok(Accounts {
            users: UserRepo::new(pool.clone()),
            sessions: SessionRepo::new(pool.clone()),
            api_keys: ApiKeyRepo::new(pool.clone()),
            pool,
            passwords,
            mailer: Arc::new(Outbox::new(settings.mail_echo)),
            throttle: LoginThrottle::new(ThrottlePolicy::from(security), Arc::new(SystemClock)),
            metrics: ShopMetrics::default(),
            session_check: SessionCheck::default(),
            tokens,
            lifetimes: SessionLifetimes {
                refresh: settings.refresh_token_ttl,
                absolute: settings.session_lifetime,
            },
            verification_ttl: settings.email_verification_ttl,
        })
    }

    // ANCHOR: register
    /// Signs a new customer up and mails them a verification token, or, when the address
    /// already has an account, mails its owner instead. The caller cannot tell which happened:
    /// both answer the same, after the same work, and each sends one mail to the address.
    /// Returns the address the mail went to.
    #[tracing::instrument(skip_all, fields(user.id), err(level = "debug"))]
    pub async fn register(&self, sign_up: SignUp) -> Result<Email, AccountError> {
        let ValidSignUp {
            email,
            display_name,
            password,
        } = sign_up.validate().map_err(AccountError::InvalidFields)?;
        // Hashed before the database is asked whether the address is free (the INSERT that
        // finds out takes the hash): a taken address costs the same argon2 work as a new one.
        let password_hash = self.passwords.hash(password).await?;
        let mut tx = self.pool.begin().await.map_err(DbError::from)?;
        let inserted = registration::insert_user(&mut tx, &email, &display_name, &password_hash)
            .await
            .map_err(DbError::from)?;
        let Some(user) = inserted else {
            tx.rollback().await.map_err(DbError::from)?;
            self.tell_owner_about_sign_up(&email).await?;
            return Ok(email);
        };
        tracing::Span::current().record("user.id", tracing::field::display(user));
        let token = secret::generate();
        shop_db::users::insert_verification_token(
            &mut *tx,
            user,
            &email,
            &secret::digest_secret(&token),
            OffsetDateTime::now_utc() + self.verification_ttl,
        )
        .await
        .map_err(DbError::from)?;
        // The mail goes before the commit: if it cannot be handed over, the transaction rolls
        // back (dropping `tx` does that) and the address is free for the next try. A commit
        // that fails after the mail leaves a token that verifies nothing.
        self.mailer
            .send(self.verification_mail(&email, &display_name, &token))
            .await?;
        tx.commit().await.map_err(DbError::from)?;
        // Counted here, where a new account is known apart from a taken address: the
        // response cannot tell the two apart, the operators' metrics may.
        self.metrics.account_registered();
        Ok(email)
    }
    // ANCHOR_END: register

    /// The other half of [`register`](Self::register): the address is taken, so its owner
    /// hears that someone tried. The attempt changes nothing about the account.
    async fn tell_owner_about_sign_up(&self, email: &Email) -> Result<(), AccountError> {
        // One query, as the new account's token insert is one: both paths do the same work.
        let owner = self.users.find_by_email(email).await?;
        tracing::info!(
            owner.id = ?owner.as_ref().map(|o| o.id),
            "sign-up with a registered address: mailing its owner"
        );
        let greeting = owner.map_or_else(
            || "Hello".to_owned(),
            |o| format!("Hello {}", o.display_name),
        );
        let body = format!(
            "{greeting},\n\nsomeone tried to create a shop account with this address, which \
             already has one. Nothing was changed: your account and its password are as they \
             were.\n\nIf it was you, sign in with your password instead. If it was not, you \
             can ignore this mail.\n"
        );
        self.mailer
            .send(Mail {
                to: email.clone(),
                subject: "Someone tried to register with your address".to_owned(),
                body: SecretString::from(body),
                message_id: None,
            })
            .await?;
        Ok(())
    }

    /// The mail that carries a verification token to `email`.
    fn verification_mail(&self, email: &Email, name: &DisplayName, token: &SecretString) -> Mail {
        let body = format!(
            "Hello {name},\n\nconfirm your address by sending this token to POST \
             /auth/verify-email (it expires in {} hours):\n\nVerification token: {}\n",
            self.verification_ttl.as_secs() / 3600,
            token.expose_secret()
        );
        Mail {
            to: email.clone(),
            subject: "Confirm your email address".to_owned(),
            body: SecretString::from(body),
            message_id: None,
        }
    }

    /// Mails a fresh verification token for the user's current address.
    async fn send_verification(&self, user: &User) -> Result<(), AccountError> {
        let token = secret::generate();
        let expires_at = OffsetDateTime::now_utc() + self.verification_ttl;
        self.users
            .add_verification_token(
                user.id,
                &user.email,
                &secret::digest_secret(&token),
                expires_at,
            )
            .await?;
        self.mailer
            .send(self.verification_mail(&user.email, &user.display_name, &token))
            .await?;
        Ok(())
    }

    /// Redeems a verification token.
    pub async fn verify_email(&self, token: &SecretString) -> Result<UserId, AccountError> {
        self.users
            .redeem_verification_token(&secret::digest_secret(token))
            .await?
            .ok_or(AccountError::InvalidVerificationToken)
    }

    // ANCHOR: login
    /// Signs in: checks the throttle, then the password, then starts a session.
    #[tracing::instrument(skip_all, fields(user.id), err(level = "debug"))]
    pub async fn login(
        &self,
        email: &str,
        password: SecretString,
        ip: IpAddr,
    ) -> Result<TokenPair, AccountError> {
        // The throttle key is the normalised address, valid or not, registered or not.
        let parsed = Email::parse(email).ok();
        let account = parsed
            .as_ref()
            .map_or_else(|| email.trim().to_lowercase(), Email::normalized);
        self.throttle
            .check(&account, ip)
            .map_err(|retry_after| AccountError::Throttled { retry_after })?;

        let credentials = match &parsed {
            Some(email) => self.users.credentials_by_email(email).await?,
            None => None,
        };
        let (user, stored) = match credentials {
            Some(c) => (Some(c.user), c.password_hash),
            None => (None, None),
        };
        // With no user or no hash, this checks against the dummy hash and says No: the
        // same work, so the same time, as a wrong password for a real account.
        let verified = self.passwords.verify(password.clone(), stored).await?;
        let user = match (user, verified) {
            (Some(user), Verified::Yes | Verified::NeedsRehash) => user,
            _ => {
                self.throttle.record_failure(&account, ip);
                tracing::info!(client.ip = %ip, "sign-in failed");
                return Err(AccountError::InvalidCredentials);
            }
        };
        tracing::Span::current().record("user.id", tracing::field::display(user.id));
        self.throttle.record_success(&account, ip);
        if verified == Verified::NeedsRehash {
            self.rehash(user.id, password).await;
        }
        self.start_session(user.id, user.role).await
    }
    // ANCHOR_END: login

    /// Stores a hash with the current parameters. A failure is logged, never fatal: the old
    /// hash still works, and the next sign-in tries again.
    async fn rehash(&self, user: UserId, password: SecretString) {
        let result = async {
            let hash = self.passwords.hash(password).await?;
            self.users.upgrade_password_hash(user, &hash).await?;
            Ok::<_, AccountError>(())
        }
        .await;
        match result {
            Ok(()) => tracing::info!(user.id = %user, "password rehashed with current parameters"),
            Err(error) => tracing::warn!(user.id = %user, %error, "rehash failed"),
        }
    }

    async fn start_session(&self, user: UserId, role: Role) -> Result<TokenPair, AccountError> {
        let refresh_token = secret::generate();
        let session = self
            .sessions
            .start(user, &secret::digest_secret(&refresh_token), self.lifetimes)
            .await?;
        self.token_pair(user, role, session, refresh_token)
    }

    fn token_pair(
        &self,
        user: UserId,
        role: Role,
        session: Uuid,
        refresh_token: SecretString,
    ) -> Result<TokenPair, AccountError> {
        Ok(TokenPair {
            user,
            access_token: SecretString::from(
                self.tokens.issue_session_access(user, role, session)?,
            ),
            expires_in: self.tokens.access_ttl(),
            refresh_token,
        })
    }

    // ANCHOR: refresh
    /// Exchanges a refresh token for a new pair; a reused token ends its session.
    #[tracing::instrument(skip_all, err(level = "debug"))]
    pub async fn refresh(&self, presented: &SecretString) -> Result<TokenPair, AccountError> {
        let next = secret::generate();
        let outcome = self
            .sessions
            .rotate(
                &secret::digest_secret(presented),
                &secret::digest_secret(&next),
                self.lifetimes,
            )
            .await?;
        match outcome {
            Refresh::Rotated {
                session,
                user,
                role,
            } => self.token_pair(user, role, session, next),
            Refresh::ReuseDetected { user, .. } => {
                self.session_check.forget_user(user).await;
                Err(AccountError::InvalidRefreshToken)
            }
            Refresh::Rejected => Err(AccountError::InvalidRefreshToken),
        }
    }
    // ANCHOR_END: refresh

    /// Ends the session a refresh token belongs to. Succeeds whether or not it matched: a
    /// logout must not tell a caller whether a token they found is live.
    pub async fn logout(&self, presented: &SecretString) -> Result<(), AccountError> {
        let ended = self
            .sessions
            .revoke_by_token(&secret::digest_secret(presented), RevokeReason::Logout)
            .await?;
        if let Some(user) = ended {
            self.session_check.forget_user(user).await;
        }
        Ok(())
    }

    /// Checks `password` against the user's current one, counting a failure against the
    /// throttle like a failed sign-in: a stolen access token must not become a password
    /// oracle with unlimited guesses.
    async fn confirm_password(
        &self,
        user: &User,
        password: SecretString,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        let account = user.email.normalized();
        self.throttle
            .check(&account, ip)
            .map_err(|retry_after| AccountError::Throttled { retry_after })?;
        let stored = self.users.password_hash(user.id).await?;
        match self.passwords.verify(password, stored).await? {
            Verified::Yes | Verified::NeedsRehash => Ok(()),
            Verified::No => {
                self.throttle.record_failure(&account, ip);
                Err(AccountError::InvalidCredentials)
            }
        }
    }

    /// The live account behind a principal.
    pub async fn profile(&self, user: UserId) -> Result<User, AccountError> {
        self.users
            .get(user)
            .await?
            .ok_or_else(|| AccountError::NotFound("account", user.to_string()))
    }

    // ANCHOR: change_password
    /// Changes the password after checking the current one, and signs out every other
    /// session (`keep` is the one that asked).
    pub async fn change_password(
        &self,
        user: UserId,
        keep: Option<Uuid>,
        current: SecretString,
        new: SecretString,
        ip: IpAddr,
    ) -> Result<(), AccountError> {
        let profile = self.profile(user).await?;
        self.confirm_password(&profile, current, ip).await?;
        password::check_policy(
            new.expose_secret(),
            &[
                profile.email.as_str(),
                profile.email.local_part(),
                profile.display_name.as_str(),
            ],
        )
        .map_err(|weak| {
            AccountError::InvalidFields(vec![FieldError::body("new_password", weak.to_string())])
        })?;
        let hash = self.passwords.hash(new).await?;
        self.users.change_password(user, &hash, keep).await?;
        // The other sessions ended: every instance forgets its answers about this user.
        self.session_check.forget_user(user).await;
        Ok(())
    }
    // ANCHOR_END: change_password

    // ANCHOR: update_profile
    /// Edits the profile. Every field is checked first and every problem reported in one
    /// 422; a new address also needs the current password, and is unverified until the token
    /// mailed to it is redeemed.
    pub async fn update_profile(
        &self,
        user: UserId,
        edit: ProfileEdit,
        ip: IpAddr,
    ) -> Result<User, AccountError> {
        let profile = self.profile(user).await?;
        let mut errors = FieldErrors::new();
        let display_name = edit
            .display_name
            .and_then(|name| errors.check("display_name", DisplayName::parse(&name)));
        let email = edit
            .email
            .and_then(|email| errors.check("email", Email::parse(&email)));
        let new_address = email
            .as_ref()
            .is_some_and(|email| email.normalized() != profile.email.normalized());
        if new_address && edit.current_password.is_none() {
            errors.push(FieldError::body(
                "current_password",
                "is required to change the email address",
            ));
        }
        if !errors.is_empty() {
            return Err(AccountError::InvalidFields(errors.into_vec()));
        }
        if new_address && let Some(password) = edit.current_password {
            self.confirm_password(&profile, password, ip).await?;
        }
        let change = ProfileChange {
            display_name,
            email,
        };
        let updated = self
            .users
            .update_profile(user, &change)
            .await?
            .ok_or_else(|| AccountError::NotFound("account", user.to_string()))?;
        if updated.email_verified_at.is_none() && new_address {
            self.send_verification(&updated).await?;
        }
        Ok(updated)
    }
    // ANCHOR_END: update_profile

    // ANCHOR: api_keys
    /// Creates an API key for a verified account. The full key is returned once. The name
    /// and every scope are checked together: all the problems come back in one 422.
    pub async fn create_api_key(
        &self,
        user: UserId,
        name: &str,
        scopes: &[String],
    ) -> Result<CreatedKey, AccountError> {
        let profile = self.profile(user).await?;
        if profile.email_verified_at.is_none() {
            return Err(AccountError::NotAllowed(
                "Verify your email address before creating API keys.",
            ));
        }
        let mut errors = FieldErrors::new();
        let name = name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            errors.push(FieldError::body(
                "name",
                "must be 1 to 100 characters without control characters",
            ));
        }
        if scopes.is_empty() {
            errors.push(FieldError::body("scopes", "must name at least one scope"));
        }
        let mut scopes: Vec<Scope> = scopes
            .iter()
            .enumerate()
            .filter_map(|(n, scope)| errors.check(&format!("scopes/{n}"), scope.parse::<Scope>()))
            .collect();
        if !errors.is_empty() {
            return Err(AccountError::InvalidFields(errors.into_vec()));
        }
        scopes.sort_unstable();
        scopes.dedup();
        let prefix = secret::hex_id(6);
        let secret = secret::generate();
        let key = self
            .api_keys
            .create(NewApiKey {
                user_id: user,
                prefix: prefix.clone(),
                secret_hash: secret::digest_secret(&secret),
                name,
                scopes,
            })
            .await?;
        let full_key = SecretString::from(format!(
            "{API_KEY_PREFIX}{prefix}_{}",
            secret.expose_secret()
        ));
        Ok(CreatedKey { key, full_key })
    }

    /// The key this text names, if it is live and its secret matches.
    pub async fn check_api_key(
        &self,
        presented: &str,
    ) -> Result<Option<KeyForCheck>, AccountError> {
        let Some((prefix, secret_part)) = presented
            .strip_prefix(API_KEY_PREFIX)
            .and_then(|rest| rest.split_once('_'))
        else {
            return Ok(None);
        };
        let Some(found) = self.api_keys.find_active(prefix).await? else {
            return Ok(None);
        };
        if !secret::digests_match(&found.secret_hash, &secret::digest(secret_part)) {
            return Ok(None);
        }
        if let Err(error) = self.api_keys.touch(found.key.id).await {
            // Bookkeeping only: the request goes on.
            tracing::warn!(%error, "cannot record API key use");
        }
        Ok(Some(found))
    }
    // ANCHOR_END: api_keys

    // ANCHOR: export
    /// Everything stored about the user, from both databases.
    pub async fn export(
        &self,
        user: UserId,
        reviews: &ReviewStore,
    ) -> Result<Export, AccountError> {
        let profile = self.profile(user).await?;
        let carts = CartRepo::new(self.pool.clone());
        let (sessions, api_keys, orders, cart) = tokio::try_join!(
            self.sessions.list(user),
            self.api_keys.list(user),
            self.users.orders(user),
            carts.get(user),
        )?;
        let reviews = match reviews.list_by_author(user).await {
            Ok(reviews) => Some(reviews),
            Err(error) => {
                tracing::warn!(%error, "export without reviews: the review store did not answer");
                None
            }
        };
        Ok(Export {
            user: profile,
            sessions,
            api_keys,
            orders,
            cart,
            reviews,
        })
    }
    // ANCHOR_END: export

    // ANCHOR: erase
    /// Erases the account after checking the password. Returns whether the user's reviews
    /// were anonymised too (they are not when MongoDB is down; see the chapter).
    pub async fn erase(
        &self,
        user: UserId,
        password: SecretString,
        ip: IpAddr,
        reviews: &ReviewStore,
    ) -> Result<bool, AccountError> {
        let profile = self.profile(user).await?;
        self.confirm_password(&profile, password, ip).await?;
        // Reviews first: if this fails, nothing is lost by trying the erasure anyway, and
        // the account (the credentials, the address) must not outlive the request.
        let reviews_done = match reviews.rename_author(user, ERASED_DISPLAY_NAME).await {
            Ok(_) => true,
            Err(error) => {
                tracing::warn!(user.id = %user, %error, "erasure: reviews keep the old name for now");
                false
            }
        };
        if !self.users.erase(user).await? {
            return Err(AccountError::NotFound("account", user.to_string()));
        }
        self.session_check.forget_user(user).await;
        tracing::info!(user.id = %user, "account erased");
        Ok(reviews_done)
    }
    // ANCHOR_END: erase
}

// ANCHOR: status_mapping
/// Which status each account failure deserves, decided once.
impl From<AccountError> for crate::error::ApiError {
    fn from(error: AccountError) -> Self {
        use crate::error::ApiError;
        match error {
            AccountError::InvalidCredentials => ApiError::InvalidCredentials {
                detail: "The email address or the password is wrong.",
            },
            AccountError::InvalidRefreshToken => ApiError::InvalidCredentials {
                detail: "The refresh token is invalid, expired or revoked: sign in again.",
            },
            AccountError::InvalidVerificationToken => ApiError::InvalidRequest {
                detail: "The verification token is invalid, already used or expired.".to_owned(),
            },
            AccountError::Throttled { retry_after } => ApiError::TooManyRequests { retry_after },
            AccountError::InvalidFields(errors) => ApiError::InvalidFields { errors },
            AccountError::NotAllowed(detail) => ApiError::Forbidden {
                detail: detail.to_owned(),
            },
            AccountError::NotFound(what, key) => ApiError::NotFound { what, key },
            AccountError::Db(error) => error.into(),
            error @ (AccountError::Hash(_) | AccountError::Token(_) | AccountError::Mail(_)) => {
                ApiError::Internal(error.into())
            }
        }
    }
}
// ANCHOR_END: status_mapping
