//! The narration: each public function is one step of `cargo run -p lesson-06`. It drives the
//! lab with real clients, prints what happened, and checks that what happened is what the
//! lesson says, so a fix that stopped working fails the demo instead of printing a false story.

mod attacks;
mod limits;
mod privacy;
mod serve;
mod transport;

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use narrate::demo::{Unexpected, expect};
use narrate::{duration, heading, say, show};
use shop_http::{RunningServer, ServeError};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::attack::AttackError;
use crate::database::{self, DatabaseError, DatabaseName, DemoDatabase, ServerUrl};
use crate::lab::{self, LabState};
use crate::ratelimit::RateLimitState;
use crate::ssrf::InternalServices;
use crate::throttle::ThrottlePolicy;
use crate::tls::TlsError;

pub use attacks::attacks;
pub use limits::{login_throttling, rate_limits};
pub use privacy::privacy;
pub use serve::serve;
pub use transport::{cors_and_headers, tls};

/// The API's token bucket in the demo: a burst of 5, then one request a second.
pub const API_BURST: u32 = 5;
pub const API_PER_SECOND: f64 = 1.0;

/// The login throttle in the demo: the defaults, with a quarter-second first lock so the demo
/// can wait it out.
pub fn demo_throttle_policy() -> ThrottlePolicy {
    ThrottlePolicy {
        base_delay: Duration::from_millis(250),
        ..ThrottlePolicy::default()
    }
}

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    pub lab: RunningServer,
    pub state: LabState,
    pub limiter: RateLimitState,
    pub services: InternalServices,
    pub db: Option<DemoDatabase>,
    pub shutdown: CancellationToken,
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error("a server of the lab could not start")]
    Io(#[from] std::io::Error),
    #[error("a server of the lab failed")]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Http(#[from] reqwest::Error),
    #[error(transparent)]
    Attack(#[from] AttackError),
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Unexpected(#[from] Unexpected),
}

pub fn intro() {
    println!("Lesson 06 · Security practices: attacks, fixes, and the guards around them");
    println!();
    say("A lab server with each vulnerable endpoint beside its fix, an attack script that");
    say("reports what got through, then TLS, CORS and security headers, rate limits, login");
    say("throttling, and a customer's data exported and erased. Everything stays on loopback.");
}

/// Step 1: the demo database `name` on `server` (optional), the internal stand-ins, and the
/// lab.
pub async fn start(
    server: &ServerUrl,
    name: &DatabaseName,
    shutdown: CancellationToken,
) -> Result<Demo, StepError> {
    heading(1, "Start the lab");
    let db = match database::create(server, name).await {
        Ok(db) => {
            show(format_args!(
                "PostgreSQL: fresh database {name} with products and staff_accounts"
            ));
            Some(db)
        }
        Err(error) => {
            postgres_missing(&error, "the SQL-injection rows are skipped");
            None
        }
    };
    let services = InternalServices::start(shutdown.clone()).await?;
    show(format_args!(
        "internal metadata service on {} (holds a secret), image CDN on {} (has an open redirect)",
        services.metadata, services.cdn
    ));
    let state = LabState::new(
        db.as_ref().map(|db| db.pool().clone()),
        services.fetchers()?,
        demo_throttle_policy(),
    );
    let limiter = RateLimitState::new(API_BURST, API_PER_SECOND, lab::loopback());
    let app = lab::router(state.clone(), limiter.clone());
    let lab = lab::serve_http((Ipv4Addr::LOCALHOST, 0).into(), app, shutdown.clone()).await?;
    show(format_args!(
        "lab on {}: /vulnerable/... beside /fixed/..., /login, /api",
        lab.base_url()
    ));
    Ok(Demo {
        lab,
        state,
        limiter,
        services,
        db,
        shutdown,
    })
}

/// One line saying what is missing and how to start it (the error says how); the demo goes
/// on without it.
pub fn postgres_missing(error: &DatabaseError, what: &str) {
    eprintln!("  {error}; {what}.");
}

/// Stops the servers, and drops the demo database unless `keep`.
pub async fn finish(demo: Demo, keep: bool) -> Result<(), StepError> {
    demo.lab.begin_shutdown();
    demo.lab.stopped().await?;
    demo.shutdown.cancel();
    if let Some(db) = demo.db {
        let name = db.name().clone();
        if keep {
            say(format_args!(
                "Kept the database {name} (psql -d {name}); try the payloads in it."
            ));
        }
        if let Err(error) = db.finish(keep).await {
            eprintln!("  could not drop {name}: {error}");
        }
    }
    Ok(())
}

pub fn outro(elapsed: Duration, had_postgres: bool) {
    println!();
    if !had_postgres {
        say("PostgreSQL was not running, so the SQL-injection rows were skipped (exit code 1).");
        say("Start it with `cargo xtask services up` and run the demo again.");
    }
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Keep the lab up for curl and a browser: cargo run -p lesson-06 -- --serve");
    say("Next: the exercise, `cargo test -p exercise-06`, and chapter 06 of the book.");
}

/// The address the lab is reached at, for the serve mode's instructions.
pub fn describe(addr: SocketAddr) -> String {
    format!("http://{addr}")
}
