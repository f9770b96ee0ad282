//! Start-up as one function: [`Application::build`] does everything that must be true before
//! the first request is served, and [`Application::run_until_stopped`] serves.
//!
//! `main` is argument parsing plus those two calls, and the integration tests' `TestApp`
//! builds through the same function, so what start-up does (load the TLS certificate, reach
//! the database and check or apply its migrations, prepare the review indexes, bind the
//! listener with its connection limits, the outbox relay) is what the tests exercise. Only the
//! two things a test must control are replaceable, through [`Builder`]: where mail goes, and
//! the clock of the login throttle.

use std::net::SocketAddr;
use std::sync::Arc;

use secrecy::ExposeSecret;
use shop_events::relay::{Relay, RelayConfig};
use shop_http::{RunningServer, ServeError, Server};
use shop_notify::smtp::SmtpMailer;
use shop_payments::PaymentProvider;
use sqlx::PgPool;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::auth::{Mailer, Outbox};
use crate::config::Config;
use crate::db::{self, DbStartupError};
use crate::security::throttle::{Clock, SystemClock};
use crate::security::tls::{self, TlsError};
use crate::state::{AppState, StateError};
use crate::{router, seed};

/// What start-up does besides the configuration: the command line's `--migrate` and
/// `--seed`.
#[derive(Debug, Clone, Copy, Default)]
pub struct StartOptions {
    /// Create the database if it is missing and apply pending migrations; without it, a
    /// database whose schema is behind is refused.
    pub migrate: bool,
    /// Fill an empty database with the demo data, and MongoDB with demo reviews.
    pub seed: bool,
}

/// Why the service did not start. Each says what failed and, where it can, how to fix it.
#[derive(Debug, Error)]
pub enum StartError {
    #[error("cannot set up TLS")]
    Tls(#[from] TlsError),
    #[error(transparent)]
    Database(#[from] DbStartupError),
    #[error("cannot seed the demo data")]
    Seed(#[from] shop_db::seed::SeedError),
    #[error("invalid settings")]
    State(#[from] StateError),
    #[error(transparent)]
    Serve(#[from] ServeError),
}

// ANCHOR: application
/// The service, built and bound, not yet serving.
pub struct Application {
    server: Server,
    state: AppState,
    /// The outbox relay (chapter 10), when `[events] amqp_url` is set: it runs beside the
    /// server and stops with it.
    relay: Option<Relay>,
}

impl Application {
    /// Everything start-up does, in order: TLS first (a missing certificate file should fail
    /// at once, before the database is touched), the database and its schema, the optional
    /// demo data, the state, the review indexes in the background, the listener.
    pub async fn build(config: Config, options: StartOptions) -> Result<Application, StartError> {
        Application::builder(config, options).build().await
    }

    /// [`Application::build`] with replaceable parts, for tests.
    pub fn builder(config: Config, options: StartOptions) -> Builder {
        Builder {
            config,
            options,
            pool: None,
            mailer: None,
            clock: None,
            payments: None,
        }
    }

    /// Where the listener is bound: port 0 in the configuration becomes a real port here.
    pub fn local_addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// What every handler uses: tests read the token keys and the pool from it.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` is cancelled, then drains for at most the configured grace,
    /// and writes the product views still counted in memory (chapter 09's trending products).
    pub async fn run_until_stopped(self, shutdown: CancellationToken) -> Result<(), ServeError> {
        let trending = self.state.caches.trending.clone();
        let served = self.spawn(shutdown).stopped().await;
        trending.flush().await;
        served
    }

    /// Serves on a background task: what a test holds while it sends requests. The relay,
    /// if any, runs on another until `shutdown`; what it has not published stays in the
    /// outbox for the next start.
    pub fn spawn(self, shutdown: CancellationToken) -> RunningServer {
        if let Some(relay) = self.relay {
            tokio::spawn(relay.run(shutdown.clone()));
        }
        self.server.spawn(router(self.state), shutdown)
    }
}
// ANCHOR_END: application

/// [`Application::build`]'s parts that a test replaces.
pub struct Builder {
    config: Config,
    options: StartOptions,
    pool: Option<PgPool>,
    mailer: Option<Arc<dyn Mailer>>,
    clock: Option<Arc<dyn Clock>>,
    payments: Option<Arc<dyn PaymentProvider>>,
}

impl Builder {
    /// Use this pool and skip the database steps: for a test of a database that goes away
    /// after start-up (a lazily connecting pool aimed at a closed port).
    pub fn pool(mut self, pool: PgPool) -> Builder {
        self.pool = Some(pool);
        self
    }

    /// Send mail here instead of the development [`Outbox`].
    pub fn mailer(mut self, mailer: Arc<dyn Mailer>) -> Builder {
        self.mailer = Some(mailer);
        self
    }

    /// The login throttle's clock, which a test moves by hand instead of sleeping.
    pub fn clock(mut self, clock: Arc<dyn Clock>) -> Builder {
        self.clock = Some(clock);
        self
    }

    /// Take payments through this provider instead of the one at `[payments] url`.
    pub fn payments(mut self, payments: Arc<dyn PaymentProvider>) -> Builder {
        self.payments = Some(payments);
        self
    }

    // ANCHOR: build
    pub async fn build(self) -> Result<Application, StartError> {
        let Builder {
            config,
            options,
            pool,
            mailer,
            clock,
            payments,
        } = self;
        let tls = tls::load(&config.security.tls)?
            .map(|pair| tls::server_config(&pair))
            .transpose()?;

        let pool = match pool {
            Some(pool) => pool,
            None => {
                let pool = db::connect(&config, options.migrate).await?;
                if options.migrate {
                    db::migrate(&pool).await?;
                } else {
                    db::check_migrations(&pool).await?;
                }
                if options.seed {
                    seed::seed_demo(&pool).await?;
                }
                pool
            }
        };

        let limits = config.connections.limits(config.shutdown_grace);
        let listen = config.listen;
        let mailer = mailer.unwrap_or_else(|| match &config.mail.smtp_server {
            Some(server) => Arc::new(SmtpMailer::new(server, config.mail.from.clone())),
            None => Arc::new(Outbox::new(config.accounts.mail_echo)),
        });
        let relay = config.events.amqp_url.as_ref().map(|url| {
            let settings = RelayConfig {
                batch: i64::from(config.events.relay_batch),
                poll_interval: config.events.relay_poll,
                ..RelayConfig::default()
            };
            Relay::new(
                pool.clone(),
                url.expose_secret(),
                &config.events.exchange,
                settings,
            )
        });
        let clock = clock.unwrap_or_else(|| Arc::new(SystemClock));
        let state = AppState::new(pool, config, mailer, clock, payments).await?;
        seed::prepare_reviews(state.reviews.clone(), options.seed);

        let mut server = Server::bind(listen).await?.limits(limits);
        if let Some(tls) = tls {
            server = server.tls(tls);
        }
        Ok(Application {
            server,
            state,
            relay,
        })
    }
    // ANCHOR_END: build
}
