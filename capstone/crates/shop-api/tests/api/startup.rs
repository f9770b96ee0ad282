//! What the binary checks before it serves (the database is reachable, exists, and has the
//! schema this build expects; the configuration is valid), and how it serves: connections
//! bounded in time and number, logs without colour codes when they go to a file or a pipe,
//! and a clean stop on SIGTERM.

use secrecy::SecretString;
use shop_api::Config;
use shop_api::db::{self, DbStartupError};

fn config_for(url: &str) -> Config {
    Config {
        database_url: SecretString::from(url),
        ..Config::default()
    }
}

#[tokio::test]
async fn an_unreachable_postgres_is_one_line_that_says_how_to_start_it() {
    let error = db::connect(&config_for("postgres://postgres@127.0.0.1:1/shop"), false)
        .await
        .unwrap_err();

    assert!(
        matches!(error, DbStartupError::Unreachable { .. }),
        "{error:?}"
    );
    let message = error.to_string();
    assert!(
        message.starts_with("PostgreSQL at 127.0.0.1:1/shop is not reachable"),
        "{message}"
    );
    assert!(message.contains("cargo xtask services up"), "{message}");
    assert!(!message.contains('\n'), "{message}");
}

mod needs_postgres {
    use sqlx::ConnectOptions;

    use super::*;

    #[tokio::test]
    async fn a_fresh_database_is_refused_until_migrated() {
        let database = testkit::postgres().await;

        let error = db::check_migrations(database.pool()).await.unwrap_err();
        assert!(
            matches!(error, DbStartupError::PendingMigrations { count, .. } if count == shop_db::MIGRATOR.iter().count()),
            "{error:?}"
        );
        assert!(error.to_string().contains("--migrate"));

        db::migrate(database.pool()).await.unwrap();
        db::check_migrations(database.pool()).await.unwrap();
    }

    #[tokio::test]
    async fn a_missing_database_is_created_only_with_migrate() {
        let server = testkit::postgres().await;
        let name = format!("{}_created", server.name());
        let url = server
            .connect_options()
            .database(&name)
            .to_url_lossy()
            .to_string();
        let config = config_for(&url);

        let error = db::connect(&config, false).await.unwrap_err();
        assert!(
            matches!(error, DbStartupError::MissingDatabase { .. }),
            "{error:?}"
        );

        let pool = db::connect(&config, true).await.unwrap();
        db::migrate(&pool).await.unwrap();
        db::check_migrations(&pool).await.unwrap();
        pool.close().await;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            r#"DROP DATABASE "{name}" WITH (FORCE)"#
        )))
        .execute(server.pool())
        .await
        .unwrap();
    }
}

/// The `shop-api` binary with no `SHOP_*` variable from the environment the tests run in.
pub fn shop_api() -> std::process::Command {
    clean(env!("CARGO_BIN_EXE_shop-api"))
}

/// The `shop-notify` worker binary, with the same clean environment.
fn shop_notify() -> std::process::Command {
    clean(env!("CARGO_BIN_EXE_shop-notify"))
}

/// `binary` without the `SHOP_*` variables of the environment the tests run in.
fn clean(binary: &str) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SHOP_") {
            command.env_remove(name);
        }
    }
    command.stdin(std::process::Stdio::null());
    command
}

#[test]
fn the_notification_worker_says_what_it_lacks_and_never_quotes_a_url() {
    // No mail server configured: the default is the development outbox, which a worker
    // cannot deliver to.
    let output = shop_notify().output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SHOP_MAIL__SMTP_SERVER"), "{stderr}");

    let output = shop_notify()
        .env("SHOP_MAIL__SMTP_SERVER", "127.0.0.1:1025")
        .env("SHOP_EVENTS__AMQP_URL", "amqp//guest:hunter2@broker")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not an AMQP URL"), "{stderr}");
    assert!(!stderr.contains("hunter2"), "{stderr}");

    let output = shop_notify().arg("--smtp").output().unwrap();
    assert_eq!(
        output.status.code(),
        Some(2),
        "a bad flag is clap's usage error"
    );
}

#[test]
fn a_malformed_config_file_stops_the_start_without_quoting_its_lines() {
    let path = std::env::temp_dir().join(format!("shop-{}.toml", uuid::Uuid::new_v4()));
    // The closing quote is missing: the TOML parser's own message would print this line.
    std::fs::write(
        &path,
        "listen = \"127.0.0.1:0\"\ndatabase_url = \"postgres://shop:hunter2@db/shop\n",
    )
    .unwrap();
    let output = shop_api().arg("--config").arg(&path).output().unwrap();
    std::fs::remove_file(&path).unwrap();

    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("not valid TOML"), "{stderr}");
    assert!(stderr.contains(":2:"), "the line is named: {stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the line is not quoted: {stderr}"
    );
}

#[test]
fn an_out_of_range_setting_stops_the_start_with_its_name() {
    // Accepted once, this overflowed date arithmetic on the first sign-up.
    let output = shop_api()
        .env("SHOP_ACCESS_TOKEN_TTL_SECS", "18446744073709551615")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("SHOP_ACCESS_TOKEN_TTL_SECS"), "{stderr}");
    assert!(stderr.contains("from 1 to 86400 seconds"), "{stderr}");
}

mod needs_postgres_serving {
    use std::time::Duration;

    use tokio::net::TcpStream;

    use crate::helpers::TestApp;

    /// Waits for the server to close `stream`; false if it is still open after five seconds.
    async fn closed_by_server(stream: &mut TcpStream) -> bool {
        testkit::net::closed_by_server(stream, Duration::from_secs(5)).await
    }

    #[tokio::test]
    async fn a_connection_that_sends_nothing_is_closed_after_the_header_timeout() {
        let app = TestApp::spawn_with(|config| {
            config.connections.header_read_timeout = Duration::from_millis(300);
        })
        .await;
        let mut silent = TcpStream::connect(app.addr).await.unwrap();
        assert!(
            closed_by_server(&mut silent).await,
            "a silent connection stayed open"
        );
        // The service still answers everyone else.
        assert_eq!(app.get("/healthz").await.status(), 200);
    }

    #[tokio::test]
    async fn one_address_cannot_hold_more_connections_than_its_share() {
        let app = TestApp::spawn_with(|config| {
            config.connections.max_connections_per_ip = 2;
            config.connections.header_read_timeout = Duration::from_secs(30);
        })
        .await;
        let _first = TcpStream::connect(app.addr).await.unwrap();
        let _second = TcpStream::connect(app.addr).await.unwrap();
        // The server accepts in order; give it the two before the third arrives.
        tokio::time::sleep(Duration::from_millis(100)).await;
        let mut third = TcpStream::connect(app.addr).await.unwrap();
        assert!(
            closed_by_server(&mut third).await,
            "a third connection was kept"
        );
    }

    /// The real binary, against a migrated database: in a pipe it logs JSON lines to stdout
    /// (chapter 07), and it stops cleanly (exit 0) on SIGTERM.
    #[cfg(unix)]
    #[tokio::test]
    async fn the_binary_logs_json_lines_to_a_pipe_and_stops_on_sigterm() {
        use sqlx::ConnectOptions;

        let database = testkit::postgres().await;
        shop_db::MIGRATOR.run(database.pool()).await.unwrap();
        let url = database.connect_options().to_url_lossy().to_string();
        let mut service = super::Service::start(
            super::shop_api()
                .env("SHOP_DATABASE_URL", &url)
                .env("SHOP_MONGODB_URL", crate::helpers::UNREACHABLE_MONGODB),
        )
        .await;
        for line in &service.lines {
            let parsed: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("not a JSON log line ({error}): {line:?}"));
            assert!(parsed["timestamp"].is_string(), "{line}");
            assert!(parsed["level"].is_string(), "{line}");
            assert!(
                !line.contains('\u{1b}'),
                "ANSI escape codes in a piped log: {line:?}"
            );
        }
        let status = service.terminate().await;
        assert!(status.success(), "{status:?}");
    }
}

/// The real binary, serving: started by [`Service::start`], which waits (a minute at most) for
/// its "listening on" line and reads the address from it; killed when dropped, so a failing
/// test never leaves it running.
#[cfg(unix)]
pub struct Service {
    child: std::process::Child,
    pub addr: std::net::SocketAddr,
    /// The log lines up to and including "listening on".
    pub lines: Vec<String>,
}

#[cfg(unix)]
impl Service {
    /// Spawns `command` listening on a free port, with stdout piped and info logs on.
    pub async fn start(command: &mut std::process::Command) -> Service {
        use std::io::{BufRead, BufReader};
        use std::time::Duration;

        let mut child = command
            .env("SHOP_LISTEN", "127.0.0.1:0")
            .env("SHOP_ACCOUNTS__MAIL_ECHO", "false")
            // The service's own default filter, whatever the test runner's RUST_LOG says.
            .env_remove("RUST_LOG")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("the shop-api binary starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (lines, mut received) = tokio::sync::mpsc::unbounded_channel();
        // A blocking reader, which ends when the child closes its stdout (it exits, or is
        // killed): never left blocking the runtime's shutdown.
        tokio::task::spawn_blocking(move || {
            for line in BufReader::new(stdout).lines() {
                if lines.send(line.unwrap_or_default()).is_err() {
                    break;
                }
            }
        });
        let mut seen = Vec::new();
        let listening = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = received.recv().await {
                let addr = line
                    .split("listening on ")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .and_then(|addr| addr.parse().ok());
                seen.push(line);
                if addr.is_some() {
                    return addr;
                }
            }
            None
        })
        .await;
        let Ok(Some(addr)) = listening else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the service did not say where it listens within a minute: {seen:#?}");
        };
        Service {
            child,
            addr,
            lines: seen,
        }
    }

    /// Sends SIGTERM and waits (20 s at most) for the exit.
    pub async fn terminate(&mut self) -> std::process::ExitStatus {
        use std::time::{Duration, Instant};

        let sent = std::process::Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(sent.success());
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("the child can be waited for") {
                return status;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no exit after SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[cfg(unix)]
impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
