//! The client against a service that is not there: errors, not panics, and a breaker that opens.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use shop_inventory::{ClientError, InventoryClient, InventoryError, default_dependency_config};
use shop_resilience::{CallError, Dependency, RetryConfig, State};
use tonic::Code;

use crate::helpers::soon;

/// An address nothing listens on: a port the OS gave us, then closed.
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let addr = listener.local_addr().expect("bound");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn a_closed_port_is_unavailable_and_trips_the_breaker() {
    let mut config = default_dependency_config();
    config.retry = RetryConfig {
        max_attempts: NonZeroU32::MIN,
        ..config.retry
    };
    config.breaker.failure_threshold = NonZeroU32::new(2).expect("not zero");
    let dependency = Arc::new(Dependency::new("inventory", config));
    let client = InventoryClient::connect_lazy(&closed_port(), Arc::clone(&dependency))
        .expect("no I/O until the first call");

    for _ in 0..2 {
        let error = client
            .stock(&[], soon())
            .await
            .expect_err("nothing listens");
        assert!(error.is_unavailable(), "{error:?}");
        assert!(
            matches!(&error, CallError::Failed { source: InventoryError::Rpc(status), .. } if status.code() == Code::Unavailable),
            "{error:?}"
        );
    }
    assert_eq!(client.dependency().breaker().state(), State::Open);
    let error = client
        .stock(&[], soon())
        .await
        .expect_err("the breaker is open");
    assert!(matches!(error, CallError::CircuitOpen { .. }), "{error:?}");
    assert!(
        error
            .retry_after()
            .is_some_and(|after| after <= Duration::from_secs(5))
    );
}

#[tokio::test]
async fn the_default_guards_give_up_on_a_dead_service_within_the_deadline() {
    let client =
        InventoryClient::connect_lazy(&closed_port(), crate::helpers::dependency()).expect("lazy");
    let started = tokio::time::Instant::now();
    let error = client
        .stock(&[], soon())
        .await
        .expect_err("nothing listens");
    assert!(error.is_unavailable(), "{error:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "retried briefly, then gave up"
    );
}

#[tokio::test]
async fn an_endpoint_without_a_scheme_is_refused_up_front() {
    for endpoint in [
        "127.0.0.1:50051",
        "https://inventory:50051",
        "http://bad host",
    ] {
        let refused = InventoryClient::connect_lazy(endpoint, crate::helpers::dependency());
        assert!(
            matches!(refused, Err(ClientError::InvalidEndpoint { .. })),
            "{endpoint}"
        );
    }
}
