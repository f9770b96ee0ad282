//! The demo's own PostgreSQL database for the SQL-injection endpoints: created fresh at every
//! run, dropped at the end unless `--keep`.
//!
//! The demo never touches data it did not create. If PostgreSQL is not running, the lab
//! starts without it and the SQL routes answer 503; the other steps do not need it. Creating,
//! pooling and dropping the database is [`DemoDatabase`]'s job, shared with lessons 02 and 05
//! through the workspace's `testkit` (`testkit/src/demo_db.rs`); this lesson adds its tables.

use thiserror::Error;

use crate::sqli;

pub use testkit::demo_db::{DatabaseName, DemoDatabase, ServerUrl};

/// The lab's database, dropped again at the end unless `--keep`. A `--database` name must
/// start with it (two runs at once, or a run and the CLI test, each use their own), since the
/// demo drops what it is given.
pub const DEMO_DATABASE: &str = "backend_rs_lesson06";

/// Why the lab runs without its database.
#[derive(Debug, Error)]
pub enum DatabaseError {
    #[error(transparent)]
    Create(#[from] testkit::demo_db::SetupError),
    #[error("could not create the lab's tables in {name}")]
    Tables {
        name: DatabaseName,
        #[source]
        source: sqlx::Error,
    },
}

/// Re-creates the database `name` on `server` and fills it with the lab's tables.
pub async fn create(
    server: &ServerUrl,
    name: &DatabaseName,
) -> Result<DemoDatabase, DatabaseError> {
    let db = DemoDatabase::create(server, name).await?;
    if let Err(source) = sqli::create_tables(db.pool()).await {
        // Half a lab database is no use to anyone: do not leave it behind.
        let _ = db.drop_database().await;
        return Err(DatabaseError::Tables {
            name: name.clone(),
            source,
        });
    }
    Ok(db)
}
