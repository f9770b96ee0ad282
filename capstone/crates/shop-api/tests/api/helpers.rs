//! `TestApp`: the whole service on a free port, against a database of its own.
//!
//! Each test spawns its own app: a fresh PostgreSQL database from `testkit`, migrated with the
//! binary's own migrations and filled with a handful of known rows ([`Fixtures`]), a real TCP
//! listener on `127.0.0.1:0` (the OS picks a free port, so tests run in parallel), and a
//! `reqwest` client. Tests talk HTTP to it exactly as a user would; one helper per endpoint
//! keeps the URLs in one place. Dropping the `TestApp` stops the server and drops the database.

use std::net::SocketAddr;
use std::time::Duration;

use secrecy::SecretString;
use shop_api::auth::TokenKeys;
use shop_api::{AppState, Config, router, serve};
use shop_domain::{CategoryId, Email, ProductId, Role, UserId};
use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// A MongoDB address where nothing listens, with a short server-selection timeout so that the
/// review endpoints give up after half a second.
pub const UNREACHABLE_MONGODB: &str = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=500";

/// The rows every test database starts with.
#[derive(Debug, Clone, Copy)]
pub struct Fixtures {
    /// electronics > audio; garden stands alone.
    pub electronics: CategoryId,
    pub audio: CategoryId,
    pub garden: CategoryId,
    /// In `audio`, 49.99 EUR, SKU `HP-100`.
    pub headphones: ProductId,
    /// In `audio`, 129.00 EUR, SKU `SPK-200`.
    pub speaker: ProductId,
    /// In `garden`, 24.50 EUR, SKU `HOSE-25`.
    pub hose: ProductId,
}

pub struct TestApp {
    pub base_url: String,
    pub client: reqwest::Client,
    pub fixtures: Option<Fixtures>,
    /// The app's own token keys, so a test can mint the token a signed-in user would hold.
    pub tokens: TokenKeys,
    pool: PgPool,
    // Kept alive for the test's duration; dropping it drops the database.
    _db: Option<testkit::PgDatabase>,
    shutdown: CancellationToken,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl TestApp {
    /// The app with a migrated, fixture-filled database and MongoDB unreachable.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with_mongodb(UNREACHABLE_MONGODB, "shop").await
    }

    /// The app with a migrated, fixture-filled database and reviews in `database` at `url`.
    pub async fn spawn_with_mongodb(url: &str, database: &str) -> TestApp {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let fixtures = insert_fixtures(db.pool()).await;
        let config = test_config(url, database);
        TestApp::start(db.pool().clone(), config, Some(fixtures), Some(db)).await
    }

    /// The app with PostgreSQL unreachable (a lazily connecting pool aimed at a closed port),
    /// for what the service does when its database goes away after start-up.
    pub async fn spawn_without_postgres() -> TestApp {
        let nowhere = PgConnectOptions::new().host("127.0.0.1").port(1);
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy_with(nowhere);
        TestApp::start(pool, test_config(UNREACHABLE_MONGODB, "shop"), None, None).await
    }

    // ANCHOR: spawn
    async fn start(
        pool: PgPool,
        config: Config,
        fixtures: Option<Fixtures>,
        db: Option<testkit::PgDatabase>,
    ) -> TestApp {
        // Port 0: the OS picks a free port, so any number of tests can run at once.
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a free port on loopback");
        let address: SocketAddr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let grace = config.shutdown_grace;
        let state = AppState::new(pool.clone(), config)
            .await
            .expect("the test configuration is valid");
        let tokens = state.tokens.clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(serve(listener, router(state), shutdown.clone(), grace));
        TestApp {
            base_url: format!("http://{address}"),
            client: reqwest::Client::new(),
            fixtures,
            tokens,
            pool,
            _db: db,
            shutdown,
            server: Some(server),
        }
    }
    // ANCHOR_END: spawn

    /// A new user with `role` in the database, and an access token for them: what the user
    /// would hold after signing in.
    pub async fn token_for(&self, role: Role) -> (UserId, String) {
        let id = UserId::generate();
        let email = Email::parse(&format!("{}@example.test", id.as_uuid().simple()))
            .expect("a generated address is valid");
        sqlx::query("INSERT INTO users (id, email, display_name) VALUES ($1, $2, $3)")
            .bind(id.as_uuid())
            .bind(email.as_str())
            .bind(format!("Test {role}"))
            .execute(&self.pool)
            .await
            .expect("the test user inserts");
        let token = self
            .tokens
            .issue_access(id, role)
            .expect("a test token signs");
        (id, token)
    }

    pub fn fixtures(&self) -> Fixtures {
        self.fixtures
            .expect("this TestApp was spawned with fixtures")
    }

    /// Stops the server the way SIGTERM does and waits until it has drained.
    pub async fn stop(mut self) -> std::io::Result<()> {
        self.shutdown.cancel();
        let server = self.server.take().expect("the server runs until stopped");
        server.await.expect("the server task does not panic")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.base_url))
            .send()
            .await
            .expect("the test server answers")
    }

    pub async fn healthz(&self) -> reqwest::Response {
        self.get("/healthz").await
    }

    pub async fn readyz(&self) -> reqwest::Response {
        self.get("/readyz").await
    }

    pub async fn categories(&self) -> reqwest::Response {
        self.get("/categories").await
    }

    /// `GET /products` with an optional query string such as `"?limit=2"`.
    pub async fn products(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/products{query}")).await
    }

    /// `GET /products/{id}`; `id` is a string so tests can send malformed ones.
    pub async fn product(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/products/{id}")).await
    }

    pub async fn category_products(&self, slug: &str, query: &str) -> reqwest::Response {
        self.get(&format!("/categories/{slug}/products{query}"))
            .await
    }

    pub async fn reviews(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/products/{id}/reviews")).await
    }

    pub async fn rating(&self, id: &str) -> reqwest::Response {
        self.get(&format!("/products/{id}/rating")).await
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn test_config(mongodb_url: &str, mongodb_database: &str) -> Config {
    Config {
        mongodb_url: SecretString::from(mongodb_url),
        mongodb_database: mongodb_database.to_owned(),
        shutdown_grace: Duration::from_secs(2),
        ..Config::default()
    }
}

async fn insert_fixtures(pool: &PgPool) -> Fixtures {
    let electronics = category(pool, "electronics", "Electronics", None).await;
    let audio = category(pool, "audio", "Audio", Some(electronics)).await;
    let garden = category(pool, "garden", "Garden", None).await;
    Fixtures {
        electronics,
        audio,
        garden,
        headphones: product(pool, "HP-100", "Headphones", audio, 4_999).await,
        speaker: product(pool, "SPK-200", "Speaker", audio, 12_900).await,
        hose: product(pool, "HOSE-25", "Garden hose", garden, 2_450).await,
    }
}

async fn category(pool: &PgPool, slug: &str, name: &str, parent: Option<CategoryId>) -> CategoryId {
    let id = CategoryId::generate();
    sqlx::query("INSERT INTO categories (id, parent_id, slug, name) VALUES ($1, $2, $3, $4)")
        .bind(id.as_uuid())
        .bind(parent.map(|p| p.as_uuid()))
        .bind(slug)
        .bind(name)
        .execute(pool)
        .await
        .expect("the fixture category inserts");
    id
}

async fn product(
    pool: &PgPool,
    sku: &str,
    name: &str,
    category: CategoryId,
    price_minor: i64,
) -> ProductId {
    let id = ProductId::generate();
    sqlx::query(
        "INSERT INTO products (id, sku, name, category_id, price_minor, currency)
         VALUES ($1, $2, $3, $4, $5, 'EUR')",
    )
    .bind(id.as_uuid())
    .bind(sku)
    .bind(name)
    .bind(category.as_uuid())
    .bind(price_minor)
    .execute(pool)
    .await
    .expect("the fixture product inserts");
    id
}
