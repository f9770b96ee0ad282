//! `cargo xtask bench capstone`: the capstone's product page measured side by side with what
//! PostgreSQL and the framework can do on this machine, at the same concurrency (issue 12's
//! "Measured, side by side, in one run"). A benchmark, never a test: nothing here asserts a
//! speed.
//!
//! One run, in order:
//! 1. `cargo build --release -p shop-api`;
//! 2. a database of its own, `backend_rs_bench`, re-created, migrated and seeded by the release
//!    binary (`--migrate --seed`);
//! 3. `pgbench -M prepared` running the product query of `ProductRepo::get`, on random ids
//!    and on one id; the faster is the baseline;
//! 4. the service twice, each from a configuration file written for it: uncached (no Redis,
//!    a one-entry memory tier, so a random id misses; once more with the default INFO line per
//!    request, to show what logging costs) and cached (Redis and memory warm);
//!    `wrk` drives `GET /products/{id}` on random ids, then `/healthz`, the framework's ceiling;
//! 5. a table of requests per second and latency, and the ratios the issue sets goals for
//!    (uncached ≥ 0.5 × pgbench, cached > pgbench).
//!
//! Everything listens and connects on 127.0.0.1, each load is bounded in time, and the servers
//! are stopped at the end (also when a step fails).

use std::fmt::Write as _;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cargo::{cargo, root, run_visible};
use crate::ui;

/// The benchmark's own database, dropped and re-created at every run.
const DATABASE: &str = "backend_rs_bench";
/// How many product ids the load picks from.
const IDS: usize = 1_000;
/// shop-api's default `[telemetry] log_filter`: an INFO line per request.
const DEFAULT_LOGS: &str = "shop_api=info,shop_db=info,shop_telemetry=info,tower_http=info,warn";

/// Settings of one run, from the command line.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Open connections of every load generator (wrk and pgbench alike).
    pub connections: u32,
    /// Seconds each measurement lasts (after a warm-up of a third of it).
    pub seconds: u32,
}

/// One measurement.
#[derive(Debug, Clone, Default)]
struct Measured {
    per_second: f64,
    p50: Option<String>,
    p99: Option<String>,
}

pub fn run(options: Options) -> Result<()> {
    for (tool, install) in [
        (
            "wrk",
            "apt-get install wrk (Debian), brew install wrk (macOS)",
        ),
        (
            "pgbench",
            "apt-get install postgresql-contrib (it comes with PostgreSQL's client tools)",
        ),
        ("psql", "apt-get install postgresql-client"),
    ] {
        if !on_path(tool) {
            bail!("`{tool}` is not installed: {install}");
        }
    }
    let work = root().join("target/bench-capstone");
    std::fs::create_dir_all(&work).with_context(|| format!("cannot create {}", work.display()))?;

    ui::heading("building the capstone (release)");
    if !run_visible(cargo().args(["build", "--release", "-p", "shop-api", "--bin", "shop-api"]))? {
        bail!("the release build failed");
    }
    let binary = root().join("target/release/shop-api");

    let (server, database_url) = urls();
    ui::heading(&format!(
        "a fresh database, {DATABASE}, migrated and seeded"
    ));
    psql(
        &server,
        &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
    )?;
    let started = Instant::now();
    let seeded = Server::start(
        &binary,
        &work,
        "seed",
        &database_url,
        &["--migrate", "--seed"],
        "",
    )?;
    seeded.stop();
    println!("  seeded in {:.1} s", started.elapsed().as_secs_f64());
    let ids = psql(
        &database_url,
        &format!("SELECT id FROM products WHERE archived_at IS NULL ORDER BY id LIMIT {IDS}"),
    )?;
    let ids: Vec<&str> = ids.lines().filter(|line| !line.trim().is_empty()).collect();
    if ids.is_empty() {
        bail!("the seeded database has no products");
    }
    let script = work.join("products.lua");
    std::fs::write(&script, wrk_script(&ids)).context("cannot write the wrk script")?;

    ui::heading(&format!(
        "pgbench -M prepared: the product query, {} connections, {} s",
        options.connections, options.seconds
    ));
    let (random, one) = pgbench(&database_url, &work, &ids, options)?;
    println!(
        "  random ids {:.0} transactions/s, one id {:.0}",
        random.per_second, one.per_second
    );
    // The baseline is the faster of the two: the stricter comparison.
    let pgbench = if one.per_second > random.per_second {
        one.clone()
    } else {
        random.clone()
    };

    let mut rows = Vec::new();
    let uncached = "[cache]\nredis_url = \"\"\nproduct_memory_entries = 1\n";
    // The service's default log filter writes a line per request: the one variant that keeps
    // it shows what that costs.
    let info_logs = format!("{uncached}[telemetry]\nlog_filter = \"{DEFAULT_LOGS}\"\n");
    for (name, file, cache) in [
        ("uncached", "uncached", uncached.to_owned()),
        (
            "uncached, a log line per request",
            "uncached-logs",
            info_logs,
        ),
        (
            "cached",
            "cached",
            "[cache]\nkey_prefix = \"bench:\"\n".to_owned(),
        ),
    ] {
        ui::heading(&format!(
            "GET /products/{{id}}, {name}: wrk, {} connections, {} s",
            options.connections, options.seconds
        ));
        let api = Server::start(&binary, &work, file, &database_url, &[], &cache)?;
        // Warm-up: connections, the pool, and (cached) both tiers.
        let warm = (options.seconds / 3).max(1);
        wrk(api.addr, &script, options.connections, warm)?;
        let measured = wrk(api.addr, &script, options.connections, options.seconds)?;
        println!("  {:.0} requests/s", measured.per_second);
        rows.push((format!("GET /products/{{id}} {name}"), measured));
        if name == "cached" {
            ui::heading("GET /healthz: the framework's ceiling");
            let healthz = work.join("healthz.lua");
            std::fs::write(
                &healthz,
                "request = function() return wrk.format(\"GET\", \"/healthz\") end\n",
            )?;
            let measured = wrk(api.addr, &healthz, options.connections, options.seconds)?;
            println!("  {:.0} requests/s", measured.per_second);
            rows.push(("GET /healthz".to_owned(), measured));
        }
        api.stop();
    }
    report(
        options,
        &pgbench,
        &[("random ids", &random), ("one id", &one)],
        &rows,
    );
    psql(
        &server,
        &format!("DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)"),
    )?;
    Ok(())
}

fn report(
    options: Options,
    pgbench: &Measured,
    pgbench_runs: &[(&str, &Measured)],
    rows: &[(String, Measured)],
) {
    ui::heading(&format!(
        "side by side: {} connections, {} s each, this machine ({} cores)",
        options.connections,
        options.seconds,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    ));
    let mut table = vec![vec![
        "load".to_owned(),
        "per second".to_owned(),
        "p50".to_owned(),
        "p99".to_owned(),
        "÷ pgbench".to_owned(),
    ]];
    let ratio = |m: &Measured| format!("{:.2}", m.per_second / pgbench.per_second.max(1.0));
    for (name, m) in pgbench_runs {
        table.push(vec![
            format!("pgbench, the product query, {name}"),
            format!("{:.0}", m.per_second),
            "-".to_owned(),
            "-".to_owned(),
            ratio(m),
        ]);
    }
    for (name, m) in rows {
        table.push(vec![
            name.clone(),
            format!("{:.0}", m.per_second),
            m.p50.clone().unwrap_or_else(|| "-".to_owned()),
            m.p99.clone().unwrap_or_else(|| "-".to_owned()),
            ratio(m),
        ]);
    }
    print!("{}", ui::table(&table));
    let get = |name: &str| rows.iter().find(|(n, _)| n.ends_with(name)).map(|(_, m)| m);
    if let (Some(quiet), Some(logged)) = (get(" uncached"), get("a log line per request")) {
        println!(
            "  A log line per request cost {:.0}% of the uncached throughput in this run.",
            100.0 * (1.0 - logged.per_second / quiet.per_second.max(1.0))
        );
    }
    let mut goals = String::new();
    if let Some(uncached) = get("uncached") {
        let r = uncached.per_second / pgbench.per_second.max(1.0);
        let _ = write!(
            goals,
            "uncached {r:.2} of pgbench (goal ≥ 0.50: {}); ",
            verdict(r >= 0.5)
        );
    }
    if let Some(cached) = get(" cached") {
        let r = cached.per_second / pgbench.per_second.max(1.0);
        let _ = write!(goals, "cached {r:.2} (goal > 1.00: {})", verdict(r > 1.0));
    }
    println!("  {goals}");
    println!(
        "  The servers' logs are in target/bench-capstone/*.log. Numbers move with the machine's \
         load: compare rows of one run, not runs."
    );
}

fn verdict(met: bool) -> String {
    if met {
        ui::green("met")
    } else {
        ui::yellow("not met")
    }
}

/// A release `shop-api` on a free loopback port, its log in `work/<name>.log`.
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(
        binary: &Path,
        work: &Path,
        name: &str,
        database_url: &str,
        flags: &[&str],
        extra_config: &str,
    ) -> Result<Server> {
        let addr = free_port()?;
        // No relay, no rate limit (one client address sends everything), logs at warn: the
        // benchmark measures serving, not what a log line costs (the report says so).
        let logs = if extra_config.contains("[telemetry]") {
            ""
        } else {
            "[telemetry]\nlog_filter = \"warn\"\n"
        };
        let config = format!(
            "listen = \"{addr}\"\ndatabase_url = \"{database_url}\"\n\
             [security]\nrate_limit_per_sec = 0\n{logs}\
             [events]\namqp_url = \"\"\n{extra_config}"
        );
        let config_path = work.join(format!("{name}.toml"));
        std::fs::write(&config_path, config).context("cannot write the server's configuration")?;
        let log = std::fs::File::create(work.join(format!("{name}.log")))?;
        let mut command = Command::new(binary);
        command
            .arg("--config")
            .arg(&config_path)
            .args(flags)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        // The server's own settings only: no SHOP_* of the caller's shell.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("SHOP_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let mut server = Server { child, addr };
        let deadline = Instant::now() + Duration::from_secs(120);
        while !healthz(addr) {
            if let Ok(Some(status)) = server.child.try_wait() {
                bail!(
                    "shop-api ({name}) exited with {status}: see target/bench-capstone/{name}.log"
                );
            }
            if Instant::now() > deadline {
                bail!("shop-api ({name}) did not answer /healthz within 120 s");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(server)
    }

    fn stop(self) {
        drop(self);
    }
}

/// A server is stopped however the run ends: `?` on a failed step drops it too.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// True when `GET /healthz` answers 200.
fn healthz(addr: SocketAddr) -> bool {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0_u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

fn free_port() -> Result<SocketAddr> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("no free loopback port")?;
    Ok(listener.local_addr()?)
}

/// The server's maintenance database URL (DATABASE_URL, or the local default) and the same
/// server's URL for the benchmark's database.
fn urls() -> (String, String) {
    let admin = std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://postgres:postgres@127.0.0.1:5432/postgres".to_owned());
    // postgres://user:password@host:port/database: the database is after the last slash.
    let server = match admin.rsplit_once('/') {
        Some((server, database)) if server.contains("//") && !database.contains('@') => server,
        _ => admin.as_str(),
    };
    let bench = format!("{server}/{DATABASE}");
    (admin, bench)
}

/// Runs `sql` with psql on `url` and returns its unaligned output.
fn psql(url: &str, sql: &str) -> Result<String> {
    let output = Command::new("psql")
        .args(["-XAtq", "-v", "ON_ERROR_STOP=1", "-d", url, "-c", sql])
        .output()
        .context("cannot run psql")?;
    if !output.status.success() {
        bail!(
            "psql failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `ProductRepo::get`'s query, prepared, two ways: on random ids, which go to a table numbered
/// 1..n that each transaction looks up first (one more primary-key lookup, on a small table),
/// and on one id, the same statement without that lookup (every row is in shared buffers
/// either way, so one id costs what any id costs). Returns (random, one).
fn pgbench(
    database_url: &str,
    work: &Path,
    ids: &[&str],
    options: Options,
) -> Result<(Measured, Measured)> {
    let values: Vec<String> = ids
        .iter()
        .enumerate()
        .map(|(n, id)| format!("({}, '{id}')", n + 1))
        .collect();
    psql(
        database_url,
        &format!(
            "DROP TABLE IF EXISTS bench_ids; CREATE TABLE bench_ids (n int PRIMARY KEY, id uuid);
             INSERT INTO bench_ids VALUES {}",
            values.join(",")
        ),
    )?;
    let query = "SELECT id, sku, name, description, category_id, price_minor, currency, \
                 attributes, created_at, updated_at FROM products";
    let random = work.join("product-random.sql");
    std::fs::write(
        &random,
        format!(
            "\\set n random(1, {})\n{query} \
             WHERE id = (SELECT id FROM bench_ids WHERE n = :n) AND archived_at IS NULL;\n",
            ids.len()
        ),
    )?;
    let one = work.join("product-one.sql");
    let first = ids.first().context("no product ids")?;
    std::fs::write(
        &one,
        format!("{query} WHERE id = '{first}' AND archived_at IS NULL;\n"),
    )?;
    Ok((
        run_pgbench(database_url, &random, options)?,
        run_pgbench(database_url, &one, options)?,
    ))
}

fn run_pgbench(database_url: &str, script: &Path, options: Options) -> Result<Measured> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .to_string();
    let connections = options.connections.to_string();
    let output = Command::new("pgbench")
        .args(["-n", "-M", "prepared", "-c", &connections, "-j", &threads])
        .args(["-T", &options.seconds.to_string(), "-f"])
        .arg(script)
        .args(["-d", database_url])
        .output()
        .context("cannot run pgbench")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    let per_second = text
        .lines()
        .find(|line| line.starts_with("tps = "))
        .and_then(|line| line.trim_start_matches("tps = ").split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .context("pgbench printed no tps line")?;
    Ok(Measured {
        per_second,
        ..Measured::default()
    })
}

/// A wrk script requesting `/products/<id>` for a random id of `ids` each time.
fn wrk_script(ids: &[&str]) -> String {
    let mut script = String::from("local ids = {\n");
    for id in ids {
        let _ = writeln!(script, "  \"{id}\",");
    }
    script.push_str(
        "}\nrequest = function()\n  return wrk.format(\"GET\", \"/products/\" .. ids[math.random(#ids)])\nend\n",
    );
    script
}

fn wrk(addr: SocketAddr, script: &Path, connections: u32, seconds: u32) -> Result<Measured> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let output = Command::new("wrk")
        .args([
            "--latency",
            "-t",
            &threads.to_string(),
            "-c",
            &connections.to_string(),
        ])
        .args(["-d", &format!("{seconds}s"), "-s"])
        .arg(script)
        .arg(format!("http://{addr}"))
        .output()
        .context("cannot run wrk")?;
    let text = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        bail!(
            "wrk failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    parse_wrk(&text).with_context(|| format!("wrk's output was not understood:\n{text}"))
}

/// Requests per second and the 50th and 99th percentiles from `wrk --latency`'s report.
fn parse_wrk(text: &str) -> Option<Measured> {
    let per_second = text
        .lines()
        .find_map(|line| line.trim().strip_prefix("Requests/sec:"))
        .and_then(|n| n.trim().parse().ok())?;
    let percentile = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|line| line.strip_prefix(p))
            .map(|rest| rest.trim().to_owned())
    };
    if text.contains("Non-2xx or 3xx responses") {
        return None;
    }
    Some(Measured {
        per_second,
        p50: percentile("50%"),
        p99: percentile("99%"),
    })
}

fn on_path(tool: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(tool).is_file()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WRK: &str = "Running 10s test @ http://127.0.0.1:3000
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.38ms    1.02ms  18.93ms   79.10%
  Latency Distribution
     50%    3.21ms
     75%    3.80ms
     90%    4.53ms
     99%    7.02ms
  94212 requests in 10.00s, 61.35MB read
Requests/sec:   9418.91
Transfer/sec:      6.13MB
";

    #[test]
    fn reads_wrk_throughput_and_percentiles() {
        let m = parse_wrk(WRK).unwrap();
        assert!((m.per_second - 9418.91).abs() < 0.01);
        assert_eq!(m.p50.as_deref(), Some("3.21ms"));
        assert_eq!(m.p99.as_deref(), Some("7.02ms"));
    }

    #[test]
    fn a_run_with_errors_is_not_a_measurement() {
        let failed = WRK.replace(
            "Requests/sec",
            "  Non-2xx or 3xx responses: 12\nRequests/sec",
        );
        assert!(parse_wrk(&failed).is_none());
        assert!(parse_wrk("nothing useful").is_none());
    }

    #[test]
    fn the_script_picks_among_the_ids() {
        let script = wrk_script(&["a", "b"]);
        assert!(script.contains("\"a\",\n  \"b\","), "{script}");
        assert!(script.contains("math.random(#ids)"), "{script}");
    }
}
