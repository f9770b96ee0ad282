//! The PostgreSQL replica of `cargo xtask services up`: a streaming standby of the local
//! PostgreSQL (the primary, 127.0.0.1:5432) on 127.0.0.1:5433, for lesson 11's read/write
//! splitting and the tests marked `needs_pg_replica`.
//!
//! Made once, with the primary's own major version of Debian's tools
//! (`/usr/lib/postgresql/<major>/bin`):
//!
//! ```text
//! pg_basebackup -h 127.0.0.1 -p 5432 -U postgres -D <dir> -R -X stream -P
//! pg_ctl -D <dir> -l <log> -o "-p 5433 -k /tmp -c listen_addresses=127.0.0.1" -w start
//! ```
//!
//! `<dir>` is `/var/lib/postgresql/backend-rs-replica` (owned by the `postgres` user, who runs
//! every command) when we are root, and `$XDG_DATA_HOME/backend-rs/pg-replica` (else
//! `~/.local/share/backend-rs/pg-replica`) otherwise, the commands then running as ourselves;
//! the log is `<dir>.log`. Debian keeps a cluster's `postgresql.conf` and `pg_hba.conf` in
//! `/etc`, so the backup has none: we write the standby's own (port 5433, trust from
//! 127.0.0.1, the primary's `max_*` settings, which a hot standby must not go below).
//!
//! The primary is touched in one way only: when it refuses the replication connection, a line
//! `host replication postgres 127.0.0.1/32 trust` goes at the top of its `pg_hba.conf`, and the
//! configuration is reloaded. Running `up` again with the replica up does nothing; with it
//! stopped, starts it; with a directory that is not a standby of this primary, says so and
//! leaves it alone. A replica that starts but does not stream is stopped again, so that its
//! tests are skipped rather than failed. The replica is optional: without it `up` still
//! succeeds, and its tests are skipped.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use testkit::discover::{self, Service};

use crate::cargo::{run_captured, run_visible};
use crate::ui;

const PRIMARY_HOST: &str = "127.0.0.1";
const PRIMARY_PORT: u16 = 5432;
const PORT: u16 = 5433;
/// The standby's `cluster_name`, which its WAL receiver gives as its `application_name`: how
/// the primary's `pg_stat_replication` row of this replica is found.
const NAME: &str = "backend-rs-replica";
/// The line the primary's `pg_hba.conf` needs for `pg_basebackup` and the WAL receiver.
const HBA_LINE: &str = "host replication postgres 127.0.0.1/32 trust";
/// Settings a hot standby must have at least as high as its primary's.
const AT_LEAST_PRIMARY: [&str; 5] = [
    "max_connections",
    "max_worker_processes",
    "max_wal_senders",
    "max_prepared_transactions",
    "max_locks_per_transaction",
];

/// Where the replica lives and who runs it.
struct Layout {
    dir: PathBuf,
    log: PathBuf,
    /// Run the server's commands as the `postgres` user (we are root).
    as_postgres: bool,
}

fn layout() -> Option<Layout> {
    if is_root() {
        let dir = PathBuf::from("/var/lib/postgresql").join(NAME);
        return Some(Layout {
            log: dir.with_extension("log"),
            dir,
            as_postgres: true,
        });
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    let dir = data.join("backend-rs").join("pg-replica");
    Some(Layout {
        log: dir.with_extension("log"),
        dir,
        as_postgres: false,
    })
}

fn is_root() -> bool {
    run_captured(Command::new("id").arg("-u")).is_ok_and(|(ok, uid, _)| ok && uid.trim() == "0")
}

impl Layout {
    /// `program` from `bin`, as the user who owns the replica.
    fn command(&self, bin: &Path, program: &str) -> Command {
        if self.as_postgres {
            let mut command = Command::new("runuser");
            command
                .args(["-u", "postgres", "--"])
                .arg(bin.join(program));
            command
        } else {
            Command::new(bin.join(program))
        }
    }
}

/// Creates (once) and starts the replica; says what it did, or why there is none. Never
/// fails: the replica is optional.
pub fn ensure() {
    let var = Service::PgReplica.env_var();
    if std::env::var(var).is_ok_and(|url| !url.trim().is_empty()) {
        println!("  {var} is set: using that replica, not creating one.");
        return;
    }
    if let Err(why) = try_ensure() {
        println!("  {} PostgreSQL replica: {why}", ui::yellow("~"));
    }
}

fn try_ensure() -> Result<(), String> {
    if discover::probe(PRIMARY_HOST, PORT).is_ok() {
        println!(
            "  Something already answers on {PRIMARY_HOST}:{PORT}: taking it for the PostgreSQL \
             replica ({}).",
            replica_state(&bin_for_psql())
        );
        return Ok(());
    }
    if discover::probe(PRIMARY_HOST, PRIMARY_PORT).is_err() {
        return Err(format!(
            "no primary answers on {PRIMARY_HOST}:{PRIMARY_PORT}, so no standby can be made"
        ));
    }
    let layout = layout().ok_or("no HOME to keep its data under")?;
    let psql_bin = bin_for_psql();
    let version = primary_sql(&psql_bin, "SHOW server_version_num")?;
    let major = version
        .trim()
        .parse::<u32>()
        .map_err(|_| format!("the primary's version reads {version:?}"))?
        / 10_000;
    let bin = PathBuf::from(format!("/usr/lib/postgresql/{major}/bin"));
    if !bin.join("pg_basebackup").is_file() || !bin.join("pg_ctl").is_file() {
        return Err(format!(
            "needs Debian's PostgreSQL {major} tools (pg_basebackup, pg_ctl in {}), which are \
             not installed (`apt-get install postgresql-{major}`)",
            bin.display()
        ));
    }
    if !layout.dir.join("PG_VERSION").is_file() {
        if layout.dir.exists() && fs::read_dir(&layout.dir).is_ok_and(|mut d| d.next().is_some()) {
            return Err(broken(&layout, "it has no PG_VERSION"));
        }
        create(&layout, &bin)?;
    }
    check_directory(&layout, &bin, major)?;
    start(&layout, &bin)
}

/// Says why `layout.dir` is not used, and how to start again.
fn broken(layout: &Layout, why: &str) -> String {
    format!(
        "{dir} is not a standby of the primary on {PRIMARY_HOST}:{PRIMARY_PORT} ({why}); it is \
         left alone: remove it (`rm -rf {dir}`) and run `cargo xtask services up` again to \
         create a new one",
        dir = layout.dir.display()
    )
}

/// The directory is a standby's, of this primary, made by the same major version.
fn check_directory(layout: &Layout, bin: &Path, major: u32) -> Result<(), String> {
    let dir = &layout.dir;
    let made_by = fs::read_to_string(dir.join("PG_VERSION")).unwrap_or_default();
    if made_by.trim() != major.to_string() {
        return Err(broken(
            layout,
            &format!(
                "made by PostgreSQL {}, the primary is {major}",
                made_by.trim()
            ),
        ));
    }
    if !dir.join("standby.signal").is_file() {
        return Err(broken(layout, "it has no standby.signal"));
    }
    let primary_id = primary_sql(
        &bin_for_psql(),
        "SELECT system_identifier FROM pg_control_system()",
    )?;
    let mut controldata = layout.command(bin, "pg_controldata");
    controldata.arg(dir).env("LC_ALL", "C");
    let ours = match run_captured(&mut controldata) {
        Ok((true, out, _)) => out
            .lines()
            .find_map(|l| l.strip_prefix("Database system identifier:"))
            .map(|id| id.trim().to_owned())
            .unwrap_or_default(),
        _ => String::new(),
    };
    if ours != primary_id.trim() {
        return Err(broken(
            layout,
            &format!(
                "its system identifier is {ours:?}, the primary's {}",
                primary_id.trim()
            ),
        ));
    }
    Ok(())
}

/// `pg_basebackup` of the primary into `layout.dir`, and the standby's own configuration.
fn create(layout: &Layout, bin: &Path) -> Result<(), String> {
    let psql_bin = bin_for_psql();
    let wal_level = primary_sql(&psql_bin, "SHOW wal_level")?;
    if wal_level.trim() == "minimal" {
        return Err(
            "the primary has wal_level = minimal, and a standby needs replica or logical".into(),
        );
    }
    allow_replication(&psql_bin)?;
    let mut settings = Vec::new();
    for name in AT_LEAST_PRIMARY {
        let value = primary_sql(&psql_bin, &format!("SHOW {name}"))?;
        settings.push(format!("{name} = {}", value.trim()));
    }
    if let Some(parent) = layout.dir.parent()
        && !parent.exists()
    {
        fs::create_dir_all(parent)
            .map_err(|e| format!("could not create {}: {e}", parent.display()))?;
    }
    println!(
        "  Creating the PostgreSQL replica in {} (pg_basebackup of {PRIMARY_HOST}:{PRIMARY_PORT}, \
         a few seconds):",
        layout.dir.display()
    );
    let mut backup = layout.command(bin, "pg_basebackup");
    backup
        .args([
            "-h",
            PRIMARY_HOST,
            "-p",
            &PRIMARY_PORT.to_string(),
            "-U",
            "postgres",
        ])
        .arg("-D")
        .arg(&layout.dir)
        .args(["-R", "-X", "stream", "-P"])
        // The course's default password, for a primary whose pg_hba.conf asks for one.
        .env("PGPASSWORD", "postgres")
        .env("PGCONNECT_TIMEOUT", "10");
    if !run_visible(&mut backup).map_err(|e| e.to_string())? {
        return Err("pg_basebackup failed (see its output above)".into());
    }
    let conf = format!(
        "# Written by `cargo xtask services up`: a streaming standby of \
         {PRIMARY_HOST}:{PRIMARY_PORT}.\n\
         port = {PORT}\n\
         listen_addresses = '127.0.0.1'\n\
         unix_socket_directories = '/tmp'\n\
         cluster_name = '{NAME}'\n\
         hot_standby = on\n\
         # A hot standby refuses to start below its primary's values.\n\
         {}\n",
        settings.join("\n")
    );
    let hba = "# Written by `cargo xtask services up`.\n\
               local all all trust\n\
               host all all 127.0.0.1/32 trust\n";
    for (name, text) in [
        ("postgresql.conf", conf.as_str()),
        ("pg_hba.conf", hba),
        ("pg_ident.conf", ""),
    ] {
        let path = layout.dir.join(name);
        fs::write(&path, text).map_err(|e| format!("could not write {}: {e}", path.display()))?;
        if layout.as_postgres {
            let _ = run_captured(Command::new("chown").arg("postgres:postgres").arg(&path));
        }
    }
    println!("  {} base backup done", ui::green("✔"));
    Ok(())
}

/// Makes sure the primary accepts a replication connection from 127.0.0.1 for `postgres`,
/// adding [`HBA_LINE`] at the top of its `pg_hba.conf` (and reloading) when it does not.
fn allow_replication(psql_bin: &Path) -> Result<(), String> {
    if replication_connects(psql_bin) {
        return Ok(());
    }
    let hba = PathBuf::from(primary_sql(psql_bin, "SHOW hba_file")?.trim());
    let text = fs::read_to_string(&hba)
        .map_err(|e| format!("the primary's {} could not be read: {e}", hba.display()))?;
    if !text.lines().any(|l| l.trim() == HBA_LINE) {
        println!(
            "  The primary refuses replication connections from 127.0.0.1: adding `{HBA_LINE}` \
             at the top of {} and reloading.",
            hba.display()
        );
        let added = format!(
            "# Added by backend-rs `cargo xtask services up`, for its replica on port {PORT}.\n\
             {HBA_LINE}\n{text}"
        );
        fs::write(&hba, added).map_err(|e| {
            format!(
                "{} could not be changed ({e}); add `{HBA_LINE}` at its top and reload",
                hba.display()
            )
        })?;
        primary_sql(psql_bin, "SELECT pg_reload_conf()")?;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if replication_connects(psql_bin) {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err(format!(
        "the primary still refuses replication connections from 127.0.0.1 after `{HBA_LINE}` \
         was added to {}",
        hba.display()
    ))
}

fn replication_connects(psql_bin: &Path) -> bool {
    let conninfo = format!(
        "host={PRIMARY_HOST} port={PRIMARY_PORT} user=postgres dbname=postgres replication=true"
    );
    run_captured(
        Command::new(psql_bin.join("psql"))
            .args([conninfo.as_str(), "-Atqc", "IDENTIFY_SYSTEM"])
            .env("PGPASSWORD", "postgres")
            .env("PGCONNECT_TIMEOUT", "5"),
    )
    .is_ok_and(|(ok, _, _)| ok)
}

/// Starts the replica and waits until the primary shows it streaming; one that does not
/// stream within 15 s is stopped again.
fn start(layout: &Layout, bin: &Path) -> Result<(), String> {
    println!(
        "  Starting the PostgreSQL replica on {PRIMARY_HOST}:{PORT} (data {}, log {})...",
        layout.dir.display(),
        layout.log.display()
    );
    let mut pg_ctl = layout.command(bin, "pg_ctl");
    pg_ctl
        .arg("-D")
        .arg(&layout.dir)
        .arg("-l")
        .arg(&layout.log)
        .args([
            "-o",
            &format!("-p {PORT} -k /tmp -c listen_addresses=127.0.0.1"),
            "-w",
            "-t",
            "60",
            "start",
        ]);
    // pg_ctl's server in a process group of its own, out of reach of the terminal's Ctrl-C.
    crate::daemon::detach(&mut pg_ctl);
    let started = run_captured(&mut pg_ctl).is_ok_and(|(ok, _, _)| ok);
    if !started {
        return Err(format!(
            "pg_ctl could not start it; the end of {}:\n{}",
            layout.log.display(),
            log_tail(&layout.log, 8)
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    let psql_bin = bin_for_psql();
    loop {
        let state = primary_sql(
            &psql_bin,
            &format!("SELECT state FROM pg_stat_replication WHERE application_name = '{NAME}'"),
        )
        .unwrap_or_default();
        if state.trim() == "streaming" {
            println!(
                "  {} PostgreSQL replica streaming from {PRIMARY_HOST}:{PRIMARY_PORT}",
                ui::green("✔")
            );
            return Ok(());
        }
        if Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let mut stop = layout.command(bin, "pg_ctl");
    stop.arg("-D").arg(&layout.dir).args(["-m", "fast", "stop"]);
    let _ = run_captured(&mut stop);
    Err(format!(
        "it started but did not stream from the primary within 15 s, so it was stopped again \
         (its tests are skipped). The end of {}:\n{}\n  {}",
        layout.log.display(),
        log_tail(&layout.log, 8),
        broken(layout, "not streaming")
    ))
}

/// Stops the replica if it runs from our directory; true when it did.
pub fn stop() -> bool {
    let Some(layout) = layout() else {
        return false;
    };
    if !layout.dir.join("postmaster.pid").is_file() {
        return false;
    }
    let Some(bin) = fs::read_to_string(layout.dir.join("PG_VERSION"))
        .ok()
        .map(|v| PathBuf::from(format!("/usr/lib/postgresql/{}/bin", v.trim())))
    else {
        return false;
    };
    let mut stop = layout.command(&bin, "pg_ctl");
    stop.arg("-D").arg(&layout.dir).args(["-m", "fast", "stop"]);
    run_captured(&mut stop).is_ok_and(|(ok, _, _)| ok)
}

/// One line on a replica that answers: in recovery or not, and its WAL receiver's status.
pub fn replica_state(psql_bin: &Path) -> String {
    let url = std::env::var(Service::PgReplica.env_var())
        .ok()
        .filter(|u| !u.trim().is_empty())
        .unwrap_or_else(|| Service::PgReplica.default_url().to_owned());
    let asked = run_captured(
        Command::new(psql_bin.join("psql"))
            .args([
                url.as_str(),
                "-AtXqc",
                "SELECT pg_is_in_recovery(), coalesce((SELECT status || ' from ' || \
                 coalesce(sender_host, '?') || ':' || coalesce(sender_port::text, '?') \
                 FROM pg_stat_wal_receiver), 'no WAL receiver')",
            ])
            .env("PGCONNECT_TIMEOUT", "3"),
    );
    match asked {
        Ok((true, out, _)) => match out.trim().split_once('|') {
            Some(("t", receiver)) => format!("a standby, {receiver}"),
            Some(("f", _)) => "not a standby: it accepts writes".to_owned(),
            _ => "did not say whether it is a standby".to_owned(),
        },
        _ => "psql could not ask it whether it is a standby".to_owned(),
    }
}

/// Where `psql` is: Debian's newest tools, else the directory of `psql` on PATH.
pub fn bin_for_psql() -> PathBuf {
    let newest = fs::read_dir("/usr/lib/postgresql").ok().and_then(|dirs| {
        dirs.filter_map(|d| d.ok()?.file_name().into_string().ok()?.parse::<u32>().ok())
            .filter(|v| Path::new(&format!("/usr/lib/postgresql/{v}/bin/psql")).is_file())
            .max()
    });
    match newest {
        Some(v) => PathBuf::from(format!("/usr/lib/postgresql/{v}/bin")),
        None => discover::find_on_path("psql")
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_default(),
    }
}

/// One value from the primary, as `postgres` over TCP.
fn primary_sql(psql_bin: &Path, sql: &str) -> Result<String, String> {
    let asked = run_captured(
        Command::new(psql_bin.join("psql"))
            .args(["-h", PRIMARY_HOST, "-p", &PRIMARY_PORT.to_string()])
            .args(["-U", "postgres", "-d", "postgres", "-AtXqc", sql])
            .env("PGPASSWORD", "postgres")
            .env("PGCONNECT_TIMEOUT", "5"),
    );
    match asked {
        Ok((true, out, _)) => Ok(out),
        Ok((false, _, err)) => Err(format!(
            "the primary did not answer `{sql}`: {}",
            err.trim()
        )),
        Err(e) => Err(format!("psql could not be run: {e}")),
    }
}

fn log_tail(path: &Path, lines: usize) -> String {
    let log = fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hba_line_allows_only_replication_for_postgres_from_loopback() {
        let words: Vec<_> = HBA_LINE.split_whitespace().collect();
        assert_eq!(
            words,
            ["host", "replication", "postgres", "127.0.0.1/32", "trust"]
        );
    }

    #[test]
    fn a_broken_directory_is_explained_with_the_way_out() {
        let layout = Layout {
            dir: PathBuf::from("/x/backend-rs-replica"),
            log: PathBuf::from("/x/backend-rs-replica.log"),
            as_postgres: true,
        };
        let said = broken(&layout, "it has no PG_VERSION");
        assert!(said.contains("rm -rf /x/backend-rs-replica"), "{said}");
        assert!(said.contains("cargo xtask services up"), "{said}");
        assert!(said.contains("no PG_VERSION"), "{said}");
    }

    #[test]
    fn root_keeps_the_replica_beside_debians_clusters_and_runs_it_as_postgres() {
        let layout = Layout {
            dir: PathBuf::from("/var/lib/postgresql").join(NAME),
            log: PathBuf::from("/var/lib/postgresql")
                .join(NAME)
                .with_extension("log"),
            as_postgres: true,
        };
        assert_eq!(
            layout.log,
            PathBuf::from("/var/lib/postgresql/backend-rs-replica.log")
        );
        let command = layout.command(Path::new("/usr/lib/postgresql/15/bin"), "pg_ctl");
        let args: Vec<_> = command.get_args().map(|a| a.to_string_lossy()).collect();
        assert_eq!(command.get_program(), "runuser");
        assert_eq!(
            args,
            ["-u", "postgres", "--", "/usr/lib/postgresql/15/bin/pg_ctl"]
        );
    }
}
