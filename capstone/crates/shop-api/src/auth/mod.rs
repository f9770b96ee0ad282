//! Authentication and authorization (book chapter 04, "Capstone step").
//!
//! - [`tokens`]: short-lived signed access tokens ([`TokenKeys`], [`AccessClaims`]);
//! - [`extract`]: who is asking ([`CurrentUser`]) and whether they may ([`RequireRole`]), as
//!   axum extractors: a handler that names one cannot run for a request that fails it.
//!
//! The handlers that sign people in and out live in `routes`; this module only answers "who is
//! this?" and "may they?".

pub mod extract;
pub mod tokens;

pub use extract::{Admin, CurrentUser, Principal, RequireRole, RoleRequirement, Staff};
pub use tokens::{AccessClaims, TokenError, TokenKeys};
