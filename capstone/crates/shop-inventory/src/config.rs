//! The inventory service's configuration: declared once in [`Config`], read at start-up from
//! `SHOP_INVENTORY__*` environment variables over the defaults, refused at once when wrong.
//!
//! A key is its variable without the prefix, lower-cased, with `__` between a section and its
//! key: `SHOP_INVENTORY__LISTEN=0.0.0.0:50051`, `SHOP_INVENTORY__DEFAULT_HOLD_SECS=600`,
//! `SHOP_INVENTORY__TELEMETRY__LOG_FORMAT=text`. The same shape as the shop API's settings,
//! smaller: this service has fewer knobs.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use figment::Figment;
use figment::providers::Env;
use secrecy::SecretString;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize};
use sqlx::postgres::PgConnectOptions;
use thiserror::Error;

/// The prefix of every setting's environment variable.
pub const ENV_PREFIX: &str = "SHOP_INVENTORY__";

// ANCHOR: config
/// Everything the service reads from its environment, parsed and checked.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Where the gRPC server listens.
    pub listen: SocketAddr,
    /// The inventory's own PostgreSQL database (the shop API's is another one).
    #[serde(deserialize_with = "postgres_url")]
    pub database_url: SecretString,
    /// How long a reservation that asks for no particular hold keeps its units.
    #[serde(rename = "default_hold_secs", deserialize_with = "secs::<_, 1, 3_600>")]
    pub default_hold: Duration,
    /// How often the reaper looks for expired reservations.
    #[serde(
        rename = "reaper_interval_ms",
        deserialize_with = "millis::<_, 10, 3_600_000>"
    )]
    pub reaper_interval: Duration,
    /// The longest one call may take, whatever deadline its caller sent (or none).
    #[serde(
        rename = "max_call_time_ms",
        deserialize_with = "millis::<_, 1, 600_000>"
    )]
    pub max_call_time: Duration,
    /// How long shutdown waits for calls in flight before it gives up on them.
    #[serde(
        rename = "shutdown_grace_ms",
        deserialize_with = "millis::<_, 1, 600_000>"
    )]
    pub shutdown_grace: Duration,
    /// Logs and trace export.
    pub telemetry: TelemetrySettings,
}
// ANCHOR_END: config

impl Default for Config {
    /// The local server `cargo xtask services up` starts; its `inventory` database is created
    /// by `--migrate`.
    fn default() -> Self {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], 50051)),
            database_url: SecretString::from(
                "postgres://postgres:postgres@127.0.0.1:5432/inventory",
            ),
            default_hold: Duration::from_secs(15 * 60),
            reaper_interval: Duration::from_secs(5),
            max_call_time: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
            telemetry: TelemetrySettings::default(),
        }
    }
}

/// The `telemetry` section.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TelemetrySettings {
    /// `auto` (JSON lines, readable text when stdout is a terminal), `json` or `text`.
    pub log_format: LogFormat,
    /// Which lines are written when `RUST_LOG` is unset.
    pub log_filter: String,
    /// The OTLP/HTTP traces URL of a collector; unset, no span leaves the process.
    pub otlp_endpoint: Option<String>,
}

impl Default for TelemetrySettings {
    fn default() -> Self {
        TelemetrySettings {
            log_format: LogFormat::Auto,
            // shop_telemetry must pass: a filtered-out server span is never created, and the
            // call then has no trace.
            log_filter: "shop_inventory=info,shop_telemetry=info,warn".to_owned(),
            otlp_endpoint: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Auto,
    Json,
    Text,
}

/// The configuration is not valid; each line names the key and what is wrong with it.
#[derive(Debug, Error)]
#[error("invalid configuration:\n{}", .0.join("\n"))]
pub struct ConfigError(Vec<String>);

impl Config {
    /// The defaults, then the process's `SHOP_INVENTORY__*` variables.
    pub fn load() -> Result<Config, ConfigError> {
        Config::from_figment(Figment::new().merge(Env::prefixed(ENV_PREFIX).split("__")))
    }

    /// The defaults under whatever `figment` provides: what a test uses to set keys without
    /// touching the process environment.
    pub fn from_figment(figment: Figment) -> Result<Config, ConfigError> {
        figment.extract::<Config>().map_err(|errors| {
            ConfigError(
                errors
                    .into_iter()
                    .map(|error| {
                        let key = error.path.join(".");
                        let key = if key.is_empty() { "?".to_owned() } else { key };
                        format!(
                            "{ENV_PREFIX}{}: {}",
                            key.to_uppercase().replace('.', "__"),
                            error.kind
                        )
                    })
                    .collect(),
            )
        })
    }
}

fn secs<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    in_range::<D, MIN, MAX>(deserializer, "seconds").map(Duration::from_secs)
}

fn millis<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
) -> Result<Duration, D::Error> {
    in_range::<D, MIN, MAX>(deserializer, "milliseconds").map(Duration::from_millis)
}

fn in_range<'de, D: Deserializer<'de>, const MIN: u64, const MAX: u64>(
    deserializer: D,
    unit: &str,
) -> Result<u64, D::Error> {
    let n = u64::deserialize(deserializer)?;
    if (MIN..=MAX).contains(&n) {
        Ok(n)
    } else {
        Err(de::Error::custom(format!(
            "{n} is out of range: from {MIN} to {MAX} {unit}"
        )))
    }
}

/// A PostgreSQL URL, checked without ever quoting it: it may carry a password.
fn postgres_url<'de, D: Deserializer<'de>>(deserializer: D) -> Result<SecretString, D::Error> {
    let url = String::deserialize(deserializer)?;
    let scheme = url.starts_with("postgres://") || url.starts_with("postgresql://");
    if !scheme || PgConnectOptions::from_str(&url).is_err() {
        return Err(de::Error::custom(
            "not a PostgreSQL URL (expected postgres://user:password@host:port/database)",
        ));
    }
    Ok(SecretString::from(url))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_the_local_services() {
        let config = Config::from_figment(Figment::new()).expect("the defaults are valid");
        assert_eq!(config.listen.port(), 50051);
        assert_eq!(config.default_hold, Duration::from_secs(900));
        assert_eq!(config.reaper_interval, Duration::from_secs(5));
    }

    #[test]
    fn keys_are_read_into_their_types() {
        let figment = Figment::new()
            .merge(("listen", "127.0.0.1:0"))
            .merge(("default_hold_secs", 60))
            .merge(("telemetry.log_format", "text"));
        let config = Config::from_figment(figment).expect("valid settings");
        assert_eq!(config.listen.port(), 0);
        assert_eq!(config.default_hold, Duration::from_secs(60));
        assert_eq!(config.telemetry.log_format, LogFormat::Text);
    }

    #[test]
    fn a_bad_value_is_refused_with_its_variable_named() {
        let figment = Figment::new().merge(("default_hold_secs", 0));
        let error = Config::from_figment(figment).expect_err("0 s is no hold");
        let text = error.to_string();
        assert!(text.contains("SHOP_INVENTORY__DEFAULT_HOLD_SECS"), "{text}");
        assert!(text.contains("out of range"), "{text}");
    }

    #[test]
    fn a_bad_database_url_is_refused_without_being_quoted() {
        let figment = Figment::new().merge(("database_url", "mysql://root:hunter2@db/x"));
        let error = Config::from_figment(figment).expect_err("not PostgreSQL");
        let text = error.to_string();
        assert!(text.contains("DATABASE_URL"), "{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }
}
