//! Passwords: the policy a new one must meet, and argon2id hashing (book chapter 04).
//!
//! What this module shows:
//! - **argon2id** with OWASP's parameters (19 MiB, 2 iterations, 1 lane) by default, stored as
//!   a PHC string that carries its own parameters. After a successful sign-in, a hash made
//!   with other parameters is redone with the current ones ([`Verified::NeedsRehash`]), so
//!   raising the cost upgrades every active account without a migration;
//! - hashing off the async runtime: one argon2id hash is tens of milliseconds of pure CPU and
//!   19 MiB of memory. On a runtime worker it would stall every other request queued on that
//!   thread, so it runs on [`tokio::task::spawn_blocking`]; and a [`Semaphore`] caps how many
//!   run at once, because 500 concurrent sign-ins would otherwise want 500 threads and 9 GiB;
//! - a **dummy hash** for unknown addresses: signing in as nobody costs the same argon2 work as
//!   signing in as somebody, so response times do not reveal which addresses have accounts;
//! - the policy of ASVS 5.0 section 6.2: at least 15 characters (6.2.1's strong
//!   recommendation; NIST SP 800-63B asks the same when the password is the only factor), up
//!   to 256 so 64 fit easily (6.2.9), no composition rules (6.2.5), checked exactly as typed:
//!   no trimming, truncation or case folding (6.2.8), and refused when it is a well-known
//!   password or the user's own address or name (6.2.4, 6.2.11).
//!
//! No pepper: a secret key mixed into every hash would protect the hashes in a leaked
//! database dump, but it can never be rotated (the old hashes need the old key until each
//! user signs in again), and losing it locks every user out. Argon2id's cost is the defence
//! this service relies on; the chapter discusses when a pepper pays.

use std::sync::Arc;

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};
use shop_db::PasswordHash;
use tokio::sync::Semaphore;

/// The shortest password accepted, in characters (Unicode scalar values).
pub const MIN_CHARS: usize = 15;
/// The longest: comfortably above ASVS's "at least 64", and a bound on the work per request.
pub const MAX_CHARS: usize = 256;

/// Well-known passwords long enough to pass the length rule. A short, hand-made list: the
/// place where a real deployment plugs in a breached-password corpus (see the chapter).
const COMMON: &[&str] = &[
    "123456789012345",
    "1234567890123456",
    "12345678901234567890",
    "qwertyuiopasdfgh",
    "qwertyuiopasdfghjkl",
    "qwertyuiopasdfghjklzxcvbnm",
    "1q2w3e4r5t6y7u8i9o0p",
    "abcdefghijklmnop",
    "abcdefghijklmnopqrstuvwxyz",
    "passwordpassword",
    "password12345678",
    "password123456789",
    "iloveyouiloveyou",
    "letmeinletmeinletmein",
    "welcome123456789",
    "correcthorsebatterystaple",
    "correct horse battery staple",
    "thequickbrownfoxjumpsoverthelazydog",
    "the quick brown fox jumps over the lazy dog",
];

/// Why a new password was refused. The messages are shown to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WeakPassword {
    #[error(
        "the password has {0} characters; at least {MIN_CHARS} are needed (a few words make a good one)"
    )]
    TooShort(usize),
    #[error("the password has {0} characters; at most {MAX_CHARS} are allowed")]
    TooLong(usize),
    #[error("the password is one of the most common passwords")]
    Common,
    #[error("the password is too easy to guess from your email address or name")]
    Personal,
}

// ANCHOR: policy
/// Checks a new password against the policy. `personal` holds what an attacker knows about
/// the user (address, its local part, display name): a password equal to one is refused.
pub fn check_policy(password: &str, personal: &[&str]) -> Result<(), WeakPassword> {
    let chars = password.chars().count();
    if chars < MIN_CHARS {
        return Err(WeakPassword::TooShort(chars));
    }
    if chars > MAX_CHARS {
        return Err(WeakPassword::TooLong(chars));
    }
    // Compared case-insensitively for the check only; the password itself is hashed as typed.
    let lower = password.to_lowercase();
    let mut distinct = lower.chars().collect::<Vec<_>>();
    distinct.sort_unstable();
    distinct.dedup();
    if COMMON.contains(&lower.as_str()) || distinct.len() <= 2 {
        return Err(WeakPassword::Common);
    }
    if personal
        .iter()
        .any(|word| word.chars().count() >= 4 && lower.contains(&word.to_lowercase()))
    {
        return Err(WeakPassword::Personal);
    }
    Ok(())
}
// ANCHOR_END: policy

/// What checking a password found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Wrong password, unknown account, or an account without a password.
    No,
    /// Right password, hashed with the current parameters.
    Yes,
    /// Right password, but its hash used other parameters: store a fresh one.
    NeedsRehash,
}

/// Why hashing failed: a bug or a resource problem, never the user's fault.
#[derive(Debug, thiserror::Error)]
pub enum HashError {
    #[error("invalid argon2 parameters")]
    Params(#[source] argon2::Error),
    #[error("argon2 failed")]
    Argon2(#[source] argon2::password_hash::Error),
    #[error("the hashing task did not finish")]
    Join(#[from] tokio::task::JoinError),
    #[error("the hashing pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

// ANCHOR: passwords
/// Hashes and verifies passwords with argon2id. Cheap to clone.
#[derive(Clone)]
pub struct Passwords {
    params: Params,
    /// A hash of a random password, verified against when there is no real hash to check.
    dummy: Arc<str>,
    /// At most this many hashes run at once; the rest wait their turn.
    slots: Arc<Semaphore>,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

impl Passwords {
    /// Argon2id with `memory_kib` KiB and `iterations` passes, one lane. Computes the dummy
    /// hash, so it takes one hash's time.
    pub fn new(memory_kib: u32, iterations: u32) -> Result<Self, HashError> {
        let params = Params::new(memory_kib, iterations, 1, None).map_err(HashError::Params)?;
        let dummy = hash_with(&params, secret_random_password().expose_secret())?;
        // Twice the cores: enough to keep every core busy, few enough to bound memory.
        let slots = std::thread::available_parallelism().map_or(2, |n| n.get() * 2);
        Ok(Passwords {
            params,
            dummy: Arc::from(dummy.as_str()),
            slots: Arc::new(Semaphore::new(slots)),
        })
    }

    /// Whether the parameters are below OWASP's recommendation (fine in tests only).
    pub fn is_below_recommendation(&self) -> bool {
        self.params.m_cost() < Params::DEFAULT_M_COST || self.params.t_cost() < 2
    }

    /// A new hash of `password`, with a fresh random salt.
    pub async fn hash(&self, password: SecretString) -> Result<PasswordHash, HashError> {
        let params = self.params.clone();
        let _slot = self.slots.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || hash_with(&params, password.expose_secret())).await?
    }

    /// Checks `password` against `stored`; with no stored hash, checks it against the dummy
    /// and answers [`Verified::No`] after the same amount of work.
    pub async fn verify(
        &self,
        password: SecretString,
        stored: Option<PasswordHash>,
    ) -> Result<Verified, HashError> {
        let params = self.params.clone();
        let dummy = self.dummy.clone();
        let _slot = self.slots.clone().acquire_owned().await?;
        tokio::task::spawn_blocking(move || {
            let (hash, real) = match &stored {
                Some(hash) => (hash.as_str(), true),
                None => (&*dummy, false),
            };
            // A stored string that does not parse cannot match anything.
            let Ok(parsed) = Phc::new(hash) else {
                return Verified::No;
            };
            // The parameters come from the PHC string, not from `params`: an old hash is
            // checked with the cost it was made with.
            let matches = Argon2::default()
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            match (real && matches, is_current(&parsed, &params)) {
                (false, _) => Verified::No,
                (true, true) => Verified::Yes,
                (true, false) => Verified::NeedsRehash,
            }
        })
        .await
        .map_err(HashError::from)
    }
}
// ANCHOR_END: passwords

fn hash_with(params: &Params, password: &str) -> Result<PasswordHash, HashError> {
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let phc = argon2
        .hash_password(password.as_bytes())
        .map_err(HashError::Argon2)?;
    Ok(PasswordHash::new(phc.to_string()))
}

/// Was this hash made with argon2id, version 0x13 and exactly the current parameters?
fn is_current(hash: &Phc, params: &Params) -> bool {
    let Ok(used) = Params::try_from(hash) else {
        return false;
    };
    hash.algorithm == Algorithm::Argon2id.ident()
        && hash.version == Some(Version::V0x13.into())
        && used.m_cost() == params.m_cost()
        && used.t_cost() == params.t_cost()
        && used.p_cost() == params.p_cost()
}

fn secret_random_password() -> SecretString {
    super::secret::generate()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cheap parameters: these tests check behaviour, not cost.
    fn passwords() -> Passwords {
        Passwords::new(64, 1).unwrap()
    }

    fn secret(text: &str) -> SecretString {
        SecretString::from(text)
    }

    #[test]
    fn the_policy_counts_characters_and_refuses_the_obvious() {
        assert_eq!(check_policy("short", &[]), Err(WeakPassword::TooShort(5)));
        assert_eq!(
            check_policy("fourteen chars", &[]),
            Err(WeakPassword::TooShort(14))
        );
        assert!(
            check_policy("ünïcødé ünïcødé", &[]).is_ok(),
            "15 characters in 23 bytes: the minimum"
        );
        assert!(
            check_policy("ééééé ünïcødé ok!", &[]).is_ok(),
            "17 characters"
        );
        assert_eq!(
            check_policy(&"ab".repeat(129), &[]),
            Err(WeakPassword::TooLong(258))
        );
        assert!(
            check_policy(&"a long passphrase".repeat(15), &[]).is_ok(),
            "255 chars"
        );
        assert_eq!(
            check_policy("PasswordPassword", &[]),
            Err(WeakPassword::Common)
        );
        assert_eq!(
            check_policy("aaaaaaaaaaaaaaaaaaaa", &[]),
            Err(WeakPassword::Common)
        );
        assert_eq!(
            check_policy(
                "ada.lovelace-1815!",
                &["ada.lovelace@example.com", "ada.lovelace"]
            ),
            Err(WeakPassword::Personal)
        );
        assert!(
            check_policy("no digits, no capitals, fine", &[]).is_ok(),
            "no composition rules"
        );
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let passwords = passwords();
        let hash = passwords
            .hash(secret("a long enough passphrase"))
            .await
            .unwrap();
        assert!(hash.as_str().starts_with("$argon2id$v=19$m=64,t=1,p=1$"));
        assert_eq!(
            passwords
                .verify(secret("a long enough passphrase"), Some(hash.clone()))
                .await
                .unwrap(),
            Verified::Yes
        );
        assert_eq!(
            passwords
                .verify(secret("A long enough passphrase"), Some(hash))
                .await
                .unwrap(),
            Verified::No,
            "no case folding"
        );
    }

    #[tokio::test]
    async fn no_stored_hash_never_verifies() {
        let passwords = passwords();
        assert_eq!(
            passwords
                .verify(secret("anything at all here"), None)
                .await
                .unwrap(),
            Verified::No
        );
    }

    #[tokio::test]
    async fn a_hash_with_old_parameters_asks_for_a_rehash() {
        let old = Passwords::new(32, 1).unwrap();
        let hash = old.hash(secret("a long enough passphrase")).await.unwrap();
        let current = passwords();
        assert_eq!(
            current
                .verify(secret("a long enough passphrase"), Some(hash))
                .await
                .unwrap(),
            Verified::NeedsRehash
        );
    }

    #[test]
    fn the_default_parameters_are_owasps() {
        let passwords = Passwords::new(19 * 1024, 2).unwrap();
        assert!(!passwords.is_below_recommendation());
        assert!(
            passwords
                .dummy
                .starts_with("$argon2id$v=19$m=19456,t=2,p=1$")
        );
    }
}
