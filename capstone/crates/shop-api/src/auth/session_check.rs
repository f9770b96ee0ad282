//! The per-request session check of [`super::SignedIn`], remembered for a few seconds
//! (chapter 09).
//!
//! Chapter 04 asks PostgreSQL on every authenticated request whether the token's session is
//! still live and with which role: one primary-key lookup, but on every request, and for the
//! same answer almost every time. This remembers the answer in each instance's memory for
//! `[cache] session_check_ttl_ms` (5 s by default), and keeps chapter 04's promise (a logout,
//! a detected token theft, a password change, an erasure or a demotion takes effect on the
//! next request) through invalidation: whatever ends a session or changes a role calls
//! [`SessionCheck::forget_user`], which every instance hears over Redis at once. An instance
//! whose subscription is down keeps an answer at most the TTL: that is the bound, stated.
//!
//! Memory only, no Redis tier: a Redis round trip would cost about what the lookup does.

use std::time::Duration;

use shop_cache::{Invalidations, Namespace, TwoTier};
use shop_db::{SessionRepo, UserRepo};
use shop_domain::{Role, UserId};
use uuid::Uuid;

use crate::error::ApiError;

/// Entries are `<user>:<session>` (or `<user>:-` for a token without a session), so that
/// [`SessionCheck::forget_user`] can drop all of one user's at once.
const NAMESPACE: &str = "session";

/// How many session checks one instance remembers.
const ENTRIES: u64 = 100_000;

/// The session check, cached or not. Cheap to clone.
#[derive(Clone, Default)]
pub struct SessionCheck {
    cache: Option<TwoTier<Role>>,
}

impl std::fmt::Debug for SessionCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ttl = self.cache.as_ref().map(|cache| cache.namespace().local_ttl);
        f.debug_struct("SessionCheck").field("ttl", &ttl).finish()
    }
}

impl SessionCheck {
    /// Remembers each answer for `ttl` (none at all for zero), hearing of ended sessions
    /// through `invalidations`.
    pub fn new(ttl: Duration, invalidations: &Invalidations) -> SessionCheck {
        if ttl.is_zero() {
            return SessionCheck::default();
        }
        let namespace = Namespace {
            name: NAMESPACE,
            version: 1,
            local_ttl: ttl,
            remote_ttl: ttl,
            // An ended session never comes back: "no" may be kept as long as "yes".
            negative_ttl: ttl,
        };
        SessionCheck {
            cache: Some(TwoTier::new(namespace, ENTRIES, None, invalidations)),
        }
    }

    /// The role of `user` if `session` (or, for a token without one, the account) is live:
    /// from memory, or from PostgreSQL.
    pub async fn role(
        &self,
        user: UserId,
        session: Option<Uuid>,
        sessions: &SessionRepo,
        users: &UserRepo,
    ) -> Result<Option<Role>, ApiError> {
        let ask = async || match session {
            Some(session) => sessions.active_role(session, user).await,
            None => users.active_role(user).await,
        };
        let Some(cache) = &self.cache else {
            return Ok(ask().await?);
        };
        let id = match session {
            Some(session) => format!("{user}:{session}"),
            None => format!("{user}:-"),
        };
        let role = cache.get_or_load(id, ask).await.map_err(ApiError::from)?;
        Ok(role.as_deref().copied())
    }

    /// Every instance forgets what it knows of `user`'s sessions: call it after the write
    /// that ended one of them, or changed the user's role, has committed.
    pub async fn forget_user(&self, user: UserId) {
        if let Some(cache) = &self.cache {
            cache.invalidate_prefix(format!("{user}:")).await;
        }
    }
}
