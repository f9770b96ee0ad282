//! The user repository: create an account, find it by id or by email address.
//!
//! What this module shows:
//! - turning a constraint violation into a typed error: a duplicate address is recognised by
//!   PostgreSQL's SQLSTATE `23505` (unique violation) on the `users_email_key` index, never by
//!   matching the text of an error message, which changes between versions and locales;
//! - letting the database enforce uniqueness instead of "SELECT, then INSERT if absent", which
//!   two concurrent sign-ups would both pass;
//! - a case-insensitive lookup that uses the `lower(email)` index.
//!
//! Tests: `cargo test -p shop-db --test users` (needs PostgreSQL).

use std::fmt;

use shop_domain::{Email, UserId};
use sqlx::PgPool;
use time::OffsetDateTime;
use tracing::instrument;
use uuid::Uuid;

use crate::error::{DbError, invalid_row};

/// The unique index on `lower(email)`, named in the first migration.
const EMAIL_UNIQUE_INDEX: &str = "users_email_key";

/// A registered account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub email: Email,
    pub display_name: DisplayName,
    pub created_at: OffsetDateTime,
}

/// What it takes to create a [`User`]; the repository picks the id and the timestamp.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: Email,
    pub display_name: DisplayName,
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

/// Creates and finds accounts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct UserRepo {
    pool: PgPool,
}

struct UserRow {
    id: Uuid,
    email: String,
    display_name: String,
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
        Ok(User {
            id: UserId::from_uuid(row.id),
            email,
            display_name,
            created_at: row.created_at,
        })
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
            INSERT INTO users (id, email, display_name)
            VALUES ($1, $2, $3)
            RETURNING created_at
            "#,
            id.as_uuid(),
            new.email.as_str(),
            new.display_name.as_str(),
        )
        .fetch_one(&self.pool)
        .await
        .map_err(|error| match &error {
            sqlx::Error::Database(db)
                if db.is_unique_violation() && db.constraint() == Some(EMAIL_UNIQUE_INDEX) =>
            {
                DbError::EmailTaken(new.email.clone())
            }
            _ => DbError::Sqlx(error),
        })?;
        Ok(User {
            id,
            email: new.email,
            display_name: new.display_name,
            created_at,
        })
    }
    // ANCHOR_END: create_user

    /// The account with this id, or `None`.
    #[instrument(skip_all, fields(user.id = %id), err(level = "debug"))]
    pub async fn get(&self, id: UserId) -> Result<Option<User>, DbError> {
        let row = sqlx::query_as!(
            UserRow,
            "SELECT id, email, display_name, created_at FROM users WHERE id = $1",
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
        // `lower(email) = lower($1)` matches the expression the unique index is built on, so
        // PostgreSQL answers from the index instead of scanning the table.
        let row = sqlx::query_as!(
            UserRow,
            r#"
            SELECT id, email, display_name, created_at
            FROM users
            WHERE lower(email) = lower($1)
            "#,
            email.as_str(),
        )
        .fetch_optional(&self.pool)
        .await?;
        row.map(User::try_from).transpose()
    }
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
}
