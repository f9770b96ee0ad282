//! Part (c): API keys: generate, parse, hash, verify, rotate.
//!
//! Run with `cargo test -p exercise-04 part_c`.

use std::collections::HashSet;
use std::marker::PhantomData;

use exercise_04::{
    ID_LEN, KeyError, KeyStore, PREFIX, SECRET_LEN, Scope, SecretHash, generate_key, hash_secret,
    parse_key,
};
use proptest::prelude::*;
use subtle::ConstantTimeEq;

const OWNER: u64 = 42;

fn store_with(scopes: Vec<Scope>) -> (KeyStore, String) {
    let (whole, stored) = generate_key(OWNER, scopes);
    let mut store = KeyStore::new();
    store.insert(stored);
    (store, whole)
}

fn same(a: &SecretHash, b: &SecretHash) -> bool {
    bool::from(a.ct_eq(b))
}

/// `<Probe<T>>::IMPLEMENTS_EQ` is `true` exactly when `T: PartialEq`: the inherent constant
/// exists only under that bound, and wins over the trait's when it exists.
struct Probe<T>(PhantomData<T>);

impl<T: PartialEq> Probe<T> {
    // Unused while SecretHash has no `PartialEq`, which is what the test wants.
    #[allow(dead_code)]
    const IMPLEMENTS_EQ: bool = true;
}

trait NoEq {
    const IMPLEMENTS_EQ: bool = false;
}

impl<T> NoEq for Probe<T> {}

#[test]
fn hash_secret_is_sha256() {
    // SHA-256("abc"), from FIPS 180-2's test vectors.
    let abc = SecretHash::from_digest([
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22,
        0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00,
        0x15, 0xad,
    ]);
    assert!(
        same(&hash_secret("abc"), &abc),
        "hash_secret(\"abc\") is SHA-256 of the text's bytes (FIPS 180-2's first test vector)"
    );
    assert!(
        !same(&hash_secret("abd"), &abc),
        "another secret has another hash"
    );
}

#[test]
fn a_secret_hash_is_compared_only_in_constant_time() {
    let implements_eq = <Probe<SecretHash>>::IMPLEMENTS_EQ;
    assert!(
        !implements_eq,
        "SecretHash must not implement PartialEq: `==` may stop at the first byte that \
         differs, and its timing tells an attacker how much of a guess was right. Compare \
         with subtle's `ct_eq` instead (see the doc comment of SecretHash)"
    );
    let (store, whole) = store_with(vec![Scope::OrdersRead]);
    assert_eq!(
        store.verify(&whole, Scope::OrdersRead),
        Ok(OWNER),
        "the right secret verifies"
    );
}

#[test]
fn a_generated_key_has_the_documented_shape() {
    let (whole, stored) = generate_key(OWNER, vec![Scope::OrdersRead]);
    assert!(
        whole.starts_with(PREFIX),
        "a key starts with {PREFIX}: {whole}"
    );
    assert_eq!(
        whole.len(),
        PREFIX.len() + ID_LEN + 1 + SECRET_LEN,
        "prefix, {ID_LEN} id characters, `_`, {SECRET_LEN} secret characters: {whole}"
    );
    let (id, secret) = parse_key(&whole).expect("a generated key parses");
    assert_eq!(id, stored.id, "the key carries the stored id");
    assert!(
        same(&stored.secret_hash, &hash_secret(secret)),
        "the store keeps hash_secret(secret), and only that"
    );
    assert_eq!(
        (stored.owner, stored.revoked),
        (OWNER, false),
        "a new key belongs to its owner and is not revoked"
    );
    assert_eq!(
        stored.scopes,
        [Scope::OrdersRead],
        "the scopes it was made with"
    );
}

#[test]
fn keys_are_random() {
    let ids: HashSet<String> = (0..50).map(|_| generate_key(OWNER, vec![]).1.id).collect();
    assert_eq!(ids.len(), 50, "50 keys, 50 different ids");
    let (a, _) = generate_key(OWNER, vec![]);
    let (b, _) = generate_key(OWNER, vec![]);
    let secret = PREFIX.len() + ID_LEN + 1..;
    assert_ne!(
        a[secret.clone()],
        b[secret],
        "two keys have different secrets"
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
        format!("{PREFIX}{id}__{}", &secret[1..]),
        format!(" {PREFIX}{id}_{secret}"),
    ] {
        assert_eq!(
            parse_key(&bad),
            Err(KeyError::Malformed),
            "not {PREFIX}<{ID_LEN} lowercase hex>_<{SECRET_LEN} lowercase hex>: {bad:?}"
        );
    }
    assert_eq!(
        parse_key(&format!("{PREFIX}{id}_{secret}")),
        Ok((id, secret.as_str())),
        "a well-formed key splits into its id and its secret"
    );
}

#[test]
fn verify_checks_secret_revocation_and_scope_in_order() {
    let (mut store, whole) = store_with(vec![Scope::OrdersRead]);
    assert_eq!(store.verify(&whole, Scope::OrdersRead), Ok(OWNER));
    assert_eq!(
        store.verify(&whole, Scope::OrdersWrite),
        Err(KeyError::MissingScope(Scope::OrdersWrite)),
        "a key made for reading does not write"
    );

    let (other, _) = generate_key(OWNER, vec![Scope::OrdersRead]);
    assert_eq!(
        store.verify(&other, Scope::OrdersRead),
        Err(KeyError::Unknown),
        "a key that was never stored is unknown"
    );
    assert_eq!(
        store.verify("sk_test_nope", Scope::OrdersRead),
        Err(KeyError::Malformed),
        "parse_key comes first"
    );

    let (id, _) = parse_key(&whole).expect("a generated key parses");
    let mut revoked = store.get(id).expect("the key was stored").clone();
    revoked.revoked = true;
    store.insert(revoked);
    assert_eq!(
        store.verify(&whole, Scope::OrdersWrite),
        Err(KeyError::Revoked),
        "revoked is checked before the scope"
    );
    let wrong_secret = format!(
        "{}{}",
        &whole[..whole.len() - SECRET_LEN],
        "f".repeat(SECRET_LEN)
    );
    assert_eq!(
        store.verify(&wrong_secret, Scope::OrdersRead),
        Err(KeyError::WrongSecret),
        "the secret is checked before revocation: a revoked key's id with a guessed secret \
         must not learn that the key was revoked"
    );
}

#[test]
fn rotation_revokes_the_old_key_and_keeps_the_scopes() {
    let (mut store, old) = store_with(vec![Scope::OrdersRead, Scope::OrdersWrite]);
    let (old_id, _) = parse_key(&old).expect("a generated key parses");
    let old_id = old_id.to_owned();
    assert_eq!(
        store.rotate(&old_id, OWNER + 1),
        Err(KeyError::Unknown),
        "another owner's key is answered as if it did not exist"
    );
    assert_eq!(
        store.verify(&old, Scope::OrdersRead),
        Ok(OWNER),
        "a refused rotation leaves the key working"
    );
    assert_eq!(
        store.rotate("0000000000000000", OWNER),
        Err(KeyError::Unknown),
        "no such key"
    );
    let new = store
        .rotate(&old_id, OWNER)
        .expect("the owner rotates their key");
    assert_ne!(new, old, "rotation makes a new key");
    assert_eq!(
        store.verify(&old, Scope::OrdersRead),
        Err(KeyError::Revoked),
        "the old key is revoked"
    );
    assert_eq!(
        store.verify(&new, Scope::OrdersWrite),
        Ok(OWNER),
        "the new key has the old key's owner and scopes"
    );
    assert_eq!(
        store.rotate(&old_id, OWNER),
        Err(KeyError::Revoked),
        "a revoked key cannot be rotated again"
    );
}

/// The definition `parse_key` follows, written plainly.
fn well_formed(key: &str) -> Option<(&str, &str)> {
    let rest = key.strip_prefix(PREFIX)?;
    let is_lower_hex = |part: &str| {
        part.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let (id, secret) = (rest.get(..ID_LEN)?, rest.get(ID_LEN + 1..)?);
    (rest.as_bytes().get(ID_LEN) == Some(&b'_')
        && is_lower_hex(id)
        && secret.len() == SECRET_LEN
        && is_lower_hex(secret))
    .then_some((id, secret))
}

/// Characters to put into a key: hex digits, the separators, and what must never pass (upper
/// case, control characters, non-ASCII, anything at all).
fn key_char() -> impl Strategy<Value = char> {
    prop_oneof![
        proptest::char::range('0', '9'),
        proptest::char::range('a', 'f'),
        proptest::sample::select(vec![
            '_', 'A', 'F', 'g', 'x', ' ', '\0', '\n', '\u{7f}', 'é', 'ａ'
        ]),
        any::<char>(),
    ]
}

/// One edit of a key: replace, insert or delete the character at a position.
#[derive(Debug, Clone)]
enum Edit {
    Replace(usize, char),
    Insert(usize, char),
    Delete(usize),
}

fn edit() -> impl Strategy<Value = Edit> {
    let len = PREFIX.len() + ID_LEN + 1 + SECRET_LEN;
    prop_oneof![
        (0..len, key_char()).prop_map(|(at, c)| Edit::Replace(at, c)),
        (0..=len, key_char()).prop_map(|(at, c)| Edit::Insert(at, c)),
        (0..len).prop_map(Edit::Delete),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, max_shrink_iters: 1024, ..ProptestConfig::default() })]

    /// Changing any one character of the secret to another hex digit makes the key fail.
    #[test]
    fn any_changed_secret_character_is_refused(position in 0..SECRET_LEN, digit in "[0-9a-f]") {
        let (store, whole) = store_with(vec![Scope::OrdersRead]);
        let at = whole.len() - SECRET_LEN + position;
        prop_assume!(whole[at..=at] != digit);
        let mut changed = whole.clone();
        changed.replace_range(at..=at, &digit);
        prop_assert_eq!(
            store.verify(&changed, Scope::OrdersRead),
            Err(KeyError::WrongSecret),
            "secret character {} changed: the hashes differ", position
        );
    }

    /// Any one-character edit of a key is parsed exactly as the definition says: a key that
    /// is still well-formed splits, anything else is `Malformed`.
    #[test]
    fn parse_key_follows_the_definition_after_any_edit(edit in edit()) {
        let mut key: Vec<char> =
            format!("{PREFIX}0123456789abcdef_{}", "0123456789abcdef".repeat(4)).chars().collect();
        match edit {
            Edit::Replace(at, c) => key[at] = c,
            Edit::Insert(at, c) => key.insert(at, c),
            Edit::Delete(at) => {
                key.remove(at);
            }
        }
        let key: String = key.into_iter().collect();
        let expected = well_formed(&key).ok_or(KeyError::Malformed);
        prop_assert_eq!(
            parse_key(&key),
            expected,
            "{:?}: exactly {}<{} lowercase hex>_<{} lowercase hex>", key, PREFIX, ID_LEN, SECRET_LEN
        );
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
            prop_assert_eq!(store.verify(&whole, scope), expected, "scopes {:?}, needed {:?}", scopes, scope);
        }
    }
}
