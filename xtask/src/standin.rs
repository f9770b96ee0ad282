//! The MongoDB stand-in: installed, started and stopped for machines with no MongoDB server.
//!
//! `cargo xtask services up` calls [`start`] when nothing answers on MongoDB's port and no
//! Docker engine can run the real thing. The stand-in itself is `xtask/mongo-standin/standin.py`
//! (read its header for what it can and cannot do); this module gives it a Python virtual
//! environment under `target/xtask/mongo-standin/`, with the pinned packages of
//! `requirements.txt`, and runs it in the background in a process group of its own, so a
//! Ctrl-C in the terminal that started it does not stop it.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use crate::cargo::{self, succeeds};
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
    let log = fs::File::create(&paths.log)
        .with_context(|| format!("could not create {}", paths.log.display()))?;
    let mut command = Command::new(&python);
    command
        .arg(&paths.script)
        .args(["--host", HOST, "--port", &PORT.to_string()])
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log);
    detach(&mut command);
    let child = command
        .spawn()
        .with_context(|| format!("could not start {}", python.display()))?;
    fs::write(&paths.pid, child.id().to_string())
        .with_context(|| format!("could not write {}", paths.pid.display()))?;

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
    let paths = paths();
    let Ok(pid) = fs::read_to_string(&paths.pid) else {
        return Ok(false);
    };
    let pid = pid.trim().to_owned();
    // The pid file may be stale: the stand-in died, or the machine restarted, and the number
    // now belongs to another process. Kill only a process that is running our script.
    if !is_stand_in(&pid, &paths) {
        let _ = fs::remove_file(&paths.pid);
        return Ok(false);
    }
    // `kill` rather than a signal crate: one command, present on every Unix.
    let stopped = Command::new("kill")
        .arg(&pid)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    let _ = fs::remove_file(&paths.pid);
    // Wait for it to be gone, so that a `services up` right after finds the port free.
    let deadline = Instant::now() + Duration::from_secs(5);
    let alive = || succeeds(Command::new("kill").args(["-0", &pid]));
    while stopped && Instant::now() < deadline && alive() {
        std::thread::sleep(Duration::from_millis(50));
    }
    Ok(stopped)
}

/// Is process `pid` the stand-in, i.e. is its command line running our `standin.py`?
/// `ps -o args=` reads it the same way on Linux and macOS.
fn is_stand_in(pid: &str, paths: &Paths) -> bool {
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    let Ok((true, args, _)) =
        cargo::run_captured(Command::new("ps").args(["-p", pid, "-o", "args="]))
    else {
        return false;
    };
    is_stand_in_command(&args, &paths.script)
}

/// Does the command line `args` run `script`?
fn is_stand_in_command(args: &str, script: &std::path::Path) -> bool {
    let script = script.to_string_lossy();
    args.split_whitespace().any(|word| word == script)
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

/// Puts the child in a process group of its own: it outlives this command and ignores the
/// Ctrl-C meant for the terminal's foreground job.
fn detach(command: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        command.process_group(0);
    }
    #[cfg(not(unix))]
    let _ = command;
}

#[cfg(test)]
mod tests {
    use super::is_stand_in_command;
    use std::path::Path;

    #[test]
    fn only_a_process_running_our_script_counts_as_the_stand_in() {
        let script = Path::new("/w/xtask/mongo-standin/standin.py");
        assert!(is_stand_in_command(
            "/w/target/venv/bin/python /w/xtask/mongo-standin/standin.py --port 27017\n",
            script
        ));
        // A stale pid that now belongs to something else.
        assert!(!is_stand_in_command("/usr/sbin/sshd -D", script));
        assert!(!is_stand_in_command(
            "python /other/checkout/xtask/mongo-standin/standin.py",
            script
        ));
    }
}
