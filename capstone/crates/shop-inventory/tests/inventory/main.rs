//! The inventory service through its real client against a real server on port 0.
//!
//! ```console
//! cargo test -p shop-inventory                    # PostgreSQL from DATABASE_URL or :5432
//! cargo test -p shop-inventory needs_postgres     # only the tests that need it
//! ```
//!
//! One test binary: every file shares [`helpers`], and the tests that need PostgreSQL live under
//! `needs_postgres` (each gets a fresh, migrated database); `spent_deadline` and `unreachable`
//! need nothing.

mod helpers;
mod needs_postgres;
mod spent_deadline;
mod unreachable;
