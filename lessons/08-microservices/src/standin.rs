//! A stand-in for the inventory service: the same gRPC contract (the generated `Inventory`
//! trait of `shop_inventory::proto`), stock kept in memory, and misbehaviour on demand, so the
//! retry and bulkhead steps can make a dependency fail or crawl without touching the real one.
//!
//! What this module shows:
//! - a tonic server is a struct implementing the generated trait, served on a port of its own
//!   and stopped by a [`CancellationToken`]; a client cannot tell a stand-in from the real
//!   service, which is what a contract is for;
//! - faults injected at the boundary: a share of the requests answered `UNAVAILABLE` (decided
//!   by a hash of the request's number, so a run is the same every time), or every
//!   reservation slow;
//! - what the server *saw*: each request's arrival time, idempotency key and `grpc-timeout`
//!   header, which is how the demo measures attempts, back-off pauses and deadlines on the
//!   wire rather than trusting the client's word.
//!
//! Used by steps 1, 2 and 4 of `cargo run -p lesson-08`; tests: `cargo test -p lesson-08 standin`.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use shop_inventory::proto::inventory_server::{Inventory, InventoryServer};
use shop_inventory::proto::{
    GetStockReply, GetStockRequest, Reservation, ReservationRef, ReservationStatus, ReserveRequest,
    RestockRequest, StockLevel,
};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tonic::{Request, Response, Status};

/// How the stand-in misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Faults {
    /// The share of requests answered `UNAVAILABLE`, in percent (0 to 100).
    pub fail_percent: u32,
    /// How long every `Reserve` takes (the other calls answer at once): a database under a
    /// lock, say, that slows the writes and not the reads.
    pub reserve_delay: Duration,
}

impl Faults {
    pub const NONE: Faults = Faults {
        fail_percent: 0,
        reserve_delay: Duration::ZERO,
    };
}

/// One request as the stand-in received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Arrival {
    /// When it arrived (tokio's clock).
    pub at: Instant,
    /// The RPC's name: `Reserve`, `GetStock`, ...
    pub rpc: &'static str,
    /// The reservation's idempotency key (Reserve only): a retry carries the same one.
    pub key: Option<String>,
    /// The `grpc-timeout` header, as sent.
    pub grpc_timeout: Option<String>,
    /// Whether the stand-in failed it on purpose.
    pub failed: bool,
}

#[derive(Debug, Default)]
struct State {
    /// sku → (on_hand, reserved)
    stock: BTreeMap<String, (u32, u32)>,
    /// idempotency key → the reservation made for it
    reservations: BTreeMap<String, Reservation>,
    arrivals: Vec<Arrival>,
}

#[derive(Debug)]
struct Shared {
    faults: Mutex<Faults>,
    state: Mutex<State>,
}

/// The stand-in's service, cheap to clone (tonic clones it per connection).
#[derive(Debug, Clone)]
pub struct StandIn {
    shared: Arc<Shared>,
}

/// A served stand-in; [`RunningStandIn::stop`] closes its port.
#[derive(Debug)]
pub struct RunningStandIn {
    pub addr: SocketAddr,
    pub service: StandIn,
    shutdown: CancellationToken,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

/// The mutex guards plain data a panicking holder cannot leave half-updated in a way that
/// matters to a demo: recover it rather than poison every later request.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// SplitMix64's finaliser: a well-spread hash of the request number, so "fail 30 %" picks an
/// irregular but repeatable 30 % instead of every third request.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Whether request number `n` (from 0) fails under `fail_percent`.
pub fn fails(n: u64, fail_percent: u32) -> bool {
    mix(n) % 100 < u64::from(fail_percent)
}

impl StandIn {
    /// A stand-in holding `stock` (sku, units on hand).
    pub fn new(stock: &[(&str, u32)], faults: Faults) -> StandIn {
        let stock = stock
            .iter()
            .map(|&(sku, units)| (sku.to_owned(), (units, 0)))
            .collect();
        StandIn {
            shared: Arc::new(Shared {
                faults: Mutex::new(faults),
                state: Mutex::new(State {
                    stock,
                    ..State::default()
                }),
            }),
        }
    }

    /// Serves on a free port of 127.0.0.1 until [`RunningStandIn::stop`].
    pub async fn serve(self) -> std::io::Result<RunningStandIn> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone().cancelled_owned();
        let task = tokio::spawn(
            Server::builder()
                .add_service(InventoryServer::new(self.clone()))
                .serve_with_incoming_shutdown(TcpIncoming::from(listener), stop),
        );
        Ok(RunningStandIn {
            addr,
            service: self,
            shutdown,
            task,
        })
    }

    pub fn set_faults(&self, faults: Faults) {
        *lock(&self.shared.faults) = faults;
    }

    /// Every request so far, in the order they arrived.
    pub fn arrivals(&self) -> Vec<Arrival> {
        lock(&self.shared.state).arrivals.clone()
    }

    pub fn clear_arrivals(&self) {
        lock(&self.shared.state).arrivals.clear();
    }

    /// Records the request, waits out the delay, and says whether to fail it.
    async fn arrive<T>(
        &self,
        rpc: &'static str,
        key: Option<String>,
        request: &Request<T>,
    ) -> Result<(), Status> {
        let faults = *lock(&self.shared.faults);
        let grpc_timeout = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .map(str::to_owned);
        let failed = {
            let mut state = lock(&self.shared.state);
            let n = state.arrivals.len() as u64;
            let failed = fails(n, faults.fail_percent);
            state.arrivals.push(Arrival {
                at: Instant::now(),
                rpc,
                key,
                grpc_timeout,
                failed,
            });
            failed
        };
        // A slow answer is slow whether it ends well or not; the lock is not held meanwhile.
        if rpc == "Reserve" && !faults.reserve_delay.is_zero() {
            tokio::time::sleep(faults.reserve_delay).await;
        }
        if failed {
            Err(Status::unavailable("stand-in: failing on purpose"))
        } else {
            Ok(())
        }
    }
}

impl RunningStandIn {
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops serving: the port closes; requests in flight are answered first.
    pub async fn stop(self) -> Result<(), tonic::transport::Error> {
        self.shutdown.cancel();
        match self.task.await {
            Ok(result) => result,
            // The server task does not panic on its own; if it did, the port is closed anyway.
            Err(_) => Ok(()),
        }
    }
}

fn level(sku: &str, (on_hand, reserved): (u32, u32)) -> StockLevel {
    StockLevel {
        sku: sku.to_owned(),
        on_hand,
        reserved,
        available: on_hand - reserved,
    }
}

fn unix_ms_in(hold: Duration) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from((now + hold).as_millis()).unwrap_or(i64::MAX)
}

#[tonic::async_trait]
impl Inventory for StandIn {
    async fn get_stock(
        &self,
        request: Request<GetStockRequest>,
    ) -> Result<Response<GetStockReply>, Status> {
        self.arrive("GetStock", None, &request).await?;
        let state = lock(&self.shared.state);
        let levels = request
            .get_ref()
            .skus
            .iter()
            .filter_map(|sku| state.stock.get(sku).map(|&units| level(sku, units)))
            .collect();
        Ok(Response::new(GetStockReply { levels }))
    }

    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<Reservation>, Status> {
        let key = request.get_ref().idempotency_key.clone();
        self.arrive("Reserve", Some(key.clone()), &request).await?;
        let mut state = lock(&self.shared.state);
        if let Some(existing) = state.reservations.get(&key) {
            return Ok(Response::new(existing.clone()));
        }
        let lines = request.into_inner().lines;
        // All or nothing: check every line before taking any.
        for line in &lines {
            let (on_hand, reserved) = *state
                .stock
                .get(&line.sku)
                .ok_or_else(|| Status::not_found(format!("unknown SKU {}", line.sku)))?;
            if on_hand - reserved < line.quantity {
                return Err(Status::failed_precondition(format!(
                    "not enough stock of {}",
                    line.sku
                )));
            }
        }
        for line in &lines {
            if let Some(units) = state.stock.get_mut(&line.sku) {
                units.1 += line.quantity;
            }
        }
        let reservation = Reservation {
            reservation_id: uuid::Uuid::new_v4().to_string(),
            status: ReservationStatus::Held as i32,
            lines,
            expires_at_unix_ms: unix_ms_in(Duration::from_secs(15 * 60)),
        };
        state.reservations.insert(key, reservation.clone());
        Ok(Response::new(reservation))
    }

    async fn commit(
        &self,
        request: Request<ReservationRef>,
    ) -> Result<Response<Reservation>, Status> {
        self.arrive("Commit", None, &request).await?;
        Err(Status::unimplemented(
            "the stand-in only reserves: the saga step uses the real service",
        ))
    }

    async fn release(
        &self,
        request: Request<ReservationRef>,
    ) -> Result<Response<Reservation>, Status> {
        self.arrive("Release", None, &request).await?;
        Err(Status::unimplemented(
            "the stand-in only reserves: the saga step uses the real service",
        ))
    }

    async fn restock(
        &self,
        request: Request<RestockRequest>,
    ) -> Result<Response<StockLevel>, Status> {
        self.arrive("Restock", None, &request).await?;
        let RestockRequest { sku, quantity } = request.into_inner();
        let mut state = lock(&self.shared.state);
        let units = state.stock.entry(sku.clone()).or_insert((0, 0));
        units.0 += quantity;
        Ok(Response::new(level(&sku, *units)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_share_is_close_to_the_percentage_asked_for() {
        for percent in [0, 10, 30, 100] {
            let failed = (0..10_000).filter(|&n| fails(n, percent)).count();
            let expected = 100 * percent as usize;
            assert!(
                failed.abs_diff(expected) <= 250,
                "{percent} %: {failed} of 10,000 failed"
            );
        }
    }

    #[test]
    fn the_pattern_is_irregular_but_repeatable() {
        let first: Vec<bool> = (0..50).map(|n| fails(n, 30)).collect();
        let again: Vec<bool> = (0..50).map(|n| fails(n, 30)).collect();
        assert_eq!(first, again);
        // Not every third request: two failures in a row happen.
        assert!(first.windows(2).any(|w| w[0] && w[1]), "{first:?}");
    }
}
