//! Prometheus for `cargo xtask services` and the "alert rules" step of `cargo xtask test`.
//!
//! Tests need only the `prometheus` program: each starts a private server (testkit's
//! `prometheus` feature). `services up` installs the program where it may (apt-get, as root or
//! with a sudo that needs no password), and, without Docker, also starts a long-running
//! Prometheus for the learner on http://127.0.0.1:9090 with `observability/prometheus/
//! prometheus.yml` (it scrapes the capstone), its data under `target/prometheus/`. With
//! Docker, docker compose runs that one instead. `promtool`, which checks and unit-tests the
//! rule files, comes with the program.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};
use testkit::discover::{self, Service};

use crate::cargo::{self, succeeds};
use crate::daemon::Daemon;
use crate::ui;

const HOST: &str = "127.0.0.1";
const PORT: u16 = 9090;

/// The long-running server: its pid and log under `target/prometheus/`, and a data directory
/// that names this checkout, which is how its process is recognised.
fn daemon() -> Daemon {
    let home = cargo::root().join("target").join("prometheus");
    Daemon {
        pid_file: home.join("prometheus.pid"),
        log_file: home.join("prometheus.log"),
        // Also the flag that puts the data there.
        signature: format!("--storage.tsdb.path={}", home.join("data").display()),
    }
}

/// Installs the program with apt-get when it is missing and that is allowed here; says what
/// to do otherwise. Never fails: a missing Prometheus only skips its tests.
pub fn ensure_installed() {
    if discover::locate(Service::Prometheus).is_ok() {
        return;
    }
    if std::env::var(Service::Prometheus.env_var()).is_ok_and(|v| !v.trim().is_empty()) {
        println!(
            "  {} names no working Prometheus: not installing one in its place.",
            Service::Prometheus.env_var()
        );
        return;
    }
    let Some(apt_get) = may_install() else {
        return;
    };
    println!(
        "  Prometheus is not installed: installing it with apt-get (the tests start private \
         servers from it)..."
    );
    let install = ["install", "-y", "-qq", "prometheus"];
    // A fresh machine may have no package lists yet: update them once and try again.
    let installed =
        apt(&apt_get, &install) || (apt(&apt_get, &["update", "-qq"]) && apt(&apt_get, &install));
    if installed && discover::locate(Service::Prometheus).is_ok() {
        println!("  {} Prometheus installed", ui::green("✔"));
    } else {
        println!("  {} apt-get could not install Prometheus", ui::red("✘"));
    }
}

/// Runs `prefix` (apt-get, perhaps behind sudo) with `args`, its output shown.
fn apt(prefix: &[&'static str], args: &[&str]) -> bool {
    let Some((program, before)) = prefix.split_first() else {
        return false;
    };
    cargo::run_visible(
        Command::new(program)
            .args(before)
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
    .unwrap_or(false)
}

/// The command prefix that runs apt-get here (`["apt-get"]` as root, `["sudo", "-n",
/// "apt-get"]` with a sudo that asks no password), or `None` when we may not install.
fn may_install() -> Option<Vec<&'static str>> {
    if !discover::command_exists("apt-get") {
        return None;
    }
    let root = cargo::run_captured(Command::new("id").arg("-u"))
        .is_ok_and(|(ok, uid, _)| ok && uid.trim() == "0");
    if root {
        Some(vec!["apt-get"])
    } else if succeeds(Command::new("sudo").args(["-n", "true"])) {
        Some(vec!["sudo", "-n", "apt-get"])
    } else {
        None
    }
}

/// Starts the long-running Prometheus on 127.0.0.1:9090, unless something answers there.
pub fn start() -> Result<()> {
    let Ok(endpoint) = discover::locate(Service::Prometheus) else {
        return Ok(()); // the report says how to install it
    };
    if discover::probe(HOST, PORT).is_ok() {
        match daemon().running() {
            Some(pid) => println!("  Prometheus already runs on http://{HOST}:{PORT} (pid {pid})."),
            None => println!(
                "  Something already answers on {HOST}:{PORT}: not starting another Prometheus."
            ),
        }
        return Ok(());
    }
    let root = cargo::root();
    let config = root
        .join("observability")
        .join("prometheus")
        .join("prometheus.yml");
    let daemon = daemon();
    println!(
        "  Starting Prometheus on http://{HOST}:{PORT} with {} (log: {})",
        cargo::git_path(&config),
        daemon.log_file.display()
    );
    daemon.spawn(
        Command::new(&endpoint.url)
            .arg(format!("--config.file={}", config.display()))
            .arg(&daemon.signature)
            .arg(format!("--web.listen-address={HOST}:{PORT}")),
    )?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if is_ready() {
            println!("  {} Prometheus answers", ui::green("✔"));
            return Ok(());
        }
        if daemon.running().is_none() {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!(
        "Prometheus did not become ready on {HOST}:{PORT}; the last lines of its log ({}):\n{}",
        daemon.log_file.display(),
        daemon.log_tail(20)
    )
}

/// Stops the long-running Prometheus this runner started, if it runs.
pub fn stop() -> Result<bool> {
    daemon().stop()
}

/// One line for `services status`: the long-running server, which the tests do not use.
pub fn server_state() -> String {
    if discover::probe(HOST, PORT).is_err() {
        return format!(
            "no server on {HOST}:{PORT} (`cargo xtask services up` starts one for your own queries)"
        );
    }
    match daemon().running() {
        Some(pid) => {
            format!("a server runs on http://{HOST}:{PORT} (started by services up, pid {pid})")
        }
        None => format!("something answers on http://{HOST}:{PORT} (docker compose, or your own)"),
    }
}

/// Is Prometheus on 127.0.0.1:9090 ready? One plain HTTP/1.0 request, without an HTTP client.
fn is_ready() -> bool {
    let Ok(mut stream) = TcpStream::connect((HOST, PORT)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut reply = String::new();
    let _ = stream.read_to_string(&mut reply);
    is_ok_status(&reply)
}

/// Does an HTTP reply start with a 200 status line?
fn is_ok_status(reply: &str) -> bool {
    let mut words = reply.split_whitespace();
    words.next().is_some_and(|v| v.starts_with("HTTP/1.")) && words.next() == Some("200")
}

/// `promtool`: beside the `prometheus` program found, else on PATH.
pub fn promtool() -> Option<PathBuf> {
    let beside = discover::locate(Service::Prometheus)
        .ok()
        .and_then(|endpoint| Some(PathBuf::from(endpoint.url).parent()?.join("promtool")));
    beside
        .filter(|path| path.is_file())
        .or_else(|| discover::find_on_path("promtool"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_200_counts_as_ready() {
        assert!(is_ok_status(
            "HTTP/1.0 200 OK\r\n\r\nPrometheus Server is Ready.\n"
        ));
        assert!(!is_ok_status(
            "HTTP/1.1 503 Service Unavailable\r\n\r\nService Unavailable"
        ));
        assert!(!is_ok_status(""));
        assert!(!is_ok_status("SSH-2.0-OpenSSH_9.2"));
    }

    #[test]
    fn the_long_running_server_is_recognised_by_this_checkouts_data_directory() {
        let daemon = daemon();
        let data = cargo::root().join("target").join("prometheus").join("data");
        assert_eq!(
            daemon.signature,
            format!("--storage.tsdb.path={}", data.display())
        );
    }
}
