//! Authentication and authorization (book chapter 04, "Capstone step").
//!
//! - [`tokens`]: short-lived signed access tokens ([`TokenKeys`], [`AccessClaims`]);
//! - [`extract`]: who is asking ([`CurrentUser`], [`ApiKeyAuth`]) and whether they may
//!   ([`RequireRole`]), as axum extractors: a handler that names one cannot run for a request
//!   that fails it;
//! - [`accounts`]: the account service ([`Accounts`]): register, sign in, refresh, sign out,
//!   change a password, API keys, export and erasure;
//! - [`password`]: the password policy and argon2id hashing; [`secret`]: random tokens and
//!   their SHA-256 digests; [`mailer`]: outgoing mail behind a trait.
//!
//! The HTTP handlers live in `routes::accounts`, `routes::admin_users` and
//! `routes::integrations`; they parse, call [`Accounts`], and shape the response.

pub mod accounts;
pub mod extract;
pub mod mailer;
pub mod password;
pub mod secret;
pub mod tokens;

pub use accounts::{AccountError, Accounts};
pub use extract::{
    Admin, ApiKeyAuth, CatalogRead, CurrentUser, OrdersRead, Principal, RequireRole,
    RoleRequirement, ScopeRequirement, SignedIn, Staff,
};
pub use mailer::{Mail, Mailer, Outbox};
pub use tokens::{AccessClaims, TokenError, TokenKeys};
