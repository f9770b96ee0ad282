//! The accounts and the notes they own, in memory.
//!
//! What this module shows: the data authentication works on, kept as simple as it can be so
//! the lesson runs with nothing installed (the capstone keeps the same records in PostgreSQL).
//! Each collection sits behind a `std::sync::RwLock`, not tokio's: every critical section is a
//! few map operations that never `.await`, so a blocking lock is both correct and cheaper, as
//! mini-redis explains for its own store. Nothing slow (hashing!) ever runs while a lock is
//! held: callers hash first, then lock to read or swap a string.
//!
//! Run the tests with `cargo test -p lesson-04 store`.

use std::collections::HashMap;
use std::fmt;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::rbac::Role;

/// An account's id: random (v4), so ids say nothing about each other. That is not what
/// protects the data; the ownership check is (see [`crate::rbac::note_access`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct UserId(Uuid);

impl UserId {
    #[expect(
        clippy::new_without_default,
        reason = "a new id is an act, not a default"
    )]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address, trimmed and lower-cased, so `Alice@Shop.test ` and `alice@shop.test` are
/// one account. (Real validation is a confirmation email; this only refuses nonsense.)
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

impl Email {
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim().to_lowercase();
        match text.split_once('@') {
            Some((local, domain))
                if !local.is_empty() && domain.contains('.') && text.len() <= 254 =>
            {
                Ok(Self(text))
            }
            _ => Err("must be an email address such as alice@example.com".into()),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Email {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        Self::parse(&text)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> String {
        email.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An account as stored. `password_hash` is a PHC string, never the password.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
    pub password_hash: String,
}

/// The account as the API shows it: no hash, ever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicUser {
    pub id: UserId,
    pub email: Email,
    pub role: Role,
}

impl From<&User> for PublicUser {
    fn from(user: &User) -> Self {
        Self {
            id: user.id,
            email: user.email.clone(),
            role: user.role,
        }
    }
}

/// A lock poisoned by a panic elsewhere still holds consistent maps (every write below is a
/// single insert or replace), so the data is used rather than the panic spread.
pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct UserMaps {
    by_id: HashMap<UserId, User>,
    by_email: HashMap<Email, UserId>,
}

/// The accounts.
#[derive(Debug, Default)]
pub struct Users {
    maps: RwLock<UserMaps>,
}

/// The email already has an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailTaken;

impl Users {
    pub fn insert(&self, user: User) -> Result<(), EmailTaken> {
        let mut maps = write(&self.maps);
        if maps.by_email.contains_key(&user.email) {
            return Err(EmailTaken);
        }
        maps.by_email.insert(user.email.clone(), user.id);
        maps.by_id.insert(user.id, user);
        Ok(())
    }

    pub fn by_email(&self, email: &Email) -> Option<User> {
        let maps = read(&self.maps);
        let id = maps.by_email.get(email)?;
        maps.by_id.get(id).cloned()
    }

    pub fn get(&self, id: UserId) -> Option<User> {
        read(&self.maps).by_id.get(&id).cloned()
    }

    /// All accounts, sorted by email.
    pub fn list(&self) -> Vec<PublicUser> {
        let mut users: Vec<PublicUser> = read(&self.maps)
            .by_id
            .values()
            .map(PublicUser::from)
            .collect();
        users.sort_by(|a, b| a.email.as_str().cmp(b.email.as_str()));
        users
    }

    /// Replaces the hash if it is still `old` (compare-and-swap): two logins that rehash at
    /// the same time must not overwrite a password changed in between.
    pub fn replace_hash(&self, id: UserId, old: &str, new: String) -> bool {
        match write(&self.maps).by_id.get_mut(&id) {
            Some(user) if user.password_hash == old => {
                user.password_hash = new;
                true
            }
            _ => false,
        }
    }
}

/// A note's id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct NoteId(Uuid);

impl NoteId {
    #[expect(
        clippy::new_without_default,
        reason = "a new id is an act, not a default"
    )]
    pub fn new() -> Self {
        Self(Uuid::new_v4())
    }
}

impl fmt::Display for NoteId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Something a user owns: the object of the IDOR demonstration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub id: NoteId,
    pub owner: UserId,
    pub text: String,
}

/// The notes.
#[derive(Debug, Default)]
pub struct Notes {
    notes: RwLock<HashMap<NoteId, Note>>,
}

impl Notes {
    pub fn insert(&self, owner: UserId, text: String) -> Note {
        let note = Note {
            id: NoteId::new(),
            owner,
            text,
        };
        write(&self.notes).insert(note.id, note.clone());
        note
    }

    pub fn get(&self, id: NoteId) -> Option<Note> {
        read(&self.notes).get(&id).cloned()
    }

    pub fn remove(&self, id: NoteId) -> Option<Note> {
        write(&self.notes).remove(&id)
    }

    /// One owner's notes, oldest id first (ids are random, so the order is only stable).
    pub fn owned_by(&self, owner: UserId) -> Vec<Note> {
        let mut notes: Vec<Note> = read(&self.notes)
            .values()
            .filter(|note| note.owner == owner)
            .cloned()
            .collect();
        notes.sort_by_key(|note| note.id.0);
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            Email::parse("  Alice@Shop.TEST ").unwrap().as_str(),
            "alice@shop.test"
        );
        assert!(Email::parse("alice").is_err());
        assert!(Email::parse("@shop.test").is_err());
    }

    #[test]
    fn one_account_per_email_and_hash_swaps_are_conditional() {
        let users = Users::default();
        let user = User {
            id: UserId::new(),
            email: Email::parse("a@b.test").unwrap(),
            role: Role::Customer,
            password_hash: "old".into(),
        };
        users.insert(user.clone()).unwrap();
        let twin = User {
            id: UserId::new(),
            ..user.clone()
        };
        assert_eq!(users.insert(twin), Err(EmailTaken));
        assert!(!users.replace_hash(user.id, "stale", "new".into()));
        assert!(users.replace_hash(user.id, "old", "new".into()));
        assert_eq!(users.get(user.id).unwrap().password_hash, "new");
    }
}
