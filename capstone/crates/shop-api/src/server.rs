//! What stops the server: Ctrl-C or SIGTERM.
//!
//! "Shutdown is a parameter": the server (`shop_http::Server`, driven by
//! [`crate::Application`]) does not listen for signals itself. `main` cancels its token on
//! Ctrl-C or SIGTERM ([`shutdown_signal`], shared by every service of the shop and kept in
//! `shop-http`); a test cancels it when its `TestApp` is dropped. The same code path stops both.

pub use shop_http::shutdown_signal;
