//! A fresh MongoDB database per test: MongoDB creates databases lazily, so a unique name is all
//! it takes, and dropping the [`MongoDatabase`] drops the database.

use mongodb::{Client, Database};

use crate::discover::{Endpoint, Service, current_test_name};
use crate::isolate::{cleanup_blocking, endpoint, unique_name};
use crate::standin::{MongoFlavor, REAL_SERVER_MARKER, mongodb_flavor_at};

pub struct MongoDatabase {
    client: Client,
    database: Database,
    url: String,
}

impl MongoDatabase {
    pub fn database(&self) -> &Database {
        &self.database
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The server URL, for code under test that opens its own client.
    pub fn url(&self) -> &str {
        &self.url
    }
}

/// Connects to MongoDB for the calling test, whose name must contain `needs_mongodb`.
///
/// Either a real server or the workspace's stand-in may answer (see [`crate::standin`]); use
/// [`mongodb_real`] for a test that relies on what only a real server does.
pub async fn mongodb() -> MongoDatabase {
    connect(endpoint(Service::MongoDb).await).await
}

/// Like [`mongodb`], for a test that needs real MongoDB semantics (multi-document transactions
/// with isolation, query plans backed by indexes). Its name must contain `needs_mongodb_real`;
/// when the stand-in is what answers, `cargo xtask test` skips it and this function refuses,
/// saying why, rather than letting the test pass or fail for the wrong reason.
pub async fn mongodb_real() -> MongoDatabase {
    if let Some(name) = current_test_name() {
        assert!(
            name.contains(REAL_SERVER_MARKER),
            "test `{name}` asks for a real MongoDB server, so its name must contain \
             `{REAL_SERVER_MARKER}`: that is how `cargo xtask test` skips it when only the \
             MongoDB stand-in answers."
        );
    }
    let endpoint = endpoint(Service::MongoDb).await;
    // The probe is a blocking socket round trip: keep it off the test's async worker.
    let url = endpoint.url.clone();
    let flavor = tokio::task::spawn_blocking(move || mongodb_flavor_at(&url)).await;
    if let Ok(Ok(MongoFlavor::StandIn(what))) = flavor {
        panic!(
            "this test needs a real MongoDB server, but {endpoint} is the MongoDB stand-in \
             ({what}), which has no transactions, isolation or query planner. Start MongoDB \
             (`docker compose up -d mongodb`, or install MongoDB Community Server) and stop \
             the stand-in (`cargo xtask services down`), or run the suite with \
             `cargo xtask test`, which skips such tests and lists them."
        );
    }
    connect(endpoint).await
}

async fn connect(endpoint: Endpoint) -> MongoDatabase {
    let client = match Client::with_uri_str(&endpoint.url).await {
        Ok(client) => client,
        Err(e) => panic!("MongoDB at {endpoint} could not be used: {e}"),
    };
    let database = client.database(&unique_name());
    MongoDatabase {
        client,
        database,
        url: endpoint.url,
    }
}

impl Drop for MongoDatabase {
    fn drop(&mut self) {
        let url = self.url.clone();
        let name = self.database.name().to_owned();
        cleanup_blocking(&format!("MongoDB database {name}"), move || async move {
            // A client belongs to the runtime that made it, so clean-up opens its own.
            let client = Client::with_uri_str(&url)
                .await
                .map_err(|e| e.to_string())?;
            client
                .database(&name)
                .drop()
                .await
                .map_err(|e| e.to_string())
        });
    }
}
