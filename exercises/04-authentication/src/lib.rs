//! Exercise 04, authentication and authorization: the checks behind every protected request.
//!
//! This is the only file you edit. Replace every `todo!()` until `cargo test -p exercise-04`
//! passes; run one part at a time with a filter: `cargo test -p exercise-04 part_a` (or
//! `part_b`, `part_c`). The brief is book chapter 04, section "Exercise". Stuck?
//! `cargo xtask hint 04 a` shows part (a)'s hints one level at a time (`b` and `c` for the
//! others; they are also in `hints/a/`, `hints/b/`, `hints/c/`).
//!
//! Three parts, independent of each other:
//! - (a) [`validate_claims`]: the time and party checks of a JWT whose signature has already
//!   been verified, against an injected [`Clock`], with leeway.
//! - (b) [`permissions`] and [`authorize`]: roles to permissions, plus the ownership rule that
//!   decides between 404 and 403.
//! - (c) API keys: [`generate_key`], [`parse_key`], [`hash_secret`], [`KeyStore::verify`] and
//!   [`KeyStore::rotate`]: a prefix, a public id, a secret stored only as a [`SecretHash`] and
//!   compared in constant time, and scopes.
//!
//! Everything that is not a `todo!()` (the types, [`SecretHash`], [`KeyStore::new`],
//! [`KeyStore::insert`], [`KeyStore::get`]) is given, in `given.rs` next to this file: read
//! it, it is part of the brief.

// Stub bodies ignore their parameters; this line goes away with your solution. `sha2`,
// `subtle` and `rand` are dependencies already: `use` what you need.
#![allow(unused_variables)]

// The given code (types, errors, ...): one file, shared with the reference solution.
#[path = "../src/given.rs"]
mod given;
pub use given::*;

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
    todo!("exercise 04, part a, validate_claims: see book chapter 04, section 'Exercise'")
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
    todo!("exercise 04, part b, permissions: see book chapter 04, section 'Exercise'")
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
    todo!("exercise 04, part b, authorize: see book chapter 04, section 'Exercise'")
}
// ANCHOR_END: permissions

// ─────────────────────────────────────────────────────────────────────────────────────────────
// Part (c): API keys
// ─────────────────────────────────────────────────────────────────────────────────────────────

// ANCHOR: key_functions
/// SHA-256 of a secret's text, as a [`SecretHash`]. (A fast hash is right here, unlike for
/// passwords: the secret is 256 random bits, so there is no dictionary to try.)
pub fn hash_secret(secret: &str) -> SecretHash {
    todo!("exercise 04, part c, hash_secret: see book chapter 04, section 'Exercise'")
}

/// Makes a new key for `owner`: returns the whole key, `sk_test_<id>_<secret>`, to show the
/// user once, and the [`StoredKey`] to keep (not revoked, holding `hash_secret(secret)`).
/// The id and the secret are lowercase hex of fresh random bytes (`rand::random`), of
/// [`ID_LEN`] and [`SECRET_LEN`] characters.
pub fn generate_key(owner: u64, scopes: Vec<Scope>) -> (String, StoredKey) {
    todo!("exercise 04, part c, generate_key: see book chapter 04, section 'Exercise'")
}

/// Splits a presented key into `(id, secret)`. It must be exactly [`PREFIX`], an id of
/// [`ID_LEN`] lowercase hex characters, `_`, and a secret of [`SECRET_LEN`] lowercase hex
/// characters; anything else is [`KeyError::Malformed`].
pub fn parse_key(presented: &str) -> Result<(&str, &str), KeyError> {
    todo!("exercise 04, part c, parse_key: see book chapter 04, section 'Exercise'")
}

impl KeyStore {
    /// Accepts a presented key that needs `needed`, returning its owner. In this order:
    /// [`parse_key`] (→ `Malformed`); look the id up (→ `Unknown`; ids are not secret, so
    /// the lookup need not be constant time); compare `hash_secret(secret)` with the stored
    /// hash **in constant time**, with `subtle::ConstantTimeEq`, the only comparison a
    /// [`SecretHash`] has (→ `WrongSecret`); then `Revoked`; then `MissingScope(needed)`.
    pub fn verify(&self, presented: &str, needed: Scope) -> Result<u64, KeyError> {
        todo!("exercise 04, part c, KeyStore::verify: see book chapter 04, section 'Exercise'")
    }

    /// Replaces key `id` of `owner`: marks it revoked, stores a new key with the same owner
    /// and scopes, and returns the new whole key. `Unknown` when there is no such key *or*
    /// it belongs to someone else (do not tell them apart); `Revoked` when it is already
    /// revoked.
    pub fn rotate(&mut self, id: &str, owner: u64) -> Result<String, KeyError> {
        todo!("exercise 04, part c, KeyStore::rotate: see book chapter 04, section 'Exercise'")
    }
}
// ANCHOR_END: key_functions
