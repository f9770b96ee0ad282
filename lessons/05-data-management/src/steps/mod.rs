//! The narration: each public function is one step of `cargo run -p lesson-05`. It runs the
//! library code against the demo database (or the API in front of it) and prints what
//! happened; `main.rs` calls them in order. A step that sees an outcome other than the one the
//! lesson describes stops the demo with an error instead of printing a story that is not true.

mod data;
mod http;

use std::time::Duration;

use narrate::{duration, heading_line, say, show, thousands};
use reqwest::StatusCode;
use shop_db::seed::SeedSize;
use thiserror::Error;

use crate::database::{DatabaseName, ServerUrl, SetupError};

pub use data::{bulk_writes, offset_vs_keyset, setup};
pub use http::{Demo, cursors, filters, patch, start_api, validation};

/// What the demo was asked to do.
#[derive(Debug, Clone)]
pub struct Settings {
    pub server: ServerUrl,
    /// The database to create and (without `keep`) drop again.
    pub database: DatabaseName,
    pub size: SeedSize,
    pub page_size: u32,
    /// Keep the demo database at the end, to explore it with psql.
    pub keep: bool,
}

/// Why a step could not finish (after PostgreSQL was found: that case is [`SetupError`]).
#[derive(Debug, Error)]
pub enum StepError {
    #[error("a query failed")]
    Database(#[from] sqlx::Error),
    #[error("the upsert was refused")]
    Feed(#[from] crate::bulk::FeedError),
    #[error("an HTTP request failed")]
    Http(#[from] reqwest::Error),
    #[error("the API server failed")]
    Server(#[from] shop_http::ServeError),
    #[error("{request} answered {got}, but the lesson expects {expected}")]
    Unexpected {
        request: String,
        expected: StatusCode,
        got: StatusCode,
    },
    #[error("the demo expected {0}")]
    Expected(&'static str),
}

pub fn intro(settings: &Settings) {
    println!("Lesson 05 · Data management: listing, filtering, validating and writing a catalog");
    println!();
    say("Seven steps over a seeded catalog in PostgreSQL: offset pagination drifting while the");
    say("table changes and keyset pagination not; opaque cursors; an allow-listed sort and typed");
    say("filters sent as bind parameters; validation at the boundary; PATCH with absent vs null;");
    say("bulk inserts and an upsert that counts what it did.");
    say(format_args!(
        "Data: {} products, {} per page (change them: -- --products N --page-size N).",
        thousands(settings.size.products as i64),
        settings.page_size
    ));
}

/// PostgreSQL is down or refuses us: what, why, and how to fix it, in a few lines.
pub fn postgres_unavailable(settings: &Settings, error: &SetupError) {
    println!();
    eprintln!("  PostgreSQL is needed from step 1 on, and the demo could not use it:");
    eprintln!("    {error}");
    if let Some(cause) = std::error::Error::source(error) {
        eprintln!("    caused by: {cause}");
    }
    eprintln!("  Server tried: {}", settings.server.redacted());
    eprintln!("  Start the course's services with `cargo xtask services up`, then run");
    eprintln!("  `cargo run -p lesson-05` again.");
}

pub fn outro(settings: &Settings, elapsed: Duration) {
    println!();
    heading_line("Summary");
    let name = &settings.database;
    if settings.keep {
        say(format_args!(
            "Kept the database {name} to explore: psql -h 127.0.0.1 -U postgres {name}"
        ));
    } else {
        say(format_args!(
            "The demo database {name} was dropped again (keep it next time: -- --keep)."
        ));
    }
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Next: the exercise, `cargo test -p exercise-05`, and chapter 05 of the book.");
}

/// Prints an SQL statement over several lines, at its main keywords, for reading.
fn show_sql(text: &str) {
    let mut line = String::new();
    for word in text.split(' ') {
        if matches!(word, "FROM" | "WHERE" | "AND" | "ORDER" | "LIMIT") && !line.is_empty() {
            show(format_args!("{line}"));
            line = if word == "AND" {
                "  AND".into()
            } else {
                word.into()
            };
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    if !line.is_empty() {
        show(line);
    }
}
