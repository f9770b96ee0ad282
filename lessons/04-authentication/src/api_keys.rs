//! API keys for integrations: a public id, a secret stored only as a hash, scopes, rotation.
//!
//! What this module shows: the shape `sk_live_<id>_<secret>`. The prefix says what the string
//! is (secret scanners on GitHub recognise such prefixes and warn when a key is committed); the
//! id is public and finds the record in one lookup; the secret is 256 random bits shown to the
//! user once and stored as SHA-256. Verifying is: parse, look up by id, hash the presented
//! secret, compare the digests with `subtle`'s constant-time equality, then check revocation
//! and scopes. Rotation issues a new key with the same scopes and ends the old one, at once or
//! after a grace period that gives deployments time to switch.
//!
//! Run the tests with `cargo test -p lesson-04 api_keys`.

use std::collections::HashMap;
use std::fmt;
use std::sync::RwLock;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use thiserror::Error;

use crate::store::{UserId, read, write};
use crate::tokens::digest;

/// What every key starts with.
pub const PREFIX: &str = "sk_live_";
/// Hex characters of the public id.
const ID_LEN: usize = 16;

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scope {
    #[serde(rename = "notes:read")]
    NotesRead,
    #[serde(rename = "notes:write")]
    NotesWrite,
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Scope::NotesRead => "notes:read",
            Scope::NotesWrite => "notes:write",
        })
    }
}

/// A scope known at compile time, for the extractor `Scoped<S>` (see [`crate::extract`]).
pub trait RequiredScope: Send + Sync + 'static {
    const SCOPE: Scope;
}

/// Marker types, one per scope a route may require.
pub mod scope {
    use super::{RequiredScope, Scope};

    #[derive(Debug)]
    pub struct NotesRead;
    impl RequiredScope for NotesRead {
        const SCOPE: Scope = Scope::NotesRead;
    }

    #[derive(Debug)]
    pub struct NotesWrite;
    impl RequiredScope for NotesWrite {
        const SCOPE: Scope = Scope::NotesWrite;
    }
}

/// The public half of a key: 8 random bytes in hex.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(String);

impl KeyId {
    pub fn parse(text: &str) -> Option<Self> {
        (text.len() == ID_LEN && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            .then(|| Self(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A whole key as the user receives it, once. Redacted in `Debug`.
#[derive(Clone)]
pub struct PlainKey(SecretString);

impl PlainKey {
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for PlainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PlainKey([REDACTED])")
    }
}

// ANCHOR: stored_key
/// What the server keeps: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredKey {
    pub id: KeyId,
    pub owner: UserId,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// SHA-256 of the secret part.
    #[serde(serialize_with = "hex")]
    pub secret_hash: [u8; 32],
    /// When the key stops working (seconds since the epoch); `None` while it is current.
    pub expires_at: Option<u64>,
}
// ANCHOR_END: stored_key

fn hex<S: serde::Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
    let text: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    serializer.serialize_str(&text)
}

/// Who called, when a key was accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPrincipal {
    pub key: KeyId,
    pub owner: UserId,
    pub scopes: Vec<Scope>,
}

/// Why a key was refused: 401 for the first four, 403 for a missing scope.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum ApiKeyError {
    #[error("not an API key of the form {PREFIX}<id>_<secret>")]
    Malformed,
    #[error("no such API key")]
    Unknown,
    #[error("the API key's secret does not match")]
    WrongSecret,
    #[error("the API key has been revoked")]
    Revoked,
    #[error("the API key lacks the `{0}` scope")]
    MissingScope(Scope),
}

/// Splits `sk_live_<id>_<secret>`. The secret is base64url, which may itself contain `_`,
/// so the id is found by its fixed length rather than by splitting on every `_`.
fn parse(presented: &str) -> Result<(KeyId, &str), ApiKeyError> {
    let rest = presented
        .strip_prefix(PREFIX)
        .ok_or(ApiKeyError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(ApiKeyError::Malformed)?;
    let id = KeyId::parse(id).ok_or(ApiKeyError::Malformed)?;
    if secret.is_empty() {
        return Err(ApiKeyError::Malformed);
    }
    Ok((id, secret))
}

/// Every API key, by id.
#[derive(Debug, Default)]
pub struct ApiKeys {
    keys: RwLock<HashMap<KeyId, StoredKey>>,
}

impl ApiKeys {
    // ANCHOR: create
    /// Makes a key for `owner`; the returned [`PlainKey`] is the only copy of the secret.
    pub fn create(&self, owner: UserId, name: &str, scopes: Vec<Scope>) -> (PlainKey, StoredKey) {
        let id_bytes: [u8; 8] = rand::random();
        let id: String = id_bytes.iter().map(|b| format!("{b:02x}")).collect();
        let secret = URL_SAFE_NO_PAD.encode(rand::random::<[u8; 32]>());
        let stored = StoredKey {
            id: KeyId(id),
            owner,
            name: name.to_owned(),
            scopes,
            secret_hash: digest(&secret),
            expires_at: None,
        };
        let plain = PlainKey(SecretString::from(format!(
            "{PREFIX}{}_{secret}",
            stored.id
        )));
        write(&self.keys).insert(stored.id.clone(), stored.clone());
        (plain, stored)
    }
    // ANCHOR_END: create

    // ANCHOR: verify
    /// Accepts a presented key if it exists, matches, is current and has `needed`.
    pub fn verify(
        &self,
        presented: &str,
        needed: Scope,
        now: u64,
    ) -> Result<KeyPrincipal, ApiKeyError> {
        let (id, secret) = parse(presented)?;
        let stored = read(&self.keys)
            .get(&id)
            .cloned()
            .ok_or(ApiKeyError::Unknown)?;
        // Constant time: how long the comparison takes says nothing about how many leading
        // bytes matched. (`==` on slices stops at the first difference.) The id lookup above is
        // not constant time, and need not be: ids are not secret.
        let matches: bool = digest(secret).ct_eq(&stored.secret_hash).into();
        if !matches {
            return Err(ApiKeyError::WrongSecret);
        }
        if stored.expires_at.is_some_and(|end| now >= end) {
            return Err(ApiKeyError::Revoked);
        }
        if !stored.scopes.contains(&needed) {
            return Err(ApiKeyError::MissingScope(needed));
        }
        Ok(KeyPrincipal {
            key: stored.id,
            owner: stored.owner,
            scopes: stored.scopes,
        })
    }
    // ANCHOR_END: verify

    /// Issues a successor with the same name and scopes; the old key ends `grace_secs` from
    /// `now` (zero: at once). Only the owner may rotate: anyone else gets `None`, as for a key
    /// that does not exist.
    pub fn rotate(
        &self,
        id: &KeyId,
        owner: UserId,
        now: u64,
        grace_secs: u64,
    ) -> Option<(PlainKey, StoredKey)> {
        let (name, scopes) = {
            let mut keys = write(&self.keys);
            let old = keys.get_mut(id).filter(|key| key.owner == owner)?;
            if old.expires_at.is_some_and(|end| now >= end) {
                return None;
            }
            old.expires_at = Some(now + grace_secs);
            (old.name.clone(), old.scopes.clone())
        };
        Some(self.create(owner, &name, scopes))
    }

    pub fn get(&self, id: &KeyId) -> Option<StoredKey> {
        read(&self.keys).get(id).cloned()
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    const NOW: u64 = 1_700_000_000;

    #[test]
    fn a_key_has_the_documented_shape_and_verifies() {
        let keys = ApiKeys::default();
        let owner = UserId::new();
        let (plain, stored) = keys.create(owner, "erp", vec![Scope::NotesRead]);
        let text = plain.expose();
        assert!(text.starts_with("sk_live_"), "{text}");
        assert_eq!(text.len(), PREFIX.len() + 16 + 1 + 43);
        assert!(
            !format!("{stored:?}").contains(&text[25..]),
            "no secret stored"
        );
        let principal = keys.verify(text, Scope::NotesRead, NOW).unwrap();
        assert_eq!((principal.owner, principal.key), (owner, stored.id));
        assert_eq!(
            keys.verify(text, Scope::NotesWrite, NOW).unwrap_err(),
            ApiKeyError::MissingScope(Scope::NotesWrite)
        );
    }

    #[test]
    fn rotation_with_grace_keeps_the_old_key_until_the_deadline() {
        let keys = ApiKeys::default();
        let owner = UserId::new();
        let (old, stored) = keys.create(owner, "erp", vec![Scope::NotesRead]);
        assert!(
            keys.rotate(&stored.id, UserId::new(), NOW, 0).is_none(),
            "not the owner"
        );
        let (new, _) = keys.rotate(&stored.id, owner, NOW, 60).unwrap();
        keys.verify(old.expose(), Scope::NotesRead, NOW + 59)
            .unwrap();
        assert_eq!(
            keys.verify(old.expose(), Scope::NotesRead, NOW + 60)
                .unwrap_err(),
            ApiKeyError::Revoked
        );
        keys.verify(new.expose(), Scope::NotesRead, NOW + 60)
            .unwrap();
    }

    #[test]
    fn malformed_and_unknown_keys_are_told_apart() {
        let keys = ApiKeys::default();
        for bad in [
            "",
            "sk_live_",
            "pk_live_0123456789abcdef_x",
            "sk_live_XYZ_secret",
        ] {
            assert_eq!(
                keys.verify(bad, Scope::NotesRead, NOW),
                Err(ApiKeyError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            keys.verify("sk_live_0123456789abcdef_secret", Scope::NotesRead, NOW),
            Err(ApiKeyError::Unknown)
        );
    }

    proptest! {
        /// Changing any one character of the secret makes the key fail.
        #[test]
        fn any_change_to_the_secret_is_refused(position in 25_usize..68, replacement in "[A-Za-z0-9_-]") {
            let keys = ApiKeys::default();
            let (plain, _) = keys.create(UserId::new(), "k", vec![Scope::NotesRead]);
            let mut text = plain.expose().to_owned();
            prop_assume!(text[position..=position] != replacement);
            text.replace_range(position..=position, &replacement);
            prop_assert_eq!(keys.verify(&text, Scope::NotesRead, NOW), Err(ApiKeyError::WrongSecret));
        }
    }
}
