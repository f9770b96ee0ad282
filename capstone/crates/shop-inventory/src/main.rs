//! `shop-inventory`: the inventory service's binary.
//!
//! ```console
//! cargo xtask services up                      # PostgreSQL
//! cargo run -p shop-inventory -- --migrate     # create + migrate the database, serve on :50051
//! SHOP_INVENTORY__LISTEN=127.0.0.1:0 cargo run -p shop-inventory   # any free port
//! ```
//!
//! The command line plus two calls, as in the shop API: [`Application::build`] and
//! `run_until_stopped`, stopped by Ctrl-C or SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::Context;
use clap::Parser;
use shop_http::shutdown_signal;
use shop_inventory::config::LogFormat;
use shop_inventory::{Application, Config, Schema};
use shop_telemetry::logs::Format;
use shop_telemetry::setup::{self, Settings};
use tokio_util::sync::CancellationToken;

/// The shop's inventory service (gRPC): stock, reservations, restock.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Listen here instead of the configured address (default 127.0.0.1:50051).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Create the database if it is missing and apply pending migrations. Without this flag
    /// the service refuses to start on a database whose schema is behind.
    #[arg(long)]
    migrate: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load()?;
    if let Some(listen) = cli.listen {
        config.listen = listen;
    }
    let telemetry = &config.telemetry;
    let format = match telemetry.log_format {
        LogFormat::Json => Format::Json,
        LogFormat::Text => Format::Text,
        LogFormat::Auto if std::io::stdout().is_terminal() => Format::Text,
        LogFormat::Auto => Format::Json,
    };
    // Dropped at the end of `run`, the guard sends the spans still queued.
    let _telemetry = setup::init(&Settings {
        service: "shop-inventory".to_owned(),
        format,
        default_filter: telemetry.log_filter.clone(),
        otlp_endpoint: telemetry.otlp_endpoint.clone(),
    })?;

    let schema = if cli.migrate {
        Schema::Migrate
    } else {
        Schema::Check
    };
    let app = Application::build(config, schema).await?;

    let shutdown = CancellationToken::new();
    let signal = shutdown_signal().context("cannot listen for shutdown signals")?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        tracing::info!("shutting down");
        on_signal.cancel();
    });
    tracing::info!(addr = %app.local_addr(), "listening on {}", app.local_addr());
    app.run_until_stopped(shutdown).await?;
    Ok(())
}
