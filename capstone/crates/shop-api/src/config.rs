//! Configuration: declared once, read in layers at start-up, refused at once when wrong.
//!
//! What this module shows:
//! - [`Config`] is the whole declaration. A field's name is its key, its doc says what it does,
//!   its type and `deserialize_with` say what a valid value is, and [`Default`] gives the value
//!   for local development. Nothing else lists the settings;
//! - layers with figment: the defaults, then an optional TOML file (`--config shop.toml` or
//!   `SHOP_CONFIG`), then `SHOP_*` environment variables (`SHOP_LISTEN`,
//!   `SHOP_SECURITY__LOGIN_MAX_FAILURES`: a section and its key are joined by `__`); `main`
//!   applies command-line flags last;
//! - a bad value is refused at load with its key and its source named, before anything
//!   starts: a timeout out of range, a misspelt key, half a TLS pair;
//! - secrets (the database URLs carry passwords, the token key signs every session) are
//!   [`SecretString`]s, and no error, whichever parser reports it, echoes one: a malformed
//!   TOML file is reported by line and column, never by quoting the line.
//!
//! The variables are prefixed `SHOP_` on purpose: `DATABASE_URL` already means something else
//! in this workspace (the database sqlx's macros check queries against, and the server testkit
//! gives tests their databases on).
//!
//! `shop.example.toml`, next to this crate's `Cargo.toml`, shows every setting with its default.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use figment::providers::Serialized;
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider};
use mongodb::options::ConnectionString;
use secrecy::SecretString;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use shop_domain::Email;
use sqlx::postgres::PgConnectOptions;
use thiserror::Error;

/// The variable that names a configuration file, when `--config` does not.
pub const CONFIG_FILE_VAR: &str = "SHOP_CONFIG";

/// The prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "SHOP_";

/// The shortest access-token signing secret accepted: as long as HS256's hash.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

// ANCHOR: config
/// Everything the service reads from its environment, parsed and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the HTTP server listens.
    pub listen: SocketAddr,
    /// The PostgreSQL database.
    #[serde(deserialize_with = "postgres_url")]
    pub database_url: SecretString,
    /// A streaming replica of that database (chapter 11): the catalog's lists, search and
    /// categories are read there. Unset or empty: everything reads the primary.
    #[serde(deserialize_with = "replica_url")]
    pub database_replica_url: Option<SecretString>,
    /// The MongoDB deployment that holds reviews. Options in the URL win, e.g.
    /// `?serverSelectionTimeoutMS=500`.
    #[serde(deserialize_with = "mongodb_url")]
    pub mongodb_url: SecretString,
    /// The MongoDB database inside that deployment.
    #[serde(deserialize_with = "mongodb_database")]
    pub mongodb_database: String,
    /// The longest a request may take before it is answered 503.
    #[serde(
        rename = "request_timeout_ms",
        deserialize_with = "millis::<_, 1, 600_000>"
    )]
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    #[serde(
        rename = "shutdown_grace_ms",
        deserialize_with = "millis::<_, 1, 600_000>"
    )]
    pub shutdown_grace: Duration,
    /// The secret access tokens are signed with, at least 32 bytes. Unset, the service makes
    /// up a random one at start: tokens then die with the process, and two instances behind a
    /// load balancer would refuse each other's.
    #[serde(deserialize_with = "jwt_secret")]
    pub jwt_secret: Option<SecretString>,
    /// How long an access token is valid: at most a day, since a signed token cannot be
    /// revoked and its lifetime is how long a stolen one works.
    #[serde(
        rename = "access_token_ttl_secs",
        deserialize_with = "secs::<_, 1, 86_400>"
    )]
    pub access_token_ttl: Duration,
    /// What one connection, and one client address, may hold of the server.
    pub connections: ConnectionSettings,
    /// Password hashing, session lifetimes, verification mails (chapter 04).
    pub accounts: AccountSettings,
    /// Rate limits, login throttling, CORS and TLS (chapter 06).
    pub security: SecuritySettings,
    /// Logs and trace export (chapter 07).
    pub telemetry: TelemetrySettings,
    /// The inventory service the checkout reserves stock in (chapter 08).
    pub inventory: InventorySettings,
    /// The payment provider and its webhooks (chapter 08).
    pub payments: PaymentsSettings,
    /// Redis and what is cached (chapter 09).
    pub cache: CacheSettings,
    /// The outbox relay to RabbitMQ (chapter 10).
    pub events: EventSettings,
    /// Where mail goes: the development outbox, or an SMTP server (chapter 10).
    pub mail: MailSettings,
    /// The notification worker, `shop-notify` (chapter 10).
    pub notifications: NotificationSettings,
}
// ANCHOR_END: config

impl Default for Config {
    /// The services `cargo xtask services up` starts, on their default local ports.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: SecretString::from("postgres://postgres:postgres@127.0.0.1:5432/shop"),
            database_replica_url: None,
            mongodb_url: SecretString::from("mongodb://127.0.0.1:27017"),
            mongodb_database: "shop".to_owned(),
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            connections: ConnectionSettings::default(),
            accounts: AccountSettings::default(),
            security: SecuritySettings::default(),
            telemetry: TelemetrySettings::default(),
            inventory: InventorySettings::default(),
            payments: PaymentsSettings::default(),
            cache: CacheSettings::default(),
            events: EventSettings::default(),
            mail: MailSettings::default(),
            notifications: NotificationSettings::default(),
        }
    }
}

// ANCHOR: connection_settings
/// The `[connections]` section: the limits of `shop_http::serve` (book chapter 03).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConnectionSettings {
    /// A client must send its first request, and each request head, within this time.
    #[serde(
        rename = "header_read_timeout_ms",
        deserialize_with = "millis::<_, 100, 120_000>"
    )]
    pub header_read_timeout: Duration,
    /// A connection with no traffic either way for this long is closed.
    #[serde(rename = "idle_timeout_secs", deserialize_with = "secs::<_, 1, 3_600>")]
    pub idle_timeout: Duration,
    /// Open connections in total; past it the server stops accepting until one closes.
    #[serde(deserialize_with = "count::<_, 1, 1_000_000>")]
    pub max_connections: u32,
    /// Open connections from one client address; one more is closed at once.
    #[serde(deserialize_with = "count::<_, 1, 100_000>")]
    pub max_connections_per_ip: u32,
}
// ANCHOR_END: connection_settings

impl Default for ConnectionSettings {
    fn default() -> Self {
        let limits = shop_http::Limits::default();
        ConnectionSettings {
            header_read_timeout: limits.header_read_timeout,
            idle_timeout: limits.idle_timeout,
            max_connections: 1024,
            max_connections_per_ip: 32,
        }
    }
}

impl ConnectionSettings {
    /// The server's limits, with shutdown draining for at most `drain_timeout`.
    pub fn limits(&self, drain_timeout: Duration) -> shop_http::Limits {
        shop_http::Limits {
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            max_connections: usize::try_from(self.max_connections).unwrap_or(usize::MAX),
            max_connections_per_ip: usize::try_from(self.max_connections_per_ip)
                .unwrap_or(usize::MAX),
            drain_timeout,
        }
    }
}

// ANCHOR: account_settings
/// The `[accounts]` section. Every default is a production value; tests lower the hashing cost.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AccountSettings {
    /// Argon2id memory cost in KiB. OWASP's password storage cheat sheet: at least 19 MiB with
    /// 2 iterations and 1 lane. argon2's own floor is 8 KiB (for tests only).
    #[serde(deserialize_with = "count::<_, 8, 4_194_304>")]
    pub password_hash_memory_kib: u32,
    /// Argon2id iterations.
    #[serde(deserialize_with = "count::<_, 1, 64>")]
    pub password_hash_iterations: u32,
    /// How long one refresh token is valid: the idle timeout of a session (default 14 days).
    #[serde(
        rename = "refresh_token_ttl_secs",
        deserialize_with = "secs::<_, 60, 31_536_000>"
    )]
    pub refresh_token_ttl: Duration,
    /// How long a session lasts however often it is refreshed (default 30 days); then the user
    /// signs in again.
    #[serde(
        rename = "session_lifetime_secs",
        deserialize_with = "secs::<_, 60, 31_536_000>"
    )]
    pub session_lifetime: Duration,
    /// How long an email verification token is valid (default 24 hours).
    #[serde(
        rename = "email_verification_ttl_secs",
        deserialize_with = "secs::<_, 60, 2_592_000>"
    )]
    pub email_verification_ttl: Duration,
    /// Print outgoing mail to stderr (default true; stdout carries the log lines) when no
    /// `[mail] smtp_server` is set: that is how a developer receives a verification token.
    pub mail_echo: bool,
}
// ANCHOR_END: account_settings

impl Default for AccountSettings {
    fn default() -> Self {
        AccountSettings {
            password_hash_memory_kib: 19 * 1024,
            password_hash_iterations: 2,
            refresh_token_ttl: Duration::from_secs(14 * 24 * 60 * 60),
            session_lifetime: Duration::from_secs(30 * 24 * 60 * 60),
            email_verification_ttl: Duration::from_secs(24 * 60 * 60),
            mail_echo: true,
        }
    }
}

// ANCHOR: security_settings
/// The `[security]` section: the service's defences at the edge.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecuritySettings {
    /// Requests per second one client IP may sustain; 0 turns the limit off.
    #[serde(deserialize_with = "count::<_, 0, 1_000_000>")]
    pub rate_limit_per_sec: u32,
    /// How many requests one client IP may send in a burst.
    #[serde(deserialize_with = "count::<_, 1, 1_000_000>")]
    pub rate_limit_burst: u32,
    /// Failed sign-ins for one account (from addresses that have not signed in to it) before
    /// each attempt has to wait: 1 s, doubling per failure up to `login_lockout_secs`.
    #[serde(deserialize_with = "count::<_, 1, 1_000>")]
    pub login_max_failures: u32,
    /// Failed sign-ins from one IP, over all accounts, before it is throttled: catches a
    /// password spray.
    #[serde(deserialize_with = "count::<_, 1, 100_000>")]
    pub login_max_failures_per_ip: u32,
    /// The longest wait of the per-account back-off, and the window of the per-network count.
    #[serde(
        rename = "login_lockout_secs",
        deserialize_with = "secs::<_, 1, 86_400>"
    )]
    pub login_lockout: Duration,
    /// Take the client IP from the last `X-Forwarded-For` entry instead of the socket. Only
    /// behind a proxy that sets it: otherwise any client picks its own IP and walks past every
    /// per-IP limit.
    pub trust_x_forwarded_for: bool,
    /// Origins whose browser scripts may call the API: a list in TOML, comma-separated in a
    /// variable. Empty: none.
    #[serde(deserialize_with = "origins")]
    pub cors_allowed_origins: Vec<String>,
    /// Serve HTTPS instead of HTTP: the `[security.tls]` section, `cert` and `key` together.
    pub tls: TlsSetting,
}
// ANCHOR_END: security_settings

impl Default for SecuritySettings {
    fn default() -> Self {
        SecuritySettings {
            rate_limit_per_sec: 20,
            rate_limit_burst: 100,
            login_max_failures: 5,
            login_max_failures_per_ip: 50,
            login_lockout: Duration::from_secs(15 * 60),
            trust_x_forwarded_for: false,
            cors_allowed_origins: Vec::new(),
            tls: TlsSetting::Off,
        }
    }
}

// ANCHOR: telemetry_settings
/// The `[telemetry]` section (chapter 07). Metrics need no setting: `/metrics` is always there.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `auto` (JSON lines, unless stdout is a terminal: then readable text), `json` or `text`.
    pub log_format: LogFormat,
    /// Which log lines are written, when `RUST_LOG` is unset (it wins, as everywhere in Rust).
    #[serde(deserialize_with = "log_filter")]
    pub log_filter: String,
    /// The OTLP/HTTP traces URL of a collector, Jaeger or Tempo, for example
    /// `http://127.0.0.1:4318/v1/traces`. Unset, no span leaves the process (trace ids still
    /// propagate and appear in the logs).
    #[serde(deserialize_with = "otlp_endpoint")]
    pub otlp_endpoint: Option<String>,
}
// ANCHOR_END: telemetry_settings

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_format: LogFormat::Auto,
            log_filter: "shop_api=info,shop_db=info,shop_telemetry=info,tower_http=info,warn"
                .to_owned(),
            otlp_endpoint: None,
        }
    }
}

// ANCHOR: checkout_settings
/// The `[inventory]` section (chapter 08).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct InventorySettings {
    /// The inventory service's gRPC endpoint, `http://host:port`.
    #[serde(deserialize_with = "grpc_endpoint")]
    pub url: String,
    /// How long a checkout's reservation holds the stock while the payment is pending; the
    /// inventory's reaper gives it back after that.
    #[serde(rename = "hold_secs", deserialize_with = "secs::<_, 60, 3_600>")]
    pub hold: Duration,
}

impl Default for InventorySettings {
    fn default() -> Self {
        InventorySettings {
            url: "http://127.0.0.1:50051".to_owned(),
            hold: Duration::from_secs(15 * 60),
        }
    }
}

/// The `[payments]` section (chapter 08).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PaymentsSettings {
    /// The payment provider's API, `http://` or `https://`: locally, the sandbox
    /// (`cargo run -p shop-payments --bin payments-sandbox`).
    #[serde(deserialize_with = "http_url")]
    pub url: url::Url,
    /// The secret the provider signs webhooks with (16 characters or more), shared with it.
    /// Unset, the service makes up a random one and warns: no webhook verifies, so no order
    /// is ever marked paid.
    #[serde(deserialize_with = "webhook_secret")]
    pub webhook_secret: Option<shop_payments::WebhookSecret>,
    /// How far a webhook's signed timestamp may be from now: an older one is refused, so a
    /// captured request cannot be replayed later.
    #[serde(
        rename = "webhook_tolerance_secs",
        deserialize_with = "secs::<_, 1, 3_600>"
    )]
    pub webhook_tolerance: Duration,
}

impl Default for PaymentsSettings {
    fn default() -> Self {
        PaymentsSettings {
            url: url::Url::parse("http://127.0.0.1:4010/").expect("a valid constant URL"),
            webhook_secret: None,
            webhook_tolerance: Duration::from_secs(5 * 60),
        }
    }
}
// ANCHOR_END: checkout_settings

// ANCHOR: cache_settings
/// The `[cache]` section (chapter 09).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CacheSettings {
    /// The Redis behind the product cache, the invalidations every instance listens to, guest
    /// carts and trending products: `redis://[:password@]host:port[/db]`. An empty string runs
    /// without Redis: each instance caches in its own memory only and hears of no other
    /// instance's writes (fine for one instance), and guest carts answer 503. Redis being down
    /// is not fatal either way: reads go to PostgreSQL until it is back.
    #[serde(deserialize_with = "redis_url")]
    pub redis_url: Option<SecretString>,
    /// What every key and channel of this deployment starts with, so that two deployments
    /// (or a test and a developer) can share one Redis.
    #[serde(deserialize_with = "key_prefix")]
    pub key_prefix: String,
    /// How long an instance keeps a product in memory: also how stale it may be if it misses
    /// an invalidation (its subscription was down).
    #[serde(
        rename = "product_memory_ttl_secs",
        deserialize_with = "secs::<_, 1, 3_600>"
    )]
    pub product_memory_ttl: Duration,
    /// How long Redis keeps a product.
    #[serde(
        rename = "product_redis_ttl_secs",
        deserialize_with = "secs::<_, 1, 86_400>"
    )]
    pub product_redis_ttl: Duration,
    /// How many products one instance keeps in memory.
    #[serde(deserialize_with = "count::<_, 1, 10_000_000>")]
    pub product_memory_entries: u32,
    /// How long a session check (chapter 04: is this session live, with which role?) is
    /// remembered in memory; 0 asks PostgreSQL on every request. A logout or a demotion
    /// reaches every instance through Redis at once; one whose subscription is down
    /// notices within this time.
    #[serde(
        rename = "session_check_ttl_ms",
        deserialize_with = "millis::<_, 0, 60_000>"
    )]
    pub session_check_ttl: Duration,
    /// How long a guest cart nobody touches lives.
    #[serde(
        rename = "guest_cart_ttl_secs",
        deserialize_with = "secs::<_, 60, 7_776_000>"
    )]
    pub guest_cart_ttl: Duration,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            redis_url: Some(SecretString::from("redis://127.0.0.1:6379")),
            key_prefix: "shop:".to_owned(),
            product_memory_ttl: Duration::from_secs(30),
            product_redis_ttl: Duration::from_secs(10 * 60),
            product_memory_entries: 100_000,
            session_check_ttl: Duration::from_secs(5),
            guest_cart_ttl: Duration::from_secs(7 * 86_400),
        }
    }
}
// ANCHOR_END: cache_settings

// ANCHOR: event_settings
/// The `[events]` section (chapter 10): the relay that publishes the outbox.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EventSettings {
    /// The RabbitMQ the relay publishes to: `amqp://user:password@host:port/vhost`. Every
    /// instance may run one: they share the outbox through `FOR UPDATE SKIP LOCKED`. An empty
    /// string runs no relay here; the events wait in the outbox for an instance that has one.
    #[serde(deserialize_with = "amqp_url")]
    pub amqp_url: Option<SecretString>,
    /// The topic exchange the events go to; each event's kind (`order.placed`) is its
    /// routing key.
    #[serde(deserialize_with = "amqp_name")]
    pub exchange: String,
    /// How often a relay with nothing to do looks again.
    #[serde(rename = "relay_poll_ms", deserialize_with = "millis::<_, 10, 60_000>")]
    pub relay_poll: Duration,
    /// Events claimed and published per pass.
    #[serde(deserialize_with = "count::<_, 1, 10_000>")]
    pub relay_batch: u32,
}

impl Default for EventSettings {
    fn default() -> Self {
        EventSettings {
            amqp_url: Some(SecretString::from("amqp://guest:guest@127.0.0.1:5672/%2f")),
            exchange: "shop.events".to_owned(),
            relay_poll: Duration::from_millis(500),
            relay_batch: 100,
        }
    }
}

/// The `[mail]` section (chapter 10): where the shop's mail goes.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailSettings {
    /// An SMTP server, `host:port`, that takes mail from this host without a password: the
    /// shop's own relay, or a local sink. Empty: the service keeps mail in its development
    /// outbox (`[accounts] mail_echo` prints it), and the notification worker does not start.
    #[serde(deserialize_with = "smtp_server")]
    pub smtp_server: Option<String>,
    /// The address the shop's mail comes from.
    #[serde(deserialize_with = "email")]
    pub from: Email,
}

impl Default for MailSettings {
    fn default() -> Self {
        MailSettings {
            smtp_server: None,
            from: Email::parse("orders@shop.example").unwrap_or_else(|_| unreachable!()),
        }
    }
}

/// The `[notifications]` section (chapter 10): the worker that tells customers about their
/// orders, consuming from `[events] exchange`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NotificationSettings {
    /// The worker's queue; `<queue>.retry` and `<queue>.dlq` are made beside it.
    #[serde(deserialize_with = "amqp_name")]
    pub queue: String,
    /// How long a failed event waits before it is tried again.
    #[serde(
        rename = "retry_delay_ms",
        deserialize_with = "millis::<_, 10, 3_600_000>"
    )]
    pub retry_delay: Duration,
    /// Deliveries an event gets in all before it goes to the dead-letter queue.
    #[serde(deserialize_with = "count::<_, 1, 100>")]
    pub max_attempts: u32,
}

impl Default for NotificationSettings {
    fn default() -> Self {
        NotificationSettings {
            queue: "shop.notifications".to_owned(),
            retry_delay: Duration::from_secs(5),
            max_attempts: 5,
        }
    }
}
// ANCHOR_END: event_settings

/// How log lines are written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Auto,
    Json,
    Text,
}

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "TlsFiles")]
pub enum TlsSetting {
    /// Plain HTTP: a TLS-terminating proxy or load balancer in front does HTTPS.
    #[default]
    Off,
    /// PEM files.
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate for `localhost` generated at start (`--tls-self-signed`): for trying
    /// HTTPS on a laptop, never for production.
    SelfSigned,
}

/// `[security.tls]` as written: both paths or neither.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFiles {
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

impl TryFrom<TlsFiles> for TlsSetting {
    type Error = &'static str;

    fn try_from(files: TlsFiles) -> Result<Self, Self::Error> {
        match (files.cert, files.key) {
            (Some(cert), Some(key)) => Ok(TlsSetting::Files { cert, key }),
            (None, None) => Ok(TlsSetting::Off),
            _ => Err("cert and key go together: set both or neither"),
        }
    }
}

/// Why the configuration could not be built. Each names the key and where it came from;
/// none quotes a secret.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML. Line and column only: the line itself may hold a password.
    #[error("{}:{line}:{column}: not valid TOML: {message}", path.display())]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    /// The bad setting, as its source spells it, and what is wrong: `SHOP_SECURITY__...
    /// (environment variable): 0 is out of range: must be from 1 to 86400 seconds`.
    #[error("invalid configuration:\n{}", .0.join("\n"))]
    Invalid(Vec<String>),
}

// ANCHOR: load
impl Config {
    /// Defaults, then `file` (or the file `SHOP_CONFIG` names), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(file, Variables::from_process())
    }

    /// [`Config::load`] with the variables passed in, so that tests need not mutate the
    /// process environment (which is `unsafe` since Rust 2024: other threads may be reading
    /// it).
    pub fn load_from(file: Option<&Path>, variables: Variables) -> Result<Config, ConfigError> {
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| variables.config_file());
        let mut figment = Figment::new();
        if let Some(path) = file {
            figment = figment.merge(TomlFile::read(&path)?);
        }
        figment
            .merge(variables)
            .extract::<Config>()
            .map_err(|error| ConfigError::Invalid(error.into_iter().map(describe).collect()))
    }
}
// ANCHOR_END: load

/// The `SHOP_*` variables as a figment source. `SHOP_LISTEN` is the key `listen`, and
/// `SHOP_SECURITY__LOGIN_MAX_FAILURES` is `login_max_failures` in the `[security]` section.
/// Values are read the way figment reads variables (`5` a number, `true` a boolean, `[a, b]` a
/// list, anything else text), and an empty value counts as unset, as most shells and tools
/// treat it.
#[derive(Debug, Clone, Default)]
pub struct Variables(Vec<(String, String)>);

impl Variables {
    /// The process's variables.
    pub fn from_process() -> Variables {
        Variables::from_pairs(std::env::vars_os().map(|(name, value)| {
            (
                name.to_string_lossy().into_owned(),
                value.to_string_lossy().into_owned(),
            )
        }))
    }

    /// Variables given by name and value, as a test writes them.
    pub fn from_pairs<N: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (N, V)>,
    ) -> Variables {
        Variables(
            pairs
                .into_iter()
                .map(|(name, value)| (name.into(), value.into()))
                .filter(|(name, value)| name.starts_with(ENV_PREFIX) && !value.trim().is_empty())
                .collect(),
        )
    }

    fn config_file(&self) -> Option<PathBuf> {
        self.0
            .iter()
            .find(|(name, _)| name == CONFIG_FILE_VAR)
            .map(|(_, value)| PathBuf::from(value))
    }
}

impl Provider for Variables {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variable").interpolater(|_: &Profile, keys: &[&str]| {
            format!("{ENV_PREFIX}{}", keys.join("__").to_uppercase())
        })
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut settings = Dict::new();
        for (name, text) in &self.0 {
            if name == CONFIG_FILE_VAR {
                continue;
            }
            let key = name.trim_start_matches(ENV_PREFIX).to_lowercase();
            let path: Vec<&str> = key.split("__").collect();
            let Ok(value) = text.parse::<Value>();
            insert(&mut settings, &path, value);
        }
        Ok(Profile::Default.collect(settings))
    }
}

/// Puts `value` at `path` in `dict`, making the sections on the way.
fn insert(dict: &mut Dict, path: &[&str], value: Value) {
    match path {
        [] => {}
        [key] => {
            dict.insert((*key).to_owned(), value);
        }
        [section, rest @ ..] => {
            let entry = dict
                .entry((*section).to_owned())
                .or_insert_with(|| Value::from(Dict::new()));
            if let Value::Dict(_, inner) = entry {
                insert(inner, rest, value);
            } else {
                // `SHOP_SECURITY=x` and `SHOP_SECURITY__TLS__CERT=y` together: the section wins,
                // and extracting reports the stray value as the wrong type.
                let mut inner = Dict::new();
                insert(&mut inner, rest, value);
                *entry = Value::from(inner);
            }
        }
    }
}

/// One figment error as a line: the key as its source spells it, the source, and what is
/// wrong (`  SHOP_SECURITY__LOGIN_LOCKOUT_SECS (environment variable): 0 is out of range: ...`).
fn describe(error: figment::Error) -> String {
    let place = match &error.metadata {
        Some(metadata) => {
            let key = metadata.interpolate(&Profile::Default, &error.path);
            match &metadata.source {
                Some(source) => format!("{key} (in {source})"),
                None => format!("{key} ({})", metadata.name),
            }
        }
        None if error.path.is_empty() => "the configuration".to_owned(),
        None => error.path.join("."),
    };
    format!("  {place}: {}", error.kind)
}

/// A TOML file as a figment source, parsed here rather than by figment so that a syntax error
/// is reported without quoting the line it is on.
struct TomlFile {
    path: PathBuf,
    table: toml::Table,
}

impl TomlFile {
    fn read(path: &Path) -> Result<TomlFile, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let table = text.parse::<toml::Table>().map_err(|error| {
            let offset = error.span().map_or(0, |span| span.start);
            let before = &text[..offset.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            ConfigError::Syntax {
                path: path.to_owned(),
                line,
                column,
                message: error.message().to_owned(),
            }
        })?;
        Ok(TomlFile {
            path: path.to_owned(),
            table,
        })
    }
}

impl Provider for TomlFile {
    fn metadata(&self) -> Metadata {
        Metadata::named("TOML file")
            .source(figment::Source::File(self.path.clone()))
            .interpolater(|_: &Profile, keys: &[&str]| keys.join("."))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Serialized::defaults(&self.table).data()
    }
}

// ---- what a valid value is ----------------------------------------------------------------

/// A whole number of milliseconds, from `MIN` to `MAX`.
fn millis<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let n = in_range::<D, MIN, MAX>(deserializer, "milliseconds")?;
    Ok(Duration::from_millis(n))
}

/// A whole number of seconds, from `MIN` to `MAX`.
fn secs<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    let n = in_range::<D, MIN, MAX>(deserializer, "seconds")?;
    Ok(Duration::from_secs(n))
}

/// A count from `MIN` to `MAX` (both within `u32`).
fn count<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<u32, D::Error> {
    let n = in_range::<D, MIN, MAX>(deserializer, "")?;
    u32::try_from(n).map_err(|_| de::Error::custom("too large"))
}

fn in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
    unit: &str,
) -> Result<u64, D::Error> {
    let n = u64::deserialize(deserializer)?;
    if (MIN..=MAX).contains(&n) {
        Ok(n)
    } else {
        let unit = if unit.is_empty() {
            String::new()
        } else {
            format!(" {unit}")
        };
        Err(de::Error::custom(format!(
            "{n} is out of range: must be from {MIN} to {MAX}{unit}"
        )))
    }
}

/// Text that may be a secret: accepted whatever it looks like (figment reads `SHOP_X=1234` as
/// a number), and never quoted in an error.
fn secret_text<'de, D: Deserializer<'de>>(
    deserializer: D,
    what: &'static str,
) -> Result<String, D::Error> {
    struct Text(&'static str);

    impl Visitor<'_> for Text {
        type Value = String;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(f, "{} as a string", self.0)
        }

        fn visit_str<E: de::Error>(self, value: &str) -> Result<String, E> {
            Ok(value.to_owned())
        }

        fn visit_u64<E: de::Error>(self, value: u64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_i64<E: de::Error>(self, value: i64) -> Result<String, E> {
            Ok(value.to_string())
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<String, E> {
            Err(E::custom(format!(
                "{} looks like a number; quote it (\"...\") to keep it as written",
                self.0
            )))
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<String, E> {
            Err(E::custom(format!("{} must be a string", self.0)))
        }
    }

    deserializer.deserialize_any(Text(what))
}

fn postgres_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let url = secret_text(deserializer, "a PostgreSQL URL")?;
    // The parser's message may quote the URL, password included: say only what is expected.
    // sqlx's parser ignores the scheme, so that is checked here.
    let scheme = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme || PgConnectOptions::from_str(&url).is_err() {
        return Err(de::Error::custom(
            "not a PostgreSQL URL (expected postgres://user:password@host:port/database)",
        ));
    }
    Ok(SecretString::from(url))
}

fn replica_url<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    let url = secret_text(deserializer, "a PostgreSQL URL")?;
    if url.trim().is_empty() {
        return Ok(None);
    }
    let scheme = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme || PgConnectOptions::from_str(&url).is_err() {
        return Err(de::Error::custom(
            "not a PostgreSQL URL (expected postgres://user:password@host:port/database, or \
             an empty string to read the primary only)",
        ));
    }
    Ok(Some(SecretString::from(url)))
}

fn mongodb_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let url = secret_text(deserializer, "a MongoDB connection string")?;
    ConnectionString::parse(&url).map_err(|_| {
        de::Error::custom("not a MongoDB connection string (expected mongodb://host:port/?options)")
    })?;
    Ok(SecretString::from(url))
}

fn mongodb_database<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    if name.is_empty() || name.len() > 63 || name.contains(['/', '\\', '.', ' ', '"', '$', '\0']) {
        return Err(de::Error::custom(
            "not a MongoDB database name (1 to 63 bytes, no / \\ . space \" $ or NUL)",
        ));
    }
    Ok(name)
}

fn jwt_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<SecretString>, D::Error> {
    let secret = secret_text(deserializer, "the token secret")?;
    // HS256 with a short secret can be brute-forced offline from any one token.
    if secret.len() < MIN_JWT_SECRET_BYTES {
        return Err(de::Error::custom(format!(
            "must be at least {MIN_JWT_SECRET_BYTES} bytes long"
        )));
    }
    Ok(Some(SecretString::from(secret)))
}

fn webhook_secret<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<shop_payments::WebhookSecret>, D::Error> {
    // Read as text whatever it looks like (figment makes an all-digit variable a number, and
    // serde's "invalid type" message would quote it), then checked for length.
    let secret = secret_text(deserializer, "the webhook secret")?;
    shop_payments::WebhookSecret::new(secret)
        .map(Some)
        .map_err(de::Error::custom)
}

fn log_filter<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let filter = String::deserialize(deserializer)?;
    tracing_subscriber::EnvFilter::try_new(&filter).map_err(|error| {
        de::Error::custom(format!(
            "not a log filter ({error}); expected directives like shop_api=debug,warn"
        ))
    })?;
    Ok(filter)
}

fn otlp_endpoint<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let url = String::deserialize(deserializer)?;
    if url.trim().is_empty() {
        return Ok(None);
    }
    // A collector URL may carry credentials: the message says what is expected, never the URL.
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|_| de::Error::custom("not a URL (expected http://host:4318/v1/traces)"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.authority().is_none() {
        return Err(de::Error::custom(
            "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:4318/v1/traces",
        ));
    }
    Ok(Some(url))
}

fn redis_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SecretString>, D::Error> {
    let url = secret_text(deserializer, "a Redis URL")?;
    if url.is_empty() {
        return Ok(None);
    }
    // As for the other URLs: it may carry a password, so the message never quotes it.
    let valid = url.starts_with("redis://") && shop_cache::Redis::check_url(&url).is_ok();
    if !valid {
        return Err(de::Error::custom(
            "not a Redis URL (expected redis://host:port, or an empty string for no Redis)",
        ));
    }
    Ok(Some(SecretString::from(url)))
}

fn amqp_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<SecretString>, D::Error> {
    let url = secret_text(deserializer, "an AMQP URL")?;
    if url.is_empty() {
        return Ok(None);
    }
    // As for the other URLs: it may carry a password, so the message never quotes it.
    if !shop_events::relay::check_url(&url) {
        return Err(de::Error::custom(
            "not an AMQP URL (expected amqp://user:password@host:5672/%2f, or an empty string \
             for no relay)",
        ));
    }
    Ok(Some(SecretString::from(url)))
}

/// An exchange or queue name: what RabbitMQ accepts, without spaces.
fn amqp_name<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let name = String::deserialize(deserializer)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | ':');
    if name.is_empty() || name.len() > 200 || !name.chars().all(allowed) || name.starts_with("amq.")
    {
        return Err(de::Error::custom(
            "must be 1 to 200 of A-Z a-z 0-9 . _ - :, not starting with \"amq.\" \
             (the broker's own)",
        ));
    }
    Ok(name)
}

fn smtp_server<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let server = String::deserialize(deserializer)?;
    if server.trim().is_empty() {
        return Ok(None);
    }
    let valid = server.rsplit_once(':').is_some_and(|(host, port)| {
        !host.is_empty()
            && host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
            && port.parse::<u16>().is_ok_and(|port| port > 0)
    });
    if !valid {
        return Err(de::Error::custom(
            "not a mail server address (expected host:port, such as 127.0.0.1:1025, or an \
             empty string for the development outbox)",
        ));
    }
    Ok(Some(server))
}

fn email<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Email, D::Error> {
    let text = String::deserialize(deserializer)?;
    Email::parse(&text).map_err(|e| de::Error::custom(format!("not an email address: {e}")))
}

fn key_prefix<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let prefix = String::deserialize(deserializer)?;
    let printable = prefix.chars().all(|c| c.is_ascii_graphic());
    if prefix.is_empty() || prefix.len() > 64 || !printable {
        return Err(de::Error::custom(
            "must be 1 to 64 printable ASCII characters without spaces, such as \"shop:\"",
        ));
    }
    Ok(prefix)
}

fn grpc_endpoint<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let url = String::deserialize(deserializer)?;
    let uri: axum::http::Uri =
        (url.parse()).map_err(|_| de::Error::custom("not a URL (expected http://host:50051)"))?;
    // Plain HTTP/2 only: this workspace's tonic is built without TLS.
    if uri.scheme_str() != Some("http") || uri.authority().is_none() || uri.path() != "/" {
        return Err(de::Error::custom(
            "must be http://host:port with no path, e.g. http://127.0.0.1:50051",
        ));
    }
    Ok(url)
}

fn http_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<url::Url, D::Error> {
    let text = String::deserialize(deserializer)?;
    // As for the collector: the URL may carry credentials, so the message never quotes it.
    let url = url::Url::parse(&text)
        .map_err(|_| de::Error::custom("not a URL (expected http://host:4010/)"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(de::Error::custom(
            "must be an http:// or https:// URL with a host, e.g. http://127.0.0.1:4010/",
        ));
    }
    Ok(url)
}

/// A list of origins, or one comma-separated string of them (how a variable writes a list).
fn origins<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Origins;

    impl<'de> Visitor<'de> for Origins {
        type Value = Vec<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list of origins, or a comma-separated string of them")
        }

        fn visit_str<E: de::Error>(self, list: &str) -> Result<Vec<String>, E> {
            list.split(',')
                .map(str::trim)
                .filter(|origin| !origin.is_empty())
                .map(|origin| {
                    check_origin(origin)
                        .map(|()| origin.to_owned())
                        .map_err(E::custom)
                })
                .collect()
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<String>, A::Error> {
            let mut origins = Vec::new();
            while let Some(origin) = seq.next_element::<String>()? {
                check_origin(&origin).map_err(de::Error::custom)?;
                origins.push(origin);
            }
            Ok(origins)
        }
    }

    deserializer.deserialize_any(Origins)
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after. A wildcard is
/// refused on purpose: "any site may call this API with the user's credentials" is never
/// what anyone means.
fn check_origin(origin: &str) -> Result<(), String> {
    let Some((scheme, host)) = origin.split_once("://") else {
        return Err(format!(
            "`{origin}` is not an origin (expected scheme://host[:port])"
        ));
    };
    if !matches!(scheme, "http" | "https")
        || host.is_empty()
        || host.contains(['/', '*', '?', '#', ' '])
    {
        return Err(format!(
            "`{origin}` is not an origin (expected scheme://host[:port])"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> Variables {
        Variables::from_pairs(pairs.iter().copied())
    }

    /// A file in the system's temporary directory, removed when dropped.
    struct TempFile(PathBuf);

    impl TempFile {
        fn new(contents: &str) -> TempFile {
            let path =
                std::env::temp_dir().join(format!("shop-config-{}.toml", uuid::Uuid::new_v4()));
            std::fs::write(&path, contents).unwrap();
            TempFile(path)
        }
    }

    impl Drop for TempFile {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    fn error_of(file: Option<&str>, pairs: &[(&str, &str)]) -> String {
        let file = file.map(TempFile::new);
        Config::load_from(file.as_ref().map(|f| f.0.as_path()), vars(pairs))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_match_the_local_services() {
        let config = Config::load_from(None, vars(&[])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(
            config.database_url.expose_secret(),
            "postgres://postgres:postgres@127.0.0.1:5432/shop"
        );
        assert_eq!(
            config.mongodb_url.expose_secret(),
            "mongodb://127.0.0.1:27017"
        );
        assert_eq!(config.mongodb_database, "shop");
        assert_eq!(config.connections.max_connections_per_ip, 32);
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_the_defaults() {
        let toml = TempFile::new(
            "listen = \"0.0.0.0:8080\"\nrequest_timeout_ms = 2500\nmongodb_database = \"from_file\"\n\n[security]\nlogin_max_failures = 7\n",
        );
        let config = Config::load_from(
            Some(&toml.0),
            vars(&[
                ("SHOP_LISTEN", "127.0.0.1:9090"),
                ("SHOP_SECURITY__LOGIN_MAX_FAILURES", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(
            config.listen.to_string(),
            "127.0.0.1:9090",
            "env beats file"
        );
        assert_eq!(
            config.security.login_max_failures, 3,
            "env beats file, in a section"
        );
        assert_eq!(
            config.request_timeout,
            Duration::from_millis(2500),
            "file beats default"
        );
        assert_eq!(config.mongodb_database, "from_file");
        assert_eq!(config.shutdown_grace, Duration::from_secs(10), "default");
    }

    #[test]
    fn shop_config_names_the_file_when_no_flag_does() {
        let toml = TempFile::new("mongodb_database = \"via_var\"\n");
        let path = toml.0.to_string_lossy().into_owned();
        let config = Config::load_from(None, vars(&[(CONFIG_FILE_VAR, &path)])).unwrap();
        assert_eq!(config.mongodb_database, "via_var");
    }

    #[test]
    fn an_empty_variable_counts_as_unset() {
        let config = Config::load_from(None, vars(&[("SHOP_LISTEN", "  ")])).unwrap();
        assert_eq!(config.listen.to_string(), "127.0.0.1:3000");
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let message = error_of(None, &[("SHOP_LISTEN", "localhost")]);
        assert!(
            message.contains("SHOP_LISTEN (environment variable): "),
            "{message}"
        );
    }

    #[test]
    fn an_out_of_range_duration_is_refused_at_load_with_its_key() {
        // The probe's value: accepted once, it overflowed date arithmetic on the first
        // sign-up, after the user row was written.
        let message = error_of(
            None,
            &[("SHOP_ACCESS_TOKEN_TTL_SECS", "18446744073709551615")],
        );
        assert!(message.contains("SHOP_ACCESS_TOKEN_TTL_SECS"), "{message}");
        assert!(
            message.contains("must be from 1 to 86400 seconds"),
            "{message}"
        );

        let message = error_of(Some("[security]\nlogin_lockout_secs = 0\n"), &[]);
        assert!(
            message.contains("security.login_lockout_secs (in "),
            "{message}"
        );
        assert!(message.contains("0 is out of range"), "{message}");
    }

    #[test]
    fn the_checkout_settings_are_checked_at_load() {
        let message = error_of(None, &[("SHOP_PAYMENTS__WEBHOOK_SECRET", "1234567")]);
        assert!(
            message.contains("SHOP_PAYMENTS__WEBHOOK_SECRET"),
            "{message}"
        );
        assert!(!message.contains("1234567"), "{message}");
        let message = error_of(None, &[("SHOP_INVENTORY__URL", "https://inventory:50051")]);
        assert!(message.contains("must be http://host:port"), "{message}");
        let message = error_of(None, &[("SHOP_PAYMENTS__URL", "ftp://psp.example/")]);
        assert!(message.contains("SHOP_PAYMENTS__URL"), "{message}");
        let message = error_of(None, &[("SHOP_INVENTORY__HOLD_SECS", "5")]);
        assert!(message.contains("from 60 to 3600 seconds"), "{message}");

        let config = Config::load_from(
            None,
            vars(&[
                ("SHOP_PAYMENTS__WEBHOOK_SECRET", "whsec_0123456789abcdef"),
                ("SHOP_INVENTORY__URL", "http://10.0.0.7:50051"),
            ]),
        )
        .unwrap();
        assert!(config.payments.webhook_secret.is_some());
        assert_eq!(config.inventory.url, "http://10.0.0.7:50051");
    }

    #[test]
    fn a_bad_secret_is_named_but_never_echoed() {
        let message = error_of(
            None,
            &[("SHOP_DATABASE_URL", "mysql://root:hunter2@db/shop")],
        );
        assert!(message.contains("SHOP_DATABASE_URL"), "{message}");
        assert!(message.contains("not a PostgreSQL URL"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");

        // figment reads an all-digit variable as a number; the short secret is still refused
        // without being quoted.
        let message = error_of(None, &[("SHOP_JWT_SECRET", "123456789")]);
        assert!(message.contains("at least 32 bytes"), "{message}");
        assert!(!message.contains("123456789"), "{message}");
    }

    #[test]
    fn a_malformed_file_is_reported_by_line_and_column_without_its_text() {
        let message = error_of(
            Some("listen = \"127.0.0.1:3000\"\ndatabase_url = \"postgres://shop:hunter2@db/shop\n"),
            &[],
        );
        assert!(message.contains(":2:"), "{message}");
        assert!(message.contains("not valid TOML"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_misspelt_key_is_an_error_in_the_file_and_in_the_environment() {
        let message = error_of(Some("listne = \"127.0.0.1:1\"\n"), &[]);
        assert!(message.contains("listne"), "{message}");
        let message = error_of(None, &[("SHOP_SECURITY__RATE_LIMIT", "5")]);
        assert!(message.contains("rate_limit"), "{message}");
    }

    #[test]
    fn event_and_mail_settings_are_checked_without_quoting_a_url() {
        let message = error_of(
            None,
            &[("SHOP_EVENTS__AMQP_URL", "http://guest:s3cret@host")],
        );
        assert!(message.contains("not an AMQP URL"), "{message}");
        assert!(!message.contains("s3cret"), "{message}");
        // An empty variable counts as unset; an empty string in the file turns the relay off.
        let file = TempFile::new("[events]\namqp_url = \"\"\n");
        let config = Config::load_from(
            Some(file.0.as_path()),
            vars(&[
                ("SHOP_MAIL__SMTP_SERVER", "127.0.0.1:1025"),
                ("SHOP_NOTIFICATIONS__RETRY_DELAY_MS", "250"),
            ]),
        )
        .unwrap();
        assert!(config.events.amqp_url.is_none(), "empty: no relay");
        assert_eq!(config.mail.smtp_server.as_deref(), Some("127.0.0.1:1025"));
        assert_eq!(config.notifications.retry_delay, Duration::from_millis(250));
        for (key, value, says) in [
            ("SHOP_EVENTS__EXCHANGE", "amq.topic", "amq."),
            ("SHOP_EVENTS__EXCHANGE", "shop events", "A-Z"),
            ("SHOP_NOTIFICATIONS__QUEUE", "orders/eu", "A-Z"),
            ("SHOP_MAIL__SMTP_SERVER", "localhost", "host:port"),
            ("SHOP_MAIL__SMTP_SERVER", "mail.example:0", "host:port"),
            ("SHOP_MAIL__SMTP_SERVER", "a b:25", "host:port"),
            ("SHOP_MAIL__FROM", "nobody", "not an email address"),
            ("SHOP_NOTIFICATIONS__MAX_ATTEMPTS", "0", "out of range"),
            (
                "SHOP_DATABASE_REPLICA_URL",
                "mysql://a:s3cret@b/c",
                "not a PostgreSQL URL",
            ),
        ] {
            let message = error_of(None, &[(key, value)]);
            assert!(message.contains(says), "{key}={value}: {message}");
        }
    }

    #[test]
    fn the_example_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("shop.example.toml");
        Config::load_from(Some(&example), vars(&[])).unwrap();
    }

    #[test]
    fn sections_come_from_variables() {
        let config = Config::load_from(
            None,
            vars(&[
                ("SHOP_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB", "65536"),
                ("SHOP_SECURITY__RATE_LIMIT_PER_SEC", "0"),
                (
                    "SHOP_SECURITY__CORS_ALLOWED_ORIGINS",
                    "https://shop.example, http://localhost:5173",
                ),
                ("SHOP_SECURITY__TLS__CERT", "cert.pem"),
                ("SHOP_SECURITY__TLS__KEY", "key.pem"),
                ("SHOP_CONNECTIONS__IDLE_TIMEOUT_SECS", "30"),
            ]),
        )
        .unwrap();
        assert_eq!(config.accounts.password_hash_memory_kib, 65536);
        assert_eq!(config.security.rate_limit_per_sec, 0);
        assert_eq!(
            config.security.cors_allowed_origins,
            ["https://shop.example", "http://localhost:5173"]
        );
        assert_eq!(
            config.security.tls,
            TlsSetting::Files {
                cert: "cert.pem".into(),
                key: "key.pem".into()
            }
        );
        assert_eq!(config.connections.idle_timeout, Duration::from_secs(30));
    }

    #[test]
    fn a_wildcard_origin_and_a_lone_certificate_are_refused() {
        let message = error_of(None, &[("SHOP_SECURITY__CORS_ALLOWED_ORIGINS", "*")]);
        assert!(message.contains("`*` is not an origin"), "{message}");
        let message = error_of(None, &[("SHOP_SECURITY__TLS__CERT", "cert.pem")]);
        assert!(message.contains("set both or neither"), "{message}");
    }

    #[test]
    fn debug_output_redacts_the_urls() {
        let config = Config::load_from(
            None,
            vars(&[("SHOP_DATABASE_URL", "postgres://app:hunter2@db/shop")]),
        )
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }
}
