//! The notification worker (book chapter 10, "Capstone step"): consumes the shop's order
//! events from RabbitMQ and tells customers by mail (SMTP), SMS and push (sandbox providers).
//!
//! ```text
//! cargo run -p shop-api --bin shop-notify                 # with the local services
//! cargo run -p shop-api --bin shop-notify -- --help
//! ```
//!
//! It reads the service's own configuration (`--config shop.toml`, `SHOP_*` variables):
//! `database_url`, `[events]` for the broker and exchange, `[mail]` for the SMTP server and
//! sender, `[notifications]` for its queue, retry delay and attempts. Its queue is bound to
//! every `order.*` event; each event is handled once per worker name, whatever the broker
//! redelivers (shop-events' `processed_events`), is retried through `<queue>.retry` while it
//! fails for a reason that may pass, and is dead-lettered to `<queue>.dlq` when it cannot be
//! read, is refused for good (an SMTP 5xx), or is out of attempts. Any number of workers may
//! share the queue. Stops cleanly on Ctrl-C or SIGTERM; the delivery in progress is finished
//! or redelivered.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::Parser;
use secrecy::ExposeSecret;
use shop_api::{Config, db, shutdown_signal};
use shop_db::UserRepo;
use shop_events::consumer;
use shop_events::orders;
use shop_events::topology::Topology;
use shop_notify::providers::Sandbox;
use shop_notify::smtp::SmtpMailer;
use shop_notify::worker::Notifier;
use tokio_util::sync::CancellationToken;

/// The name this worker records handled events under: two workers with the same name share
/// the work, two with different names each handle every event.
const CONSUMER: &str = "shop-notify";

/// The shop's notification worker: order events to mail, SMS and push.
#[derive(Debug, Parser)]
#[command(version)]
struct Cli {
    /// Read settings from this TOML file (see shop.example.toml); SHOP_* variables still win.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
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

// ANCHOR: run
async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = Config::load(cli.config.as_deref())?;
    let smtp = (config.mail.smtp_server.clone()).context(
        "no mail server to send to: set [mail] smtp_server (SHOP_MAIL__SMTP_SERVER=host:port)",
    )?;
    let amqp_url = (config.events.amqp_url.clone())
        .context("no broker to consume from: set [events] amqp_url (SHOP_EVENTS__AMQP_URL)")?;
    let _telemetry = shop_api::telemetry::init(&config.telemetry, "shop-notify")?;
    // The same checks as the service's start: the database is there and its schema current.
    let pool = db::connect(&config, false).await?;
    db::check_migrations(&pool).await?;

    let mailer = SmtpMailer::new(smtp, config.mail.from.clone());
    // Sandbox SMS and push: no provider account is configured in this course.
    let sandbox = Sandbox::default();
    let notifier = Notifier::new(
        UserRepo::new(pool.clone()),
        Arc::new(mailer),
        Arc::new(sandbox.clone()),
        Arc::new(sandbox),
    );
    let topology = Topology {
        exchange: config.events.exchange.clone(),
        queue: config.notifications.queue.clone(),
        binding: orders::ALL.to_owned(),
        retry_delay: config.notifications.retry_delay,
        max_attempts: config.notifications.max_attempts,
    };

    let shutdown = CancellationToken::new();
    let signal = shutdown_signal().context("cannot listen for shutdown signals")?;
    let on_signal = shutdown.clone();
    tokio::spawn(async move {
        signal.await;
        on_signal.cancel();
    });
    tracing::info!(queue = %topology.queue, "notification worker starting");
    let url = amqp_url.expose_secret();
    consumer::run(url, &topology, CONSUMER, &pool, &notifier, shutdown).await;
    tracing::info!("notification worker stopped");
    Ok(())
}
// ANCHOR_END: run
