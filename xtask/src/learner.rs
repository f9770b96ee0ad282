//! The learner's commands: progress, hint, watch, reset, solution.
//!
//! Progress is never stored: it is whatever the tests say right now, so it cannot disagree
//! with the code. The only state kept is how many hints were shown (in `target/xtask/`).

use std::io::BufRead;
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result, bail};

use crate::cargo::{self, Outcome, TestRun};
use crate::exercise::{self, Exercise, Part, Status};
use crate::ui;

pub fn progress() -> Result<()> {
    let exercises = exercise::all()?;
    let mut rows = vec![vec![
        ui::bold("#"),
        ui::bold("exercise"),
        ui::bold("status"),
        ui::bold("tests passing"),
    ]];
    let mut done = 0;
    let mut next = None;
    for (i, exercise) in exercises.iter().enumerate() {
        eprint!(
            "\r{} checking exercise {} ({}/{})...   ",
            ui::dim("·"),
            exercise.id(),
            i + 1,
            exercises.len()
        );
        let (status, _) = exercise.status()?;
        let (label, tests) = match status {
            Status::Done { total } => (ui::green("✔ done"), format!("{total}/{total}")),
            Status::InProgress { passed, total } => {
                (ui::yellow("… in progress"), format!("{passed}/{total}"))
            }
            Status::NotStarted { total } => ("· not started".to_owned(), format!("0/{total}")),
            Status::Crashed { passed, total, .. } => (
                ui::red("✘ a test binary crashed"),
                format!("{passed}/{total}+"),
            ),
            Status::DoesNotCompile => (ui::red("✘ does not compile"), "-".to_owned()),
        };
        if status.is_done() {
            done += 1;
        } else if next.is_none() {
            next = Some(exercise.clone());
        }
        rows.push(vec![
            exercise.id(),
            exercise.topic().to_owned(),
            label,
            tests,
        ]);
    }
    eprint!("\r{}\r", " ".repeat(50));
    println!("\nYour exercises, as their tests see them:\n");
    print!("{}", ui::table(&rows));
    println!(
        "\n  {} exercises done\n",
        ui::bar(done, exercises.len(), 30)
    );
    match next {
        Some(exercise) => println!(
            "Next: exercise {id} ({topic}). Read {chapter}, then run `cargo xtask watch {id}`\n\
             and edit {file} until its tests pass.",
            id = exercise.id(),
            topic = exercise.topic(),
            chapter = exercise.chapter(),
            file = exercise.relative(&exercise.learner_file()),
        ),
        None => println!("{}", ui::green("Every exercise passes. Well done!")),
    }
    Ok(())
}

const HINT_LEVELS: [&str; 3] = ["a nudge", "the approach", "nearly the solution"];

pub fn hint(wanted: &str, part: Option<&str>) -> Result<()> {
    let exercise = exercise::find(wanted)?;
    let parts = exercise.parts();
    let list = || {
        parts
            .iter()
            .map(|p| {
                format!(
                    "`cargo xtask hint {} {}` ({})",
                    exercise.id(),
                    p.letter,
                    p.topic
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let part = match part {
        Some(wanted) => {
            let letter = wanted
                .trim()
                .trim_start_matches("part")
                .trim()
                .to_lowercase();
            match parts.iter().find(|p| p.letter.to_string() == letter) {
                Some(part) => part.clone(),
                None => bail!(
                    "exercise {} has no part `{wanted}`. Its parts: {}",
                    exercise.id(),
                    list()
                ),
            }
        }
        None => {
            eprintln!(
                "{}",
                ui::dim("Running your tests to find the first unfinished part...")
            );
            let (_, run) = exercise.status()?;
            match first_unfinished_part(&parts, &run) {
                Some(part) => part.clone(),
                None => bail!("which part? {}", list()),
            }
        }
    };
    let hints = exercise.hints(part.letter);
    if hints.is_empty() {
        bail!(
            "part ({}) of exercise {} has no hints yet",
            part.letter,
            exercise.id()
        );
    }
    let key = format!("{}{}", exercise.id(), part.letter);
    let mut state = HintState::load()?;
    let shown = state.shown(&key);
    if shown >= hints.len() {
        println!(
            "You have seen all {} hints for part ({}) of exercise {}. Read them again in {}/, \
             or the chapter ({}), section \"Exercise\". The solution unlocks with \
             `cargo xtask solution {}` once your tests pass.",
            hints.len(),
            part.letter,
            exercise.id(),
            exercise.relative(&exercise.dir.join("hints").join(part.letter.to_string())),
            exercise.chapter(),
            exercise.id()
        );
        return Ok(());
    }
    let level = shown + 1;
    let text = std::fs::read_to_string(&hints[shown])
        .with_context(|| format!("cannot read {}", hints[shown].display()))?;
    let kind = HINT_LEVELS.get(shown).copied().unwrap_or("more detail");
    println!(
        "{}\n\n{}",
        ui::bold(&format!(
            "Hint {level} of {} for exercise {}, part ({}) {} ({kind}):",
            hints.len(),
            exercise.id(),
            part.letter,
            part.topic
        )),
        text.trim_end()
    );
    if level < hints.len() {
        println!(
            "\n{}",
            ui::dim(&format!(
                "Still stuck? `cargo xtask hint {} {}` shows the next level.",
                exercise.id(),
                part.letter
            ))
        );
    }
    state.set_shown(&key, level);
    state.save()
}

/// The first part (in letter order) with a test that did not pass. Tests are named after
/// their part's module: `part_b_discount::...`.
fn first_unfinished_part<'p>(parts: &'p [Part], run: &TestRun) -> Option<&'p Part> {
    parts.iter().find(|part| {
        run.outcomes.iter().any(|(name, outcome)| {
            *outcome != Outcome::Passed && name.starts_with(&format!("{}::", part.module))
        })
    })
}

/// How many hints of each exercise were shown: `target/xtask/hints`, one `NN level` a line.
struct HintState {
    path: PathBuf,
    entries: Vec<(String, usize)>,
}

impl HintState {
    fn load() -> Result<Self> {
        let path = cargo::root().join("target").join("xtask").join("hints");
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let entries = text
            .lines()
            .filter_map(|line| {
                let (id, level) = line.split_once(' ')?;
                Some((id.to_owned(), level.parse().ok()?))
            })
            .collect();
        Ok(Self { path, entries })
    }

    fn shown(&self, id: &str) -> usize {
        self.entries
            .iter()
            .find(|(e, _)| e == id)
            .map_or(0, |(_, level)| *level)
    }

    fn set_shown(&mut self, id: &str, level: usize) {
        self.entries.retain(|(e, _)| e != id);
        self.entries.push((id.to_owned(), level));
    }

    fn save(&self) -> Result<()> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let text: String = self
            .entries
            .iter()
            .map(|(id, level)| format!("{id} {level}\n"))
            .collect();
        std::fs::write(&self.path, text)
            .with_context(|| format!("cannot save hint progress to {}", self.path.display()))
    }
}

pub fn reset(wanted: &str) -> Result<()> {
    let exercise = exercise::find(wanted)?;
    let file = exercise.learner_file();
    let relative = exercise.relative(&file);
    let stub = exercise.pristine_stub()?;
    let current = std::fs::read_to_string(&file).unwrap_or_default();
    if current == stub {
        println!("{relative} is already the stub; nothing to do.");
        return Ok(());
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let backup = cargo::root()
        .join("target")
        .join("xtask")
        .join("backups")
        .join(format!("{}-{stamp}.rs", exercise.slug));
    if let Some(dir) = backup.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&backup, &current)
        .with_context(|| format!("cannot back up {relative}; nothing was changed"))?;
    std::fs::write(&file, stub).with_context(|| format!("cannot write {relative}"))?;
    println!(
        "Restored {relative} to the stub.\nYour previous version is saved in {}.",
        exercise.relative(&backup)
    );
    Ok(())
}

pub fn solution(wanted: &str) -> Result<()> {
    let exercise = exercise::find(wanted)?;
    eprintln!("{}", ui::dim("Running your tests first..."));
    let (status, _) = exercise.status()?;
    let Status::Done { .. } = status else {
        bail!(
            "the solution of exercise {id} unlocks once all of its tests pass ({}).\n\
             Try `cargo xtask watch {id}`, and `cargo xtask hint {id}` when stuck.",
            describe(status),
            id = exercise.id()
        );
    };
    let path = exercise.solution_dir().join("lib.rs");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("cannot read {}", path.display()))?;
    println!(
        "{}\n{}\n\n{text}",
        ui::green(&format!(
            "Your exercise {} passes. Compare it with the reference solution:",
            exercise.id()
        )),
        ui::dim(&format!("({})", exercise.relative(&path)))
    );
    Ok(())
}

fn describe(status: Status) -> String {
    match status {
        Status::Done { total } => format!("all {total} tests pass"),
        Status::InProgress { passed, total } => format!("{passed} of {total} tests pass"),
        Status::NotStarted { total } => format!("none of its {total} tests pass yet"),
        Status::Crashed { why, .. } => format!("a test binary crashed: {why}"),
        Status::DoesNotCompile => "it does not compile yet".to_owned(),
    }
}

enum Trigger {
    Changed,
    RunAgain,
    Quit,
}

pub fn watch(wanted: Option<&str>, manual: bool) -> Result<()> {
    let exercise = match wanted {
        Some(wanted) => exercise::find(wanted)?,
        None => first_unfinished()?,
    };
    let (tx, rx) = mpsc::channel();

    let watching = !manual
        && match start_watcher(&exercise, tx.clone()) {
            Ok(()) => true,
            Err(e) => {
                println!(
                    "{} file watching is unavailable here ({e:#}); press Enter to re-run instead.",
                    ui::yellow("note:")
                );
                false
            }
        };
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let trigger = match line.as_deref().map(str::trim) {
                Ok("q") | Ok("quit") | Err(_) => Trigger::Quit,
                Ok(_) => Trigger::RunAgain,
            };
            let quit = matches!(trigger, Trigger::Quit);
            if tx.send(trigger).is_err() || quit {
                return;
            }
        }
        let _ = tx.send(Trigger::Quit); // stdin closed
    });

    loop {
        run_once(&exercise)?;
        let how = if watching {
            "save the file to re-run, Enter to re-run now, q + Enter to quit"
        } else {
            "Enter to re-run, q + Enter to quit"
        };
        println!(
            "\n{} {} ({how})",
            ui::dim("Waiting:"),
            exercise.relative(&exercise.learner_file())
        );
        match rx.recv() {
            Ok(Trigger::Changed) | Ok(Trigger::RunAgain) => {
                // An editor's save is several events; let them land, then run once.
                std::thread::sleep(Duration::from_millis(200));
                let mut quit = false;
                while let Ok(trigger) = rx.try_recv() {
                    quit |= matches!(trigger, Trigger::Quit);
                }
                if quit {
                    return Ok(());
                }
            }
            Ok(Trigger::Quit) | Err(_) => return Ok(()),
        }
    }
}

/// Watches the exercise's `src/` and `tests/` by polling: every few hundred milliseconds it
/// compares each file's size and modification time with the last look.
///
/// Polling rather than the OS's notification APIs (inotify, FSEvents) on purpose: it needs no
/// dependency, sees saves from every editor (including those that write a new file and rename
/// it), and works on the network and container file systems where notifications never arrive.
/// A handful of `stat` calls three times a second costs nothing.
fn start_watcher(exercise: &Exercise, tx: mpsc::Sender<Trigger>) -> Result<()> {
    let dirs = [exercise.dir.join("src"), exercise.tests_dir()];
    let mut last = snapshot(&dirs)?;
    std::thread::spawn(move || {
        loop {
            std::thread::sleep(Duration::from_millis(300));
            // A failed look (a file mid-rename, say) is just skipped: the next one will see it.
            let Ok(now) = snapshot(&dirs) else { continue };
            if now != last {
                last = now;
                if tx.send(Trigger::Changed).is_err() {
                    return; // watch has ended
                }
            }
        }
    });
    Ok(())
}

/// (path, size, modification time) of every file below `dirs`, sorted.
fn snapshot(dirs: &[PathBuf]) -> Result<Vec<(PathBuf, u64, SystemTime)>> {
    let mut files = Vec::new();
    let mut pending: Vec<PathBuf> = dirs.to_vec();
    while let Some(dir) = pending.pop() {
        for entry in
            std::fs::read_dir(&dir).with_context(|| format!("cannot read {}", dir.display()))?
        {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                files.push((entry.path(), metadata.len(), metadata.modified()?));
            }
        }
    }
    files.sort();
    Ok(files)
}

fn run_once(exercise: &Exercise) -> Result<()> {
    println!(
        "\n{} exercise {} ({})",
        ui::bold("==> testing"),
        exercise.id(),
        exercise.topic()
    );
    let (status, run) = exercise.status()?;
    report(exercise, status, &run);
    Ok(())
}

fn report(exercise: &Exercise, status: Status, run: &TestRun) {
    match status {
        Status::DoesNotCompile => {
            print!("{}", compiler_errors(&run.stderr));
            println!(
                "{}",
                ui::red("✘ your code does not compile yet (errors above)")
            );
        }
        Status::Done { total } => {
            println!(
                "{}",
                ui::green(&format!(
                    "✔ all {total} tests pass: exercise {} is done!",
                    exercise.id()
                ))
            );
            println!(
                "  Compare with the reference: `cargo xtask solution {}`; see where you stand: \
                 `cargo xtask progress`.",
                exercise.id()
            );
        }
        Status::Crashed { why, .. } => {
            print!("{}", run.failure_report(3));
            println!("{}", ui::red(&format!("✘ {why}")));
            println!(
                "  A test process that dies (a stack overflow from a `Display` or `fmt` that calls \
                 itself is the classic) takes its other tests with it, so the exercise cannot be \
                 done until it finishes. Run `cargo test -p {}` to see its whole output.",
                exercise.package()
            );
        }
        Status::InProgress { .. } | Status::NotStarted { .. } => {
            let parts = exercise.parts();
            let first = first_unfinished_part(&parts, run);
            // The first screen is about the first thing to do: the failures of the first
            // unfinished part; the rest is a count per part.
            print!("{}", run.failure_report(2));
            for part in &parts {
                let prefix = format!("{}::", part.module);
                let mine: Vec<_> = run
                    .outcomes
                    .iter()
                    .filter(|(name, _)| name.starts_with(&prefix))
                    .collect();
                if mine.is_empty() {
                    continue;
                }
                let passed = mine.iter().filter(|(_, o)| *o == Outcome::Passed).count();
                println!(
                    "  part ({}) {:<20} {}",
                    part.letter,
                    part.topic,
                    ui::bar(passed, mine.len(), 20)
                );
            }
            let passed = run.count(Outcome::Passed);
            println!(
                "  {} {}",
                ui::bar(passed, run.outcomes.len(), 30),
                ui::yellow("tests passing in all")
            );
            match first {
                Some(part) => println!(
                    "  Next: part ({}) {}. Stuck? `cargo xtask hint {} {}`. The chapter: {}",
                    part.letter,
                    part.topic,
                    exercise.id(),
                    part.letter,
                    exercise.chapter()
                ),
                None => println!(
                    "  Stuck? `cargo xtask hint {}`. The chapter: {}",
                    exercise.id(),
                    exercise.chapter()
                ),
            }
        }
    }
}

/// cargo's stderr minus its progress lines: what the learner needs is the compiler's errors.
fn compiler_errors(stderr: &str) -> String {
    stderr
        .lines()
        .filter(|line| {
            let t = line.trim_start();
            !(t.starts_with("Compiling")
                || t.starts_with("Finished")
                || t.starts_with("Running")
                || t.starts_with("Blocking"))
        })
        .map(|line| format!("{line}\n"))
        .collect()
}

fn first_unfinished() -> Result<Exercise> {
    for exercise in exercise::all()? {
        let (status, _) = exercise.status()?;
        if !status.is_done() {
            return Ok(exercise);
        }
    }
    bail!("every exercise already passes: pick one to revisit, e.g. `cargo xtask watch 01`")
}
