//! The MongoDB stand-in: installed, started and stopped for machines with no MongoDB server.
//!
//! `cargo xtask services up` calls [`start`] when nothing answers on MongoDB's port and no
//! Docker engine can run the real thing. The stand-in itself is `xtask/mongo-standin/standin.py`
//! (read its header for what it can and cannot do); this module gives it a Python virtual
//! environment under `target/xtask/mongo-standin/`, with the pinned packages of
//! `requirements.txt`, and runs it in the background as a [`Daemon`] (its own process group,
//! a pid file and a log under `target/`).

use std::fs;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cargo::{self, succeeds};
use crate::daemon::Daemon;
use crate::ui;

const PORT: u16 = 27017;
const HOST: &str = "127.0.0.1";

/// Where the stand-in's sources live (committed) and where it runs (generated, in target/).
struct Paths {
    script: PathBuf,
    requirements: PathBuf,
    home: PathBuf,
    venv: PathBuf,
    pid: PathBuf,
    log: PathBuf,
}

fn paths() -> Paths {
    let root = cargo::root();
    let sources = root.join("xtask").join("mongo-standin");
    let home = root.join("target").join("xtask").join("mongo-standin");
    Paths {
        script: sources.join("standin.py"),
        requirements: sources.join("requirements.txt"),
        venv: home.join("venv"),
        pid: home.join("standin.pid"),
        log: home.join("standin.log"),
        home,
    }
}

/// The stand-in as a background process: a process running our `standin.py` is ours.
fn daemon(paths: &Paths) -> Daemon {
    Daemon {
        pid_file: paths.pid.clone(),
        log_file: paths.log.clone(),
        signature: paths.script.to_string_lossy().into_owned(),
    }
}

/// Installs (first time only) and starts the stand-in, then waits until it answers.
pub fn start() -> Result<()> {
    let paths = paths();
    fs::create_dir_all(&paths.home)
        .with_context(|| format!("could not create {}", paths.home.display()))?;
    let python = ensure_venv(&paths)?;

    println!(
        "  Starting the MongoDB stand-in on {HOST}:{PORT} (log: {})",
        paths.log.display()
    );
    daemon(&paths).spawn(Command::new(&python).arg(&paths.script).args([
        "--host",
        HOST,
        "--port",
        &PORT.to_string(),
    ]))?;

    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Ok(flavor) = testkit::standin::mongodb_flavor(HOST, PORT) {
            if flavor.is_stand_in() {
                println!("  {} the MongoDB stand-in answers", ui::green("✔"));
                return Ok(());
            }
            bail!("something else answers on {HOST}:{PORT}: a real MongoDB server?");
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let log = fs::read_to_string(&paths.log).unwrap_or_default();
    bail!(
        "the MongoDB stand-in did not answer within 30 s; its log ({}) says:\n{log}",
        paths.log.display()
    )
}

/// Stops the stand-in this runner started, if it runs. Returns whether there was one.
pub fn stop() -> Result<bool> {
    daemon(&paths()).stop()
}

/// The virtual environment's Python, creating the environment and installing the pinned
/// packages the first time (or again when `requirements.txt` changed).
fn ensure_venv(paths: &Paths) -> Result<PathBuf> {
    let python = paths.venv.join("bin").join("python");
    let stamp = paths.venv.join("requirements.installed");
    let wanted = fs::read_to_string(&paths.requirements)
        .with_context(|| format!("could not read {}", paths.requirements.display()))?;
    if python.is_file() && fs::read_to_string(&stamp).is_ok_and(|had| had == wanted) {
        return Ok(python);
    }

    let system_python = ["python3", "python"]
        .into_iter()
        .find(|p| succeeds(Command::new(p).arg("--version")))
        .context(
            "the MongoDB stand-in needs Python 3 with venv and pip \
             (Debian/Ubuntu: apt-get install -y python3 python3-venv)",
        )?;
    println!("  Creating a Python environment for the MongoDB stand-in (once)...");
    if !succeeds(
        Command::new(system_python)
            .args(["-m", "venv"])
            .arg(&paths.venv),
    ) {
        bail!(
            "`{system_python} -m venv` failed: install the venv module \
             (Debian/Ubuntu: apt-get install -y python3-venv) and run this again"
        );
    }
    println!("  Installing mockupdb and mongomock-ng from PyPI (pinned in requirements.txt)...");
    let ok = cargo::run_visible(
        Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "-r",
            ])
            .arg(&paths.requirements),
    )?;
    if !ok {
        bail!("pip could not install the MongoDB stand-in's packages (see its output above)");
    }
    fs::write(&stamp, wanted).with_context(|| format!("could not write {}", stamp.display()))?;
    Ok(python)
}
