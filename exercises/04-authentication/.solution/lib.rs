//! Exercise 04, authentication and authorization: the reference solution.
//!
//! Try the exercise first (`exercises/04-authentication/src/lib.rs`, hints in `hints/`), then
//! compare. Run the shared tests against this file with `cargo test -p exercise-04-solution`.
//! The public API is the stub's, item for item; only the bodies (and their comments) differ.
//!
//! Three parts, independent of each other:
//! - (a) [`validate_claims`]: the time and party checks of a JWT whose signature has already
//!   been verified, against an injected [`Clock`], with leeway.
//! - (b) [`permissions`] and [`authorize`]: roles to permissions, plus the ownership rule that
//!   decides between 404 and 403.
//! - (c) API keys: [`generate_key`], [`parse_key`], [`hash_secret`], [`KeyStore::verify`] and
//!   [`KeyStore::rotate`]: a prefix, a public id, a secret stored only as a [`SecretHash`] and
//!   compared in constant time, and scopes.

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Part (a): claims validation
// ─────────────────────────────────────────────────────────────────────────────────────────────

// ANCHOR: validate_claims
/// Checks the claims in this order, returning the first failure:
///
/// 1. `iss` must equal `expected.issuer` exactly → [`ClaimsError::WrongIssuer`];
/// 2. `aud` must contain `expected.audience` → [`ClaimsError::WrongAudience`];
/// 3. with `now = clock.now()`: the token has expired when `now >= exp + leeway`
///    → [`ClaimsError::Expired`];
/// 4. with an `nbf`: it is not valid yet when `now + leeway < nbf` → [`ClaimsError::NotYetValid`].
///
/// Additions must not overflow: an `exp` of `u64::MAX` is a token that never expires, not a
/// panic (look at `u64::saturating_add`).
pub fn validate_claims(
    claims: &Claims,
    expected: &Expected,
    clock: &impl Clock,
) -> Result<(), ClaimsError> {
    if claims.iss != expected.issuer {
        return Err(ClaimsError::WrongIssuer {
            expected: expected.issuer.clone(),
            found: claims.iss.clone(),
        });
    }
    if !claims.aud.contains(&expected.audience) {
        return Err(ClaimsError::WrongAudience {
            expected: expected.audience.clone(),
        });
    }
    let now = clock.now();
    if now >= claims.exp.saturating_add(expected.leeway) {
        return Err(ClaimsError::Expired {
            exp: claims.exp,
            now,
        });
    }
    if let Some(nbf) = claims.nbf
        && now.saturating_add(expected.leeway) < nbf
    {
        return Err(ClaimsError::NotYetValid { nbf, now });
    }
    Ok(())
}
// ANCHOR_END: validate_claims

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Part (b): an RBAC guard with ownership
// ─────────────────────────────────────────────────────────────────────────────────────────────

// ANCHOR: permissions
/// The permissions of each role:
///
/// | role     | permissions                                                    |
/// |----------|----------------------------------------------------------------|
/// | Customer | none                                                           |
/// | Support  | `ViewAnyOrder`                                                 |
/// | Admin    | `ViewAnyOrder`, `CancelAnyOrder`, `RefundOrder`, `ManageUsers` |
pub fn permissions(role: Role) -> &'static [Permission] {
    use Permission::*;
    match role {
        Role::Customer => &[],
        Role::Support => &[ViewAnyOrder],
        Role::Admin => &[ViewAnyOrder, CancelAnyOrder, RefundOrder, ManageUsers],
    }
}

/// Decides whether `principal` may do `action` to `order`:
///
/// - **View**: the owner, or a role with `ViewAnyOrder`.
/// - **Cancel**: the owner, or a role with `CancelAnyOrder`.
/// - **Refund**: only a role with `RefundOrder`; owning the order is not enough (nobody
///   refunds themselves).
///
/// When the action is not allowed, the answer depends on whether the caller may *see* the
/// order (is its owner, or has `ViewAnyOrder`): if so, [`Denied::Forbidden`]; if not,
/// [`Denied::NotFound`], so that a stranger cannot tell an order that exists from one that
/// does not.
pub fn authorize(principal: &Principal, action: OrderAction, order: &Order) -> Result<(), Denied> {
    let has = |permission| permissions(principal.role).contains(&permission);
    let owns = principal.user_id == order.owner;
    let may_see = owns || has(Permission::ViewAnyOrder);
    let allowed = match action {
        OrderAction::View => may_see,
        OrderAction::Cancel => owns || has(Permission::CancelAnyOrder),
        OrderAction::Refund => has(Permission::RefundOrder),
    };
    match (allowed, may_see) {
        (true, _) => Ok(()),
        (false, true) => Err(Denied::Forbidden),
        (false, false) => Err(Denied::NotFound),
    }
}
// ANCHOR_END: permissions

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Part (c): API keys
// ─────────────────────────────────────────────────────────────────────────────────────────────

// ANCHOR: key_functions
/// SHA-256 of a secret's text, as a [`SecretHash`]. (A fast hash is right here, unlike for
/// passwords: the secret is 256 random bits, so there is no dictionary to try.)
pub fn hash_secret(secret: &str) -> SecretHash {
    SecretHash::from_digest(Sha256::digest(secret.as_bytes()).into())
}

/// Makes a new key for `owner`: returns the whole key, `sk_test_<id>_<secret>`, to show the
/// user once, and the [`StoredKey`] to keep (not revoked, holding `hash_secret(secret)`).
/// The id and the secret are lowercase hex of fresh random bytes (`rand::random`), of
/// [`ID_LEN`] and [`SECRET_LEN`] characters.
pub fn generate_key(owner: u64, scopes: Vec<Scope>) -> (String, StoredKey) {
    let id = hex(&rand::random::<[u8; ID_LEN / 2]>());
    let secret = hex(&rand::random::<[u8; SECRET_LEN / 2]>());
    let stored = StoredKey {
        id,
        owner,
        scopes,
        secret_hash: hash_secret(&secret),
        revoked: false,
    };
    (format!("{PREFIX}{}_{secret}", stored.id), stored)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len && text.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// Splits a presented key into `(id, secret)`. It must be exactly [`PREFIX`], an id of
/// [`ID_LEN`] lowercase hex characters, `_`, and a secret of [`SECRET_LEN`] lowercase hex
/// characters; anything else is [`KeyError::Malformed`].
pub fn parse_key(presented: &str) -> Result<(&str, &str), KeyError> {
    let rest = presented.strip_prefix(PREFIX).ok_or(KeyError::Malformed)?;
    let (id, secret) = rest.split_once('_').ok_or(KeyError::Malformed)?;
    if is_lower_hex(id, ID_LEN) && is_lower_hex(secret, SECRET_LEN) {
        Ok((id, secret))
    } else {
        Err(KeyError::Malformed)
    }
}

impl KeyStore {
    /// Accepts a presented key that needs `needed`, returning its owner. In this order:
    /// [`parse_key`] (→ `Malformed`); look the id up (→ `Unknown`; ids are not secret, so
    /// the lookup need not be constant time); compare `hash_secret(secret)` with the stored
    /// hash **in constant time**, with `subtle::ConstantTimeEq`, the only comparison a
    /// [`SecretHash`] has (→ `WrongSecret`); then `Revoked`; then `MissingScope(needed)`.
    pub fn verify(&self, presented: &str, needed: Scope) -> Result<u64, KeyError> {
        let (id, secret) = parse_key(presented)?;
        let stored = self.get(id).ok_or(KeyError::Unknown)?;
        if !bool::from(hash_secret(secret).ct_eq(&stored.secret_hash)) {
            return Err(KeyError::WrongSecret);
        }
        if stored.revoked {
            return Err(KeyError::Revoked);
        }
        if !stored.scopes.contains(&needed) {
            return Err(KeyError::MissingScope(needed));
        }
        Ok(stored.owner)
    }

    /// Replaces key `id` of `owner`: marks it revoked, stores a new key with the same owner
    /// and scopes, and returns the new whole key. `Unknown` when there is no such key *or*
    /// it belongs to someone else (do not tell them apart); `Revoked` when it is already
    /// revoked.
    pub fn rotate(&mut self, id: &str, owner: u64) -> Result<String, KeyError> {
        let old = self
            .keys
            .get_mut(id)
            .filter(|key| key.owner == owner)
            .ok_or(KeyError::Unknown)?;
        if old.revoked {
            return Err(KeyError::Revoked);
        }
        old.revoked = true;
        let scopes = old.scopes.clone();
        let (whole, stored) = generate_key(owner, scopes);
        self.insert(stored);
        Ok(whole)
    }
}
// ANCHOR_END: key_functions
