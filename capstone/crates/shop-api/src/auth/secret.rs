//! Opaque secrets the service hands out: refresh tokens, verification tokens, API keys.
//!
//! Each is 32 random bytes from the operating system's CSPRNG (through `rand`'s thread RNG,
//! which reseeds from it), written as URL-safe base64: 256 bits, far above ASVS 7.2.3's 128.
//! At rest only [`digest`] of a secret is kept. Plain SHA-256 is the right tool here and the
//! wrong one for passwords: a guess at a random 256-bit value has nothing to start from, so
//! no salt or slow hash is needed; people's passwords have dictionaries.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// A new random secret, to give to a client once.
pub fn generate() -> SecretString {
    let bytes: [u8; 32] = rand::random();
    SecretString::from(URL_SAFE_NO_PAD.encode(bytes))
}

/// The SHA-256 of a secret as presented, the form stored and looked up.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// The digest of a [`SecretString`].
pub fn digest_secret(secret: &SecretString) -> Vec<u8> {
    digest(secret.expose_secret())
}

/// Compares two digests in constant time. Where a secret is looked up by its whole hash the
/// database index does the comparing, and timing reveals nothing useful; an API key is looked
/// up by its public prefix, then its secret compared here, so the time taken does not tell
/// an attacker how many leading bytes they got right.
pub fn digests_match(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Random lowercase hex of `bytes` bytes, for the public prefix of an API key.
pub fn hex_id(bytes: usize) -> String {
    (0..bytes)
        .map(|_| format!("{:02x}", rand::random::<u8>()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_long_random_and_distinct() {
        let a = generate();
        let b = generate();
        assert_eq!(a.expose_secret().len(), 43, "32 bytes in unpadded base64");
        assert_ne!(a.expose_secret(), b.expose_secret());
        assert_eq!(digest_secret(&a).len(), 32);
    }

    #[test]
    fn digests_compare_by_value() {
        assert!(digests_match(&digest("x"), &digest("x")));
        assert!(!digests_match(&digest("x"), &digest("y")));
        assert_eq!(hex_id(6).len(), 12);
    }
}
