//! The one error type of the repositories: what can go wrong between the shop and PostgreSQL.
//!
//! Callers match on the variants that mean something to them (`EmailTaken` becomes a 409 in the
//! HTTP layer) and treat the rest as "the database failed", which is a 5xx.

use shop_domain::{Email, Sku};
use thiserror::Error;

/// A boxed error from a domain parser, kept as the source of [`DbError::InvalidRow`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why a repository call failed.
#[derive(Debug, Error)]
pub enum DbError {
    /// Another account already uses this address (compared case-insensitively).
    #[error("the email address {0} is already registered")]
    EmailTaken(Email),

    /// A row holds a value the domain types reject, for example a currency code the shop does
    /// not trade in. The schema's CHECK constraints catch most bad data; this catches the rest,
    /// such as rows written by a script that bypassed the repositories. It is a bug in the
    /// data, not in the request, so the HTTP layer answers 500 and logs the source.
    #[error("{table} row {id} holds an invalid {column}")]
    InvalidRow {
        /// The table read from.
        table: &'static str,
        /// The row's primary key.
        id: uuid::Uuid,
        /// The column whose value was rejected.
        column: &'static str,
        /// What the domain parser said.
        #[source]
        source: BoxError,
    },

    /// Another product already has this SKU (archived ones keep theirs).
    #[error("the SKU {0} is already in use")]
    SkuTaken(Sku),

    /// An import names the same SKU twice: one statement cannot insert and update one row.
    #[error("the SKU {0} appears more than once")]
    DuplicateSku(Sku),

    /// No category has these slugs.
    #[error("no category with the slug(s) {}", .0.join(", "))]
    UnknownCategories(Vec<String>),

    /// A change would leave a product's attributes invalid (too many of them).
    #[error("invalid attributes: {0}")]
    Attributes(#[from] crate::catalog::AttributeError),

    /// The database itself failed: unreachable, timed out, or refused the statement.
    #[error("database error")]
    Sqlx(#[from] sqlx::Error),
}

/// Builds the `map_err` closure that turns a domain parser's error into
/// [`DbError::InvalidRow`]: `Sku::parse(&row.sku).map_err(invalid_row("products", id, "sku"))`.
pub(crate) fn invalid_row<E>(
    table: &'static str,
    id: uuid::Uuid,
    column: &'static str,
) -> impl FnOnce(E) -> DbError
where
    E: std::error::Error + Send + Sync + 'static,
{
    move |source| DbError::InvalidRow {
        table,
        id,
        column,
        source: Box::new(source),
    }
}

/// An event that would not serialize, as the database error it becomes: the transaction it was
/// to be written in is rolled back, like one whose statement was refused.
pub(crate) fn encode_error(error: serde_json::Error) -> DbError {
    DbError::Sqlx(sqlx::Error::Encode(Box::new(error)))
}
