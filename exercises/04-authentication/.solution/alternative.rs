//! Exercise 04, a second correct solution, written differently from `lib.rs` on purpose.
//!
//! `cargo xtask verify` runs every shared test against it, so a test that only accepts the
//! reference's way of writing an answer shows up. How it differs, and why both are right:
//! - (a) the time checks are done in `u128`, where `exp + leeway` cannot overflow, instead of
//!   with `saturating_add`; the two agree for every `now` below `u64::MAX`.
//! - (b) the permission table is three named constants, and `authorize` asks which
//!   permission an action needs from someone who is not the owner (`Refund` is never an
//!   owner's right), then answers with an `if` chain instead of a `match` on two booleans.
//! - (c) hex is written through a lookup table, the id and the secret are cut out of the key
//!   at fixed positions instead of with `strip_prefix` and `split_once`, the `Choice` is read
//!   with `unwrap_u8`, and `rotate` decides everything before it changes anything.
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
    // In u128 the sums of two u64s always fit: no overflow to think about.
    let (now_wide, leeway) = (u128::from(now), u128::from(expected.leeway));
    if now_wide >= u128::from(claims.exp) + leeway {
        return Err(ClaimsError::Expired {
            exp: claims.exp,
            now,
        });
    }
    match claims.nbf {
        Some(nbf) if now_wide + leeway < u128::from(nbf) => {
            Err(ClaimsError::NotYetValid { nbf, now })
        }
        _ => Ok(()),
    }
}
// ANCHOR_END: validate_claims

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Part (b): an RBAC guard with ownership
// ─────────────────────────────────────────────────────────────────────────────────────────────

// ANCHOR: permissions
const CUSTOMER: &[Permission] = &[];
const SUPPORT: &[Permission] = &[Permission::ViewAnyOrder];
const ADMIN: &[Permission] = &[
    Permission::ManageUsers,
    Permission::RefundOrder,
    Permission::CancelAnyOrder,
    Permission::ViewAnyOrder,
];

/// The permissions of each role:
///
/// | role     | permissions                                                    |
/// |----------|----------------------------------------------------------------|
/// | Customer | none                                                           |
/// | Support  | `ViewAnyOrder`                                                 |
/// | Admin    | `ViewAnyOrder`, `CancelAnyOrder`, `RefundOrder`, `ManageUsers` |
pub fn permissions(role: Role) -> &'static [Permission] {
    match role {
        Role::Customer => CUSTOMER,
        Role::Support => SUPPORT,
        Role::Admin => ADMIN,
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
    let granted = permissions(principal.role);
    let owner = principal.user_id == order.owner;
    // What someone other than the owner needs; `Refund` needs its permission from everyone.
    let (needed, owners_right) = match action {
        OrderAction::View => (Permission::ViewAnyOrder, true),
        OrderAction::Cancel => (Permission::CancelAnyOrder, true),
        OrderAction::Refund => (Permission::RefundOrder, false),
    };
    if granted.contains(&needed) || (owner && owners_right) {
        Ok(())
    } else if owner || granted.contains(&Permission::ViewAnyOrder) {
        Err(Denied::Forbidden)
    } else {
        Err(Denied::NotFound)
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
    let mut hasher = Sha256::new();
    hasher.update(secret);
    SecretHash::from_digest(hasher.finalize().into())
}

/// Makes a new key for `owner`: returns the whole key, `sk_test_<id>_<secret>`, to show the
/// user once, and the [`StoredKey`] to keep (not revoked, holding `hash_secret(secret)`).
/// The id and the secret are lowercase hex of fresh random bytes (`rand::random`), of
/// [`ID_LEN`] and [`SECRET_LEN`] characters.
pub fn generate_key(owner: u64, scopes: Vec<Scope>) -> (String, StoredKey) {
    let id = hex(&rand::random::<[u8; ID_LEN / 2]>());
    let secret = hex(&rand::random::<[u8; SECRET_LEN / 2]>());
    let whole = [PREFIX, &id, "_", &secret].concat();
    let secret_hash = hash_secret(&secret);
    let stored = StoredKey {
        id,
        owner,
        scopes,
        secret_hash,
        revoked: false,
    };
    (whole, stored)
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Splits a presented key into `(id, secret)`. It must be exactly [`PREFIX`], an id of
/// [`ID_LEN`] lowercase hex characters, `_`, and a secret of [`SECRET_LEN`] lowercase hex
/// characters; anything else is [`KeyError::Malformed`].
pub fn parse_key(presented: &str) -> Result<(&str, &str), KeyError> {
    // Every valid key has the same length and its parts sit at fixed places. After the
    // length check, `as_bytes()[separator_at]` is inside the text; `get` returns `None`
    // instead of panicking when a multi-byte character straddles a cut.
    let id_at = PREFIX.len();
    let separator_at = id_at + ID_LEN;
    if presented.len() != separator_at + 1 + SECRET_LEN
        || !presented.starts_with(PREFIX)
        || presented.as_bytes()[separator_at] != b'_'
    {
        return Err(KeyError::Malformed);
    }
    match (
        presented.get(id_at..separator_at),
        presented.get(separator_at + 1..),
    ) {
        (Some(id), Some(secret))
            if is_lower_hex(id, ID_LEN) && is_lower_hex(secret, SECRET_LEN) =>
        {
            Ok((id, secret))
        }
        _ => Err(KeyError::Malformed),
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
        let Some(stored) = self.keys.get(id) else {
            return Err(KeyError::Unknown);
        };
        let matches = stored.secret_hash.ct_eq(&hash_secret(secret));
        match (matches.unwrap_u8() == 1, stored.revoked) {
            (false, _) => Err(KeyError::WrongSecret),
            (true, true) => Err(KeyError::Revoked),
            (true, false) if stored.scopes.contains(&needed) => Ok(stored.owner),
            (true, false) => Err(KeyError::MissingScope(needed)),
        }
    }

    /// Replaces key `id` of `owner`: marks it revoked, stores a new key with the same owner
    /// and scopes, and returns the new whole key. `Unknown` when there is no such key *or*
    /// it belongs to someone else (do not tell them apart); `Revoked` when it is already
    /// revoked.
    pub fn rotate(&mut self, id: &str, owner: u64) -> Result<String, KeyError> {
        let scopes = match self.keys.get(id) {
            Some(key) if key.owner != owner => return Err(KeyError::Unknown),
            Some(key) if key.revoked => return Err(KeyError::Revoked),
            Some(key) => key.scopes.clone(),
            None => return Err(KeyError::Unknown),
        };
        let (whole, fresh) = generate_key(owner, scopes);
        if let Some(old) = self.keys.get_mut(id) {
            old.revoked = true;
        }
        self.keys.insert(fresh.id.clone(), fresh);
        Ok(whole)
    }
}
// ANCHOR_END: key_functions
