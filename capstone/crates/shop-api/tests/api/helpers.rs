//! `TestApp`: the whole service on a free port, against a database of its own.
//!
//! Each test spawns its own app: a fresh PostgreSQL database from `testkit`, migrated with the
//! binary's own migrations and filled with a handful of known rows ([`Fixtures`]), a real TCP
//! listener on `127.0.0.1:0` (the OS picks a free port, so tests run in parallel), and a
//! `reqwest` client. Tests talk HTTP to it exactly as a user would; one helper per endpoint
//! keeps the URLs in one place. Dropping the `TestApp` stops the server and drops the database.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};
use shop_api::auth::mailer::{BoxFuture, MailError};
use shop_api::auth::{Mail, Mailer, Outbox, SessionCheck, TokenKeys};
use shop_api::security::throttle::ManualClock;
use shop_api::{Application, Config, StartOptions};
use shop_domain::{CategoryId, Email, ProductId, Role, UserId};
use shop_http::{RunningServer, ServeError};
use shop_payments::PaymentProvider;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use tokio_util::sync::CancellationToken;

/// The signing secret of every test app, so attack tests can forge tokens the way an
/// attacker who guessed or stole it would (and tests of "another key" use a different one).
pub const TEST_JWT_SECRET: &str = "test-secret-that-is-at-least-32-bytes-long";

/// A password that passes the policy, for accounts whose password the test does not care about.
pub const PASSWORD: &str = "correct battery horse staple 42";

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
    /// Where it listens, for tests that speak TCP directly.
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub fixtures: Option<Fixtures>,
    /// The app's own token keys, so a test can mint the token a signed-in user would hold.
    pub tokens: TokenKeys,
    /// Where the app's mail goes: tests read verification tokens here.
    pub outbox: Outbox,
    /// The login throttle's clock, which stands still until a test moves it.
    pub clock: ManualClock,
    /// Set to make every mail fail to send, as an unreachable mail server would.
    pub mail_fails: Arc<AtomicBool>,
    /// What the service remembers of sessions: tests that write to the database behind its
    /// back tell it to forget.
    session_check: SessionCheck,
    pool: PgPool,
    // Kept alive for the test's duration; dropping it drops the database.
    _db: Option<testkit::PgDatabase>,
    shutdown: CancellationToken,
    server: Option<RunningServer>,
}

impl TestApp {
    /// The app with a migrated, fixture-filled database and MongoDB unreachable.
    pub async fn spawn() -> TestApp {
        TestApp::spawn_with_mongodb(UNREACHABLE_MONGODB, "shop").await
    }

    /// The app with a migrated, fixture-filled database, MongoDB unreachable, and settings
    /// changed by `configure` (a tighter rate limit, a CORS allow-list, ...).
    pub async fn spawn_with(configure: impl FnOnce(&mut Config)) -> TestApp {
        TestApp::spawn_configured(UNREACHABLE_MONGODB, "shop", configure).await
    }

    /// The app with a migrated, fixture-filled database and reviews in `database` at `url`.
    pub async fn spawn_with_mongodb(url: &str, database: &str) -> TestApp {
        TestApp::spawn_configured(url, database, |_| {}).await
    }

    async fn spawn_configured(
        mongodb_url: &str,
        mongodb_database: &str,
        configure: impl FnOnce(&mut Config),
    ) -> TestApp {
        TestApp::spawn_paying(mongodb_url, mongodb_database, configure, None).await
    }

    /// [`TestApp::spawn_with`], taking payments through `payments` (the checkout tests' link
    /// to their sandbox).
    pub async fn spawn_paying(
        mongodb_url: &str,
        mongodb_database: &str,
        configure: impl FnOnce(&mut Config),
        payments: Option<Arc<dyn PaymentProvider>>,
    ) -> TestApp {
        let db = testkit::postgres().await;
        shop_db::MIGRATOR
            .run(db.pool())
            .await
            .expect("the shop migrations apply to a fresh database");
        let fixtures = insert_fixtures(db.pool()).await;
        let mut config = test_config(mongodb_url, mongodb_database);
        // The service connects to the test's database itself, and checks its migrations the
        // way it does on every start without --migrate.
        config.database_url = SecretString::from(db.connect_options().to_url_lossy().to_string());
        configure(&mut config);
        TestApp::start(config, None, Some(fixtures), Some(db), payments).await
    }

    /// The app with PostgreSQL unreachable (a lazily connecting pool aimed at a closed port),
    /// for what the service does when its database goes away after start-up.
    pub async fn spawn_without_postgres() -> TestApp {
        let nowhere = PgConnectOptions::new().host("127.0.0.1").port(1);
        let pool = PgPoolOptions::new()
            .acquire_timeout(Duration::from_millis(500))
            .connect_lazy_with(nowhere);
        TestApp::start(
            test_config(UNREACHABLE_MONGODB, "shop"),
            Some(pool),
            None,
            None,
            None,
        )
        .await
    }

    // ANCHOR: spawn
    /// Builds the service the way `main` does, through `Application`, with two parts
    /// replaced: mail goes to an outbox the test reads, and the login throttle's clock stands
    /// still until the test moves it (its waits are seconds to minutes: a test crosses them by
    /// moving the clock, never by sleeping).
    async fn start(
        config: Config,
        pool: Option<PgPool>,
        fixtures: Option<Fixtures>,
        db: Option<testkit::PgDatabase>,
        payments: Option<Arc<dyn PaymentProvider>>,
    ) -> TestApp {
        let outbox = Outbox::new(false);
        let mail_fails = Arc::new(AtomicBool::new(false));
        let clock = ManualClock::new();
        let mut builder = Application::builder(config, StartOptions::default())
            .mailer(Arc::new(TestMailer {
                outbox: outbox.clone(),
                fails: Arc::clone(&mail_fails),
            }))
            .clock(Arc::new(clock.clone()));
        if let Some(pool) = pool {
            builder = builder.pool(pool);
        }
        if let Some(payments) = payments {
            builder = builder.payments(payments);
        }
        let app = builder.build().await.expect("the test service starts");
        let tokens = app.state().tokens.clone();
        let session_check = app.state().accounts.session_check.clone();
        let pool = app.state().pool.clone();
        let shutdown = CancellationToken::new();
        let server = app.spawn(shutdown.clone());
        TestApp {
            base_url: server.base_url(),
            addr: server.addr(),
            client: reqwest::Client::new(),
            fixtures,
            tokens,
            outbox,
            clock,
            mail_fails,
            session_check,
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
        sqlx::query("INSERT INTO users (id, email, display_name, role) VALUES ($1, $2, $3, $4)")
            .bind(id.as_uuid())
            .bind(email.as_str())
            .bind(format!("Test {role}"))
            .bind(role.as_str())
            .execute(&self.pool)
            .await
            .expect("the test user inserts");
        let token = self
            .tokens
            .issue_access(id, role)
            .expect("a test token signs");
        (id, token)
    }

    /// Another instance of the service over this one's database, as a second replica
    /// behind a load balancer would be, with settings changed by `configure`.
    pub async fn another_instance(&self, configure: impl FnOnce(&mut Config)) -> TestApp {
        let mut config = test_config(UNREACHABLE_MONGODB, "shop");
        configure(&mut config);
        TestApp::start(config, Some(self.pool.clone()), self.fixtures, None, None).await
    }

    pub fn fixtures(&self) -> Fixtures {
        self.fixtures
            .expect("this TestApp was spawned with fixtures")
    }

    /// Stops the server the way SIGTERM does and waits until it has drained.
    pub async fn stop(mut self) -> Result<(), ServeError> {
        self.shutdown.cancel();
        let server = self.server.take().expect("the server runs until stopped");
        server.stopped().await
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

    // Catalog search and the admin's product writes (chapter 05).

    /// The test's database, for tests that arrange rows directly or check what is stored.
    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// `GET /products/search` with a query string such as `"?q=kettle&sort=price_asc"`.
    pub async fn search(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/products/search{query}")).await
    }

    /// `method path` with a JSON body (if any) and a bearer token (if any).
    async fn admin_call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        request.send().await.expect("the test server answers")
    }

    pub async fn create_product(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        self.admin_call(reqwest::Method::POST, "/admin/products", token, Some(body))
            .await
    }

    pub async fn patch_product(
        &self,
        id: &str,
        token: Option<&str>,
        body: &Value,
    ) -> reqwest::Response {
        let path = format!("/admin/products/{id}");
        self.admin_call(reqwest::Method::PATCH, &path, token, Some(body))
            .await
    }

    pub async fn archive_product(&self, id: &str, token: Option<&str>) -> reqwest::Response {
        let path = format!("/admin/products/{id}");
        self.admin_call(reqwest::Method::DELETE, &path, token, None)
            .await
    }

    pub async fn import_products(&self, token: Option<&str>, body: &Value) -> reqwest::Response {
        self.admin_call(
            reqwest::Method::POST,
            "/admin/products/import",
            token,
            Some(body),
        )
        .await
    }

    // Accounts (chapter 04) and security (chapter 06).

    /// A request to `path` with `token` as its bearer token, if any.
    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
    ) -> reqwest::RequestBuilder {
        let builder = self
            .client
            .request(method, format!("{}{path}", self.base_url));
        match token {
            Some(token) => builder.bearer_auth(token),
            None => builder,
        }
    }

    /// `GET path` with a bearer token.
    pub async fn get_as(&self, path: &str, token: &str) -> reqwest::Response {
        self.send(self.request(reqwest::Method::GET, path, Some(token)))
            .await
    }

    /// `POST path` with a JSON body and, optionally, a bearer token.
    pub async fn post_json(
        &self,
        path: &str,
        body: &Value,
        token: Option<&str>,
    ) -> reqwest::Response {
        self.send(self.request(reqwest::Method::POST, path, token).json(body))
            .await
    }

    pub async fn send(&self, request: reqwest::RequestBuilder) -> reqwest::Response {
        request.send().await.expect("the test server answers")
    }

    pub async fn register(
        &self,
        email: &str,
        display_name: &str,
        password: &str,
    ) -> reqwest::Response {
        let body = json!({ "email": email, "display_name": display_name, "password": password });
        self.post_json("/auth/register", &body, None).await
    }

    /// Every mail sent to `email`, oldest first.
    pub fn mails_to(&self, email: &str) -> Vec<Mail> {
        let email = Email::parse(email).expect("tests use valid addresses");
        self.outbox.mails_to(&email)
    }

    /// The token of the last verification mail sent to `email`.
    pub fn verification_token(&self, email: &str) -> String {
        let mail = self
            .mails_to(email)
            .pop()
            .expect("a verification mail was sent");
        mail.body
            .expose_secret()
            .lines()
            .find_map(|line| line.strip_prefix("Verification token: "))
            .expect("the mail carries a token")
            .to_owned()
    }

    pub async fn verify_email(&self, token: &str) -> reqwest::Response {
        self.post_json("/auth/verify-email", &json!({ "token": token }), None)
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        let body = json!({ "email": email, "password": password });
        self.post_json("/auth/login", &body, None).await
    }

    /// `POST /auth/login` as if from `client_ip`, for an app spawned with
    /// `trust_x_forwarded_for` (the header is then the client's address, as a proxy says).
    pub async fn login_from(
        &self,
        client_ip: &str,
        email: &str,
        password: &str,
    ) -> reqwest::Response {
        let body = json!({ "email": email, "password": password });
        self.send(
            self.request(reqwest::Method::POST, "/auth/login", None)
                .header("x-forwarded-for", client_ip)
                .json(&body),
        )
        .await
    }

    pub async fn refresh(&self, refresh_token: &str) -> reqwest::Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post_json("/auth/refresh", &body, None).await
    }

    pub async fn logout(&self, refresh_token: &str) -> reqwest::Response {
        let body = json!({ "refresh_token": refresh_token });
        self.post_json("/auth/logout", &body, None).await
    }

    pub async fn me(&self, token: &str) -> reqwest::Response {
        self.get_as("/me", token).await
    }

    pub async fn update_me(&self, token: &str, body: &Value) -> reqwest::Response {
        self.send(
            self.request(reqwest::Method::PATCH, "/me", Some(token))
                .json(body),
        )
        .await
    }

    pub async fn change_password(
        &self,
        token: &str,
        current: &str,
        new: &str,
    ) -> reqwest::Response {
        let body = json!({ "current_password": current, "new_password": new });
        self.post_json("/me/password", &body, Some(token)).await
    }

    pub async fn create_api_key(
        &self,
        token: &str,
        name: &str,
        scopes: &[&str],
    ) -> reqwest::Response {
        let body = json!({ "name": name, "scopes": scopes });
        self.post_json("/me/api-keys", &body, Some(token)).await
    }

    pub async fn api_keys(&self, token: &str) -> reqwest::Response {
        self.get_as("/me/api-keys", token).await
    }

    pub async fn revoke_api_key(&self, token: &str, id: &str) -> reqwest::Response {
        self.send(self.request(
            reqwest::Method::DELETE,
            &format!("/me/api-keys/{id}"),
            Some(token),
        ))
        .await
    }

    /// `GET /integrations/orders` with an API key.
    pub async fn integration_orders(&self, api_key: &str) -> reqwest::Response {
        self.send(
            self.request(reqwest::Method::GET, "/integrations/orders", None)
                .header("x-api-key", api_key),
        )
        .await
    }

    pub async fn export(&self, token: &str) -> reqwest::Response {
        self.get_as("/me/export", token).await
    }

    pub async fn erase(&self, token: &str, password: &str) -> reqwest::Response {
        self.send(
            self.request(reqwest::Method::DELETE, "/me", Some(token))
                .json(&json!({ "password": password })),
        )
        .await
    }

    /// Registers `email` with [`PASSWORD`], verifies the address, signs in: a customer as a
    /// browser would hold them after sign-up.
    pub async fn signed_up(&self, email: &str) -> Account {
        let response = self.register(email, "Test Customer", PASSWORD).await;
        assert_eq!(
            response.status(),
            reqwest::StatusCode::ACCEPTED,
            "registration"
        );
        let token = self.verification_token(email);
        assert!(self.verify_email(&token).await.status().is_success());
        let tokens = self.login(email, PASSWORD).await;
        assert_eq!(tokens.status(), reqwest::StatusCode::OK, "sign-in");
        let tokens: Value = tokens.json().await.expect("a token pair");
        let access = tokens["access_token"].as_str().expect("access").to_owned();
        let me: Value = self.me(&access).await.json().await.expect("a profile");
        Account {
            id: me["id"].as_str().expect("an id").to_owned(),
            email: email.to_owned(),
            access,
            refresh: tokens["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        }
    }

    /// Gives `user` a role directly in the database, as an operator bootstrapping the first
    /// admin would.
    /// Changes a role behind the service's back, in the database, then does what the admin
    /// route does after its write: tells the session check to forget the user (chapter 09),
    /// or the service would go on with the role it remembers for a few seconds.
    pub async fn set_role(&self, user: &str, role: Role) {
        sqlx::query("UPDATE users SET role = $2 WHERE id = $1::uuid")
            .bind(user)
            .bind(role.as_str())
            .execute(&self.pool)
            .await
            .expect("the role updates");
        let id: UserId = user.parse().expect("a user id");
        self.session_check.forget_user(id).await;
    }

    /// Places an order for `user` directly in the database (checkout arrives in a later
    /// lesson): `quantity` of the fixture headphones.
    pub async fn place_order(&self, user: &str, quantity: i32) -> String {
        let order = uuid::Uuid::now_v7();
        sqlx::query("INSERT INTO orders (id, user_id, currency) VALUES ($1, $2::uuid, 'EUR')")
            .bind(order)
            .bind(user)
            .execute(&self.pool)
            .await
            .expect("the order inserts");
        sqlx::query(
            "INSERT INTO order_items (order_id, product_id, quantity, unit_price_minor)
             VALUES ($1, $2, $3, 4999)",
        )
        .bind(order)
        .bind(self.fixtures().headphones.as_uuid())
        .bind(quantity)
        .execute(&self.pool)
        .await
        .expect("the order line inserts");
        order.to_string()
    }
}

/// A signed-up, verified, signed-in customer.
#[derive(Debug, Clone)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub access: String,
    pub refresh: String,
}

/// The app's mailer in tests: the development outbox, which tests read, unless `fails` is set.
#[derive(Debug)]
struct TestMailer {
    outbox: Outbox,
    fails: Arc<AtomicBool>,
}

impl Mailer for TestMailer {
    fn send(&self, mail: Mail) -> BoxFuture<'_, Result<(), MailError>> {
        if self.fails.load(Ordering::SeqCst) {
            return Box::pin(async {
                Err(MailError(
                    std::io::Error::other("the test's mail server is down").into(),
                ))
            });
        }
        self.outbox.send(mail)
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn test_config(mongodb_url: &str, mongodb_database: &str) -> Config {
    let mut config = Config {
        // Port 0: the OS picks a free port, so any number of tests can run at once.
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        mongodb_url: SecretString::from(mongodb_url),
        mongodb_database: mongodb_database.to_owned(),
        shutdown_grace: Duration::from_secs(2),
        jwt_secret: Some(SecretString::from(TEST_JWT_SECRET)),
        ..Config::default()
    };
    // Argon2id at its cheapest: the tests check behaviour, not cost, and should stay fast.
    // Production keeps the defaults (19 MiB, 2 iterations).
    config.accounts.password_hash_memory_kib = 64;
    config.accounts.password_hash_iterations = 1;
    config.accounts.mail_echo = false;
    // Every test client is 127.0.0.1, and some tests send a hundred requests as fast as the
    // machine allows: with the production burst they would be throttled on a fast machine and
    // not on a slow one. The rate-limit tests set their own small limits.
    config.security.rate_limit_burst = 100_000;
    // No Redis unless a test asks for it (with a key prefix of its own, see `caching.rs`):
    // tests that share one Redis under the default prefix would read each other's entries.
    // Without Redis the caches are each instance's memory, invalidated in-process.
    config.cache.redis_url = None;
    // No outbox relay unless a test asks for one (with an exchange of its own, see
    // `checkout.rs`'s fault drill): the events stay in the test's database for it to read.
    config.events.amqp_url = None;
    config
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
