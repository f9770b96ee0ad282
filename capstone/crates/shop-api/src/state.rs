//! `AppState`: what every handler may use, built once at start-up and cloned per request.
//!
//! Cloning is cheap because every field is a handle: `PgPool` and the MongoDB types are
//! reference-counted internally, and the configuration sits behind an `Arc`. No globals: a test
//! builds its own state (its own database, its own MongoDB address) and runs in parallel with
//! the others.

use std::num::NonZeroUsize;

use std::sync::Arc;

use futures::future::BoxFuture;
use mongodb::options::ClientOptions;
use secrecy::ExposeSecret;
use shop_db::reviews::{ReviewStore, SERVER_SELECTION_TIMEOUT};
use shop_db::{CartRepo, CheckoutRepo, DbError, OrderRepo, ProductRepo};
use shop_inventory::{ClientError, InventoryClient, default_dependency_config};
use shop_payments::{
    HttpProvider, HttpProviderConfig, InvalidBaseUrl, PaymentProvider, ReplayGuard, Verifier,
    WebhookSecret,
};
use shop_resilience::Dependency;
use sqlx::PgPool;

use crate::auth::tokens::random_secret;
use crate::auth::{Accounts, Mailer, SessionCheck, TokenKeys};
use crate::caching::Caches;
use crate::config::Config;
use crate::security::LoginThrottle;
use crate::security::throttle::{Clock, ThrottlePolicy};
use crate::telemetry::Observability;

// ANCHOR: app_state
/// Shared by all handlers through axum's `State` extractor.
#[derive(Debug, Clone)]
pub struct AppState {
    /// PostgreSQL, for the readiness check; queries go through the repositories.
    pub pool: PgPool,
    pub products: ProductRepo,
    /// The catalog over the streaming replica, when one is configured (chapter 11): see
    /// [`AppState::catalog_read`].
    pub replica_products: Option<ProductRepo>,
    /// Signed-in customers' carts (chapter 08).
    pub carts: CartRepo,
    /// Orders and their state machine (chapter 08).
    pub orders: OrderRepo,
    /// The checkout's idempotency keys, pending orders and handled payment events.
    pub checkout: CheckoutRepo,
    /// The inventory service, over gRPC, behind its breaker, bulkhead and retry budget.
    /// Connects lazily: the shop starts, and its catalog serves, while inventory is down.
    pub inventory: InventoryClient,
    /// The payment provider (the sandbox, locally).
    pub payments: Arc<dyn PaymentProvider>,
    /// Checks the provider's webhook signatures and refuses replays.
    pub webhooks: Arc<Verifier>,
    /// The reviews collection. Always present: creating a MongoDB client does not connect, so
    /// the service starts without MongoDB, and each review request finds out on its own
    /// (within the server-selection timeout) whether it is back.
    pub reviews: ReviewStore,
    /// The MongoDB database the reviews live in, for the readiness check's `ping`.
    pub mongodb: mongodb::Database,
    /// Signs and checks access tokens.
    pub tokens: TokenKeys,
    /// Accounts: users, sessions, API keys, password hashing, mail, the login throttle.
    pub accounts: Accounts,
    pub config: Arc<Config>,
    /// RED and business metrics, and their exposition at `/metrics` (chapter 07).
    pub observability: Observability,
    /// The product cache, guest carts and trending products, and Redis behind them
    /// (chapter 09).
    pub caches: Caches,
}
// ANCHOR_END: app_state

/// Why the state could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("invalid MongoDB settings (mongodb_url)")]
    Mongo(#[source] mongodb::error::Error),
    #[error("invalid password hashing settings ([accounts] password_hash_*)")]
    PasswordHashing(#[source] crate::auth::password::HashError),
    #[error("invalid [inventory] url")]
    Inventory(#[source] ClientError),
    #[error("invalid [payments] url")]
    Payments(#[source] InvalidBaseUrl),
    #[error("cannot build the payment provider's HTTP client")]
    PaymentsClient(#[source] reqwest::Error),
    #[error("invalid [cache] redis_url")]
    Redis(#[source] shop_cache::RedisUrlError),
    #[error("invalid database_replica_url")]
    Replica(#[source] crate::db::DbStartupError),
}

/// How many webhook signatures the replay guard remembers within the tolerance window: far
/// more than a provider sends a shop in five minutes; past it webhooks get 503 and come again.
const REMEMBERED_WEBHOOKS: NonZeroUsize = NonZeroUsize::new(100_000).expect("not zero");

impl AppState {
    /// The state over an open PostgreSQL pool, with mail sent through `mailer`, the login
    /// throttle on `clock`, and payments through `payments` (by default, the provider at
    /// `[payments] url`). Nothing here waits for MongoDB, the inventory or the provider.
    pub async fn new(
        pool: PgPool,
        config: Config,
        mailer: Arc<dyn Mailer>,
        clock: Arc<dyn Clock>,
        payments: Option<Arc<dyn PaymentProvider>>,
    ) -> Result<AppState, StateError> {
        // Parsing a `mongodb://` URL resolves nothing and connects nowhere (a `mongodb+srv://`
        // URL would need DNS, which this workspace's driver build leaves out).
        let mut options = ClientOptions::parse(config.mongodb_url.expose_secret())
            .await
            .map_err(StateError::Mongo)?;
        // The driver looks for a server for 30 s by default: a review request would hang that
        // long while MongoDB is down. A URL that sets its own timeout keeps it.
        options
            .server_selection_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options
            .connect_timeout
            .get_or_insert(SERVER_SELECTION_TIMEOUT);
        options
            .app_name
            .get_or_insert_with(|| "shop-api".to_owned());
        let client = mongodb::Client::with_options(options).map_err(StateError::Mongo)?;
        let mongodb = client.database(&config.mongodb_database);
        let secret = config.jwt_secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "SHOP_JWT_SECRET is not set: signing tokens with a random secret that dies with \
                 this process"
            );
            random_secret()
        });
        let tokens = TokenKeys::new(&secret, config.access_token_ttl);
        let mut accounts = Accounts::new(pool.clone(), &config, tokens.clone())
            .map_err(StateError::PasswordHashing)?;
        accounts.mailer = mailer;
        let observability = Observability::new();
        accounts.metrics = observability.shop.clone();
        accounts.throttle = LoginThrottle::new(ThrottlePolicy::from(&config.security), clock);
        let caches = Caches::new(&config.cache).map_err(StateError::Redis)?;
        accounts.session_check =
            SessionCheck::new(config.cache.session_check_ttl, &caches.invalidations);
        let inventory = InventoryClient::connect_lazy(
            &config.inventory.url,
            Arc::new(Dependency::new("inventory", default_dependency_config())),
        )
        .map_err(StateError::Inventory)?;
        let payments = match payments {
            Some(payments) => payments,
            None => {
                let http = reqwest::Client::builder()
                    .build()
                    .map_err(StateError::PaymentsClient)?;
                let provider = HttpProvider::new(
                    config.payments.url.clone(),
                    http,
                    HttpProviderConfig::default(),
                )
                .map_err(StateError::Payments)?;
                Arc::new(provider)
            }
        };
        let secret = config.payments.webhook_secret.clone().unwrap_or_else(|| {
            tracing::warn!(
                "SHOP_PAYMENTS__WEBHOOK_SECRET is not set: no payment webhook can be verified, \
                 so no order will be marked paid"
            );
            WebhookSecret::generate()
        });
        let webhooks = Verifier::new(
            secret,
            config.payments.webhook_tolerance,
            ReplayGuard::new(REMEMBERED_WEBHOOKS),
        );
        let replica_products = (crate::db::replica_pool(&config))
            .map_err(StateError::Replica)?
            .map(ProductRepo::new);
        Ok(AppState {
            replica_products,
            checkout: CheckoutRepo::new(pool.clone()),
            inventory,
            payments,
            webhooks: Arc::new(webhooks),
            tokens,
            accounts,
            products: ProductRepo::new(pool.clone()),
            carts: CartRepo::new(pool.clone()),
            orders: OrderRepo::new(pool.clone()),
            pool,
            reviews: ReviewStore::new(&mongodb),
            mongodb,
            config: Arc::new(config),
            observability,
            caches,
        })
    }
}

// ANCHOR: catalog_read
impl AppState {
    /// Runs a catalog read on the replica when there is one, and on the primary when there is
    /// none or the replica cannot be reached (logged). Only reads whose answer may be as old as
    /// the replica's lag come here: lists, search, categories. A product's own page does not,
    /// because its body is cached (chapter 09): loaded from a replica that has not replayed an
    /// admin's write yet, the stale copy would be cached again right after the invalidation and
    /// kept for the whole TTL.
    pub async fn catalog_read<'r, T>(
        &'r self,
        read: impl Fn(&'r ProductRepo) -> BoxFuture<'r, Result<T, DbError>>,
    ) -> Result<T, DbError> {
        if let Some(replica) = &self.replica_products {
            match read(replica).await {
                Err(DbError::Sqlx(error)) if unreachable(&error) => {
                    tracing::warn!(error = %error, "the replica cannot serve: reading the primary");
                }
                answered => return answered,
            }
        }
        read(&self.products).await
    }
}
// ANCHOR_END: catalog_read

/// The replica cannot serve reads at all, as opposed to refusing this one: it cannot be reached,
/// is still starting (57P03), or does not have the database yet (3D000, a replica created
/// after it). Anything else is an answer, passed on as the primary's would be.
fn unreachable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let code = db.code();
            matches!(code.as_deref(), Some("57P03" | "3D000"))
                || code.is_some_and(|c| c.starts_with("08"))
        }
        _ => false,
    }
}
