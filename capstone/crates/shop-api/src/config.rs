//! Configuration: typed, read once at start-up, handed to whoever needs it.
//!
//! What this module shows:
//! - one [`Config`] struct with real types (`SocketAddr`, `Duration`, `SecretString`), built
//!   before the server starts, so a typo fails the start-up instead of the first request that
//!   happens to read the setting;
//! - layered sources, each overriding the one before: built-in defaults for local development,
//!   then an optional TOML file (`--config shop.toml` or `SHOP_CONFIG`), then `SHOP_*`
//!   environment variables; `main` applies command-line flags last;
//! - secrets (the database URLs carry passwords) wrapped in [`SecretString`]: `Debug` prints
//!   `[REDACTED]`, and reading the value takes a visible `expose_secret()`;
//! - errors that name the setting and where it came from, never echoing a secret's value.
//!
//! The service's variables are prefixed `SHOP_` on purpose: `DATABASE_URL` already means
//! something else in this workspace (the database sqlx's macros check queries against, and
//! the server testkit gives tests their databases on).
//!
//! `shop.example.toml`, next to this crate's `Cargo.toml`, lists every setting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use mongodb::options::ConnectionString;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use sqlx::postgres::PgConnectOptions;
use thiserror::Error;

/// The variable that names a configuration file, when `--config` does not.
pub const CONFIG_FILE_VAR: &str = "SHOP_CONFIG";

/// The shortest access-token signing secret accepted: as long as HS256's hash.
pub const MIN_JWT_SECRET_BYTES: usize = 32;

// ANCHOR: config
/// Everything the service reads from its environment, parsed and checked.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the HTTP server listens (`SHOP_LISTEN`, `listen`).
    pub listen: SocketAddr,
    /// The PostgreSQL database (`SHOP_DATABASE_URL`, `database_url`).
    pub database_url: SecretString,
    /// The MongoDB deployment that holds reviews (`SHOP_MONGODB_URL`, `mongodb_url`). Options
    /// in the URL win, e.g. `?serverSelectionTimeoutMS=500`.
    pub mongodb_url: SecretString,
    /// The MongoDB database inside that deployment (`SHOP_MONGODB_DATABASE`,
    /// `mongodb_database`).
    pub mongodb_database: String,
    /// The longest a request may take before it is answered 503 (`SHOP_REQUEST_TIMEOUT_MS`,
    /// `request_timeout_ms`).
    pub request_timeout: Duration,
    /// How long shutdown waits for in-flight requests (`SHOP_SHUTDOWN_GRACE_MS`,
    /// `shutdown_grace_ms`).
    pub shutdown_grace: Duration,
    /// The secret access tokens are signed with (`SHOP_JWT_SECRET`, `jwt_secret`), at least 32
    /// bytes. Unset, the service makes up a random one at start: tokens then die with the
    /// process, and two instances behind a load balancer would refuse each other's.
    pub jwt_secret: Option<SecretString>,
    /// How long an access token is valid (`SHOP_ACCESS_TOKEN_TTL_SECS`,
    /// `access_token_ttl_secs`).
    pub access_token_ttl: Duration,
    /// Password hashing, session lifetimes, verification mails (chapter 04).
    pub accounts: AccountSettings,
    /// Rate limits, login throttling, CORS and TLS (chapter 06).
    pub security: SecuritySettings,
}
// ANCHOR_END: config

// ANCHOR: account_settings
/// How accounts behave. Every default is a production value; tests lower the hashing cost.
#[derive(Debug, Clone)]
pub struct AccountSettings {
    /// Argon2id memory cost in KiB (`SHOP_PASSWORD_HASH_MEMORY_KIB`). OWASP's password
    /// storage cheat sheet: at least 19 MiB with 2 iterations and 1 lane.
    pub password_hash_memory_kib: u32,
    /// Argon2id iterations (`SHOP_PASSWORD_HASH_ITERATIONS`).
    pub password_hash_iterations: u32,
    /// How long one refresh token is valid: the idle timeout of a session
    /// (`SHOP_REFRESH_TOKEN_TTL_SECS`, default 14 days).
    pub refresh_token_ttl: Duration,
    /// How long a session lasts however often it is refreshed (`SHOP_SESSION_LIFETIME_SECS`,
    /// default 30 days); then the user signs in again.
    pub session_lifetime: Duration,
    /// How long an email verification token is valid (`SHOP_EMAIL_VERIFICATION_TTL_SECS`,
    /// default 24 hours).
    pub email_verification_ttl: Duration,
    /// Print outgoing mail to stdout (`SHOP_MAIL_ECHO`, default true): until lesson 10 sends
    /// real mail, that is how a developer receives a verification token.
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
/// The service's defences at the edge.
#[derive(Debug, Clone)]
pub struct SecuritySettings {
    /// Requests per second one client IP may sustain (`SHOP_RATE_LIMIT_PER_SEC`); 0 turns the
    /// limit off.
    pub rate_limit_per_sec: u32,
    /// How many requests one client IP may send in a burst (`SHOP_RATE_LIMIT_BURST`).
    pub rate_limit_burst: u32,
    /// Failed sign-ins for one account before it is throttled (`SHOP_LOGIN_MAX_FAILURES`).
    pub login_max_failures: u32,
    /// Failed sign-ins from one IP, over all accounts, before it is throttled: catches a
    /// password spray (`SHOP_LOGIN_MAX_FAILURES_PER_IP`).
    pub login_max_failures_per_ip: u32,
    /// The window failures are counted in, and how long a throttle lasts
    /// (`SHOP_LOGIN_LOCKOUT_SECS`).
    pub login_lockout: Duration,
    /// Take the client IP from the last `X-Forwarded-For` entry instead of the socket
    /// (`SHOP_TRUST_X_FORWARDED_FOR`). Only behind a proxy that sets it: otherwise any client
    /// picks its own IP and walks past every per-IP limit.
    pub trust_x_forwarded_for: bool,
    /// Origins whose browser scripts may call the API (`SHOP_CORS_ALLOWED_ORIGINS`,
    /// comma-separated; `cors_allowed_origins` in TOML is a list). Empty: none.
    pub cors_allowed_origins: Vec<String>,
    /// Serve HTTPS instead of HTTP.
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

/// Where the TLS certificate comes from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum TlsSetting {
    /// Plain HTTP: a TLS-terminating proxy or load balancer in front does HTTPS.
    #[default]
    Off,
    /// PEM files (`SHOP_TLS_CERT` and `SHOP_TLS_KEY`, `tls_cert` and `tls_key`).
    Files { cert: PathBuf, key: PathBuf },
    /// A certificate for `localhost` generated at start (`--tls-self-signed`): for trying
    /// HTTPS on a laptop, never for production.
    SelfSigned,
}

impl Default for Config {
    /// The services `cargo xtask services up` starts, on their default local ports.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 3000)),
            database_url: SecretString::from("postgres://postgres:postgres@127.0.0.1:5432/shop"),
            mongodb_url: SecretString::from("mongodb://127.0.0.1:27017"),
            mongodb_database: "shop".to_owned(),
            request_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            jwt_secret: None,
            access_token_ttl: Duration::from_secs(15 * 60),
            accounts: AccountSettings::default(),
            security: SecuritySettings::default(),
        }
    }
}

/// Why the configuration could not be built.
#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read configuration file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid configuration file {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
    /// `setting` says where the value came from: `SHOP_LISTEN`, or `listen in shop.toml`.
    #[error("{setting}: {reason}")]
    Invalid { setting: String, reason: String },
}

impl Config {
    /// Defaults, then `file` (or the file `SHOP_CONFIG` names), then the process environment.
    pub fn load(file: Option<&Path>) -> Result<Config, ConfigError> {
        Config::load_from(file, |name| {
            std::env::var_os(name).map(|value| value.to_string_lossy().into_owned())
        })
    }

    /// [`Config::load`] with the environment passed in, so tests need not mutate the process
    /// environment (which is `unsafe` since Rust 2024: other threads may be reading it).
    pub fn load_from(
        file: Option<&Path>,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        // An empty variable counts as unset, the way most shells and tools treat it.
        let env = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let file = file
            .map(Path::to_path_buf)
            .or_else(|| env(CONFIG_FILE_VAR).map(PathBuf::from));
        let mut config = Config::default();
        if let Some(path) = file {
            Layer::from_file(&path)?.apply_to(&mut config);
        }
        Layer::from_env(&env)?.apply_to(&mut config);
        Ok(config)
    }
}

/// What one source says; `None` leaves the setting to the sources before it. The field names
/// are the keys of the TOML file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Layer {
    listen: Option<SocketAddr>,
    database_url: Option<SecretString>,
    mongodb_url: Option<SecretString>,
    mongodb_database: Option<String>,
    request_timeout_ms: Option<u64>,
    shutdown_grace_ms: Option<u64>,
    jwt_secret: Option<SecretString>,
    access_token_ttl_secs: Option<u64>,
    password_hash_memory_kib: Option<u32>,
    password_hash_iterations: Option<u32>,
    refresh_token_ttl_secs: Option<u64>,
    session_lifetime_secs: Option<u64>,
    email_verification_ttl_secs: Option<u64>,
    mail_echo: Option<bool>,
    rate_limit_per_sec: Option<u32>,
    rate_limit_burst: Option<u32>,
    login_max_failures: Option<u32>,
    login_max_failures_per_ip: Option<u32>,
    login_lockout_secs: Option<u64>,
    trust_x_forwarded_for: Option<bool>,
    cors_allowed_origins: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
}

impl Layer {
    fn from_file(path: &Path) -> Result<Layer, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        // toml's errors name the key, the line and the column; serde's `deny_unknown_fields`
        // turns a misspelt key into one of them instead of a silently ignored line.
        let layer: Layer = toml::from_str(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source: Box::new(source),
        })?;
        layer.validate(|key| format!("{key} in {}", path.display()))?;
        Ok(layer)
    }

    fn from_env(env: &impl Fn(&str) -> Option<String>) -> Result<Layer, ConfigError> {
        let layer = Layer {
            listen: parse_var(env, "SHOP_LISTEN")?,
            database_url: env("SHOP_DATABASE_URL").map(SecretString::from),
            mongodb_url: env("SHOP_MONGODB_URL").map(SecretString::from),
            mongodb_database: env("SHOP_MONGODB_DATABASE"),
            request_timeout_ms: parse_var(env, "SHOP_REQUEST_TIMEOUT_MS")?,
            shutdown_grace_ms: parse_var(env, "SHOP_SHUTDOWN_GRACE_MS")?,
            jwt_secret: env("SHOP_JWT_SECRET").map(SecretString::from),
            access_token_ttl_secs: parse_var(env, "SHOP_ACCESS_TOKEN_TTL_SECS")?,
            password_hash_memory_kib: parse_var(env, "SHOP_PASSWORD_HASH_MEMORY_KIB")?,
            password_hash_iterations: parse_var(env, "SHOP_PASSWORD_HASH_ITERATIONS")?,
            refresh_token_ttl_secs: parse_var(env, "SHOP_REFRESH_TOKEN_TTL_SECS")?,
            session_lifetime_secs: parse_var(env, "SHOP_SESSION_LIFETIME_SECS")?,
            email_verification_ttl_secs: parse_var(env, "SHOP_EMAIL_VERIFICATION_TTL_SECS")?,
            mail_echo: parse_var(env, "SHOP_MAIL_ECHO")?,
            rate_limit_per_sec: parse_var(env, "SHOP_RATE_LIMIT_PER_SEC")?,
            rate_limit_burst: parse_var(env, "SHOP_RATE_LIMIT_BURST")?,
            login_max_failures: parse_var(env, "SHOP_LOGIN_MAX_FAILURES")?,
            login_max_failures_per_ip: parse_var(env, "SHOP_LOGIN_MAX_FAILURES_PER_IP")?,
            login_lockout_secs: parse_var(env, "SHOP_LOGIN_LOCKOUT_SECS")?,
            trust_x_forwarded_for: parse_var(env, "SHOP_TRUST_X_FORWARDED_FOR")?,
            // A list in TOML; comma-separated in a variable.
            cors_allowed_origins: env("SHOP_CORS_ALLOWED_ORIGINS").map(|list| {
                list.split(',')
                    .map(|origin| origin.trim().to_owned())
                    .filter(|origin| !origin.is_empty())
                    .collect()
            }),
            tls_cert: env("SHOP_TLS_CERT").map(PathBuf::from),
            tls_key: env("SHOP_TLS_KEY").map(PathBuf::from),
        };
        layer.validate(|key| format!("SHOP_{}", key.to_uppercase()))?;
        Ok(layer)
    }

    /// Checks what the types alone do not: that the URLs parse, that timeouts are not zero.
    /// `name` turns a key into how the user spelt it in this source.
    fn validate(&self, name: impl Fn(&str) -> String) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            setting: name(key),
            reason,
        };
        if let Some(url) = &self.database_url {
            // The parser's message may quote the URL, password included: say only what is
            // expected. sqlx's parser ignores the scheme, so that is checked here.
            let url = url.expose_secret();
            let postgres_scheme =
                url.starts_with("postgres://") || url.starts_with("postgresql://");
            if !postgres_scheme || PgConnectOptions::from_str(url).is_err() {
                return Err(invalid(
                    "database_url",
                    "not a PostgreSQL URL (expected postgres://user:password@host:port/database)"
                        .to_owned(),
                ));
            }
        }
        if let Some(url) = &self.mongodb_url {
            ConnectionString::parse(url.expose_secret()).map_err(|_| {
                invalid(
                    "mongodb_url",
                    "not a MongoDB connection string (expected mongodb://host:port/?options)"
                        .to_owned(),
                )
            })?;
        }
        if let Some(name) = &self.mongodb_database
            && (name.is_empty() || name.contains(['/', '\\', '.', ' ', '"', '$']))
        {
            return Err(invalid(
                "mongodb_database",
                format!("`{name}` is not a MongoDB database name (no / \\ . space \" or $)"),
            ));
        }
        for (key, value) in [
            ("request_timeout_ms", self.request_timeout_ms),
            ("shutdown_grace_ms", self.shutdown_grace_ms),
        ] {
            if value == Some(0) {
                return Err(invalid(key, "must be at least 1 millisecond".to_owned()));
            }
        }
        self.validate_security(&invalid)?;
        if self.access_token_ttl_secs == Some(0) {
            return Err(invalid(
                "access_token_ttl_secs",
                "must be at least 1 second".to_owned(),
            ));
        }
        // HS256 with a short secret can be brute-forced offline from any one token.
        if let Some(secret) = &self.jwt_secret
            && secret.expose_secret().len() < MIN_JWT_SECRET_BYTES
        {
            return Err(invalid(
                "jwt_secret",
                format!("must be at least {MIN_JWT_SECRET_BYTES} bytes long"),
            ));
        }
        Ok(())
    }

    /// The checks of the account and security settings.
    fn validate_security(
        &self,
        invalid: &impl Fn(&str, String) -> ConfigError,
    ) -> Result<(), ConfigError> {
        // argon2's own floor is 8 KiB; anything that low is for tests only, and AppState
        // says so in the log when it starts with less than OWASP's 19 MiB.
        if self.password_hash_memory_kib.is_some_and(|kib| kib < 8) {
            return Err(invalid(
                "password_hash_memory_kib",
                "must be at least 8".to_owned(),
            ));
        }
        for (key, value) in [
            ("password_hash_iterations", self.password_hash_iterations),
            ("rate_limit_burst", self.rate_limit_burst),
            ("login_max_failures", self.login_max_failures),
            ("login_max_failures_per_ip", self.login_max_failures_per_ip),
        ] {
            if value == Some(0) {
                return Err(invalid(key, "must be at least 1".to_owned()));
            }
        }
        for (key, value) in [
            ("refresh_token_ttl_secs", self.refresh_token_ttl_secs),
            ("session_lifetime_secs", self.session_lifetime_secs),
            (
                "email_verification_ttl_secs",
                self.email_verification_ttl_secs,
            ),
            ("login_lockout_secs", self.login_lockout_secs),
        ] {
            if value == Some(0) {
                return Err(invalid(key, "must be at least 1 second".to_owned()));
            }
        }
        for origin in self.cors_allowed_origins.iter().flatten() {
            check_origin(origin).map_err(|reason| invalid("cors_allowed_origins", reason))?;
        }
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err(invalid(
                "tls_cert",
                "tls_cert and tls_key go together: set both or neither".to_owned(),
            ));
        }
        Ok(())
    }

    fn apply_to(self, config: &mut Config) {
        let Layer {
            listen,
            database_url,
            mongodb_url,
            mongodb_database,
            request_timeout_ms,
            shutdown_grace_ms,
            jwt_secret,
            access_token_ttl_secs,
            password_hash_memory_kib,
            password_hash_iterations,
            refresh_token_ttl_secs,
            session_lifetime_secs,
            email_verification_ttl_secs,
            mail_echo,
            rate_limit_per_sec,
            rate_limit_burst,
            login_max_failures,
            login_max_failures_per_ip,
            login_lockout_secs,
            trust_x_forwarded_for,
            cors_allowed_origins,
            tls_cert,
            tls_key,
        } = self;
        // Destructuring (rather than `self.listen`, ...) makes adding a field to `Layer`
        // without applying it here a compile error.
        if let Some(listen) = listen {
            config.listen = listen;
        }
        if let Some(url) = database_url {
            config.database_url = url;
        }
        if let Some(url) = mongodb_url {
            config.mongodb_url = url;
        }
        if let Some(name) = mongodb_database {
            config.mongodb_database = name;
        }
        if let Some(ms) = request_timeout_ms {
            config.request_timeout = Duration::from_millis(ms);
        }
        if let Some(ms) = shutdown_grace_ms {
            config.shutdown_grace = Duration::from_millis(ms);
        }
        if let Some(secret) = jwt_secret {
            config.jwt_secret = Some(secret);
        }
        if let Some(secs) = access_token_ttl_secs {
            config.access_token_ttl = Duration::from_secs(secs);
        }
        let accounts = &mut config.accounts;
        set(
            &mut accounts.password_hash_memory_kib,
            password_hash_memory_kib,
        );
        set(
            &mut accounts.password_hash_iterations,
            password_hash_iterations,
        );
        set(
            &mut accounts.refresh_token_ttl,
            refresh_token_ttl_secs.map(Duration::from_secs),
        );
        set(
            &mut accounts.session_lifetime,
            session_lifetime_secs.map(Duration::from_secs),
        );
        set(
            &mut accounts.email_verification_ttl,
            email_verification_ttl_secs.map(Duration::from_secs),
        );
        set(&mut accounts.mail_echo, mail_echo);
        let security = &mut config.security;
        set(&mut security.rate_limit_per_sec, rate_limit_per_sec);
        set(&mut security.rate_limit_burst, rate_limit_burst);
        set(&mut security.login_max_failures, login_max_failures);
        set(
            &mut security.login_max_failures_per_ip,
            login_max_failures_per_ip,
        );
        set(
            &mut security.login_lockout,
            login_lockout_secs.map(Duration::from_secs),
        );
        set(&mut security.trust_x_forwarded_for, trust_x_forwarded_for);
        set(&mut security.cors_allowed_origins, cors_allowed_origins);
        if let (Some(cert), Some(key)) = (tls_cert, tls_key) {
            security.tls = TlsSetting::Files { cert, key };
        }
    }
}

/// Overwrites `setting` when a source says something about it.
fn set<T>(setting: &mut T, value: Option<T>) {
    if let Some(value) = value {
        *setting = value;
    }
}

/// An origin as browsers send it: `scheme://host[:port]`, nothing after. A wildcard is
/// refused on purpose: "any site may call this API with the user's credentials" is never
/// what anyone means.
fn check_origin(origin: &str) -> Result<(), String> {
    let well_formed = (origin.starts_with("https://") || origin.starts_with("http://"))
        && origin
            .split_once("://")
            .is_some_and(|(_, rest)| !rest.is_empty() && !rest.contains(['/', '*', ' ', '?', '#']));
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{origin}` is not an origin (expected scheme://host[:port], e.g. https://shop.example)"
        ))
    }
}

/// Parses variable `var` when it is set, with an error that names it and quotes the value
/// (only ever called for settings that are not secret).
fn parse_var<T>(env: &impl Fn(&str) -> Option<String>, var: &str) -> Result<Option<T>, ConfigError>
where
    T: FromStr,
    T::Err: std::fmt::Display,
{
    env(var)
        .map(|value| {
            value.trim().parse().map_err(|e| ConfigError::Invalid {
                setting: var.to_owned(),
                reason: format!("`{value}` is invalid: {e}"),
            })
        })
        .transpose()
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| vars.get(name).cloned()
    }

    fn file(contents: &str) -> tempfile_free::TempFile {
        tempfile_free::TempFile::new(contents)
    }

    #[test]
    fn defaults_match_the_local_services() {
        let config = Config::load_from(None, env(&[])).unwrap();
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
    }

    #[test]
    fn the_environment_overrides_the_file_which_overrides_the_defaults() {
        let toml = file(
            "listen = \"0.0.0.0:8080\"\nrequest_timeout_ms = 2500\nmongodb_database = \"from_file\"\n",
        );
        let config =
            Config::load_from(Some(toml.path()), env(&[("SHOP_LISTEN", "127.0.0.1:9090")]))
                .unwrap();
        assert_eq!(
            config.listen.to_string(),
            "127.0.0.1:9090",
            "env beats file"
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
        let toml = file("mongodb_database = \"via_var\"\n");
        let path = toml.path().to_string_lossy().into_owned();
        let config = Config::load_from(None, env(&[(CONFIG_FILE_VAR, &path)])).unwrap();
        assert_eq!(config.mongodb_database, "via_var");
    }

    #[test]
    fn a_bad_variable_is_named_in_the_error() {
        let error = Config::load_from(None, env(&[("SHOP_LISTEN", "localhost")])).unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("SHOP_LISTEN: `localhost` is invalid"),
            "{message}"
        );
    }

    #[test]
    fn a_bad_secret_is_named_but_never_echoed() {
        let error = Config::load_from(
            None,
            env(&[("SHOP_DATABASE_URL", "mysql://root:hunter2@db/shop")]),
        )
        .unwrap_err();
        let message = error.to_string();
        assert!(
            message.starts_with("SHOP_DATABASE_URL: not a PostgreSQL URL"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
    }

    #[test]
    fn a_misspelt_key_in_the_file_is_an_error() {
        let toml = file("listne = \"127.0.0.1:1\"\n");
        let error = Config::load_from(Some(toml.path()), env(&[])).unwrap_err();
        assert!(matches!(error, ConfigError::Parse { .. }), "{error:?}");
    }

    #[test]
    fn a_zero_timeout_in_the_file_names_key_and_file() {
        let toml = file("request_timeout_ms = 0\n");
        let error = Config::load_from(Some(toml.path()), env(&[])).unwrap_err();
        let message = error.to_string();
        assert!(message.starts_with("request_timeout_ms in "), "{message}");
        assert!(
            message.ends_with("must be at least 1 millisecond"),
            "{message}"
        );
    }

    #[test]
    fn the_example_file_is_valid() {
        let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("shop.example.toml");
        Config::load_from(Some(&example), env(&[])).unwrap();
    }

    #[test]
    fn account_and_security_settings_come_from_variables() {
        let config = Config::load_from(
            None,
            env(&[
                ("SHOP_PASSWORD_HASH_MEMORY_KIB", "65536"),
                ("SHOP_LOGIN_MAX_FAILURES", "3"),
                ("SHOP_RATE_LIMIT_PER_SEC", "0"),
                (
                    "SHOP_CORS_ALLOWED_ORIGINS",
                    "https://shop.example, http://localhost:5173",
                ),
                ("SHOP_TLS_CERT", "cert.pem"),
                ("SHOP_TLS_KEY", "key.pem"),
            ]),
        )
        .unwrap();
        assert_eq!(config.accounts.password_hash_memory_kib, 65536);
        assert_eq!(config.accounts.password_hash_iterations, 2, "default");
        assert_eq!(config.security.login_max_failures, 3);
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
    }

    #[test]
    fn a_wildcard_origin_and_a_lone_certificate_are_refused() {
        let error =
            Config::load_from(None, env(&[("SHOP_CORS_ALLOWED_ORIGINS", "*")])).unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("SHOP_CORS_ALLOWED_ORIGINS: `*` is not an origin"),
            "{error}"
        );
        let error = Config::load_from(None, env(&[("SHOP_TLS_CERT", "cert.pem")])).unwrap_err();
        assert!(error.to_string().contains("set both or neither"), "{error}");
    }

    #[test]
    fn debug_output_redacts_the_urls() {
        let config = Config::load_from(
            None,
            env(&[("SHOP_DATABASE_URL", "postgres://app:hunter2@db/shop")]),
        )
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    /// A file in the system's temporary directory, removed on drop: enough for these tests
    /// without a `tempfile` dependency.
    mod tempfile_free {
        use std::path::{Path, PathBuf};

        pub struct TempFile(PathBuf);

        impl TempFile {
            pub fn new(contents: &str) -> Self {
                let path =
                    std::env::temp_dir().join(format!("shop-config-{}.toml", uuid::Uuid::new_v4()));
                std::fs::write(&path, contents).unwrap();
                Self(path)
            }

            pub fn path(&self) -> &Path {
                &self.0
            }
        }

        impl Drop for TempFile {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }
    }
}
