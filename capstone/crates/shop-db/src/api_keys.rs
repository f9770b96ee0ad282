//! API keys for integrations (book chapter 04, "Capstone step").
//!
//! A key is `shop_<prefix>_<secret>`. The prefix is public: it finds the row in one index
//! lookup and tells keys apart in a listing. The secret is stored as its SHA-256 hash and the
//! caller compares hashes in constant time. Every query that touches one key also names its
//! owner (`WHERE user_id = $1 AND id = $2`), so user A asking about user B's key finds nothing:
//! ownership is part of the query, not an `if` a handler could forget.
//!
//! Tests: `cargo test -p shop-db --test api_keys` (needs PostgreSQL).

use std::fmt;
use std::str::FromStr;

use shop_domain::{Role, UserId};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, invalid_row};

/// What a key may do. The schema's CHECK lists the same spellings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read the catalog.
    CatalogRead,
    /// Read the key owner's orders.
    OrdersRead,
}

impl Scope {
    pub const ALL: [Scope; 2] = [Scope::CatalogRead, Scope::OrdersRead];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CatalogRead => "catalog:read",
            Scope::OrdersRead => "orders:read",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The text was not a known scope.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not a scope (expected catalog:read or orders:read)")]
pub struct ParseScopeError(pub String);

impl FromStr for Scope {
    type Err = ParseScopeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Scope::ALL
            .into_iter()
            .find(|scope| scope.as_str() == text)
            .ok_or_else(|| ParseScopeError(text.to_owned()))
    }
}

/// A key as its owner sees it: never the secret, which exists only in the creation response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKey {
    pub id: Uuid,
    pub user_id: UserId,
    pub prefix: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: OffsetDateTime,
    pub last_used_at: Option<OffsetDateTime>,
    pub revoked_at: Option<OffsetDateTime>,
}

/// A key to store. The caller generated prefix and secret, and passes the secret's hash.
#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub user_id: UserId,
    pub prefix: String,
    pub secret_hash: Vec<u8>,
    pub name: String,
    pub scopes: Vec<Scope>,
}

/// A live key found by its prefix, with what checking it needs.
#[derive(Debug, Clone)]
pub struct KeyForCheck {
    pub key: ApiKey,
    pub secret_hash: Vec<u8>,
    /// The owner's current role.
    pub owner_role: Role,
}

struct ApiKeyRow {
    id: Uuid,
    user_id: Uuid,
    prefix: String,
    name: String,
    scopes: Vec<String>,
    created_at: OffsetDateTime,
    last_used_at: Option<OffsetDateTime>,
    revoked_at: Option<OffsetDateTime>,
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = DbError;

    fn try_from(row: ApiKeyRow) -> Result<Self, DbError> {
        let scopes = row
            .scopes
            .iter()
            .map(|s| s.parse::<Scope>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid_row("api_keys", row.id, "scopes"))?;
        Ok(ApiKey {
            id: row.id,
            user_id: UserId::from_uuid(row.user_id),
            prefix: row.prefix,
            name: row.name,
            scopes,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })
    }
}

/// Creates, lists, revokes and finds API keys. Cheap to clone.
#[derive(Debug, Clone)]
pub struct ApiKeyRepo {
    pool: PgPool,
}

impl ApiKeyRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    #[instrument(skip_all, fields(user.id = %new.user_id), err(level = "debug"))]
    pub async fn create(&self, new: NewApiKey) -> Result<ApiKey, DbError> {
        let scopes: Vec<String> = new.scopes.iter().map(|s| s.as_str().to_owned()).collect();
        let row = sqlx::query_as!(
            ApiKeyRow,
            r#"
            INSERT INTO api_keys (id, user_id, prefix, secret_hash, name, scopes)
            VALUES ($1, $2, $3, $4, $5, $6)
            RETURNING id, user_id, prefix, name, scopes, created_at, last_used_at, revoked_at
            "#,
            Uuid::now_v7(),
            new.user_id.as_uuid(),
            new.prefix,
            new.secret_hash,
            new.name,
            &scopes,
        )
        .fetch_one(&self.pool)
        .await?;
        ApiKey::try_from(row)
    }

    /// Every key of `user`, revoked ones included, newest first.
    #[instrument(skip_all, fields(user.id = %user), err(level = "debug"))]
    pub async fn list(&self, user: UserId) -> Result<Vec<ApiKey>, DbError> {
        let rows = sqlx::query_as!(
            ApiKeyRow,
            r#"
            SELECT id, user_id, prefix, name, scopes, created_at, last_used_at, revoked_at
            FROM api_keys WHERE user_id = $1
            ORDER BY created_at DESC, id DESC
            "#,
            user.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    /// Revokes key `id` if it belongs to `user`. `false` when it does not exist, belongs to
    /// someone else, or was revoked already: the caller answers 404 in every case.
    #[instrument(skip_all, fields(user.id = %user, key.id = %id), err(level = "debug"))]
    pub async fn revoke(&self, user: UserId, id: Uuid) -> Result<bool, DbError> {
        let result = sqlx::query!(
            r#"
            UPDATE api_keys SET revoked_at = now()
            WHERE user_id = $1 AND id = $2 AND revoked_at IS NULL
            "#,
            user.as_uuid(),
            id,
        )
        .execute(&self.pool)
        .await?;
        Ok(result.rows_affected() == 1)
    }

    /// The live key with this prefix, whose owner is not erased.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn find_active(&self, prefix: &str) -> Result<Option<KeyForCheck>, DbError> {
        let row = sqlx::query!(
            r#"
            SELECT k.id, k.user_id, k.prefix, k.name, k.scopes, k.created_at, k.last_used_at,
                   k.revoked_at, k.secret_hash, u.role
            FROM api_keys k JOIN users u ON u.id = k.user_id
            WHERE k.prefix = $1 AND k.revoked_at IS NULL AND u.erased_at IS NULL
            "#,
            prefix,
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let owner_role =
            row.role
                .parse::<Role>()
                .map_err(invalid_row("users", row.user_id, "role"))?;
        let key = ApiKey::try_from(ApiKeyRow {
            id: row.id,
            user_id: row.user_id,
            prefix: row.prefix,
            name: row.name,
            scopes: row.scopes,
            created_at: row.created_at,
            last_used_at: row.last_used_at,
            revoked_at: row.revoked_at,
        })?;
        Ok(Some(KeyForCheck {
            key,
            secret_hash: row.secret_hash,
            owner_role,
        }))
    }

    /// Records that key `id` was used. At most one write a minute per key: enough to tell a
    /// forgotten key from a busy one, without turning every read request into a write.
    #[instrument(skip_all, fields(key.id = %id), err(level = "debug"))]
    pub async fn touch(&self, id: Uuid) -> Result<(), DbError> {
        sqlx::query!(
            r#"
            UPDATE api_keys SET last_used_at = now()
            WHERE id = $1
              AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
            "#,
            id,
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }
}
