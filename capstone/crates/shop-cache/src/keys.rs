//! Key design: a name, a schema version and an id, under the deployment's prefix.

use std::fmt::Display;
use std::time::Duration;

// ANCHOR: namespace
/// A kind of cached value and how long each tier keeps it.
///
/// Every key carries [`Namespace::version`]: when the cached value's shape changes (a field
/// added to the product JSON), bump it, and the new code never reads an entry the old code
/// wrote; the old entries expire on their own. That is invalidation by versioned keys: no
/// flush, no coordination between the old and the new release while both run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Namespace {
    /// `product`: the first part of every key.
    pub name: &'static str,
    /// The schema version, `v1` in the key.
    pub version: u32,
    /// How long a process keeps an entry in memory. Also the bound on how stale a process can
    /// be when it misses an invalidation (its subscription was down).
    pub local_ttl: Duration,
    /// How long Redis keeps an entry.
    pub remote_ttl: Duration,
    /// How long "there is no such thing" is kept, in both tiers: shorter, because a create
    /// that races an earlier miss should not stay invisible for long.
    pub negative_ttl: Duration,
}

impl Namespace {
    /// `product:v1:42`. An id is the value of a database key (a number or a UUID here), so it
    /// never holds the separator; the name is a constant of the code.
    pub fn key(&self, id: impl Display) -> String {
        format!("{}:v{}:{id}", self.name, self.version)
    }

    /// Every key of this namespace and version starts with this.
    pub fn key_prefix(&self) -> String {
        format!("{}:v{}:", self.name, self.version)
    }
}
// ANCHOR_END: namespace

#[cfg(test)]
mod tests {
    use super::*;

    const PRODUCT: Namespace = Namespace {
        name: "product",
        version: 3,
        local_ttl: Duration::from_secs(1),
        remote_ttl: Duration::from_secs(2),
        negative_ttl: Duration::from_secs(1),
    };

    #[test]
    fn a_key_names_its_kind_version_and_id() {
        assert_eq!(PRODUCT.key(42), "product:v3:42");
        assert!(PRODUCT.key(42).starts_with(&PRODUCT.key_prefix()));
    }

    #[test]
    fn bumping_the_version_changes_every_key() {
        let next = Namespace {
            version: 4,
            ..PRODUCT
        };
        assert_ne!(PRODUCT.key(42), next.key(42));
        assert!(!next.key(42).starts_with(&PRODUCT.key_prefix()));
    }
}
