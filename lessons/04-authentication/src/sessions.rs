//! Sessions as refresh-token families: rotation on every use, reuse detection, revocation.
//!
//! What this module shows: a login starts a *family*. Each refresh token is good for exactly
//! one use, which returns its successor and marks it used. A used token presented again means
//! two parties hold the family's tokens (the user and whoever copied one), and the server cannot
//! tell which is which, so it revokes the whole family: the thief's next refresh fails, and so
//! does the user's, who logs in again. That is the rule the OAuth 2.0 Security Best Current
//! Practice (RFC 9700 §4.14.2) recommends for refresh tokens held by clients.
//!
//! Only SHA-256 digests are kept, so a copy of this table cannot be replayed. Used digests stay
//! until their family ends: they are what recognises a replay. The maps sit behind one
//! `std::sync::Mutex` because a rotation reads and writes both maps and must be atomic: two
//! requests presenting the same token at once must not both succeed.
//!
//! Run the tests with `cargo test -p lesson-04 sessions`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use thiserror::Error;
use uuid::Uuid;

use crate::store::UserId;
use crate::tokens::{RefreshToken, digest};

/// A session: one login and every refresh token descended from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SessionId(Uuid);

impl SessionId {
    #[expect(
        clippy::new_without_default,
        reason = "a new id is an act, not a default"
    )]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Why a session ended before its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoked {
    Logout,
    ReuseDetected,
}

/// Why a refresh token was refused. All are 401 to the client.
#[derive(Debug, Clone, Copy, Error, PartialEq, Eq)]
pub enum RefreshError {
    #[error("unknown refresh token")]
    Unknown,
    #[error("the refresh token has expired")]
    Expired,
    #[error("the session has ended ({0:?})")]
    Revoked(Revoked),
    #[error("this refresh token was already used: the session is revoked")]
    Reused,
}

#[derive(Debug)]
struct Family {
    user: UserId,
    revoked: Option<Revoked>,
}

#[derive(Debug)]
struct TokenRecord {
    session: SessionId,
    expires_at: u64,
    used: bool,
}

#[derive(Debug, Default)]
struct Maps {
    families: HashMap<SessionId, Family>,
    /// SHA-256 of each refresh token → its record.
    tokens: HashMap<[u8; 32], TokenRecord>,
}

/// The result of a successful rotation.
#[derive(Debug)]
pub struct Rotated {
    pub session: SessionId,
    pub user: UserId,
    pub token: RefreshToken,
}

/// Every session of every user.
#[derive(Debug)]
pub struct Sessions {
    maps: Mutex<Maps>,
    ttl: Duration,
}

impl Sessions {
    /// `ttl` is how long a refresh token stays usable: sliding, renewed by each rotation.
    pub fn new(ttl: Duration) -> Self {
        Self {
            maps: Mutex::new(Maps::default()),
            ttl,
        }
    }

    fn maps(&self) -> std::sync::MutexGuard<'_, Maps> {
        // Every update below leaves the maps consistent, so a poisoned lock is still usable.
        self.maps.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts a family for `user` and returns its first refresh token.
    pub fn start(&self, user: UserId, now: u64) -> (SessionId, RefreshToken) {
        let session = SessionId::new();
        let token = RefreshToken::generate();
        let mut maps = self.maps();
        maps.families.insert(
            session,
            Family {
                user,
                revoked: None,
            },
        );
        maps.tokens.insert(
            digest(token.expose()),
            TokenRecord {
                session,
                expires_at: now + self.ttl.as_secs(),
                used: false,
            },
        );
        (session, token)
    }

    // ANCHOR: rotate
    /// Exchanges a refresh token for its successor, or detects a replay and ends the family.
    pub fn rotate(&self, presented: &str, now: u64) -> Result<Rotated, RefreshError> {
        let mut guard = self.maps();
        let maps = &mut *guard;
        let record = maps
            .tokens
            .get_mut(&digest(presented))
            .ok_or(RefreshError::Unknown)?;
        let session = record.session;
        let family = maps
            .families
            .get_mut(&session)
            .ok_or(RefreshError::Unknown)?;
        if let Some(reason) = family.revoked {
            return Err(RefreshError::Revoked(reason));
        }
        if record.used {
            // Someone else rotated this token before: a copy exists. End the family, so that
            // neither copy can be used again, whoever holds it.
            family.revoked = Some(Revoked::ReuseDetected);
            tracing::warn!(%session, "refresh token reuse detected; session revoked");
            return Err(RefreshError::Reused);
        }
        if now >= record.expires_at {
            return Err(RefreshError::Expired);
        }
        record.used = true;
        let user = family.user;
        let token = RefreshToken::generate();
        maps.tokens.insert(
            digest(token.expose()),
            TokenRecord {
                session,
                expires_at: now + self.ttl.as_secs(),
                used: false,
            },
        );
        Ok(Rotated {
            session,
            user,
            token,
        })
    }
    // ANCHOR_END: rotate

    /// Ends a session; its refresh tokens stop working, and so do its access tokens, since
    /// the authentication extractor asks [`Sessions::is_active`].
    pub fn revoke(&self, session: SessionId, reason: Revoked) {
        if let Some(family) = self.maps().families.get_mut(&session) {
            family.revoked.get_or_insert(reason);
        }
    }

    /// Whether the session exists and has not been revoked.
    pub fn is_active(&self, session: SessionId) -> bool {
        self.maps()
            .families
            .get(&session)
            .is_some_and(|family| family.revoked.is_none())
    }

    /// Why the session ended, if it did.
    pub fn revoked(&self, session: SessionId) -> Option<Revoked> {
        self.maps().families.get(&session)?.revoked
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    fn sessions() -> Sessions {
        Sessions::new(Duration::from_secs(3600))
    }

    #[test]
    fn each_token_works_once_and_a_replay_ends_the_family() {
        let sessions = sessions();
        let user = UserId::new();
        let (sid, first) = sessions.start(user, NOW);
        let second = sessions.rotate(first.expose(), NOW).unwrap();
        assert_eq!((second.session, second.user), (sid, user));

        assert_eq!(
            sessions.rotate(first.expose(), NOW).unwrap_err(),
            RefreshError::Reused
        );
        assert!(!sessions.is_active(sid));
        // The legitimate holder's newer token dies with the family.
        assert_eq!(
            sessions.rotate(second.token.expose(), NOW).unwrap_err(),
            RefreshError::Revoked(Revoked::ReuseDetected)
        );
    }

    #[test]
    fn expired_unknown_and_logged_out_tokens_are_refused() {
        let sessions = sessions();
        let (sid, token) = sessions.start(UserId::new(), NOW);
        assert_eq!(
            sessions.rotate(token.expose(), NOW + 3600).unwrap_err(),
            RefreshError::Expired
        );
        assert_eq!(
            sessions.rotate("made-up", NOW).unwrap_err(),
            RefreshError::Unknown
        );
        sessions.revoke(sid, Revoked::Logout);
        assert_eq!(
            sessions.rotate(token.expose(), NOW).unwrap_err(),
            RefreshError::Revoked(Revoked::Logout)
        );
    }

    #[test]
    fn other_families_are_untouched_by_a_replay() {
        let sessions = sessions();
        let user = UserId::new();
        let (_, phone) = sessions.start(user, NOW);
        let (laptop_sid, laptop) = sessions.start(user, NOW);
        sessions.rotate(phone.expose(), NOW).unwrap();
        sessions.rotate(phone.expose(), NOW).unwrap_err();
        assert!(sessions.is_active(laptop_sid));
        sessions.rotate(laptop.expose(), NOW).unwrap();
    }

    proptest! {
        /// However long a chain of rotations, only the newest token works, and replaying any
        /// older one revokes the family.
        #[test]
        fn only_the_newest_token_of_a_chain_is_live(length in 1_usize..12, replay in any::<prop::sample::Index>()) {
            let sessions = sessions();
            let (sid, first) = sessions.start(UserId::new(), NOW);
            let mut chain = vec![first];
            for _ in 0..length {
                let next = sessions.rotate(chain.last().unwrap().expose(), NOW).unwrap();
                chain.push(next.token);
            }
            let old = &chain[replay.index(chain.len() - 1)];
            prop_assert_eq!(sessions.rotate(old.expose(), NOW).unwrap_err(), RefreshError::Reused);
            prop_assert!(!sessions.is_active(sid));
        }
    }
}
