//! Opaque, versioned keyset cursors: where the previous page ended, as a string the client
//! hands back without reading it.
//!
//! What this module shows: a cursor is the last row's sort key plus its id (the tie-breaker),
//! serialised as JSON and wrapped in base64url. "Opaque" is a contract, not secrecy: anyone can
//! decode it, but the API promises nothing about what is inside, so the server may change the
//! format. The `v` member makes that change possible without breaking clients that still hold
//! old cursors. Decoding is strict; every failure is a [`CursorError`], which the API turns into
//! a 400. The cursor is not signed: it holds a position in a list the client may read anyway,
//! so an edited cursor can only move the client to another place in that list (the chapter
//! explains when a signature is worth its cost).
//!
//! Tests: `cargo test -p lesson-05 --test cursor`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use thiserror::Error;
use time::OffsetDateTime;
use uuid::Uuid;

// ANCHOR: sort_field
/// The columns a client may sort the catalog by. The allow-list *is* this enum: a request
/// names one of these, or it is refused before any SQL exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SortField {
    Price,
    Name,
    Created,
}

impl SortField {
    /// Every field, for error messages.
    pub const ALL: [SortField; 3] = [SortField::Price, SortField::Name, SortField::Created];

    /// The column behind the field. A `&'static str`: these three strings are the only
    /// identifiers a request can ever put into the SQL text.
    pub const fn column(self) -> &'static str {
        match self {
            SortField::Price => "p.price_minor",
            SortField::Name => "p.name",
            SortField::Created => "p.created_at",
        }
    }

    /// The name in `?sort=`.
    pub const fn name(self) -> &'static str {
        match self {
            SortField::Price => "price",
            SortField::Name => "name",
            SortField::Created => "created",
        }
    }
}
// ANCHOR_END: sort_field

/// The sort key of the last row on a page. Its type follows the sort field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SortKey {
    /// `price_minor`, or `created_at` as microseconds since the Unix epoch (the precision
    /// PostgreSQL stores, so the round trip is exact).
    Int(i64),
    /// `name`.
    Text(String),
}

/// Where a page ended: the last row's sort key and id, for the sort it was issued for.
///
/// Private fields: a `Cursor` comes from one of the `after_*` constructors or from
/// [`Cursor::decode`], so its key always has the type (and range) its sort needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    sort: SortField,
    key: SortKey,
    id: Uuid,
}

/// Why a string is not a cursor this server issued.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CursorError {
    #[error("the cursor is not base64url")]
    Encoding,
    #[error("the cursor is malformed")]
    Malformed,
    #[error("cursor version {0} is not supported")]
    UnsupportedVersion(u64),
    /// The cursor came from a listing sorted by another field: its key cannot be compared
    /// with this sort's column.
    #[error("the cursor was issued for sort={issued}, not sort={requested}")]
    WrongSort {
        issued: &'static str,
        requested: &'static str,
    },
}

// ANCHOR: wire
/// The JSON inside: short member names, because the cursor travels in every next-page URL.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Wire {
    v: u64,
    sort: SortField,
    key: SortKey,
    id: Uuid,
}
// ANCHOR_END: wire

impl Cursor {
    /// The format this code writes. A new format gets a new number, and `decode` keeps
    /// reading the old one for as long as old cursors may be out there (minutes, for a list).
    pub const VERSION: u64 = 1;

    /// A cursor after a row sorted by price.
    pub fn after_price(price_minor: i64, id: Uuid) -> Self {
        Cursor {
            sort: SortField::Price,
            key: SortKey::Int(price_minor),
            id,
        }
    }

    /// A cursor after a row sorted by name.
    pub fn after_name(name: &str, id: Uuid) -> Self {
        Cursor {
            sort: SortField::Name,
            key: SortKey::Text(name.to_owned()),
            id,
        }
    }

    /// A cursor after a row sorted by creation time.
    pub fn after_created(created_at: OffsetDateTime, id: Uuid) -> Self {
        // Timestamps from PostgreSQL have whole microseconds, and i64 microseconds cover
        // ±292,000 years, so neither the division nor the cast loses anything.
        let micros = (created_at.unix_timestamp_nanos() / 1_000) as i64;
        Cursor {
            sort: SortField::Created,
            key: SortKey::Int(micros),
            id,
        }
    }

    // ANCHOR: cursor_codec
    /// base64url, without padding, of `{"v":1,"sort":"price","key":1299,"id":"…"}`.
    pub fn encode(&self) -> String {
        let wire = Wire {
            v: Self::VERSION,
            sort: self.sort,
            key: self.key.clone(),
            id: self.id,
        };
        let json = serde_json::to_vec(&wire).expect("a cursor of plain values always serializes");
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor that [`Cursor::encode`] wrote, and nothing else.
    pub fn decode(text: &str) -> Result<Self, CursorError> {
        let bytes = URL_SAFE_NO_PAD
            .decode(text)
            .map_err(|_| CursorError::Encoding)?;
        let wire: Wire = serde_json::from_slice(&bytes).map_err(|_| CursorError::Malformed)?;
        if wire.v != Self::VERSION {
            return Err(CursorError::UnsupportedVersion(wire.v));
        }
        let key_fits = match (wire.sort, &wire.key) {
            (SortField::Price, SortKey::Int(_)) => true,
            // JSON can carry a NUL (`\u0000`) that no PostgreSQL text value holds: binding it
            // would fail in the database, a 500 instead of this 400.
            (SortField::Name, SortKey::Text(name)) => !name.contains('\0'),
            (SortField::Created, SortKey::Int(micros)) => micros_to_time(*micros).is_some(),
            _ => false,
        };
        if !key_fits {
            return Err(CursorError::Malformed);
        }
        let cursor = Cursor {
            sort: wire.sort,
            key: wire.key,
            id: wire.id,
        };
        // One position, one spelling: JSON and UUIDs allow variants (`"ID"` in upper-case hex,
        // spaces, members in another order) that would decode to the same cursor. Accepting
        // only the form `encode` writes keeps decoding injective, so an edited cursor is
        // either refused or a different position, never a disguised copy.
        if cursor.encode() != text {
            return Err(CursorError::Malformed);
        }
        Ok(cursor)
    }
    // ANCHOR_END: cursor_codec

    pub fn sort(&self) -> SortField {
        self.sort
    }

    pub fn key(&self) -> &SortKey {
        &self.key
    }

    pub fn id(&self) -> Uuid {
        self.id
    }

    /// This cursor, if it was issued for `sort`.
    pub fn for_sort(self, sort: SortField) -> Result<Self, CursorError> {
        if self.sort == sort {
            Ok(self)
        } else {
            Err(CursorError::WrongSort {
                issued: self.sort.name(),
                requested: sort.name(),
            })
        }
    }
}

/// The JSON inside a cursor, for the demo to show what "opaque" hides (and does not hide).
pub fn peek(text: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
    String::from_utf8(bytes).ok()
}

/// A microsecond key of a `Created` cursor back as a timestamp.
pub fn micros_to_time(micros: i64) -> Option<OffsetDateTime> {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).ok()
}
