//! `shop-api`: the capstone shop's HTTP service.
//!
//! ```console
//! cargo xtask services up                    # PostgreSQL (and MongoDB, for reviews)
//! cargo run -p shop-api -- --migrate --seed  # create + migrate + fill the database, serve
//! cargo run -p shop-api -- --help            # every flag; the settings: shop.example.toml
//! ```
//!
//! `main` is the command line plus two calls: [`Application::build`], which does everything
//! that must be true before the first request (and is what the tests build through too), and
//! `run_until_stopped`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use shop_api::config::TlsSetting;
use shop_api::{Application, Config, StartOptions, shutdown_signal};
use tokio_util::sync::CancellationToken;

/// The shop's HTTP API: catalog and search, reviews, accounts and API keys.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Listen on this address instead of the configured one (default 127.0.0.1:3000).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Read settings from this TOML file (see shop.example.toml); SHOP_* variables still win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Create the database if it is missing and apply pending migrations. Without this flag
    /// the service refuses to start on a database whose schema is behind.
    #[arg(long)]
    migrate: bool,
    /// Fill an empty database with the deterministic demo data (skipped if it has data).
    #[arg(long)]
    seed: bool,
    /// Serve HTTPS with a certificate for localhost generated at start (for trying TLS on a
    /// laptop; `[security.tls]` in the configuration names a real certificate).
    #[arg(long)]
    tls_self_signed: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain on one line: "cannot listen on ...: address in use".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if cli.tls_self_signed {
        config.security.tls = TlsSetting::SelfSigned;
    }
    // Logs start once the configuration says how to write them; an error before this point
    // goes to stderr through `main`. Dropped at the end of `run`, the guard sends the spans
    // still queued.
    let _telemetry = shop_api::telemetry::init(&config.telemetry, "shop-api")?;
    let options = StartOptions {
        migrate: cli.migrate,
        seed: cli.seed,
    };
    let app = Application::build(config, options).await?;

    let shutdown = CancellationToken::new();
    let signal = shutdown_signal().context("cannot listen for shutdown signals")?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.cancel();
    });
    tracing::info!("listening on {}", app.local_addr());
    app.run_until_stopped(shutdown).await?;
    Ok(())
}
// ANCHOR_END: run
