//! `/healthz` and `/readyz`: two questions an orchestrator asks, answered differently.
//!
//! - **Liveness** (`/healthz`): "is the process able to answer at all?" It checks nothing
//!   else. If it failed because the database was down, a supervisor would restart every
//!   instance at once, which cures nothing and adds a stampede of reconnects.
//! - **Readiness** (`/readyz`): "should this instance get traffic right now?" It pings each
//!   dependency, with a short timeout, concurrently, and reports each one.
//!
//! The decision recorded here: PostgreSQL down means not ready (503), because no catalog
//! endpoint can answer without it. MongoDB down means **degraded** but still ready (200),
//! because only the two review endpoints need it, and those answer 503 on their own; taking
//! the instance out of rotation would turn a partial outage into a total one.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use mongodb::bson::doc;
use serde::Serialize;

use crate::state::AppState;

/// How long one readiness check may take. Orchestrators probe every few seconds, with their
/// own timeouts of a second or so: an answer must come before theirs does.
const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /healthz`: 200 as long as the server can run a handler.
pub async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

#[derive(Debug, Serialize)]
pub struct Health {
    status: &'static str,
}

/// The body of `/readyz`.
#[derive(Debug, Serialize)]
pub struct Readiness {
    pub status: Overall,
    pub checks: Checks,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Overall {
    /// Every dependency answered.
    Ready,
    /// Ready, but an optional dependency is down: some endpoints answer 503.
    Degraded,
    /// A required dependency is down: send traffic elsewhere.
    Unavailable,
}

#[derive(Debug, Serialize)]
pub struct Checks {
    pub postgres: Check,
    pub mongodb: Check,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub status: CheckStatus,
    /// Whether the instance is unready without it.
    pub required: bool,
    /// Why it is down, in words that reveal nothing about the infrastructure; the error itself
    /// is in the service's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckStatus {
    Up,
    Down,
}

// ANCHOR: readyz
/// `GET /readyz`: 200 `ready` or `degraded`, 503 `unavailable`, with one entry per dependency.
pub async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let postgres = async {
        sqlx::query("SELECT 1").execute(&state.pool).await?;
        Ok::<_, sqlx::Error>(())
    };
    let mongodb = async {
        state.mongodb.run_command(doc! { "ping": 1 }).await?;
        Ok::<_, mongodb::error::Error>(())
    };
    // Both at once: the slowest check, not the sum, bounds the answer.
    let (postgres, mongodb) = tokio::join!(
        check("postgres", true, postgres),
        check("mongodb", false, mongodb),
    );

    let status = match (postgres.status, mongodb.status) {
        (CheckStatus::Down, _) => Overall::Unavailable,
        (CheckStatus::Up, CheckStatus::Down) => Overall::Degraded,
        (CheckStatus::Up, CheckStatus::Up) => Overall::Ready,
    };
    let code = match status {
        Overall::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        Overall::Ready | Overall::Degraded => StatusCode::OK,
    };
    let checks = Checks { postgres, mongodb };
    (code, Json(Readiness { status, checks }))
}

/// Runs one check under [`CHECK_TIMEOUT`]; a failure is logged here and summarised in the body.
async fn check<E: std::fmt::Display>(
    name: &'static str,
    required: bool,
    probe: impl Future<Output = Result<(), E>>,
) -> Check {
    let (status, detail) = match tokio::time::timeout(CHECK_TIMEOUT, probe).await {
        Ok(Ok(())) => (CheckStatus::Up, None),
        Ok(Err(error)) => {
            tracing::warn!(check = name, %error, "readiness check failed");
            (CheckStatus::Down, Some("the check failed"))
        }
        Err(_) => {
            tracing::warn!(check = name, timeout = ?CHECK_TIMEOUT, "readiness check timed out");
            (CheckStatus::Down, Some("no answer in time"))
        }
    };
    Check {
        status,
        required,
        detail,
    }
}
// ANCHOR_END: readyz
