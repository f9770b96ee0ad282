//! Authentication and authorization (book chapter 04, "Capstone step").
//!
//! - [`tokens`]: short-lived signed access tokens ([`TokenKeys`], [`AccessClaims`]);
//! - [`extract`]: who is asking ([`CurrentUser`], [`ApiKeyAuth`]) and whether they may
//!   ([`RequirePermission`]), as axum extractors: a handler that names one cannot run for a
//!   request that fails it; [`permissions`]: the one table of which role holds which
//!   [`Permission`];
//! - [`accounts`]: the account service ([`Accounts`]): register, sign in, refresh, sign out,
//!   change a password, API keys, export and erasure; [`registration`]: the sign-up form and
//!   the transaction that writes a new account;
//! - [`session_check`]: the per-request session check, remembered for seconds (chapter 09);
//! - [`password`]: the password policy and argon2id hashing; [`secret`]: random tokens and
//!   their SHA-256 digests; [`mailer`]: outgoing mail behind a trait.
//!
//! The HTTP handlers live in `routes::accounts`, `routes::admin_users` and
//! `routes::integrations`; they parse, call [`Accounts`], and shape the response.

pub mod accounts;
pub mod extract;
pub mod mailer;
pub mod password;
pub mod permissions;
pub mod registration;
pub mod secret;
pub mod session_check;
pub mod tokens;

pub use accounts::{AccountError, Accounts, ProfileEdit};
pub use extract::{
    ApiKeyAuth, CatalogRead, CurrentUser, OrdersRead, Principal, RequirePermission,
    ScopeRequirement, SignedIn,
};
pub use mailer::{Mail, Mailer, Outbox};
pub use permissions::{Permission, RequiredPermission, perm};
pub use registration::SignUp;
pub use session_check::SessionCheck;
pub use tokens::{AccessClaims, TokenError, TokenKeys};
