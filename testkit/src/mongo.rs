//! A fresh MongoDB database per test: MongoDB creates databases lazily, so a unique name is all
//! it takes, and dropping the [`MongoDatabase`] drops the database.

use mongodb::{Client, Database};

use crate::discover::Service;
use crate::isolate::{cleanup_blocking, endpoint, unique_name};

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
pub async fn mongodb() -> MongoDatabase {
    let endpoint = endpoint(Service::MongoDb).await;
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
