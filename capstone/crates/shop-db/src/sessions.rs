//! Sessions and their rotating refresh tokens (book chapter 04, "Capstone step").
//!
//! What this module shows:
//! - a refresh token is opaque and random; the table holds its SHA-256 hash only;
//! - **rotation**: every refresh marks the presented token used and issues the next one in the
//!   same session (the token "family");
//! - **reuse detection**: a used token presented again revokes the whole session, because two
//!   parties then hold tokens of one family and the server cannot tell which is the owner;
//! - the whole decision taken under `SELECT ... FOR UPDATE`, so two concurrent refreshes with
//!   one token cannot both succeed: the second waits, then finds the token used.
//!
//! The callers hash and generate tokens (shop-api's `auth::secret`); this module never sees
//! a token in the clear.
//!
//! Tests: `cargo test -p shop-db --test sessions` (needs PostgreSQL).

use std::time::Duration;

use shop_domain::{Role, UserId};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, invalid_row};

/// Why a session ended, as stored in `sessions.revoked_reason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    RefreshReuse,
    PasswordChange,
}

impl RevokeReason {
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::RefreshReuse => "refresh_reuse",
            RevokeReason::PasswordChange => "password_change",
        }
    }
}

/// A session as the user's export shows it: metadata, never a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: Uuid,
    pub created_at: OffsetDateTime,
    pub last_used_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
    pub revoked_at: Option<OffsetDateTime>,
    pub revoked_reason: Option<String>,
}

/// The lifetimes of a session and of each refresh token in it.
#[derive(Debug, Clone, Copy)]
pub struct SessionLifetimes {
    /// How long one refresh token stays valid: the idle timeout.
    pub refresh: Duration,
    /// How long the session lasts however often it is refreshed: the absolute timeout.
    pub absolute: Duration,
}

/// What presenting a refresh token led to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refresh {
    /// The token was good: it is now used, and the `next` hash passed to
    /// [`SessionRepo::rotate`] is the session's live token.
    Rotated {
        session: Uuid,
        user: UserId,
        role: Role,
    },
    /// The token had been used before: the session is now revoked.
    ReuseDetected { session: Uuid, user: UserId },
    /// Unknown, expired, or from a session that already ended.
    Rejected,
}

/// Starts, rotates, revokes and checks sessions. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionRepo {
    pool: PgPool,
}

fn after(duration: Duration) -> OffsetDateTime {
    OffsetDateTime::now_utc() + duration
}

impl SessionRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Starts a session for `user` whose first refresh token hashes to `token_hash`.
    #[instrument(skip_all, fields(user.id = %user, session.id), err(level = "debug"))]
    pub async fn start(
        &self,
        user: UserId,
        token_hash: &[u8],
        lifetimes: SessionLifetimes,
    ) -> Result<Uuid, DbError> {
        // v4, not v7: a session id travels inside access tokens, and need not say when.
        let id = Uuid::new_v4();
        tracing::Span::current().record("session.id", tracing::field::display(id));
        let expires_at = after(lifetimes.absolute);
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            "INSERT INTO sessions (id, user_id, expires_at) VALUES ($1, $2, $3)",
            id,
            user.as_uuid(),
            expires_at,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
            token_hash,
            id,
            after(lifetimes.refresh).min(expires_at),
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }

    // ANCHOR: rotate
    /// Presents the refresh token hashing to `presented`; on success the session's next token
    /// is `next` (the caller generated it and keeps the clear text to hand out).
    #[instrument(skip_all, fields(session.id), err(level = "debug"))]
    pub async fn rotate(
        &self,
        presented: &[u8],
        next: &[u8],
        lifetimes: SessionLifetimes,
    ) -> Result<Refresh, DbError> {
        let mut tx = self.pool.begin().await?;
        // Locks the token and its session: a concurrent refresh (or logout) of this family
        // waits here until this transaction ends, then sees what it did.
        let row = sqlx::query!(
            r#"
            SELECT t.session_id, t.used_at, t.expires_at AS token_expires_at,
                   s.user_id, s.revoked_at, s.expires_at AS session_expires_at,
                   u.role, u.erased_at
            FROM refresh_tokens t
            JOIN sessions s ON s.id = t.session_id
            JOIN users u ON u.id = s.user_id
            WHERE t.token_hash = $1
            FOR UPDATE OF t, s
            "#,
            presented,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else {
            return Ok(Refresh::Rejected);
        };
        tracing::Span::current().record("session.id", tracing::field::display(row.session_id));
        let user = UserId::from_uuid(row.user_id);
        let now = OffsetDateTime::now_utc();
        if row.revoked_at.is_some() || row.erased_at.is_some() {
            return Ok(Refresh::Rejected);
        }
        if row.used_at.is_some() {
            // Someone replayed a token that was already exchanged. End the family for
            // everyone; the legitimate user signs in again, the thief cannot.
            revoke_session(&mut tx, row.session_id, RevokeReason::RefreshReuse).await?;
            tx.commit().await?;
            tracing::warn!(user.id = %user, "refresh token reuse: session revoked");
            return Ok(Refresh::ReuseDetected {
                session: row.session_id,
                user,
            });
        }
        if row.token_expires_at <= now || row.session_expires_at <= now {
            return Ok(Refresh::Rejected);
        }
        let role = row
            .role
            .parse::<Role>()
            .map_err(invalid_row("users", row.user_id, "role"))?;
        sqlx::query!(
            "UPDATE refresh_tokens SET used_at = now() WHERE token_hash = $1",
            presented,
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "INSERT INTO refresh_tokens (token_hash, session_id, expires_at) VALUES ($1, $2, $3)",
            next,
            row.session_id,
            after(lifetimes.refresh).min(row.session_expires_at),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            "UPDATE sessions SET last_used_at = now() WHERE id = $1",
            row.session_id,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(Refresh::Rotated {
            session: row.session_id,
            user,
            role,
        })
    }
    // ANCHOR_END: rotate

    /// Ends the session the refresh token hashing to `presented` belongs to, whether or not
    /// that token was used already: holding any token of the family is enough to end it.
    /// Returns the session's user, or `None` if no live session matched.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn revoke_by_token(
        &self,
        presented: &[u8],
        reason: RevokeReason,
    ) -> Result<Option<UserId>, DbError> {
        let user = sqlx::query_scalar!(
            r#"
            UPDATE sessions SET revoked_at = now(), revoked_reason = $2
            WHERE revoked_at IS NULL
              AND id = (SELECT session_id FROM refresh_tokens WHERE token_hash = $1)
            RETURNING user_id
            "#,
            presented,
            reason.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(user.map(UserId::from_uuid))
    }

    /// The role of the session's user if session `id` belongs to `user`, is neither revoked
    /// nor past its absolute lifetime, and the account is not erased. The check behind every
    /// access token: one primary-key lookup, and revocation takes effect at once.
    #[instrument(skip_all, fields(session.id = %id), err(level = "debug"))]
    pub async fn active_role(&self, id: Uuid, user: UserId) -> Result<Option<Role>, DbError> {
        let role = sqlx::query_scalar!(
            r#"
            SELECT u.role
            FROM sessions s JOIN users u ON u.id = s.user_id
            WHERE s.id = $1 AND s.user_id = $2 AND s.revoked_at IS NULL
              AND s.expires_at > now() AND u.erased_at IS NULL
            "#,
            id,
            user.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        role.map(|role| {
            role.parse::<Role>()
                .map_err(invalid_row("users", user.as_uuid(), "role"))
        })
        .transpose()
    }

    /// Every session of `user`, newest first, for the data export.
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn list(&self, user: UserId) -> Result<Vec<SessionInfo>, DbError> {
        let sessions = sqlx::query_as!(
            SessionInfo,
            r#"
            SELECT id, created_at, last_used_at, expires_at, revoked_at, revoked_reason
            FROM sessions WHERE user_id = $1
            ORDER BY created_at DESC
            "#,
            user.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(sessions)
    }
}

async fn revoke_session(
    tx: &mut sqlx::PgConnection,
    id: Uuid,
    reason: RevokeReason,
) -> Result<(), DbError> {
    sqlx::query!(
        r#"
        UPDATE sessions SET revoked_at = now(), revoked_reason = $2
        WHERE id = $1 AND revoked_at IS NULL
        "#,
        id,
        reason.as_str(),
    )
    .execute(tx)
    .await?;
    Ok(())
}
