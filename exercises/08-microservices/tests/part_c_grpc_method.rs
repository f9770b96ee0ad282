//! Part (c): one gRPC method, served for real on 127.0.0.1 and called with the generated
//! client.
//!
//! Run with `cargo test -p exercise-08 part_c`. Each test starts its own server on port 0 with
//! `tonic::transport::Server`, in front of its own [`Warehouse`], whose counters tell whether
//! any work was started. The warehouse's reservations take real time (20 ms here, 300 ms where a
//! deadline has to be too short for them); no test asserts how long anything took.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use exercise_08::proto::stock_client::StockClient;
use exercise_08::proto::stock_server::{Stock, StockServer};
use exercise_08::proto::{ReserveReply, ReserveRequest};
use exercise_08::{
    MAX_KEY_LEN, MAX_QUANTITY, MAX_SKU_LEN, StockService, Warehouse, parse_grpc_timeout,
    reserve_within,
};
use proptest::prelude::*;
use tokio::net::TcpListener;
use tonic::metadata::MetadataValue;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Request, Response, Status};

const MS: Duration = Duration::from_millis(1);
/// What the tests' warehouses take per reservation, unless a test needs a slower one.
const WORK: Duration = Duration::from_millis(20);
/// Long enough for anything here: a test that reaches it has hung.
const HANG: Duration = Duration::from_secs(20);

/// Serves `service` on a free port of 127.0.0.1 and connects a client to it. The server runs
/// until the test's runtime stops.
async fn serve<S: Stock>(service: S) -> StockClient<Channel> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port on 127.0.0.1");
    let addr = listener
        .local_addr()
        .expect("a bound listener has an address");
    tokio::spawn(
        Server::builder()
            .add_service(StockServer::new(service))
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    let channel = Endpoint::from_shared(format!("http://{addr}"))
        .expect("a valid URI")
        .connect()
        .await
        .expect("the test server accepts connections");
    StockClient::new(channel)
}

/// A warehouse holding `stock`, taking `work` per reservation, served by your `StockService`.
async fn stock_service(
    stock: &[(&str, u32)],
    work: Duration,
) -> (StockClient<Channel>, Arc<Warehouse>) {
    let warehouse = Arc::new(Warehouse::new(stock.iter().copied(), work));
    let client = serve(StockService::new(Arc::clone(&warehouse))).await;
    (client, warehouse)
}

fn reserve_request(sku: &str, quantity: u32, key: &str) -> ReserveRequest {
    ReserveRequest {
        sku: sku.to_owned(),
        quantity,
        idempotency_key: key.to_owned(),
    }
}

/// Calls `Reserve` with `request` as it is (metadata included), guarded against hanging.
async fn call(
    client: &StockClient<Channel>,
    request: Request<ReserveRequest>,
) -> Result<ReserveReply, Status> {
    let mut client = client.clone();
    tokio::time::timeout(HANG, client.reserve(request))
        .await
        .expect("the call hung")
        .map(Response::into_inner)
}

async fn reserve(
    client: &StockClient<Channel>,
    sku: &str,
    quantity: u32,
    key: &str,
) -> Result<ReserveReply, Status> {
    call(client, Request::new(reserve_request(sku, quantity, key))).await
}

/// The same call with `timeout` sent as the deadline, set the way tonic sets it.
async fn reserve_with_timeout(
    client: &StockClient<Channel>,
    request: ReserveRequest,
    timeout: Duration,
) -> Result<ReserveReply, Status> {
    let mut request = Request::new(request);
    request.set_timeout(timeout);
    call(client, request).await
}

#[track_caller]
fn assert_refused(result: Result<ReserveReply, Status>, code: Code, mentioning: &str) {
    match result {
        Ok(reply) => panic!("expected {code:?} mentioning {mentioning:?}, got {reply:?}"),
        Err(status) => {
            assert_eq!(status.code(), code, "{status:?}");
            assert!(
                status.message().contains(mentioning),
                "the message should mention {mentioning:?}: {:?}",
                status.message()
            );
        }
    }
}

// ---- Reserving ----

#[tokio::test]
async fn a_reservation_takes_stock_and_reports_what_is_left() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    let first = reserve(&client, "MUG-1", 3, "order-1").await.unwrap();
    assert_eq!(first.remaining, 7);
    assert!(!first.reservation_id.is_empty(), "a reservation has an id");
    assert_eq!(warehouse.units("MUG-1"), Some(7));

    let second = reserve(&client, "MUG-1", 7, "order-2").await.unwrap();
    assert_eq!(second.remaining, 0);
    assert_ne!(
        second.reservation_id, first.reservation_id,
        "another key, another reservation"
    );
    assert_eq!(warehouse.started(), 2);
}

#[tokio::test]
async fn an_unknown_sku_is_not_found_and_too_little_stock_a_failed_precondition() {
    let (client, warehouse) = stock_service(&[("MUG-1", 2)], WORK).await;
    assert_refused(
        reserve(&client, "TEAPOT", 1, "k1").await,
        Code::NotFound,
        "TEAPOT",
    );
    assert_refused(
        reserve(&client, "MUG-1", 3, "k2").await,
        Code::FailedPrecondition,
        "only 2",
    );
    assert_eq!(warehouse.units("MUG-1"), Some(2), "nothing was taken");
}

// ---- Validation ----

#[tokio::test]
async fn skus_are_validated() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    let too_long = "A".repeat(MAX_SKU_LEN + 1);
    for sku in ["", "MUG 1", "MUG_1", "MUGé", "MUG-1\n", too_long.as_str()] {
        assert_refused(
            reserve(&client, sku, 1, "k").await,
            Code::InvalidArgument,
            "sku",
        );
    }
    assert_eq!(
        warehouse.started(),
        0,
        "no invalid request reaches the warehouse"
    );
}

#[tokio::test]
async fn quantities_are_validated() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10_000)], WORK).await;
    for quantity in [0, MAX_QUANTITY + 1, u32::MAX] {
        assert_refused(
            reserve(&client, "MUG-1", quantity, "k").await,
            Code::InvalidArgument,
            "quantity",
        );
    }
    assert_eq!(warehouse.started(), 0);
}

#[tokio::test]
async fn idempotency_keys_are_validated() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    let too_long = "k".repeat(MAX_KEY_LEN + 1);
    for key in ["", too_long.as_str()] {
        assert_refused(
            reserve(&client, "MUG-1", 1, key).await,
            Code::InvalidArgument,
            "idempotency_key",
        );
    }
    assert_eq!(warehouse.started(), 0);
}

#[tokio::test]
async fn the_largest_valid_values_are_accepted() {
    let longest_sku = "Z".repeat(MAX_SKU_LEN);
    let (client, _warehouse) = stock_service(
        &[(longest_sku.as_str(), MAX_QUANTITY), ("mug-1", 1), ("9", 1)],
        WORK,
    )
    .await;
    let longest_key = "é".repeat(MAX_KEY_LEN / 2);
    let reply = reserve(&client, &longest_sku, MAX_QUANTITY, &longest_key)
        .await
        .unwrap();
    assert_eq!(reply.remaining, 0);
    reserve(&client, "mug-1", 1, "lower-case-letters")
        .await
        .unwrap();
    reserve(&client, "9", 1, "k").await.unwrap();
}

// ---- Deadlines ----

#[tokio::test]
async fn a_deadline_shorter_than_the_work_is_refused_before_it_starts() {
    let work = 300 * MS;
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], work).await;
    // Not zero: tonic's own timeout would then fire while the request is still being read.
    for timeout in [100 * MS, work - MS, work] {
        let answer =
            reserve_with_timeout(&client, reserve_request("MUG-1", 1, "k1"), timeout).await;
        assert_eq!(
            answer.map_err(|s| s.code()),
            Err(Code::DeadlineExceeded),
            "a deadline of {timeout:?} leaves no time for {work:?} of work"
        );
    }
    assert_eq!(warehouse.started(), 0, "no work was started for nobody");
    assert_eq!(warehouse.units("MUG-1"), Some(10));
}

#[tokio::test]
async fn a_deadline_with_time_to_spare_is_served() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    let reply = reserve_with_timeout(
        &client,
        reserve_request("MUG-1", 4, "k1"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(reply.remaining, 6);
    // Without a deadline there is no limit.
    reserve(&client, "MUG-1", 1, "k2").await.unwrap();
    assert_eq!(warehouse.started(), 2);
}

#[tokio::test]
async fn a_malformed_grpc_timeout_is_an_invalid_argument() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    for value in ["soon", "123456789m", "5s", "-1S"] {
        let mut request = Request::new(reserve_request("MUG-1", 1, "k1"));
        request
            .metadata_mut()
            .insert("grpc-timeout", MetadataValue::from_static(value));
        assert_refused(
            call(&client, request).await,
            Code::InvalidArgument,
            "grpc-timeout",
        );
    }
    assert_eq!(warehouse.started(), 0);
}

// ---- Idempotency ----

#[tokio::test]
async fn the_same_key_answers_the_same_reservation() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], WORK).await;
    let first = reserve(&client, "MUG-1", 3, "order-7").await.unwrap();
    let again = reserve(&client, "MUG-1", 3, "order-7").await.unwrap();
    assert_eq!(again, first, "a retry gets the first answer");
    assert_eq!(warehouse.started(), 1, "and the warehouse was asked once");
    assert_eq!(warehouse.units("MUG-1"), Some(7));
}

#[tokio::test]
async fn a_replay_is_answered_whatever_the_deadline() {
    let work = 300 * MS;
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], work).await;
    let first = reserve(&client, "MUG-1", 3, "order-7").await.unwrap();
    let replay = reserve_with_timeout(&client, reserve_request("MUG-1", 3, "order-7"), 100 * MS)
        .await
        .expect("a replay needs no work, so a deadline shorter than the work is enough");
    assert_eq!(replay, first);
    assert_eq!(warehouse.started(), 1);
}

#[tokio::test]
async fn a_key_used_for_another_request_is_refused() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10), ("CUP-1", 10)], WORK).await;
    reserve(&client, "MUG-1", 3, "order-7").await.unwrap();
    assert_refused(
        reserve(&client, "MUG-1", 4, "order-7").await,
        Code::InvalidArgument,
        "idempotency_key",
    );
    assert_refused(
        reserve(&client, "CUP-1", 3, "order-7").await,
        Code::InvalidArgument,
        "idempotency_key",
    );
    assert_eq!(warehouse.started(), 1);
    assert_eq!(warehouse.units("CUP-1"), Some(10));
}

#[tokio::test]
async fn calls_with_one_key_at_the_same_time_reserve_once() {
    let (client, warehouse) = stock_service(&[("MUG-1", 10)], 200 * MS).await;
    let mut calls = tokio::task::JoinSet::new();
    for _ in 0..5 {
        let client = client.clone();
        calls.spawn(async move { reserve(&client, "MUG-1", 2, "order-9").await });
    }
    let mut replies = Vec::new();
    while let Some(answer) = calls.join_next().await {
        replies.push(answer.unwrap().expect("each of them is answered"));
    }
    assert_eq!(
        warehouse.started(),
        1,
        "the calls that came while the first was under way waited for it"
    );
    assert!(
        replies.iter().all(|reply| *reply == replies[0]),
        "and answered its reply: {replies:?}"
    );
    assert_eq!(warehouse.units("MUG-1"), Some(8));
}

#[tokio::test]
async fn a_failed_reservation_is_not_remembered() {
    let (client, warehouse) = stock_service(&[("MUG-1", 2)], WORK).await;
    assert_refused(
        reserve(&client, "MUG-1", 3, "order-5").await,
        Code::FailedPrecondition,
        "only 2",
    );
    warehouse.restock("MUG-1", 5);
    let reply = reserve(&client, "MUG-1", 3, "order-5")
        .await
        .expect("the first try failed, so the same key may try again");
    assert_eq!(reply.remaining, 4);
    assert_eq!(warehouse.started(), 2);
}

// ---- The client's side: sending the deadline ----

/// A stand-in server that notes the `grpc-timeout` it receives and answers a fixed reply.
#[derive(Default)]
struct Spy {
    received: Arc<Mutex<Vec<Option<String>>>>,
}

#[tonic::async_trait]
impl Stock for Spy {
    async fn reserve(
        &self,
        request: Request<ReserveRequest>,
    ) -> Result<Response<ReserveReply>, Status> {
        let header = request
            .metadata()
            .get("grpc-timeout")
            .map(|v| v.to_str().expect("tonic writes ASCII").to_owned());
        self.received
            .lock()
            .expect("no test panics holding the lock")
            .push(header);
        Ok(Response::new(ReserveReply {
            reservation_id: format!("spy-for-{}", request.get_ref().sku),
            remaining: 42,
        }))
    }
}

#[tokio::test]
async fn reserve_within_sends_the_deadline() {
    let spy = Spy::default();
    let received = Arc::clone(&spy.received);
    let mut client = serve(spy).await;
    let deadline = Duration::from_millis(1500);
    let reply = tokio::time::timeout(
        HANG,
        reserve_within(&mut client, reserve_request("MUG-1", 1, "k"), deadline),
    )
    .await
    .expect("the call hung")
    .unwrap();
    assert_eq!(
        reply,
        ReserveReply {
            reservation_id: "spy-for-MUG-1".to_owned(),
            remaining: 42
        },
        "the server's reply, as it sent it"
    );
    // What tonic writes for the same deadline.
    let mut expected = Request::new(());
    expected.set_timeout(deadline);
    let expected = expected
        .metadata()
        .get("grpc-timeout")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(*received.lock().unwrap(), [expected]);
}

#[tokio::test]
async fn reserve_within_a_short_deadline_starts_nothing() {
    let work = 300 * MS;
    let (mut client, warehouse) = stock_service(&[("MUG-1", 10)], work).await;
    let answer = tokio::time::timeout(
        HANG,
        reserve_within(&mut client, reserve_request("MUG-1", 1, "k1"), 50 * MS),
    )
    .await
    .expect("the call hung");
    assert_eq!(answer.map_err(|s| s.code()), Err(Code::DeadlineExceeded));
    assert_eq!(warehouse.started(), 0);
    let reply = reserve_within(
        &mut client,
        reserve_request("MUG-1", 1, "k2"),
        Duration::from_secs(10),
    )
    .await
    .unwrap();
    assert_eq!(reply.remaining, 9);
}

// ---- Reading grpc-timeout ----

#[test]
fn every_unit_of_grpc_timeout_is_read() {
    let cases = [
        ("3H", Duration::from_secs(3 * 3600)),
        ("2M", Duration::from_secs(120)),
        ("45S", Duration::from_secs(45)),
        ("250m", 250 * MS),
        ("17u", Duration::from_micros(17)),
        ("999n", Duration::from_nanos(999)),
        ("0m", Duration::ZERO),
        ("00000007S", Duration::from_secs(7)),
        ("99999999H", Duration::from_secs(99_999_999 * 3600)),
    ];
    for (value, want) in cases {
        assert_eq!(parse_grpc_timeout(value), Some(want), "{value:?}");
    }
}

#[test]
fn anything_else_is_not_a_grpc_timeout() {
    for value in [
        "",
        "m",
        "5",
        "5s",
        "5h",
        "5ms",
        "123456789m",
        "+5m",
        "-5m",
        " 5m",
        "5m ",
        "5 m",
        "5.0S",
        "0x5m",
        "5é",
        "é",
        "٣m",
        "5mm",
    ] {
        assert_eq!(parse_grpc_timeout(value), None, "{value:?}");
    }
}

/// What the protocol allows, checked by hand: 1 to 8 ASCII digits and one unit letter.
fn is_grpc_timeout(value: &str) -> bool {
    let bytes = value.as_bytes();
    let Some((unit, digits)) = bytes.split_last() else {
        return false;
    };
    (1..=8).contains(&digits.len())
        && digits.iter().all(u8::is_ascii_digit)
        && b"HMSmun".contains(unit)
}

proptest! {
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Every valid value is read as the number times its unit.
    #[test]
    fn a_valid_grpc_timeout_is_read_exactly(n in 0u64..=99_999_999, unit in 0usize..6) {
        let (letter, unit_length) = [
            ('H', Duration::from_secs(3600)),
            ('M', Duration::from_secs(60)),
            ('S', Duration::from_secs(1)),
            ('m', Duration::from_millis(1)),
            ('u', Duration::from_micros(1)),
            ('n', Duration::from_nanos(1)),
        ][unit];
        let want = unit_length * u32::try_from(n).unwrap();
        prop_assert_eq!(parse_grpc_timeout(&format!("{n}{letter}")), Some(want));
    }

    /// Any string at all: read if and only if the protocol allows it, and never a panic.
    #[test]
    fn any_string_is_judged_by_the_protocol(value in prop_oneof![
        "[0-9+ -]{0,10}[HMSmunshé٣ ]?",
        "\\PC{0,12}",
    ]) {
        prop_assert_eq!(parse_grpc_timeout(&value).is_some(), is_grpc_timeout(&value), "{:?}", value);
    }
}
