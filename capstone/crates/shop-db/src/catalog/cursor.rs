//! The search's keyset cursor: where a page ended, as an opaque string the client hands back.
//!
//! What this module shows:
//! - a keyset position is the last row's sort key *and* its id: the id breaks ties (forty
//!   products at 19.99), so "after this row" is exact even when keys repeat;
//! - the key is typed by the sort it belongs to ([`SortKey`]): a price is an integer, "newest"
//!   a timestamp in microseconds (PostgreSQL's precision, so the round trip is exact), a
//!   relevance rank the bit pattern of its `real` (comparing floats that went through decimal
//!   text could land a hair off and skip a row);
//! - "opaque" is a contract, not secrecy: the string is base64url over a small JSON object that
//!   anyone can decode, but the API promises nothing about its contents, so the format can
//!   change. The version member `v` is what lets it change;
//! - a cursor remembers the sort and a fingerprint of the filters that produced it. Handed to a
//!   different sort or a different search it would point at a meaningless position, so
//!   [`ProductSearch::new`](super::ProductSearch::new) refuses it (a 400) instead of quietly
//!   returning a page that skips or repeats products.
//!
//! It is not signed: editing one can only move the reader to another position in a list they
//! may read anyway, and every field is validated on the way in, so a forged cursor is either a
//! 400 or an ordinary page. Chapter 05 discusses when a signature is worth its key management.
//!
//! Tests: the unit tests below and `tests/api/catalog_search.rs` in shop-api.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use shop_domain::ProductId;
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

use super::search::SearchSort;

/// The format written by [`Cursor::encode`]. Decoding refuses every other version: a server
/// that changes the format bumps this and may keep reading the old one for a while.
const VERSION: u8 = 1;

/// A cursor longer than this is not one this server wrote; refusing it early keeps a megabyte
/// of base64 away from the JSON parser. The longest key is a 200-character name, which JSON
/// writes in at most 6 bytes a character (`\u0001`; an emoji takes 4): 1,200 bytes, about
/// 1,300 with the other members, 1,734 in base64.
const MAX_ENCODED_LEN: usize = 2_048;

/// The sort key of the last row on a page.
#[derive(Debug, Clone, PartialEq)]
pub enum SortKey {
    /// `ts_rank` of the row against the query, a PostgreSQL `real`.
    Rank(f32),
    /// `price_minor`.
    Price(i64),
    /// `created_at`.
    Created(OffsetDateTime),
    /// `name`.
    Name(String),
}

// ANCHOR: cursor
/// Where a page of a search ended.
///
/// Built by the search from the last row it returned, or decoded from a client's string;
/// private fields, so no other code can assemble a cursor whose key does not fit its sort.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    sort: SearchSort,
    key: SortKey,
    id: ProductId,
    /// [`SearchFilters::fingerprint`](super::SearchFilters::fingerprint) of the search that
    /// issued it.
    search: u64,
}

/// The JSON inside the base64. Short member names: it travels in every "next page" URL.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u8,
    /// The sort, by its query-string name.
    s: SearchSort,
    /// The key: a number or a string, read according to `s`.
    k: serde_json::Value,
    id: Uuid,
    /// The search fingerprint, as 16 hex digits.
    f: String,
}
// ANCHOR_END: cursor

/// Why a string is not a cursor. One message for the client whatever the reason: a cursor is
/// something they were given, not something they write, so the fix is always "start again".
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    #[error("the cursor is not one this server issued; start again from the first page")]
    Malformed,
    #[error(
        "the cursor was issued by another version of this API; start again from the first page"
    )]
    UnsupportedVersion(u8),
}

impl Cursor {
    pub(crate) fn new(sort: SearchSort, key: SortKey, id: ProductId, search: u64) -> Cursor {
        Cursor {
            sort,
            key,
            id,
            search,
        }
    }

    pub fn sort(&self) -> SearchSort {
        self.sort
    }

    pub(crate) fn key(&self) -> &SortKey {
        &self.key
    }

    pub(crate) fn id(&self) -> ProductId {
        self.id
    }

    pub(crate) fn search(&self) -> u64 {
        self.search
    }

    // ANCHOR: encode
    /// The opaque string for `?cursor=`: base64url (no padding, so it needs no escaping in a
    /// URL) of the JSON form.
    pub fn encode(&self) -> String {
        let key = match &self.key {
            SortKey::Rank(rank) => serde_json::Value::from(rank.to_bits()),
            SortKey::Price(price) => serde_json::Value::from(*price),
            SortKey::Created(at) => serde_json::Value::from(unix_micros(*at)),
            SortKey::Name(name) => serde_json::Value::from(name.as_str()),
        };
        let wire = Wire {
            v: VERSION,
            s: self.sort,
            k: key,
            id: self.id.as_uuid(),
            f: format!("{:016x}", self.search),
        };
        // A struct of numbers and strings always serializes; the fallback is unreachable.
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Parses what [`encode`](Self::encode) wrote, strictly: any other string, even another
    /// spelling of the same JSON, is an error.
    pub fn decode(encoded: &str) -> Result<Cursor, CursorError> {
        if encoded.len() > MAX_ENCODED_LEN {
            return Err(CursorError::Malformed);
        }
        let json = URL_SAFE_NO_PAD
            .decode(encoded)
            .map_err(|_| CursorError::Malformed)?;
        let wire: Wire = serde_json::from_slice(&json).map_err(|_| CursorError::Malformed)?;
        if wire.v != VERSION {
            return Err(CursorError::UnsupportedVersion(wire.v));
        }
        let key = match wire.s {
            SearchSort::Relevance => wire
                .k
                .as_u64()
                .and_then(|bits| u32::try_from(bits).ok())
                .map(f32::from_bits)
                .filter(|rank| rank.is_finite())
                .map(SortKey::Rank),
            SearchSort::PriceAsc | SearchSort::PriceDesc => {
                wire.k.as_i64().filter(|p| *p >= 0).map(SortKey::Price)
            }
            SearchSort::Newest => wire
                .k
                .as_i64()
                .and_then(from_unix_micros)
                .map(SortKey::Created),
            SearchSort::Name => wire
                .k
                .as_str()
                .filter(|name| name.chars().count() <= 200 && !name.contains('\0'))
                .map(|name| SortKey::Name(name.to_owned())),
        }
        .ok_or(CursorError::Malformed)?;
        let search = (wire.f.len() == 16)
            .then(|| u64::from_str_radix(&wire.f, 16).ok())
            .flatten()
            .ok_or(CursorError::Malformed)?;
        let cursor = Cursor {
            sort: wire.s,
            key,
            id: ProductId::from_uuid(wire.id),
            search,
        };
        // One position, one spelling: JSON and UUIDs allow others (an id or a fingerprint in
        // upper-case hex, spaces, members in another order) that decode to this same cursor.
        // Accepting only what `encode` writes keeps "two strings, one position" impossible.
        if cursor.encode() != encoded {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }
    // ANCHOR_END: encode
}

fn unix_micros(at: OffsetDateTime) -> i64 {
    // i64 microseconds reach ±292,000 years; timestamptz stops long before that.
    (at.unix_timestamp_nanos() / 1_000) as i64
}

fn from_unix_micros(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    fn id() -> ProductId {
        ProductId::from_uuid(Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_00ab_cdef))
    }

    #[test]
    fn every_kind_of_key_round_trips_exactly() {
        let keys = [
            (SearchSort::Relevance, SortKey::Rank(0.060_792_7)),
            (SearchSort::PriceAsc, SortKey::Price(1_999)),
            (SearchSort::PriceDesc, SortKey::Price(0)),
            (
                SearchSort::Newest,
                SortKey::Created(datetime!(2026-03-04 05:06:07.123456 UTC)),
            ),
            (
                SearchSort::Name,
                SortKey::Name("Norda \"Pro\" Kettle".to_owned()),
            ),
        ];
        for (sort, key) in keys {
            let cursor = Cursor::new(sort, key, id(), 0xDEAD_BEEF_0123_4567);
            let encoded = cursor.encode();
            assert!(
                encoded
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{encoded} is URL-safe"
            );
            assert_eq!(Cursor::decode(&encoded), Ok(cursor));
        }
    }

    fn wire(json: serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(json.to_string())
    }

    /// A price cursor as `encode` writes it, and its JSON text, to edit.
    fn good() -> (Cursor, String) {
        let cursor = Cursor::new(SearchSort::PriceAsc, SortKey::Price(100), id(), 0xff);
        let json = URL_SAFE_NO_PAD.decode(cursor.encode()).unwrap();
        (cursor, String::from_utf8(json).unwrap())
    }

    /// The good cursor's JSON with one piece of text replaced, as base64url.
    fn edited(from: &str, to: &str) -> String {
        let (_, json) = good();
        assert!(json.contains(from), "{from} in {json}");
        URL_SAFE_NO_PAD.encode(json.replacen(from, to, 1))
    }

    #[test]
    fn tampered_cursors_are_refused() {
        let (cursor, json) = good();
        assert_eq!(Cursor::decode(&URL_SAFE_NO_PAD.encode(json)), Ok(cursor));

        let mut tampered: Vec<String> = [
            (r#""k":100"#, r#""k":"100""#),
            (r#""k":100"#, r#""k":-1"#),
            (r#""k":100"#, r#""k":"' OR 1=1 --""#),
            (r#""s":"price_asc""#, r#""s":"price; DROP TABLE products""#),
            (&format!(r#""id":"{}""#, id()), r#""id":"not-a-uuid""#),
            (r#""f":"00000000000000ff""#, r#""f":"xyz""#),
            (
                r#""f":"00000000000000ff""#,
                r#""f":"00000000000000ff","admin":true"#,
            ),
        ]
        .iter()
        .map(|(from, to)| edited(from, to))
        .collect();
        tampered.push("not base64 at all!".to_owned());
        tampered.push(URL_SAFE_NO_PAD.encode("not json"));
        tampered.push("A".repeat(MAX_ENCODED_LEN + 1));

        for cursor in tampered {
            assert_eq!(
                Cursor::decode(&cursor),
                Err(CursorError::Malformed),
                "{cursor}"
            );
        }
    }

    /// JSON and UUIDs have other spellings of the same values. Each would decode to the very
    /// position of the original, so a client (or a cache keyed by the URL) would see two
    /// cursors that are one; only the spelling `encode` writes is accepted.
    #[test]
    fn another_spelling_of_the_same_cursor_is_refused() {
        let (_, json) = good();
        let uuid = id().to_string();
        let respelt = [
            edited(&uuid, &uuid.to_uppercase()),
            edited("00000000000000ff", "00000000000000FF"),
            edited(r#""k":100"#, r#""k":100.0"#),
            edited(r#""k":100"#, r#""k":1e2"#),
            edited(",", ", "),
            URL_SAFE_NO_PAD.encode(format!("{json} ")),
            // The same members in another order.
            wire(serde_json::from_str(&json).unwrap()),
        ];
        for cursor in respelt {
            assert_eq!(
                Cursor::decode(&cursor),
                Err(CursorError::Malformed),
                "{cursor}"
            );
        }
    }

    /// The longest name a product may have, in the widest UTF-8 characters: its cursor is one
    /// the server must accept back.
    #[test]
    fn the_cursor_after_the_longest_name_decodes() {
        let name = "\u{1F96A}".repeat(crate::catalog::ProductName::MAX_CHARS);
        let cursor = Cursor::new(SearchSort::Name, SortKey::Name(name), id(), u64::MAX);
        assert_eq!(Cursor::decode(&cursor.encode()), Ok(cursor));
    }

    #[test]
    fn another_version_is_refused_by_name() {
        let json = serde_json::json!({
            "v": 2, "s": "name", "k": "a", "id": id().to_string(), "f": "0000000000000000"
        });
        assert_eq!(
            Cursor::decode(&wire(json)),
            Err(CursorError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn a_rank_that_is_not_a_finite_real_is_refused() {
        let json = serde_json::json!({
            "v": 1, "s": "relevance", "k": f32::NAN.to_bits(), "id": id().to_string(),
            "f": "0000000000000000"
        });
        assert_eq!(Cursor::decode(&wire(json)), Err(CursorError::Malformed));
    }
}
