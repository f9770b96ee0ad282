//! The narration: each public function is one step of `cargo run -p lesson-03`. It drives the
//! running server with the narrating client, prints each exchange, and checks that the server
//! answered what the lesson says it answers, so a wrong status stops the demo with an error
//! instead of printing a story that is not true.

mod crud;
mod middleware;
mod protocols;
mod serve;

use std::time::Duration;

use narrate::{duration, heading, say, show};
use reqwest::StatusCode;
use shop_http::{RunningServer, ServeError};
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::api::AppState;
use crate::client::{ApiClient, ClientError, Exchange, Protocol};
use crate::layer::RequestStats;
use crate::product::{ProductDraft, eur};
use crate::server::{self, Served, ServerConfig, ServerError};

pub use crud::{crud, errors, queries};
pub use middleware::middleware;
pub use protocols::{graceful_shutdown, protocols};
pub use serve::serve;

/// What every step needs: the running server, its request counts and a client for it.
#[derive(Debug)]
pub struct Demo {
    pub server: RunningServer,
    pub requests: RequestStats,
    pub client: ApiClient,
    pub config: ServerConfig,
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Serve(#[from] ServeError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error("{method} {path} answered {got}, but the lesson expects {expected}")]
    Unexpected {
        method: reqwest::Method,
        path: String,
        expected: StatusCode,
        got: StatusCode,
    },
    #[error("a demo task panicked")]
    Task(#[from] tokio::task::JoinError),
}

/// Step 1: starts the server on a free port of the loopback interface.
pub async fn start(config: ServerConfig, shutdown: CancellationToken) -> Result<Demo, StepError> {
    println!("Lesson 03 · RESTful API development: a product catalogue over HTTP");
    println!();
    say("An axum server with an in-memory catalogue, driven by a reqwest client that prints");
    say("every exchange: → is the request, ← the response, then the headers worth seeing.");
    say("Server logs are off; RUST_LOG=info cargo run -p lesson-03 shows tower-http's spans.");

    heading(1, "Start the server");
    let addr = ([127, 0, 0, 1], 0).into();
    let Served { server, requests } =
        server::start(addr, config.clone(), AppState::default(), shutdown).await?;
    let client = ApiClient::new(server.base_url(), Protocol::Http1KeepAlive)?;
    show(format_args!(
        "listening on {} (port 0 asked the OS for any free port)",
        server.addr()
    ));
    say("Each request passes the middleware from the outside in, then the router:");
    show("request id → trace span → propagate id → server-timing (ours) → compression");
    show(format_args!(
        "→ problem+json → body limit ({} KiB) → timeout ({}) → routes",
        config.body_limit / 1024,
        duration(config.request_timeout)
    ));
    let limits = config.limits;
    say("Each connection is bounded too (shop-http's server, chapter 03 reads it):");
    show(format_args!(
        "request head within {}, idle close after {}, {} connections, {} per address",
        duration(limits.header_read_timeout),
        duration(limits.idle_timeout),
        limits.max_connections,
        limits.max_connections_per_ip
    ));
    Ok(Demo {
        server,
        requests,
        client,
        config,
    })
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Keep the server up and try it with curl: cargo run -p lesson-03 -- --serve");
    say("Next: the exercise, `cargo test -p exercise-03`, and chapter 03 of the book.");
}

/// A product body as a client would send it, priced in euro cents.
fn draft(sku: &str, name: &str, cents: i64, stock: u32) -> ProductDraft {
    ProductDraft {
        sku: sku.into(),
        name: name.into(),
        price: eur(cents),
        stock,
    }
}

/// Fails the step unless the exchange has the expected status.
fn expect(exchange: &Exchange, expected: StatusCode) -> Result<(), StepError> {
    if exchange.status == expected {
        Ok(())
    } else {
        Err(StepError::Unexpected {
            method: exchange.method.clone(),
            path: exchange.path.clone(),
            expected,
            got: exchange.status,
        })
    }
}
