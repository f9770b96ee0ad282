//! The narrated demo of lesson 04: authentication and authorization, end to end.
//!
//! `cargo run -p lesson-04` reads the configuration, starts the API and a local OpenID
//! provider on free ports, runs every step and shuts both down; `-- --list` lists the steps,
//! `-- --only api-keys` (or `--only 6`, `--only 2,oidc`) runs some between start and shutdown;
//! `-- --serve` keeps the API up for curl until Ctrl-C; `-- --help` lists the options. The code
//! it narrates lives in the library (`src/lib.rs`). Exit status: 0 when every step ran (or
//! `--serve` stopped), 1 when one failed or the configuration is invalid, 2 for a bad flag,
//! 130 after Ctrl-C.

use std::net::SocketAddr;
use std::time::Instant;

use anyhow::Context;
use clap::Parser;
use lesson_04::config::AuthConfig;
use lesson_04::steps::{self, Demo, StepError};
use narrate::demo::{
    Contents, Entry, Outcome, StepArgs, Steps, Tally, cancel_on_ctrl_c, init_tracing,
};
use tokio_util::sync::CancellationToken;

/// Passwords, sessions, roles, API keys and OpenID Connect, demonstrated against a live API.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Keep the API running for curl instead of running the demo; Ctrl-C stops it.
    #[arg(long, conflicts_with_all = ["only", "list"])]
    serve: bool,
    /// The address to listen on with --serve (port 0 picks a free port).
    #[arg(
        long,
        value_name = "ADDR",
        default_value = "127.0.0.1:3000",
        requires = "serve"
    )]
    addr: SocketAddr,
    #[command(flatten)]
    contents: StepArgs<Step>,
}

fn main() -> anyhow::Result<Outcome> {
    let cli = Cli::parse();
    if cli.contents.print_list_if_asked() {
        return Ok(Outcome::Success);
    }
    // Server logs go to stderr, off during the demo unless RUST_LOG asks for them.
    init_tracing(if cli.serve { "info" } else { "off" });
    // Read once, here; a bad value stops the program before anything listens.
    let config = AuthConfig::from_env().context("the configuration is invalid")?;
    let runtime = tokio::runtime::Runtime::new().context("could not start the tokio runtime")?;
    runtime.block_on(run(cli, config))
}

// ANCHOR: run
async fn run(cli: Cli, config: AuthConfig) -> anyhow::Result<Outcome> {
    let shutdown = cancel_on_ctrl_c();
    if cli.serve {
        steps::serve(cli.addr, config, shutdown)
            .await
            .context("the server failed")?;
        // Ctrl-C is how a server is meant to stop: a success.
        return Ok(Outcome::Success);
    }
    let started = Instant::now();
    // The demo stops both servers itself, in step 8, which runs after a Ctrl-C too: they have
    // a token of their own.
    let demo = steps::start(config, CancellationToken::new())
        .await
        .context("step 1 (start-up) failed")?;
    let mut tally = Tally::default();
    for step in cli.contents.selected() {
        // Ctrl-C: the step in progress finishes, the rest are skipped, step 8 still runs.
        if shutdown.is_cancelled() {
            break;
        }
        tally.record(step, run_step(step, &demo).await);
    }
    steps::shutdown(demo)
        .await
        .context("step 8 (shut down) failed")?;
    steps::outro(started.elapsed());
    Ok(tally.outcome(&shutdown))
}
// ANCHOR_END: run

/// The steps `--only` can pick, for the table of contents below.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Passwords,
    Sessions,
    ForgedTokens,
    Authorization,
    ApiKeys,
    Oidc,
}

// ANCHOR: table_of_contents
/// The table of contents; step 1 (start-up) and step 8 (shutdown) frame these. Later steps
/// use the accounts earlier ones created, so `--only` signs up whoever a step needs first.
impl Steps for Step {
    #[rustfmt::skip]
    const CONTENTS: Contents<Self> = Contents::new(&[
        Entry::always("start", "Configuration and start-up"),
        Entry::step(Step::Passwords, "passwords",
                    "Passwords: argon2id, salt, pepper, rehash on login"),
        Entry::step(Step::Sessions, "sessions",
                    "Register, log in, refresh, and a stolen refresh token"),
        Entry::step(Step::ForgedTokens, "forged-tokens", "Tokens that must be refused"),
        Entry::step(Step::Authorization, "authorization",
                    "Authorization: roles for kinds of action, ownership for objects"),
        Entry::step(Step::ApiKeys, "api-keys",
                    "API keys: prefix, id, hashed secret, scopes, rotation"),
        Entry::step(Step::Oidc, "oidc",
                    "Sign in with OpenID Connect: authorization code + PKCE, ID token, JWKS"),
        Entry::always("shutdown", "Shut down"),
    ]);
}

/// One call per step.
async fn run_step(step: Step, demo: &Demo) -> Result<(), StepError> {
    match step {
        Step::Passwords => steps::passwords(demo).await,
        Step::Sessions => steps::sessions(demo).await,
        Step::ForgedTokens => steps::forged_tokens(demo).await,
        Step::Authorization => steps::authorization(demo).await,
        Step::ApiKeys => steps::api_keys(demo).await,
        Step::Oidc => steps::openid_connect(demo).await,
    }
}
// ANCHOR_END: table_of_contents
