//! `cargo xtask services up|down|status`.
//!
//! With a Docker engine, docker compose runs everything from `docker-compose.yml`. Without
//! one, we never install or start system services behind the learner's back: we find what
//! already runs (the same discovery the tests use) and print, for each missing service, the
//! exact command that starts or installs it on this machine.
//!
//! Two exceptions. MongoDB: where no MongoDB server answers and no Docker engine could run
//! one, `up` starts the workspace's MongoDB stand-in (see [`crate::standin`]), a user-level
//! process under `target/`, and every report names it as the stand-in it is. Prometheus: what
//! the tests need is the program, which `up` installs with apt-get where it may (root, or a
//! sudo without password), and without Docker `up` also starts a long-running Prometheus on
//! 127.0.0.1:9090 for the learner (see [`crate::prometheus`]). And the PostgreSQL replica:
//! without Docker, `up` makes (once, with `pg_basebackup`) and starts a streaming standby of
//! the local PostgreSQL on 127.0.0.1:5433 (see [`crate::replica`]). It is optional: `up`
//! succeeds without it, and the tests marked `needs_pg_replica` are skipped.

use anyhow::{Result, bail};
use testkit::discover::{self, Service};
use testkit::standin::{MongoFlavor, mongodb_flavor_at};

use crate::{cargo, prometheus, replica, standin, ui};

/// What [`report`] found.
pub struct Report {
    /// The services that do not answer.
    pub missing: Vec<Service>,
    /// What the MongoDB stand-in says it is, when it is what answers for MongoDB.
    pub mongodb_stand_in: Option<String>,
}

/// One line per service: found where, or missing and how to start it.
pub fn report() -> Report {
    let mut found = Report {
        missing: Vec::new(),
        mongodb_stand_in: None,
    };
    let mut rows = Vec::new();
    for service in Service::ALL {
        let endpoint = match discover::locate(service) {
            Ok(endpoint) => endpoint,
            Err(why) => {
                rows.push(vec![
                    ui::red("✘"),
                    service.display_name().to_owned(),
                    why.tried.join("; "),
                ]);
                found.missing.push(service);
                continue;
            }
        };
        // Answering is not enough for MongoDB: the stand-in lacks what `needs_mongodb_real`
        // tests use, so it is named for what it is.
        let stand_in = match service {
            Service::MongoDb => stand_in_at(&endpoint.url),
            _ => None,
        };
        match stand_in {
            Some(what) => {
                rows.push(vec![
                    ui::yellow("~"),
                    "MongoDB stand-in".to_owned(),
                    format!(
                        "{endpoint}: {what}, not MongoDB (no transactions, no isolation, \
                         full scans; `needs_mongodb_real` tests are skipped)"
                    ),
                ]);
                found.mongodb_stand_in = Some(what);
            }
            // Tests run the program; the long-running server is the learner's, so say both.
            None if service == Service::Prometheus => rows.push(vec![
                ui::green("✔"),
                service.display_name().to_owned(),
                format!("{endpoint}; {}", prometheus::server_state()),
            ]),
            None if service == Service::PgReplica => rows.push(vec![
                ui::green("✔"),
                service.display_name().to_owned(),
                format!(
                    "{endpoint}; {}",
                    replica::replica_state(&replica::bin_for_psql())
                ),
            ]),
            None => rows.push(vec![
                ui::green("✔"),
                service.display_name().to_owned(),
                endpoint.to_string(),
            ]),
        }
    }
    print!("{}", ui::table(&rows));
    for service in &found.missing {
        let verb = if service.is_program() {
            "install"
        } else {
            "start"
        };
        println!("\n  To {verb} {service}:");
        for command in discover::how_to_start(*service) {
            println!("    {command}");
        }
    }
    found
}

/// What the MongoDB stand-in says it is, when it is what answers at `url`.
fn stand_in_at(url: &str) -> Option<String> {
    match mongodb_flavor_at(url) {
        Ok(MongoFlavor::StandIn(what)) => Some(what),
        _ => None,
    }
}

pub fn status() -> Result<()> {
    let docker = discover::docker_engine_answers();
    println!(
        "Docker engine: {}\n",
        if docker {
            ui::green("answers")
        } else {
            "not running or not installed".to_owned()
        }
    );
    report();
    Ok(())
}

pub fn up() -> Result<()> {
    if discover::docker_engine_answers() {
        docker_compose(&["up", "-d", "--wait"])?;
        // Compose runs the learner's Prometheus; the tests still need the program.
        prometheus::ensure_installed();
        println!(
            "  The PostgreSQL replica is made only from a local (non-Docker) PostgreSQL; with \
             Docker, name a standby of yours in {}.",
            Service::PgReplica.env_var()
        );
    } else {
        println!(
            "No Docker engine answers, so nothing is started for you but the MongoDB stand-in\n\
             and Prometheus; looking for services that already run (URL variables, then\n\
             default ports):\n"
        );
        // A real MongoDB that is merely stopped should be started, not replaced.
        if discover::locate(Service::MongoDb).is_err() && !discover::command_exists("mongod") {
            // Discovery's rule: an empty variable counts as unset.
            let url_set =
                std::env::var(Service::MongoDb.env_var()).is_ok_and(|url| !url.trim().is_empty());
            if url_set {
                println!(
                    "  MONGODB_URL is set but nothing answers there: not starting the stand-in \
                     in its place.\n"
                );
            } else {
                println!("  No MongoDB server is installed here: using the MongoDB stand-in.");
                standin::start()?;
                println!();
            }
        }
        prometheus::ensure_installed();
        prometheus::start()?;
        replica::ensure();
        println!();
    }
    let mut missing = report().missing;
    // Optional: a streaming standby is an extra of a local PostgreSQL.
    if missing.contains(&Service::PgReplica) {
        println!(
            "\nWithout the PostgreSQL replica, the tests marked `needs_pg_replica` are skipped \
             and lesson 11's `replica` step says it is missing."
        );
        missing.retain(|s| *s != Service::PgReplica);
    }
    if missing.is_empty() {
        println!("\nAll services answer.");
        Ok(())
    } else {
        let names: Vec<_> = missing.iter().map(|s| s.display_name()).collect();
        bail!(
            "not running or not installed: {}. Lessons that need them say so; `cargo xtask test` \
             skips their tests.",
            names.join(", ")
        )
    }
}

pub fn down() -> Result<()> {
    if standin::stop()? {
        println!("Stopped the MongoDB stand-in.");
    }
    if prometheus::stop()? {
        println!("Stopped Prometheus (127.0.0.1:9090).");
    }
    if replica::stop() {
        println!("Stopped the PostgreSQL replica (127.0.0.1:5433).");
    }
    if discover::docker_engine_answers() {
        // Named volumes survive `down`: the data is there again after the next `up`.
        return docker_compose(&["down"]);
    }
    println!(
        "No Docker engine: the services here were started outside the course, so stop them the\n\
         way they were started, for example:\n  \
         pg_ctlcluster --skip-systemctl-redirect <version> main stop\n  \
         redis-cli shutdown nosave\n  \
         rabbitmqctl stop"
    );
    Ok(())
}

/// `docker compose <args>` at the workspace root, where `docker-compose.yml` is.
fn docker_compose(args: &[&str]) -> Result<()> {
    ui::heading(&format!("docker compose {}", args.join(" ")));
    let ok = cargo::run_visible(
        std::process::Command::new("docker")
            .current_dir(cargo::root())
            .arg("compose")
            .args(args),
    )?;
    if !ok {
        bail!(
            "docker compose {} failed (see its output above)",
            args.join(" ")
        );
    }
    Ok(())
}
