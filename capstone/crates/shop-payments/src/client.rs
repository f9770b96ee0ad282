//! [`HttpProvider`]: the [`PaymentProvider`] that talks to the sandbox's HTTP API (or to any
//! provider with the same API).
//!
//! What this module shows:
//! - every call goes through one [`shop_resilience::Dependency`]: a bulkhead, a circuit
//!   breaker, retries with jittered back-off under a retry budget, a timeout per attempt and a
//!   deadline for the whole call;
//! - why retrying a POST that moves money is safe here: every attempt of one call carries the
//!   *same* `Idempotency-Key`, so the provider answers a retry with the intent the first
//!   attempt created (if it got that far) instead of charging again;
//! - the provider's answers sorted by what the caller can do: 5xx, 429, timeouts and refused
//!   connections are [`ProviderError::Unavailable`] (retried), any other 4xx is
//!   [`ProviderError::Rejected`] (not retried: it would fail the same way);
//! - the trace continues into the provider: each attempt carries `traceparent`.

use std::num::{NonZeroU32, NonZeroUsize};
use std::time::Duration;

use async_trait::async_trait;
use reqwest::{Method, RequestBuilder, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;
use shop_domain::Money;
use shop_http::Problem;
use shop_resilience::{
    BreakerConfig, BudgetConfig, CallError, Deadline, Dependency, DependencyConfig, RetryConfig,
};
use thiserror::Error;
use url::Url;

use crate::provider::{
    AuthoriseRequest, IntentId, PaymentIntent, PaymentProvider, ProviderError, Refund,
};
use crate::sandbox::{IDEMPOTENCY_KEY, problem_type};

/// How [`HttpProvider`] guards its calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpProviderConfig {
    pub dependency: DependencyConfig,
    /// The deadline of one call, all its attempts and back-offs included.
    pub call_timeout: Duration,
}

impl Default for HttpProviderConfig {
    /// Three attempts, 2 s each, 50 ms to 1 s apart, within 5 s; the breaker opens after five
    /// failed calls in a row, for 10 s; 32 calls at once.
    fn default() -> Self {
        let nonzero = |n| NonZeroU32::new(n).expect("a positive constant");
        HttpProviderConfig {
            dependency: DependencyConfig {
                max_concurrent: NonZeroUsize::new(32).expect("32 is not zero"),
                breaker: BreakerConfig {
                    failure_threshold: nonzero(5),
                    open_for: Duration::from_secs(10),
                    half_open_trials: nonzero(1),
                },
                retry: RetryConfig {
                    max_attempts: nonzero(3),
                    base: Duration::from_millis(50),
                    cap: Duration::from_secs(1),
                },
                // Each call earns a tenth of a retry, and a full budget holds ten: a provider
                // that fails everything costs at most 10% more requests once it is spent.
                budget: BudgetConfig {
                    deposit: 1,
                    retry_cost: 10,
                    max_balance: 100,
                },
                attempt_timeout: Duration::from_secs(2),
            },
            call_timeout: Duration::from_secs(5),
        }
    }
}

/// The base URL cannot address the provider's API.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("the payment provider's base URL must be http:// or https://, not {0:?}")]
pub struct InvalidBaseUrl(String);

/// The provider API's client.
#[derive(Debug)]
pub struct HttpProvider {
    base: Url,
    http: reqwest::Client,
    dependency: Dependency,
    call_timeout: Duration,
}

#[derive(Serialize)]
struct CreateIntentBody<'a> {
    amount: Money,
    card_number: &'a str,
    reference: &'a str,
}

#[derive(Serialize)]
struct RefundBody {
    amount: Money,
}

impl HttpProvider {
    /// A client of the API at `base_url` (`http://127.0.0.1:PORT/`), sending with `http`
    /// (share one client per process: it holds the connection pool).
    pub fn new(
        base_url: Url,
        http: reqwest::Client,
        config: HttpProviderConfig,
    ) -> Result<Self, InvalidBaseUrl> {
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(InvalidBaseUrl(base_url.into()));
        }
        let mut base = base_url;
        // `join` replaces the last segment of a path without a trailing slash:
        // `http://host/psp` joined with `v1/x` would be `http://host/v1/x`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        Ok(HttpProvider {
            base,
            http,
            dependency: Dependency::new("payments", config.dependency),
            call_timeout: config.call_timeout,
        })
    }

    /// The guard around every call: a test reads the breaker's state from it.
    pub fn dependency(&self) -> &Dependency {
        &self.dependency
    }

    /// `path` under the base URL. Our paths are fixed text and validated ids, so this fails
    /// only for a base URL that cannot have paths; that is a request never sent, not an outage.
    fn url(&self, path: &str) -> Result<Url, ProviderError> {
        self.base
            .join(path)
            .map_err(|error| ProviderError::Rejected {
                status: 0,
                message: format!("cannot build the request URL: {error}"),
            })
    }

    // ANCHOR: call
    /// Sends `method path` with `body` under the dependency's guards; every attempt is a new
    /// request with the same `idempotency_key`.
    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        idempotency_key: Option<&str>,
        body: Option<&(impl Serialize + Sync)>,
    ) -> Result<T, ProviderError> {
        let url = self.url(path)?;
        let deadline = Deadline::after(self.call_timeout);
        let attempt = |timeout: Duration| {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .headers(shop_telemetry::propagation::outgoing())
                .timeout(timeout);
            if let Some(key) = idempotency_key {
                request = request.header(IDEMPOTENCY_KEY, key);
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            send(request)
        };
        self.dependency
            .call(deadline, attempt)
            .await
            .map_err(|error| match error {
                CallError::Failed { source, .. } => source,
                // Refused by the bulkhead or the breaker, or out of time: not an answer.
                other => ProviderError::Unavailable(other.to_string()),
            })
    }
    // ANCHOR_END: call
}

/// One attempt: the answer as `T`, or the error it means.
async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ProviderError> {
    // No connection, a reset, a timeout: nothing came back, so the next attempt may do better.
    let response = request
        .send()
        .await
        .map_err(|error| ProviderError::Unavailable(error.to_string()))?;
    let status = response.status();
    if status.is_success() {
        return response.json().await.map_err(|error| {
            if error.is_decode() {
                // A 2xx whose body is not what the API promises will not improve on retry.
                ProviderError::Rejected {
                    status: status.as_u16(),
                    message: format!("unreadable answer: {error}"),
                }
            } else {
                ProviderError::Unavailable(error.to_string())
            }
        });
    }
    let problem: Option<Problem> = response.json().await.ok();
    let message = problem
        .as_ref()
        .map(|problem| {
            problem
                .detail
                .clone()
                .unwrap_or_else(|| problem.title.clone())
        })
        .unwrap_or_else(|| status.to_string());
    let unknown_intent = problem
        .as_ref()
        .is_some_and(|problem| problem.type_uri == problem_type::UNKNOWN_INTENT);
    Err(match status {
        StatusCode::NOT_FOUND if unknown_intent => ProviderError::UnknownIntent,
        StatusCode::TOO_MANY_REQUESTS => ProviderError::Unavailable(message),
        status if status.is_server_error() => {
            ProviderError::Unavailable(format!("{status}: {message}"))
        }
        status => ProviderError::Rejected {
            status: status.as_u16(),
            message,
        },
    })
}

fn intent_path(intent: &IntentId, rest: &str) -> String {
    // An IntentId is `pi_` and lower-case letters and digits: nothing in it needs escaping.
    format!("v1/payment_intents/{intent}{rest}")
}

#[async_trait]
impl PaymentProvider for HttpProvider {
    // ANCHOR: authorise
    // The card's Display shows its last four digits only, so it may be a span field.
    #[tracing::instrument(
        skip_all,
        fields(reference = %request.reference, amount = %request.amount, card = %request.card),
        err
    )]
    async fn authorise(&self, request: AuthoriseRequest) -> Result<PaymentIntent, ProviderError> {
        let body = CreateIntentBody {
            amount: request.amount,
            card_number: request.card.expose_number(),
            reference: &request.reference,
        };
        self.call(
            Method::POST,
            "v1/payment_intents",
            Some(&request.idempotency_key),
            Some(&body),
        )
        .await
    }
    // ANCHOR_END: authorise

    #[tracing::instrument(skip_all, fields(intent = %intent), err)]
    async fn confirm(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError> {
        let path = intent_path(intent, "/confirm");
        self.call(Method::POST, &path, None, None::<&()>).await
    }

    #[tracing::instrument(skip_all, fields(intent = %intent, amount = %amount), err)]
    async fn refund(
        &self,
        intent: &IntentId,
        amount: Money,
        idempotency_key: String,
    ) -> Result<Refund, ProviderError> {
        let path = intent_path(intent, "/refunds");
        let body = RefundBody { amount };
        self.call(Method::POST, &path, Some(&idempotency_key), Some(&body))
            .await
    }

    #[tracing::instrument(skip_all, fields(intent = %intent), err)]
    async fn get(&self, intent: &IntentId) -> Result<PaymentIntent, ProviderError> {
        let path = intent_path(intent, "");
        self.call(Method::GET, &path, None, None::<&()>).await
    }
}
