//! Password storage with argon2id: salt, pepper, cost parameters, and rehashing on login.
//!
//! What this module shows: a password is never stored, only a slow, salted, peppered hash of
//! it, as a PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`) that carries its own
//! algorithm and parameters. That is what makes upgrades possible: a hash made with yesterday's
//! parameters still verifies (the parameters come from the string), and [`Verified::rehash`]
//! says when it should be replaced by one made with today's. The cryptography is the `argon2`
//! crate's; this module only decides *how* to use it.
//!
//! Run the tests with `cargo test -p lesson-04 password`.

use std::fmt;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher as _, PasswordVerifier as _, Version};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use thiserror::Error;

use crate::config;

/// Passwords shorter than this are refused at registration (NIST SP 800-63B asks for 8 at
/// least; 12 is a common choice today).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer passwords are refused too: hashing cost grows with the input, and nobody types more.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// A password as the client sent it. `Debug` prints `[REDACTED]`, so it cannot end up in a log
/// line by accident, and the memory is zeroed when it is dropped.
#[derive(Clone, Deserialize)]
#[serde(transparent)]
pub struct Password(SecretString);

impl Password {
    pub fn new(text: impl Into<String>) -> Self {
        Self(SecretString::from(text.into()))
    }

    fn bytes(&self) -> &[u8] {
        self.0.expose_secret().as_bytes()
    }

    /// Checks the length rules of a new password (in characters, not bytes).
    pub fn check_policy(&self) -> Result<(), String> {
        let chars = self.0.expose_secret().chars().count();
        if chars < MIN_PASSWORD_CHARS {
            Err(format!(
                "must have at least {MIN_PASSWORD_CHARS} characters"
            ))
        } else if chars > MAX_PASSWORD_CHARS {
            Err(format!("must have at most {MAX_PASSWORD_CHARS} characters"))
        } else {
            Ok(())
        }
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

/// The cost of a hash: memory in KiB, passes over it, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl HashParams {
    /// OWASP's first recommendation for argon2id (Password Storage Cheat Sheet): 19 MiB, two
    /// passes, one lane. Raise them until a hash takes what your login path can afford.
    pub const OWASP: Self = Self {
        memory_kib: 19 * 1024,
        iterations: 2,
        parallelism: 1,
    };
    /// What an older release of the service used: cheaper, and now too weak.
    pub const LEGACY: Self = Self {
        memory_kib: 8 * 1024,
        iterations: 1,
        parallelism: 1,
    };

    fn to_argon2(self) -> Result<Params, PasswordError> {
        Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|error| PasswordError::Params(error.to_string()))
    }
}

impl Default for HashParams {
    fn default() -> Self {
        Self::OWASP
    }
}

/// A hash could not be made or read. A wrong password is not an error: see [`Verified`].
#[derive(Debug, Error)]
pub enum PasswordError {
    #[error("invalid argon2 parameters: {0}")]
    Params(String),
    #[error("the pepper is longer than argon2 accepts")]
    Pepper,
    #[error("hashing failed: {0}")]
    Hash(String),
    #[error("the stored hash is not a PHC string argon2 can read: {0}")]
    StoredHash(String),
}

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verified {
    /// The password matches. `rehash` is a new hash to store in place of the old one when the
    /// old one was made with other parameters (or another algorithm or version).
    Yes { rehash: Option<String> },
    /// It does not.
    No,
}

/// Hashes and verifies passwords with argon2id, the current parameters and the pepper.
#[derive(Clone)]
pub struct PasswordHasher {
    pepper: SecretString,
    params: HashParams,
    /// A hash of a password nobody has, verified when the account does not exist (see
    /// [`PasswordHasher::verify_nobody`]).
    decoy: String,
}

impl PasswordHasher {
    pub fn new(pepper: SecretString, params: HashParams) -> Result<Self, PasswordError> {
        let mut hasher = Self {
            pepper,
            params,
            decoy: String::new(),
        };
        let decoy: [u8; 16] = rand::random();
        hasher.decoy = hasher.hash_bytes(&decoy)?;
        Ok(hasher)
    }

    pub fn params(&self) -> HashParams {
        self.params
    }

    /// argon2id, version 0x13, our parameters, the pepper as argon2's secret input.
    fn argon2(&self, params: Params) -> Result<Argon2<'_>, PasswordError> {
        Argon2::new_with_secret(
            config::bytes(&self.pepper),
            Algorithm::Argon2id,
            Version::V0x13,
            params,
        )
        .map_err(|_| PasswordError::Pepper)
    }

    /// A PHC string for `password`, with a fresh random 16-byte salt.
    pub fn hash(&self, password: &Password) -> Result<String, PasswordError> {
        self.hash_bytes(password.bytes())
    }

    fn hash_bytes(&self, password: &[u8]) -> Result<String, PasswordError> {
        let argon2 = self.argon2(self.params.to_argon2()?)?;
        let hash = argon2
            .hash_password(password)
            .map_err(|error| PasswordError::Hash(error.to_string()))?;
        Ok(hash.to_string())
    }

    // ANCHOR: verify
    /// Checks `password` against a stored PHC string, with the parameters *in the string*.
    pub fn verify(&self, password: &Password, stored: &str) -> Result<Verified, PasswordError> {
        let parsed = PasswordHash::new(stored)
            .map_err(|error| PasswordError::StoredHash(error.to_string()))?;
        // The parameters passed here are ignored by `verify_password`, which reads them from
        // `parsed`; the pepper, which no string carries, is what this instance adds.
        let argon2 = self.argon2(Params::default())?;
        match argon2.verify_password(password.bytes(), &parsed) {
            // argon2 compares the two outputs in constant time.
            Ok(()) => {
                let rehash = if self.is_current(&parsed) {
                    None
                } else {
                    Some(self.hash(password)?)
                };
                Ok(Verified::Yes { rehash })
            }
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(Verified::No),
            Err(error) => Err(PasswordError::StoredHash(error.to_string())),
        }
    }

    /// Spends the time of one verification and answers `No`. Login calls it when no account
    /// has the email: answering "no" at once would let anyone measure which emails exist.
    pub fn verify_nobody(&self, password: &Password) -> Verified {
        // The decoy was made with our own parameters, so it cannot fail to parse; if it did,
        // the answer would still be the right one.
        let _ = self.verify(password, &self.decoy);
        Verified::No
    }
    // ANCHOR_END: verify

    /// Whether `hash` was made the way this hasher makes hashes today.
    fn is_current(&self, hash: &PasswordHash) -> bool {
        let Ok(params) = Params::try_from(hash) else {
            return false;
        };
        hash.algorithm == Algorithm::Argon2id.ident()
            && hash.version == Some(Version::V0x13.into())
            && params.m_cost() == self.params.memory_kib
            && params.t_cost() == self.params.iterations
            && params.p_cost() == self.params.parallelism
    }
}

impl fmt::Debug for PasswordHasher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHasher")
            .field("params", &self.params)
            .finish_non_exhaustive()
    }
}

/// The parameters part of a PHC string (`m=19456,t=2,p=1`), for printing.
pub fn phc_params(stored: &str) -> &str {
    stored.split('$').nth(3).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The cheapest parameters argon2 accepts: these tests are about logic, not cost.
    const CHEAP: HashParams = HashParams {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn hasher(pepper: &str, params: HashParams) -> PasswordHasher {
        PasswordHasher::new(SecretString::from(pepper.to_owned()), params).unwrap()
    }

    #[test]
    fn policy_counts_characters() {
        assert!(Password::new("short").check_policy().is_err());
        assert!(Password::new("é".repeat(12)).check_policy().is_ok());
        assert!(Password::new("x".repeat(129)).check_policy().is_err());
    }

    #[test]
    fn a_password_debugs_as_redacted() {
        let printed = format!("{:?}", Password::new("correct horse battery"));
        assert!(!printed.contains("horse"), "{printed}");
    }

    #[test]
    fn the_phc_string_names_algorithm_and_parameters() {
        let stored = hasher("pepper", CHEAP)
            .hash(&Password::new("correct horse battery"))
            .unwrap();
        assert!(
            stored.starts_with("$argon2id$v=19$m=64,t=1,p=1$"),
            "{stored}"
        );
        assert_eq!(phc_params(&stored), "m=64,t=1,p=1");
    }

    #[test]
    fn the_pepper_is_part_of_the_hash() {
        let stored = hasher("pepper one", CHEAP)
            .hash(&Password::new("correct horse battery"))
            .unwrap();
        let other = hasher("pepper two", CHEAP);
        assert_eq!(
            other
                .verify(&Password::new("correct horse battery"), &stored)
                .unwrap(),
            Verified::No
        );
    }

    #[test]
    fn garbage_in_the_database_is_an_error_not_a_no() {
        let error = hasher("p", CHEAP)
            .verify(&Password::new("whatever"), "plaintext-password")
            .unwrap_err();
        assert!(matches!(error, PasswordError::StoredHash(_)), "{error}");
    }
}
