//! The narration: each public function is one step of `cargo run -p lesson-04`. It drives the
//! running API and identity provider, prints each exchange, and checks that they answered
//! what the lesson says, so a wrong status stops the demo with an error instead of printing a
//! story that is not true.

mod access;
mod oidc;
mod passwords;
mod serve;
mod sessions;

use std::time::Duration;

use narrate::{duration, heading, say, show};
use reqwest::{Method, StatusCode};
use serde_json::Value;
use shop_http::RunningServer;
use thiserror::Error;
use tokio_util::sync::CancellationToken;

use crate::accounts::AuthError;
use crate::api::{self, AppState};
use crate::client::{ApiClient, ClientError, Exchange};
use crate::config::AuthConfig;
use crate::idp::{self, IdpConfig, IdpError, RunningIdp};
use crate::oidc::OidcError;
use crate::password::{Password, PasswordError};
use crate::rbac::Role;
use crate::server::{self, ServerError};
use crate::tokens::TokenError;

pub use access::{api_keys, authorization};
pub use oidc::openid_connect;
pub use passwords::passwords;
pub use serve::serve;
pub use sessions::{forged_tokens, sessions};

/// Where the demo's relying party asks the provider to send the browser back. The demo plays
/// the browser and reads the redirect instead of following it, so nothing listens there.
pub const REDIRECT_URI: &str = "http://127.0.0.1/lesson-04/callback";

/// What every step needs.
#[derive(Debug)]
pub struct Demo {
    pub config: AuthConfig,
    pub state: AppState,
    pub server: RunningServer,
    pub client: ApiClient,
    pub idp: RunningIdp,
}

/// Why a step could not finish.
#[derive(Debug, Error)]
pub enum StepError {
    #[error(transparent)]
    Server(#[from] ServerError),
    #[error(transparent)]
    Idp(#[from] IdpError),
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    Auth(#[from] AuthError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    Oidc(#[from] OidcError),
    #[error("{method} {path} answered {got}, but the lesson expects {expected}")]
    Unexpected {
        method: Method,
        path: String,
        expected: StatusCode,
        got: StatusCode,
    },
    #[error("the lesson expected {expected}, but {got}")]
    Story { expected: String, got: String },
}

/// Step 1: reads the configuration and starts the API and the identity provider.
pub async fn start(config: AuthConfig, shutdown: CancellationToken) -> Result<Demo, StepError> {
    println!("Lesson 04 · Authentication and authorization: who is calling, and what may they do?");
    println!();
    say("An axum API with accounts, sessions, roles and API keys, and a local OpenID provider,");
    say("driven by a reqwest client. → is a request, ← its response; secrets print cut short.");

    heading(1, "Configuration and start-up");
    say("Two secrets come from the environment, wrapped in secrecy::SecretString:");
    for (name, what) in [
        (crate::config::JWT_SECRET_VAR, "signs access tokens (HS256)"),
        (crate::config::PEPPER_VAR, "mixed into every password hash"),
    ] {
        let origin = if config.generated.contains(&name) {
            "absent: a random value for this run"
        } else {
            "read from the environment"
        };
        show(format_args!("{name:<20} {what:<32} {origin}"));
    }
    say("Printed with {:?}, a secret shows as [REDACTED]: no log line can leak it by accident.");
    show(format_args!("jwt_secret: {:?}", config.jwt_secret));

    let state = AppState::new(&config)?;
    let localhost = ([127, 0, 0, 1], 0).into();
    let server = server::start(localhost, api::router(state.clone()), shutdown.clone()).await?;
    let idp = idp::start(localhost, IdpConfig::demo(REDIRECT_URI), shutdown).await?;
    let client = ApiClient::new(server.base_url())?;
    show(format_args!(
        "API listening on        {}",
        server.base_url()
    ));
    show(format_args!("identity provider on    {}", idp.issuer()));
    Ok(Demo {
        config,
        state,
        server,
        client,
        idp,
    })
}

/// The last step: both servers stop gracefully.
pub async fn shutdown(demo: Demo) -> Result<(), StepError> {
    heading(8, "Shut down");
    server::stop(demo.server).await?;
    demo.idp.stop().await?;
    say("Both servers finished their requests and stopped. Nothing was written to disk:");
    say("the accounts, sessions and keys lived in memory (the capstone keeps them in PostgreSQL).");
    Ok(())
}

pub fn outro(elapsed: Duration) {
    println!();
    say(format_args!("Done in {}.", duration(elapsed)));
    say("Keep the API up and try it with curl: cargo run -p lesson-04 -- --serve");
    say("Next: the exercise, `cargo test -p exercise-04`, and chapter 04 of the book.");
}

impl Demo {
    /// Sends a request and fails the step unless the status is `expected`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
        expected: StatusCode,
    ) -> Result<Exchange, StepError> {
        let exchange = self.client.send(method, path, bearer, body).await?;
        if exchange.status == expected {
            Ok(exchange)
        } else {
            Err(StepError::Unexpected {
                method: exchange.method,
                path: exchange.path,
                expected,
                got: exchange.status,
            })
        }
    }
}

/// The people of the story, with their passwords and roles.
pub(crate) const ALICE: (&str, &str, Role) =
    ("alice@shop.test", "alice's long passphrase", Role::Customer);
pub(crate) const BOB: (&str, &str, Role) =
    ("bob@shop.test", "bob's long passphrase", Role::Customer);
pub(crate) const SAM: (&str, &str, Role) =
    ("sam@shop.test", "support staff passphrase", Role::Support);
pub(crate) const ROOT: (&str, &str, Role) =
    ("root@shop.test", "administrator passphrase", Role::Admin);

/// Creates the account unless it exists: `--only` runs a step without the steps that would
/// have created the people it needs.
async fn ensure_account(
    demo: &Demo,
    (email, password, role): (&str, &str, Role),
) -> Result<(), StepError> {
    match demo
        .state
        .accounts
        .add_user(email, Password::new(password), role)
        .await
    {
        Ok(_) | Err(AuthError::EmailTaken) => Ok(()),
        Err(error) => Err(error.into()),
    }
}

/// Fails the step unless `condition` holds.
fn check(condition: bool, expected: &str, got: impl std::fmt::Debug) -> Result<(), StepError> {
    if condition {
        Ok(())
    } else {
        Err(StepError::Story {
            expected: expected.into(),
            got: format!("{got:?}"),
        })
    }
}
