//! Part (c): API keys: generate, parse, hash, verify, rotate.
//!
//! Run with `cargo test -p exercise-04 --test part_c_api_keys`.

use std::collections::HashSet;

use exercise_04::{
    ID_LEN, KeyError, KeyStore, PREFIX, SECRET_LEN, Scope, generate_key, hash_secret, parse_key,
};
use proptest::prelude::*;

const OWNER: u64 = 42;

fn store_with(scopes: Vec<Scope>) -> (KeyStore, String) {
    let (whole, stored) = generate_key(OWNER, scopes);
    let mut store = KeyStore::new();
    store.insert(stored);
    (store, whole)
}

#[test]
fn hash_secret_is_sha256() {
    // SHA-256("abc"), from FIPS 180-2's test vectors.
    let expected: [u8; 32] = [
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    ];
    assert_eq!(hash_secret("abc"), expected);
}

#[test]
fn a_generated_key_has_the_documented_shape() {
    let (whole, stored) = generate_key(OWNER, vec![Scope::OrdersRead]);
    assert!(whole.starts_with(PREFIX), "{whole}");
    assert_eq!(
        whole.len(),
        PREFIX.len() + ID_LEN + 1 + SECRET_LEN,
        "{whole}"
    );
    let (id, secret) = parse_key(&whole).expect("a generated key parses");
    assert_eq!(id, stored.id);
    assert_eq!(
        stored.secret_hash,
        hash_secret(secret),
        "only the hash is kept"
    );
    assert_eq!((stored.owner, stored.revoked), (OWNER, false));
    assert_eq!(stored.scopes, [Scope::OrdersRead]);
}

#[test]
fn keys_are_random() {
    let ids: HashSet<String> = (0..50).map(|_| generate_key(OWNER, vec![]).1.id).collect();
    assert_eq!(ids.len(), 50);
    let (a, _) = generate_key(OWNER, vec![]);
    let (b, _) = generate_key(OWNER, vec![]);
    assert_ne!(
        a[PREFIX.len() + ID_LEN + 1..],
        b[PREFIX.len() + ID_LEN + 1..]
    );
}

#[test]
fn malformed_keys_are_refused_before_any_lookup() {
    let secret = "0".repeat(SECRET_LEN);
    let id = "0123456789abcdef";
    for bad in [
        String::new(),
        format!("{id}_{secret}"),
        format!("sk_live_{id}_{secret}"),
        format!("{PREFIX}{id}{secret}"),
        format!("{PREFIX}0123_{secret}"),
        format!("{PREFIX}0123456789ABCDEF_{secret}"),
        format!("{PREFIX}{id}_{}", &secret[1..]),
        format!("{PREFIX}{id}_{secret}0"),
        format!("{PREFIX}{id}_{}g", &secret[1..]),
    ] {
        assert_eq!(parse_key(&bad), Err(KeyError::Malformed), "{bad:?}");
    }
    assert_eq!(
        parse_key(&format!("{PREFIX}{id}_{secret}")),
        Ok((id, secret.as_str()))
    );
}

#[test]
fn verify_checks_secret_revocation_and_scope_in_order() {
    let (mut store, whole) = store_with(vec![Scope::OrdersRead]);
    assert_eq!(store.verify(&whole, Scope::OrdersRead), Ok(OWNER));
    assert_eq!(
        store.verify(&whole, Scope::OrdersWrite),
        Err(KeyError::MissingScope(Scope::OrdersWrite))
    );

    let (other, _) = generate_key(OWNER, vec![Scope::OrdersRead]);
    assert_eq!(
        store.verify(&other, Scope::OrdersRead),
        Err(KeyError::Unknown),
        "never stored"
    );
    assert_eq!(
        store.verify("sk_test_nope", Scope::OrdersRead),
        Err(KeyError::Malformed)
    );

    let (id, _) = parse_key(&whole).unwrap();
    let mut revoked = store.get(id).unwrap().clone();
    revoked.revoked = true;
    store.insert(revoked);
    assert_eq!(
        store.verify(&whole, Scope::OrdersWrite),
        Err(KeyError::Revoked),
        "revoked before scope"
    );
    let wrong_secret = format!(
        "{}{}",
        &whole[..whole.len() - SECRET_LEN],
        "f".repeat(SECRET_LEN)
    );
    assert_eq!(
        store.verify(&wrong_secret, Scope::OrdersRead),
        Err(KeyError::WrongSecret),
        "secret before revoked"
    );
}

#[test]
fn rotation_revokes_the_old_key_and_keeps_the_scopes() {
    let (mut store, old) = store_with(vec![Scope::OrdersRead, Scope::OrdersWrite]);
    let (old_id, _) = parse_key(&old).unwrap();
    let old_id = old_id.to_owned();
    assert_eq!(
        store.rotate(&old_id, OWNER + 1),
        Err(KeyError::Unknown),
        "not the owner's"
    );
    assert_eq!(
        store.rotate("0000000000000000", OWNER),
        Err(KeyError::Unknown)
    );
    let new = store.rotate(&old_id, OWNER).unwrap();
    assert_ne!(new, old);
    assert_eq!(
        store.verify(&old, Scope::OrdersRead),
        Err(KeyError::Revoked)
    );
    assert_eq!(store.verify(&new, Scope::OrdersWrite), Ok(OWNER));
    assert_eq!(
        store.rotate(&old_id, OWNER),
        Err(KeyError::Revoked),
        "rotate once"
    );
}

proptest! {
    /// Changing any one character of the secret to another hex digit makes the key fail.
    #[test]
    fn any_changed_secret_character_is_refused(position in 0..SECRET_LEN, digit in "[0-9a-f]") {
        let (store, whole) = store_with(vec![Scope::OrdersRead]);
        let at = whole.len() - SECRET_LEN + position;
        prop_assume!(whole[at..=at] != digit);
        let mut changed = whole.clone();
        changed.replace_range(at..=at, &digit);
        prop_assert_eq!(store.verify(&changed, Scope::OrdersRead), Err(KeyError::WrongSecret));
    }

    /// A key always verifies for each scope it was made with, and only those.
    #[test]
    fn a_key_verifies_exactly_its_scopes(read in any::<bool>(), write in any::<bool>()) {
        let scopes: Vec<Scope> = [(read, Scope::OrdersRead), (write, Scope::OrdersWrite)]
            .into_iter()
            .filter_map(|(on, scope)| on.then_some(scope))
            .collect();
        let (store, whole) = store_with(scopes.clone());
        for scope in [Scope::OrdersRead, Scope::OrdersWrite] {
            let expected = if scopes.contains(&scope) { Ok(OWNER) } else { Err(KeyError::MissingScope(scope)) };
            prop_assert_eq!(store.verify(&whole, scope), expected);
        }
    }
}
