//! Lesson 04, authentication and authorization: who is calling, and what may they do?
//!
//! An axum API with accounts (argon2id passwords with a pepper and rehash-on-login), sessions
//! (short-lived JWT access tokens and rotating refresh tokens with reuse detection), role-based
//! access control as an extractor plus object-level ownership checks, and API keys with
//! scopes. Beside it, a small OpenID Connect identity provider, and a client that signs in
//! through it with the authorization-code flow and PKCE and validates the ID token against the
//! provider's JWKS. Everything is in memory and on loopback: nothing to install.
//!
//! Run the narrated demo with `cargo run -p lesson-04` (`-- --serve` keeps the API up for
//! curl, `-- --help` lists the options) and the tests with `cargo test -p lesson-04`. Read the
//! modules in this order:
//!
//! | module | shows |
//! |--------|-------|
//! | [`config`] | keys from the environment, wrapped in `secrecy` |
//! | [`password`] | argon2id, pepper, PHC strings, rehash on login |
//! | [`tokens`] | JWT access tokens: claims, pinned algorithm, validation |
//! | [`sessions`] | refresh-token families, rotation, reuse detection |
//! | [`accounts`] | register, login, refresh, logout, authenticate |
//! | [`rbac`] | roles → permissions, the ownership rule (IDOR) |
//! | [`api_keys`] | prefix + id + hashed secret, scopes, rotation |
//! | [`extract`] | authentication and authorization as extractors |
//! | [`problem`] | 401 vs 403 vs 404, as problem documents (shop-http's `Problem`) |
//! | [`api`] | the routes |
//! | [`idp`] | a local OpenID provider: discovery, JWKS, authorize, token |
//! | [`oidc`] | the client: `oauth2` for the flow, `jsonwebtoken` for the ID token |
//!
//! [`store`] holds the in-memory data, [`server`] serves a router with shop-http's server,
//! [`client`] is the demo's narrating HTTP client, and [`steps`] the narration that `main.rs`
//! runs.

pub mod accounts;
pub mod api;
pub mod api_keys;
pub mod client;
pub mod config;
pub mod extract;
pub mod idp;
pub mod oidc;
pub mod password;
pub mod problem;
pub mod rbac;
pub mod server;
pub mod sessions;
pub mod steps;
pub mod store;
pub mod tokens;
