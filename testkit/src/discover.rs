//! Where is the service? The first two steps of discovery, using nothing but `std`.
//!
//! 1. The service's URL variable (`DATABASE_URL`, `DATABASE_REPLICA_URL`, `REDIS_URL`,
//!    `AMQP_URL`, `MONGODB_URL`). When
//!    it is set we use it or nothing: silently falling back to another server would run a
//!    learner's tests against a database they did not name.
//! 2. The default local port (what `docker compose up -d` and a local package install give).
//!
//! The third step, a throwaway container, needs an async Docker client and lives in
//! [`crate::containers`]. `xtask` uses this module for `services status` and for deciding which
//! tests to skip, so what the runner reports and what a test sees cannot disagree.
//!
//! Prometheus is the exception: a test does not share a server with other tests, it starts a
//! private one ([`crate::prometheus`]), so what must be there is the `prometheus` *program*.
//! Its "URL variable" is `PROMETHEUS_BIN` (a path or a command name; set, it is used or
//! nothing), then `prometheus` on `PATH`, then `/usr/bin/prometheus`; each candidate must answer
//! `--version`. The endpoint's `url` is then that program's path.

use std::fmt;
use std::io::Read;
use std::net::{TcpStream, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// The services a lesson, the capstone or a test may need.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Service {
    Postgres,
    Redis,
    RabbitMq,
    MongoDb,
    /// The `prometheus` program, from which each test starts a private server.
    Prometheus,
    /// A streaming standby of the local PostgreSQL on 127.0.0.1:5433, which `cargo xtask
    /// services up` creates (with `pg_basebackup`) and starts. Its tests are marked
    /// `needs_pg_replica`, a word that contains no other marker and that no other contains.
    PgReplica,
}

impl Service {
    pub const ALL: [Service; 6] = [
        Service::Postgres,
        Service::Redis,
        Service::RabbitMq,
        Service::MongoDb,
        Service::Prometheus,
        Service::PgReplica,
    ];

    /// The short name used on the command line (`--require postgres,redis`) and in
    /// `docker-compose.yml`.
    pub fn name(self) -> &'static str {
        match self {
            Service::Postgres => "postgres",
            Service::Redis => "redis",
            Service::RabbitMq => "rabbitmq",
            Service::MongoDb => "mongodb",
            Service::Prometheus => "prometheus",
            Service::PgReplica => "pg_replica",
        }
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Service::Postgres => "PostgreSQL",
            Service::Redis => "Redis",
            Service::RabbitMq => "RabbitMQ",
            Service::MongoDb => "MongoDB",
            Service::Prometheus => "Prometheus",
            Service::PgReplica => "PostgreSQL replica",
        }
    }

    /// The variable that names the service: a URL, or for Prometheus the program.
    pub fn env_var(self) -> &'static str {
        match self {
            Service::Postgres => "DATABASE_URL",
            Service::Redis => "REDIS_URL",
            Service::RabbitMq => "AMQP_URL",
            Service::MongoDb => "MONGODB_URL",
            Service::Prometheus => "PROMETHEUS_BIN",
            Service::PgReplica => "DATABASE_REPLICA_URL",
        }
    }

    /// The URL of a server on its default local port, with the credentials that
    /// `docker-compose.yml` sets (a trust-auth PostgreSQL ignores the password). For
    /// Prometheus, the long-running server of `cargo xtask services up` and docker compose,
    /// which tests do not use (see the module docs).
    pub fn default_url(self) -> &'static str {
        match self {
            Service::Postgres => "postgres://postgres:postgres@127.0.0.1:5432/postgres",
            Service::Redis => "redis://127.0.0.1:6379",
            Service::RabbitMq => "amqp://guest:guest@127.0.0.1:5672/%2f",
            Service::MongoDb => "mongodb://127.0.0.1:27017",
            Service::Prometheus => "http://127.0.0.1:9090",
            // The standby's own pg_hba.conf trusts 127.0.0.1, so no password is needed.
            Service::PgReplica => "postgres://postgres@127.0.0.1:5433/postgres",
        }
    }

    pub fn default_port(self) -> u16 {
        match self {
            Service::Postgres => 5432,
            Service::Redis => 6379,
            Service::RabbitMq => 5672,
            Service::MongoDb => 27017,
            Service::Prometheus => 9090,
            Service::PgReplica => 5433,
        }
    }

    /// The word a live test's name must contain, so the runner can skip it when the service
    /// is down (see the crate docs).
    pub fn test_marker(self) -> &'static str {
        match self {
            Service::Postgres => "needs_postgres",
            Service::Redis => "needs_redis",
            Service::RabbitMq => "needs_rabbitmq",
            Service::MongoDb => "needs_mongodb",
            Service::Prometheus => "needs_prometheus",
            Service::PgReplica => "needs_pg_replica",
        }
    }

    /// Is what a test needs a program on this machine (Prometheus) rather than a server it
    /// connects to? Such a service is "installed" or not, and no container can stand in for
    /// it, since the test runs the program itself.
    pub fn is_program(self) -> bool {
        matches!(self, Service::Prometheus)
    }

    /// Can testkit's `containers` feature start a throwaway container for it? Not for a
    /// program, nor for the replica: a standby needs its primary, which a throwaway container
    /// is not.
    pub fn has_test_container(self) -> bool {
        !self.is_program() && self != Service::PgReplica
    }
}

impl fmt::Display for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.display_name())
    }
}

/// An unknown service name, e.g. in `--require postgress`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownService(pub String);

impl fmt::Display for UnknownService {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<_> = Service::ALL.iter().map(|s| s.name()).collect();
        write!(
            f,
            "unknown service `{}` (known: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownService {}

impl FromStr for Service {
    type Err = UnknownService;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase();
        Service::ALL
            .into_iter()
            .find(|service| service.name() == wanted)
            .ok_or_else(|| UnknownService(s.to_owned()))
    }
}

/// How an endpoint was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    EnvVar,
    DefaultPort,
    Container,
    /// A program found on `PATH` or at its usual place (Prometheus).
    Installed,
}

/// A service that answered, and the URL to reach it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub service: Service,
    pub url: String,
    pub origin: Origin,
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = match self.origin {
            Origin::EnvVar => format!("from {}", self.service.env_var()),
            Origin::DefaultPort => "default port".to_owned(),
            Origin::Container => "throwaway container".to_owned(),
            Origin::Installed => "installed".to_owned(),
        };
        write!(f, "{} ({how})", redact(&self.url))
    }
}

/// Why a service could not be found: every place that was tried, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unavailable {
    pub service: Service,
    pub tried: Vec<String>,
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = if self.service.is_program() {
            "not installed"
        } else {
            "not reachable"
        };
        write!(f, "{} is {state} ({})", self.service, self.tried.join("; "))
    }
}

impl std::error::Error for Unavailable {}

/// How long a TCP probe waits. Local services answer in microseconds; a second is generous and
/// keeps `cargo xtask services status` snappy when everything is down.
const PROBE_TIMEOUT: Duration = Duration::from_millis(1000);

/// Steps 1 and 2 of discovery: the URL variable, else the default local port (for
/// Prometheus: the program, see the module docs).
pub fn locate(service: Service) -> Result<Endpoint, Unavailable> {
    if service == Service::Prometheus {
        return locate_prometheus();
    }
    let var = service.env_var();
    if let Ok(url) = std::env::var(var)
        && !url.trim().is_empty()
    {
        return match probe_url(&url, service.default_port()) {
            Ok(()) => Ok(Endpoint {
                service,
                url,
                origin: Origin::EnvVar,
            }),
            Err(why) => Err(Unavailable {
                service,
                tried: vec![format!("{var}={} {why}", redact(&url))],
            }),
        };
    }
    let url = service.default_url();
    match probe_url(url, service.default_port()) {
        Ok(()) => Ok(Endpoint {
            service,
            url: url.to_owned(),
            origin: Origin::DefaultPort,
        }),
        Err(why) => Err(Unavailable {
            service,
            tried: vec![
                format!("{var} is unset"),
                format!("127.0.0.1:{} {why}", service.default_port()),
            ],
        }),
    }
}

/// Where Debian's and Ubuntu's package puts it, for a `PATH` that lacks `/usr/bin`.
const PROMETHEUS_USUAL_PATH: &str = "/usr/bin/prometheus";

/// `PROMETHEUS_BIN`, else `prometheus` on `PATH`, else [`PROMETHEUS_USUAL_PATH`]; the first
/// candidate that exists must answer `--version`.
fn locate_prometheus() -> Result<Endpoint, Unavailable> {
    let service = Service::Prometheus;
    let var = service.env_var();
    if let Ok(named) = std::env::var(var)
        && !named.trim().is_empty()
    {
        // A bare name is looked up on PATH, as a shell would.
        let program = if named.contains('/') {
            PathBuf::from(&named)
        } else {
            find_on_path(&named).unwrap_or_else(|| PathBuf::from(&named))
        };
        return match prometheus_version(&program) {
            Ok(_) => Ok(Endpoint {
                service,
                url: program.display().to_string(),
                origin: Origin::EnvVar,
            }),
            Err(why) => Err(Unavailable {
                service,
                tried: vec![format!("{var}={named} {why}")],
            }),
        };
    }
    let mut tried = vec![format!("{var} is unset")];
    let candidates = [
        find_on_path("prometheus"),
        Some(PathBuf::from(PROMETHEUS_USUAL_PATH)),
    ];
    for program in candidates.into_iter().flatten() {
        if !program.is_file() {
            continue;
        }
        match prometheus_version(&program) {
            Ok(_) => {
                return Ok(Endpoint {
                    service,
                    url: program.display().to_string(),
                    origin: Origin::Installed,
                });
            }
            Err(why) => tried.push(format!("{} {why}", program.display())),
        }
    }
    if tried.len() == 1 {
        tried.push(format!(
            "no `prometheus` on PATH nor at {PROMETHEUS_USUAL_PATH}"
        ));
    }
    Err(Unavailable { service, tried })
}

/// The version line of a Prometheus program (`prometheus, version 2.42.0 (...)`), or why it
/// is not one. Bounded: a program that hangs on `--version` is reported, not waited for.
pub fn prometheus_version(program: &Path) -> Result<String, String> {
    let output = run_bounded(
        Command::new(program).arg("--version"),
        Duration::from_secs(10),
    )?;
    let first = output.lines().next().unwrap_or_default().trim();
    if first.starts_with("prometheus, version") {
        Ok(first.to_owned())
    } else {
        Err(format!(
            "is not Prometheus (`--version` said {:?})",
            first.chars().take(80).collect::<String>()
        ))
    }
}

/// The first `name` in a directory of `PATH` (and /usr/sbin, see [`command_exists`]).
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    let paths = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&paths)
        .chain(["/usr/sbin".into()])
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// Runs `command` to completion within `limit`, returning what it printed (stdout, then
/// stderr) when it succeeded.
fn run_bounded(command: &mut Command, limit: Duration) -> Result<String, String> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not be run: {e}"))?;
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("did not answer within {} s", limit.as_secs()));
            }
            Err(e) => return Err(format!("could not be waited for: {e}")),
        }
    };
    // Version banners are far smaller than a pipe's buffer, so reading after the exit
    // cannot have blocked the child.
    let mut printed = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut printed);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut printed);
    }
    if status.success() {
        Ok(printed)
    } else {
        Err(format!("failed ({status})"))
    }
}

fn probe_url(url: &str, default_port: u16) -> Result<(), String> {
    let Some((host, port)) = host_port(url, default_port) else {
        return Err("is not a URL this probe understands".to_owned());
    };
    probe(&host, port)
}

/// Opens (and closes) a TCP connection: "something listens there". Protocol-level health
/// checks belong to the clients; this only has to be fast and dependency-free.
pub fn probe(host: &str, port: u16) -> Result<(), String> {
    let addrs = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("does not resolve: {e}"))?;
    let mut last = String::from("resolves to no address");
    for addr in addrs {
        match TcpStream::connect_timeout(&addr, PROBE_TIMEOUT) {
            Ok(_) => return Ok(()),
            Err(e) => last = format!("does not answer: {e}"),
        }
    }
    Err(last)
}

/// Extracts `host` and `port` from `scheme://[user[:pass]@]host[:port][/path][?query]`.
/// A MongoDB seed list (`h1:1,h2:2`) yields its first host.
pub fn host_port(url: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, hp)| hp);
    let first = host_port.split(',').next()?;
    let (host, port) = if let Some(v6) = first.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        let port = after.strip_prefix(':');
        (host, port)
    } else {
        match first.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (first, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => default_port,
    };
    Some((host.to_owned(), port))
}

/// Hides the password in `scheme://user:password@host`, for anything we print.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

/// Does a Docker engine answer? (`docker --version` only proves there is a client.)
pub fn docker_engine_answers() -> bool {
    let child = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return false;
    };
    // `docker info` can hang on a half-configured remote context; never let it stall a run.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return status.success(),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
        }
    }
}

/// The exact commands that start (or install, then start) `service` on this machine. The
/// runner prints them beside every skipped test; `cargo xtask services` prints them too.
pub fn how_to_start(service: Service) -> Vec<String> {
    // Tests run the program themselves, so a Prometheus container would not help them.
    if service == Service::Prometheus {
        return how_to_install_prometheus();
    }
    // Not in docker-compose.yml: the standby is made from the local PostgreSQL.
    if service == Service::PgReplica {
        return vec![
            "cargo xtask services up   # creates (once, with pg_basebackup) and starts a \
             streaming standby of the local PostgreSQL on 127.0.0.1:5433"
                .to_owned(),
            format!(
                "or name a standby of your own in {}",
                Service::PgReplica.env_var()
            ),
        ];
    }
    if docker_engine_answers() {
        return vec![format!("docker compose up -d --wait {}", service.name())];
    }
    let on_path = |cmd: &str| command_exists(cmd);
    let sudo = if is_root() { "" } else { "sudo " };
    match service {
        Service::Postgres if on_path("pg_ctlcluster") => {
            let version = newest_cluster_version().unwrap_or_else(|| "15".to_owned());
            vec![format!(
                "{sudo}pg_ctlcluster --skip-systemctl-redirect {version} main start"
            )]
        }
        Service::Redis if on_path("redis-server") => vec![
            "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save \"\" --appendonly no"
                .to_owned(),
        ],
        Service::RabbitMq if on_path("rabbitmq-server") => vec![format!(
            "{sudo}rabbitmq-server -detached   # answers after ~10 s"
        )],
        Service::MongoDb if on_path("mongod") => vec![
            "mkdir -p /tmp/mongo-data && mongod --bind_ip 127.0.0.1 --port 27017 --dbpath /tmp/mongo-data --fork --logpath /tmp/mongod.log".to_owned(),
        ],
        // No server package and no Docker (the case on some CI machines): the workspace's
        // stand-in speaks enough of MongoDB's protocol for all but `needs_mongodb_real` tests.
        Service::MongoDb => vec![
            "cargo xtask services up   # starts the MongoDB stand-in (Python), as no MongoDB server is installed".to_owned(),
            "for a real server: install MongoDB Community Server (https://www.mongodb.com/docs/manual/installation/) or Docker".to_owned(),
        ],
        _ if on_path("apt-get") => {
            let package = match service {
                Service::Postgres => "postgresql",
                Service::Redis => "redis-server",
                _ => "rabbitmq-server",
            };
            vec![
                format!("{sudo}apt-get install -y {package}"),
                "then run `cargo xtask services status` again for the start command".to_owned(),
            ]
        }
        _ if on_path("brew") => {
            let formula = match service {
                Service::Postgres => "postgresql@16",
                Service::Redis => "redis",
                _ => "rabbitmq",
            };
            vec![
                format!("brew install {formula}"),
                format!("brew services start {formula}"),
            ]
        }
        _ => vec![format!(
            "install {service} (see the book's set-up chapter), or Docker and then `docker compose up -d`"
        )],
    }
}

/// How to get the `prometheus` program (tests start private servers from it; nothing needs
/// to run).
fn how_to_install_prometheus() -> Vec<String> {
    let sudo = if is_root() { "" } else { "sudo " };
    let then = "tests start their own private Prometheus from it; nothing needs to run";
    if command_exists("apt-get") {
        vec![
            format!("{sudo}apt-get install -y prometheus   # {then}"),
            "or `cargo xtask services up`, which installs it where it may (root, or sudo \
             without a password)"
                .to_owned(),
        ]
    } else if command_exists("brew") {
        vec![format!("brew install prometheus   # {then}")]
    } else {
        vec![format!(
            "download Prometheus from https://prometheus.io/download/ and put `prometheus` on \
             PATH, or name it in PROMETHEUS_BIN ({then})"
        )]
    }
}

/// Is `cmd` installed? Looks on PATH and in /usr/sbin, where Debian puts `rabbitmq-server` and
/// which is not on an ordinary user's PATH.
pub fn command_exists(cmd: &str) -> bool {
    find_on_path(cmd).is_some()
}

/// Are we root? (The heuristic the start commands' `sudo` prefix uses.)
pub fn is_root() -> bool {
    // No libc call needed: root's home is /root on every Linux we support, and HOME tells.
    std::env::var_os("USER").is_some_and(|u| u == "root")
        || std::env::var_os("HOME").is_some_and(|h| h == "/root")
}

/// The newest PostgreSQL cluster Debian set up: `/etc/postgresql/<version>/`. Versions are
/// whole numbers since PostgreSQL 10, so they are compared as numbers ("9" < "17").
fn newest_cluster_version() -> Option<String> {
    std::fs::read_dir(Path::new("/etc/postgresql"))
        .ok()?
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter_map(|name| Some((name.parse::<u32>().ok()?, name)))
        .max()
        .map(|(_, name)| name)
}

/// The name of the running test, as libtest names its thread (`module::test_fn`).
pub fn current_test_name() -> Option<String> {
    let thread = std::thread::current();
    let name = thread.name()?;
    (name != "main").then(|| name.to_owned())
}

/// Panics, with the rule spelled out, when a test that uses `service` lacks the
/// `needs_<service>` marker the runner skips by.
pub fn check_marker(service: Service) {
    if let Some(name) = current_test_name() {
        assert!(
            name.contains(service.test_marker()),
            "test `{name}` uses {service}, so its name must contain `{marker}` (as a module \
             `mod {marker} {{ ... }}` or in the function name). That is how `cargo xtask test` \
             skips it, and lists it, when {service} is down.",
            marker = service.test_marker()
        );
    }
}

/// Stops the test with a message that says what to do, when its service cannot be found.
pub fn unavailable_panic(why: &Unavailable) -> ! {
    let name = current_test_name().unwrap_or_else(|| "this test".to_owned());
    let start = how_to_start(why.service).join("\n    ");
    let verb = if why.service.is_program() {
        "Install"
    } else {
        "Start"
    };
    panic!(
        "`{name}` cannot run: {why}.\n  {verb} it with:\n    {start}\n  or run the suite through \
         `cargo xtask test`, which skips tests whose service is down and lists them."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_reads_every_url_shape_we_use() {
        let cases = [
            (
                "postgres://postgres:pw@127.0.0.1:5432/shop",
                ("127.0.0.1", 5432),
            ),
            ("redis://localhost", ("localhost", 6379)),
            ("amqp://guest:guest@rabbit:5673/%2f", ("rabbit", 5673)),
            ("mongodb://a:27018,b:27019/?replicaSet=rs0", ("a", 27018)),
            ("postgres://u@[::1]:6000/db", ("::1", 6000)),
            ("postgres://user:p@ss@host/db", ("host", 6379)),
        ];
        for (url, (host, port)) in cases {
            assert_eq!(
                host_port(url, 6379),
                Some((host.to_owned(), port)),
                "parsing {url}"
            );
        }
    }

    #[test]
    fn host_port_rejects_what_is_not_a_url() {
        for url in ["127.0.0.1:5432", "postgres://:5432/db", "redis://host:port"] {
            assert_eq!(host_port(url, 1), None, "{url} should not parse");
        }
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/shop?sslmode=disable"),
            "postgres://app:***@db:5432/shop?sslmode=disable"
        );
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
        assert_eq!(
            redact("amqp://guest@host/%2f"),
            "amqp://guest@host/%2f",
            "a user without a password has nothing to hide"
        );
    }

    #[test]
    fn service_names_round_trip_and_unknown_names_are_explained() {
        for service in Service::ALL {
            assert_eq!(service.name().parse::<Service>(), Ok(service));
        }
        let err = "postgress".parse::<Service>().unwrap_err();
        assert!(
            err.to_string()
                .contains("known: postgres, redis, rabbitmq, mongodb, prometheus, pg_replica")
        );
    }

    #[test]
    fn the_replica_marker_and_the_postgres_marker_never_match_each_other() {
        let replica = Service::PgReplica.test_marker();
        for service in Service::ALL {
            let other = service.test_marker();
            if service != Service::PgReplica {
                assert!(!replica.contains(other), "{replica} contains {other}");
                assert!(!other.contains(replica), "{other} contains {replica}");
            }
        }
        assert_eq!(Service::PgReplica.env_var(), "DATABASE_REPLICA_URL");
        assert_eq!(
            host_port(Service::PgReplica.default_url(), 5432),
            Some(("127.0.0.1".to_owned(), 5433))
        );
        // No container can be a standby of the local primary; the remedy is `services up`.
        assert!(!Service::PgReplica.has_test_container());
        let remedy = how_to_start(Service::PgReplica).join("\n");
        assert!(remedy.contains("cargo xtask services up"), "{remedy}");
        assert!(remedy.contains("DATABASE_REPLICA_URL"), "{remedy}");
    }

    #[test]
    #[should_panic(expected = "must contain `needs_redis`")]
    fn a_test_without_the_marker_is_refused() {
        // This test's own name lacks `needs_redis`: the runner could not skip it.
        check_marker(Service::Redis);
    }

    #[test]
    fn a_test_with_the_marker_passes_the_check() {
        let named = std::thread::Builder::new().name("needs_redis::cart_expires".to_owned());
        let checked = named.spawn(|| check_marker(Service::Redis)).unwrap().join();
        assert!(checked.is_ok(), "a test named needs_redis::... was refused");
    }

    #[test]
    fn a_closed_port_is_reported_not_hung_on() {
        // Bind then drop a listener: the port is free and nothing answers on it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let err = probe("127.0.0.1", port).unwrap_err();
        assert!(err.starts_with("does not answer"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_program_is_prometheus_only_if_its_version_says_so() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("testkit-fake-prom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = |name: &str, body: &str| {
            let path = dir.join(name);
            std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let real = fake(
            "prometheus",
            "echo 'prometheus, version 2.42.0+ds (branch: debian/sid)'; echo '  go version: go1.19'",
        );
        let impostor = fake("other", "echo 'other 1.0'");
        let broken = fake("broken", "exit 3");

        assert_eq!(
            prometheus_version(&real).as_deref(),
            Ok("prometheus, version 2.42.0+ds (branch: debian/sid)")
        );
        let err = prometheus_version(&impostor).unwrap_err();
        assert!(err.contains("is not Prometheus"), "{err}");
        let err = prometheus_version(&broken).unwrap_err();
        assert!(err.starts_with("failed"), "{err}");
        let err = prometheus_version(&dir.join("missing")).unwrap_err();
        assert!(err.starts_with("could not be run"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn prometheus_is_a_program_and_has_no_container() {
        assert!(Service::Prometheus.is_program());
        assert!(!Service::Prometheus.has_test_container());
        assert!(Service::ALL[..4].iter().all(|s| s.has_test_container()));
        let missing = Unavailable {
            service: Service::Prometheus,
            tried: vec!["PROMETHEUS_BIN is unset".to_owned()],
        };
        assert!(missing.to_string().contains("Prometheus is not installed"));
        // Tests need the program, so its remedy is an installation, never a container.
        let remedy = how_to_start(Service::Prometheus).join("\n");
        assert!(!remedy.contains("docker"), "{remedy}");
    }

    #[test]
    fn an_open_port_is_found() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        assert_eq!(probe("127.0.0.1", port), Ok(()));
    }
}
