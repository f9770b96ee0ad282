//! The client the shop API (and lesson 08) calls the inventory through.
//!
//! What this module shows (chapter 08):
//! - every call goes through a [`Dependency`]: a bulkhead, the call's deadline shared by its
//!   attempts, a circuit breaker and retries with a budget ([`default_dependency_config`]
//!   explains the numbers);
//! - each attempt sends the time it has left as `grpc-timeout`, so the server stops working
//!   when the caller has stopped waiting, and the current span as `traceparent`, so the
//!   server's span joins the caller's trace;
//! - the callers see domain types and an [`InventoryError`] they can match on (out of stock,
//!   unknown reservation, ...), never a protobuf message or a bare status code.
//!
//! Retries are safe because the calls are: Reserve carries an idempotency key, Commit and
//! Release are idempotent, GetStock reads. Restock is the exception: a retry after an attempt
//! that timed out on its way back adds the units twice (the proto has no key for it), which is
//! why it is an admin's action, checked by a person.

use std::num::{NonZeroU32, NonZeroUsize};
use std::sync::Arc;
use std::time::Duration;

use shop_domain::Sku;
use shop_resilience::{
    BreakerConfig, BudgetConfig, CallError, Deadline, Dependency, DependencyConfig, RetryConfig,
    Retryable,
};
use thiserror::Error;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::model::{Reservation, ReservationId, ReserveLine, StockLevel};
use crate::proto;
use crate::proto::inventory_client::InventoryClient as Generated;
use crate::service::{REASON_KEY, SKU_KEY, reason};

/// How long opening a connection may take before the attempt fails. Loopback or a data-centre
/// network answers in milliseconds; a host that does not answer at all should cost one attempt,
/// not the whole deadline.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);

/// The client could not be created.
#[derive(Debug, Error)]
pub enum ClientError {
    #[error("{endpoint:?} is not an inventory endpoint (expected http://host:port): {reason}")]
    InvalidEndpoint { endpoint: String, reason: String },
}

/// What the inventory answered instead of doing what was asked.
#[derive(Debug, Error)]
pub enum InventoryError {
    #[error("not enough stock of {sku}")]
    Insufficient { sku: String },
    #[error("the inventory has no SKU {sku}")]
    UnknownSku { sku: String },
    #[error("the inventory has no such reservation")]
    UnknownReservation,
    /// The reservation can no longer make this move (committing an expired one, releasing a
    /// committed one); the message says which.
    #[error("{message}")]
    WrongState { message: String },
    #[error("the idempotency key was already used for a reservation of other lines")]
    KeyReused,
    #[error("the inventory refused the request: {message}")]
    Invalid { message: String },
    /// Anything else: unreachable, overloaded, an internal error.
    #[error("inventory call failed: {}", .0.message())]
    Rpc(Status),
}

impl InventoryError {
    /// The error a status stands for: the code, made precise by the reason the server put in
    /// the status's metadata (two different failures share FAILED_PRECONDITION).
    pub fn from_status(status: Status) -> Self {
        let metadata = status.metadata();
        let text = |key: &str| {
            metadata
                .get(key)
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned)
        };
        let why = text(REASON_KEY);
        let sku = || text(SKU_KEY).unwrap_or_default();
        match (status.code(), why.as_deref()) {
            (Code::FailedPrecondition, Some(reason::INSUFFICIENT)) => {
                InventoryError::Insufficient { sku: sku() }
            }
            (Code::NotFound, Some(reason::UNKNOWN_SKU)) => {
                InventoryError::UnknownSku { sku: sku() }
            }
            (Code::NotFound, Some(reason::UNKNOWN_RESERVATION)) => {
                InventoryError::UnknownReservation
            }
            (Code::FailedPrecondition, _) => InventoryError::WrongState {
                message: status.message().to_owned(),
            },
            (Code::AlreadyExists, _) => InventoryError::KeyReused,
            (Code::InvalidArgument, _) => InventoryError::Invalid {
                message: status.message().to_owned(),
            },
            _ => InventoryError::Rpc(status),
        }
    }

    /// The status code of an [`InventoryError::Rpc`].
    pub fn code(&self) -> Option<Code> {
        match self {
            InventoryError::Rpc(status) => Some(status.code()),
            _ => None,
        }
    }
}

/// Only a failure of the call itself may go better a moment later: the service unreachable,
/// overloaded or out of time (gRPC's usual three), or its transaction aborted by a concurrent
/// one (ABORTED). A business answer ("not enough stock") is the same on every attempt.
impl Retryable for InventoryError {
    fn is_retryable(&self) -> bool {
        matches!(self, InventoryError::Rpc(status)
            if status.is_retryable() || status.code() == Code::Aborted)
    }
}

// ANCHOR: default_dependency_config
/// The guards of the shop's calls to the inventory:
/// - 32 calls in flight at most: more means the inventory is slow, and queueing more checkouts
///   behind it would only hold more of the API's workers;
/// - the breaker opens after 5 consecutive failures, stays open 5 s (long enough for a restart
///   to finish, short enough that customers barely notice) and lets 1 trial call through;
/// - 3 attempts in all, backing off from up to 50 ms to at most 1 s: a restarting instance or
///   a dropped connection is usually back within that;
/// - a retry budget of a tenth of the traffic (each call deposits 1, a retry costs 10, at most
///   100 saved): a few retries help, and in an outage retries cannot triple the load;
/// - 1 s per attempt: the inventory answers in milliseconds, and one slow attempt must leave
///   time in a checkout's deadline for another.
pub fn default_dependency_config() -> DependencyConfig {
    let nonzero = |n: u32| NonZeroU32::new(n).expect("the constants here are not zero");
    DependencyConfig {
        max_concurrent: NonZeroUsize::new(32).expect("32 is not zero"),
        breaker: BreakerConfig {
            failure_threshold: nonzero(5),
            open_for: Duration::from_secs(5),
            half_open_trials: nonzero(1),
        },
        retry: RetryConfig {
            max_attempts: nonzero(3),
            base: Duration::from_millis(50),
            cap: Duration::from_secs(1),
        },
        budget: BudgetConfig {
            deposit: 1,
            retry_cost: 10,
            max_balance: 100,
        },
        attempt_timeout: Duration::from_secs(1),
    }
}
// ANCHOR_END: default_dependency_config

/// A client of the inventory service. Cheap to clone: clones share the connection and the
/// dependency's guards.
#[derive(Debug, Clone)]
pub struct InventoryClient {
    inner: Generated<Channel>,
    dependency: Arc<Dependency>,
}

type Answer<T> = Result<T, CallError<InventoryError>>;

impl InventoryClient {
    /// Lazily connecting: no I/O until the first call, so the API starts while inventory is
    /// down. Must be called inside a tokio runtime (the channel's worker is spawned on it).
    pub fn connect_lazy(endpoint: &str, dependency: Arc<Dependency>) -> Result<Self, ClientError> {
        let invalid = |reason: String| ClientError::InvalidEndpoint {
            endpoint: endpoint.to_owned(),
            reason,
        };
        // Only plain HTTP/2: this workspace's tonic has no TLS, and an https:// endpoint would
        // fail on every call instead of here.
        if !endpoint.starts_with("http://") {
            return Err(invalid("the scheme must be http://".into()));
        }
        let channel = Endpoint::from_shared(endpoint.to_owned())
            .map_err(|error| invalid(error.to_string()))?
            .connect_timeout(CONNECT_TIMEOUT)
            .connect_lazy();
        Ok(InventoryClient {
            inner: Generated::new(channel),
            dependency,
        })
    }

    pub fn dependency(&self) -> &Dependency {
        &self.dependency
    }

    /// The levels of `skus` the inventory knows (unknown ones are left out). With no SKUs it is
    /// a cheap probe of the service and its database.
    #[tracing::instrument(skip_all, name = "inventory.GetStock", fields(otel.kind = "client"))]
    pub async fn stock(&self, skus: &[Sku], deadline: Deadline) -> Answer<Vec<StockLevel>> {
        let message = proto::GetStockRequest {
            skus: skus.iter().map(Sku::to_string).collect(),
        };
        let reply = self
            .dependency
            .call(deadline, |timeout| {
                let mut client = self.inner.clone();
                let request = request(message.clone(), timeout);
                async move { answer(client.get_stock(request).await) }
            })
            .await?;
        let levels = reply.levels.into_iter().map(StockLevel::try_from);
        levels
            .collect::<Result<_, _>>()
            .map_err(|error| self.malformed(error))
    }

    // ANCHOR: client_reserve
    /// Sets `lines` aside for `hold` (zero: the service's default), all or nothing. Retried
    /// calls send the same `key`, so however many attempts reach the service, it reserves once.
    #[tracing::instrument(skip_all, name = "inventory.Reserve", fields(otel.kind = "client"))]
    pub async fn reserve(
        &self,
        key: &str,
        lines: &[ReserveLine],
        hold: Duration,
        deadline: Deadline,
    ) -> Answer<Reservation> {
        let message = proto::ReserveRequest {
            idempotency_key: key.to_owned(),
            lines: lines.iter().map(proto::Line::from).collect(),
            // More than u32 seconds is far past the service's limit, which refuses it.
            hold_seconds: u32::try_from(hold.as_secs()).unwrap_or(u32::MAX),
        };
        let reply = self
            .dependency
            .call(deadline, |timeout| {
                // One request per attempt: each carries its own, shorter, grpc-timeout.
                let mut client = self.inner.clone();
                let request = request(message.clone(), timeout);
                async move { answer(client.reserve(request).await) }
            })
            .await?;
        Reservation::try_from(reply).map_err(|error| self.malformed(error))
    }
    // ANCHOR_END: client_reserve

    /// Turns a held reservation into a sale. Idempotent.
    #[tracing::instrument(skip_all, name = "inventory.Commit", fields(otel.kind = "client"))]
    pub async fn commit(&self, id: ReservationId, deadline: Deadline) -> Answer<Reservation> {
        let message = proto::ReservationRef {
            reservation_id: id.to_string(),
        };
        let reply = self
            .dependency
            .call(deadline, |timeout| {
                let mut client = self.inner.clone();
                let request = request(message.clone(), timeout);
                async move { answer(client.commit(request).await) }
            })
            .await?;
        Reservation::try_from(reply).map_err(|error| self.malformed(error))
    }

    /// Gives a held reservation's units back. Idempotent.
    #[tracing::instrument(skip_all, name = "inventory.Release", fields(otel.kind = "client"))]
    pub async fn release(&self, id: ReservationId, deadline: Deadline) -> Answer<Reservation> {
        let message = proto::ReservationRef {
            reservation_id: id.to_string(),
        };
        let reply = self
            .dependency
            .call(deadline, |timeout| {
                let mut client = self.inner.clone();
                let request = request(message.clone(), timeout);
                async move { answer(client.release(request).await) }
            })
            .await?;
        Reservation::try_from(reply).map_err(|error| self.malformed(error))
    }

    /// Adds `quantity` units to `sku` (see the module's note on retries).
    #[tracing::instrument(skip_all, name = "inventory.Restock", fields(otel.kind = "client"))]
    pub async fn restock(
        &self,
        sku: &Sku,
        quantity: u32,
        deadline: Deadline,
    ) -> Answer<StockLevel> {
        let message = proto::RestockRequest {
            sku: sku.to_string(),
            quantity,
        };
        let reply = self
            .dependency
            .call(deadline, |timeout| {
                let mut client = self.inner.clone();
                let request = request(message.clone(), timeout);
                async move { answer(client.restock(request).await) }
            })
            .await?;
        StockLevel::try_from(reply).map_err(|error| self.malformed(error))
    }
}

impl InventoryClient {
    /// A reply these types cannot hold: the server is not the one this client was built for.
    fn malformed(&self, error: crate::model::Malformed) -> CallError<InventoryError> {
        CallError::Failed {
            dependency: self.dependency.name(),
            source: InventoryError::Rpc(Status::internal(format!(
                "the inventory sent a malformed reply: {error}"
            ))),
        }
    }
}

/// One attempt's request: `timeout` as its `grpc-timeout`, the current span as `traceparent`.
fn request<M>(message: M, timeout: Duration) -> tonic::Request<M> {
    let mut headers = http::HeaderMap::new();
    shop_telemetry::propagation::inject_current(&mut headers);
    let metadata = MetadataMap::from_headers(headers);
    let mut request = tonic::Request::from_parts(metadata, tonic::Extensions::default(), message);
    request.set_timeout(timeout);
    request
}

fn answer<M>(reply: Result<tonic::Response<M>, Status>) -> Result<M, InventoryError> {
    reply
        .map(tonic::Response::into_inner)
        .map_err(InventoryError::from_status)
}

#[cfg(test)]
mod tests {
    use tonic::metadata::MetadataValue;

    use super::*;

    fn with_reason(mut status: Status, why: &'static str) -> Status {
        status
            .metadata_mut()
            .insert(REASON_KEY, MetadataValue::from_static(why));
        status
            .metadata_mut()
            .insert(SKU_KEY, MetadataValue::from_static("MUG-RED"));
        status
    }

    #[test]
    fn the_reason_in_the_metadata_tells_apart_errors_that_share_a_code() {
        let short = with_reason(Status::failed_precondition("x"), reason::INSUFFICIENT);
        assert!(matches!(
            InventoryError::from_status(short),
            InventoryError::Insufficient { sku } if sku == "MUG-RED"
        ));
        let expired = with_reason(Status::failed_precondition("expired"), reason::WRONG_STATE);
        assert!(matches!(
            InventoryError::from_status(expired),
            InventoryError::WrongState { message } if message == "expired"
        ));
        let unknown = with_reason(Status::not_found("x"), reason::UNKNOWN_SKU);
        assert!(matches!(
            InventoryError::from_status(unknown),
            InventoryError::UnknownSku { .. }
        ));
        // A NOT_FOUND without a reason is not guessed at.
        assert!(matches!(
            InventoryError::from_status(Status::not_found("x")),
            InventoryError::Rpc(_)
        ));
    }

    #[test]
    fn only_failures_of_the_call_itself_are_retried() {
        let retried = [Code::Unavailable, Code::DeadlineExceeded, Code::Aborted];
        for code in retried {
            assert!(InventoryError::from_status(Status::new(code, "")).is_retryable());
        }
        let final_answers = [
            Status::internal("internal error"),
            Status::invalid_argument("bad"),
            Status::already_exists("key"),
            with_reason(Status::failed_precondition("x"), reason::INSUFFICIENT),
        ];
        for status in final_answers {
            assert!(!InventoryError::from_status(status).is_retryable());
        }
    }
}
