//! A private Prometheus server for one test: it scrapes the targets the test names every
//! second, optionally evaluates the repository's recording and alerting rules
//! (`observability/prometheus/rules/`), and answers PromQL queries.
//!
//! ```no_run
//! # async fn needs_prometheus_example() -> Result<(), testkit::prometheus::Error> {
//! use std::time::Duration;
//! use testkit::prometheus::{Config, Prometheus, Target};
//!
//! // In a test named `needs_prometheus::...`, with the service under test on `addr`:
//! let addr = "127.0.0.1:8080";
//! let prometheus =
//!     Prometheus::start(Config::new().scrape(Target::new("shop-api", addr)).with_repository_rules())
//!         .await?;
//! let up = prometheus
//!     .wait_for(r#"up{job="shop-api"}"#, |s| s.iter().any(|s| s.value == 1.0), Duration::from_secs(30))
//!     .await?;
//! assert_eq!(up[0].label("instance"), Some(addr));
//! # Ok(())
//! # }
//! ```
//!
//! Why a server of its own rather than one shared by every test (as PostgreSQL is)? A
//! Prometheus's configuration *is* the test's setup (which targets, which rules), and its
//! answers depend on everything it has scraped; two tests sharing one would read each other's
//! series. Starting one takes well under a second.
//!
//! Each server listens on a free loopback port, keeps its data in a temporary directory, and
//! is killed (and the directory removed) when the [`Prometheus`] is dropped. What it needs is
//! the `prometheus` program (see [`crate::discover`]: `PROMETHEUS_BIN`, else `PATH`); a test
//! using it is named `needs_prometheus`, so `cargo xtask test` skips it where the program is
//! not installed.

use std::collections::BTreeMap;
use std::fmt;
use std::fs::{self, File};
use std::io::ErrorKind;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::discover::{self, Service};

/// One scrape target: Prometheus's `job` label, a `host:port`, and the page to fetch.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub job: String,
    pub address: String,
    pub metrics_path: String,
}

impl Target {
    /// Scrapes `http://<address>/metrics` as job `job`.
    pub fn new(job: impl Into<String>, address: impl Into<String>) -> Self {
        Target {
            job: job.into(),
            address: address.into(),
            metrics_path: "/metrics".to_owned(),
        }
    }

    /// Another page than `/metrics`.
    pub fn metrics_path(mut self, path: impl Into<String>) -> Self {
        self.metrics_path = path.into();
        self
    }
}

/// What a private Prometheus scrapes and which rule files it evaluates.
#[derive(Clone, Debug, Default)]
pub struct Config {
    targets: Vec<Target>,
    rule_files: Vec<PathBuf>,
}

impl Config {
    pub fn new() -> Self {
        Config::default()
    }

    /// Scrape `target` every second. Job names must differ between targets.
    pub fn scrape(mut self, target: Target) -> Self {
        self.targets.push(target);
        self
    }

    /// Evaluate the repository's rules (`observability/prometheus/rules/*.yml`) every second,
    /// so a test can query the recording rules' series and the `ALERTS` series.
    pub fn with_repository_rules(self) -> Self {
        self.rule_files(repository_rules())
    }

    /// Evaluate the rule files matching `pattern` (a path whose last part may hold a `*`).
    pub fn rule_files(mut self, pattern: impl Into<PathBuf>) -> Self {
        self.rule_files.push(pattern.into());
        self
    }

    /// The configuration file's text. Every string is written as a JSON string, which is
    /// also a YAML string, so no job name or path can break the file.
    fn render(&self) -> String {
        let quote = |s: &str| Value::String(s.to_owned()).to_string();
        // A scrape may not take longer than the interval between scrapes.
        let mut yaml = String::from(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n",
        );
        yaml.push_str("rule_files:");
        if self.rule_files.is_empty() {
            yaml.push_str(" []\n");
        } else {
            yaml.push('\n');
            for file in &self.rule_files {
                yaml.push_str(&format!("  - {}\n", quote(&file.to_string_lossy())));
            }
        }
        yaml.push_str("scrape_configs:");
        if self.targets.is_empty() {
            yaml.push_str(" []\n");
        } else {
            yaml.push('\n');
            for target in &self.targets {
                yaml.push_str(&format!(
                    "  - job_name: {}\n    metrics_path: {}\n    static_configs:\n      - targets: [{}]\n",
                    quote(&target.job),
                    quote(&target.metrics_path),
                    quote(&target.address),
                ));
            }
        }
        yaml
    }
}

/// The repository's Prometheus files: `observability/prometheus/` with `prometheus.yml`,
/// `rules/` and the promtool tests in `tests/`.
pub fn repository_dir() -> PathBuf {
    // testkit sits at the root of the workspace, beside observability/.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")))
        .join("observability")
        .join("prometheus")
}

/// The repository's rule files, as a pattern Prometheus expands.
pub fn repository_rules() -> PathBuf {
    repository_dir().join("rules").join("*.yml")
}

/// One element of a query's answer: a series' labels (with `__name__` when it has a name) and
/// its value at the query's time.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels.get(name).map(String::as_str)
    }
}

impl fmt::Display for Sample {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = self.label("__name__").unwrap_or_default();
        let labels: Vec<String> = self
            .labels
            .iter()
            .filter(|(key, _)| *key != "__name__")
            .map(|(key, value)| format!("{key}={value:?}"))
            .collect();
        write!(f, "{name}{{{}}} {}", labels.join(", "), self.value)
    }
}

/// A scrape target as Prometheus sees it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TargetHealth {
    pub job: String,
    pub instance: String,
    pub scrape_url: String,
    pub health: Health,
    /// Why the last scrape failed (empty when it did not).
    pub last_error: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Health {
    Up,
    Down,
    /// Not scraped yet.
    Unknown,
}

/// What can go wrong starting or asking a private Prometheus.
#[derive(thiserror::Error)]
pub enum Error {
    #[error("could not prepare {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("could not start {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("Prometheus stopped while starting ({status}); the last lines of its log:\n{log}")]
    Exited { status: String, log: String },
    #[error(
        "Prometheus did not report ready at {url}/-/ready within {seconds} s; the last lines \
         of its log:\n{log}"
    )]
    NotReady {
        url: String,
        seconds: u64,
        log: String,
    },
    #[error("could not ask Prometheus ({what}): {source}")]
    Http {
        what: String,
        source: reqwest::Error,
    },
    #[error("Prometheus refused the query `{expr}`: {kind}: {message}")]
    Query {
        expr: String,
        kind: String,
        message: String,
    },
    #[error("Prometheus's answer to {what} is not what its API documents: {detail}")]
    Unexpected { what: String, detail: String },
    #[error("`{expr}` gave no matching answer within {seconds} s; its last answer: {last}")]
    Timeout {
        expr: String,
        seconds: u64,
        last: String,
    },
}

// Debug shows the message itself: a test's `.unwrap()` then prints the log lines readably.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// How long a start may take before it is reported (a cold start is well under a second).
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// Another port is tried when the one picked was taken in between; this many times.
const START_ATTEMPTS: u32 = 5;
/// How many of the log's last lines an error shows.
const LOG_LINES: usize = 20;
/// Between two polls of `/-/ready`.
const POLL: Duration = Duration::from_millis(100);
/// Between two queries of [`Prometheus::wait_for`]: new data arrives once a second.
const QUERY_POLL: Duration = Duration::from_millis(250);

/// A running private Prometheus. Dropping it kills the server and removes its data.
pub struct Prometheus {
    child: Child,
    dir: PathBuf,
    url: String,
    port: u16,
    client: reqwest::Client,
}

impl Prometheus {
    /// Starts a Prometheus for `config` and waits until it reports ready.
    ///
    /// The calling test's name must contain `needs_prometheus`; a test without the program
    /// installed stops here with the command that installs it (as the other services' helpers
    /// do), while a server that fails to start is an [`Error`] quoting its log.
    pub async fn start(config: Config) -> Result<Prometheus, Error> {
        discover::check_marker(Service::Prometheus);
        let program = match discover::locate(Service::Prometheus) {
            Ok(endpoint) => PathBuf::from(endpoint.url),
            Err(why) => discover::unavailable_panic(&why),
        };
        let client = reqwest::Client::builder()
            // A proxy from the environment must not see loopback requests.
            .no_proxy()
            .timeout(Duration::from_secs(10))
            .build()
            .map_err(|source| Error::Http {
                what: "building a client".to_owned(),
                source,
            })?;
        let mut attempt = 1;
        loop {
            let mut started = Prometheus::spawn(&program, &config, client.clone())?;
            match started.wait_until_ready().await {
                Ok(()) => return Ok(started),
                // The port was free when picked and taken before Prometheus bound it.
                Err(Error::Exited { log, .. })
                    if attempt < START_ATTEMPTS && log.contains("address already in use") =>
                {
                    attempt += 1;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// One attempt: a fresh directory, a free port, the process.
    fn spawn(program: &Path, config: &Config, client: reqwest::Client) -> Result<Self, Error> {
        let dir = fresh_dir()?;
        match launch(program, config, &dir) {
            Ok((child, port)) => Ok(Prometheus {
                child,
                dir,
                url: format!("http://127.0.0.1:{port}"),
                port,
                client,
            }),
            Err(e) => {
                let _ = fs::remove_dir_all(&dir);
                Err(e)
            }
        }
    }

    async fn wait_until_ready(&mut self) -> Result<(), Error> {
        let deadline = Instant::now() + READY_TIMEOUT;
        let ready = format!("{}/-/ready", self.url);
        loop {
            // A configuration Prometheus rejects, or a port taken, ends the process at once.
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(Error::Exited {
                    status: status.to_string(),
                    log: self.log_tail(),
                });
            }
            if let Ok(response) = self.client.get(&ready).send().await
                && response.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(Error::NotReady {
                    url: self.url.clone(),
                    seconds: READY_TIMEOUT.as_secs(),
                    log: self.log_tail(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// The base URL, `http://127.0.0.1:<port>` (the web UI, for a test being debugged).
    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }

    fn log_tail(&self) -> String {
        let log = self.log();
        let lines: Vec<&str> = log.lines().collect();
        let from = lines.len().saturating_sub(LOG_LINES);
        if lines.is_empty() {
            "(empty)".to_owned()
        } else {
            lines[from..].join("\n")
        }
    }

    /// Evaluates the instant query `expr` now: one [`Sample`] per series of the answer (a
    /// scalar answer is one sample without labels).
    pub async fn query(&self, expr: &str) -> Result<Vec<Sample>, Error> {
        let what = format!("the query `{expr}`");
        let body = self
            .get_json("/api/v1/query", &[("query", expr)], &what)
            .await?;
        if body["status"] != "success" {
            return Err(Error::Query {
                expr: expr.to_owned(),
                kind: body["errorType"].as_str().unwrap_or("error").to_owned(),
                message: body["error"].as_str().unwrap_or_default().to_owned(),
            });
        }
        parse_query_data(&body["data"]).map_err(|detail| Error::Unexpected { what, detail })
    }

    /// Polls `expr` until `accept` approves its answer, and returns that answer. Gives up
    /// after `timeout` with the last answer; a query Prometheus refuses fails at once.
    pub async fn wait_for(
        &self,
        expr: &str,
        accept: impl Fn(&[Sample]) -> bool,
        timeout: Duration,
    ) -> Result<Vec<Sample>, Error> {
        let deadline = Instant::now() + timeout;
        loop {
            let last = match self.query(expr).await {
                Ok(samples) if accept(&samples) => return Ok(samples),
                Ok(samples) if samples.is_empty() => "no series".to_owned(),
                Ok(samples) => samples
                    .iter()
                    .map(Sample::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
                Err(e @ Error::Query { .. }) => return Err(e),
                Err(e) => e.to_string(),
            };
            if Instant::now() >= deadline {
                return Err(Error::Timeout {
                    expr: expr.to_owned(),
                    seconds: timeout.as_secs(),
                    last,
                });
            }
            tokio::time::sleep(QUERY_POLL).await;
        }
    }

    /// The scrape targets and their health.
    pub async fn targets(&self) -> Result<Vec<TargetHealth>, Error> {
        let what = "the targets".to_owned();
        let body = self
            .get_json("/api/v1/targets", &[("state", "active")], &what)
            .await?;
        parse_targets(&body["data"]).map_err(|detail| Error::Unexpected { what, detail })
    }

    async fn get_json(
        &self,
        path: &str,
        query: &[(&str, &str)],
        what: &str,
    ) -> Result<Value, Error> {
        let http = |source| Error::Http {
            what: what.to_owned(),
            source,
        };
        // Refused queries come back as 400 or 422 with a JSON body that says why, so the
        // body is read whatever the status.
        self.client
            .get(format!("{}{path}", self.url))
            .query(query)
            .send()
            .await
            .map_err(http)?
            .json::<Value>()
            .await
            .map_err(http)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        // SIGKILL, then reap it: no zombie outlives the test, and the data goes with it.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Writes the configuration into `dir` and starts Prometheus on a free port, logging to
/// `dir/prometheus.log`.
fn launch(program: &Path, config: &Config, dir: &Path) -> Result<(Child, u16), Error> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| Error::Io { path, source }
    };
    let config_file = dir.join("prometheus.yml");
    fs::write(&config_file, config.render()).map_err(io(&config_file))?;
    let log_file = dir.join("prometheus.log");
    let stdout = File::create(&log_file).map_err(io(&log_file))?;
    let stderr = stdout.try_clone().map_err(io(&log_file))?;
    let port = free_port().map_err(io(Path::new("127.0.0.1:0")))?;
    let child = Command::new(program)
        .arg(format!("--config.file={}", config_file.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(stderr)
        .spawn()
        .map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?;
    Ok((child, port))
}

/// A directory of its own under the system's temporary directory.
fn fresh_dir() -> Result<PathBuf, Error> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let base = std::env::temp_dir();
    loop {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = base.join(format!(
            "testkit-prometheus-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        match fs::create_dir(&dir) {
            Ok(()) => return Ok(dir),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(source) => return Err(Error::Io { path: dir, source }),
        }
    }
}

/// A loopback port nothing listens on right now. Another process may take it before
/// Prometheus binds it; [`Prometheus::start`] then tries another.
fn free_port() -> std::io::Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// `data` of a `/api/v1/query` answer: a vector or a scalar.
fn parse_query_data(data: &Value) -> Result<Vec<Sample>, String> {
    match data["resultType"].as_str() {
        Some("vector") => data["result"]
            .as_array()
            .ok_or("a vector without a result list")?
            .iter()
            .map(|element| {
                let labels = element["metric"]
                    .as_object()
                    .ok_or("a vector element without `metric`")?
                    .iter()
                    .map(|(key, value)| {
                        let value = value.as_str().ok_or("a label value that is not a string")?;
                        Ok((key.clone(), value.to_owned()))
                    })
                    .collect::<Result<BTreeMap<_, _>, String>>()?;
                Ok(Sample {
                    labels,
                    value: sample_value(&element["value"])?,
                })
            })
            .collect(),
        Some("scalar") => Ok(vec![Sample {
            labels: BTreeMap::new(),
            value: sample_value(&data["result"])?,
        }]),
        Some("matrix") => Err(
            "a range vector (`expr[5m]`): ask for an instant vector, e.g. rate(expr[5m])"
                .to_owned(),
        ),
        other => Err(format!("result type {other:?}")),
    }
}

/// `[<unix time>, "<value>"]`, the value a string so that NaN and infinities survive JSON.
fn sample_value(pair: &Value) -> Result<f64, String> {
    let text = pair[1]
        .as_str()
        .ok_or_else(|| format!("a sample that is not [time, \"value\"]: {pair}"))?;
    match text {
        "NaN" => Ok(f64::NAN),
        "+Inf" => Ok(f64::INFINITY),
        "-Inf" => Ok(f64::NEG_INFINITY),
        _ => text
            .parse()
            .map_err(|_| format!("a sample value that is not a number: {text:?}")),
    }
}

/// `data` of a `/api/v1/targets` answer.
fn parse_targets(data: &Value) -> Result<Vec<TargetHealth>, String> {
    let text = |value: &Value| value.as_str().unwrap_or_default().to_owned();
    data["activeTargets"]
        .as_array()
        .ok_or("no `activeTargets` list")?
        .iter()
        .map(|target| {
            Ok(TargetHealth {
                job: text(&target["labels"]["job"]),
                instance: text(&target["labels"]["instance"]),
                scrape_url: text(&target["scrapeUrl"]),
                health: match target["health"].as_str() {
                    Some("up") => Health::Up,
                    Some("down") => Health::Down,
                    Some("unknown") => Health::Unknown,
                    other => return Err(format!("target health {other:?}")),
                },
                last_error: text(&target["lastError"]),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_configuration_scrapes_every_target_every_second() {
        let config = Config::new()
            .scrape(Target::new("shop-api", "127.0.0.1:8080"))
            .scrape(Target::new("inventory", "127.0.0.1:9464").metrics_path("/m"))
            .rule_files("/repo/observability/prometheus/rules/*.yml");
        assert_eq!(
            config.render(),
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - \"/repo/observability/prometheus/rules/*.yml\"\n\
             scrape_configs:\n\
             \x20 - job_name: \"shop-api\"\n    metrics_path: \"/metrics\"\n    static_configs:\n      - targets: [\"127.0.0.1:8080\"]\n\
             \x20 - job_name: \"inventory\"\n    metrics_path: \"/m\"\n    static_configs:\n      - targets: [\"127.0.0.1:9464\"]\n"
        );
    }

    #[test]
    fn an_empty_configuration_is_still_valid_yaml() {
        let text = Config::new().render();
        assert!(text.contains("rule_files: []\n"), "{text}");
        assert!(text.ends_with("scrape_configs: []\n"), "{text}");
    }

    #[test]
    fn odd_characters_cannot_break_the_file() {
        let text = Config::new()
            .scrape(Target::new("a\"b\nc: d", "h:1"))
            .render();
        assert!(text.contains(r#"job_name: "a\"b\nc: d""#), "{text}");
    }

    #[test]
    fn the_repository_rules_are_found_beside_testkit() {
        let pattern = repository_rules();
        let dir = pattern.parent().unwrap();
        assert!(
            dir.ends_with("observability/prometheus/rules"),
            "{pattern:?}"
        );
        assert!(
            dir.join("slo.yml").is_file(),
            "{} should hold slo.yml",
            dir.display()
        );
    }

    #[test]
    fn vectors_and_scalars_become_samples() {
        let vector = json!({
            "resultType": "vector",
            "result": [
                {"metric": {"__name__": "up", "job": "shop-api"}, "value": [1.5, "1"]},
                {"metric": {"job": "x"}, "value": [1.5, "NaN"]},
                {"metric": {}, "value": [1.5, "+Inf"]},
            ]
        });
        let samples = parse_query_data(&vector).unwrap();
        assert_eq!(samples.len(), 3);
        assert_eq!(samples[0].label("job"), Some("shop-api"));
        assert_eq!(samples[0].value, 1.0);
        assert_eq!(samples[0].to_string(), "up{job=\"shop-api\"} 1");
        assert!(samples[1].value.is_nan());
        assert_eq!(samples[2].value, f64::INFINITY);

        let scalar = json!({"resultType": "scalar", "result": [1.5, "0.25"]});
        assert_eq!(
            parse_query_data(&scalar).unwrap(),
            vec![Sample {
                labels: BTreeMap::new(),
                value: 0.25
            }]
        );
    }

    #[test]
    fn answers_that_are_not_instant_vectors_are_explained() {
        let matrix = json!({"resultType": "matrix", "result": []});
        assert!(
            parse_query_data(&matrix)
                .unwrap_err()
                .contains("range vector")
        );
        let garbled =
            json!({"resultType": "vector", "result": [{"metric": {}, "value": [1, "x"]}]});
        assert!(
            parse_query_data(&garbled)
                .unwrap_err()
                .contains("not a number")
        );
    }

    #[test]
    fn targets_report_their_health() {
        let data = json!({"activeTargets": [
            {"labels": {"job": "shop-api", "instance": "127.0.0.1:1"},
             "scrapeUrl": "http://127.0.0.1:1/metrics", "health": "down",
             "lastError": "connection refused"},
            {"labels": {"job": "b", "instance": "i"}, "scrapeUrl": "u", "health": "up", "lastError": ""},
        ]});
        let targets = parse_targets(&data).unwrap();
        assert_eq!(targets[0].health, Health::Down);
        assert_eq!(targets[0].last_error, "connection refused");
        assert_eq!(targets[1].health, Health::Up);
        assert!(parse_targets(&json!({"activeTargets": [{"health": "sideways"}]})).is_err());
    }
}
