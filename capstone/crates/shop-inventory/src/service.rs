//! The gRPC service: the generated `Inventory` trait implemented over the [`Store`].
//!
//! What this module shows (chapter 08):
//! - the edge of a service validates everything (parse, don't validate: a request becomes
//!   domain types here, or an INVALID_ARGUMENT that says what is wrong);
//! - errors map to the status codes the proto promises, with the reason in the status's
//!   metadata so a client can tell "not enough stock" from "already expired" without reading
//!   prose; an internal failure is logged here and answered as a bare "internal error";
//! - the caller's deadline (`grpc-timeout`) bounds the work: a spent one is answered at once,
//!   without touching the database, and the store call is cut off when it runs out;
//! - [`grpc_span`] makes each call's span a child of the caller's (`traceparent` in the
//!   metadata), so one checkout is one trace across the shop API and the inventory.

use std::collections::BTreeSet;
use std::error::Error as _;
use std::future::Future;
use std::num::NonZeroU32;
use std::time::Duration;

use shop_domain::Sku;
use shop_resilience::Deadline;
use tonic::metadata::MetadataValue;
use tonic::{Code, Request, Response, Status};
use tracing::Span;
use tracing::field::Empty;

use crate::model::{ReservationId, ReserveLine};
use crate::proto::{self, inventory_server::Inventory};
use crate::store::{Store, StoreError};

/// The most SKUs one GetStock asks for, and the most lines one reservation holds.
pub const MAX_LINES: usize = 100;
/// The most units one line reserves, or one restock adds.
pub const MAX_QUANTITY: u32 = 1_000_000;
/// The longest idempotency key, in characters.
pub const MAX_KEY_LEN: usize = 128;
/// The longest hold a caller may ask for.
pub const MAX_HOLD: Duration = Duration::from_secs(3600);

/// The status metadata key naming why a call failed, for the codes that have several reasons.
pub const REASON_KEY: &str = "inventory-reason";
/// The status metadata key naming the SKU a failure is about.
pub const SKU_KEY: &str = "inventory-sku";

/// The values of [`REASON_KEY`].
pub mod reason {
    pub const INSUFFICIENT: &str = "insufficient";
    pub const UNKNOWN_SKU: &str = "unknown-sku";
    pub const UNKNOWN_RESERVATION: &str = "unknown-reservation";
    pub const WRONG_STATE: &str = "wrong-state";
}

/// The service's knobs, from its configuration.
#[derive(Debug, Clone, Copy)]
pub struct ServiceSettings {
    /// The hold of a Reserve that asks for none (`hold_seconds` 0).
    pub default_hold: Duration,
    /// The longest any call may take, whatever deadline the caller sent (or none).
    pub max_call_time: Duration,
}

/// The `Inventory` service.
#[derive(Debug, Clone)]
pub struct InventoryService {
    store: Store,
    settings: ServiceSettings,
}

impl InventoryService {
    pub fn new(store: Store, settings: ServiceSettings) -> Self {
        InventoryService { store, settings }
    }

    /// Runs `work` within the request's deadline.
    async fn within<T, M>(
        &self,
        deadline: Deadline,
        work: impl Future<Output = Result<T, StoreError>>,
        reply: impl FnOnce(T) -> M,
    ) -> Result<Response<M>, Status> {
        // `work` is a future nobody has polled yet: a spent deadline never reaches the database.
        if deadline.is_expired() {
            return Err(Status::deadline_exceeded(
                "the call's deadline had passed on arrival: nothing was done",
            ));
        }
        match tokio::time::timeout(deadline.remaining(), work).await {
            Ok(Ok(value)) => Ok(Response::new(reply(value))),
            Ok(Err(error)) => Err(status_of(error)),
            // Dropping the store's future rolls its transaction back: nothing is half done.
            Err(_elapsed) => Err(Status::deadline_exceeded(
                "the call's deadline passed before the inventory answered",
            )),
        }
    }

    fn deadline<T>(&self, request: &Request<T>) -> Deadline {
        Deadline::from_grpc_request(request, self.settings.max_call_time)
    }
}

#[tonic::async_trait]
impl Inventory for InventoryService {
    async fn get_stock(
        &self,
        request: Request<proto::GetStockRequest>,
    ) -> Result<Response<proto::GetStockReply>, Status> {
        let answer = async {
            let deadline = self.deadline(&request);
            let skus = request.into_inner().skus;
            if skus.len() > MAX_LINES {
                return Err(invalid(format!("at most {MAX_LINES} SKUs per call")));
            }
            let skus = skus
                .iter()
                .map(|sku| parse_sku(sku))
                .collect::<Result<Vec<_>, _>>()?;
            self.within(deadline, self.store.get_stock(&skus), |levels| {
                proto::GetStockReply {
                    levels: levels.iter().map(proto::StockLevel::from).collect(),
                }
            })
            .await
        };
        logged(answer.await)
    }

    async fn reserve(
        &self,
        request: Request<proto::ReserveRequest>,
    ) -> Result<Response<proto::Reservation>, Status> {
        let answer = async {
            let deadline = self.deadline(&request);
            let request = request.into_inner();
            let key = parse_key(&request.idempotency_key)?;
            let lines = parse_lines(request.lines)?;
            let hold = match request.hold_seconds {
                0 => self.settings.default_hold,
                secs => Duration::from_secs(u64::from(secs)),
            };
            if hold > MAX_HOLD {
                return Err(invalid(format!(
                    "hold_seconds is at most {}",
                    MAX_HOLD.as_secs()
                )));
            }
            let work = self.store.reserve(key, &lines, hold);
            self.within(deadline, work, |r| proto::Reservation::from(&r))
                .await
        };
        logged(answer.await)
    }

    async fn commit(
        &self,
        request: Request<proto::ReservationRef>,
    ) -> Result<Response<proto::Reservation>, Status> {
        let answer = async {
            let deadline = self.deadline(&request);
            let id = parse_id(&request.get_ref().reservation_id)?;
            self.within(deadline, self.store.commit(id), |r| {
                proto::Reservation::from(&r)
            })
            .await
        };
        logged(answer.await)
    }

    async fn release(
        &self,
        request: Request<proto::ReservationRef>,
    ) -> Result<Response<proto::Reservation>, Status> {
        let answer = async {
            let deadline = self.deadline(&request);
            let id = parse_id(&request.get_ref().reservation_id)?;
            self.within(deadline, self.store.release(id), |r| {
                proto::Reservation::from(&r)
            })
            .await
        };
        logged(answer.await)
    }

    async fn restock(
        &self,
        request: Request<proto::RestockRequest>,
    ) -> Result<Response<proto::StockLevel>, Status> {
        let answer = async {
            let deadline = self.deadline(&request);
            let request = request.into_inner();
            let sku = parse_sku(&request.sku)?;
            let quantity = parse_quantity(&sku, request.quantity)?;
            let work = self.store.restock(&sku, quantity);
            self.within(deadline, work, |level| proto::StockLevel::from(&level))
                .await
        };
        logged(answer.await)
    }
}

// ---- requests into domain types --------------------------------------------------------------

fn invalid(message: String) -> Status {
    Status::invalid_argument(message)
}

fn parse_sku(sku: &str) -> Result<Sku, Status> {
    Sku::parse(sku).map_err(|error| invalid(format!("SKU {sku:?}: {error}")))
}

fn parse_quantity(sku: &Sku, quantity: u32) -> Result<NonZeroU32, Status> {
    NonZeroU32::new(quantity)
        .filter(|q| q.get() <= MAX_QUANTITY)
        .ok_or_else(|| invalid(format!("{sku}: quantity must be from 1 to {MAX_QUANTITY}")))
}

fn parse_key(key: &str) -> Result<&str, Status> {
    let len = key.chars().count();
    if (1..=MAX_KEY_LEN).contains(&len) {
        Ok(key)
    } else {
        Err(invalid(format!(
            "idempotency_key must be 1 to {MAX_KEY_LEN} characters, not {len}"
        )))
    }
}

fn parse_lines(lines: Vec<proto::Line>) -> Result<Vec<ReserveLine>, Status> {
    if lines.is_empty() || lines.len() > MAX_LINES {
        return Err(invalid(format!(
            "a reservation has 1 to {MAX_LINES} lines, not {}",
            lines.len()
        )));
    }
    let mut seen = BTreeSet::new();
    lines
        .into_iter()
        .map(|line| {
            let sku = parse_sku(&line.sku)?;
            let quantity = parse_quantity(&sku, line.quantity)?;
            if !seen.insert(sku.clone()) {
                return Err(invalid(format!("{sku} is on more than one line")));
            }
            Ok(ReserveLine { sku, quantity })
        })
        .collect()
}

fn parse_id(id: &str) -> Result<ReservationId, Status> {
    id.parse()
        .map_err(|_| invalid(format!("reservation_id {id:?} is not a UUID")))
}

// ---- errors into statuses --------------------------------------------------------------------

/// SQLSTATE 40P01 `deadlock_detected` and 40001 `serialization_failure`.
const DEADLOCK: &str = "40P01";
const SERIALIZATION: &str = "40001";

// ANCHOR: status_of
/// The status a store error is answered with. Business outcomes carry their own message (it
/// names no table and no SQL); database failures are logged here, once, with their cause
/// chain, and answered without it.
fn status_of(error: StoreError) -> Status {
    let message = error.to_string();
    match error {
        StoreError::Insufficient { sku, .. } => with_reason(
            Status::failed_precondition(message),
            reason::INSUFFICIENT,
            Some(&sku),
        ),
        StoreError::UnknownSku(sku) => {
            with_reason(Status::not_found(message), reason::UNKNOWN_SKU, Some(&sku))
        }
        StoreError::UnknownReservation(_) => with_reason(
            Status::not_found(message),
            reason::UNKNOWN_RESERVATION,
            None,
        ),
        StoreError::WrongState { .. } => with_reason(
            Status::failed_precondition(message),
            reason::WRONG_STATE,
            None,
        ),
        StoreError::KeyReused { .. } => Status::already_exists(message),
        StoreError::DuplicateSku(_) | StoreError::TooMuchStock(_) => {
            Status::invalid_argument(message)
        }
        StoreError::Database(sqlx::Error::Database(ref db))
            if matches!(db.code().as_deref(), Some(DEADLOCK | SERIALIZATION)) =>
        {
            // Two transactions crossed (PostgreSQL aborted one of them); every call here is
            // idempotent, so the caller's retry is the cure.
            tracing::info!(error = %chain(&error), "transaction aborted by a conflict");
            Status::aborted("the call conflicted with another; try again")
        }
        StoreError::Database(sqlx::Error::PoolTimedOut | sqlx::Error::Io(_)) => {
            tracing::warn!(error = %chain(&error), "the database is unreachable");
            // Worth a retry, perhaps on another instance: say so with the code.
            Status::unavailable("the inventory's database is unavailable")
        }
        StoreError::Database(_) | StoreError::InvalidRow(_) => {
            tracing::error!(error = %chain(&error), "internal error");
            Status::internal("internal error")
        }
    }
}
// ANCHOR_END: status_of

fn with_reason(mut status: Status, why: &'static str, sku: Option<&Sku>) -> Status {
    let metadata = status.metadata_mut();
    metadata.insert(REASON_KEY, MetadataValue::from_static(why));
    // A SKU is letters, digits and hyphens: always a valid metadata value.
    if let Some(value) = sku.and_then(|sku| MetadataValue::try_from(sku.as_str()).ok()) {
        metadata.insert(SKU_KEY, value);
    }
    status
}

/// An error and its sources on one line: "database error: pool timed out ...".
fn chain(error: &StoreError) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

// ---- the call's span -------------------------------------------------------------------------

// ANCHOR: grpc_span
/// The span of one call this server answers (for tonic's `Server::trace_fn`), a child of the
/// caller's span when the metadata carries a valid `traceparent`. Named after the method
/// (`inventory.v1.Inventory/Reserve`), as OpenTelemetry's RPC conventions name it.
pub fn grpc_span(request: &http::Request<()>) -> Span {
    let path = request.uri().path().trim_start_matches('/');
    let (service, method) = path.split_once('/').unwrap_or(("", path));
    let span = tracing::info_span!(
        "grpc",
        otel.name = path,
        otel.kind = "server",
        rpc.system = "grpc",
        rpc.service = service,
        rpc.method = method,
        rpc.grpc.status_code = Empty,
    );
    shop_telemetry::propagation::adopt_remote_parent(&span, request.headers());
    span
}
// ANCHOR_END: grpc_span

/// Records how the call ended on its span, and logs one line for it.
fn logged<M>(answer: Result<Response<M>, Status>) -> Result<Response<M>, Status> {
    let code = answer.as_ref().map_or_else(Status::code, |_| Code::Ok);
    Span::current().record("rpc.grpc.status_code", code as i32);
    tracing::info!(code = ?code, "answered");
    answer
}
