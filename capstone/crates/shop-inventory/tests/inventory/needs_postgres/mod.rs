//! Tests against a real PostgreSQL: each starts the service over a fresh, migrated database.

mod binary;
mod deadline;
mod errors;
mod idempotency;
mod lifecycle;
