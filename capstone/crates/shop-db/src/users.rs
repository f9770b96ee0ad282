//! The user repository: accounts, their credentials, roles, verified addresses, and erasure.
//!
//! What this module shows:
//! - turning a constraint violation into a typed error: a duplicate address is recognised by
//!   PostgreSQL's SQLSTATE `23505` (unique violation) on the `users_email_key` index, never by
//!   matching the text of an error message, which changes between versions and locales;
//! - letting the database enforce uniqueness instead of "SELECT, then INSERT if absent", which
//!   two concurrent sign-ups would both pass;
//! - a case-insensitive lookup that uses the `lower(email)` index;
//! - the password hash kept out of [`User`]: only the two queries that need it (sign-in and
//!   "confirm your password") return it, wrapped in [`PasswordHash`], whose `Debug` hides it;
//! - erasure as anonymisation in one transaction (chapter 06): the row stays for the orders
//!   that point at it, everything personal is overwritten, every credential is deleted.
//!
//! Tests: `cargo test -p shop-db --test users` (needs PostgreSQL).

use std::fmt;

use shop_domain::{Email, OrderId, ProductId, Role, UserId};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, invalid_row};

/// The unique index on `lower(email)`, named in the first migration.
const EMAIL_UNIQUE_INDEX: &str = "users_email_key";

/// What an erased account is called from then on.
pub const ERASED_DISPLAY_NAME: &str = "Erased user";

/// A registered account, without its credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub role: Role,
    /// When the current address was proven to reach its owner.
    pub email_verified_at: Option<OffsetDateTime>,
    pub password_changed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
}

/// What it takes to create a [`User`]; the repository picks the id and the timestamp. Every
/// new account is a customer: roles are granted by an admin, never chosen at sign-up.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub display_name: DisplayName,
    /// `None` for accounts that cannot sign in with a password (demo data).
    pub password_hash: Option<PasswordHash>,
}

/// An argon2id hash in PHC string form, as the `users.password_hash` column holds it. Not the
/// password, but still worth an offline guessing attack: `Debug` does not print it.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string produced by the password hasher.
    pub fn new(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// A user and their password hash: what signing in needs.
#[derive(Debug, Clone)]
pub struct Credentials {
    pub user: User,
    pub password_hash: Option<PasswordHash>,
}

/// The name shown for a user: 1 to 100 characters once trimmed, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

/// Why a string is not a [`DisplayName`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DisplayNameError {
    #[error("the display name is empty")]
    Empty,
    #[error("the display name has {0} characters; at most {max} are allowed", max = DisplayName::MAX_CHARS)]
    TooLong(usize),
    #[error("the display name contains a control character")]
    ControlCharacter,
}

impl DisplayName {
    /// The limit the schema's CHECK constraint enforces, counted in characters.
    pub const MAX_CHARS: usize = 100;

    pub fn parse(input: &str) -> Result<Self, DisplayNameError> {
        let name = input.trim();
        let chars = name.chars().count();
        if chars == 0 {
            return Err(DisplayNameError::Empty);
        }
        if chars > Self::MAX_CHARS {
            return Err(DisplayNameError::TooLong(chars));
        }
        if name.chars().any(char::is_control) {
            return Err(DisplayNameError::ControlCharacter);
        }
        Ok(Self(name.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for DisplayName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a profile edit changes; `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct ProfileChange {
    pub display_name: Option<DisplayName>,
    /// A new address is unverified until its owner redeems the token mailed to it.
    pub email: Option<Email>,
}

/// One of a user's orders, with its lines, for the data export and the integrations API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRecord {
    pub id: OrderId,
    pub status: String,
    pub currency: String,
    pub placed_at: OffsetDateTime,
    pub lines: Vec<OrderLine>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: i32,
    pub unit_price_minor: i64,
}

/// Creates, finds, changes and erases accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserRepo {
    pool: PgPool,
}

struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
    role: String,
    email_verified_at: Option<OffsetDateTime>,
    password_changed_at: Option<OffsetDateTime>,
    created_at: OffsetDateTime,
}

impl TryFrom<UserRow> for User {
    type Error = DbError;

    fn try_from(row: UserRow) -> Result<Self, Self::Error> {
        let email = Email::parse(&row.email).map_err(invalid_row("users", row.id, "email"))?;
        let display_name = DisplayName::parse(&row.display_name).map_err(invalid_row(
            "users",
            row.id,
            "display_name",
        ))?;
        let role = row
            .role
            .parse::<Role>()
            .map_err(invalid_row("users", row.id, "role"))?;
        Ok(User {
            id: UserId::from_uuid(row.id),
            email,
            display_name,
            role,
            email_verified_at: row.email_verified_at,
            password_changed_at: row.password_changed_at,
            created_at: row.created_at,
        })
    }
}

/// Maps a unique violation on the address index to [`DbError::EmailTaken`].
fn email_taken(email: &Email) -> impl FnOnce(sqlx::Error) -> DbError + '_ {
    move |error| match &error {
        sqlx::Error::Database(db)
            if db.is_unique_violation() && db.constraint() == Some(EMAIL_UNIQUE_INDEX) =>
        {
            DbError::EmailTaken(email.clone())
        }
        _ => DbError::Sqlx(error),
    }
}

impl UserRepo {
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    // ANCHOR: create_user
    /// Registers a new account. Fails with [`DbError::EmailTaken`] when the address is already
    /// in use, whatever its case (`Ada@example.com` and `ada@example.com` are one account).
    #[instrument(skip_all, fields(user.id), err(level = "debug"))]
    pub async fn create(&self, new: NewUser) -> Result<User, DbError> {
        let id = UserId::generate();
        tracing::Span::current().record("user.id", tracing::field::display(id));
        let created_at = sqlx::query_scalar!(
            r#"
            INSERT INTO users (id, email, display_name, password_hash)
            VALUES ($1, $2, $3, $4)
            RETURNING created_at
            "#,
            id.as_uuid(),
            new.email.as_str(),
            new.display_name.as_str(),
            new.password_hash.as_ref().map(PasswordHash::as_str),
        )
        .fetch_one(&self.pool)
        .await
        .map_err(email_taken(&new.email))?;
        Ok(User {
            id,
            email: new.email,
            display_name: new.display_name,
            role: Role::Customer,
            email_verified_at: None,
            password_changed_at: None,
            created_at,
        })
    }
    // ANCHOR_END: create_user

    /// The account with this id, or `None` (also for an erased account).
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
        let row = sqlx::query_as!(
            UserRow,
            r#"
            SELECT id, email, display_name, role, email_verified_at, password_changed_at,
                   created_at
            FROM users
            WHERE id = $1 AND erased_at IS NULL
            "#,
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// The account registered under this address, compared case-insensitively, or `None`.
    // The address is personal data: it stays out of the span.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn find_by_email(&self, email: &Email) -> Result<Option<User>, DbError> {
        Ok(self.credentials_by_email(email).await?.map(|c| c.user))
    }

    /// The account and its password hash, for signing in.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn credentials_by_email(
        &self,
        email: &Email,
    ) -> Result<Option<Credentials>, DbError> {
        // `lower(email) = lower($1)` matches the expression the unique index is built on, so
        // PostgreSQL answers from the index instead of scanning the table. Erased accounts
        // carry an address nobody can type (`@erased.invalid`), so they are never found.
        let row = sqlx::query!(
            r#"
            SELECT id, email, display_name, role, email_verified_at, password_changed_at,
                   created_at, password_hash
            FROM users
            WHERE lower(email) = lower($1) AND erased_at IS NULL
            "#,
            email.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let password_hash = row.password_hash.map(PasswordHash);
        let user = User::try_from(UserRow {
            id: row.id,
            email: row.email,
            display_name: row.display_name,
            role: row.role,
            email_verified_at: row.email_verified_at,
            password_changed_at: row.password_changed_at,
            created_at: row.created_at,
        })?;
        Ok(Some(Credentials {
            user,
            password_hash,
        }))
    }

    /// The password hash of a live account, for "confirm with your current password".
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn password_hash(&self, id: UserId) -> Result<Option<PasswordHash>, DbError> {
        let hash = sqlx::query_scalar!(
            "SELECT password_hash FROM users WHERE id = $1 AND erased_at IS NULL",
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        Ok(hash.flatten().map(PasswordHash))
    }

    /// The role of a live account, or `None` if it does not exist or was erased. Checked on
    /// every authenticated request, so a demotion or an erasure takes effect at once.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn active_role(&self, id: UserId) -> Result<Option<Role>, DbError> {
        let role = sqlx::query_scalar!(
            "SELECT role FROM users WHERE id = $1 AND erased_at IS NULL",
            id.as_uuid(),
        )
        .fetch_optional(&self.pool)
        .await?;
        role.map(|role| {
            role.parse::<Role>()
                .map_err(invalid_row("users", id.as_uuid(), "role"))
        })
        .transpose()
    }

    /// Replaces the hash without counting as a password change: the rehash after a login
    /// whose hash used outdated parameters.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn upgrade_password_hash(
        &self,
        id: UserId,
        hash: &PasswordHash,
    ) -> Result<(), DbError> {
        sqlx::query!(
            "UPDATE users SET password_hash = $2 WHERE id = $1 AND erased_at IS NULL",
            id.as_uuid(),
            hash.as_str(),
        )
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    // ANCHOR: change_password
    /// Sets a new password and revokes every session of the user except `keep` (the one that
    /// asked), in one transaction: whoever else knew the old password is signed out with it.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn change_password(
        &self,
        id: UserId,
        hash: &PasswordHash,
        keep: Option<Uuid>,
    ) -> Result<(), DbError> {
        let mut tx = self.pool.begin().await?;
        sqlx::query!(
            r#"
            UPDATE users SET password_hash = $2, password_changed_at = now()
            WHERE id = $1 AND erased_at IS NULL
            "#,
            id.as_uuid(),
            hash.as_str(),
        )
        .execute(&mut *tx)
        .await?;
        sqlx::query!(
            r#"
            UPDATE sessions SET revoked_at = now(), revoked_reason = 'password_change'
            WHERE user_id = $1 AND revoked_at IS NULL AND id IS DISTINCT FROM $2
            "#,
            id.as_uuid(),
            keep,
        )
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }
    // ANCHOR_END: change_password

    /// Applies a profile edit and returns the account as it now is. A new address resets
    /// `email_verified_at`; an address in use by another account is [`DbError::EmailTaken`].
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn update_profile(
        &self,
        id: UserId,
        change: &ProfileChange,
    ) -> Result<Option<User>, DbError> {
        // COALESCE keeps what the change leaves out. The address counts as changed only if it
        // differs (case-insensitively) from the current one, so re-sending it is harmless.
        let row = sqlx::query_as!(
            UserRow,
            r#"
            UPDATE users SET
                display_name = COALESCE($2, display_name),
                email_verified_at = CASE
                    WHEN $3::text IS NOT NULL AND lower($3) <> lower(email) THEN NULL
                    ELSE email_verified_at END,
                email = COALESCE($3, email)
            WHERE id = $1 AND erased_at IS NULL
            RETURNING id, email, display_name, role, email_verified_at, password_changed_at,
                      created_at
            "#,
            id.as_uuid(),
            change.display_name.as_ref().map(DisplayName::as_str),
            change.email.as_ref().map(Email::as_str),
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|error| match &change.email {
            Some(email) => email_taken(email)(error),
            None => DbError::Sqlx(error),
        })?;
        row.map(User::try_from).transpose()
    }

    /// Gives an account a role; `None` if there is no such (live) account.
    #[instrument(skip_all, fields(user.id = %id, role = %role), err(level = "debug"))]
    pub async fn set_role(&self, id: UserId, role: Role) -> Result<Option<User>, DbError> {
        let row = sqlx::query_as!(
            UserRow,
            r#"
            UPDATE users SET role = $2
            WHERE id = $1 AND erased_at IS NULL
            RETURNING id, email, display_name, role, email_verified_at, password_changed_at,
                      created_at
            "#,
            id.as_uuid(),
            role.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }

    /// Live accounts in id order (which, with UUIDv7 ids, is sign-up order), `limit` at a
    /// time, starting after `after`.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn list(&self, after: Option<UserId>, limit: u32) -> Result<Vec<User>, DbError> {
        let rows = sqlx::query_as!(
            UserRow,
            r#"
            SELECT id, email, display_name, role, email_verified_at, password_changed_at,
                   created_at
            FROM users
            WHERE erased_at IS NULL AND ($1::uuid IS NULL OR id > $1)
            ORDER BY id
            LIMIT $2
            "#,
            after.map(|id| id.as_uuid()),
            i64::from(limit),
        )
        .fetch_all(&self.pool)
        .await?;
        rows.into_iter().map(User::try_from).collect()
    }

    // ANCHOR: verification
    /// Stores the hash of a verification token mailed to `email` for user `id`.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn add_verification_token(
        &self,
        id: UserId,
        email: &Email,
        token_hash: &[u8],
        expires_at: OffsetDateTime,
    ) -> Result<(), DbError> {
        insert_verification_token(&self.pool, id, email, token_hash, expires_at).await?;
        Ok(())
    }

    /// Redeems a verification token: marks it used and the address verified, if the token is
    /// known, unused, unexpired, and was sent to the address the account still has. Returns
    /// the user it verified. The `UPDATE ... WHERE used_at IS NULL` is the single-use check:
    /// of two concurrent redemptions, only one finds the row still unused.
    #[instrument(skip_all, err(level = "debug"))]
    pub async fn redeem_verification_token(
        &self,
        token_hash: &[u8],
    ) -> Result<Option<UserId>, DbError> {
        let mut tx = self.pool.begin().await?;
        let redeemed = sqlx::query!(
            r#"
            UPDATE email_verification_tokens SET used_at = now()
            WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()
            RETURNING user_id, email
            "#,
            token_hash,
        )
        .fetch_optional(&mut *tx)
        .await?;
        let Some(redeemed) = redeemed else {
            return Ok(None);
        };
        let verified = sqlx::query_scalar!(
            r#"
            UPDATE users SET email_verified_at = now()
            WHERE id = $1 AND lower(email) = lower($2) AND erased_at IS NULL
            RETURNING id
            "#,
            redeemed.user_id,
            redeemed.email,
        )
        .fetch_optional(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(verified.map(UserId::from_uuid))
    }
    // ANCHOR_END: verification

    /// The user's orders, newest first, each with its lines.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn orders(&self, id: UserId) -> Result<Vec<OrderRecord>, DbError> {
        let rows = sqlx::query!(
            r#"
            SELECT o.id, o.status, o.currency, o.placed_at,
                   i.product_id AS "product_id?", i.quantity AS "quantity?",
                   i.unit_price_minor AS "unit_price_minor?"
            FROM orders o
            LEFT JOIN order_items i ON i.order_id = o.id
            WHERE o.user_id = $1
            ORDER BY o.placed_at DESC, o.id, i.product_id
            "#,
            id.as_uuid(),
        )
        .fetch_all(&self.pool)
        .await?;
        let mut orders: Vec<OrderRecord> = Vec::new();
        for row in rows {
            let order_id = OrderId::from_uuid(row.id);
            if orders.last().map(|o| o.id) != Some(order_id) {
                orders.push(OrderRecord {
                    id: order_id,
                    // As the orders API spells it: the seed's legacy "placed" is pending payment.
                    status: crate::orders::stored_status(&row.status, row.id)?
                        .as_str()
                        .to_owned(),
                    currency: row.currency,
                    placed_at: row.placed_at,
                    lines: Vec::new(),
                });
            }
            if let (Some(product), Some(quantity), Some(price), Some(order)) = (
                row.product_id,
                row.quantity,
                row.unit_price_minor,
                orders.last_mut(),
            ) {
                order.lines.push(OrderLine {
                    product_id: ProductId::from_uuid(product),
                    quantity,
                    unit_price_minor: price,
                });
            }
        }
        Ok(orders)
    }

    // ANCHOR: erase
    /// Erases an account (GDPR art. 17, chapter 06), in one transaction:
    ///
    /// - the row is **anonymised**, not deleted: orders reference it, and invoices must be
    ///   kept for years by bookkeeping law. Address, name and password hash are overwritten;
    ///   the address becomes `erased-<id>@erased.invalid`, unique and undeliverable;
    /// - every credential is **deleted**: sessions (and with them refresh tokens), API keys,
    ///   verification tokens; so is the cart. Access tokens die too: each request checks its
    ///   session.
    ///
    /// Returns `false` if there was no live account to erase.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn erase(&self, id: UserId) -> Result<bool, DbError> {
        let mut tx = self.pool.begin().await?;
        let erased = sqlx::query!(
            r#"
            UPDATE users SET
                email = 'erased-' || replace(id::text, '-', '') || '@erased.invalid',
                display_name = $2,
                password_hash = NULL,
                email_verified_at = NULL,
                role = 'customer',
                erased_at = now()
            WHERE id = $1 AND erased_at IS NULL
            "#,
            id.as_uuid(),
            ERASED_DISPLAY_NAME,
        )
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if erased {
            // Sessions take their refresh tokens with them (ON DELETE CASCADE).
            sqlx::query!("DELETE FROM sessions WHERE user_id = $1", id.as_uuid())
                .execute(&mut *tx)
                .await?;
            sqlx::query!("DELETE FROM api_keys WHERE user_id = $1", id.as_uuid())
                .execute(&mut *tx)
                .await?;
            sqlx::query!(
                "DELETE FROM email_verification_tokens WHERE user_id = $1",
                id.as_uuid()
            )
            .execute(&mut *tx)
            .await?;
            // A cart is personal data with no legal reason to keep it (chapter 08).
            sqlx::query!("DELETE FROM cart_items WHERE user_id = $1", id.as_uuid())
                .execute(&mut *tx)
                .await?;
            // Stored checkout answers are the customer's history too; the orders stay.
            sqlx::query!(
                "DELETE FROM checkout_requests WHERE user_id = $1",
                id.as_uuid()
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(erased)
    }
    // ANCHOR_END: erase
}

/// The statement behind [`UserRepo::add_verification_token`], on any executor: the pool, or
/// the transaction of a sign-up that writes the account and its token together.
pub async fn insert_verification_token<'c>(
    executor: impl sqlx::PgExecutor<'c>,
    id: UserId,
    email: &Email,
    token_hash: &[u8],
    expires_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        r#"
            INSERT INTO email_verification_tokens (token_hash, user_id, email, expires_at)
            VALUES ($1, $2, $3, $4)
            "#,
        token_hash,
        id.as_uuid(),
        email.as_str(),
        expires_at,
    )
    .execute(executor)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("  Ada  ").unwrap().as_str(), "Ada");
        assert_eq!(DisplayName::parse("   "), Err(DisplayNameError::Empty));
        let long = "é".repeat(101);
        assert_eq!(
            DisplayName::parse(&long),
            Err(DisplayNameError::TooLong(101))
        );
        assert!(
            DisplayName::parse(&"é".repeat(100)).is_ok(),
            "characters, not bytes"
        );
        assert_eq!(
            DisplayName::parse("Ada\u{7}"),
            Err(DisplayNameError::ControlCharacter)
        );
    }

    #[test]
    fn a_password_hash_does_not_print() {
        let hash = PasswordHash::new("$argon2id$v=19$secret-looking".to_owned());
        assert_eq!(format!("{hash:?}"), "PasswordHash(..)");
    }
}
