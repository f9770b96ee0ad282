//! The plumbing every demonstration shares, so that a lesson's `main.rs` is its table of
//! contents and little else:
//!
//! - [`init_tracing`]: logs on stderr, at the level the demo asks for unless `RUST_LOG` says
//!   otherwise, coloured only on a terminal;
//! - [`cancel_on_ctrl_c`]: Ctrl-C as a [`CancellationToken`];
//! - [`Steps`], [`Contents`] and [`StepArgs`]: the table of contents, with `--list` and
//!   `--only N[,M]`;
//! - [`Tally`] and [`Outcome`]: how the run went, as the exit status.
//!
//! Every lesson's `main.rs` has the same shape: this example is one, cut down to two steps.
//!
//! ```
//! use clap::Parser;
//! use narrate::demo::{
//!     Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
//! };
//!
//! /// The steps `--only` can pick.
//! #[derive(Debug, Clone, Copy, PartialEq, Eq)]
//! enum Step {
//!     Greet,
//!     Count,
//! }
//!
//! impl Steps for Step {
//!     const CONTENTS: Contents<Self> = Contents::new(&[
//!         Entry::always("start", "Start"),
//!         Entry::step(Step::Greet, "greet", "Say hello"),
//!         Entry::step(Step::Count, "count", "Count to three"),
//!     ]);
//! }
//!
//! #[derive(Debug, Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     steps: StepArgs<Step>,
//! }
//!
//! fn main() -> Result<Outcome, std::io::Error> {
//!     let cli = Cli::parse_from(["demo", "--only", "count"]);
//!     if cli.steps.print_list_if_asked() {
//!         return Ok(Outcome::Success);
//!     }
//!     init_tracing("off");
//!     let runtime = tokio::runtime::Runtime::new()?;
//!     Ok(runtime.block_on(run(cli)))
//! }
//!
//! async fn run(cli: Cli) -> Outcome {
//!     let shutdown = cancel_on_ctrl_c();
//!     narrate::heading(1, "Start"); // the steps the others need run whatever --only says
//!     let mut tally = Tally::default();
//!     for step in cli.steps.selected() {
//!         if shutdown.is_cancelled() {
//!             break; // Ctrl-C: the steps not started yet are skipped
//!         }
//!         tally.record(step, run_step(step).await);
//!     }
//!     tally.outcome(&shutdown)
//! }
//!
//! /// The table of contents: one call per step.
//! async fn run_step(step: Step) -> Result<(), std::io::Error> {
//!     match step {
//!         Step::Greet => narrate::heading(2, "Say hello"),
//!         Step::Count => narrate::heading(3, "Count to three"),
//!     }
//!     Ok(())
//! }
//! ```

use std::collections::BTreeSet;
use std::error::Error;
use std::fmt;
use std::io::IsTerminal;
use std::marker::PhantomData;
use std::process::{ExitCode, Termination};

use clap::Args;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Sends `tracing`'s logs to stderr, so they never mix with the narration on stdout.
/// `default_filter` is the demo's choice ("off" while it narrates, "info" for a `--serve`
/// mode); `RUST_LOG` overrides it (`RUST_LOG=sqlx=info` shows every statement). Colours only
/// when stderr is a terminal: escape codes in a log file or a CI page are noise.
pub fn init_tracing(default_filter: &str) {
    let filter = match std::env::var("RUST_LOG") {
        Ok(directives) if !directives.trim().is_empty() => match EnvFilter::try_new(&directives) {
            Ok(filter) => filter,
            // A typo should not silence the logs someone asked for without a word.
            Err(error) => {
                eprintln!("  RUST_LOG={directives:?} is not a log filter ({error}); ignored.");
                EnvFilter::new(default_filter)
            }
        },
        _ => EnvFilter::new(default_filter),
    };
    // `try_init` fails only when a subscriber is already installed; the first one stays.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

// ANCHOR: cancel_on_ctrl_c
/// A token that Ctrl-C cancels. Everything that should stop holds a clone of it (or a
/// child, [`CancellationToken::child_token`]) and watches it; nothing reads a global flag.
/// A second Ctrl-C quits at once, for the impatient and for work that does not watch.
///
/// Call it inside the tokio runtime: like `tokio::spawn`, which it calls to listen, it panics
/// outside one.
pub fn cancel_on_ctrl_c() -> CancellationToken {
    let shutdown = CancellationToken::new();
    let cancel = shutdown.clone();
    tokio::spawn(async move {
        // An error means no handler could be installed: Ctrl-C keeps its default effect,
        // ending the process, and the token is never cancelled.
        if tokio::signal::ctrl_c().await.is_err() {
            return;
        }
        eprintln!("\n  Ctrl-C: stopping gracefully (press it again to quit at once)...");
        cancel.cancel();
        if tokio::signal::ctrl_c().await.is_ok() {
            std::process::exit(Outcome::Interrupted.code().into());
        }
    });
    shutdown
}
// ANCHOR_END: cancel_on_ctrl_c

/// A demo's exit status, the same rule in every lesson, so a script (or the course's CI) can
/// tell a whole run from half of one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// 0: every step ran. Also `--list`, `--help`, and a `--serve` mode stopped by Ctrl-C,
    /// which is how a server is meant to stop.
    Success,
    /// 1: a step failed, or a service a step needs was missing; the other steps still ran.
    Failure,
    /// 2: a usage error, a bad flag or value. Clap reports those itself, with this status.
    Usage,
    /// 130: interrupted by Ctrl-C (128 + SIGINT, the number shells report for it).
    Interrupted,
}

impl Outcome {
    /// The number the shell sees (`echo $?`).
    pub const fn code(self) -> u8 {
        match self {
            Outcome::Success => 0,
            Outcome::Failure => 1,
            Outcome::Usage => 2,
            Outcome::Interrupted => 130,
        }
    }
}

impl From<Outcome> for ExitCode {
    fn from(outcome: Outcome) -> ExitCode {
        ExitCode::from(outcome.code())
    }
}

/// Lets `main` return an `Outcome`, or an `anyhow::Result<Outcome>`: an error then prints its
/// causes and exits with 1, which is [`Outcome::Failure`].
impl Termination for Outcome {
    fn report(self) -> ExitCode {
        self.into()
    }
}

/// What a demonstration saw that its chapter says cannot happen: a step that checks its own
/// claims (the attack was refused, the counters agree) fails with this instead of printing a
/// story the run did not bear out.
#[derive(Debug)]
pub struct Unexpected {
    /// What the lesson says, in a few words.
    pub expected: &'static str,
    /// What the demonstration saw instead.
    pub got: String,
}

impl fmt::Display for Unexpected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the lesson says {}, but the demonstration saw otherwise: {}",
            self.expected, self.got
        )
    }
}

impl Error for Unexpected {}

/// `Ok` when `ok`, else [`Unexpected`] with what was expected and what was seen.
pub fn expect(ok: bool, expected: &'static str, got: impl Into<String>) -> Result<(), Unexpected> {
    if ok {
        Ok(())
    } else {
        Err(Unexpected {
            expected,
            got: got.into(),
        })
    }
}

/// How the steps of one run went. A failed step is reported on stderr as it fails, and the
/// demo goes on: every step can run on its own (that is what `--only` does), so one failure
/// does not spoil the next.
#[derive(Debug, Default)]
pub struct Tally {
    failed: usize,
    services_missing: usize,
}

impl Tally {
    /// Records what `step` returned, and prints the error with its causes if it failed.
    pub fn record<S: Steps, E: Error>(&mut self, step: S, result: Result<(), E>) {
        if let Err(error) = result {
            self.failed += 1;
            eprintln!("\n  Step {} failed: {error}", S::CONTENTS.label(step));
            let mut cause = error.source();
            while let Some(inner) = cause {
                eprintln!("    caused by: {inner}");
                cause = inner.source();
            }
        }
    }

    /// Records that a step skipped what needs a service that did not answer (the step itself
    /// says which, and how to start it).
    pub fn service_missing(&mut self) {
        self.services_missing += 1;
    }

    /// The exit status: interrupted if `shutdown` was cancelled, else failure if a step failed
    /// or went without a service, else success.
    pub fn outcome(&self, shutdown: &CancellationToken) -> Outcome {
        if shutdown.is_cancelled() {
            Outcome::Interrupted
        } else if self.failed > 0 || self.services_missing > 0 {
            Outcome::Failure
        } else {
            Outcome::Success
        }
    }
}

/// The steps of a demo that `--only` can pick: an enum, one variant per step, which the
/// lesson's table of contents matches on. [`Steps::CONTENTS`] numbers, names and titles every
/// step, including the ones the demo always runs (start-up, shutdown), which need no variant.
pub trait Steps: Copy + Eq + fmt::Debug + Send + Sync + 'static {
    /// Every step, in the order the demo runs them.
    const CONTENTS: Contents<Self>;
}

/// One line of the table of contents.
#[derive(Debug, Clone, Copy)]
pub struct Entry<S: 'static> {
    name: &'static str,
    title: &'static str,
    /// `None` for a step the demo always runs.
    step: Option<S>,
    /// The steps `--only` brings along when it picks this one.
    needs: &'static [S],
}

// `S: Copy` (every step enum is) because a `const fn` may take `self` apart, as `needs`
// does, only when nothing in it has a destructor.
impl<S: Copy> Entry<S> {
    /// A step `--only` can pick. `name` is what `--only` accepts besides the number: lowercase
    /// kebab-case (`fan-out`). `title` is the heading the step prints.
    pub const fn step(step: S, name: &'static str, title: &'static str) -> Self {
        Entry {
            name,
            title,
            step: Some(step),
            needs: &[],
        }
    }

    /// A step the demo runs whatever `--only` says, because the others need it (start a
    /// server, connect, seed) or because it cleans up after them (shut down).
    pub const fn always(name: &'static str, title: &'static str) -> Self {
        Entry {
            name,
            title,
            step: None,
            needs: &[],
        }
    }

    pub fn name(&self) -> &'static str {
        self.name
    }

    pub fn title(&self) -> &'static str {
        self.title
    }

    pub fn runs_always(&self) -> bool {
        self.step.is_none()
    }

    /// The steps this one builds on (a row an earlier step wrote, say): `--only` runs them
    /// too when it picks this one, so that every step can be picked on its own.
    pub const fn needs(self, steps: &'static [S]) -> Self {
        Entry {
            needs: steps,
            ..self
        }
    }
}

/// A demo's table of contents: its steps in order, numbered from 1.
#[derive(Debug, Clone, Copy)]
pub struct Contents<S: 'static> {
    entries: &'static [Entry<S>],
}

impl<S> Contents<S> {
    /// The steps in the order they run. Meant for a `const` (see [`Steps::CONTENTS`]), where it
    /// is checked while the lesson compiles: a name `--only` could not accept, or two steps
    /// with one name, is a build error rather than a step nobody can pick.
    pub const fn new(entries: &'static [Entry<S>]) -> Self {
        let mut i = 0;
        while i < entries.len() {
            if let Some(problem) = name_problem(entries[i].name) {
                panic!("{}", problem);
            }
            if entries[i].title.is_empty() {
                panic!("every step needs a title");
            }
            let mut j = 0;
            while j < i {
                if same(entries[i].name.as_bytes(), entries[j].name.as_bytes()) {
                    panic!("two steps have the same name");
                }
                j += 1;
            }
            i += 1;
        }
        Contents { entries }
    }
}

impl<S: Copy + Eq> Contents<S> {
    /// The entries with their numbers: `(1, first)`, `(2, second)`, ...
    pub fn numbered(&self) -> impl Iterator<Item = (usize, &Entry<S>)> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, entry)| (i + 1, entry))
    }

    /// The number of `step`, if the table lists it.
    pub fn number_of(&self, step: S) -> Option<usize> {
        self.numbered()
            .find(|(_, entry)| entry.step == Some(step))
            .map(|(number, _)| number)
    }

    fn number(&self, step: S) -> String {
        self.number_of(step)
            .map_or_else(|| "?".to_owned(), |number| number.to_string())
    }

    /// Which entries run, by place: all of them without `--only`; with it, the ones it
    /// named and the ones those need (and theirs). The always-run ones are the lesson's job.
    fn runs(&self, only: Option<&Selection>) -> Vec<bool> {
        let Some(selection) = only else {
            return vec![true; self.entries.len()];
        };
        let mut runs: Vec<bool> = self
            .numbered()
            .map(|(n, _)| selection.contains(n))
            .collect();
        // Until nothing changes: a need may have needs of its own.
        let mut changed = true;
        while changed {
            changed = false;
            for (i, entry) in self.entries.iter().enumerate() {
                if !runs[i] {
                    continue;
                }
                for &need in entry.needs {
                    if let Some(n) = self.number_of(need)
                        && !runs[n - 1]
                    {
                        runs[n - 1] = true;
                        changed = true;
                    }
                }
            }
        }
        runs
    }

    /// `3 (errors)`, for messages about a step.
    pub fn label(&self, step: S) -> String {
        match self.numbered().find(|(_, entry)| entry.step == Some(step)) {
            Some((number, entry)) => format!("{number} ({})", entry.name),
            None => "(not in the table of contents)".to_owned(),
        }
    }

    /// Parses the value of `--only`: step numbers or names, separated by commas, in any order
    /// and mixed (`2,pool`). A step given twice is selected once.
    pub fn parse_only(&self, text: &str) -> Result<Selection, OnlyError> {
        let mut numbers = BTreeSet::new();
        for item in text.split(',').map(str::trim) {
            let number = if item.is_empty() {
                return Err(OnlyError::Empty {
                    valid: self.valid(),
                });
            } else if item.bytes().all(|b| b.is_ascii_digit()) {
                // Digits that overflow a usize are a number out of range like any other.
                match item.parse::<usize>() {
                    Ok(n) if (1..=self.entries.len()).contains(&n) => n,
                    _ => {
                        return Err(OnlyError::NoSuchNumber {
                            item: crate::truncate(item, 40),
                            valid: self.valid(),
                        });
                    }
                }
            } else {
                match self.numbered().find(|(_, entry)| entry.name == item) {
                    Some((n, _)) => n,
                    None => {
                        return Err(OnlyError::NoSuchName {
                            item: crate::truncate(item, 40),
                            valid: self.valid(),
                        });
                    }
                }
            };
            numbers.insert(number);
        }
        Ok(Selection { numbers })
    }

    /// What `--list` prints: the steps, numbered and named, and how to pick some.
    pub fn listing(&self) -> String {
        let number_width = self.entries.len().to_string().len();
        let name_width = self.entries.iter().map(|e| e.name.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (number, entry) in self.numbered() {
            let mark = if entry.runs_always() {
                "  [always runs]".to_owned()
            } else if entry.needs.is_empty() {
                String::new()
            } else {
                let needs: Vec<String> = entry.needs.iter().map(|&n| self.number(n)).collect();
                format!("  [needs {}]", needs.join(", "))
            };
            out.push_str(&format!(
                "{number:>number_width$}  {:<name_width$}  {}{mark}\n",
                entry.name, entry.title
            ));
        }
        let mut picks = self.numbered().filter(|(_, entry)| !entry.runs_always());
        let example = match (picks.next(), picks.next()) {
            (Some((first, _)), Some((_, second))) => format!("{first},{}", second.name),
            (Some((first, _)), None) => first.to_string(),
            _ => "1".to_owned(),
        };
        out.push_str(&format!(
            "\n--only N[,M] runs some of them, by number or name (--only {example})."
        ));
        if self.entries.iter().any(Entry::runs_always) {
            out.push_str(
                "\nThe steps marked [always runs] run anyway: they set up or clean up \
                 for the others.",
            );
        }
        if self.entries.iter().any(|entry| !entry.needs.is_empty()) {
            out.push_str("\nA step marked [needs N] brings step N along.");
        }
        out.push('\n');
        out
    }

    /// `1 start, 2 crud, ...`: the valid items, for an error message.
    fn valid(&self) -> String {
        let items: Vec<String> = self
            .numbered()
            .map(|(number, entry)| format!("{number} {}", entry.name))
            .collect();
        items.join(", ")
    }
}

/// Why a step name is not one `--only` can accept, or `None` when it is fine.
const fn name_problem(name: &str) -> Option<&'static str> {
    let bytes = name.as_bytes();
    if bytes.is_empty() {
        return Some("a step name is empty");
    }
    if bytes[0] == b'-' || bytes[bytes.len() - 1] == b'-' {
        return Some("a step name starts or ends with '-'");
    }
    let mut all_digits = true;
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if !(b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Some("a step name has a character other than a-z, 0-9 and '-'");
        }
        all_digits &= b.is_ascii_digit();
        i += 1;
    }
    if all_digits {
        return Some("a step name is all digits, which --only reads as a number");
    }
    None
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The steps `--only` picked, by number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    numbers: BTreeSet<usize>,
}

impl Selection {
    pub fn contains(&self, number: usize) -> bool {
        self.numbers.contains(&number)
    }

    /// The numbers picked, in ascending order.
    pub fn numbers(&self) -> impl Iterator<Item = usize> + '_ {
        self.numbers.iter().copied()
    }
}

/// Why `--only` refused its value. Each message ends with the valid steps.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OnlyError {
    /// Nothing between two commas, or no value at all: `2,,3`, `2,`, `""`.
    Empty { valid: String },
    /// A number no step has: `0`, or more than there are steps.
    NoSuchNumber { item: String, valid: String },
    /// A name no step has.
    NoSuchName { item: String, valid: String },
}

impl fmt::Display for OnlyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OnlyError::Empty { valid } => write!(
                f,
                "a step is missing: give numbers or names separated by commas; \
                 the steps are {valid}"
            ),
            OnlyError::NoSuchNumber { item, valid } => {
                write!(f, "there is no step {item}; the steps are {valid}")
            }
            OnlyError::NoSuchName { item, valid } => {
                write!(f, "no step is named {item:?}; the steps are {valid}")
            }
        }
    }
}

impl Error for OnlyError {}

/// The table of contents' flags, the same in every lesson: `#[command(flatten)]` them into the
/// lesson's `Cli`.
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Steps")]
pub struct StepArgs<S: Steps> {
    /// Print the steps, numbered and named, and exit.
    #[arg(long)]
    list: bool,
    /// Run only these steps: numbers or names, comma-separated (e.g. 2,4). The steps the
    /// others need still run; --list shows which.
    #[arg(long, value_name = "N[,M]", value_parser = parse_only::<S>, conflicts_with = "list")]
    only: Option<Selection>,
    #[arg(skip)]
    steps: PhantomData<S>,
}

/// `--only`'s parser: clap refuses what it refuses, with its message and exit status 2.
fn parse_only<S: Steps>(text: &str) -> Result<Selection, OnlyError> {
    S::CONTENTS.parse_only(text)
}

impl<S: Steps> StepArgs<S> {
    /// With `--list`, prints the table of contents to stdout and returns `true`: the caller
    /// then stops, as after `--help`.
    pub fn print_list_if_asked(&self) -> bool {
        if self.list {
            print!("{}", S::CONTENTS.listing());
        }
        self.list
    }

    /// Whether `step` runs: always without `--only`, else when `--only` named it or a step
    /// it named needs it.
    pub fn is_selected(&self, step: S) -> bool {
        let runs = S::CONTENTS.runs(self.only.as_ref());
        S::CONTENTS
            .number_of(step)
            .is_some_and(|number| runs[number - 1])
    }

    /// The steps that run, in the order of the table of contents (`--only 4,2` runs 2 first).
    /// The steps the demo always runs are not in it: the lesson calls them itself.
    pub fn selected(&self) -> impl Iterator<Item = S> + use<S> {
        let runs = S::CONTENTS.runs(self.only.as_ref());
        S::CONTENTS
            .entries
            .iter()
            .zip(runs)
            .filter_map(|(entry, runs)| entry.step.filter(|_| runs))
    }

    /// What `--only` said, if it was given.
    pub fn only(&self) -> Option<&Selection> {
        self.only.as_ref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use clap::error::ErrorKind;

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Step {
        FanOut,
        Pool,
        Pipes,
        Sockets,
    }

    impl Steps for Step {
        const CONTENTS: Contents<Self> = Contents::new(&[
            Entry::always("start", "Start the server"),
            Entry::step(Step::FanOut, "fan-out", "Fan-out, fan-in, timeouts"),
            Entry::step(Step::Pool, "pool", "A bounded worker pool"),
            Entry::step(Step::Pipes, "pipes", "Processes and pipes").needs(&[Step::Pool]),
            Entry::step(Step::Sockets, "sockets", "Sockets").needs(&[Step::Pipes]),
            Entry::always("shutdown", "Graceful shutdown"),
        ]);
    }

    #[derive(Debug, Parser)]
    struct Cli {
        #[arg(long)]
        serve: bool,
        #[command(flatten)]
        steps: StepArgs<Step>,
    }

    fn parse(text: &str) -> Result<Vec<usize>, OnlyError> {
        Step::CONTENTS
            .parse_only(text)
            .map(|selection| selection.numbers().collect())
    }

    fn parse_args(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(["demo"].iter().chain(args))
    }

    #[test]
    fn only_takes_numbers_names_and_both_mixed() {
        assert_eq!(parse("2"), Ok(vec![2]));
        assert_eq!(parse("pool"), Ok(vec![3]));
        assert_eq!(parse("4,fan-out"), Ok(vec![2, 4]));
        assert_eq!(parse(" 2 , pipes "), Ok(vec![2, 4]), "spaces around items");
        assert_eq!(parse("1"), Ok(vec![1]), "an always-run step can be named");
        assert_eq!(parse("06"), Ok(vec![6]));
    }

    #[test]
    fn a_step_given_twice_is_selected_once() {
        assert_eq!(parse("2,2"), Ok(vec![2]));
        assert_eq!(parse("fan-out,2,fan-out"), Ok(vec![2]));
    }

    #[test]
    fn numbers_out_of_range_are_refused_with_the_valid_steps() {
        for item in ["0", "7", "18446744073709551616"] {
            let error = parse(item).unwrap_err();
            assert!(
                matches!(&error, OnlyError::NoSuchNumber { item: got, .. } if got == item),
                "{error:?}"
            );
            assert!(
                error.to_string().ends_with(
                    "the steps are 1 start, 2 fan-out, 3 pool, 4 pipes, 5 sockets, 6 shutdown"
                ),
                "{error}"
            );
        }
        assert!(matches!(parse("2,9"), Err(OnlyError::NoSuchNumber { .. })));
    }

    #[test]
    fn unknown_names_are_refused_and_names_are_exact() {
        for item in ["bogus", "Pool", "fan_out", "+2", "-1", "2.0"] {
            let error = parse(item).unwrap_err();
            assert!(
                matches!(error, OnlyError::NoSuchName { .. }),
                "{item}: {error:?}"
            );
            assert!(error.to_string().contains(&format!("{item:?}")), "{error}");
        }
    }

    #[test]
    fn empty_items_are_refused() {
        for text in ["", " ", "2,", ",2", "2,,3"] {
            assert!(
                matches!(parse(text), Err(OnlyError::Empty { .. })),
                "{text:?}"
            );
        }
    }

    #[test]
    fn a_long_item_is_cut_short_in_the_message() {
        let long = "x".repeat(500);
        let message = parse(&long).unwrap_err().to_string();
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn step_names_must_be_ones_only_can_parse() {
        for good in ["pool", "fan-out", "http2", "step-2"] {
            assert_eq!(name_problem(good), None, "{good}");
        }
        for bad in ["", "Pool", "fan_out", "-pool", "pool-", "42", "fan out"] {
            assert!(name_problem(bad).is_some(), "{bad:?}");
        }
        assert!(same(b"pool", b"pool") && !same(b"pool", b"pools") && !same(b"pool", b"poll"));
    }

    #[test]
    fn the_list_numbers_names_and_marks_the_steps() {
        let listing = Step::CONTENTS.listing();
        let lines: Vec<&str> = listing.lines().collect();
        assert_eq!(lines[0], "1  start     Start the server  [always runs]");
        assert_eq!(lines[1], "2  fan-out   Fan-out, fan-in, timeouts");
        assert_eq!(lines[3], "4  pipes     Processes and pipes  [needs 3]");
        assert_eq!(lines[5], "6  shutdown  Graceful shutdown  [always runs]");
        assert!(listing.contains("(--only 2,pool)"), "{listing}");
        assert!(listing.contains("[always runs] run anyway"), "{listing}");
        assert!(
            listing.contains("[needs N] brings step N along"),
            "{listing}"
        );
    }

    #[test]
    fn steps_are_numbered_and_labelled_by_their_place() {
        assert_eq!(Step::CONTENTS.number_of(Step::FanOut), Some(2));
        assert_eq!(Step::CONTENTS.number_of(Step::Pipes), Some(4));
        assert_eq!(Step::CONTENTS.label(Step::Pool), "3 (pool)");
    }

    #[test]
    fn without_only_every_step_runs_in_order() {
        let cli = parse_args(&[]).unwrap();
        let all: Vec<Step> = cli.steps.selected().collect();
        assert_eq!(all, [Step::FanOut, Step::Pool, Step::Pipes, Step::Sockets]);
        assert!(cli.steps.only().is_none());
    }

    #[test]
    fn only_runs_the_picked_steps_in_table_order() {
        let cli = parse_args(&["--only", "pool,2"]).unwrap();
        let picked: Vec<Step> = cli.steps.selected().collect();
        assert_eq!(picked, [Step::FanOut, Step::Pool]);
        assert!(!cli.steps.is_selected(Step::Pipes));
        // Picking only an always-run step runs none of the others.
        let cli = parse_args(&["--only", "start"]).unwrap();
        assert_eq!(cli.steps.selected().count(), 0);
    }

    #[test]
    fn only_brings_along_what_a_picked_step_needs_and_what_that_needs() {
        let cli = parse_args(&["--only", "pipes"]).unwrap();
        let picked: Vec<Step> = cli.steps.selected().collect();
        assert_eq!(picked, [Step::Pool, Step::Pipes]);
        let cli = parse_args(&["--only", "5,2"]).unwrap();
        let picked: Vec<Step> = cli.steps.selected().collect();
        assert_eq!(
            picked,
            [Step::FanOut, Step::Pool, Step::Pipes, Step::Sockets]
        );
        assert!(cli.steps.is_selected(Step::Pool));
    }

    #[test]
    fn clap_refuses_a_bad_only_as_a_usage_error() {
        let error = parse_args(&["--only", "9"]).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ValueValidation);
        assert_eq!(error.exit_code(), i32::from(Outcome::Usage.code()));
        let message = error.to_string();
        assert!(message.contains("--only"), "{message}");
        assert!(
            message.contains("there is no step 9; the steps are 1 start"),
            "{message}"
        );
    }

    #[test]
    fn list_is_a_flag_of_its_own() {
        let cli = parse_args(&["--list"]).unwrap();
        assert!(cli.steps.list);
        let both = Cli::try_parse_from(["demo", "--list", "--only", "2"]).unwrap_err();
        assert_eq!(both.kind(), ErrorKind::ArgumentConflict);
    }

    #[test]
    fn the_exit_status_rule() {
        let codes = [
            (Outcome::Success, 0),
            (Outcome::Failure, 1),
            (Outcome::Usage, 2),
            (Outcome::Interrupted, 130),
        ];
        for (outcome, code) in codes {
            assert_eq!(outcome.code(), code);
            assert_eq!(ExitCode::from(outcome), ExitCode::from(code));
        }
    }

    #[derive(Debug)]
    struct Broken;

    impl fmt::Display for Broken {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("broken")
        }
    }

    impl Error for Broken {}

    #[test]
    fn the_tally_turns_step_results_into_the_exit_status() {
        let running = CancellationToken::new();
        let mut tally = Tally::default();
        tally.record(Step::FanOut, Ok::<(), Broken>(()));
        assert_eq!(tally.outcome(&running), Outcome::Success);

        let mut tally = Tally::default();
        tally.record(Step::FanOut, Err(Broken));
        tally.record(Step::Pool, Ok::<(), Broken>(()));
        assert_eq!(tally.outcome(&running), Outcome::Failure, "a step failed");

        let mut tally = Tally::default();
        tally.service_missing();
        assert_eq!(
            tally.outcome(&running),
            Outcome::Failure,
            "a service was missing"
        );

        let interrupted = CancellationToken::new();
        interrupted.cancel();
        assert_eq!(tally.outcome(&interrupted), Outcome::Interrupted);
        assert_eq!(Tally::default().outcome(&interrupted), Outcome::Interrupted);
    }
}
