//! `shop-api`: the capstone shop's HTTP service.
//!
//! ```console
//! cargo xtask services up                    # PostgreSQL (and MongoDB, for reviews)
//! cargo run -p shop-api -- --migrate --seed  # create + migrate + fill the database, serve
//! cargo run -p shop-api -- --help            # every flag; SHOP_* variables in the README
//! ```
//!
//! Start-up reads like the list of what must be true before the first request is served.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use shop_api::{AppState, Config, db, router, serve, shutdown_signal};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// The shop's HTTP API: catalog, health checks, reviews.
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
    /// laptop; set SHOP_TLS_CERT and SHOP_TLS_KEY for a real certificate).
    #[arg(long)]
    tls_self_signed: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    init_tracing();
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // `{:#}` prints the whole chain on one line: "cannot listen on ...: address in use".
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref())?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    if cli.tls_self_signed {
        config.security.tls = shop_api::config::TlsSetting::SelfSigned;
    }
    // Before the database: a missing certificate file should fail the start at once.
    let tls = shop_api::security::tls::load(&config.security.tls)
        .context("cannot set up TLS")?
        .map(|pair| shop_api::security::tls::server_config(&pair))
        .transpose()
        .context("cannot set up TLS")?;

    let pool = db::connect(&config, cli.migrate).await?;
    if cli.migrate {
        db::migrate(&pool).await?;
    } else {
        db::check_migrations(&pool).await?;
    }
    if cli.seed {
        shop_api::seed::seed_demo(&pool).await?;
    }

    let (listen, grace) = (config.listen, config.shutdown_grace);
    let state = AppState::new(pool, config).await?;
    shop_api::seed::prepare_reviews(state.reviews.clone(), cli.seed);

    let listener = TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    tracing::info!("listening on {scheme}://{}", listener.local_addr()?);

    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));
    let app = router(state);
    match tls {
        Some(tls) => {
            shop_api::security::tls::serve_tls(listener, app, tls, shutdown, grace).await?;
        }
        None => serve(listener, app, shutdown, grace).await?,
    }
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    if let Err(error) = shutdown_signal().await {
        // Without a signal handler, Ctrl-C still ends the process, just without draining.
        tracing::error!(%error, "cannot listen for shutdown signals");
        return;
    }
    shutdown.cancel();
}

/// Human-readable logs on stderr; `RUST_LOG` overrides the default filter, e.g.
/// `RUST_LOG=shop_api=debug,shop_db=debug,tower_http=debug`.
fn init_tracing() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("shop_api=info,shop_db=info,tower_http=info,warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}
