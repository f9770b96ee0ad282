//! `payments-sandbox`: the sandbox payment provider as a process of its own, for trying the
//! shop's checkout by hand.
//!
//! ```console
//! PAYMENTS_SANDBOX__WEBHOOK_URL=http://127.0.0.1:3000/webhooks/payments \
//! PAYMENTS_SANDBOX__WEBHOOK_SECRET=whsec_a-long-shared-secret \
//!     cargo run -p shop-payments --bin payments-sandbox
//! ```
//!
//! | variable | meaning | default |
//! | --- | --- | --- |
//! | `PAYMENTS_SANDBOX__LISTEN` | the address to listen on | `127.0.0.1:4010` |
//! | `PAYMENTS_SANDBOX__WEBHOOK_URL` | where events are POSTed | none: no webhooks |
//! | `PAYMENTS_SANDBOX__WEBHOOK_SECRET` | the secret they are signed with (16+ characters) | required with a URL |
//!
//! It prints `payments sandbox listening on http://...` once it accepts requests, and stops
//! on Ctrl-C or SIGTERM after the requests in flight. The test cards are in the crate's
//! documentation (`cargo doc -p shop-payments --open`).

use std::net::SocketAddr;
use std::process::ExitCode;

use anyhow::{Context, bail};
use shop_payments::{Sandbox, SandboxConfig, WebhookSecret};
use shop_telemetry::logs::Format;
use shop_telemetry::setup::{self, Settings};
use tokio_util::sync::CancellationToken;
use url::Url;

const PREFIX: &str = "PAYMENTS_SANDBOX__";
const DEFAULT_LISTEN: &str = "127.0.0.1:4010";

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> anyhow::Result<()> {
    let config = config_from_env()?;
    let _telemetry = setup::init(&Settings {
        service: "payments-sandbox".into(),
        format: Format::Text,
        default_filter: "shop_payments=info,shop_http=info,warn".into(),
        otlp_endpoint: None,
    })?;
    let webhooks = config.webhook_url.clone();
    // Installed before "listening" is printed: a SIGTERM right after it must drain, not kill.
    let signal = shop_http::shutdown_signal().context("cannot listen for shutdown signals")?;
    let sandbox = Sandbox::bind(config).await?;
    println!("payments sandbox listening on {}", sandbox.base_url());
    match webhooks {
        Some(url) => println!("webhooks go to {url}"),
        None => println!("no webhooks: set {PREFIX}WEBHOOK_URL and {PREFIX}WEBHOOK_SECRET"),
    }

    let shutdown = CancellationToken::new();
    let running = sandbox.spawn(shutdown.clone());
    signal.await;
    println!("stopping");
    running.stop().await?;
    Ok(())
}

/// The settings, each parsed once into the type the sandbox uses.
fn config_from_env() -> anyhow::Result<SandboxConfig> {
    let var = |name: &str| {
        let key = format!("{PREFIX}{name}");
        std::env::var(&key)
            .ok()
            .filter(|v| !v.is_empty())
            .map(|v| (key, v))
    };
    let listen: SocketAddr = match var("LISTEN") {
        Some((key, value)) => value
            .parse()
            .with_context(|| format!("{key}={value:?} is not an address like {DEFAULT_LISTEN}"))?,
        None => DEFAULT_LISTEN.parse().context("the default address")?,
    };
    let webhook_url = var("WEBHOOK_URL")
        .map(|(key, value)| {
            Url::parse(&value).with_context(|| format!("{key}={value:?} is not a URL"))
        })
        .transpose()?;
    // Read as a secret from the start, and never echoed in an error.
    let secret = var("WEBHOOK_SECRET")
        .map(|(key, value)| WebhookSecret::new(value).with_context(|| format!("{key} is too weak")))
        .transpose()?;
    let webhook_secret = match (&webhook_url, secret) {
        (_, Some(secret)) => secret,
        (Some(_), None) => {
            bail!("{PREFIX}WEBHOOK_URL is set, so {PREFIX}WEBHOOK_SECRET must be too")
        }
        // Nothing is sent, so nothing is signed: any secret will do.
        (None, None) => WebhookSecret::generate(),
    };
    Ok(SandboxConfig {
        listen,
        webhook_url,
        ..SandboxConfig::new(webhook_secret)
    })
}
